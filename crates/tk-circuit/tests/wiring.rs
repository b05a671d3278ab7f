//! Constants, wiring ops and the public instance.

mod common;

use common::*;
use tk_circuit::OpKind;
use tk_circuit::field::{Fr, fe};
use tk_quant::ops::{Add, Concat, Const, Pad, QOp, Reshape, Resize, Slice, Transpose};

/// x [1, 2, 3] -> Transpose [1, 3, 2] -> Pad -> Slice -> Concat with a Const -> Resize ->
/// Reshape -> Add with a Const.
fn model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 2, 3], 8);
    let t = b.op(
        "transpose",
        QOp::Transpose(Transpose {
            perm: vec![0, 2, 1],
        }),
        &[x],
        &[1, 3, 2],
        8,
    );
    let p = b.op(
        "pad",
        QOp::Pad(Pad {
            pads: vec![0, 1, 0, 0, 0, 2],
        }),
        &[t],
        &[1, 4, 4],
        8,
    );
    let s = b.op(
        "slice",
        QOp::Slice(Slice {
            starts: vec![0, 3, 0],
            steps: vec![1, -1, 2],
        }),
        &[p],
        &[1, 4, 2],
        8,
    );
    let k = b.op(
        "k",
        QOp::Const(Const {
            value: tensor(&[1, 1, 2], vec![-7, 9]),
        }),
        &[],
        &[1, 1, 2],
        8,
    );
    let c = b.op(
        "concat",
        QOp::Concat(Concat { axis: 1 }),
        &[s, k],
        &[1, 5, 2],
        8,
    );
    let r = b.op(
        "resize",
        QOp::Resize(Resize {
            scales: vec![1, 1, 2],
        }),
        &[c],
        &[1, 5, 4],
        8,
    );
    let f = b.op("flat", QOp::Reshape(Reshape {}), &[r], &[1, 20], 8);
    let k2 = b.op(
        "k2",
        QOp::Const(Const {
            value: tensor(&[1, 20], values(20, -50, 50, 2)),
        }),
        &[],
        &[1, 20],
        8,
    );
    let a = b.op(
        "add",
        QOp::Add(Add {
            ma: 1 << 30,
            mb: 1 << 30,
            shift: 30,
            clamp: None,
        }),
        &[f, k2],
        &[1, 20],
        8,
    );
    b.output(a);
    b.output(f);
    (b.build(), vec![tensor(&[1, 2, 3], vec![1, 2, 3, 4, 5, 6])])
}

#[test]
fn wiring_and_constants_are_satisfied() {
    let (m, x) = model();
    let c = circuit(&m, &x);
    assert_satisfied(&c);
}

#[test]
fn constants_are_pinned_to_fixed_values() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    if let OpKind::Const { witness, .. } = &mut c.ops_mut()[4].kind {
        witness[1] += Fr::one();
    }
    // The cell's copies (into Add and the public output) see the old value as well.
    assert_fails_exactly(
        &failures(&c),
        &[
            &["constant: a_j = f_j", "constants"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn public_output_must_match() {
    let (m, x) = model();
    let c = circuit(&m, &x);
    let inst = instance_with_output(&c, &m, 3, 100);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[
            &["Equality constraint", "instance"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn public_input_must_match() {
    let (m, x) = model();
    let c = circuit(&m, &x);
    let mut inst = c.instance().to_vec();
    inst[0] = fe(2);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[
            &["Equality constraint", "instance"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn checked_constructor_rejects_a_wrong_trace() {
    let (m, x) = model();
    let mut values = execute(&m, &x);
    values[9].data[0] += 1;
    let err = tk_circuit::ModelCircuit::new(&m, &witnesses(&m, &values), &Default::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            tk_circuit::CircuitError::WitnessMismatch {
                node: 9,
                index: 0,
                ..
            }
        ),
        "{err}"
    );
    // Unchecked, the same trace builds a circuit that MockProver rejects.
    let c =
        tk_circuit::ModelCircuit::new_unchecked(&m, &witnesses(&m, &values), &Default::default())
            .unwrap();
    assert!(!failures(&c).is_empty());
}
