//! End to end through the real pipeline: a float graph (built with `tk_ir::Graph` or imported
//! from `models/ops/*.onnx`) is quantized with seeded random calibration, run by `tk-runtime`
//! while `tk-trace` records it into memory, the trace is read back as the circuit's only
//! witness source, and the circuit is keyed, proven and verified (KZG, seeded RNGs).
//!
//! Every single-input model in `models/ops/` is also laid out and checked with `MockProver`;
//! models whose ops the circuit does not support are listed by name and op, never skipped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::{ChaCha8Rng, ChaCha20Rng};
use tk_circuit::prelude::*;
use tk_circuit::{CircuitError, TraceValues};
use tk_ir::ops::binary::BinaryKind;
use tk_ir::ops::pool::PoolGeometry;
use tk_ir::prelude::*;
use tk_quant::{QModel, QTensor, QuantOptions};
use tk_trace::{ModelDigest, TraceReader};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/ops")
}

fn uniform(rng: &mut ChaCha8Rng, shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n).map(|_| rng.gen_range(-scale..scale)).collect();
    Tensor::from_f32(shape, data).unwrap()
}

/// A quantized model with one traced execution, read back from the trace bytes.
struct Traced {
    model: QModel,
    inputs: Vec<QTensor>,
    outputs: Vec<QTensor>,
    trace: Vec<u8>,
    digest: ModelDigest,
}

/// Quantizes `graph` (one input) with 16 seeded random calibration samples and traces one
/// random input.
fn quantize_and_trace(graph: &Graph, seed: u64) -> Result<Traced, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let input = graph.inputs()[0];
    let shape = graph.fact(input).unwrap().shape.clone();
    let mut calib_shape = vec![16];
    calib_shape.extend_from_slice(&shape[1..]);
    let calib = uniform(&mut rng, &calib_shape, 1.0);
    let q = tk_quant::quantize(graph, &[calib], &QuantOptions::default())
        .map_err(|e| format!("quantizer: {e}"))?;
    let model = q.model;
    let bytes = tk_quant::file::to_bytes(&model).unwrap();
    let digest = ModelDigest::of_bytes(&bytes);
    let x = uniform(&mut rng, &shape, 1.0);
    let inputs = tk_quant::quantize_inputs(&model, &[x]).unwrap();
    let (outputs, trace) = tk_trace::write_trace(&model, &digest, &inputs, Vec::new())
        .map_err(|e| format!("runtime: {e}"))?;
    Ok(Traced {
        model,
        inputs,
        outputs,
        trace,
        digest,
    })
}

impl Traced {
    /// The circuit, from the trace and the model only.
    fn circuit(&self) -> Result<ModelCircuit, CircuitError> {
        let reader = TraceReader::new(self.trace.as_slice())?;
        let values = TraceValues::read(reader, &self.model, &self.digest)?;
        assert_eq!(values.outputs(&self.model), self.outputs);
        ModelCircuit::new(
            &self.model,
            &values.op_witnesses(&self.model),
            &PlanOptions::default(),
        )
    }

    fn ops(&self) -> Vec<&'static str> {
        self.model.graph.nodes.iter().map(|n| n.op.name()).collect()
    }
}

/// Keygen, prove and verify `t`; a changed public output must not verify.
fn prove_and_verify(name: &str, t: &Traced, seed: u64) {
    let start = Instant::now();
    let c = t.circuit().unwrap_or_else(|e| panic!("{name}: {e}"));
    let params = setup_params(c.k(), seed);
    let pk = keygen(&params, &c).unwrap();
    let proof = prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(seed)).unwrap();
    let vk = pk.vk();
    let public = public_instance(&t.model, &t.inputs, &t.outputs).unwrap();
    assert_eq!(public, c.instance(), "{name}: instance");
    verify(&params, &vk, &public, &proof).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut wrong = t.outputs.clone();
    let o = &mut wrong[0].data[0];
    *o = if *o == 0 { 1 } else { 0 };
    let wrong = public_instance(&t.model, &t.inputs, &wrong).unwrap();
    assert!(
        verify(&params, &vk, &wrong, &proof).is_err(),
        "{name}: a wrong output verifies"
    );
    eprintln!(
        "[e2e] {name}: k={} ops={:?} proof={} B, {:.2} s",
        c.k(),
        t.ops(),
        proof.len(),
        start.elapsed().as_secs_f64()
    );
}

