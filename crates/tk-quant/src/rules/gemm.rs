//! `Gemm` (canonical after folding: `x [R, K]`, constant `w [N, K]`, bias `[N]`,
//! `alpha = beta = 1`) -> `Gemm`.

use tk_ir::Node;

use super::weights::quantize_layer;
use crate::QuantResult;
use crate::convert::{Converter, QValue, unsupported};
use crate::ops::QOp;

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::Gemm,
) -> QuantResult<QValue> {
    if op.trans_a || !op.trans_b || op.alpha != 1.0 || op.beta != 1.0 {
        return Err(unsupported(
            node,
            "only Gemm with a constant B and a per-column constant C is supported".into(),
        ));
    }
    let x = cx.value(node, 0)?;
    let w = cx
        .konst(node, 1)
        .ok_or_else(|| unsupported(node, "non-constant weights".into()))?
        .clone();
    let b = cx
        .konst(node, 2)
        .filter(|b| b.shape() == [w.shape()[0]])
        .ok_or_else(|| unsupported(node, "bias is not a constant [N] vector".into()))?
        .clone();
    let out = cx.target(node)?;
    let layer = quantize_layer(cx, node, x, &w, &b, out)?;
    let q = crate::ops::Gemm {
        weight: layer.weight,
        bias: layer.bias,
        requant: layer.requant,
    };
    Ok(cx.push(
        node,
        "",
        QOp::Gemm(q),
        vec![x.id],
        node.fact.shape.clone(),
        out,
    ))
}
