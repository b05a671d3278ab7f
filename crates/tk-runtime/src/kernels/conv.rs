//! `Conv` kernel: im2col per (batch item, group), then the integer dot core per output channel.

use rayon::prelude::*;
use tk_quant::QTensor;
use tk_quant::ops::Conv;

use super::dot::{self, RowParams};
use super::pool::{dims4, out_dim};
use super::{Ctx, checked_volume};
use crate::RuntimeError;

/// Spec: `acc[n,m,oy,ox] = bias[m] + Σ_{c,i,j} w[m,c,i,j] * xpad[n, g(m)*C/g + c,
/// oy*sh + i*dh - pt, ox*sw + j*dw - pl]` with zero padding, `y = requant(acc; M[m], s[m])`.
///
/// Work is split over output channels with rayon; every output element is one sequential
/// sum, so the result is independent of the thread count.
pub(crate) fn run(ctx: &Ctx<'_>, op: &Conv, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let g = Geometry::new(ctx, op, x)?;
    let width = dot::width(dot::max_abs(&x.data), &op.weight.data, g.k, &op.bias);
    let plane = g.oh * g.ow;
    let out_len = ctx.volume(&ctx.node.shape)?;
    let mut out = vec![0i32; out_len];
    let mut cols = vec![0i32; ctx.mul(plane, g.k, &ctx.node.shape)?];
    let mg = g.m / op.group;
    for n in 0..g.n {
        for group in 0..op.group {
            im2col(&g, x, n, group, &mut cols);
            let start = (n * g.m + group * mg) * plane;
            let block = &mut out[start..start + mg * plane];
            let failures: Vec<Option<(usize, i128)>> = block
                .par_chunks_mut(plane.max(1))
                .enumerate()
                .map(|(i, y)| {
                    let m = group * mg + i;
                    let (mult, s) = op.requant.for_channel(m);
                    let p = RowParams {
                        bias: op.bias[m],
                        m: mult,
                        s,
                        lo: ctx.lo,
                        hi: ctx.hi,
                    };
                    let w = &op.weight.data[m * g.k..(m + 1) * g.k];
                    dot::row(w, &cols, p, width, y).map(|(j, acc)| (start + i * plane + j, acc))
                })
                .collect();
            if let Some((index, acc)) = failures.into_iter().flatten().next() {
                return Err(ctx.overflow(index, acc));
            }
        }
    }
    Ok(QTensor {
        shape: ctx.node.shape.clone(),
        data: out,
    })
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
}

/// Fills `cols[p * K + (ci * KH + i) * KW + j]` with the input value under kernel tap
/// `(ci, i, j)` of output position `p` (0 in the padding), for batch item `n` and `group`.
fn im2col(g: &Geometry, x: &QTensor, n: usize, group: usize, cols: &mut [i32]) {
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
