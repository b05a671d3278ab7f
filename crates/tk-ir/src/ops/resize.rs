//! `Resize`: nearest-neighbour upsampling by integer factors.

use ndarray::{ArrayD, Axis};

use super::{OpDef, checked_fact, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// Output element `[i0, i1, ...]` is input element `[i0 / s0, i1 / s1, ...]`: every input
/// value is repeated `s` times along each axis. Any dtype. The importer maps ONNX `Resize` and
/// `Upsample` here only when their mode and coordinate transform give exactly this mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resize {
    /// One integer factor (at least 1) per input axis.
    pub scales: Vec<usize>,
}

fn repeat<T: Clone>(a: &ArrayD<T>, scales: &[usize]) -> ArrayD<T> {
    let mut out = a.clone();
    for (axis, &s) in scales.iter().enumerate() {
        if s != 1 {
            let n = out.shape()[axis];
            let indices: Vec<usize> = (0..n * s).map(|i| i / s).collect();
            out = out.select(Axis(axis), &indices);
        }
    }
    // `select` may return a non-standard layout; outputs are always row-major.
    out.as_standard_layout().into_owned()
}

impl OpDef for Resize {
    fn name(&self) -> &'static str {
        "Resize"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        let x = inputs[0];
        if self.scales.len() != x.rank() || self.scales.contains(&0) {
            op_bail!("scales {:?} must be positive, one per axis of {x}", self.scales);
        }
        let shape = x
            .shape
            .iter()
            .zip(&self.scales)
            .map(|(&d, &s)| d.checked_mul(s).ok_or_else(|| OpError::new("resized size overflows")))
            .collect::<Result<_, _>>()?;
        Ok(Fact { dtype: x.dtype, shape })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(match inputs[0] {
            Tensor::F32(a) => Tensor::F32(repeat(a, &self.scales)),
            Tensor::I64(a) => Tensor::I64(repeat(a, &self.scales)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_values() {
        let x = Tensor::from_f32(&[1, 2], vec![1.0, 2.0]).unwrap();
        let y = Resize { scales: vec![2, 3] }.eval(&[&x]).unwrap();
        assert_eq!(y.shape(), &[2, 6]);
        assert_eq!(
            y.as_f32().unwrap().as_slice().unwrap(),
            &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
        assert!(Resize { scales: vec![0, 1] }.output_fact(&[&x.fact()]).is_err());
    }
}
