//! `Conv` kernel.
//!
//! Three paths compute the same exact integers:
//! - depthwise (several groups of one input channel each): per channel, `i32` accumulators
//!   updated one kernel tap at a time, each tap one contiguous run (see `depthwise.rs`);
//! - the fast path (operands fit `i16`, see [`Fast`]): per group, the product
//!   `Y[M/g, P] = W[M/g, K] · X[K, P]` of [`matmul`], where `X` is the column matrix of the
//!   `P = OH * OW` output positions (`im2col`, row `(c, i, j)` of `K = C/g * KH * KW`), gathered
//!   straight from the NCHW input into the product's panels; weights keep their ONNX order
//!   and are packed once per model (see [`pack`]). One rayon task per cache-sized tile of
//!   output positions gathers its panels and computes every output channel for them, into a
//!   buffer copied row by row into the NCHW output, so a layer costs two fork-joins. A large
//!   layer with few positions (7x7 planes) gathers its panels once and splits its output
//!   channels instead ([`channel_split`]). A small stride-1 layer (one task) computes "wide"
//!   positions instead ([`wide_conv`]): each column-matrix row is then one run of a
//!   zero-padded input plane;
//! - the generic path for anything else: `i32` columns and `i64`/`i128` dot products.

mod depthwise;
mod panels;

use rayon::prelude::*;
use tk_quant::QTensor;
use tk_quant::ops::Conv;

use super::dot::{self, Fast, RowParams};
use super::matmul::{self, MR, NR, Rows};
use super::pool::{dims4, out_dim};
use super::{Ctx, checked_volume, first_failure, for_each_chunk};
use crate::RuntimeError;

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
            depthwise::depthwise(ctx, op, &g, &x.data, &mut out);
            None
        }
        Some((fast, p)) => {
            // No accumulator of any window, real or not, can leave the bound: then extra
            // positions may be computed and dropped (see [`packed_conv`]).
            let max_bias = op.bias.iter().map(|b| u128::from(b.unsigned_abs())).max();
            let worst =
                u128::from(max_x) * u128::from(p.max_abs) * g.k as u128 + max_bias.unwrap_or(0);
            let spare_positions = worst < 1u128 << crate::arith::ACC_BITS;
            let one_task = g.oh * g.ow <= position_tile(&g, g.m / op.group);
            let layer = FastConv {
                ctx,
                op,
                g: &g,
                fast,
                x: &x.data,
                groups: &p.groups,
            };
            if one_task && spare_positions && g.strides == [1, 1] && !g.is_pointwise() {
                wide_conv(layer, &mut out)
            } else {
                packed_conv(layer, &mut out)
            }
        }
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

/// One layer on the fast path: the conv, its geometry, its input (`[N, C, H, W]` values) and
/// its weights packed per group.
#[derive(Clone, Copy)]
struct FastConv<'a, 'c> {
    ctx: &'a Ctx<'c>,
    op: &'a Conv,
    g: &'a Geometry,
    fast: Fast,
    x: &'a [i32],
    groups: &'a [Rows],
}

impl<'a> FastConv<'a, '_> {
    /// Every (batch item, group) in order: the group, its packed weights, its input channels
    /// and the offset in the output of its first value.
    fn items(self) -> impl Iterator<Item = (usize, &'a Rows, &'a [i32], usize)> {
        let g = self.g;
        let mg = g.m / self.op.group;
        let (plane, input_len) = (g.oh * g.ow, g.cg * g.h * g.w);
        (0..g.n).flat_map(move |n| {
            self.groups.iter().enumerate().map(move |(group, rows)| {
                let input = &self.x[(n * g.c + group * g.cg) * g.h * g.w..][..input_len];
                (group, rows, input, (n * g.m + group * mg) * plane)
            })
        })
    }
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

/// Least multiply-adds per parallel task of the fast path, and least in all for it to split
/// at all: twice the runtime-wide [`super::PARALLEL_MACS`], because the fast path splits
/// positions and each task gathers its own panels. Measured on ShuffleNet-v2's 1x1 layers of
/// 451K multiply-adds (24 channels on 28x28, 48 on 14x14, 96 on 7x7): 20-40 % faster on one
/// thread than in two tasks; its 0.9-1.8M ones stay faster split.
const TASK_MACS: usize = 1 << 19;

/// Output positions per parallel task of the fast path (a multiple of [`NR`]): a tile of
/// panels stays in cache while every output channel reads it, and there are enough tasks to
/// balance the threads.
fn position_tile(g: &Geometry, mg: usize) -> usize {
    let plane = g.oh * g.ow;
    let cache = TILE_BYTES / (4 * matmul::pairs(g.k)).max(1);
    let balance = plane.div_ceil(4 * rayon::current_num_threads().max(1));
    let min_work = TASK_MACS.div_ceil((g.k * mg).max(1));
    cache
        .min(balance)
        .max(min_work)
        .clamp(1, plane.max(1))
        .next_multiple_of(NR)
}

