//! The lut chip: the (tag, x, y) lookup, shared tables, copies, inputs outside the table.

mod common;

use common::*;
use tk_circuit::OpKind;
use tk_circuit::field::{Fr, fe};
use tk_quant::ops::{Lut, QOp};

fn sigmoid_like() -> Vec<i32> {
    (-8..8)
        .map(|x: i32| (x * x * x) / 4 + 3 * x)
        .map(|v| v.clamp(-128, 127))
        .collect()
}

/// x [1, 16] (4 bits) -> Lut A, Lut A again (same table), Lut B.
fn model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 16], 4);
    let lut = |t: Vec<i32>| {
        QOp::Lut(Lut {
            function: "test".into(),
            in_lo: -8,
            table: t,
        })
    };
    let y = b.op("lut_a", lut(sigmoid_like()), &[x], &[1, 16], 8);
    let z = b.op("lut_a2", lut(sigmoid_like()), &[x], &[1, 16], 8);
    let w = b.op(
        "lut_b",
        lut((0..16).map(|i| 100 - 3 * i).collect()),
        &[x],
        &[1, 16],
        8,
    );
    for o in [y, z, w] {
        b.output(o);
    }
    (b.build(), vec![tensor(&[1, 16], (-8..8).collect())])
}

fn job(c: &mut tk_circuit::ModelCircuit, node: usize, e: usize) -> &mut tk_circuit::LutJob {
    match &mut c.ops_mut()[node].kind {
        OpKind::Lut { items, .. } => &mut items[e],
        _ => unreachable!(),
    }
}

#[test]
fn lut_is_satisfied_and_shares_tables() {
    let (m, x) = model();
    let c = circuit(&m, &x);
    let tags: Vec<u64> = c.ops()[1..]
        .iter()
        .map(|op| match op.kind {
            OpKind::Lut { tag, .. } => tag,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(tags, [1, 1, 2]);
    eprintln!("lut plan: {:?}", c.report());
    assert_satisfied(&c);
}

#[test]
fn output_must_be_the_table_entry() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    job(&mut c, 3, 5).witness.y += Fr::one();
    let inst = instance_with_output(&c, &m, 32 + 5, 100 - 15 + 1);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup lut slot", "lut_b: lut"]],
    );
}

#[test]
fn input_is_a_copy_of_the_producer() {
    // x' = x + 1 with y' = table[x + 1] is a valid table row: only the copy fails.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let j = job(&mut c, 3, 5);
    j.witness.x += Fr::one();
    j.witness.y = fe(100 - 3 * 6);
    let inst = instance_with_output(&c, &m, 32 + 5, 100 - 18);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[
            &["Equality constraint", "lut_b: lut"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn input_outside_the_table_has_no_row() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let j = job(&mut c, 1, 15);
    j.witness.x = fe(8);
    let f = failures(&c);
    assert_fails_exactly(
        &f,
        &[&["Lookup lut slot", "lut_a: lut"], &["Equality constraint"]],
    );
}
