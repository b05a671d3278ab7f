//! `Concat`: join tensors along one axis.

use ndarray::{ArrayViewD, Axis};

use super::{OpDef, checked_fact, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// Concatenates one or more inputs of the same dtype and rank along `axis`; all other
/// dimensions must be equal. Works on F32 and I64 (shape computations are folded with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    /// Axis in `0..rank` (the importer resolves negative axes).
    pub axis: usize,
}

fn join<T: Clone>(views: &[ArrayViewD<'_, T>], axis: usize) -> Result<ndarray::ArrayD<T>, OpError> {
    let joined =
        ndarray::concatenate(Axis(axis), views).map_err(|e| OpError::new(format!("concat: {e}")))?;
    // `concatenate` may choose a non-standard layout; outputs are always row-major.
    Ok(joined.as_standard_layout().into_owned())
}

impl OpDef for Concat {
    fn name(&self) -> &'static str {
        "Concat"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, usize::MAX)?;
        let first = inputs[0];
        if self.axis >= first.rank() {
            op_bail!("axis {} out of range for rank {}", self.axis, first.rank());
        }
        let mut shape = first.shape.clone();
        shape[self.axis] = 0;
        for (i, fact) in inputs.iter().enumerate() {
            let compatible = fact.dtype == first.dtype
                && fact.rank() == first.rank()
                && fact.shape.iter().zip(&first.shape).enumerate().all(|(a, (x, y))| a == self.axis || x == y);
            if !compatible {
                op_bail!("input {i} {fact} does not match input 0 {first} outside axis {}", self.axis);
            }
            shape[self.axis] = shape[self.axis]
                .checked_add(fact.shape[self.axis])
                .ok_or_else(|| OpError::new("concatenated size overflows"))?;
        }
        Ok(Fact { dtype: first.dtype, shape })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(match inputs[0] {
            Tensor::F32(_) => {
                let views: Vec<_> =
                    inputs.iter().map(|t| t.as_f32().map(|a| a.view())).collect::<Result<_, _>>()?;
                Tensor::F32(join(&views, self.axis)?)
            }
            Tensor::I64(_) => {
                let views: Vec<_> =
                    inputs.iter().map(|t| t.as_i64().map(|a| a.view())).collect::<Result<_, _>>()?;
                Tensor::I64(join(&views, self.axis)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_along_axis() {
        let a = Tensor::from_f32(&[1, 2], vec![1.0, 2.0]).unwrap();
        let b = Tensor::from_f32(&[2, 2], vec![3.0, 4.0, 5.0, 6.0]).unwrap();
        let y = Concat { axis: 0 }.eval(&[&a, &b]).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        assert!(Concat { axis: 1 }.eval(&[&a, &b]).is_err());
        let i = Tensor::from_i64(&[1], vec![7]).unwrap();
        let y = Concat { axis: 0 }.eval(&[&i, &i]).unwrap();
        assert_eq!(y.as_i64().unwrap().as_slice().unwrap(), &[7, 7]);
        assert!(Concat { axis: 0 }.output_fact(&[&Fact::f32([1]), &Fact::i64([1])]).is_err());
    }
}
