//! `Squeeze`: remove unit axes.

use super::{OpDef, Reshape, checked_fact, expect_inputs, expect_sorted_axes};
use crate::{Fact, OpError, Tensor, op_bail};

/// Removes the listed axes, each of which must have size 1. Any dtype; data order is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Squeeze {
    /// Axes to remove, strictly increasing, in `0..rank` (the importer resolves ONNX's
    /// negative and omitted axes).
    pub axes: Vec<usize>,
}

impl Squeeze {
    /// The shape after removing `axes` from `shape`.
    pub fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>, OpError> {
        expect_sorted_axes(&self.axes, shape.len(), "squeeze")?;
        for &a in &self.axes {
            if shape[a] != 1 {
                op_bail!("cannot squeeze axis {a} of size {} in {shape:?}", shape[a]);
            }
        }
        Ok(shape.iter().enumerate().filter(|(i, _)| !self.axes.contains(i)).map(|(_, &d)| d).collect())
    }
}

impl OpDef for Squeeze {
    fn name(&self) -> &'static str {
        "Squeeze"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        Ok(Fact { dtype: inputs[0].dtype, shape: self.output_shape(&inputs[0].shape)? })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let fact = checked_fact(self, inputs)?;
        Reshape { shape: fact.shape }.eval(inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_unit_axes() {
        let op = Squeeze { axes: vec![0, 2] };
        assert_eq!(op.output_shape(&[1, 3, 1, 5]).unwrap(), vec![3, 5]);
        assert!(op.output_shape(&[1, 3, 2, 5]).is_err());
        assert!(Squeeze { axes: vec![2, 0] }.output_shape(&[1, 3, 1]).is_err());
    }
}
