//! `QuantizeLinear -> DequantizeLinear` pairs on activations: removed, their scale kept as an
//! override of the quantized tensor.

use tk_ir::ops::Op;

use super::{DNode, Draft, unsupported};
use crate::{ActScale, QuantResult};

impl Draft {
    /// `Q(x) -> DQ` with the same parameters: `DQ`'s consumers read `x`, whose scale is fixed.
    pub(super) fn fold_qdq(&mut self, id: usize, axis: Option<usize>) -> QuantResult<bool> {
        let name = self.nodes[id].name.clone();
        let q_id = self.nodes[id].inputs[0];
        let Op::QuantizeLinear(q) = self.nodes[q_id].op.clone() else {
            if self.fold_constant(id)? {
                return Ok(true);
            }
            return Err(unsupported(
                &name,
                "DequantizeLinear",
                "its input is not a QuantizeLinear",
            ));
        };
        let params = |node: &DNode| -> QuantResult<(Vec<f32>, Vec<f32>)> {
            let s = self
                .konst(node.inputs[1])
                .ok_or_else(|| unsupported(&name, "DequantizeLinear", "non-constant scale"))?;
            let z = match node.inputs.get(2) {
                Some(&z) => self
                    .konst(z)
                    .ok_or_else(|| {
                        unsupported(&name, "DequantizeLinear", "non-constant zero point")
                    })?
                    .iter()
                    .copied()
                    .collect(),
                None => vec![0.0],
            };
            Ok((s.iter().copied().collect(), z))
        };
        let (sq, zq) = params(&self.nodes[q_id])?;
        let (sd, zd) = params(&self.nodes[id])?;
        if axis.is_some() || q.axis.is_some() || sq.len() != 1 || sq != sd || zq != zd {
            return Err(unsupported(
                &name,
                "DequantizeLinear",
                "only per-tensor Q/DQ pairs with equal parameters are supported on activations",
            ));
        }
        let zp = f64::from(zq[0]);
        let (qmin, qmax) = (f64::from(q.qtype.min()) - zp, f64::from(q.qtype.max()) - zp);
        let bits = (2u8..=16)
            .find(|&b| -(2f64.powi(i32::from(b) - 1)) <= qmin && qmax < 2f64.powi(i32::from(b) - 1))
            .ok_or_else(|| unsupported(&name, "QuantizeLinear", "zero point out of range"))?;
        let x = self.nodes[q_id].inputs[0];
        self.overrides.entry(x).or_insert(ActScale {
            scale: f64::from(sq[0]),
            bits,
        });
        self.replace_uses(id, x);
        Ok(true)
    }
}
