//! `MaxPool` kernel.

use tk_quant::QTensor;
use tk_quant::ops::MaxPool;

use super::Ctx;
use super::pool::Windows;
use crate::RuntimeError;

/// Spec: the maximum over each window; padded positions are never selected. A window with no
/// in-bounds position is an error.
pub(crate) fn run(ctx: &Ctx<'_>, op: &MaxPool, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let win = Windows::new(ctx, &op.geometry, x)?;
    let [n, c, h, w] = win.input;
    let [oh, ow] = win.out;
    let mut data = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        let input = &x.data[plane * h * w..(plane + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let ([r0, r1], [c0, c1]) = win.window(oy, ox);
                let max = (r0..r1)
                    .flat_map(|iy| input[iy * w + c0..iy * w + c1].iter().copied())
                    .max();
                let max = max.ok_or(RuntimeError::EmptyWindow {
                    node: ctx.node.id,
                    index: data.len(),
                })?;
                data.push(max);
            }
        }
    }
    Ok(QTensor {
        shape: ctx.node.shape.clone(),
        data,
    })
}
