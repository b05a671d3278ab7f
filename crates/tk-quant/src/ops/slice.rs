//! `Slice`: wiring of a strided sub-range.

use serde::{Deserialize, Serialize};

/// Spec: along each axis `k`, output index `i` reads input index `starts[k] + i * steps[k]`.
/// One entry per input axis (full axes have start 0, step 1); steps may be negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// First input index per axis.
    pub starts: Vec<usize>,
    /// Step per axis, non-zero.
    pub steps: Vec<i64>,
}

impl super::QOpDef for Slice {
    fn check(&self, inputs: &[&crate::QNode], node: &crate::QNode) -> Result<Vec<usize>, String> {
        super::expect_arity(inputs, 1)?;
        super::expect_same_bits(inputs[0], node)?;
        let (x, y) = (&inputs[0].shape, &node.shape);
        if self.starts.len() != x.len() || self.steps.len() != x.len() || y.len() != x.len() {
            return Err(format!(
                "{} starts, {} steps and output {y:?} for input {x:?}",
                self.starts.len(),
                self.steps.len()
            ));
        }
        for k in 0..x.len() {
            let (start, step, n, out) = (
                self.starts[k] as i128,
                i128::from(self.steps[k]),
                x[k] as i128,
                y[k] as i128,
            );
            let last = start + (out - 1) * step;
            if step == 0 || out < 1 || start >= n || !(0..n).contains(&last) {
                return Err(format!(
                    "axis {k}: start {start} step {step} for {out} elements leaves 0..{n}"
                ));
            }
        }
        Ok(y.clone())
    }
}
