//! Compares two small arrays with every implementation this CPU has.
//!
//! `cargo run -p modeldiff-kernels --example cosine` prints the metrics per implementation;
//! with `--list` it prints every implementation and whether this CPU has it, one per line
//! (`cargo xtask ci` uses this to pick its per-ISA test passes).

use std::process::ExitCode;

use modeldiff_kernels::{DiffStats, Isa};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--list") {
        for &isa in Isa::ALL {
            let state = if isa.is_available() {
                "available"
            } else {
                "unavailable"
            };
            println!("{isa} {state}");
        }
        return ExitCode::SUCCESS;
    }
    // Surface a bad `MODELDIFF_FORCE_ISA` up front, as binaries should.
    let selected = match Isa::try_selected() {
        Ok(isa) => isa,
        Err(e) => {
            eprintln!("cosine: {e}");
            return ExitCode::from(2);
        }
    };
    let a: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
    let mut b = a.clone();
    b[123] += 1e-3;
    b[777] -= 2e-4;
    for isa in Isa::available() {
        let mut st = DiffStats::default();
        st.update_with(isa, &a, &b, 0);
        println!(
            "{isa:>6}: 1 - cosine {:.6e}, l2 {:.6e}, max |a-b| {:.6e} at {:?}",
            st.one_minus_cosine().unwrap_or(f64::NAN),
            st.l2(),
            st.max_abs(),
            st.max_abs_index(),
        );
    }
    println!("selected: {selected}");
    ExitCode::SUCCESS
}
