//! The largest accumulators the spec allows (`|acc| = 2^40 - 1`, spec section 1) with the
//! largest multiplier (`M = 2^31 - 1`, so `|acc * M|` is just under `2^71`), through every
//! implementation of the standard: the model validator, the integer runtime (its fast paths
//! included), the trace checker and the circuit. One step past the bound is refused.
//!
//! Gemm `x [1, 1024]` (16 bits, every element `-32768`) by `w [4, 1024]` (16 bits, rows of
//! `-32767` or `32767`): `Σ x w = ±(2^40 - 2^25)`, and biases `±(2^25 - 1)` bring the four
//! accumulators to `±(2^40 - 1)`, exactly the validator's worst-case bound. The shifts put the
//! outputs (16 bits) in every case of the clamp: `s = 62` lands inside the range, `s = 40`
//! above it, `s = 0` (`acc * M` itself, about `2^71`) far below it.

mod common;

use common::*;
use tk_circuit::field::fe;
use tk_quant::ops::{Gemm, QOp, Requant};
use tk_quant::{NodeScale, QModel, QTensor};
use tk_trace::{ModelDigest, TraceReader};

const K: usize = 1024;
const MAX_ACC: i128 = (1 << 40) - 1;
const M_MAX: i32 = i32::MAX;
const SHIFTS: [u8; 4] = [62, 62, 40, 0];
const GEMM: usize = 1;

/// The boundary model; `bias_excess` is added to the magnitude of every bias.
fn boundary_model(bias_excess: i32) -> QModel {
    let bias = (1 << 25) - 1 + bias_excess;
    let signs = [1, -1, 1, -1];
    let weight: Vec<i32> = signs.iter().flat_map(|&s| vec![-s * 32767; K]).collect();
    let mut b = Builder::default();
    let x = b.input(&[1, K], 16);
    let y = b.op(
        "fc",
        QOp::Gemm(Gemm {
            weight: tensor(&[4, K], weight),
            bias: signs.iter().map(|&s| s * bias).collect(),
            requant: Requant {
                multipliers: vec![M_MAX; 4],
                shifts: SHIFTS.to_vec(),
                clamp: None,
            },
        }),
        &[x],
        &[1, 4],
        16,
    );
    b.output(y);
    let mut model = b.build();
    model.scales = vec![
        NodeScale {
            node: x,
            scale: 1.0,
        },
        NodeScale {
            node: y,
            scale: 1.0,
        },
    ];
    model
}

fn input() -> QTensor {
    tensor(&[1, K], vec![-32768; K])
}

/// The spec's requant over exact integers: round half up, then clamp to 16 bits.
fn spec_output(acc: i128, s: u8) -> i32 {
    let v = acc * i128::from(M_MAX);
    let q = if s == 0 {
        v
    } else {
        (v + (1i128 << (s - 1))).div_euclid(1i128 << s)
    };
    q.clamp(-32768, 32767) as i32
}

fn expected_outputs() -> Vec<i32> {
    [MAX_ACC, -MAX_ACC, MAX_ACC, -MAX_ACC]
        .iter()
        .zip(SHIFTS)
        .map(|(&acc, s)| spec_output(acc, s))
        .collect()
}

#[test]
fn the_spec_reference_covers_every_clamp_case() {
    // (2^40 - 1)(2^31 - 1) / 2^62 rounds to 512; / 2^40 is about 2^31; s = 0 keeps ~2^71.
    assert_eq!(expected_outputs(), vec![512, -512, 32767, -32768]);
}

#[test]
fn the_validator_accepts_the_bound_and_refuses_one_more() {
    boundary_model(0).validate().unwrap();
    let err = boundary_model(1).validate().unwrap_err().to_string();
    assert!(err.contains("2^40"), "{err}");
    let model = boundary_model(1);
    let Err(err) = tk_runtime::Runtime::new(&model) else {
        panic!("the runtime must refuse a model past the bound");
    };
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("2^40")),
        "{err}: {cause:?}"
    );
}

