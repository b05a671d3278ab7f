//! `GlobalAveragePool` -> `AvgPool` with a window of the whole `H x W` plane.

use tk_ir::Node;

use crate::QuantResult;
use crate::convert::{Converter, QValue};
use crate::ops::PoolGeometry;

pub(super) fn convert(cx: &mut Converter, node: &Node) -> QuantResult<QValue> {
    let x = cx.value(node, 0)?;
    let s = cx.shape(x).to_vec();
    let geometry = PoolGeometry {
        kernel: [s[2], s[3]],
        strides: [1, 1],
        pads: [0; 4],
    };
    super::average_pool::push(cx, node, x, geometry, false)
}
