//! `AvgPool` kernel (also `GlobalAveragePool`).

use tk_quant::QTensor;
use tk_quant::ops::AvgPool;

use rayon::prelude::*;

use super::dot::{self, RowParams};
use super::pool::Windows;
use super::{Ctx, PARALLEL_MACS};
use crate::RuntimeError;
use crate::arith::{MAX_SHIFT, acc_in_bound, requant};

/// Spec: `sum = Σ window` (padding reads 0), `y = requant(sum; M[count], shift, lo, hi)`
/// where `count` is the number of in-bounds positions, or `kh * kw` when
/// `count_include_pad`. `multipliers` has `kh * kw + 1` entries (index 0 unused).
pub(crate) fn run(ctx: &Ctx<'_>, op: &AvgPool, x: &QTensor) -> Result<QTensor, RuntimeError> {
    let win = Windows::new(ctx, &op.geometry, x)?;
    let full = op.geometry.kernel[0]
        .checked_mul(op.geometry.kernel[1])
        .filter(|&k| k < 1 << 31)
        .ok_or_else(|| {
            ctx.param(
                "geometry.kernel",
                "window must hold fewer than 2^31 positions",
            )
        })?;
    if op.multipliers.len() != full + 1 {
        return Err(ctx.param("multipliers", "must have kh * kw + 1 entries"));
    }
    if op.multipliers[1..].iter().any(|&m| m < 1) {
        return Err(ctx.param("multipliers", "must be in 1..2^31"));
    }
    if op.shift > MAX_SHIFT {
        return Err(ctx.param("shift", "must be in 0..=62"));
    }
    let [_, _, h, w] = win.input;
    let [oh, ow] = win.out;
    let mut data = vec![0i32; ctx.volume(&ctx.node.shape)?];
    let task = |(plane, out): (usize, &mut [i32])| {
        let input = &x.data[plane * h * w..(plane + 1) * h * w];
        let columns: Vec<[usize; 2]> = (0..ow).map(|ox| win.window(0, ox).1).collect();
        for (oy, row) in out.chunks_mut(ow.max(1)).enumerate() {
            let ([r0, r1], _) = win.window(oy, 0);
            for (ox, (y, &[c0, c1])) in row.iter_mut().zip(&columns).enumerate() {
                // At most 2^31 terms of magnitude at most 2^31: the sum fits an i64.
                let mut sum = 0i64;
                for iy in r0..r1 {
                    for &v in &input[iy * w + c0..iy * w + c1] {
                        sum += i64::from(v);
                    }
                }
                let count = if op.count_include_pad {
                    full
                } else {
                    (r1 - r0) * (c1 - c0)
                };
                let index = plane * oh * ow + oy * ow + ox;
                if count == 0 {
                    return Some(Failure::Empty(index));
                }
                if !acc_in_bound(i128::from(sum)) {
                    return Some(Failure::Overflow(index, i128::from(sum)));
                }
                *y = requant(sum, op.multipliers[count], op.shift, ctx.lo, ctx.hi);
            }
        }
        None
    };
    let work = data.len().saturating_mul(full);
    let inside =
        |out: usize, k: usize, stride: usize, len: usize| out == 0 || (out - 1) * stride + k <= len;
    if win.pad == [0, 0]
        && inside(oh, win.kernel[0], win.strides[0], h)
        && inside(ow, win.kernel[1], win.strides[1], w)
    {
        // Every window lies inside the input: one count, so one multiplier, and whole
        // output rows at a time.
        let p = RowParams {
            bias: 0,
            m: op.multipliers[full],
            s: op.shift,
            lo: ctx.lo,
            hi: ctx.hi,
        };
        // Whole planes per task: all of them on one thread, else about four tasks per
        // thread.
        let parallel = work >= PARALLEL_MACS;
        let planes = data.len() / (oh * ow).max(1);
        let per_task = if parallel {
            planes.div_ceil(4 * rayon::current_num_threads().max(1))
        } else {
            planes
        }
        .max(1);
        let task = |(t, out): (usize, &mut [i32])| {
            let first = t * per_task;
            let count = out.len() / (oh * ow).max(1);
            dot::vectorized(FullWindows {
                input: &x.data[first * h * w..(first + count) * h * w],
                win: &win,
                p,
                out,
            })
            .map(|(o, acc)| (first * oh * ow + o, acc))
        };
        let failure = super::first_failure(&mut data, per_task * oh * ow, parallel, task);
        if let Some((index, acc)) = failure {
            return Err(ctx.overflow(index, acc));
        }
        return Ok(QTensor {
            shape: ctx.node.shape.clone(),
            data,
        });
    }
    let failure = if work >= PARALLEL_MACS {
        data.par_chunks_mut((oh * ow).max(1))
            .enumerate()
            .filter_map(task)
            .min_by_key(Failure::index)
    } else {
        data.chunks_mut((oh * ow).max(1))
            .enumerate()
            .filter_map(task)
            .min_by_key(Failure::index)
    };
    match failure {
        Some(Failure::Empty(index)) => {
            return Err(RuntimeError::EmptyWindow {
                node: ctx.node.id,
                index,
            });
        }
        Some(Failure::Overflow(index, acc)) => return Err(ctx.overflow(index, acc)),
        None => {}
    }
    Ok(QTensor {
        shape: ctx.node.shape.clone(),
        data,
    })
}

