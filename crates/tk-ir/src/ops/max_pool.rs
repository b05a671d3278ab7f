//! `MaxPool`: 2-D max pooling (NCHW).

use super::{OpDef, checked_fact, expect_f32, expect_inputs, pool::PoolGeometry, pool::pool_2d};
use crate::{Fact, OpError, Tensor};

/// Maximum over each window of [`PoolGeometry`]; padded positions never win (they act as
/// `-inf`). Input `[N, C, H, W]` F32, output `[N, C, OH, OW]`. Only the values output of ONNX
/// `MaxPool` exists here; the importer rejects models that use the indices output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxPool {
    /// Window geometry.
    pub geometry: PoolGeometry,
}

impl OpDef for MaxPool {
    fn name(&self) -> &'static str {
        "MaxPool"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        expect_f32(inputs[0], "x")?;
        Ok(Fact::f32(self.geometry.output_shape(&inputs[0].shape)?))
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let fact = checked_fact(self, inputs)?;
        let x = inputs[0].as_f32()?;
        let out = pool_2d(&self.geometry, &x.view(), &fact.shape, |rows, cols, at| {
            let mut m = f32::NEG_INFINITY;
            for &y in &rows.valid {
                for &xx in &cols.valid {
                    m = m.max(at(y, xx));
                }
            }
            m
        })?;
        Ok(Tensor::F32(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_stride_two() {
        let x = Tensor::from_f32(&[1, 1, 4, 4], (0..16).map(|v| v as f32).collect()).unwrap();
        let mut geometry = PoolGeometry::with_kernel([2, 2]);
        geometry.strides = [2, 2];
        let y = MaxPool { geometry }.eval(&[&x]).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[5.0, 7.0, 13.0, 15.0]);
    }

    #[test]
    fn padding_is_never_the_max() {
        let x = Tensor::from_f32(&[1, 1, 2, 2], vec![-1.0, -2.0, -3.0, -4.0]).unwrap();
        let geometry = PoolGeometry { pads: [1, 1, 1, 1], ..PoolGeometry::with_kernel([2, 2]) };
        let y = MaxPool { geometry }.eval(&[&x]).unwrap();
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -3.0, -3.0, -4.0]);
    }
}
