//! `Reshape`: same data, new shape (row-major order preserved).

use super::{OpDef, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// Reshape to a fully resolved target shape (the importer resolves ONNX's `0` and `-1`).
/// The element count must not change. Works on any dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    /// Target shape.
    pub shape: Vec<usize>,
}

/// Resolves an ONNX reshape spec (`0` copies the input dim, one `-1` is inferred) against `input`.
pub fn resolve_reshape(input: &[usize], spec: &[i64], allow_zero: bool) -> Result<Vec<usize>, OpError> {
    let volume = crate::checked_volume(input)?;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => match input.get(i) {
                Some(&v) => out.push(v),
                None => op_bail!("reshape spec {spec:?}: 0 at {i} has no input dim"),
            },
            d if d >= 0 => out.push(d as usize),
            _ => op_bail!("invalid reshape spec {spec:?}"),
        }
    }
    let known = crate::checked_volume(&out)?;
    if let Some(i) = infer {
        if known == 0 || volume % known != 0 {
            op_bail!("cannot infer -1 in {spec:?} for input {input:?}");
        }
        out[i] = volume / known;
    } else if known != volume {
        op_bail!("reshape {input:?} to {spec:?} changes the element count");
    }
    Ok(out)
}

impl OpDef for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        if self.shape.len() > crate::limits::MAX_RANK {
            op_bail!("rank {} exceeds {}", self.shape.len(), crate::limits::MAX_RANK);
        }
        if crate::checked_volume(&self.shape)? != inputs[0].volume()? {
            op_bail!("cannot reshape {:?} to {:?}", inputs[0].shape, self.shape);
        }
        Ok(Fact { dtype: inputs[0].dtype, shape: self.shape.clone() })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let err = |e: ndarray::ShapeError| OpError::new(format!("reshape: {e}"));
        Ok(match inputs[0] {
            Tensor::F32(a) => {
                Tensor::F32(a.to_shape(self.shape.clone()).map_err(err)?.to_owned())
            }
            Tensor::I64(a) => {
                Tensor::I64(a.to_shape(self.shape.clone()).map_err(err)?.to_owned())
            }
        })
    }
}
