//! One conversion rule per float IR op: `rules/<op>.rs` maps a node of the folded float graph
//! onto integer ops ([`crate::ops`]) following `docs/spec/integer-ops.md`.
//!
//! A rule reads its inputs' integer values through the [`Converter`], picks the output scale
//! (its target for own-scale ops, the input's for wiring ops), computes the integer parameters
//! and pushes one or more `QNode`s. Ops removed by [`crate::fold`] (`Identity`,
//! `BatchNormalization`, `QuantizeLinear`/`DequantizeLinear` pairs, `MatMul` by a constant)
//! only reach their rule when folding could not apply, and then report why.

mod add;
mod average_pool;
mod binary;
mod clip;
mod concat;
mod conv;
mod div;
mod gemm;
mod global_average_pool;
mod input;
mod lut;
mod max_pool;
mod mul;
mod pad;
mod relu;
mod reshape;
mod resize;
mod slice;
mod softmax;
mod transpose;
mod weights;

use tk_ir::Node;
use tk_ir::ops::Op;

use crate::QuantResult;
use crate::convert::{Converter, QValue, unsupported};

/// Converts one node (constants are converted lazily by their consumers).
pub(crate) fn convert(cx: &mut Converter, node: &Node) -> QuantResult<QValue> {
    match &node.op {
        Op::Input(_) => input::convert(cx, node),
        Op::Conv(op) => conv::convert(cx, node, op),
        Op::Gemm(op) => gemm::convert(cx, node, op),
        Op::Binary(op) => binary::convert(cx, node, op),
        Op::Relu(_) => relu::convert(cx, node),
        Op::Clip(op) => clip::convert(cx, node, op),
        Op::LeakyRelu(op) => {
            let alpha = f64::from(op.alpha);
            lut::convert(
                cx,
                node,
                "LeakyRelu",
                |x| if x >= 0.0 { x } else { alpha * x },
            )
        }
        Op::Sigmoid(_) => lut::convert(cx, node, "Sigmoid", lut::sigmoid),
        Op::HardSigmoid(op) => {
            let (alpha, beta) = (f64::from(op.alpha), f64::from(op.beta));
            lut::convert(cx, node, "HardSigmoid", |x| {
                (alpha * x + beta).clamp(0.0, 1.0)
            })
        }
        Op::HardSwish(_) => lut::convert(cx, node, "HardSwish", |x| {
            x * (x / 6.0 + 0.5).clamp(0.0, 1.0)
        }),
        Op::Softmax(op) => softmax::convert(cx, node, op),
        Op::MaxPool(op) => max_pool::convert(cx, node, op),
        Op::AveragePool(op) => average_pool::convert(cx, node, op),
        Op::GlobalAveragePool(_) => global_average_pool::convert(cx, node),
        Op::Concat(op) => concat::convert(cx, node, op),
        Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => {
            reshape::convert(cx, node)
        }
        Op::Transpose(op) => transpose::convert(cx, node, op),
        Op::Slice(op) => slice::convert(cx, node, op),
        Op::Pad(op) => pad::convert(cx, node, op),
        Op::Resize(op) => resize::convert(cx, node, op),
        Op::Identity(_) => cx.value(node, 0),
        Op::MatMul(_) => Err(unsupported(
            node,
            "only MatMul by a constant 2-D matrix is supported".into(),
        )),
        Op::BatchNormalization(_) => Err(unsupported(
            node,
            "BatchNormalization with non-constant parameters".into(),
        )),
        Op::QuantizeLinear(_) | Op::DequantizeLinear(_) => Err(unsupported(
            node,
            "only QuantizeLinear -> DequantizeLinear pairs are supported".into(),
        )),
        Op::DynamicQuantizeLinear(_) => Err(unsupported(
            node,
            "a scale computed at run time outside the patterns of quantize_dynamic".into(),
        )),
        Op::Const(_) | Op::FakeQuant(_) => Err(unsupported(node, "not a convertible op".into())),
    }
}
