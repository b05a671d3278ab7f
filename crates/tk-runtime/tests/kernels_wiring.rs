//! Concat, Reshape, Transpose, Slice, Pad and Resize kernels against direct index formulas.

mod common;

use common::{node, ravel, tensor, unravel, values};
use proptest::prelude::*;
use tk_quant::QTensor;
use tk_quant::ops::{Concat, Pad, QOp, Reshape, Resize, Slice, Transpose};
use tk_runtime::{RuntimeError, execute_node};

fn run(op: QOp, shape: Vec<usize>, inputs: &[&QTensor]) -> Result<QTensor, RuntimeError> {
    execute_node(
        &node(inputs.len(), op, (0..inputs.len()).collect(), shape, 8),
        inputs,
    )
}

fn any_tensor(max_rank: usize) -> impl Strategy<Value = QTensor> {
    proptest::collection::vec(0usize..=4, 1..=max_rank).prop_flat_map(|shape| {
        let len = shape.iter().product();
        values(len, -128, 127).prop_map(move |d| tensor(shape.clone(), d))
    })
}

/// Builds the output of `shape` element by element: `f(idx)` is the input index or `None` for 0.
fn build(x: &QTensor, shape: &[usize], f: impl Fn(&[usize]) -> Option<Vec<usize>>) -> Vec<i32> {
    (0..shape.iter().product())
        .map(|i| f(&unravel(i, shape)).map_or(0, |j| x.data[ravel(&j, &x.shape)]))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn transpose_matches_spec(x in any_tensor(4), seed in any::<u64>()) {
        let rank = x.shape.len();
        let mut perm: Vec<usize> = (0..rank).collect();
        let mut s = seed;
        for k in (1..rank).rev() {
            perm.swap(k, (s % (k as u64 + 1)) as usize);
            s /= 7;
        }
        let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
        let expected = build(&x, &shape, |idx| {
            let mut j = vec![0; rank];
            for (k, &p) in perm.iter().enumerate() { j[p] = idx[k]; }
            Some(j)
        });
        let got = run(QOp::Transpose(Transpose { perm }), shape, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn slice_matches_spec(x in any_tensor(3), picks in proptest::collection::vec((any::<usize>(), any::<usize>(), 1i64..=3, any::<bool>()), 3)) {
        let rank = x.shape.len();
        let (mut starts, mut steps, mut shape) = (vec![], vec![], vec![]);
        for (&dim, &(a, b, step, negative)) in x.shape.iter().zip(&picks) {
            if dim == 0 { starts.push(0); steps.push(1); shape.push(0); continue; }
            let start = a % dim;
            let (step, room) = if negative { (-step, start) } else { (step, dim - 1 - start) };
            let count = b % (room / step.unsigned_abs() as usize + 1) + 1;
            starts.push(start);
            steps.push(step);
            shape.push(count);
        }
        let expected = build(&x, &shape, |idx| Some((0..rank).map(|k| (starts[k] as i64 + idx[k] as i64 * steps[k]) as usize).collect()));
        let got = run(QOp::Slice(Slice { starts, steps }), shape, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn pad_matches_spec(x in any_tensor(3), p in proptest::collection::vec(0usize..=2, 6)) {
        let rank = x.shape.len();
        let pads: Vec<usize> = p[..rank].iter().chain(&p[3..3 + rank]).copied().collect();
        let shape: Vec<usize> = (0..rank).map(|k| x.shape[k] + pads[k] + pads[rank + k]).collect();
        let expected = build(&x, &shape, |idx| {
            (0..rank).map(|k| idx[k].checked_sub(pads[k]).filter(|&j| j < x.shape[k])).collect()
        });
        let got = run(QOp::Pad(Pad { pads }), shape, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn resize_matches_spec(x in any_tensor(3), s in proptest::collection::vec(1usize..=3, 3)) {
        let rank = x.shape.len();
        let scales = s[..rank].to_vec();
        let shape: Vec<usize> = (0..rank).map(|k| x.shape[k] * scales[k]).collect();
        let expected = build(&x, &shape, |idx| Some((0..rank).map(|k| idx[k] / scales[k]).collect()));
        let got = run(QOp::Resize(Resize { scales }), shape, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn concat_matches_spec(base in proptest::collection::vec(1usize..=3, 1..=3), axis_pick in any::<usize>(), extra in proptest::collection::vec(0usize..=3, 1..=3), seed in any::<i32>()) {
        let axis = axis_pick % base.len();
        let inputs: Vec<QTensor> = extra.iter().enumerate().map(|(i, &d)| {
            let mut shape = base.clone();
            shape[axis] = d;
            let len = shape.iter().product::<usize>();
            tensor(shape, (0..len).map(|j| (seed.wrapping_add((i * 1000 + j) as i32)) % 128).collect())
        }).collect();
        let mut shape = base.clone();
        shape[axis] = extra.iter().sum();
        let expected: Vec<i32> = (0..shape.iter().product()).map(|i| {
            let mut idx = unravel(i, &shape);
            let mut t = 0;
            while idx[axis] >= inputs[t].shape[axis] { idx[axis] -= inputs[t].shape[axis]; t += 1; }
            inputs[t].data[ravel(&idx, &inputs[t].shape)]
        }).collect();
        let refs: Vec<&QTensor> = inputs.iter().collect();
        let got = run(QOp::Concat(Concat { axis }), shape, &refs).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn reshape_keeps_row_major_order(x in any_tensor(4)) {
        let len = x.data.len();
        let got = run(QOp::Reshape(Reshape {}), vec![len], &[&x]).unwrap();
        prop_assert_eq!(&got.data, &x.data);
    }
}

#[test]
fn invalid_wiring_is_an_error_not_a_panic() {
    let x = tensor(vec![2, 3], vec![1, 2, 3, 4, 5, 6]);
    let cases: Vec<(QOp, Vec<usize>)> = vec![
        (QOp::Transpose(Transpose { perm: vec![0, 0] }), vec![2, 2]),
        (QOp::Transpose(Transpose { perm: vec![1] }), vec![3]),
        (QOp::Transpose(Transpose { perm: vec![0, 5] }), vec![2, 3]),
        (
            QOp::Slice(Slice {
                starts: vec![0, 2],
                steps: vec![1, 1],
            }),
            vec![2, 2],
        ),
        (
            QOp::Slice(Slice {
                starts: vec![0, 0],
                steps: vec![1, 0],
            }),
            vec![2, 1],
        ),
        (
            QOp::Slice(Slice {
                starts: vec![1, 0],
                steps: vec![-1, 1],
            }),
            vec![3, 1],
        ),
        (
            QOp::Slice(Slice {
                starts: vec![0],
                steps: vec![1],
            }),
            vec![1],
        ),
        (QOp::Pad(Pad { pads: vec![1, 1] }), vec![4, 3]),
        (
            QOp::Pad(Pad {
                pads: vec![usize::MAX, 0, 0, 1],
            }),
            vec![4, 3],
        ),
        (QOp::Resize(Resize { scales: vec![0, 1] }), vec![0, 3]),
        (
            QOp::Resize(Resize {
                scales: vec![usize::MAX, 2],
            }),
            vec![0, 3],
        ),
        (QOp::Concat(Concat { axis: 2 }), vec![2, 3]),
        (QOp::Reshape(Reshape {}), vec![7]),
        (QOp::Reshape(Reshape {}), vec![usize::MAX, 2]),
    ];
    for (op, shape) in cases {
        assert!(run(op.clone(), shape, &[&x]).is_err(), "{op:?} accepted");
    }
    let y = tensor(vec![3, 2], vec![0; 6]);
    assert!(run(QOp::Concat(Concat { axis: 0 }), vec![5, 3], &[&x, &y]).is_err());
}
