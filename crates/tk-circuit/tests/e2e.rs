//! End to end: conv -> relu -> max_pool -> reshape -> gemm, executed by the test's own
//! integer executor, proven and verified. (Costs are measured by the examples
//! `layout_sweep` and `conv_layer_cost` and by `cargo xtask bench`, not by tests.)

mod common;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::prelude::*;
use tk_quant::ops::{Clip, Conv, MaxPool, PoolGeometry, QOp, Requant, Reshape};

fn conv(c_in: usize, c_out: usize, k: usize, pad: usize, seed: u64) -> QOp {
    QOp::Conv(Conv {
        strides: [1, 1],
        pads: [pad; 4],
        dilations: [1, 1],
        group: 1,
        weight: tensor(
            &[c_out, c_in, k, k],
            values(c_out * c_in * k * k, -90, 90, seed),
        ),
        bias: values(c_out, -2000, 2000, seed + 1),
        requant: Requant {
            multipliers: values(c_out, 1_100_000_000, 2_000_000_000, seed + 2),
            shifts: vec![38; c_out],
            clamp: None,
        },
    })
}

fn gemm(k: usize, n: usize, seed: u64) -> QOp {
    gemm_op(k, n, seed, 39)
}

fn relu() -> QOp {
    QOp::Clip(Clip { lo: 0, hi: 127 })
}

fn pool2() -> QOp {
    QOp::MaxPool(MaxPool {
        geometry: PoolGeometry {
            kernel: [2, 2],
            strides: [2, 2],
            pads: [0; 4],
        },
    })
}

/// x [1, 1, 8, 8] -> conv 3x3 (4 channels, pad 1) -> relu -> max_pool 2x2 -> reshape [1, 64]
/// -> gemm 64 -> 10.
fn small_cnn() -> tk_quant::QModel {
    let mut b = Builder::default();
    let x = b.input(&[1, 1, 8, 8], 8);
    let c = b.op("conv", conv(1, 4, 3, 1, 20), &[x], &[1, 4, 8, 8], 8);
    let r = b.op("relu", relu(), &[c], &[1, 4, 8, 8], 8);
    let p = b.op("pool", pool2(), &[r], &[1, 4, 4, 4], 8);
    let f = b.op("flatten", QOp::Reshape(Reshape {}), &[p], &[1, 64], 8);
    let y = b.op("fc", gemm(64, 10, 30), &[f], &[1, 10], 8);
    b.output(y);
    b.build()
}

#[test]
fn small_cnn_end_to_end() {
    let m = small_cnn();
    let x = vec![tensor(&[1, 1, 8, 8], values(64, -128, 127, 99))];
    let values_by_node = execute(&m, &x);
    let c =
        ModelCircuit::new(&m, &witnesses(&m, &values_by_node), &PlanOptions::default()).unwrap();
    eprintln!("[e2e] plan: {:#?}", c.report());
    assert_satisfied(&c);

    let params = time(&format!("e2e: params k={}", c.k()), || {
        setup_params(c.k(), 3)
    });
    let pk = time("e2e: keygen", || keygen(&params, &c)).unwrap();
    let proof = time("e2e: prove", || {
        prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(1))
    })
    .unwrap();
    let vk = pk.vk();
    let public = public_instance(&m, &x, &[values_by_node[5].clone()]).unwrap();
    assert_eq!(public, c.instance());
    time("e2e: verify", || verify(&params, &vk, &public, &proof)).unwrap();
    eprintln!(
        "[e2e] proof {} B, vk {} B",
        proof.len(),
        vk.to_bytes().unwrap().len()
    );

    // Claiming another output fails.
    let mut other = values_by_node[5].clone();
    other.data[3] = if other.data[3] == 0 { 1 } else { 0 };
    let wrong = public_instance(&m, &x, &[other]).unwrap();
    assert!(verify(&params, &vk, &wrong, &proof).is_err());
    // Public values outside their range are refused before verification.
    let mut bad = x[0].clone();
    bad.data[0] = 300;
    assert!(public_instance(&m, &[bad], &[values_by_node[5].clone()]).is_err());
}