#[test]
fn the_runtime_computes_the_largest_accumulators_exactly() {
    let model = boundary_model(0);
    let runtime = tk_runtime::Runtime::new(&model).unwrap();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let out = pool.install(|| runtime.run(&[input()]).unwrap());
        assert_eq!(out[0].data, expected_outputs(), "{threads} threads");
    }
    // The naive reference of the tests agrees.
    assert_eq!(execute(&model, &[input()])[GEMM].data, expected_outputs());
}

#[test]
fn the_checker_accepts_the_trace_and_refuses_an_output_off_by_one() {
    let model = boundary_model(0);
    let tkq = tk_quant::file::to_bytes(&model).unwrap();
    let digest = ModelDigest::of_bytes(&tkq);
    let (_, trace) = tk_trace::write_trace(&model, &digest, &[input()], Vec::new()).unwrap();
    let report =
        tk_trace::check(TraceReader::new(trace.as_slice()).unwrap(), &model, &digest).unwrap();
    assert_eq!(report.records, 1);

    let (header, mut frames) = {
        let mut reader = TraceReader::new(trace.as_slice()).unwrap();
        let header = reader.header().clone();
        let mut frames = Vec::new();
        while let Some(f) = reader.next_frame().unwrap() {
            frames.push(f);
        }
        (header, frames)
    };
    let record = frames
        .iter_mut()
        .find_map(|f| match f {
            tk_trace::Frame::Record(r) => Some(r),
            _ => None,
        })
        .unwrap();
    record.output.data[0] += 1;
    let tampered = encode_trace(&header, &frames);
    let err = tk_trace::check(
        TraceReader::new(tampered.as_slice()).unwrap(),
        &model,
        &digest,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("output"), "{err}");
}

#[test]
fn the_circuit_proves_the_largest_accumulators() {
    let model = boundary_model(0);
    let c = circuit(&model, &[input()]);
    assert_satisfied(&c);
}

#[test]
fn an_output_off_by_one_at_the_bound_is_rejected() {
    let model = boundary_model(0);
    let mut c = circuit(&model, &[input()]);
    // y = q + 1 in the middle case breaks `y = q` (and its interval limbs stay as they were).
    requant_job(&mut c, GEMM, 0).witness.y += fe(1);
    let inst = instance_with_output(&c, &model, 0, 513);
    let f = failures_with(&c, inst);
    assert!(
        f.iter()
            .any(|m| m.contains("(1 - b_lo - b_hi) * (y - q) = 0")),
        "{f:#?}"
    );
}

#[test]
fn quotient_minus_one_with_remainder_plus_two_to_the_62_is_rejected() {
    // q' = q - 1, r' = r + 2^62: the remainder equation still holds, the remainder range check
    // (tags of s = 62 bits) must not.
    let model = boundary_model(0);
    let mut c = circuit(&model, &[input()]);
    let shape = c.params().requant.unwrap();
    let bits = c.params().range_bits;
    let v = MAX_ACC * i128::from(M_MAX) + (1i128 << 61);
    let q = v.div_euclid(1 << 62);
    let r = v - q * (1 << 62);
    let r2 = tk_circuit::chips::decompose((r + (1 << 62)) as u128, shape.n_r, bits).unwrap();
    let y = q - 1;
    let d1 = limbs(&c, (y + 32768) as u128, shape.n_d);
    let d2 = limbs(&c, 0, shape.n_d);
    let j = requant_job(&mut c, GEMM, 0);
    j.witness.q = fe(y);
    j.witness.y = fe(y);
    j.witness.r = r2;
    j.witness.d1 = d1;
    j.witness.d2 = d2;
    let inst = instance_with_output(&c, &model, 0, y as i64);
    assert_fails_exactly(
        &failures_with(&c, inst),
        &[&["Lookup range lane", "range lanes"]],
    );
}
