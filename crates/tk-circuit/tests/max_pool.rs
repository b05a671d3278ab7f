//! The max-pool chip: difference limbs, running products, the zero product, ties, copies.

mod common;

use common::*;
use tk_circuit::OpKind;
use tk_circuit::chips::max_pool::MaxPoolWitness;
use tk_circuit::field::{Fr, fe};
use tk_quant::ops::{MaxPool, PoolGeometry, QOp};

/// x [1, 2, 4, 4] -> MaxPool 2x2 stride 2 -> [1, 2, 2, 2], and x -> MaxPool 3x3 stride 2 pad 1.
fn model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 2, 4, 4], 8);
    let g = PoolGeometry {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0, 0, 0, 0],
    };
    let y = b.op(
        "pool",
        QOp::MaxPool(MaxPool { geometry: g }),
        &[x],
        &[1, 2, 2, 2],
        8,
    );
    let g = PoolGeometry {
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 1, 1],
    };
    let z = b.op(
        "padded",
        QOp::MaxPool(MaxPool { geometry: g }),
        &[x],
        &[1, 2, 2, 2],
        8,
    );
    b.output(y);
    b.output(z);
    #[rustfmt::skip]
    let data = vec![
        // channel 0: window 0 = [5, 4, 1, 0] (max first), window 1 = [7, 7, 3, 7] (ties)
        5, 4, 7, 7,
        1, 0, 3, 7,
        -128, -128, 2, -3,
        -128, -128, -5, 9,   // window 2 all -128, window 3 = [2, -3, -5, 9] (max last)
        // channel 1
        127, -1, 0, 0,
        3, 127, 0, 0,
        10, 20, 30, 40,
        50, 60, 70, 80,
    ];
    (b.build(), vec![tensor(&[1, 2, 4, 4], data)])
}

const POOL: usize = 1;

fn job(c: &mut tk_circuit::ModelCircuit, e: usize) -> &mut tk_circuit::MaxPoolJob {
    match &mut c.ops_mut()[POOL].kind {
        OpKind::MaxPool { items, .. } => &mut items[e],
        _ => unreachable!(),
    }
}

fn recompute(c: &mut tk_circuit::ModelCircuit, e: usize, x: &[i64], y: i64) {
    let shape = c
        .params()
        .max_pool
        .iter()
        .find(|s| s.window == 4)
        .copied()
        .unwrap();
    let bits = c.params().range_bits;
    job(c, e).witness = MaxPoolWitness::compute(x, Some(y), &shape, bits);
}

#[test]
fn max_pool_is_satisfied_with_ties_and_padding() {
    let (m, x) = model();
    let c = circuit(&m, &x);
    eprintln!("max_pool plan: {:?}", c.report().chips);
    assert_satisfied(&c);
}

#[test]
fn differences_must_match_their_limbs() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    job(&mut c, 0).witness.d[1][0] += Fr::one();
    assert_fails_exactly(&failures(&c), &[&["y - x_1 = d_1", "pool: max_pool"]]);
}

#[test]
fn running_products_must_hold() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    // Window 3's maximum is its last element, so the final product is zero whatever p_2 is.
    job(&mut c, 3).witness.p[1] += Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[&["p_2 = p_1 * (y - x_2)", "pool: max_pool"]],
    );
    let mut c = circuit(&m, &x);
    job(&mut c, 3).witness.p[0] += Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[
            &["p_1 = p_0 * (y - x_1)", "pool: max_pool"],
            &["p_2 = p_1 * (y - x_2)", "pool: max_pool"],
        ],
    );
}

#[test]
fn output_above_every_element_fails_the_product() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    recompute(&mut c, 0, &[5, 4, 1, 0], 6);
    let inst = instance_with_output(&c, &m, 0, 6);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["prod (y - x_i) = 0", "pool: max_pool"]],
    );
}

#[test]
fn output_below_the_maximum_fails_the_range_check() {
    // y = 4 equals an element (the product is zero) but 4 - 5 < 0.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    recompute(&mut c, 0, &[5, 4, 1, 0], 4);
    let inst = instance_with_output(&c, &m, 0, 4);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup range lane", "range lanes"]],
    );
}

#[test]
fn tied_maximum_has_one_witness() {
    // With ties the witness holds no choice of index: recomputing it gives the same values.
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    let before = job(&mut c, 1).witness.clone();
    recompute(&mut c, 1, &[7, 7, 3, 7], 7);
    assert_eq!(job(&mut c, 1).witness, before);
    assert_eq!(before.y, fe(7));
    assert_satisfied(&c);
}

#[test]
fn elements_are_copies_of_the_input() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    recompute(&mut c, 0, &[5, 4, 2, 0], 5);
    assert_fails_exactly(
        &failures(&c),
        &[
            &["Equality constraint", "pool: max_pool"],
            &["Equality constraint"],
        ],
    );
}
