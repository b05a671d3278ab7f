//! `Conv` kernel.
//!
//! Three paths compute the same exact integers:
//! - depthwise (one input channel per group): a direct sliding window per channel, with rows
//!   of `i32` accumulators updated one kernel tap at a time;
//! - the fast path (operands fit `i16`, see [`dot`]): the input is laid out as `[H, W, C]`
//!   per group, columns (`im2col`) are gathered as contiguous runs of `C` values per kernel
//!   tap (a 1x1 convolution with stride 1 and no padding uses the input itself), weights are
//!   reordered to `[M, KH, KW, C/g]` to match (once per model, see [`pack`]); one rayon task
//!   per cache-sized tile of output positions gathers its columns and runs the
//!   register-blocked micro-kernel of [`dot`] for every output channel, so a layer costs a
//!   single fork-join;
//! - the generic path for anything else: `i32` columns and `i64`/`i128` dot products.

use rayon::prelude::*;
use tk_quant::QTensor;
use tk_quant::ops::Conv;

use super::dot::{self, Fast, Lane, RowParams};
use super::pool::{dims4, out_dim};
use super::{Ctx, checked_volume, first_failure, for_each_chunk};
use crate::RuntimeError;

use super::PARALLEL_MACS;

/// Output channels per task of the fast path's final transposition.
const TRANSPOSE_CHANNELS: usize = 16;

/// Column tile of the fast path: a tile of `TILE_BYTES` of columns stays in cache while every
/// output channel reads it.
const TILE_BYTES: usize = 1 << 17;

/// Weights of a `Conv` prepared once per model for the fast path: `i16`, reordered to
/// `[M, KH, KW, C/group]` and zero-padded to whole lanes per output channel, and their
/// largest magnitude.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    weight: Vec<Lane>,
    max_abs: u64,
}