/// The fast path (see the module docs). Returns the first accumulator overflow, if any.
fn packed_conv(layer: FastConv<'_, '_>, out: &mut [i32]) -> Option<(usize, i128)> {
    let FastConv {
        ctx, op, g, fast, ..
    } = layer;
    let plane = g.oh * g.ow;
    let mg = g.m / op.group;
    let parallel = plane * g.k * mg >= TASK_MACS;
    let threads = rayon::current_num_threads().max(1);
    // Few positions (7x7 planes: four panel tiles, three of them full) split unevenly; their
    // output channels are split instead.
    if parallel && plane.div_ceil(NR) < 4 * threads && mg >= 2 * MR * threads {
        return channel_split(layer, out);
    }
    let tile = position_tile(g, mg);
    let tasks = plane.div_ceil(tile);
    let mut failures = Vec::new();
    // Results of one group, task after task, each `[M/g, tile]`; a single task writes its
    // `[M/g, plane]` result straight into the output.
    let mut by_task = vec![0i32; if tasks == 1 { 0 } else { tasks * mg * tile }];
    let row_len = if tasks == 1 { plane } else { tile };
    for (group, rows, input, start) in layer.items() {
        let task = |(t, ys): (usize, &mut [i32])| {
            let p0 = t * tile;
            let width = tile.min(plane - p0);
            let mut panels = vec![[0i16; 2 * NR]; width.div_ceil(NR) * matmul::pairs(g.k)];
            panels::gather(g, input, p0, width, &mut panels);
            let mut emit = Requantize {
                ctx,
                op,
                channel0: group * mg,
                tile: row_len,
                width,
                ys,
                first: None,
            };
            rows.product(fast, &panels, &mut emit);
            emit.first
                .map(|(m, q, acc)| (start + m * plane + p0 + q, acc))
        };
        if tasks == 1 {
            failures.extend(task((0, &mut out[start..start + mg * plane])));
            continue;
        }
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
    failures.into_iter().min_by_key(|f| f.0)
}

/// The fast path for large layers with few positions: the panels of every position are
/// gathered once per group, and parallel tasks take blocks of output channels (about four
/// tasks per thread, whole [`MR`]-row blocks each). Returns the first accumulator overflow,
/// if any.
fn channel_split(layer: FastConv<'_, '_>, out: &mut [i32]) -> Option<(usize, i128)> {
    let FastConv {
        ctx, op, g, fast, ..
    } = layer;
    let plane = g.oh * g.ow;
    let mg = g.m / op.group;
    let blocks = mg.div_ceil(MR);
    let per_task = blocks
        .div_ceil(4 * rayon::current_num_threads().max(1))
        .max(1);
    let mut panels = vec![[0i16; 2 * NR]; plane.div_ceil(NR) * matmul::pairs(g.k)];
    let mut failures = Vec::new();
    for (group, rows, input, start) in layer.items() {
        panels::gather(g, input, 0, plane, &mut panels);
        let panels = &panels;
        let task = |(t, ys): (usize, &mut [i32])| {
            let m0 = t * per_task * MR;
            let mut emit = Requantize {
                ctx,
                op,
                channel0: group * mg + m0,
                tile: plane,
                width: plane,
                ys,
                first: None,
            };
            let range = t * per_task..((t + 1) * per_task).min(blocks);
            rows.product_blocks(fast, panels, range, &mut emit);
            emit.first
                .map(|(m, q, acc)| (start + (m0 + m) * plane + q, acc))
        };
        let chunk = per_task * MR * plane;
        let outputs = &mut out[start..start + mg * plane];
        failures.extend(first_failure(outputs, chunk, true, task));
    }
    failures.into_iter().min_by_key(|f| f.0)
}

/// A small stride-1 convolution in one task, over "wide" positions: output rows as wide as
/// the padded input window span (`wp = OW + (KW - 1) * dw` columns), so that every row of
/// the column matrix is one contiguous run of a zero-padded input plane
/// ([`panels::gather_wide`]) instead of one short run per output row. The `wp - OW` extra
/// positions per row are computed and dropped; the caller checked that no accumulator can
/// leave the bound, so they cannot fail.
fn wide_conv(layer: FastConv<'_, '_>, out: &mut [i32]) -> Option<(usize, i128)> {
    let FastConv {
        ctx, op, g, fast, ..
    } = layer;
    let plane = g.oh * g.ow;
    let mg = g.m / op.group;
    let wp = g.ow + (g.kw - 1) * g.dilations[1];
    let positions = g.oh * wp;
    let mut panels = vec![[0i16; 2 * NR]; positions.div_ceil(NR) * matmul::pairs(g.k)];
    let mut wide = vec![0i32; mg * positions];
    let mut failures = Vec::new();
    for (group, rows, input, start) in layer.items() {
        panels::gather_wide(g, input, &mut panels);
        let mut emit = Requantize {
            ctx,
            op,
            channel0: group * mg,
            tile: positions,
            width: positions,
            ys: &mut wide,
            first: None,
        };
        rows.product(fast, &panels, &mut emit);
        let (oy, ox) = emit.first.map_or((0, 0), |(_, q, _)| (q / wp, q % wp));
        failures.extend(
            emit.first
                .filter(|_| ox < g.ow)
                .map(|(m, _, acc)| (start + m * plane + oy * g.ow + ox, acc)),
        );
        for (dst, src) in out[start..start + mg * plane]
            .chunks_exact_mut(g.ow.max(1))
            .zip(wide.chunks_exact(wp.max(1)))
        {
            dst.copy_from_slice(&src[..g.ow]);
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
