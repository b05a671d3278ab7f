//! `MaxPool` kernel.

use tk_quant::QTensor;
use tk_quant::ops::MaxPool;

use super::pool::Windows;
use super::{Ctx, PARALLEL_MACS, first_failure};
use crate::RuntimeError;

/// Spec: the maximum over each window; padded positions are never selected. A window with no
/// in-bounds position is an error.
pub(crate) fn run(ctx: &Ctx<'_>, op: &MaxPool, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let win = Windows::new(ctx, &op.geometry, x)?;
    let [_, _, h, w] = win.input;
    let [oh, ow] = win.out;
    let mut data = vec![0i32; ctx.volume(&ctx.node.shape)?];
    let task = |(plane, out): (usize, &mut [i32])| {
        let input = &x.data[plane * h * w..(plane + 1) * h * w];
        for (o, y) in out.iter_mut().enumerate() {
            let ([r0, r1], [c0, c1]) = win.window(o / ow, o % ow);
            let max = (r0..r1)
                .flat_map(|iy| input[iy * w + c0..iy * w + c1].iter().copied())
                .max();
            match max {
                Some(v) => *y = v,
                None => return Some((plane * oh * ow + o, 0)),
            }
        }
        None
    };
    let work = data
        .len()
        .saturating_mul(win.kernel[0].saturating_mul(win.kernel[1]));
    if let Some((index, _)) = first_failure(&mut data, oh * ow, work >= PARALLEL_MACS, task) {
        return Err(RuntimeError::EmptyWindow {
            node: ctx.node.id,
            index,
        });
    }
    Ok(QTensor {
        shape: ctx.node.shape.clone(),
        data,
    })
}
