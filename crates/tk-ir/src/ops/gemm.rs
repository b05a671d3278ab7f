//! `Gemm`: `alpha * A' B' + beta * C` (ONNX `Gemm`).

use ndarray::{Array2, Ix2};

use super::{OpDef, broadcast::broadcast_shapes, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// General matrix multiply. Inputs: `A [M, K]` (or `[K, M]` if `trans_a`), `B [K, N]`
/// (or `[N, K]` if `trans_b`), optional `C` broadcastable to `[M, N]`. Output `[M, N]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gemm {
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of `C`.
    pub beta: f32,
    /// Whether `A` is transposed.
    pub trans_a: bool,
    /// Whether `B` is transposed.
    pub trans_b: bool,
}

impl Gemm {
    fn dims(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize), OpError> {
        if a.len() != 2 || b.len() != 2 {
            op_bail!("A {a:?} and B {b:?} must be 2-D");
        }
        let (m, ka) = if self.trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
        let (kb, n) = if self.trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
        if ka != kb {
            op_bail!("inner dimensions differ: A {a:?} B {b:?}");
        }
        Ok((m, ka, n))
    }
}

impl OpDef for Gemm {
    fn name(&self) -> &'static str {
        "Gemm"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 2, 3)?;
        for (fact, what) in inputs.iter().zip(["A", "B", "C"]) {
            expect_f32(fact, what)?;
        }
        let (m, _, n) = self.dims(&inputs[0].shape, &inputs[1].shape)?;
        if let Some(c) = inputs.get(2) {
            let shape = broadcast_shapes(&c.shape, &[m, n])?;
            if shape != [m, n] {
                op_bail!("C {:?} does not broadcast to [{m}, {n}]", c.shape);
            }
        }
        Ok(Fact::f32(vec![m, n]))
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let as2 = |t: &Tensor| -> Result<Array2<f32>, OpError> {
            t.as_f32()?
                .clone()
                .into_dimensionality::<Ix2>()
                .map_err(|e| OpError::new(e.to_string()))
        };
        let a = as2(inputs[0])?;
        let b = as2(inputs[1])?;
        let a = if self.trans_a { a.reversed_axes() } else { a };
        let b = if self.trans_b { b.reversed_axes() } else { b };
        let mut y = a.dot(&b) * self.alpha;
        if let Some(c) = inputs.get(2) {
            let c = c.as_f32()?;
            let c = c
                .broadcast(y.shape())
                .ok_or_else(|| OpError::new("C does not broadcast"))?;
            y.zip_mut_with(&c, |v, &c| *v += self.beta * c);
        }
        Ok(Tensor::F32(y.into_dyn()))
    }
}
