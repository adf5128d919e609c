//! Run-time choice of the kernel implementation, made once per process.

use std::sync::OnceLock;

use crate::scalar;
use crate::stats::DiffStats;

/// An instruction-set implementation of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable scalar code (the reference).
    Scalar,
    /// x86-64 AVX2 + FMA + F16C (+ POPCNT).
    Avx2,
    /// x86-64 AVX-512F (with AVX2, FMA and F16C).
    Avx512,
}

impl Isa {
    /// Every implementation, best last.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// Lower-case name (`scalar`, `avx2`, `avx512`), as accepted by `MODELDIFF_FORCE_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this implementation can run on the current CPU.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
                    && is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Isa::Avx2.is_available() && is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every implementation usable on this CPU, scalar first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// The implementation used by default: the best available one, unless the environment
    /// variable `MODELDIFF_FORCE_ISA` names another available one. Chosen once per process.
    pub fn selected() -> Isa {
        static CHOICE: OnceLock<Isa> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            let best = *Isa::available().last().expect("scalar is always available");
            match std::env::var("MODELDIFF_FORCE_ISA") {
                Ok(v) => Isa::ALL
                    .into_iter()
                    .find(|i| i.name() == v.trim().to_ascii_lowercase())
                    .filter(|i| i.is_available())
                    .unwrap_or(Isa::Scalar),
                Err(_) => best,
            }
        })
    }
}

/// Calls the implementation `isa` of the accumulate kernel. The caller has checked
/// `isa.is_available()` and `a.len() == b.len()`.
pub(crate) fn accumulate(isa: Isa, a: &[f32], b: &[f32], offset: u64, st: &mut DiffStats) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa.is_available()` was checked by the caller (`DiffStats::update_with`
        // asserts it; `Isa::selected` only returns available ISAs), which verified avx2, fma and
        // f16c with `is_x86_feature_detected!`.
        Isa::Avx2 => unsafe { crate::x86_64::avx2::accumulate(a, b, offset, st) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, avx512f (and avx2/fma/f16c) were detected at run time.
        Isa::Avx512 => unsafe { crate::x86_64::avx512::accumulate(a, b, offset, st) },
        _ => scalar::accumulate(a, b, offset, st),
    }
}

/// Calls the implementation `isa` of a conversion routine; falls back to `scalar` when the
/// implementation does not exist for this architecture.
pub(crate) fn convert(isa: Isa, kind: crate::convert::Kind, src: &[u8], dst: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` comes from `Isa::selected()` or was checked with `is_available()`, which
        // detected avx2, fma and f16c at run time.
        Isa::Avx2 => unsafe { crate::x86_64::avx2::convert(kind, src, dst) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, avx512f was detected at run time.
        Isa::Avx512 => unsafe { crate::x86_64::avx512::convert(kind, src, dst) },
        _ => crate::convert::scalar(kind, src, dst),
    }
}
