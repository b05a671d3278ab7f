//! The dot-product chip through Gemm, Conv and AvgPool: both gates and the activation copies.

mod common;

use common::*;
use tk_circuit::field::Fr;
use tk_circuit::{OpKind, PlanOptions};
use tk_quant::ops::{AvgPool, Conv, Gemm, PoolGeometry, QOp, Requant};

/// x [2, 40] -> Gemm(4 x 40, per-column requant) on rows of 24 columns (2 rows per product).
fn gemm_model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[2, 40], 8);
    let mut w = values(160, -127, 127, 7);
    for v in &mut w {
        if *v == 0 {
            *v = 1;
        }
    }
    let op = Gemm {
        weight: tensor(&[4, 40], w),
        bias: vec![1000, -2000, 0, 77],
        requant: Requant {
            multipliers: vec![1 << 30, 1_500_000_000, 1_100_000_000, 1 << 30],
            shifts: vec![38, 39, 40, 36],
            clamp: None,
        },
    };
    let y = b.op("gemm", QOp::Gemm(op), &[x], &[2, 4], 8);
    b.output(y);
    let mut xs = values(40, -128, 127, 1);
    xs.extend(std::iter::repeat_n(127, 40));
    (b.build(), vec![tensor(&[2, 40], xs)])
}

fn gemm_circuit() -> (tk_quant::QModel, tk_circuit::ModelCircuit) {
    let (m, x) = gemm_model();
    let c = circuit_with(
        &m,
        &x,
        &PlanOptions {
            width: Some(24),
            // The one-output-per-product rows of the dot chip, not the multi-output chip.
            mdot: Some(None),
            ..Default::default()
        },
    );
    (m, c)
}

fn dot_witness(c: &mut tk_circuit::ModelCircuit, e: usize) -> &mut tk_circuit::DotJob {
    match &mut c.ops_mut()[1].kind {
        OpKind::Dot { dots, .. } => &mut dots[e],
        _ => unreachable!(),
    }
}

#[test]
fn gemm_is_satisfied() {
    let (_, c) = gemm_circuit();
    eprintln!("gemm plan: {:#?}", c.report());
    assert_eq!(c.ops()[1].kind.clone(), c.ops()[1].kind);
    assert_satisfied(&c);
}

#[test]
fn gemm_chooses_its_own_width() {
    let (m, x) = gemm_model();
    let c = circuit(&m, &x);
    eprintln!(
        "gemm default plan: k={} width={} lanes={}",
        c.k(),
        c.params().width,
        c.params().lanes
    );
    assert_satisfied(&c);
}

#[test]
fn first_row_sum_must_hold() {
    let (_, mut c) = gemm_circuit();
    dot_witness(&mut c, 0).witness.partial[0] += Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[
            &["dot first row: z[1] = bias + sum a*w", "gemm: dot"],
            &["dot next row: z[1] = z + sum a*w", "gemm: dot"],
        ],
    );
}

#[test]
fn next_row_sum_must_hold() {
    // The last partial sum is the accumulator, which the requant slot copies.
    let (_, mut c) = gemm_circuit();
    dot_witness(&mut c, 3).witness.partial[1] += Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[
            &["dot next row: z[1] = z + sum a*w", "gemm: dot"],
            &["Equality constraint", "gemm: dot"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn activations_are_copies_of_the_input() {
    // x[24] += w[25] and x[25] -= w[24] leave the row's sum unchanged: only the copies fail.
    let (_, mut c) = gemm_circuit();
    let job = dot_witness(&mut c, 0);
    let (w24, w25) = (job.spec.weights[24], job.spec.weights[25]);
    job.witness.activations[24] += tk_circuit::field::fe(w25.into());
    job.witness.activations[25] -= tk_circuit::field::fe(w24.into());
    assert_fails_exactly(
        &failures(&c),
        &[
            &["Equality constraint", "gemm: dot"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn grouped_strided_dilated_conv_is_satisfied() {
    let mut b = Builder::default();
    let x = b.input(&[1, 4, 7, 7], 8);
    let op = Conv {
        strides: [2, 1],
        pads: [1, 2, 1, 0],
        dilations: [1, 2],
        group: 2,
        weight: tensor(&[6, 2, 3, 2], values(72, -100, 100, 3)),
        bias: values(6, -3000, 3000, 4),
        requant: Requant {
            multipliers: vec![1_200_000_000],
            shifts: vec![38],
            clamp: None,
        },
    };
    // H: (7 + 2 - 3) / 2 + 1 = 4; W: (7 + 2 - 3) / 1 + 1 = 7.
    let y = b.op("conv", QOp::Conv(op), &[x], &[1, 6, 4, 7], 8);
    b.output(y);
    let m = b.build();
    let c = circuit(&m, &[tensor(&[1, 4, 7, 7], values(196, -128, 127, 5))]);
    eprintln!("conv plan: k={} rows={:?}", c.k(), c.report().chips);
    assert_satisfied(&c);
}

#[test]
fn avg_pool_with_padding_is_satisfied() {
    for count_include_pad in [false, true] {
        let mut b = Builder::default();
        let x = b.input(&[1, 2, 5, 5], 8);
        let op = AvgPool {
            geometry: PoolGeometry {
                kernel: [3, 3],
                strides: [2, 2],
                pads: [1, 1, 1, 1],
            },
            count_include_pad,
            multipliers: (0..10)
                .map(|n: i32| if n == 0 { 0 } else { (1 << 30) / n })
                .collect(),
            shift: 30,
        };
        let y = b.op("avg", QOp::AvgPool(op), &[x], &[1, 2, 3, 3], 8);
        b.output(y);
        let m = b.build();
        let c = circuit(&m, &[tensor(&[1, 2, 5, 5], values(50, -128, 127, 9))]);
        assert_satisfied(&c);
    }
}
