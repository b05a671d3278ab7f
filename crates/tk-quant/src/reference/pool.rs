//! `MaxPool` and `AvgPool` over NCHW windows.

use crate::ops::{AvgPool, MaxPool, PoolGeometry};
use crate::{QNode, QTensor};

/// Visits the in-bounds input values of the window of output `[n, c, oy, ox]`.
fn window(
    g: &PoolGeometry,
    x: &QTensor,
    n: usize,
    c: usize,
    oy: usize,
    ox: usize,
    mut f: impl FnMut(i32),
) {
    let (ch, h, w) = (x.shape[1], x.shape[2] as i64, x.shape[3] as i64);
    for i in 0..g.kernel[0] {
        for j in 0..g.kernel[1] {
            let yy = (oy * g.strides[0] + i) as i64 - g.pads[0] as i64;
            let xx = (ox * g.strides[1] + j) as i64 - g.pads[1] as i64;
            if yy >= 0 && yy < h && xx >= 0 && xx < w {
                f(x.data[((n * ch + c) * h as usize + yy as usize) * w as usize + xx as usize]);
            }
        }
    }
}

fn for_each_output(node: &QNode, mut f: impl FnMut(usize, usize, usize, usize) -> i32) -> Vec<i32> {
    let s = &node.shape;
    let mut out = Vec::with_capacity(s.iter().product());
    for n in 0..s[0] {
        for c in 0..s[1] {
            for oy in 0..s[2] {
                for ox in 0..s[3] {
                    out.push(f(n, c, oy, ox));
                }
            }
        }
    }
    out
}

pub(super) fn max_pool(op: &MaxPool, node: &QNode, x: &QTensor) -> Vec<i32> {
    for_each_output(node, |n, c, oy, ox| {
        let mut m = i32::MIN;
        window(&op.geometry, x, n, c, oy, ox, |v| m = m.max(v));
        m
    })
}

pub(super) fn avg_pool(op: &AvgPool, node: &QNode, x: &QTensor) -> Vec<i32> {
    let full = op.geometry.kernel[0] * op.geometry.kernel[1];
    for_each_output(node, |n, c, oy, ox| {
        let (mut sum, mut count) = (0i128, 0usize);
        window(&op.geometry, x, n, c, oy, ox, |v| {
            sum += i128::from(v);
            count += 1;
        });
        let count = if op.count_include_pad { full } else { count };
        super::requant(sum, op.multipliers[count], op.shift, node.lo(), node.hi())
    })
}