fn import(name: &str) -> Graph {
    let path = models_dir().join(format!("{name}.onnx"));
    import_onnx(&path, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .graph
}

fn konst(g: &mut Graph, rng: &mut ChaCha8Rng, name: &str, shape: &[usize], s: f32) -> OutletId {
    g.add_const(name, uniform(rng, shape, s)).unwrap()
}

fn conv(
    g: &mut Graph,
    rng: &mut ChaCha8Rng,
    x: OutletId,
    (cin, cout, k, group): (usize, usize, usize, usize),
    name: &str,
) -> OutletId {
    let w = konst(
        g,
        rng,
        &format!("{name}.w"),
        &[cout, cin / group, k, k],
        0.5,
    );
    let b = konst(g, rng, &format!("{name}.b"), &[cout], 0.1);
    let p = k / 2;
    let op = Conv {
        strides: [1, 1],
        pads: [p; 4],
        dilations: [1, 1],
        group,
    };
    g.add_node(name, op.into(), &[x, w, b]).unwrap()
}

fn binary(kind: BinaryKind) -> Op {
    Binary { kind }.into()
}

fn pool(k: usize, s: usize) -> PoolGeometry {
    let mut g = PoolGeometry::with_kernel([k, k]);
    g.strides = [s, s];
    g
}

/// x [1, 16] -> Gemm 16x24 -> Relu -> Gemm 24x10.
fn mlp() -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 16])).unwrap();
    let gemm = || Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b: false,
    };
    let w1 = konst(&mut g, &mut rng, "fc1.w", &[16, 24], 0.5);
    let b1 = konst(&mut g, &mut rng, "fc1.b", &[24], 0.1);
    let h = g.add_node("fc1", gemm().into(), &[x, w1, b1]).unwrap();
    let r = g.add_node("relu", Relu.into(), &[h]).unwrap();
    let w2 = konst(&mut g, &mut rng, "fc2.w", &[24, 10], 0.5);
    let b2 = konst(&mut g, &mut rng, "fc2.b", &[10], 0.1);
    let y = g.add_node("fc2", gemm().into(), &[r, w2, b2]).unwrap();
    g.add_output("y", y).unwrap();
    g
}

/// x [1, 3, 6, 6] -> conv 3x3 (4) -> relu -> depthwise conv 3x3 -> add (residual) -> concat
/// with a 1x1 conv of x -> hard swish -> max pool 2x2 and avg pool 2x2 -> add -> sigmoid.
fn cnn() -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 3, 6, 6])).unwrap();
    let c1 = conv(&mut g, &mut rng, x, (3, 4, 3, 1), "conv1");
    let r1 = g.add_node("relu1", Relu.into(), &[c1]).unwrap();
    let dw = conv(&mut g, &mut rng, r1, (4, 4, 3, 4), "depthwise");
    let res = g
        .add_node("residual", binary(BinaryKind::Add), &[dw, r1])
        .unwrap();
    let side = conv(&mut g, &mut rng, x, (3, 2, 1, 1), "side");
    let cat = g
        .add_node("concat", Concat { axis: 1 }.into(), &[res, side])
        .unwrap();
    let hs = g.add_node("hswish", HardSwish.into(), &[cat]).unwrap();
    let mp = g
        .add_node(
            "maxpool",
            MaxPool {
                geometry: pool(2, 2),
            }
            .into(),
            &[hs],
        )
        .unwrap();
    let avg = AveragePool {
        geometry: pool(2, 2),
        count_include_pad: false,
    };
    let ap = g.add_node("avgpool", avg.into(), &[hs]).unwrap();
    let sum = g
        .add_node("sum", binary(BinaryKind::Add), &[mp, ap])
        .unwrap();
    let y = g.add_node("sigmoid", Sigmoid.into(), &[sum]).unwrap();
    g.add_output("y", y).unwrap();
    g
}

