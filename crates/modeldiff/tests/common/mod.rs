//! The accuracy contract shared by the engine's oracle tests.

/// Relative tolerance for L2, RMSE, mean/max abs and norms against a float64 oracle.
pub const RTOL: f64 = 1e-6;

/// `got` is within [`RTOL`] of `want`.
pub fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= RTOL * want.abs() + 1e-300
}

/// |cos − cos_ref| ≤ 1e-12 + 1e-4·(1 − cos_ref): 1 − cos must stay accurate near 1, where
/// quantization drift lives.
pub fn cos_ok(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 + 1e-4 * (1.0 - want)
}
