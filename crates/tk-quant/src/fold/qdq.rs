//! Scales of pre-quantized models.
//!
//! - `QuantizeLinear -> DequantizeLinear` pairs on activations are removed, their scale kept
//!   as an override of the quantized tensor. The integer standard is symmetric, so a pair of
//!   type `T` with zero point `z` becomes the signed grid of the *same* scale with the fewest
//!   bits holding `T.min - z ..= T.max - z`: int8 with `z = 0` and uint8 with `z = 128` stay 8
//!   bits, any other zero point (onnxruntime's asymmetric uint8 activations) needs 9 bits.
//!   Every value the original model can represent is represented exactly; the wider grid only
//!   saturates later (at `-256` / `255` steps instead of `-z` / `255 - z`).
//! - A scale fixed after a wiring or clamping op (`Relu`, `MaxPool`, `Flatten`, ...: ops
//!   whose integer output inherits the input's scale) is moved up the chain of such ops to the
//!   op that computes the values, when each op of the chain is the only consumer of its
//!   input: the integer model requantizes once, at the last scale the original model chose,
//!   instead of rounding twice. Those ops commute with scaling and clamping. When the op
//!   computing the values has a scale of its own, the moved one replaces it only if it needs
//!   no more bits (uint8 after a `Relu` would otherwise widen an int8 layer to 9 bits for
//!   precision the original model never had, since it rounded to the first scale already).
//! - `DequantizeLinear` of a `DynamicQuantizeLinear`: see `dynamic.rs`.

use tk_ir::ops::Op;

use super::{DNode, Draft, unsupported};
use crate::scales::{ScaleKind, scale_kind};
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
            if matches!(self.nodes[q_id].op, Op::DynamicQuantizeLinear(_)) {
                // Patterns that may only match once other rewrites are done.
                return self.fold_dynamic(id);
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

    /// Checks what folding leaves of dynamic quantization, then moves scales (see the
    /// module docs).
    pub(super) fn finish_qdq(&mut self) -> QuantResult<()> {
        self.check_dynamic()?;
        self.hoist_qdq_scales();
        Ok(())
    }

    /// Moves QDQ scales fixed after inherit-scale ops to the op computing the values (see the
    /// module docs).
    fn hoist_qdq_scales(&mut self) {
        let live = self.live();
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (j, n) in self.nodes.iter().enumerate().filter(|(j, _)| live[*j]) {
            for &i in &n.inputs {
                consumers[i].push(j);
            }
        }
        for id in (0..self.nodes.len()).filter(|&i| live[i]) {
            if scale_kind(&self.nodes[id].op) != ScaleKind::Own
                || matches!(self.nodes[id].op, Op::Const(_))
            {
                continue;
            }
            let own = self.overrides.get(&id).copied();
            let mut last = None;
            let mut at = id;
            while let [next] = consumers[at][..]
                && !self.is_output(at)
                && scale_kind(&self.nodes[next].op) == ScaleKind::Inherit
                && self.nodes[next].inputs.first() == Some(&at)
            {
                last = self.overrides.get(&next).copied().or(last);
                at = next;
            }
            if let Some(scale) = last
                && own.is_none_or(|o| scale.bits <= o.bits)
            {
                self.overrides.insert(id, scale);
            }
        }
    }
}
