//! `Conv` kernel.
//!
//! Three paths compute the same exact integers:
//! - depthwise (several groups of one input channel each): a direct sliding window per
//!   channel, with rows of `i32` accumulators updated one kernel tap at a time;
//! - the fast path (operands fit `i16`, see [`Fast`]): per group, the product
//!   `Y[M/g, P] = W[M/g, K] · X[K, P]` of [`matmul`], where `X` is the column matrix of the
//!   `P = OH * OW` output positions (`im2col`, row `(c, i, j)` of `K = C/g * KH * KW`), gathered
//!   straight from the NCHW input into the product's panels; weights keep their ONNX order
//!   and are packed once per model (see [`pack`]). One rayon task per cache-sized tile of
//!   output positions gathers its panels and computes every output channel for them, into a
//!   buffer copied row by row into the NCHW output, so a layer costs two fork-joins;
//! - the generic path for anything else: `i32` columns and `i64`/`i128` dot products.

use rayon::prelude::*;
use tk_quant::QTensor;
use tk_quant::ops::Conv;

use super::dot::{self, Fast, RowParams};
use super::matmul::{self, NR, Panel, Rows};
use super::pool::{dims4, out_dim};
use super::{Ctx, checked_volume, first_failure, for_each_chunk};
use crate::RuntimeError;

use super::PARALLEL_MACS;

/// Position tile of the fast path: a tile of `TILE_BYTES` of panels stays in cache while every
/// output channel reads it.
const TILE_BYTES: usize = 1 << 17;

/// Weights of a `Conv` prepared once per model for the fast path: one [`Rows`] (`[M/g, K]`)
/// per group, and their largest magnitude.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    groups: Vec<Rows>,
    max_abs: u64,
}

/// Packs `op`'s weights, or `None` when one does not fit an `i16` or the shape is not 4-D.
pub(crate) fn pack(op: &Conv) -> Option<Packed> {
    let [m, cg, kh, kw] = <[usize; 4]>::try_from(op.weight.shape.as_slice()).ok()?;
    if checked_volume(&op.weight.shape) != Some(op.weight.data.len())
        || op.group == 0
        || m % op.group != 0
    {
        return None;
    }
    let (mg, k) = (m / op.group, cg * kh * kw);
    let groups = op
        .weight
        .data
        .chunks(mg * k)
        .map(|w| Rows::pack(w, mg, k))
        .collect::<Option<Vec<_>>>()?;
    (groups.len() == op.group || mg * k == 0).then_some(Packed {
        max_abs: dot::max_abs(&op.weight.data),
        groups,
    })
}

/// Spec: `acc[n,m,oy,ox] = bias[m] + Σ_{c,i,j} w[m,c,i,j] * xpad[n, g(m)*C/g + c,
/// oy*sh + i*dh - pt, ox*sw + j*dw - pl]` with zero padding, `y = requant(acc; M[m], s[m])`.
///
/// `packed` is [`pack`]`(op)` when the caller has it; it is computed here otherwise.
pub(crate) fn run(
    ctx: &Ctx<'_>,
    op: &Conv,
    x: &QTensor,
    packed: Option<&Packed>,
) -> Result<QTensor, RuntimeError> {
    let g = Geometry::new(ctx, op, x)?;
    let out_len = ctx.volume(&ctx.node.shape)?;
    ctx.mul(g.oh * g.ow, g.k, &ctx.node.shape)?;
    let mut out = vec![0i32; out_len];
    // One pass for the smallest and largest input values.
    let (lo, hi) = dot::vectorized(dot::MinMax(&x.data));
    let max_x = u64::from(lo.unsigned_abs().max(hi.unsigned_abs()));
    let fits_i16 = i16::try_from(lo).is_ok() && i16::try_from(hi).is_ok();
    let local;
    let packed = match packed {
        Some(p) => Some(p),
        None => {
            local = pack(op);
            local.as_ref()
        }
    };
    let fast = packed
        .filter(|p| fits_i16 && g.k > 0 && p.groups.len() == op.group)
        .and_then(|p| Fast::new(max_x, p.max_abs, g.k).map(|f| (f, p)));
    let failure = match fast {
        Some((fast, _)) if g.cg == 1 && op.group > 1 && g.kh * g.kw <= fast.chunk => {
            depthwise(ctx, op, &g, &x.data, &mut out)
        }
        Some((fast, p)) => packed_conv(ctx, op, &g, fast, &x.data, &p.groups, &mut out),
        None => generic(ctx, op, &g, x, max_x, &mut out),
    };
    if let Some((index, acc)) = failure {
        return Err(ctx.overflow(index, acc));
    }
    Ok(QTensor {
        shape: ctx.node.shape.clone(),
        data: out,
    })
}

