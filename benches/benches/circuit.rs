//! Proving time of each chip family on a one-op model of about a thousand output elements
//! (throughput = output elements, so criterion reports time per element; multiply by 1000 for
//! "per 1k ops"). Keys are generated once per case; only `prove` is timed.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use tk_benches::{conv_node, gemm_node, rescale_node, tensor_i8};
use tk_circuit::keys::{keygen, setup_params};
use tk_circuit::{ModelCircuit, PlanOptions, TraceValues};
use tk_quant::ops::{Clip, Input, Lut, MaxPool, PoolGeometry, QOp, Softmax};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
use tk_trace::{ModelDigest, TraceReader, TraceWriter};

/// The model `x -> op`, with `x` of `input_shape`.
fn one_op(op: QNode, input_shape: &[usize]) -> QModel {
    let input = QNode {
        id: 0,
        name: "x".into(),
        ir_node: None,
        op: QOp::Input(Input {}),
        inputs: Vec::new(),
        shape: input_shape.to_vec(),
        bits: 8,
    };
    QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "tk-benches".into(),
        source_digest: String::new(),
        graph: QGraph {
            nodes: vec![input, op],
            inputs: vec![0],
            outputs: vec![1],
        },
        // Input and output scales are metadata the runtime requires; any value will do.
        scales: vec![
            NodeScale {
                node: 0,
                scale: 1.0 / 64.0,
            },
            NodeScale {
                node: 1,
                scale: 1.0 / 64.0,
            },
        ],
    }
}

fn elementwise(name: &str, op: QOp, shape: &[usize]) -> QNode {
    QNode {
        id: 1,
        name: name.into(),
        ir_node: None,
        op,
        inputs: vec![0],
        shape: shape.to_vec(),
        bits: 8,
    }
}

/// The circuit of `model` on `x`, built from the runtime's trace as `tk prove` does.
fn circuit(model: &QModel, x: QTensor) -> ModelCircuit {
    let tkq = tk_quant::file::to_bytes(model).expect("model encodes");
    let digest = ModelDigest::of_bytes(&tkq);
    let runtime = tk_runtime::Runtime::new(model).expect("model validates");
    let mut writer = TraceWriter::new(Vec::new(), model, &digest).expect("writer");
    runtime.run_observed(&[x], &mut writer).expect("runs");
    let trace = writer.finish().expect("trace");
    let reader = TraceReader::new(trace.as_slice()).expect("trace header");
    let values = TraceValues::read(reader, model, &digest).expect("trace values");
    ModelCircuit::new(model, &values.op_witnesses(model), &PlanOptions::default()).expect("circuit")
}

/// A decreasing exponential table `2^15 * (7/8)^d` down to 0.
fn exp_table() -> Vec<i32> {
    let mut table = vec![1 << 15];
    while let Some(&last) = table.last().filter(|&&v| v > 0) {
        table.push(last * 7 / 8);
    }
    table
}

fn chips(c: &mut Criterion) {
    let flat = [1usize, 1024];
    let cases: Vec<(&str, QModel, QTensor, usize)> = vec![
        (
            "dot+requant (gemm 64->1024)",
            one_op(gemm_node(1, 64, 1024), &[1, 64]),
            tensor_i8(&[1, 64], 1),
            1024,
        ),
        (
            "dot+requant (conv 3x3 8->8, 16x16)",
            one_op(conv_node(8, 8, 16, 1), &[1, 8, 16, 16]),
            tensor_i8(&[1, 8, 16, 16], 2),
            8 * 16 * 16,
        ),
        (
            "requant (rescale)",
            one_op(rescale_node(&flat), &flat),
            tensor_i8(&flat, 3),
            1024,
        ),
        (
            "clip (relu)",
            one_op(
                elementwise("relu", QOp::Clip(Clip { lo: 0, hi: 127 }), &flat),
                &flat,
            ),
            tensor_i8(&flat, 4),
            1024,
        ),
        (
            "lut (256-entry table)",
            one_op(
                elementwise(
                    "lut",
                    QOp::Lut(Lut {
                        function: "bench".into(),
                        in_lo: -128,
                        table: (-128..128).map(|x: i32| x.clamp(-64, 63) / 2).collect(),
                    }),
                    &flat,
                ),
                &flat,
            ),
            tensor_i8(&flat, 5),
            1024,
        ),
        (
            "max_pool (2x2, stride 2, 16 channels of 16x16)",
            one_op(
                elementwise(
                    "max_pool",
                    QOp::MaxPool(MaxPool {
                        geometry: PoolGeometry {
                            kernel: [2, 2],
                            strides: [2, 2],
                            pads: [0, 0, 0, 0],
                        },
                    }),
                    &[1, 16, 8, 8],
                ),
                &[1, 16, 16, 16],
            ),
            tensor_i8(&[1, 16, 16, 16], 6),
            16 * 8 * 8,
        ),
        (
            "softmax (64 rows of 16)",
            one_op(
                elementwise(
                    "softmax",
                    QOp::Softmax(Softmax {
                        axis: 1,
                        exp_table: exp_table(),
                        frac_bits: 7,
                    }),
                    &[64, 16],
                ),
                &[64, 16],
            ),
            tensor_i8(&[64, 16], 7),
            64 * 16,
        ),
    ];
    let mut group = c.benchmark_group("chip prove");
    group.sample_size(10);
    for (name, model, x, elements) in cases {
        let circuit = circuit(&model, x);
        let params = setup_params(circuit.k(), 1);
        let pk = keygen(&params, &circuit).expect("keygen");
        group.throughput(Throughput::Elements(elements as u64));
        group.bench_function(format!("{name}, k={}", circuit.k()), |b| {
            b.iter(|| {
                tk_circuit::prover::prove(&params, &pk, &circuit, ChaCha20Rng::seed_from_u64(7))
                    .expect("proves")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, chips);
criterion_main!(benches);
