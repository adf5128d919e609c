//! The IA3 scaling rule: which axis of a weight an IA3 vector scales ([`ia3_axis`]).
//!
//! Applying IA3 multiplies the weight element-wise by the vector broadcast along one axis. A
//! vector of length `out_dim` scales rows (PEFT's `(out, 1)` vectors, on attention and output
//! projections); one of length `in_dim` scales columns (PEFT's `(1, in)` vectors, on the input
//! side of feed-forward modules). When both dimensions are equal the module name decides: the
//! feed-forward input-side modules [`FEEDFORWARD_INPUT_MODULES`] scale columns, all others rows.

use crate::error::{Error, Result};

/// Modules PEFT treats as feed-forward input-side (`feedforward_modules`), whose IA3 vector scales
/// columns: Llama/Mistral `down_proj`, OPT/GPT-J `fc2`, T5/Mixtral `w2`, GGUF `ffn_down`.
pub const FEEDFORWARD_INPUT_MODULES: [&str; 4] = ["down_proj", "fc2", "w2", "ffn_down"];

/// The axis of a 2-D weight an IA3 vector scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Axis {
    /// `W[i, j] *= v[i]` (the vector has `out_dim` values).
    Rows,
    /// `W[i, j] *= v[j]` (the vector has `in_dim` values).
    Columns,
}

/// The axis a `len`-value IA3 vector for `matrix` (in layer `layer_id`, named in the error)
/// scales on an `out_dim × in_dim` weight; a length matching neither dimension is an error.
///
/// ```
/// use modeldiff_delta::{ia3_axis, Axis};
/// assert_eq!(ia3_axis(0, "k_proj", 64, 64, 32)?, Axis::Rows);
/// assert_eq!(ia3_axis(0, "down_proj", 128, 32, 128)?, Axis::Columns);
/// assert_eq!(ia3_axis(0, "o_proj", 32, 32, 32)?, Axis::Rows);
/// assert_eq!(ia3_axis(0, "down_proj", 32, 32, 32)?, Axis::Columns);
/// assert!(ia3_axis(0, "k_proj", 7, 64, 32).is_err());
/// # Ok::<(), modeldiff_delta::Error>(())
/// ```
pub fn ia3_axis(
    layer_id: u32,
    matrix: &str,
    len: usize,
    out_dim: u64,
    in_dim: u64,
) -> Result<Axis> {
    let len64 = len as u64;
    match (len64 == out_dim, len64 == in_dim) {
        (true, true) if FEEDFORWARD_INPUT_MODULES.contains(&matrix) => Ok(Axis::Columns),
        (true, _) => Ok(Axis::Rows),
        (false, true) => Ok(Axis::Columns),
        (false, false) => Err(Error::Ia3Length {
            layer_id,
            matrix: matrix.to_owned(),
            len,
            out_dim,
            in_dim,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_length_names_layer_and_matrix() {
        let e = ia3_axis(4, "v_proj", 3, 8, 16).unwrap_err().to_string();
        assert_eq!(
            e,
            "ia3 layer 4 `v_proj`: 3 values match neither out_dim 8 nor in_dim 16"
        );
        for m in FEEDFORWARD_INPUT_MODULES {
            assert_eq!(ia3_axis(0, m, 8, 8, 8).unwrap(), Axis::Columns);
            assert_eq!(ia3_axis(0, m, 8, 8, 4).unwrap(), Axis::Rows);
        }
    }
}