/// Requantization parameters of output channel `m`.
fn params(ctx: &Ctx<'_>, op: &Conv, m: usize) -> RowParams {
    let (mult, s) = op.requant.for_channel(m);
    RowParams {
        bias: op.bias[m],
        m: mult,
        s,
        lo: ctx.lo,
        hi: ctx.hi,
    }
}

/// Output positions per parallel task of the fast path (a multiple of [`NR`]): a tile of
/// panels stays in cache while every output channel reads it, and there are enough tasks to
/// balance the threads.
fn position_tile(g: &Geometry, mg: usize) -> usize {
    let plane = g.oh * g.ow;
    let cache = TILE_BYTES / (4 * matmul::pairs(g.k)).max(1);
    let balance = plane.div_ceil(4 * rayon::current_num_threads().max(1));
    let min_work = PARALLEL_MACS.div_ceil((g.k * mg).max(1));
    cache
        .min(balance)
        .max(min_work)
        .clamp(1, plane.max(1))
        .next_multiple_of(NR)
}

/// The fast path (see the module docs). Returns the first accumulator overflow, if any.
fn packed_conv(
    ctx: &Ctx<'_>,
    op: &Conv,
    g: &Geometry,
    fast: Fast,
    x: &[i32],
    groups: &[Rows],
    out: &mut [i32],
) -> Option<(usize, i128)> {
    let plane = g.oh * g.ow;
    let mg = g.m / op.group;
    let parallel = plane * g.k * mg >= PARALLEL_MACS;
    let tile = position_tile(g, mg);
    let tasks = plane.div_ceil(tile);
    let mut failures = Vec::new();
    // Results of one group, task after task, each `[M/g, tile]`.
    let mut by_task = vec![0i32; tasks * mg * tile];
    let input_len = g.cg * g.h * g.w;
    for n in 0..g.n {
        for (group, rows) in groups.iter().enumerate() {
            let input = &x[(n * g.c + group * g.cg) * g.h * g.w..][..input_len];
            let start = (n * g.m + group * mg) * plane;
            let task = |(t, ys): (usize, &mut [i32])| {
                let p0 = t * tile;
                let width = tile.min(plane - p0);
                let mut panels = vec![[0i16; 2 * NR]; width.div_ceil(NR) * matmul::pairs(g.k)];
                gather(g, input, p0, width, &mut panels);
                let mut emit = Requantize {
                    ctx,
                    op,
                    channel0: group * mg,
                    tile,
                    width,
                    ys,
                    first: None,
                };
                rows.product(fast, &panels, &mut emit);
                emit.first
                    .map(|(m, q, acc)| (start + m * plane + p0 + q, acc))
            };
            failures.extend(first_failure(&mut by_task, mg * tile, parallel, task));
            let by_task = &by_task;
            let copy = |(m, row): (usize, &mut [i32])| {
                for (t, dst) in row.chunks_mut(tile).enumerate() {
                    let src = &by_task[(t * mg + m) * tile..][..dst.len()];
                    dst.copy_from_slice(src);
                }
            };
            for_each_chunk(&mut out[start..start + mg * plane], plane, parallel, copy);
        }
    }
    failures.into_iter().min_by_key(|f| f.0)
}

/// The fast path's epilogue: requantizes the sums of one task's positions into its
/// `[M/g, tile]` buffer.
struct Requantize<'a, 'c> {
    ctx: &'a Ctx<'c>,
    op: &'a Conv,
    /// First output channel of the group.
    channel0: usize,
    /// Row length of `ys`.
    tile: usize,
    /// Positions of this task.
    width: usize,
    ys: &'a mut [i32],
    /// The first overflow: `(row, position in the task, accumulator)`.
    first: Option<(usize, usize, i128)>,
}

