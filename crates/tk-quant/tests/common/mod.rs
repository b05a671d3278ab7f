//! Helpers shared by the integration tests: seeded random tensors and an end-to-end check
//! (quantize, validate, run the reference interpreter, compare with float).

#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tk_ir::{Graph, Tensor};
use tk_quant::{QuantOptions, Quantized, Stage, metrics, quantize, reference};

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Uniform values in `[-scale, scale)`.
pub fn tensor(rng: &mut ChaCha8Rng, shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_f32(
        shape,
        (0..n).map(|_| rng.gen_range(-scale..scale)).collect(),
    )
    .unwrap()
}

/// `[samples, ...shape without its leading 1]` calibration data.
pub fn samples(rng: &mut ChaCha8Rng, n: usize, input_shape: &[usize], scale: f32) -> Tensor {
    let mut shape = vec![n];
    shape.extend_from_slice(&input_shape[1..]);
    tensor(rng, &shape, scale)
}

pub fn flat(t: &Tensor) -> Vec<f32> {
    t.as_f32().unwrap().iter().copied().collect()
}

/// Float and integer outputs of graph output 0 over `count` random inputs.
pub struct Comparison {
    pub float: Vec<f32>,
    pub integer: Vec<f32>,
    pub stages: Vec<(Stage, Vec<f32>)>,
}

impl Comparison {
    pub fn sqnr(&self) -> f64 {
        metrics::sqnr_db(&self.float, &self.integer)
    }

    pub fn stage_sqnr(&self, stage: Stage) -> f64 {
        let (_, v) = self.stages.iter().find(|(s, _)| *s == stage).unwrap();
        metrics::sqnr_db(&self.float, v)
    }
}

/// Quantizes `graph` (one input of shape `input_shape`) with `calib` samples, checks the model
/// validates, runs `count` fresh random inputs through float, every stage graph and the
/// reference interpreter.
pub fn compare(
    graph: &Graph,
    input_shape: &[usize],
    scale: f32,
    options: &QuantOptions,
    seed: u64,
) -> (Quantized, Comparison) {
    let mut r = rng(seed);
    let calib = samples(&mut r, 64, input_shape, scale);
    let q = quantize(graph, &[calib], options).unwrap();
    q.model.validate().unwrap();
    let mut cmp = Comparison {
        float: vec![],
        integer: vec![],
        stages: vec![],
    };
    for stage in [Stage::Sim, Stage::Clip, Stage::Round] {
        cmp.stages.push((stage, vec![]));
    }
    for _ in 0..16 {
        let x = tensor(&mut r, input_shape, scale);
        let f = tk_ir::eval::eval(graph, std::slice::from_ref(&x)).unwrap();
        cmp.float.extend(flat(&f[0]));
        for (stage, out) in &mut cmp.stages {
            let g = q.stages.graph(*stage).unwrap();
            out.extend(flat(
                &tk_ir::eval::eval(g, std::slice::from_ref(&x)).unwrap()[0],
            ));
        }
        let qx = tk_quant::quantize_inputs(&q.model, &[x]).unwrap();
        let qy = reference::run(&q.model, &qx).unwrap();
        let y = tk_quant::dequantize_outputs(&q.model, &qy).unwrap();
        cmp.integer.extend(flat(&y[0]));
    }
    (q, cmp)
}

/// Asserts the usual quality bar: SQNR of the integer model above `min_db`, `Sim` numerically
/// the float model.
pub fn assert_close(cmp: &Comparison, min_db: f64) {
    let sim = cmp.stage_sqnr(Stage::Sim);
    assert!(sim > 80.0, "sim stage SQNR {sim:.1} dB");
    let db = cmp.sqnr();
    eprintln!(
        "SQNR integer {db:.1} dB, sim {sim:.1}, clip {:.1}, round {:.1}",
        cmp.stage_sqnr(Stage::Clip),
        cmp.stage_sqnr(Stage::Round)
    );
    assert!(
        db > min_db,
        "integer SQNR {db:.1} dB (round stage {:.1} dB)",
        cmp.stage_sqnr(Stage::Round)
    );
}

pub fn op_names(q: &Quantized) -> Vec<&'static str> {
    q.model.graph.nodes.iter().map(|n| n.op.name()).collect()
}
