//! `Conv` and `Gemm`: `acc = bias + Σ w * x`, then per-channel requantization (clamped to the
//! fused clamp when there is one).

use crate::ops::{Conv, Gemm};
use crate::{QNode, QTensor};

pub(super) fn conv(op: &Conv, node: &QNode, x: &QTensor) -> Vec<i32> {
    let (xs, ws, ys) = (&x.shape, &op.weight.shape, &node.shape);
    let (c_in, h, w) = (xs[1], xs[2] as i64, xs[3] as i64);
    let (m_out, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let mg = m_out / op.group;
    let (lo, hi) = node.clamp_bounds();
    let mut out = Vec::with_capacity(ys.iter().product());
    for n in 0..ys[0] {
        for m in 0..ys[1] {
            let g = m / mg;
            let (mult, shift) = op.requant.for_channel(m);
            for oy in 0..ys[2] {
                for ox in 0..ys[3] {
                    let mut acc = i128::from(op.bias[m]);
                    for c in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let yy = (oy * op.strides[0] + i * op.dilations[0]) as i64
                                    - op.pads[0] as i64;
                                let xx = (ox * op.strides[1] + j * op.dilations[1]) as i64
                                    - op.pads[1] as i64;
                                if yy < 0 || yy >= h || xx < 0 || xx >= w {
                                    continue;
                                }
                                let ci = g * cg + c;
                                let xv = x.data[((n * c_in + ci) * h as usize + yy as usize)
                                    * w as usize
                                    + xx as usize];
                                let wv = op.weight.data[((m * cg + c) * kh + i) * kw + j];
                                acc += i128::from(wv) * i128::from(xv);
                            }
                        }
                    }
                    out.push(super::requant(acc, mult, shift, lo, hi));
                }
            }
        }
    }
    out
}

pub(super) fn gemm(op: &Gemm, node: &QNode, x: &QTensor) -> Vec<i32> {
    let (r, k) = (x.shape[0], x.shape[1]);
    let n_out = op.weight.shape[0];
    let (lo, hi) = node.clamp_bounds();
    let mut out = Vec::with_capacity(r * n_out);
    for row in 0..r {
        for n in 0..n_out {
            let mut acc = i128::from(op.bias[n]);
            for kk in 0..k {
                acc += i128::from(x.data[row * k + kk]) * i128::from(op.weight.data[n * k + kk]);
            }
            let (mult, shift) = op.requant.for_channel(n);
            out.push(super::requant(acc, mult, shift, lo, hi));
        }
    }
    out
}