/// Packs `op`'s weights, or `None` when one does not fit an `i16` or the shape is not 4-D.
pub(crate) fn pack(op: &Conv) -> Option<Packed> {
    let [m, cg, kh, kw] = <[usize; 4]>::try_from(op.weight.shape.as_slice()).ok()?;
    if checked_volume(&op.weight.shape) != Some(op.weight.data.len()) {
        return None;
    }
    let w = &op.weight.data;
    let mut reordered = Vec::with_capacity(w.len());
    for o in 0..m {
        for i in 0..kh {
            for j in 0..kw {
                for c in 0..cg {
                    reordered.push(w[((o * cg + c) * kh + i) * kw + j]);
                }
            }
        }
    }
    Some(Packed {
        weight: dot::pack_rows(&reordered, cg * kh * kw)?,
        max_abs: dot::max_abs(w),
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
        .filter(|_| fits_i16 && g.k > 0)
        .and_then(|p| Fast::new(max_x, p.max_abs, g.k).map(|f| (f, p)));
    let failure = match fast {
        Some((fast, p)) if g.cg == 1 && g.kh * g.kw <= fast.chunk => {
            depthwise(ctx, op, &g, &x.data, &p.weight, &mut out)
        }
        Some((fast, p)) => packed_conv(ctx, op, &g, fast, &x.data, &p.weight, &mut out),
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

/// Output positions per parallel task of the fast path: a tile of columns stays in cache
/// while every output channel reads it, and there are enough tasks to balance the threads.
fn position_tile(g: &Geometry, mg: usize) -> usize {
    let plane = g.oh * g.ow;
    let kl = dot::lanes(g.k);
    let cache = TILE_BYTES / (16 * kl.max(1));
    let balance = plane.div_ceil(4 * rayon::current_num_threads().max(1));
    let min_work = PARALLEL_MACS.div_ceil((g.k * mg).max(1));
    cache.min(balance).max(min_work).clamp(2, plane.max(2))
}

/// The fast path (see the module docs): one rayon task per tile of output positions gathers
/// its columns and computes every output channel of the group for them. Returns the first
/// accumulator overflow, if any.
fn packed_conv(
    ctx: &Ctx<'_>,
    op: &Conv,
    g: &Geometry,
    fast: Fast,
    x: &[i32],
    w: &[Lane],
    out: &mut [i32],
) -> Option<(usize, i128)> {
    let plane = g.oh * g.ow;
    let mg = g.m / op.group;
    let kl = dot::lanes(g.k);
    let parallel = plane * g.k * mg >= PARALLEL_MACS;
    let tile = position_tile(g, mg);
    let mut failures = Vec::new();
    let mut nhwc = vec![[0i16; 8]; g.h * g.w * dot::lanes(g.cg)];
    // Results of one group, position-major (`[plane, M/g]`), transposed into `out` after.
    let mut by_position = vec![0i32; plane * mg];
    for n in 0..g.n {
        for group in 0..op.group {
            to_nhwc(g, x, n, group, &mut nhwc);
            let weights = &w[group * mg * kl..(group + 1) * mg * kl];
            let start = (n * g.m + group * mg) * plane;
            let task = |(t, ys): (usize, &mut [i32])| {
                let p0 = t * tile;
                let width = ys.len() / mg.max(1);
                let mut gathered = Vec::new();
                let cols: &[Lane] = if g.is_pointwise() {
                    &nhwc[p0 * kl..(p0 + width) * kl]
                } else {
                    gathered.resize(width * kl, [0i16; 8]);
                    im2col(g, &nhwc, p0, &mut gathered);
                    &gathered
                };
                let mut acc = vec![0i64; mg * width];
                fast.dots(weights, cols, kl, &mut acc);
                let mut first: Option<(usize, i128)> = None;
                for (i, acc) in acc.chunks(width.max(1)).enumerate() {
                    let p = params(ctx, op, group * mg + i);
                    for (j, &a) in acc.iter().enumerate() {
                        match p.apply(i64::from(p.bias) + a) {
                            Ok(v) => ys[j * mg + i] = v,
                            Err(a) => {
                                let index = start + i * plane + p0 + j;
                                if first.is_none_or(|f| index < f.0) {
                                    first = Some((index, a));
                                }
                                break;
                            }
                        }
                    }
                }
                first
            };
            failures.extend(first_failure(&mut by_position, tile * mg, parallel, task));
            // Transposed by blocks of channels: each position's values of a block share
            // a cache line.
            let by_position = &by_position;
            let transpose = |(b, rows): (usize, &mut [i32])| {
                let i0 = b * TRANSPOSE_CHANNELS;
                let count = rows.len() / plane;
                for p in 0..plane {
                    let src = &by_position[p * mg + i0..p * mg + i0 + count];
                    for (j, &v) in src.iter().enumerate() {
                        rows[j * plane + p] = v;
                    }
                }
            };
            let block = &mut out[start..start + mg * plane];
            for_each_chunk(block, TRANSPOSE_CHANNELS * plane, parallel, transpose);
        }
    }
    failures.into_iter().min_by_key(|f| f.0)
}

/// Input channels of `group` of batch item `n` (values known to fit an `i16`), as
/// `[H, W, lanes(C/g)]` (zero-padded).
fn to_nhwc(g: &Geometry, x: &[i32], n: usize, group: usize, nhwc: &mut [Lane]) {
    let plane = g.h * g.w;
    let base = (n * g.c + group * g.cg) * plane;
    let cl = dot::lanes(g.cg);
    for c in 0..g.cg {
        let src = &x[base + c * plane..base + (c + 1) * plane];
        for (px, &v) in nhwc.chunks_exact_mut(cl).zip(src) {
            px.as_flattened_mut()[c] = v as i16;
        }
    }
}

/// Fills the columns of output positions `p0..` (`lanes(K)` lanes each, as many as fit
/// `cols`) with input channel `c` under kernel tap `(i, j)` at `(i * KW + j) * C/g + c` (0 in
/// the padding and after `K`), from the `[H, W, lanes(C/g)]` input.
fn im2col(g: &Geometry, nhwc: &[Lane], p0: usize, cols: &mut [Lane]) {
    let kl = dot::lanes(g.k);
    let cl = dot::lanes(g.cg);
    let src = nhwc.as_flattened();
    for (q, col) in cols.chunks_exact_mut(kl).enumerate() {
        let (oy, ox) = ((p0 + q) / g.ow, (p0 + q) % g.ow);
        let col = col.as_flattened_mut();
        for i in 0..g.kh {
            let iy = (oy * g.strides[0] + i * g.dilations[0])
                .checked_sub(g.pad[0])
                .filter(|&v| v < g.h);
            for j in 0..g.kw {
                let ix = (ox * g.strides[1] + j * g.dilations[1])
                    .checked_sub(g.pad[1])
                    .filter(|&v| v < g.w);
                let dst = &mut col[(i * g.kw + j) * g.cg..(i * g.kw + j + 1) * g.cg];
                match (iy, ix) {
                    (Some(iy), Some(ix)) => {
                        let at = (iy * g.w + ix) * cl * 8;
                        dst.copy_from_slice(&src[at..at + g.cg]);
                    }
                    _ => dst.fill(0),
                }
            }
        }
        col[g.k..].fill(0);
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
    w: &[Lane],
    out: &mut [i32],
) -> Option<(usize, i128)> {
    let plane = g.oh * g.ow;
    let task = |(nm, y): (usize, &mut [i32])| {
        dot::vectorized(DepthwisePlane {
            ctx,
            op,
            g,
            x,
            w,
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
    w: &'a [Lane],
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
            w,
            nm,
            y,
        } = self;
        let plane = g.oh * g.ow;
        let (n, m) = (nm / g.m, nm % g.m);
        let mg = g.m / op.group;
        let kl = dot::lanes(g.k);
        let sw = g.strides[1];
        // Input rows split by column phase (`row[q + t * sw]` at `q * wq + t`), so that every
        // kernel tap reads a contiguous run whatever the stride.
        // Columns lie below `w`, so at most `min(sw, w)` phases are not empty (a huge stride
        // must not allocate more than the input).
        let wq = g.w.div_ceil(sw);
        let len = sw.min(g.w) * wq;
        let src = &x[(n * g.c + m / mg) * g.h * g.w..][..g.h * g.w];
        let mut input = vec![0i32; g.h * len];
        for (row, phased) in src
            .chunks_exact(g.w.max(1))
            .zip(input.chunks_exact_mut(len.max(1)))
        {
            if sw == 1 {
                phased.copy_from_slice(row);
            } else {
                for (q, dst) in phased.chunks_exact_mut(wq.max(1)).enumerate() {
                    for (d, &v) in dst.iter_mut().zip(row.iter().skip(q).step_by(sw)) {
                        *d = v;
                    }
                }
            }
        }
        let taps = &w[m * kl..(m + 1) * kl].as_flattened()[..g.k];
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
                    let tap = i32::from(taps[i * g.kw + j]);
                    let src = &row[start..start + (end - first)];
                    for (a, &v) in acc[first..end].iter_mut().zip(src) {
                        *a += tap * v;
                    }
                }
            }
            for (ox, (y, &a)) in y.iter_mut().zip(&acc).enumerate() {
                match p.apply(i64::from(p.bias) + i64::from(a)) {
                    Ok(v) => *y = v,
                    Err(a) => return Some((nm * plane + oy * g.ow + ox, a)),
                }
            }
        }
        None
    }
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