/// Why an output element could not be computed.
enum Failure {
    /// A window with no in-bounds position.
    Empty(usize),
    /// An accumulator beyond the bound.
    Overflow(usize, i128),
}

impl Failure {
    fn index(&self) -> usize {
        match self {
            Failure::Empty(i) | Failure::Overflow(i, _) => *i,
        }
    }
}

/// Consecutive output planes of an `AvgPool` whose windows all lie inside the input
/// (`input` holds the matching input planes): per plane, the window sums, then one
/// vectorised requantization. Returns the first accumulator beyond the bound (relative to
/// `out`).
struct FullWindows<'a> {
    input: &'a [i32],
    win: &'a Windows,
    p: RowParams,
    out: &'a mut [i32],
}

impl dot::Kernel for FullWindows<'_> {
    type Output = Option<(usize, i128)>;

    #[inline(always)]
    fn run(self) -> Option<(usize, i128)> {
        let w = self.win.input[3];
        let [oh, ow] = self.win.out;
        let [kh, kw] = self.win.kernel;
        let [sh, sw] = self.win.strides;
        let plane = oh * ow;
        let mut sums = vec![0i64; plane];
        let planes = self.input.chunks_exact((self.win.input[2] * w).max(1));
        for (k, (input, out)) in planes
            .zip(self.out.chunks_exact_mut(plane.max(1)))
            .enumerate()
        {
            sums.fill(0);
            for (oy, row) in sums.chunks_exact_mut(ow.max(1)).enumerate() {
                for ky in 0..kh {
                    let line = &input[(oy * sh + ky) * w..(oy * sh + ky + 1) * w];
                    // Windows inside the input: `ox * sw + kx < w` for every `ox < ow`.
                    if ow == 1 {
                        // One window per row (global pooling): a contiguous run.
                        row[0] += line[..kw].iter().map(|&v| i64::from(v)).sum::<i64>();
                        continue;
                    }
                    for kx in 0..kw {
                        add_strided(row, &line[kx..], sw);
                    }
                }
            }
            if let Err((o, acc)) = self.p.apply_all(&sums, out) {
                return Some((k * plane + o, acc));
            }
        }
        None
    }
}

/// `sums[o] += line[o * stride]` for every `o < sums.len()`; `line` holds at least
/// `(sums.len() - 1) * stride + 1` values. Stride 2, the common one, reads exact pairs (which
/// vectorises) and then the last value alone when the line ends half-way through a pair.
#[inline(always)]
fn add_strided(sums: &mut [i64], line: &[i32], stride: usize) {
    if stride == 2 {
        let (pairs, last) = sums.split_at_mut(sums.len().min(line.len() / 2));
        for (s, pair) in pairs.iter_mut().zip(line.chunks_exact(2)) {
            *s += i64::from(pair[0]);
        }
        if let Some(s) = last.first_mut() {
            *s += i64::from(line[2 * pairs.len()]);
        }
        return;
    }
    for (s, &v) in sums.iter_mut().zip(line.iter().step_by(stride)) {
        *s += i64::from(v);
    }
}
