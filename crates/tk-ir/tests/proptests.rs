//! Property tests: broadcasting, reshape resolution and slicing.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use tk_ir::ops::binary::BinaryKind;
use tk_ir::ops::broadcast::broadcast_shapes;
use tk_ir::ops::reshape::resolve_reshape;
use tk_ir::ops::slice::SliceAxis;
use tk_ir::ops::{Binary, OpDef};
use tk_ir::{Fact, Tensor};

/// Two shapes that broadcast, derived from a target shape (dims replaced by 1, leading dims
/// dropped), and their expected broadcast shape.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec(1usize..5, 0..5).prop_flat_map(|target| {
        let n = target.len();
        (
            Just(target),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<bool>(), n),
            0..=n,
            0..=n,
        )
            .prop_map(|(target, ones_a, ones_b, drop_a, drop_b)| {
                let derive = |ones: &[bool], drop: usize| -> Vec<usize> {
                    target
                        .iter()
                        .zip(ones)
                        .skip(drop)
                        .map(|(&d, &one)| if one { 1 } else { d })
                        .collect()
                };
                let (a, b) = (derive(&ones_a, drop_a), derive(&ones_b, drop_b));
                // Where both sides became 1 the broadcast dim is 1, not the target's.
                let rank = a.len().max(b.len());
                let at = |s: &[usize], i: usize| {
                    if i + s.len() >= rank {
                        s[i + s.len() - rank]
                    } else {
                        1
                    }
                };
                let expected = (0..rank).map(|i| at(&a, i).max(at(&b, i))).collect();
                (a, b, expected)
            })
    })
}

fn iota(shape: &[usize], offset: f32) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|v| v as f32 + offset).collect()).unwrap()
}

proptest! {
    #[test]
    fn broadcasting_compatible_shapes((a, b, expected) in broadcast_pair()) {
        prop_assert_eq!(broadcast_shapes(&a, &b).unwrap(), expected.clone());
        prop_assert_eq!(broadcast_shapes(&b, &a).unwrap(), expected.clone());
        // Evaluation agrees with element-by-element indexing into the broadcast views.
        let (x, y) = (iota(&a, 0.0), iota(&b, 100.0));
        let op = Binary { kind: BinaryKind::Sub };
        let fact = op.output_fact(&[&Fact::f32(a.clone()), &Fact::f32(b.clone())]).unwrap();
        prop_assert_eq!(&fact.shape, &expected);
        let out = op.eval(&[&Tensor::F32(x.clone()), &Tensor::F32(y.clone())]).unwrap();
        let out = out.as_f32().unwrap();
        let (xb, yb) = (x.broadcast(IxDyn(&expected)).unwrap(), y.broadcast(IxDyn(&expected)).unwrap());
        for ((o, p), q) in out.iter().zip(xb.iter()).zip(yb.iter()) {
            prop_assert_eq!(*o, p - q);
        }
    }

    #[test]
    fn broadcasting_never_panics(a in prop::collection::vec(0usize..4, 0..5), b in prop::collection::vec(0usize..4, 0..5)) {
        if let Ok(s) = broadcast_shapes(&a, &b) {
            prop_assert_eq!(s.len(), a.len().max(b.len()));
            prop_assert_eq!(broadcast_shapes(&b, &a).unwrap(), s);
        }
    }

    #[test]
    fn reshape_with_one_inferred_dim(shape in prop::collection::vec(1usize..6, 1..5), keep in 0usize..5, infer in 0usize..5) {
        let volume: usize = shape.iter().product();
        // Spec: the input dims, with one copied as 0 and one inferred as -1.
        let mut spec: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let k = keep % spec.len();
        let i = infer % spec.len();
        spec[k] = 0;
        spec[i] = -1;
        let out = resolve_reshape(&shape, &spec, false).unwrap();
        prop_assert_eq!(out.iter().product::<usize>(), volume);
        prop_assert_eq!(&out, &shape);
        // allowzero makes the 0 literal: only valid when nothing else is inferred from it.
        let literal = resolve_reshape(&shape, &spec, true);
        if k != i {
            prop_assert!(literal.is_err());
        }
    }

    #[test]
    fn reshape_resolution_is_total(shape in prop::collection::vec(0usize..6, 0..4), spec in prop::collection::vec(-3i64..8, 0..5), allow_zero in any::<bool>()) {
        if let Ok(out) = resolve_reshape(&shape, &spec, allow_zero) {
            prop_assert_eq!(out.len(), spec.len());
            prop_assert_eq!(out.iter().product::<usize>(), shape.iter().product::<usize>());
        }
    }

    #[test]
    fn slices_stay_in_bounds(dim in 0usize..12, start in -20i64..20, end in -20i64..20, step in -5i64..6) {
        match SliceAxis::from_onnx(0, dim, start, end, step) {
            Err(_) => prop_assert_eq!(step, 0),
            Ok(s) => {
                let ix = s.indices();
                prop_assert_eq!(ix.len(), s.len());
                prop_assert!(ix.iter().all(|&i| i < dim));
                for w in ix.windows(2) {
                    prop_assert_eq!(w[1] as i64 - w[0] as i64, step);
                }
                // Reference: numpy-style slicing of 0..dim.
                let d = dim as i64;
                let norm = |v: i64| if v < 0 { v + d } else { v };
                let mut expected = Vec::new();
                let mut i = if step > 0 { norm(start).clamp(0, d) } else { norm(start).clamp(-1, d - 1) };
                let stop = if step > 0 { norm(end).clamp(0, d) } else { norm(end).clamp(-1, d - 1) };
                while (step > 0 && i < stop) || (step < 0 && i > stop) {
                    expected.push(i as usize);
                    i += step;
                }
                prop_assert_eq!(ix, expected);
            }
        }
    }
}