impl matmul::Emit for Requantize<'_, '_> {
    #[inline(always)]
    fn emit(&mut self, m: usize, tile: usize, sums: &[i64; NR]) {
        let p = params(self.ctx, self.op, self.channel0 + m);
        let q0 = tile * NR;
        let count = NR.min(self.width - q0);
        let at = m * self.tile + q0;
        if let Err((q, acc)) = p.apply_all(&sums[..count], &mut self.ys[at..at + count]) {
            let key = (m, q0 + q);
            if self.first.is_none_or(|f| key < (f.0, f.1)) {
                self.first = Some((m, q0 + q, acc));
            }
        }
    }
}

/// Fills the panels of output positions `p0..p0 + width` (tile after tile of [`NR`]
/// positions, `pairs(K)` panels per tile) with row `(c * KH + i) * KW + j` of the column
/// matrix: input channel `c` of `input` (`[C/g, H, W]`) under kernel tap `(i, j)`, 0 in the
/// padding, past `K` and past the last position. `panels` must be zeroed.
fn gather(g: &Geometry, input: &[i32], p0: usize, width: usize, panels: &mut [Panel]) {
    if g.is_pointwise() {
        // The input channels are the rows: interleaved straight into the panels.
        dot::vectorized(PointwisePanels {
            input,
            plane: g.h * g.w,
            p0,
            width,
            panels,
        });
        return;
    }
    let padded = width.next_multiple_of(NR);
    let mut rows = vec![0i16; g.k.next_multiple_of(2) * padded];
    im2col_rows(g, input, p0, width, padded, &mut rows);
    dot::vectorized(Interleave {
        rows: &rows,
        padded,
        panels,
    });
}

