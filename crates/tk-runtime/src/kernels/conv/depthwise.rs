//! The depthwise path of `Conv` (several groups of one input channel each): per output
//! channel, one contiguous multiply-add run per kernel tap over phase planes of the padded
//! input.

use rayon::prelude::*;
use tk_quant::ops::Conv;

use super::super::dot::{self, Kernel, RowParams};
use super::super::{Ctx, PARALLEL_MACS};
use super::{Geometry, params};

/// One input channel per group: every output channel `m` reads input channel `m / (M/C)`.
/// Rows of `i32` accumulators are exact: the caller checked that `KH * KW` products fit the
/// fast path's `i32` chunk. This path never fails: with `i32` accumulators and an `i32` bias,
/// `|acc + bias| < 2^32`, far below the `2^40` bound.
pub(super) fn depthwise(ctx: &Ctx<'_>, op: &Conv, g: &Geometry, x: &[i32], out: &mut [i32]) {
    let plane = g.oh * g.ow;
    let task = |scratch: &mut Scratch, (nm, y): (usize, &mut [i32])| {
        dot::vectorized(DepthwisePlane {
            ctx,
            op,
            g,
            x,
            nm,
            y,
            scratch,
        });
    };
    let chunks = plane.max(1);
    if plane * g.k * g.m * g.n >= PARALLEL_MACS {
        out.par_chunks_mut(chunks)
            .enumerate()
            .for_each_init(Scratch::default, task);
    } else {
        let mut scratch = Scratch::default();
        for chunk in out.chunks_mut(chunks).enumerate() {
            task(&mut scratch, chunk);
        }
    }
}

/// Buffers reused from one output plane to the next (one set per thread).
#[derive(Default)]
struct Scratch {
    /// Accumulators of one plane, `OH` rows of the padded width.
    acc: Vec<i32>,
    /// Phase planes (at stride 1, the padded plane alone), with their phase.
    phases: Vec<([usize; 2], Vec<i32>)>,
}

/// Output plane `nm = n * M + m` of [`depthwise`], written to `y`.
struct DepthwisePlane<'a, 'c> {
    ctx: &'a Ctx<'c>,
    op: &'a Conv,
    g: &'a Geometry,
    x: &'a [i32],
    nm: usize,
    y: &'a mut [i32],
    scratch: &'a mut Scratch,
}

impl dot::Kernel for DepthwisePlane<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let DepthwisePlane {
            ctx,
            op,
            g,
            x,
            nm,
            y,
            scratch,
        } = self;
        let (n, m) = (nm / g.m, nm % g.m);
        let mg = g.m / op.group;
        let src = &x[(n * g.c + m / mg) * g.h * g.w..][..g.h * g.w];
        let taps = &op.weight.data[m * g.k..(m + 1) * g.k];
        let p = params(ctx, op, m);
        if g.strides == [1, 1] {
            unit_stride_plane(g, src, taps, p, y, scratch);
        } else {
            strided_plane(g, src, taps, p, y, scratch);
        }
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
    scratch: &mut Scratch,
) {
    let [sh, sw] = g.strides;
    let [dh, dw] = g.dilations;
    let (row_reach, col_reach) = ((g.kh - 1) * dh / sh, (g.kw - 1) * dw / sw);
    let hq = g.oh + row_reach;
    let wq = g.ow + col_reach;
    let run = g.oh * wq;
    let Scratch { acc, phases } = scratch;
    // Built on first use: at most `KH * KW` phases, however large the stride. The first
    // `built` entries belong to this plane; later ones are spare buffers.
    let mut built = 0;
    acc.clear();
    acc.resize(run, 0);
    for i in 0..g.kh {
        for j in 0..g.kw {
            let key = [i * dh % sh, j * dw % sw];
            let index = match phases[..built].iter().position(|(k, _)| *k == key) {
                Some(index) => index,
                None => {
                    if built == phases.len() {
                        phases.push((key, Vec::new()));
                    }
                    let (k, plane) = &mut phases[built];
                    *k = key;
                    phase_plane(g, src, key, [hq, wq], col_reach, plane);
                    built += 1;
                    built - 1
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
    requantize_plane(acc, wq, g.ow, p, y);
}

/// Phase `[a, b]` of the zero-padded input plane `src` (see [`strided_plane`]; at stride 1,
/// phase `[0, 0]` is the padded plane of [`unit_stride_plane`]): `hq` rows of
/// `wq` columns, plus `extra` zeros so that the last tap's run stays in bounds, written over
/// `plane`.
#[inline(always)]
fn phase_plane(
    g: &Geometry,
    src: &[i32],
    [a, b]: [usize; 2],
    [hq, wq]: [usize; 2],
    extra: usize,
    plane: &mut Vec<i32>,
) {
    let [sh, sw] = g.strides;
    let (top, left) = (g.pad[0], g.pad[1]);
    plane.clear();
    plane.resize(hq * wq + extra, 0);
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
        return;
    }
    for (r, row) in plane.chunks_exact_mut(wq.max(1)).take(hq).enumerate() {
        let Some(iy) = (a + r * sh).checked_sub(top).filter(|&v| v < g.h) else {
            continue;
        };
        let line = &src[iy * g.w..(iy + 1) * g.w];
        let dst = &mut row[c0..c0 + count];
        match sw {
            1 => dst.copy_from_slice(&line[ix0..ix0 + count]),
            // The common stride, as exact pairs (a constant stride vectorises), then the last
            // element alone when the line ends half-way through a pair.
            2 => {
                let line = &line[ix0..];
                let (pairs, last) = dst.split_at_mut(count.min(line.len() / 2));
                for (d, pair) in pairs.iter_mut().zip(line.chunks_exact(2)) {
                    *d = pair[0];
                }
                if let Some(d) = last.first_mut() {
                    *d = line[2 * pairs.len()];
                }
            }
            _ => {
                for (d, &v) in dst.iter_mut().zip(line[ix0..].iter().step_by(sw)) {
                    *d = v;
                }
            }
        }
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
    scratch: &mut Scratch,
) {
    let [dh, dw] = g.dilations;
    let hp = g.oh + (g.kh - 1) * dh;
    let wp = g.ow + (g.kw - 1) * dw;
    let Scratch { acc, phases } = scratch;
    if phases.is_empty() {
        phases.push(([0, 0], Vec::new()));
    }
    // At stride 1 the only phase is the padded plane itself.
    let padded = &mut phases[0].1;
    phase_plane(g, src, [0, 0], [hp, wp], (g.kw - 1) * dw, padded);
    acc.clear();
    acc.resize(g.oh * wp, 0);
    for i in 0..g.kh {
        for j in 0..g.kw {
            let tap = taps[i * g.kw + j];
            let at = i * dh * wp + j * dw;
            for (a, &v) in acc.iter_mut().zip(&padded[at..at + g.oh * wp]) {
                *a += tap * v;
            }
        }
    }
    requantize_plane(acc, wp, g.ow, p, y);
}

/// Requantizes the first `ow` of every `width` accumulators of `acc` into `y` (`ow` outputs
/// per row): the rows are compacted in place first, so that one vectorised pass covers the
/// whole plane. Never fails (see [`depthwise`]).
#[inline(always)]
fn requantize_plane(acc: &mut [i32], width: usize, ow: usize, p: RowParams, y: &mut [i32]) {
    if width != ow {
        for row in 1..y.len() / ow.max(1) {
            acc.copy_within(row * width..row * width + ow, row * ow);
        }
    }
    dot::Requant {
        x: &acc[..y.len()],
        p,
        out: y,
    }
    .run();
}
