//! `MaxPool` -> `MaxPool` at the input's scale; ceil mode becomes extra end padding.

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue, unsupported};
use crate::ops::{MaxPool, PoolGeometry, QOp};
use crate::scales::ActScale;

/// The integer pooling geometry of a float one, and whether ceil mode added end padding.
/// Dilated pooling is unsupported.
pub(super) fn geometry(
    node: &Node,
    g: &tk_ir::ops::pool::PoolGeometry,
    input: &[usize],
) -> QuantResult<(PoolGeometry, bool)> {
    if g.dilations != [1, 1] {
        return Err(unsupported(node, "dilated pooling".into()));
    }
    let out = &node.fact.shape;
    let mut pads = g.pads;
    let mut extended = false;
    for axis in 0..2 {
        let needed = (out[2 + axis] - 1) * g.strides[axis] + g.kernel[axis];
        let have = input[2 + axis] + pads[axis] + pads[axis + 2];
        if needed > have {
            pads[axis + 2] += needed - have;
            extended = true;
        }
    }
    let q = PoolGeometry {
        kernel: g.kernel,
        strides: g.strides,
        pads,
    };
    match q.output_shape(input) {
        Ok(shape) if shape == *out => Ok((q, extended)),
        _ => Err(unsupported(
            node,
            format!("pooling geometry {g:?} has no integer equivalent"),
        )),
    }
}

pub(super) fn convert(
    cx: &mut Converter,
    node: &Node,
    op: &tk_ir::ops::MaxPool,
) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let input = cx.shape(x).to_vec();
    let (geometry, _) = geometry(node, &op.geometry, &input)?;
    let act = ActScale {
        scale: x.scale,
        bits: x.bits,
    };
    Ok(cx.push(
        node,
        "",
        QOp::MaxPool(MaxPool { geometry }),
        vec![x.id],
        node.fact.shape.clone(),
        act,
    ))
}
