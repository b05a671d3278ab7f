//! `Transpose`: permute axes.

use super::{OpDef, checked_fact, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// Output axis `i` is input axis `perm[i]`; `perm` is a permutation of `0..rank`. Any dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transpose {
    /// The permutation (ONNX default: reversed axes, resolved by the importer).
    pub perm: Vec<usize>,
}

impl OpDef for Transpose {
    fn name(&self) -> &'static str {
        "Transpose"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        let rank = inputs[0].rank();
        let mut seen = vec![false; rank];
        if self.perm.len() != rank {
            op_bail!("perm {:?} has length {}, input rank is {rank}", self.perm, self.perm.len());
        }
        for &p in &self.perm {
            match seen.get_mut(p) {
                Some(s) if !*s => *s = true,
                _ => op_bail!("perm {:?} is not a permutation of 0..{rank}", self.perm),
            }
        }
        let shape = self.perm.iter().map(|&p| inputs[0].shape[p]).collect();
        Ok(Fact { dtype: inputs[0].dtype, shape })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        let perm = self.perm.as_slice();
        Ok(match inputs[0] {
            Tensor::F32(a) => Tensor::F32(a.view().permuted_axes(perm).as_standard_layout().into_owned()),
            Tensor::I64(a) => Tensor::I64(a.view().permuted_axes(perm).as_standard_layout().into_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutes() {
        let x = Tensor::from_f32(&[2, 3], (0..6).map(|v| v as f32).collect()).unwrap();
        let y = Transpose { perm: vec![1, 0] }.eval(&[&x]).unwrap();
        assert_eq!(y.shape(), &[3, 2]);
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert!(Transpose { perm: vec![0, 0] }.output_fact(&[&Fact::f32([2, 3])]).is_err());
        assert!(Transpose { perm: vec![0, 5] }.output_fact(&[&Fact::f32([2, 3])]).is_err());
    }
}
