//! `Pad`: constant padding.

use ndarray::{ArrayD, IxDyn, Slice as Range};

use super::{OpDef, checked_fact, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// Surrounds the input with `value`: axis `i` grows by `pads[i][0]` before and `pads[i][1]`
/// after. F32 only, constant mode only (the importer refuses `reflect`/`edge` and negative
/// pads).
#[derive(Debug, Clone, PartialEq)]
pub struct Pad {
    /// `[begin, end]` per input axis; length equals the input rank.
    pub pads: Vec<[usize; 2]>,
    /// Fill value.
    pub value: f32,
}

impl Pad {
    /// The padded shape of `shape`.
    pub fn output_shape(&self, shape: &[usize]) -> Result<Vec<usize>, OpError> {
        if self.pads.len() != shape.len() {
            op_bail!("{} pad pairs for rank {}", self.pads.len(), shape.len());
        }
        shape
            .iter()
            .zip(&self.pads)
            .map(|(&d, &[b, e])| {
                d.checked_add(b).and_then(|v| v.checked_add(e)).ok_or_else(|| OpError::new("padded size overflows"))
            })
            .collect()
    }
}

impl OpDef for Pad {
    fn name(&self) -> &'static str {
        "Pad"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        expect_f32(inputs[0], "x")?;
        Ok(Fact::f32(self.output_shape(&inputs[0].shape)?))
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let fact = checked_fact(self, inputs)?;
        let x = inputs[0].as_f32()?;
        let mut out = ArrayD::from_elem(IxDyn(&fact.shape), self.value);
        out.slice_each_axis_mut(|ax| {
            let [b, _] = self.pads[ax.axis.index()];
            let d = x.shape()[ax.axis.index()];
            Range::from(b..b + d)
        })
        .assign(x);
        Ok(Tensor::F32(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_with_value() {
        let x = Tensor::from_f32(&[1, 2], vec![1.0, 2.0]).unwrap();
        let y = Pad { pads: vec![[1, 0], [0, 2]], value: -1.0 }.eval(&[&x]).unwrap();
        assert_eq!(y.shape(), &[2, 4]);
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[-1.0, -1.0, -1.0, -1.0, 1.0, 2.0, -1.0, -1.0]);
        assert!(Pad { pads: vec![[0, 0]], value: 0.0 }.output_fact(&[&x.fact()]).is_err());
    }
}
