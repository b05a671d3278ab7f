//! `GlobalAveragePool`: mean over the spatial axes (NCHW).

use ndarray::Axis;

use super::{OpDef, checked_fact, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// Mean over `H` and `W`: input `[N, C, H, W]` F32 with `H * W > 0`, output `[N, C, 1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalAveragePool;

impl OpDef for GlobalAveragePool {
    fn name(&self) -> &'static str {
        "GlobalAveragePool"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        expect_f32(inputs[0], "x")?;
        let &[n, c, h, w] = inputs[0].shape.as_slice() else {
            op_bail!("only NCHW input is supported, got shape {:?}", inputs[0].shape);
        };
        if h == 0 || w == 0 {
            op_bail!("empty spatial extent {h}x{w}");
        }
        Ok(Fact::f32(vec![n, c, 1, 1]))
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let fact = checked_fact(self, inputs)?;
        let x = inputs[0].as_f32()?;
        let count = (x.shape()[2] * x.shape()[3]) as f32;
        let sums = x.sum_axis(Axis(3)).sum_axis(Axis(2));
        let mean = sums.mapv(|s| s / count);
        mean.into_shape_with_order(fact.shape)
            .map(Tensor::F32)
            .map_err(|e| OpError::new(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_each_channel() {
        let x = Tensor::from_f32(&[1, 2, 1, 2], vec![1.0, 3.0, 10.0, 20.0]).unwrap();
        let y = GlobalAveragePool.eval(&[&x]).unwrap();
        assert_eq!(y.shape(), &[1, 2, 1, 1]);
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[2.0, 15.0]);
    }
}
