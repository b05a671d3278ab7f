//! `Softmax` with an exponential table and a rounded division.

use super::div_round;
use crate::ops::Softmax;
use crate::{QNode, QTensor};

pub(super) fn softmax(op: &Softmax, node: &QNode, x: &QTensor) -> Vec<i32> {
    let shape = &x.shape;
    let len = shape[op.axis];
    let inner: usize = shape[op.axis + 1..].iter().product();
    let outer: usize = shape[..op.axis].iter().product();
    let last = (op.exp_table.len() - 1) as i128;
    let mut out = vec![0; x.data.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let max = (0..len)
                .map(|k| x.data[at(k)])
                .max()
                .expect("axis has at least one element");
            let e: Vec<i128> = (0..len)
                .map(|k| {
                    let d = (i128::from(max) - i128::from(x.data[at(k)])).clamp(0, last);
                    i128::from(op.exp_table[d as usize])
                })
                .collect();
            let sum: i128 = e.iter().sum();
            for (k, &ek) in e.iter().enumerate() {
                let y = div_round(ek << op.frac_bits, sum);
                out[at(k)] = y.min(i128::from(node.hi())) as i32;
            }
        }
    }
    out
}