/// Row `(c * KH + i) * KW + j` of the column matrix for positions `p0..p0 + width` into
/// `rows[row * padded..]` (left untouched, so zero, in the padding).
fn im2col_rows(
    g: &Geometry,
    input: &[i32],
    p0: usize,
    width: usize,
    padded: usize,
    rows: &mut [i16],
) {
    let plane = g.h * g.w;
    let [sh, sw] = g.strides;
    // Runs of this task's positions within one output row: `(q, oy, ox0, len)`.
    let mut segments = Vec::new();
    let mut q = 0;
    while q < width {
        let (oy, ox0) = ((p0 + q) / g.ow, (p0 + q) % g.ow);
        let len = (g.ow - ox0).min(width - q);
        segments.push((q, oy, ox0, len));
        q += len;
    }
    // Per kernel column `j`: the output columns `first..end` whose input column
    // `ox * sw + j * dw - pl` lies in `0..W`.
    let columns: Vec<(usize, usize)> = (0..g.kw)
        .map(|j| {
            let offset = j * g.dilations[1];
            let first = g.pad[1].saturating_sub(offset).div_ceil(sw);
            let end = (g.w + g.pad[1])
                .checked_sub(offset)
                .map_or(0, |v| v.div_ceil(sw))
                .min(g.ow);
            (first, end)
        })
        .collect();
    let mut r = 0;
    for channel in input.chunks_exact(plane.max(1)).take(g.cg) {
        for i in 0..g.kh {
            for (j, &(first, end)) in columns.iter().enumerate() {
                let row = &mut rows[r * padded..(r + 1) * padded];
                let offset = j * g.dilations[1];
                for &(q, oy, ox0, len) in &segments {
                    let iy = (oy * sh + i * g.dilations[0])
                        .checked_sub(g.pad[0])
                        .filter(|&v| v < g.h);
                    let (lo, hi) = (first.max(ox0), end.min(ox0 + len));
                    let Some(iy) = iy.filter(|_| lo < hi) else {
                        continue;
                    };
                    let src = &channel[iy * g.w..(iy + 1) * g.w];
                    let dst = &mut row[q + lo - ox0..q + hi - ox0];
                    let ix0 = lo * sw + offset - g.pad[1];
                    if sw == 1 {
                        for (d, &v) in dst.iter_mut().zip(&src[ix0..]) {
                            *d = v as i16;
                        }
                    } else {
                        for (d, &v) in dst.iter_mut().zip(src[ix0..].iter().step_by(sw)) {
                            *d = v as i16;
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

/// Panels of a 1x1 convolution: rows `2t` and `2t + 1` are input channels `2t` and `2t + 1`
/// (`plane` values each) at positions `p0..p0 + width`.
struct PointwisePanels<'a> {
    input: &'a [i32],
    plane: usize,
    p0: usize,
    width: usize,
    panels: &'a mut [Panel],
}

impl dot::Kernel for PointwisePanels<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let channels = self.input.len() / self.plane.max(1);
        let kp = matmul::pairs(channels);
        let row = |c: usize| -> &[i32] {
            if c < channels {
                &self.input[c * self.plane + self.p0..c * self.plane + self.p0 + self.width]
            } else {
                &[]
            }
        };
        for t in 0..kp {
            let (even, odd) = (row(2 * t), row(2 * t + 1));
            for (tile, panel) in self
                .panels
                .iter_mut()
                .skip(t)
                .step_by(kp.max(1))
                .enumerate()
            {
                let q0 = tile * NR;
                let count = NR.min(self.width - q0);
                if odd.is_empty() {
                    for (q, &v) in even[q0..q0 + count].iter().enumerate() {
                        panel[2 * q] = v as i16;
                    }
                } else {
                    for (q, (&e, &o)) in even[q0..q0 + count]
                        .iter()
                        .zip(&odd[q0..q0 + count])
                        .enumerate()
                    {
                        panel[2 * q] = e as i16;
                        panel[2 * q + 1] = o as i16;
                    }
                }
            }
        }
    }
}

/// Panels from rows of `padded` positions: panel `(tile, t)` holds rows `2t` and `2t + 1`
/// of positions `tile * NR..`, interleaved.
struct Interleave<'a> {
    rows: &'a [i16],
    padded: usize,
    panels: &'a mut [Panel],
}

impl dot::Kernel for Interleave<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let kp = self.rows.len() / (2 * self.padded).max(1);
        for (t, pair) in self.rows.chunks_exact(2 * self.padded).enumerate() {
            let (even, odd) = pair.split_at(self.padded);
            for (tile, (e, o)) in even.chunks_exact(NR).zip(odd.chunks_exact(NR)).enumerate() {
                let panel = &mut self.panels[tile * kp + t];
                for q in 0..NR {
                    panel[2 * q] = e[q];
                    panel[2 * q + 1] = o[q];
                }
            }
        }
    }
}

/// One input channel per group: every output channel `m` reads input channel `m / (M/C)`.
/// Rows of `i32` accumulators are exact: the caller checked that `KH * KW` products fit the
/// fast path's `i32` chunk, and the bias is added in `i64`.
fn depthwise(
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

/// The generic path: `i32` columns per (batch item, group) and the generic dot core.
fn generic(
    ctx: &Ctx<'_>,
    op: &Conv,
    g: &Geometry,
    x: &QTensor,
    max_x: u64,
    out: &mut [i32],
) -> Option<(usize, i128)> {
    let width = dot::width(max_x, &op.weight.data, g.k, &op.bias);
    let plane = g.oh * g.ow;
    let mut cols = vec![0i32; plane * g.k];
    let mg = g.m / op.group;
    for n in 0..g.n {
        for group in 0..op.group {
            im2col_nchw(g, x, n, group, &mut cols);
            let start = (n * g.m + group * mg) * plane;
            let block = &mut out[start..start + mg * plane];
            let first = block
                .par_chunks_mut(plane.max(1))
                .enumerate()
                .map(|(i, y)| {
                    let m = group * mg + i;
                    let w = &op.weight.data[m * g.k..(m + 1) * g.k];
                    dot::row(w, &cols, params(ctx, op, m), width, y)
                        .map(|(j, acc)| (start + i * plane + j, acc))
                })
                .flatten()
                .min_by_key(|f| f.0);
            if first.is_some() {
                return first;
            }
        }
    }
    None
}

/// Fills `cols[p * K + (ci * KH + i) * KW + j]` with the input value under kernel tap
/// `(ci, i, j)` of output position `p` (0 in the padding), for batch item `n` and `group`.
fn im2col_nchw(g: &Geometry, x: &QTensor, n: usize, group: usize, cols: &mut [i32]) {
    let plane = g.h * g.w;
    let channel0 = n * g.c + group * g.cg;
    cols.par_chunks_mut(g.k.max(1))
        .enumerate()
        .for_each(|(p, col)| {
            let (oy, ox) = (p / g.ow, p % g.ow);
            let mut t = 0;
            for ci in 0..g.cg {
                let base = (channel0 + ci) * plane;
                for i in 0..g.kh {
                    let iy = (oy * g.strides[0] + i * g.dilations[0])
                        .checked_sub(g.pad[0])
                        .filter(|&v| v < g.h);
                    for j in 0..g.kw {
                        let ix = (ox * g.strides[1] + j * g.dilations[1])
                            .checked_sub(g.pad[1])
                            .filter(|&v| v < g.w);
                        col[t] = match (iy, ix) {
                            (Some(iy), Some(ix)) => x.data[base + iy * g.w + ix],
                            _ => 0,
                        };
                        t += 1;
                    }
                }
            }
        });
}

/// A validated convolution problem.
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    m: usize,
    /// Input channels per group.
    cg: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    /// Dot length `cg * kh * kw`.
    k: usize,
    strides: [usize; 2],
    dilations: [usize; 2],
    /// `[top, left]`.
    pad: [usize; 2],
}

impl Geometry {
    fn new(ctx: &Ctx<'_>, op: &Conv, x: &QTensor) -> Result<Geometry, RuntimeError> {
        let [n, c, h, w] = dims4(ctx, x)?;
        let [m, cg, kh, kw] = <[usize; 4]>::try_from(op.weight.shape.as_slice())
            .map_err(|_| ctx.param("weight", "must be rank 4 [M, C/group, KH, KW]"))?;
        if checked_volume(&op.weight.shape) != Some(op.weight.data.len()) {
            return Err(ctx.param("weight", "data length differs from its shape"));
        }
        if op.group == 0 || c % op.group != 0 || m % op.group != 0 || c / op.group != cg {
            return Err(ctx.param("group", "must divide C and M with weight dim 1 = C / group"));
        }
        if op.bias.len() != m {
            return Err(ctx.param("bias", "must have one entry per output channel"));
        }
        if op.strides.contains(&0) {
            return Err(ctx.param("strides", "must be positive"));
        }
        if op.dilations.contains(&0) {
            return Err(ctx.param("dilations", "must be positive"));
        }
        if kh == 0 || kw == 0 {
            return Err(ctx.param("weight", "kernel must be at least 1x1"));
        }
        ctx.requant(&op.requant, m)?;
        let span = |k: usize, d: usize| {
            (k - 1)
                .checked_mul(d)
                .and_then(|v| v.checked_add(1))
                .ok_or_else(|| ctx.param("dilations", "overflow"))
        };
        let oh = out_dim(
            ctx,
            x,
            h,
            op.pads[0],
            op.pads[2],
            span(kh, op.dilations[0])?,
            op.strides[0],
        )?;
        let ow = out_dim(
            ctx,
            x,
            w,
            op.pads[1],
            op.pads[3],
            span(kw, op.dilations[1])?,
            op.strides[1],
        )?;
        ctx.expect_shape(&[n, m, oh, ow])?;
        Ok(Geometry {
            n,
            c,
            h,
            w,
            m,
            cg,
            kh,
            kw,
            oh,
            ow,
            k: cg * kh * kw,
            strides: op.strides,
            dilations: op.dilations,
            pad: [op.pads[0], op.pads[1]],
        })
    }

    /// A 1x1 kernel with stride 1 and no padding: the `[H, W, C]` input is the column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.strides == [1, 1]
            && self.pad == [0, 0]
            && self.oh == self.h
            && self.ow == self.w
    }
}
