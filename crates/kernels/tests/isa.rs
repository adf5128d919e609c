//! The process-wide selection through the public API: a bad `MODELDIFF_FORCE_ISA` is an error,
//! never a silent fallback, and `Isa::force` overrides it. One test in this file, because the
//! environment is read once per process.

use modeldiff_kernels::{Isa, IsaError};

#[test]
fn a_bad_override_is_an_error_and_force_replaces_it() {
    std::env::set_var("MODELDIFF_FORCE_ISA", "avx1024");
    let err = Isa::try_selected().unwrap_err();
    assert!(matches!(err, IsaError::Env { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "MODELDIFF_FORCE_ISA=\"avx1024\": unknown instruction set `avx1024`, \
         expected one of: scalar, avx2, avx512, neon"
    );
    // Hot paths keep running, on the best implementation.
    assert_eq!(Isa::selected(), *Isa::available().last().unwrap());
    // A programmatic choice wins over the environment.
    Isa::force(Isa::Scalar).unwrap();
    assert_eq!(Isa::try_selected(), Ok(Isa::Scalar));
    assert_eq!(Isa::selected(), Isa::Scalar);
}
