//! `DynamicQuantizeLinear`: uint8 quantization with a scale and zero point computed from the
//! data at run time (one IR op per ONNX output).

use super::{OpDef, checked_fact, unary_f32_fact};
use crate::{Fact, OpError, Tensor, op_bail};

/// Which output of ONNX `DynamicQuantizeLinear` an op computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DynamicOutput {
    /// `y`: the uint8 values (integral F32), shaped like `x`.
    Quantized,
    /// `y_scale`: an F32 scalar.
    Scale,
    /// `y_zero_point`: an F32 scalar holding an integer in `0..=255`.
    ZeroPoint,
}

/// One output of ONNX `DynamicQuantizeLinear(x)`, computed in f32 as onnxruntime does:
///
/// - `lo = min(0, min x)`, `hi = max(0, max x)`;
/// - `y_scale = (hi - lo) / 255` (`1` when `hi == lo`);
/// - `y_zero_point = round_half_to_even(clamp(-lo / y_scale, 0, 255))`;
/// - `y = clamp(round_half_to_even(x / y_scale) + y_zero_point, 0, 255)`.
///
/// One F32 input whose values must be finite. The three outputs of one ONNX node are three
/// IR nodes on the same `x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamicQuantizeLinear {
    /// The output this op computes.
    pub output: DynamicOutput,
}

impl DynamicQuantizeLinear {
    /// The `(y_scale, y_zero_point)` of `values`, or an error when one is not finite.
    pub fn params<'a>(values: impl IntoIterator<Item = &'a f32>) -> Result<(f32, f32), OpError> {
        let (mut lo, mut hi) = (0f32, 0f32);
        for &v in values {
            if !v.is_finite() {
                op_bail!("dynamic quantization of a non-finite value {v}");
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let scale = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
        let zero_point = (-lo / scale).clamp(0.0, 255.0).round_ties_even();
        Ok((scale, zero_point))
    }
}

impl OpDef for DynamicQuantizeLinear {
    fn name(&self) -> &'static str {
        "DynamicQuantizeLinear"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        let x = unary_f32_fact(inputs)?;
        Ok(match self.output {
            DynamicOutput::Quantized => x,
            DynamicOutput::Scale | DynamicOutput::ZeroPoint => Fact::f32([]),
        })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        let x = inputs[0].as_f32()?;
        let (scale, zp) = Self::params(x.iter())?;
        let scalar = |v: f32| Tensor::from_f32(&[], vec![v]);
        match self.output {
            DynamicOutput::Quantized => {
                Ok(Tensor::F32(x.mapv(|v| {
                    ((v / scale).round_ties_even() + zp).clamp(0.0, 255.0)
                })))
            }
            DynamicOutput::Scale => scalar(scale),
            DynamicOutput::ZeroPoint => scalar(zp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(output: DynamicOutput, x: &Tensor) -> Vec<f32> {
        let y = DynamicQuantizeLinear { output }.eval(&[x]).unwrap();
        y.as_f32().unwrap().iter().copied().collect()
    }

    #[test]
    fn matches_the_onnx_formula() {
        // lo = -1, hi = 1.55: scale 0.01, zero point 100.
        let x = Tensor::from_f32(&[5], vec![-1.0, 1.55, 0.004, 0.006, 0.024]).unwrap();
        let scale = run(DynamicOutput::Scale, &x)[0];
        assert!((scale - 0.01).abs() < 1e-7);
        assert_eq!(run(DynamicOutput::ZeroPoint, &x), [100.0]);
        assert_eq!(
            run(DynamicOutput::Quantized, &x),
            [0.0, 255.0, 100.0, 101.0, 102.0]
        );
    }

    #[test]
    fn all_zero_and_non_finite() {
        let zeros = Tensor::from_f32(&[3], vec![0.0; 3]).unwrap();
        assert_eq!(run(DynamicOutput::Scale, &zeros), [1.0]);
        assert_eq!(run(DynamicOutput::Quantized, &zeros), [0.0; 3]);
        let bad = Tensor::from_f32(&[2], vec![1.0, f32::NAN]).unwrap();
        let op = DynamicQuantizeLinear {
            output: DynamicOutput::Scale,
        };
        assert!(op.eval(&[&bad]).is_err());
    }
}
