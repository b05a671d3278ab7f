//! Dynamic quantization (`DynamicQuantizeLinear`, onnxruntime's `quantize_dynamic`) replaced
//! by calibrated static scales.
//!
//! `DynamicQuantizeLinear(x)` computes a uint8 tensor `Q(x)` with a scale `S(x)` and a zero
//! point `Z(x)` from the data at run time. The integer standard fixes every scale when
//! quantizing, so these cannot be kept: the patterns `quantize_dynamic` emits are rewritten
//! so that `x` itself feeds the layer, and `x` then gets a calibrated scale like any other
//! activation (at the conversion's bit width; quantizing without calibration data is an error
//! naming the node, see [`crate::quantize`]):
//!
//! - `DequantizeLinear(Q(x), S(x), Z(x))` is `x` up to rounding and becomes `x`;
//! - `L(DequantizeLinear(Q(x), 1, Z(x)), w...) * (S(x) * k)`, with `L` a `Conv`, `Gemm` or
//!   `MatMul` by constants (the `ConvInteger`/`MatMulInteger` accumulator, through any
//!   `Identity` casts, times the product of the activation and weight scales), is
//!   `L(x, w...) * k` up to rounding and becomes that.
//!
//! What remains of a `DynamicQuantizeLinear` once folding is done (any other use of `Q(x)`,
//! `S(x)` or `Z(x)`) is refused naming the node.

use tk_ir::ops::Op;
use tk_ir::ops::binary::BinaryKind;
use tk_ir::ops::dynamic_quantize_linear::DynamicOutput;

use super::{Draft, unsupported};
use crate::QuantResult;

impl Draft {
    /// The input `x` of node `id` when it computes `output` of a `DynamicQuantizeLinear`.
    fn dynamic_input(&self, id: usize, output: DynamicOutput) -> Option<usize> {
        match &self.nodes[id].op {
            Op::DynamicQuantizeLinear(d) if d.output == output => Some(self.nodes[id].inputs[0]),
            _ => None,
        }
    }

    /// The one consumer of `id`, when it has exactly one and is not a graph output.
    fn sole_user(&self, id: usize) -> Option<usize> {
        match self.consumers(id)[..] {
            [user] if !self.is_output(id) => Some(user),
            _ => None,
        }
    }

    /// Rewrites the patterns of the module docs at `DequantizeLinear` node `id` (whose input
    /// is a `DynamicQuantizeLinear`); returns whether it did.
    pub(super) fn fold_dynamic(&mut self, id: usize) -> QuantResult<bool> {
        let inputs = self.nodes[id].inputs.clone();
        let q = inputs[0];
        let Some(x) = self.dynamic_input(q, DynamicOutput::Quantized) else {
            return Ok(false);
        };
        let same_x =
            |i: Option<&usize>, output| i.and_then(|&i| self.dynamic_input(i, output)) == Some(x);
        if !same_x(inputs.get(2), DynamicOutput::ZeroPoint) {
            return Ok(false);
        }
        if same_x(inputs.get(1), DynamicOutput::Scale) {
            self.note_dynamic(q);
            self.replace_uses(id, x);
            return Ok(true);
        }
        if !self
            .konst(inputs[1])
            .is_some_and(|s| s.iter().all(|&v| v == 1.0))
        {
            return Ok(false);
        }
        let Some((layer, mul, slot, k)) = self.scaled_accumulator(id, x) else {
            return Ok(false);
        };
        self.nodes[layer].inputs[0] = x;
        self.nodes[mul].inputs[slot] = k;
        self.note_dynamic(q);
        Ok(true)
    }

    /// For `c = DequantizeLinear(Q(x), 1, Z(x))` at `centred`: the layer `L` reading it, the
    /// `Mul` scaling `L`'s output by `S(x) * k`, the position of that factor among the `Mul`'s
    /// inputs, and `k`.
    fn scaled_accumulator(&self, centred: usize, x: usize) -> Option<(usize, usize, usize, usize)> {
        let layer = self.sole_user(centred)?;
        let l = &self.nodes[layer];
        let linear = matches!(l.op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul(_));
        if !linear
            || l.inputs[0] != centred
            || l.inputs[1..].iter().any(|&i| self.konst(i).is_none())
        {
            return None;
        }
        let mut at = layer;
        let mul = loop {
            let next = self.sole_user(at)?;
            match &self.nodes[next].op {
                Op::Identity(_) => at = next,
                Op::Binary(b) if b.kind == BinaryKind::Mul => break next,
                _ => return None,
            }
        };
        let m_inputs = &self.nodes[mul].inputs;
        let slot = m_inputs.iter().position(|&i| i != at)?;
        let factor = m_inputs[slot];
        let Op::Binary(b) = &self.nodes[factor].op else {
            return None;
        };
        let [a, c] = self.nodes[factor].inputs[..] else {
            return None;
        };
        let is_scale = |i| self.dynamic_input(i, DynamicOutput::Scale) == Some(x);
        let k = match (is_scale(a), is_scale(c)) {
            (true, false) => c,
            (false, true) => a,
            _ => return None,
        };
        (b.kind == BinaryKind::Mul && self.konst(k).is_some()).then_some((layer, mul, slot, k))
    }

    /// Records the `DynamicQuantizeLinear` whose output `q` was replaced.
    fn note_dynamic(&mut self, q: usize) {
        let name = &self.nodes[q].name;
        if !self.dynamic.contains(name) {
            self.dynamic.push(name.clone());
        }
    }

    /// Refuses a `DynamicQuantizeLinear` that folding left in the graph.
    pub(super) fn check_dynamic(&self) -> QuantResult<()> {
        let live = self.live();
        match self
            .nodes
            .iter()
            .enumerate()
            .find(|(i, n)| live[*i] && matches!(n.op, Op::DynamicQuantizeLinear(_)))
        {
            Some((_, n)) => Err(unsupported(
                &n.name,
                "DynamicQuantizeLinear",
                "its scale is computed at run time and used outside the patterns of \
                 quantize_dynamic (ConvInteger or MatMulInteger scaled by the product of the \
                 scales, DequantizeLinear), so no static scale can replace it",
            )),
            None => Ok(()),
        }
    }
}
