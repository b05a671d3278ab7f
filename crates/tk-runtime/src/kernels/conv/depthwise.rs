//! The depthwise path of `Conv` (several groups of one input channel each): per output
//! channel, one contiguous multiply-add run per kernel tap over phase planes of the padded
//! input.

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
        let src = &x[(n * g.c + m / mg) * g.h * g.w..][..g.h * g.w];
        let taps = &op.weight.data[m * g.k..(m + 1) * g.k];
        let p = params(ctx, op, m);
        let failure = if g.strides == [1, 1] {
            unit_stride_plane(g, src, taps, p, y)
        } else {
            strided_plane(g, src, taps, p, y)
        };
        failure.map(|(o, acc)| (nm * plane + o, acc))
    }
}

/// One output plane of a strided depthwise convolution. The zero-padded input is split into
/// `SH * SW` phase planes (phase `(a, b)` holds padded rows `a + SH * r` and columns
/// `b + SW * c`), `wq = OW + (KW - 1) * dw / SW` columns wide. Kernel tap `(i, j)` then reads
/// phase `(i * dh % SH, j * dw % SW)` from row `i * dh / SH`, column `j * dw / SW` on, so
/// every tap adds one contiguous run of `OH * wq` products whatever the stride (the `wq - OW`
/// extra columns per row are computed and dropped). `i32` accumulators are exact: the caller
/// checked that `KH * KW` products fit the fast path's chunk. Returns the first accumulator
/// overflow (plane-relative index).
#[inline(always)]
fn strided_plane(
    g: &Geometry,
    src: &[i32],
    taps: &[i32],
    p: RowParams,
    y: &mut [i32],
) -> Option<(usize, i128)> {
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    let (row_reach, col_reach) = ((g.kh - 1) * dh / sh, (g.kw - 1) * dw / sw);
    let hq = g.oh + row_reach;
    let wq = g.ow + col_reach;
    let run = g.oh * wq;
    // Built on first use: at most `KH * KW` phases, however large the stride.
    let mut phases: Vec<([usize; 2], Vec<i32>)> = Vec::new();
    let mut acc = vec![0i32; run];
    for i in 0..g.kh {
        for j in 0..g.kw {
            let key = [i * dh % sh, j * dw % sw];
            let index = match phases.iter().position(|(k, _)| *k == key) {
                Some(index) => index,
                None => {
                    phases.push((key, phase_plane(g, src, key, [hq, wq], col_reach)));
                    phases.len() - 1
                }
            };
            let phase = &phases[index].1;
            let tap = taps[i * g.kw + j];
            let at = i * dh / sh * wq + j * dw / sw;
            for (s, &v) in acc.iter_mut().zip(&phase[at..at + run]) {
                *s += tap * v;
            }
        }
    }
    requantize_rows(&acc, wq, g.ow, p, y)
}

/// Phase `[a, b]` of the zero-padded input plane `src` (see [`strided_plane`]; at stride 1,
/// phase `[0, 0]` is the padded plane of [`unit_stride_plane`]): `hq` rows of
/// `wq` columns, plus `extra` zeros so that the last tap's run stays in bounds.
#[inline(always)]
fn phase_plane(
    g: &Geometry,
    src: &[i32],
    [a, b]: [usize; 2],
    [hq, wq]: [usize; 2],
    extra: usize,
) -> Vec<i32> {
    let [sh, sw] = g.strides;
    let (top, left) = (g.pad[0], g.pad[1]);
    let mut plane = vec![0i32; hq * wq + extra];
    // First phase column on or right of the left padding, and the input column it holds.
    let c0 = left.saturating_sub(b).div_ceil(sw).min(wq);
    let ix0 = b + c0 * sw - left;
    let count = if ix0 < g.w {
        (g.w - ix0).div_ceil(sw).min(wq - c0)
    } else {
        0
    };
    if count == 0 {
        // Every column of this phase is padding.
        return plane;
    }
    for (r, row) in plane.chunks_exact_mut(wq.max(1)).take(hq).enumerate() {
        let Some(iy) = (a + r * sh).checked_sub(top).filter(|&v| v < g.h) else {
            continue;
        };
        let line = &src[iy * g.w..(iy + 1) * g.w];
        let dst = &mut row[c0..c0 + count];
        match sw {
            1 => dst.copy_from_slice(&line[ix0..ix0 + count]),
            // The common stride, as pairs (a constant stride vectorises).
            2 => {
                for (d, pair) in dst.iter_mut().zip(line[ix0..].chunks(2)) {
                    *d = pair[0];
                }
            }
            _ => {
                for (d, &v) in dst.iter_mut().zip(line[ix0..].iter().step_by(sw)) {
                    *d = v;
                }
            }
        }
    }
    plane
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
    // At stride 1 the only phase is the padded plane itself.
    let padded = phase_plane(g, src, [0, 0], [hp, wp], (g.kw - 1) * dw);
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
    requantize_rows(&acc, wp, g.ow, p, y)
}

/// Requantizes the first `ow` of every `width` accumulators of `acc` into the rows of `y`
/// (`ow` outputs each); returns the first accumulator beyond the bound (plane-relative).
#[inline(always)]
fn requantize_rows(
    acc: &[i32],
    width: usize,
    ow: usize,
    p: RowParams,
    y: &mut [i32],
) -> Option<(usize, i128)> {
    let mut wide = vec![0i64; ow];
    for (oy, (row, out)) in acc
        .chunks_exact(width.max(1))
        .zip(y.chunks_mut(ow.max(1)))
        .enumerate()
    {
        for (w, &a) in wide.iter_mut().zip(row) {
            *w = i64::from(a);
        }
        if let Err((ox, a)) = p.apply_all(&wide, out) {
            return Some((oy * ow + ox, a));
        }
    }
    None
}