#[test]
fn mlp_proves_and_verifies() {
    let t = quantize_and_trace(&mlp(), 10).unwrap();
    // The Relu is fused into the first Gemm (integer standard v2).
    assert_eq!(t.ops(), ["Input", "Gemm", "Gemm"]);
    let fused = t.model.graph.nodes[1].op.fused_clamp();
    assert_eq!(fused.map(|[lo, _]| lo), Some(0));
    prove_and_verify("mlp", &t, 10);
}

#[test]
fn cnn_with_every_chip_proves_and_verifies() {
    let t = quantize_and_trace(&cnn(), 11).unwrap();
    let ops = t.ops();
    for op in ["Conv", "Add", "Concat", "Lut", "MaxPool", "AvgPool"] {
        assert!(ops.contains(&op), "no {op} in {ops:?}");
    }
    // Its Relus are fused into the convs.
    assert!(
        t.model
            .graph
            .nodes
            .iter()
            .any(|n| n.op.fused_clamp().is_some()),
        "no fused clamp in {ops:?}"
    );
    assert!(
        t.model.graph.nodes.iter().any(|n| matches!(
            &n.op,
            tk_quant::ops::QOp::Conv(c) if c.group > 1 && c.group == c.weight.shape[0]
        )),
        "no depthwise conv in {ops:?}"
    );
    prove_and_verify("cnn", &t, 11);
}

/// The ONNX blocks of `models/ops/` and the single ops that exercise a chip the blocks do
/// not, each proven (`residual`, `concat`, `conv_depthwise` and the rest are covered by the
/// hand-built CNN above and, with `MockProver`, by the sweep below).
#[test]
fn onnx_models_prove_and_verify() {
    let names = [
        "net_tiny_cnn",
        "net_mobilenet_block",
        "net_se_block",
        "hard_swish",
        "sigmoid",
        "averagepool",
        "global_average_pool",
    ];
    for (i, name) in names.into_iter().enumerate() {
        let t = quantize_and_trace(&import(name), 100 + i as u64)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        prove_and_verify(name, &t, 100 + i as u64);
    }
}

/// Ops the circuit does not prove yet (none since the softmax chip); a model using one must
/// fail with `UnsupportedOp` naming it (and is reported), not with a panic or another error.
const UNSUPPORTED_OPS: &[&str] = &[];

/// Every single-input model of `models/ops/`: the quantized trace gives a satisfied circuit,
/// or the model is reported as using an unsupported op.
#[test]
fn every_op_model_is_proven_or_reported() {
    let mut names: Vec<String> = std::fs::read_dir(models_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".onnx").map(String::from)
        })
        .collect();
    names.sort();
    let (mut ok, mut unsupported, mut skipped, mut failures) = (0, vec![], vec![], vec![]);
    for (i, name) in names.iter().enumerate() {
        let path = models_dir().join(format!("{name}.onnx"));
        let Ok(model) = import_onnx(&path, &ImportOptions::default()) else {
            skipped.push(format!("{name} (not importable)"));
            continue;
        };
        if model.graph.inputs().len() != 1 {
            skipped.push(format!("{name} ({} inputs)", model.graph.inputs().len()));
            continue;
        }
        let t = match quantize_and_trace(&model.graph, 1000 + i as u64) {
            Ok(t) => t,
            Err(e) => {
                skipped.push(format!("{name} ({e})"));
                continue;
            }
        };
        match t.circuit() {
            Ok(c) => {
                let fails = match c.mock_prover().map(|p| p.verify()) {
                    Ok(Ok(())) => Vec::new(),
                    Ok(Err(f)) => f.iter().take(3).map(|f| f.to_string()).collect(),
                    Err(e) => vec![e.to_string()],
                };
                if fails.is_empty() {
                    ok += 1;
                } else {
                    failures.push(format!("{name}: {fails:?}"));
                }
            }
            Err(CircuitError::UnsupportedOp { op, node }) if UNSUPPORTED_OPS.contains(&op) => {
                unsupported.push(format!("{name}: {op} (node {node})"));
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    eprintln!("[ops] {ok} models proven with MockProver");
    for u in &unsupported {
        eprintln!("[ops] UNSUPPORTED by the circuit: {u}");
    }
    for s in &skipped {
        eprintln!("[ops] not applicable: {s}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(ok >= 40, "only {ok} op models proven");
}
