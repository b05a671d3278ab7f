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
///
/// Separable: per output row, the maximum over the window's rows of every input column
/// (`rowmax`, contiguous passes), then per column `c` the maximum of `rowmax[c..c + KW]`
/// (`colmax`, `KW` contiguous passes); an output whose window is whole reads `colmax` at its
/// first column, one clipped by the border takes the maximum of its in-bounds columns.
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
        let kw = self.win.kernel[1];
        let ow = self.columns.len();
        let mut rowmax = vec![i32::MIN; w];
        // `colmax[c]` for every column where a whole window starts.
        let starts = (w + 1).saturating_sub(kw);
        let mut colmax = vec![i32::MIN; starts];
        for (oy, row) in self.out.chunks_mut(ow.max(1)).enumerate() {
            let ([r0, r1], _) = self.win.window(oy, 0);
            if r0 == r1 {
                return Some(oy * ow);
            }
            rowmax.copy_from_slice(&self.input[r0 * w..(r0 + 1) * w]);
            for iy in r0 + 1..r1 {
                for (m, &v) in rowmax.iter_mut().zip(&self.input[iy * w..(iy + 1) * w]) {
                    *m = (*m).max(v);
                }
            }
            colmax.copy_from_slice(&rowmax[..starts]);
            for t in 1..kw {
                for (m, &v) in colmax.iter_mut().zip(rowmax.iter().skip(t)) {
                    *m = (*m).max(v);
                }
            }
            for (ox, (y, &[c0, c1])) in row.iter_mut().zip(self.columns).enumerate() {
                *y = if c1 - c0 == kw {
                    colmax[c0]
                } else if c0 == c1 {
                    return Some(oy * ow + ox);
                } else {
                    rowmax[c0..c1].iter().copied().fold(i32::MIN, i32::max)
                };
            }
        }
        None
    }
}
