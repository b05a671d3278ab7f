//! The depthwise path of `Conv` (several groups of one input channel each): a direct
//! sliding window per output channel.

use super::super::dot::{self, RowParams};
use super::super::{Ctx, PARALLEL_MACS, first_failure};
use super::{Geometry, params};
use tk_quant::ops::Conv;

/// One input channel per group: every output channel `m` reads input channel `m / (M/C)`.
/// Rows of `i32` accumulators are exact: the caller checked that `KH * KW` products fit the
/// fast path's `i32` chunk, and the bias is added in `i64`.
pub(super) fn depthwise(
    ctx: &Ctx<'_>,
    op: &Conv,
    g: &Geometry,
    x: &[i32],
    out: &mut [i32],
) -> Option<(usize, i128)> {
    let plane = g.oh * g.ow;
    let task = |(nm, y): (usize, &mut [i32])| {
        dot::vectorized(DepthwisePlane {
            ctx,
            op,
            g,
            x,
            nm,
            y,
        })
    };
    let parallel = plane * g.k * g.m * g.n >= PARALLEL_MACS;
    first_failure(out, plane, parallel, task)
}

/// Output plane `nm = n * M + m` of [`depthwise`], written to `y`.
struct DepthwisePlane<'a, 'c> {
    ctx: &'a Ctx<'c>,
    op: &'a Conv,
    g: &'a Geometry,
    x: &'a [i32],
    nm: usize,
    y: &'a mut [i32],
}

impl dot::Kernel for DepthwisePlane<'_, '_> {
    type Output = Option<(usize, i128)>;

    #[inline(always)]
    fn run(self) -> Option<(usize, i128)> {
        let DepthwisePlane {
            ctx,
            op,
            g,
            x,
            nm,
            y,
        } = self;
        let plane = g.oh * g.ow;
        let (n, m) = (nm / g.m, nm % g.m);
        let mg = g.m / op.group;
        if g.strides == [1, 1] {
            let src = &x[(n * g.c + m / mg) * g.h * g.w..][..g.h * g.w];
            let taps = &op.weight.data[m * g.k..(m + 1) * g.k];
            return unit_stride_plane(g, src, taps, params(ctx, op, m), y)
                .map(|(o, acc)| (nm * plane + o, acc));
        }
        let sw = g.strides[1];
        // Input rows split by column phase (`row[q + t * sw]` at `q * wq + t`), so that every
        // kernel tap reads a contiguous run whatever the stride.
        // Columns lie below `w`, so at most `min(sw, w)` phases are not empty (a huge stride
        // must not allocate more than the input).
        let wq = g.w.div_ceil(sw);
        let len = sw.min(g.w) * wq;
        let src = &x[(n * g.c + m / mg) * g.h * g.w..][..g.h * g.w];
        let phased;
        let input: &[i32] = if sw == 1 {
            // One phase: the rows themselves.
            src
        } else {
            let mut rows = vec![0i32; g.h * len];
            for (row, phased) in src
                .chunks_exact(g.w.max(1))
                .zip(rows.chunks_exact_mut(len.max(1)))
            {
                for (q, dst) in phased.chunks_exact_mut(wq.max(1)).enumerate() {
                    for (d, &v) in dst.iter_mut().zip(row.iter().skip(q).step_by(sw)) {
                        *d = v;
                    }
                }
            }
            phased = rows;
            &phased
        };
        let taps = &op.weight.data[m * g.k..(m + 1) * g.k];
        let p = params(ctx, op, m);
        // Per kernel column `j`: the output columns `first..end` whose input column
        // `ox * sw + j * dw - pl` is in bounds, and where that run starts in a phased row.
        let spans: Vec<Option<(usize, usize, usize)>> = (0..g.kw)
            .map(|j| {
                let offset = j * g.dilations[1];
                let first = g.pad[1].saturating_sub(offset).div_ceil(sw);
                let end = (g.w + g.pad[1])
                    .checked_sub(offset)
                    .map_or(0, |v| v.div_ceil(sw))
                    .min(g.ow);
                (first < end).then(|| {
                    let ix0 = first * sw + offset - g.pad[1];
                    (first, end, (ix0 % sw) * wq + ix0 / sw)
                })
            })
            .collect();
        let mut acc = vec![0i32; g.ow];
        let mut wide = vec![0i64; g.ow];
        for (oy, y) in y.chunks_mut(g.ow.max(1)).enumerate() {
            acc.fill(0);
            for i in 0..g.kh {
                let Some(iy) = (oy * g.strides[0] + i * g.dilations[0])
                    .checked_sub(g.pad[0])
                    .filter(|&v| v < g.h)
                else {
                    continue;
                };
                let row = &input[iy * len..(iy + 1) * len];
                for (j, span) in spans.iter().enumerate() {
                    let Some((first, end, start)) = *span else {
                        continue;
                    };
                    let tap = taps[i * g.kw + j];
                    let src = &row[start..start + (end - first)];
                    for (a, &v) in acc[first..end].iter_mut().zip(src) {
                        *a += tap * v;
                    }
                }
            }
            for (w, &a) in wide.iter_mut().zip(&acc) {
                *w = i64::from(a);
            }
            if let Err((ox, a)) = p.apply_all(&wide, y) {
                return Some((nm * plane + oy * g.ow + ox, a));
            }
        }
        None
    }
}

/// One output plane of a stride-1 depthwise convolution: the input is copied once into a
/// zero-padded plane `wp = OW + (KW - 1) * dw` columns wide, so that every kernel tap adds one
/// contiguous run of `OH * wp` products (the `wp - OW` extra columns per row are computed and
/// dropped). `i32` accumulators are exact: the caller checked that `KH * KW` products fit the
/// fast path's chunk. Returns the first accumulator overflow (plane-relative index).
#[inline(always)]
fn unit_stride_plane(
    g: &Geometry,
    src: &[i32],
    taps: &[i32],
    p: RowParams,
    y: &mut [i32],
) -> Option<(usize, i128)> {
    let [dh, dw] = g.dilations;
    let hp = g.oh + (g.kh - 1) * dh;
    let wp = g.ow + (g.kw - 1) * dw;
    // Room for the last tap's run past the last padded row.
    let mut padded = vec![0i32; hp * wp + (g.kw - 1) * dw];
    // Padded column `c` holds input column `c - pl`; the same for rows.
    let cols = g.pad[1]..(g.pad[1] + g.w).min(wp);
    for (r, row) in padded.chunks_exact_mut(wp).take(hp).enumerate() {
        let Some(iy) = r.checked_sub(g.pad[0]).filter(|&v| v < g.h) else {
            continue;
        };
        let line = &src[iy * g.w..(iy + 1) * g.w];
        row[cols.clone()].copy_from_slice(&line[..cols.len()]);
    }
    let mut acc = vec![0i32; g.oh * wp];
    for i in 0..g.kh {
        for j in 0..g.kw {
            let tap = taps[i * g.kw + j];
            let at = i * dh * wp + j * dw;
            for (a, &v) in acc.iter_mut().zip(&padded[at..at + g.oh * wp]) {
                *a += tap * v;
            }
        }
    }
    let mut wide = vec![0i64; g.ow];
    for (oy, (row, out)) in acc
        .chunks_exact(wp)
        .zip(y.chunks_mut(g.ow.max(1)))
        .enumerate()
    {
        for (w, &a) in wide.iter_mut().zip(row) {
            *w = i64::from(a);
        }
        if let Err((ox, a)) = p.apply_all(&wide, out) {
            return Some((oy * g.ow + ox, a));
        }
    }
    None
}
