//! Cost of proving one 3x3 convolution layer (stride 1, padding 1, 8-bit, pseudo-random
//! weights): the plan, local KZG parameters, keygen, prove and verify times and the peak
//! resident memory after each step. It calibrates the memory model of segmented proving
//! (`tk_circuit::segment::memory`) on layers of real networks.
//!
//! `cargo run --release -p tk-circuit --example conv_layer_cost -- [C_OUT] [C_IN] [HW]`
//! (default 4 output channels of a resnet18 layer-1 conv: `C_IN = 64`, `HW = 56`).

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::prelude::*;
use tk_circuit::{ModelCircuit, PlanOptions, TraceValues};
use tk_quant::ops::{Conv, Input, QOp, Requant};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
use tk_trace::{ModelDigest, TraceReader};

/// Deterministic values in `[lo, hi]`.
fn pseudo(seed: u64, len: usize, lo: i32, hi: i32) -> Vec<i32> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..len)
        .map(|_| rand::Rng::gen_range(&mut rng, lo..=hi))
        .collect()
}

fn node(id: usize, name: &str, op: QOp, inputs: Vec<usize>, shape: Vec<usize>) -> QNode {
    QNode {
        id,
        name: name.into(),
        ir_node: None,
        op,
        inputs,
        shape,
        bits: 8,
    }
}

fn conv_model(c_out: usize, c_in: usize, hw: usize) -> Result<QModel, &'static str> {
    let conv = Conv {
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: 1,
        weight: QTensor::new(
            vec![c_out, c_in, 3, 3],
            pseudo(1, c_out * c_in * 9, -90, 90),
        )
        .ok_or("weight shape")?,
        bias: pseudo(2, c_out, -2000, 2000),
        requant: Requant {
            multipliers: pseudo(3, c_out, 1_100_000_000, 2_000_000_000),
            shifts: vec![38; c_out],
            clamp: None,
        },
    };
    Ok(QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "conv_layer_cost".into(),
        source_digest: String::new(),
        graph: QGraph {
            nodes: vec![
                node(0, "x", QOp::Input(Input {}), vec![], vec![1, c_in, hw, hw]),
                node(1, "conv", QOp::Conv(conv), vec![0], vec![1, c_out, hw, hw]),
            ],
            inputs: vec![0],
            outputs: vec![1],
        },
        scales: vec![
            NodeScale {
                node: 0,
                scale: 1.0,
            },
            NodeScale {
                node: 1,
                scale: 1.0,
            },
        ],
    })
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn timed<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!(
        "{label:<8} {:>8.3} s   peak RSS {} MiB",
        start.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(std::env::args().nth(i).map_or(Ok(default), |v| v.parse())?)
    };
    let (c_out, c_in, hw) = (arg(1, 4)?, arg(2, 64)?, arg(3, 56)?);
    let model = conv_model(c_out, c_in, hw)?;
    let tkq = tk_quant::file::to_bytes(&model)?;
    let digest = ModelDigest::of_bytes(&tkq);
    let x = QTensor::new(vec![1, c_in, hw, hw], pseudo(9, c_in * hw * hw, 0, 127))
        .ok_or("input shape")?;
    let (_, trace) = tk_trace::write_trace(&model, &digest, &[x], Vec::new())?;
    let values = TraceValues::read(TraceReader::new(trace.as_slice())?, &model, &digest)?;
    let circuit = timed("plan", || {
        ModelCircuit::new(
            &model,
            &values.op_witnesses(&model),
            &PlanOptions::default(),
        )
    })?;
    let r = circuit.report();
    println!(
        "conv {c_in}->{c_out} on {hw}x{hw}: k = {}, W = {}, lanes = {}, advice = {}, lookups = {}, main rows = {}",
        r.params.k, r.params.width, r.params.lanes, r.advice_columns, r.lookups, r.main_rows
    );
    let params = timed("params", || setup_params(circuit.k(), 1));
    let pk = timed("keygen", || keygen(&params, &circuit))?;
    let proof = timed("prove", || {
        prove(&params, &pk, &circuit, ChaCha20Rng::seed_from_u64(1))
    })?;
    timed("verify", || {
        verify(&params, &pk.vk(), circuit.instance(), &proof)
    })?;
    println!("proof {} B", proof.len());
    Ok(())
}
