//! The range lanes: lanes are copies of the limbs they check, and the lookup bounds them.

mod common;

use common::*;
use tk_circuit::OpKind;
use tk_circuit::field::fe;
use tk_quant::ops::{Clip, QOp};

fn model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 4], 8);
    let y = b.op("relu", QOp::Clip(Clip { lo: 0, hi: 127 }), &[x], &[1, 4], 8);
    b.output(y);
    (b.build(), vec![tensor(&[1, 4], vec![-100, 0, 50, 127])])
}

/// The value of the first lane cell: limb 0 of the first requant slot's clamp excess (the
/// remainder limbs of a Clip have tag 0 and take no lane).
fn first_lane_value(c: &tk_circuit::ModelCircuit) -> u64 {
    let t0 = match &c.ops()[1].kind {
        OpKind::Requant { items } => items[0].witness.t[0],
        _ => unreachable!(),
    };
    (0..1u64 << c.params().range_bits)
        .find(|&v| fe(v.into()) == t0)
        .unwrap()
}

#[test]
fn lanes_are_copies_of_limbs() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    // Flipping bit 0 keeps the value inside its tag: only the copy fails.
    let v = first_lane_value(&c);
    c.tamper_lane(0, fe((v ^ 1).into()));
    assert_fails_exactly(
        &failures(&c),
        &[
            &["Equality constraint", "range lanes"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn lane_lookup_bounds_the_value() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    c.tamper_lane(0, fe(1 << c.params().range_bits));
    let f = failures(&c);
    assert!(
        f.iter()
            .any(|f| f.contains("Lookup range lane 0") && f.contains("range lanes")),
        "{f:?}"
    );
}
