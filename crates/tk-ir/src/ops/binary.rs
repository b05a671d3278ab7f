//! `Add`, `Sub`, `Mul`, `Div`: element-wise arithmetic with broadcasting.

use ndarray::{ArrayD, IxDyn, Zip};

use super::{OpDef, broadcast::broadcast_shapes, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor};

/// Which arithmetic operation a [`Binary`] performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryKind {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
}

/// Element-wise `a <op> b` with numpy broadcasting. Both inputs F32; output has the broadcast shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    /// The operation.
    pub kind: BinaryKind,
}

impl Binary {
    /// Applies the operation to two scalars.
    pub fn apply(&self, a: f32, b: f32) -> f32 {
        match self.kind {
            BinaryKind::Add => a + b,
            BinaryKind::Sub => a - b,
            BinaryKind::Mul => a * b,
            BinaryKind::Div => a / b,
        }
    }
}

impl OpDef for Binary {
    fn name(&self) -> &'static str {
        match self.kind {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
        }
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 2, 2)?;
        expect_f32(inputs[0], "a")?;
        expect_f32(inputs[1], "b")?;
        Ok(Fact::f32(broadcast_shapes(&inputs[0].shape, &inputs[1].shape)?))
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let (a, b) = (inputs[0].as_f32()?, inputs[1].as_f32()?);
        let shape = broadcast_shapes(a.shape(), b.shape())?;
        let dim = IxDyn(&shape);
        let (a, b) = (
            a.broadcast(dim.clone()).ok_or_else(|| OpError::new("a does not broadcast"))?,
            b.broadcast(dim.clone()).ok_or_else(|| OpError::new("b does not broadcast"))?,
        );
        let mut out = ArrayD::<f32>::zeros(dim);
        Zip::from(&mut out).and(&a).and(&b).for_each(|o, &x, &y| *o = self.apply(x, y));
        Ok(Tensor::F32(out))
    }
}
