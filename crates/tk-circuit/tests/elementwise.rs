//! Add, Sub and Mul (requant slots with two copied operands, numpy broadcasting).

mod common;

use common::*;
use tk_circuit::field::Fr;
use tk_quant::ops::{Add, Mul, QOp};

/// a [1, 3, 2, 2] + b [1, 3, 1, 1] (broadcast), a - b, a * b.
fn model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 3, 2, 2], 8);
    let y = b.input(&[1, 3, 1, 1], 6);
    let shape = [1, 3, 2, 2];
    let s = b.op(
        "add",
        QOp::Add(Add {
            ma: 1 << 29,
            mb: 3 << 28,
            shift: 30,
            clamp: None,
        }),
        &[x, y],
        &shape,
        8,
    );
    let d = b.op(
        "sub",
        QOp::Add(Add {
            ma: 1 << 29,
            mb: -(1 << 30),
            shift: 30,
            clamp: None,
        }),
        &[x, y],
        &shape,
        8,
    );
    let p = b.op(
        "mul",
        QOp::Mul(Mul {
            m: 1 << 27,
            shift: 32,
        }),
        &[x, y],
        &shape,
        8,
    );
    for o in [s, d, p] {
        b.output(o);
    }
    (
        b.build(),
        vec![
            tensor(
                &[1, 3, 2, 2],
                vec![-128, -1, 0, 127, 100, -100, 50, 3, 7, -7, 64, -64],
            ),
            tensor(&[1, 3, 1, 1], vec![-32, 31, 5]),
        ],
    )
}

#[test]
fn add_sub_mul_are_satisfied() {
    let (m, x) = model();
    let c = circuit(&m, &x);
    eprintln!("elementwise plan: k={} {:?}", c.k(), c.report().chips);
    assert_satisfied(&c);
}

#[test]
fn second_operand_is_a_copy() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    requant_job(&mut c, 4, 5).witness.u2 += Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[
            &["Equality constraint", "mul: requant"],
            &["Equality constraint"],
            &["m1*u1 + m2*u2 + m3*u1*u2 + h = q*2^s + r", "mul: requant"],
        ],
    );
}

#[test]
fn sum_must_be_rounded_correctly() {
    let (m, x) = model();
    let mut c = circuit(&m, &x);
    requant_job(&mut c, 2, 3).witness.q += Fr::one();
    let f = failures(&c);
    assert!(
        f.iter()
            .any(|f| f.contains("m1*u1 + m2*u2 + m3*u1*u2 + h = q*2^s + r")
                && f.contains("add: requant"))
    );
}
