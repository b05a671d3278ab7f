//! `AveragePool`: 2-D average pooling (NCHW).

use super::{OpDef, checked_fact, expect_f32, expect_inputs, pool::PoolGeometry, pool::pool_2d};
use crate::{Fact, OpError, Tensor};

/// Mean over each window of [`PoolGeometry`]. Input `[N, C, H, W]` F32, output
/// `[N, C, OH, OW]`. The divisor is the number of window positions inside the input
/// (`count_include_pad = false`) or inside the padded extent (`true`); positions beyond the
/// end padding, which only ceil mode creates, never count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AveragePool {
    /// Window geometry.
    pub geometry: PoolGeometry,
    /// Whether zero padding counts in the divisor.
    pub count_include_pad: bool,
}

impl OpDef for AveragePool {
    fn name(&self) -> &'static str {
        "AveragePool"
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
            let mut sum = 0.0f32;
            for &y in &rows.valid {
                for &xx in &cols.valid {
                    sum += at(y, xx);
                }
            }
            let count = if self.count_include_pad {
                rows.padded_count * cols.padded_count
            } else {
                rows.valid.len() * cols.valid.len()
            };
            if count == 0 { 0.0 } else { sum / count as f32 }
        })?;
        Ok(Tensor::F32(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_divisor() {
        let x = Tensor::from_f32(&[1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let geometry = PoolGeometry { pads: [1, 1, 0, 0], ..PoolGeometry::with_kernel([2, 2]) };
        let exclude = AveragePool { geometry, count_include_pad: false }.eval(&[&x]).unwrap();
        let include = AveragePool { geometry, count_include_pad: true }.eval(&[&x]).unwrap();
        assert_eq!(exclude.as_f32().unwrap().as_slice().unwrap(), &[1.0, 1.5, 2.0, 2.5]);
        assert_eq!(include.as_f32().unwrap().as_slice().unwrap(), &[0.25, 0.75, 1.0, 2.5]);
    }
}
