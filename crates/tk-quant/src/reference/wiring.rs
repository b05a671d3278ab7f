//! Ops that move values without computing: `Concat`, `Transpose`, `Slice`, `Pad`, `Resize`.

use super::{strides, unravel};
use crate::ops::{Concat, Pad, Resize, Slice, Transpose};
use crate::{QNode, QTensor};

/// Builds the output by mapping every output multi-index to a value.
fn gather(node: &QNode, f: impl Fn(&[usize]) -> i32) -> Vec<i32> {
    let len: usize = node.shape.iter().product();
    (0..len)
        .map(|flat| f(&unravel(flat, &node.shape)))
        .collect()
}

fn at(x: &QTensor, idx: &[usize]) -> i32 {
    let st = strides(&x.shape);
    x.data[idx.iter().zip(&st).map(|(i, s)| i * s).sum::<usize>()]
}

pub(super) fn concat(op: &Concat, node: &QNode, xs: &[&QTensor]) -> Vec<i32> {
    gather(node, |idx| {
        let mut idx = idx.to_vec();
        for x in xs {
            let d = x.shape[op.axis];
            if idx[op.axis] < d {
                return at(x, &idx);
            }
            idx[op.axis] -= d;
        }
        unreachable!("validated concat covers every output index")
    })
}

pub(super) fn transpose(op: &Transpose, node: &QNode, x: &QTensor) -> Vec<i32> {
    gather(node, |idx| {
        let mut src = vec![0; idx.len()];
        for (k, &p) in op.perm.iter().enumerate() {
            src[p] = idx[k];
        }
        at(x, &src)
    })
}

pub(super) fn slice(op: &Slice, node: &QNode, x: &QTensor) -> Vec<i32> {
    gather(node, |idx| {
        let src: Vec<usize> = idx
            .iter()
            .enumerate()
            .map(|(k, &i)| (op.starts[k] as i128 + i as i128 * i128::from(op.steps[k])) as usize)
            .collect();
        at(x, &src)
    })
}

pub(super) fn pad(op: &Pad, node: &QNode, x: &QTensor) -> Vec<i32> {
    gather(node, |idx| {
        let mut src = Vec::with_capacity(idx.len());
        for (k, &i) in idx.iter().enumerate() {
            match i.checked_sub(op.pads[k]) {
                Some(j) if j < x.shape[k] => src.push(j),
                _ => return 0,
            }
        }
        at(x, &src)
    })
}

pub(super) fn resize(op: &Resize, node: &QNode, x: &QTensor) -> Vec<i32> {
    gather(node, |idx| {
        let src: Vec<usize> = idx.iter().zip(&op.scales).map(|(i, s)| i / s).collect();
        at(x, &src)
    })
}
