//! `Softmax` along one axis (ONNX opset 13 semantics).

use ndarray::Axis;

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor, op_bail};

/// `exp(x - max) / sum(exp(x - max))` over each lane along `axis`; output fact equals input
/// fact. The importer rewrites the coerced-2-D semantics of opsets below 13 into this form
/// (with reshapes around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Softmax {
    /// Reduction axis, in `0..rank` (the importer resolves negative axes).
    pub axis: usize,
}

impl OpDef for Softmax {
    fn name(&self) -> &'static str {
        "Softmax"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        let fact = unary_f32_fact(inputs)?;
        if self.axis >= fact.rank() {
            op_bail!("axis {} out of range for rank {}", self.axis, fact.rank());
        }
        Ok(fact)
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        let mut y = inputs[0].as_f32()?.clone();
        for mut lane in y.lanes_mut(Axis(self.axis)) {
            let max = lane.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            lane.mapv_inplace(|v| (v - max).exp());
            let sum: f32 = lane.sum();
            lane.mapv_inplace(|v| v / sum);
        }
        Ok(Tensor::F32(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_one_and_large_values_are_stable() {
        let x = Tensor::from_f32(&[2, 3], vec![1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0]).unwrap();
        let y = Softmax { axis: 1 }.eval(&[&x]).unwrap();
        let y = y.as_f32().unwrap();
        for row in y.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        assert!((y[[1, 0]] - 1.0 / 3.0).abs() < 1e-6);
        assert!(y[[0, 2]] > y[[0, 1]]);
        let col = Softmax { axis: 0 }.eval(&[&x]).unwrap();
        assert!((col.as_f32().unwrap()[[0, 0]]).abs() < 1e-6);
        assert!(Softmax { axis: 2 }.output_fact(&[&Fact::f32([2, 3])]).is_err());
    }
}
