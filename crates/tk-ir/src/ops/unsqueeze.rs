//! `Unsqueeze`: insert unit axes.

use super::{OpDef, Reshape, checked_fact, expect_inputs, expect_sorted_axes};
use crate::{Fact, OpError, Tensor, op_bail};

/// Inserts size-1 axes so that they sit at positions `axes` of the output. Any dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsqueeze {
    /// Output positions of the new axes, strictly increasing, in `0..rank + axes.len()`.
    pub axes: Vec<usize>,
}

impl Unsqueeze {
    /// The shape after inserting the unit axes into `shape`.
    pub fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>, OpError> {
        let rank = shape.len() + self.axes.len();
        if rank > crate::limits::MAX_RANK {
            op_bail!("rank {rank} exceeds {}", crate::limits::MAX_RANK);
        }
        expect_sorted_axes(&self.axes, rank, "unsqueeze")?;
        let mut rest = shape.iter();
        Ok((0..rank)
            .map(|i| if self.axes.contains(&i) { 1 } else { rest.next().copied().unwrap_or(1) })
            .collect())
    }
}

impl OpDef for Unsqueeze {
    fn name(&self) -> &'static str {
        "Unsqueeze"
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
    fn inserts_unit_axes() {
        assert_eq!(Unsqueeze { axes: vec![0, 3] }.output_shape(&[3, 4]).unwrap(), vec![1, 3, 4, 1]);
        assert!(Unsqueeze { axes: vec![1] }.output_shape(&[]).is_err());
        assert_eq!(Unsqueeze { axes: vec![0] }.output_shape(&[]).unwrap(), vec![1]);
    }
}
