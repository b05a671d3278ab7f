//! `MaxPool` kernel.

use tk_quant::QTensor;
use tk_quant::ops::MaxPool;

use super::pool::Windows;
use super::{Ctx, PARALLEL_MACS, dot, first_failure};
use crate::RuntimeError;

/// Spec: the maximum over each window; padded positions are never selected. A window with no
/// in-bounds position is an error.
pub(crate) fn run(ctx: &Ctx<'_>, op: &MaxPool, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let win = Windows::new(ctx, &op.geometry, x)?;
    let [_, _, h, w] = win.input;
    let [oh, ow] = win.out;
    let mut data = vec![0i32; ctx.volume(&ctx.node.shape)?];
    // Column spans are the same for every output row; a window is never empty in width
    // unless its span is.
    let columns: Vec<[usize; 2]> = (0..ow).map(|ox| win.window(0, ox).1).collect();
    let task = |(plane, out): (usize, &mut [i32])| {
        dot::vectorized(MaxPlane {
            input: &x.data[plane * h * w..(plane + 1) * h * w],
            win: &win,
            columns: &columns,
            out,
        })
        .map(|o| (plane * oh * ow + o, 0))
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

/// One output plane of `MaxPool`; returns the first output whose window is empty.
struct MaxPlane<'a> {
    input: &'a [i32],
    win: &'a Windows,
    columns: &'a [[usize; 2]],
    out: &'a mut [i32],
}

impl dot::Kernel for MaxPlane<'_> {
    type Output = Option<usize>;

    #[inline(always)]
    fn run(self) -> Option<usize> {
        let w = self.win.input[3];
        let ow = self.columns.len();
        for (oy, row) in self.out.chunks_mut(ow.max(1)).enumerate() {
            let ([r0, r1], _) = self.win.window(oy, 0);
            for (ox, (y, &[c0, c1])) in row.iter_mut().zip(self.columns).enumerate() {
                if r0 == r1 || c0 == c1 {
                    return Some(oy * ow + ox);
                }
                let mut max = i32::MIN;
                for iy in r0..r1 {
                    for &v in &self.input[iy * w + c0..iy * w + c1] {
                        max = max.max(v);
                    }
                }
                *y = max;
            }
        }
        None
    }
}
