//! Collapsing an in-place TTT trace into one Full part ([`collapse`]).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::payload::{Full, InPlaceTtt};

/// The Full part equivalent to applying every step of `trace`: per parameter, the sum of its
/// step deltas.
///
/// Each element is accumulated in f64 over the steps in ascending step id order, starting from
/// zero, and rounded to f32 once at the end, so the result does not depend on how the trace was
/// built and loses less than summing in f32 would; a parameter absent from a step contributes
/// nothing there. The result has no exactness fixups. A sum beyond the f32 range is an error.
///
/// ```
/// use std::collections::BTreeMap;
/// use modeldiff_delta::{collapse, InPlaceTtt, TttStep};
///
/// let step = |id, v: f32| TttStep { step_id: id, deltas: BTreeMap::from([("w".into(), vec![v])]) };
/// let trace = InPlaceTtt { steps: vec![step(2, 0.25), step(1, 1.0)] };
/// assert_eq!(collapse(&trace)?.params["w"], vec![1.25]);
/// # Ok::<(), modeldiff_delta::Error>(())
/// ```
pub fn collapse(trace: &InPlaceTtt) -> Result<Full> {
    trace.validate()?;
    let mut sums: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for step in trace.sorted_steps() {
        for (p, v) in &step.deltas {
            let acc = sums.entry(p).or_insert_with(|| vec![0.0; v.len()]);
            for (a, &d) in acc.iter_mut().zip(v) {
                *a += f64::from(d);
            }
        }
    }
    let mut params = BTreeMap::new();
    for (p, acc) in sums {
        let mut out = Vec::with_capacity(acc.len());
        for (i, a) in acc.into_iter().enumerate() {
            let v = a as f32;
            if !v.is_finite() {
                return Err(Error::OutOfRange {
                    what: format!("collapsed in-place-ttt `{p}` element {i}"),
                });
            }
            out.push(v);
        }
        params.insert(p.to_owned(), out);
    }
    Ok(Full {
        params,
        exact: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::TttStep;

    #[test]
    fn sums_in_f64_in_step_order() {
        let step = |id, p: &str, v: Vec<f32>| TttStep {
            step_id: id,
            deltas: BTreeMap::from([(p.to_owned(), v)]),
        };
        // 1 + 1e-8 + 1e-8 … in f32 would stay 1.0; in f64 the small steps add up.
        let mut steps = vec![step(0, "w", vec![1.0, 3.0])];
        for i in 1..=100 {
            steps.push(step(i, "w", vec![1e-8, 0.0]));
        }
        steps.push(step(500, "b", vec![2.0]));
        steps.reverse();
        let full = collapse(&InPlaceTtt { steps }).unwrap();
        assert_eq!(
            full.params["w"],
            vec![(1.0f64 + 100.0 * f64::from(1e-8f32)) as f32, 3.0]
        );
        assert_eq!(full.params["b"], vec![2.0]);

        let big = InPlaceTtt {
            steps: vec![step(0, "w", vec![f32::MAX]), step(1, "w", vec![f32::MAX])],
        };
        assert!(collapse(&big)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let dup = InPlaceTtt {
            steps: vec![step(3, "w", vec![1.0]), step(3, "w", vec![1.0])],
        };
        assert_eq!(
            collapse(&dup).unwrap_err().to_string(),
            "in-place-ttt: duplicate step id 3"
        );
    }
}
