//! Folding a Clip (ReLU) into its producer's requant slots: when it applies, that the proven
//! values and the witness checks are those of the unfolded model, and when it must not apply.

mod common;

use common::*;
use tk_circuit::field::fe;
use tk_circuit::prelude::*;
use tk_circuit::{Fold, OpKind};
use tk_quant::ops::{Clip, QOp};
use tk_quant::{QModel, QTensor};

fn gemm(k: usize, n: usize, seed: u64) -> QOp {
    gemm_op(k, n, seed, 37)
}

fn clip(lo: i32, hi: i32) -> QOp {
    QOp::Clip(Clip { lo, hi })
}

/// x [1, 16] -> fc1 (8) -> relu -> fc2 (4).
fn mlp() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 16], 8);
    let h = b.op("fc1", gemm(16, 8, 1), &[x], &[1, 8], 8);
    let r = b.op("relu", clip(0, 127), &[h], &[1, 8], 8);
    let y = b.op("fc2", gemm(8, 4, 5), &[r], &[1, 4], 8);
    b.output(y);
    (b.build(), vec![tensor(&[1, 16], values(16, -128, 127, 9))])
}

const FC1: usize = 1;
const RELU: usize = 2;

#[test]
fn nested_clamps_are_one_clamp() {
    for (lo, hi) in [(-8, 7), (-3, 3), (0, 7)] {
        for lo2 in -9..9 {
            for hi2 in lo2..9 {
                let (lo_f, hi_f) = (i32::max(lo, lo2), i32::min(hi, hi2));
                if lo_f > hi_f {
                    continue;
                }
                for x in -20..20 {
                    assert_eq!(x.clamp(lo, hi).clamp(lo2, hi2), x.clamp(lo_f, hi_f));
                }
            }
        }
    }
}

#[test]
fn relu_after_gemm_is_folded() {
    let (m, x) = mlp();
    let values = execute(&m, &x);
    // Some pre-activations are negative, so the fold matters.
    assert!(values[FC1].data.iter().any(|&v| v < 0));
    let mut c = circuit(&m, &x);
    assert_eq!(
        c.ops()[FC1].fold,
        Some(Fold {
            clip: RELU,
            lo: -128,
            hi: 127
        })
    );
    assert_eq!(c.ops()[RELU].kind, OpKind::FoldedClip { lo: 0, hi: 127 });
    let rq = c
        .report()
        .chips
        .iter()
        .find(|r| r.chip == "requant")
        .unwrap();
    assert_eq!(rq.items, 8 + 4, "fc1 and fc2 slots only");
    assert!(c.regions().iter().all(|r| !r.name.starts_with("relu")));
    assert_satisfied(&c);
    // fc1's slots hold the ReLU's output.
    let job = requant_job(&mut c, FC1, 0);
    assert_eq!((job.params.lo, job.params.hi), (0, 127));
    assert_eq!(job.witness.y, fe(values[RELU].data[0].into()));
}

#[test]
fn folded_ops_are_still_checked_against_the_trace() {
    let (m, x) = mlp();
    let good = execute(&m, &x);
    // A wrong pre-activation (even one the ReLU would hide) is refused.
    let e = good[FC1].data.iter().position(|&v| v < 0).unwrap();
    let mut values = good.clone();
    values[FC1].data[e] -= 1;
    values[RELU] = good[RELU].clone();
    let err = ModelCircuit::new(&m, &witnesses(&m, &values), &PlanOptions::default()).unwrap_err();
    assert!(
        matches!(err, CircuitError::WitnessMismatch { node: FC1, .. }),
        "{err}"
    );
    // A wrong ReLU output is refused.
    let mut values = good.clone();
    values[RELU].data[e] = 1;
    let err = ModelCircuit::new(&m, &witnesses(&m, &values), &PlanOptions::default()).unwrap_err();
    assert!(
        matches!(err, CircuitError::WitnessMismatch { node: RELU, index, .. } if index == e),
        "{err}"
    );
}

#[test]
fn a_wrong_folded_output_fails_the_requant_slot() {
    // Claim the unclamped (negative) value for the ReLU: y = q < lo fails `b_lo * (y - lo)`.
    let (m, x) = mlp();
    let good = execute(&m, &x);
    let e = good[FC1].data.iter().position(|&v| v < 0).unwrap();
    let mut values = good.clone();
    values[RELU].data[e] = good[FC1].data[e];
    let c =
        ModelCircuit::new_unchecked(&m, &witnesses(&m, &values), &PlanOptions::default()).unwrap();
    let f = failures(&c);
    assert!(
        f.iter()
            .any(|f| f.contains("b_lo * (y - lo) = 0") && f.contains("fc1: requant")),
        "{f:#?}"
    );
}

#[test]
fn clip_is_not_folded_when_the_producer_is_needed_elsewhere() {
    // fc1 is also a model output, and feeds both the ReLU and fc2.
    for output_pre_activation in [true, false] {
        let mut b = Builder::default();
        let x = b.input(&[1, 16], 8);
        let h = b.op("fc1", gemm(16, 8, 1), &[x], &[1, 8], 8);
        let r = b.op("relu", clip(0, 127), &[h], &[1, 8], 8);
        let y = b.op(
            "fc2",
            gemm(8, 4, 5),
            &[if output_pre_activation { r } else { h }],
            &[1, 4],
            8,
        );
        b.output(y);
        if output_pre_activation {
            b.output(h);
        } else {
            b.output(r);
        }
        let m = b.build();
        let c = circuit(&m, &[tensor(&[1, 16], values(16, -128, 127, 9))]);
        assert_eq!(c.ops()[FC1].fold, None);
        assert!(matches!(c.ops()[RELU].kind, OpKind::Requant { .. }));
        assert_satisfied(&c);
    }
}

#[test]
fn clip_into_clip_folds_and_disjoint_clips_do_not() {
    for (second, folds) in [((0, 127), true), ((40, 50), false)] {
        let mut b = Builder::default();
        let x = b.input(&[1, 8], 8);
        let a = b.op("clip1", clip(-20, 30), &[x], &[1, 8], 8);
        let r = b.op("clip2", clip(second.0, second.1), &[a], &[1, 8], 8);
        b.output(r);
        let m = b.build();
        let c = circuit(
            &m,
            &[tensor(&[1, 8], vec![-128, -20, 0, 30, 127, 5, -21, 31])],
        );
        assert_eq!(c.ops()[1].fold.is_some(), folds, "{second:?}");
        assert_satisfied(&c);
    }
}
