//! Hostile `.tkq` files: every single-bit flip, cyclic and dangling edges, huge declared
//! dimensions and huge MessagePack length prefixes end in a typed error (or, for a flip that
//! still decodes, a model that runs), never a panic or an unbounded allocation.
//!
//! Complements `file.rs` (truncations, header errors, parameter edits) with the graph
//! structure and the container format; the `tkq_decode` fuzz target explores the rest, and
//! [`tkq_decode_replay`] runs that target's decode path on stable Rust (what CI runs of it).

#[path = "../../tk-ir/tests/common/mutate.rs"]
mod mutate;

use std::path::{Path, PathBuf};

use tk_quant::ops::{Add, Clip, Const, Gemm, Input, Lut, QOp, Requant, Reshape};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor, QuantError, file};

fn node(id: usize, op: QOp, inputs: Vec<usize>, shape: Vec<usize>) -> QNode {
    QNode {
        id,
        name: format!("n{id}"),
        ir_node: None,
        op,
        inputs,
        shape,
        bits: 8,
    }
}

/// x [1, 8] + const -> Gemm 8 -> 4 -> Clip -> Lut -> Reshape [4].
fn model() -> QModel {
    let weight: Vec<i32> = (0..32).map(|i| (i * 37 % 61) - 30).collect();
    let nodes = vec![
        node(0, QOp::Input(Input {}), vec![], vec![1, 8]),
        node(
            1,
            QOp::Const(Const {
                value: QTensor::new(vec![1, 8], vec![1, -2, 3, -4, 5, -6, 7, -8]).unwrap(),
            }),
            vec![],
            vec![1, 8],
        ),
        node(
            2,
            QOp::Add(Add {
                ma: 1 << 20,
                mb: 1 << 20,
                shift: 21,
                clamp: None,
            }),
            vec![0, 1],
            vec![1, 8],
        ),
        node(
            3,
            QOp::Gemm(Gemm {
                weight: QTensor::new(vec![4, 8], weight).unwrap(),
                bias: vec![100, -200, 300, -400],
                requant: Requant {
                    multipliers: vec![1_500_000_000],
                    shifts: vec![40],
                    clamp: None,
                },
            }),
            vec![2],
            vec![1, 4],
        ),
        node(4, QOp::Clip(Clip { lo: 0, hi: 127 }), vec![3], vec![1, 4]),
        node(
            5,
            QOp::Lut(Lut {
                function: "Square".into(),
                in_lo: -128,
                table: (-128..128).map(|x: i32| (x * x / 128).min(127)).collect(),
            }),
            vec![4],
            vec![1, 4],
        ),
        node(6, QOp::Reshape(Reshape {}), vec![5], vec![4]),
    ];
    QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "hostile test".into(),
        source_digest: "00".repeat(32),
        graph: QGraph {
            nodes,
            inputs: vec![0],
            outputs: vec![6],
        },
        scales: vec![
            NodeScale {
                node: 0,
                scale: 0.05,
            },
            NodeScale {
                node: 6,
                scale: 0.1,
            },
        ],
    }
}

fn zeros_for(m: &QModel) -> Vec<QTensor> {
    m.graph
        .inputs
        .iter()
        .map(|&i| QTensor::zeros(m.graph.nodes[i].shape.clone()).unwrap())
        .collect()
}

/// Encodes `m` without validating it and decodes it again: the error `from_bytes` reports.
fn reject(m: &QModel) -> QuantError {
    let bytes = file::to_bytes(m).expect("encoding never validates");
    match file::from_bytes(&bytes) {
        Ok(_) => panic!("hostile model accepted: {m:?}"),
        Err(e) => e,
    }
}

fn assert_invalid_node(e: QuantError, node: usize, reason_part: &str) {
    match &e {
        QuantError::InvalidNode {
            node: n, reason, ..
        } if *n == node => {
            assert!(
                reason.contains(reason_part),
                "{e}: expected `{reason_part}`"
            )
        }
        _ => panic!("expected node {node} to be invalid ({reason_part}), got {e}"),
    }
}

fn assert_invalid_model(e: QuantError, reason_part: &str) {
    match &e {
        QuantError::InvalidModel { reason } => {
            assert!(
                reason.contains(reason_part),
                "{e}: expected `{reason_part}`"
            )
        }
        _ => panic!("expected an invalid model ({reason_part}), got {e}"),
    }
}

#[test]
fn the_test_model_is_valid_and_runs() {
    let m = model();
    let back = file::from_bytes(&file::to_bytes(&m).unwrap()).unwrap();
    assert_eq!(back, m);
    tk_quant::reference::run(&m, &zeros_for(&m)).unwrap();
}

#[test]
fn every_single_bit_flip_is_an_error_or_a_runnable_model() {
    let bytes = file::to_bytes(&model()).unwrap();
    let mut accepted = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            if let Ok(m) = file::from_bytes(&b) {
                // Flips in weights, tables, names or scales keep a valid model: it must run.
                tk_quant::reference::run(&m, &zeros_for(&m)).unwrap_or_else(|e| {
                    panic!("byte {i} bit {bit}: decoded but fails to run: {e}")
                });
                accepted += 1;
            }
        }
    }
    assert!(accepted < bytes.len() * 8, "no flip was rejected");
}

#[test]
fn truncation_at_every_length_is_a_typed_error() {
    let bytes = file::to_bytes(&model()).unwrap();
    for len in 0..bytes.len() {
        match file::from_bytes(&bytes[..len]) {
            Err(QuantError::BadMagic | QuantError::Malformed { .. } | QuantError::Decode(_)) => {}
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
}

#[test]
fn unknown_ops_are_named() {
    let bytes = file::to_bytes(&model()).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b"\xa4Clip")
        .expect("the Clip op key");
    assert_eq!(
        bytes.windows(5).filter(|w| *w == b"\xa4Clip").count(),
        1,
        "one Clip key"
    );
    let mut b = bytes.clone();
    b[at + 1..at + 5].copy_from_slice(b"Clop");
    match file::from_bytes(&b) {
        Err(QuantError::Decode(e)) => assert!(e.to_string().contains("Clop"), "{e}"),
        other => panic!("unknown op: {:?}", other.map(|_| ())),
    }
}

#[test]
fn cyclic_edges_are_rejected() {
    // A self-loop.
    let mut m = model();
    m.graph.nodes[3].inputs = vec![3];
    assert_invalid_node(reject(&m), 3, "not an earlier node");
    // A two-node cycle: 2 reads 3 and 3 reads 2.
    let mut m = model();
    m.graph.nodes[2].inputs = vec![0, 3];
    m.graph.nodes[3].inputs = vec![2];
    assert_invalid_node(reject(&m), 2, "not an earlier node");
    // A longer cycle through the last node.
    let mut m = model();
    m.graph.nodes[2].inputs = vec![0, 6];
    assert_invalid_node(reject(&m), 2, "not an earlier node");
}

#[test]
fn dangling_edges_are_rejected() {
    for bad in [7, 1000, usize::MAX] {
        let mut m = model();
        m.graph.nodes[4].inputs = vec![bad];
        assert_invalid_node(reject(&m), 4, "not an earlier node");
        let mut m = model();
        m.graph.outputs = vec![bad];
        assert_invalid_model(reject(&m), "does not exist");
        let mut m = model();
        m.graph.inputs = vec![bad];
        assert_invalid_model(reject(&m), "not a distinct Input node");
    }
    // Missing and extra operands.
    let mut m = model();
    m.graph.nodes[2].inputs = vec![0];
    assert_invalid_node(reject(&m), 2, "inputs");
    let mut m = model();
    m.graph.nodes[3].inputs = vec![2, 2];
    assert_invalid_node(reject(&m), 3, "inputs");
}

#[test]
fn graph_inputs_must_be_the_input_nodes() {
    let mut m = model();
    m.graph.inputs = vec![0, 0];
    assert_invalid_model(reject(&m), "not a distinct Input node");
    let mut m = model();
    m.graph.inputs = vec![4];
    assert_invalid_model(reject(&m), "not a distinct Input node");
    let mut m = model();
    m.graph.inputs = vec![];
    assert_invalid_model(reject(&m), "Input node 0 is not a graph input");
    let mut m = model();
    m.graph.nodes[3].id = 2;
    assert_invalid_node(reject(&m), 3, "id 2 at position 3");
    let mut m = model();
    m.graph.nodes.clear();
    assert_invalid_model(reject(&m), "0 nodes");
}

#[test]
fn huge_declared_dimensions_are_rejected_before_allocation() {
    // Element counts that overflow, exceed the tensor limit, or exceed the total limit.
    for shape in [
        vec![1usize << 40, 1 << 40],
        vec![usize::MAX, 2],
        vec![1usize << 31, 2],
    ] {
        let mut m = model();
        m.graph.nodes[0].shape = shape.clone();
        let e = reject(&m);
        assert!(
            matches!(e, QuantError::InvalidNode { node: 0, .. }),
            "{shape:?}: {e}"
        );
    }
    let mut m = model();
    m.graph.nodes[0].shape = vec![1; 9];
    assert_invalid_node(reject(&m), 0, "rank at most 8");
    // Many nodes of 2^30 elements each: only the sum is over the limit.
    let mut m = model();
    m.graph.nodes.truncate(1);
    m.graph.nodes[0].shape = vec![1 << 30];
    for id in 1..4 {
        m.graph.nodes.push(node(
            id,
            QOp::Clip(Clip { lo: 0, hi: 127 }),
            vec![id - 1],
            vec![1 << 30],
        ));
    }
    m.graph.outputs = vec![3];
    m.scales[1].node = 3;
    assert_invalid_model(reject(&m), "elements in all tensors");
    // Constant and weight tensors whose shape disagrees with their data.
    let mut m = model();
    if let QOp::Const(c) = &mut m.graph.nodes[1].op {
        c.value.shape = vec![1 << 40, 1 << 40];
    }
    assert!(matches!(
        reject(&m),
        QuantError::InvalidNode { node: 1, .. }
    ));
    let mut m = model();
    if let QOp::Gemm(g) = &mut m.graph.nodes[3].op {
        g.weight.shape = vec![usize::MAX, 8];
    }
    assert!(matches!(
        reject(&m),
        QuantError::InvalidNode { node: 3, .. }
    ));
}

/// MessagePack `str` of at most 31 bytes.
fn fixstr(s: &str) -> Vec<u8> {
    assert!(s.len() < 32);
    let mut out = vec![0xa0 | s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

fn tkq(body: &[u8]) -> Vec<u8> {
    let mut out = b"TKQMODEL".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The start of a model map up to the value of `graph.nodes`.
fn prefix_to_nodes() -> Vec<u8> {
    let mut b = vec![0x85];
    b.extend(fixstr("spec_version"));
    b.push(0x01);
    b.extend(fixstr("producer"));
    b.extend(fixstr("x"));
    b.extend(fixstr("source_digest"));
    b.extend(fixstr(""));
    b.extend(fixstr("graph"));
    b.push(0x83);
    b.extend(fixstr("nodes"));
    b
}

#[test]
fn huge_length_prefixes_are_errors_not_allocations() {
    // An array of 2^32 - 1 nodes in a file of a few dozen bytes.
    let mut b = prefix_to_nodes();
    b.extend([0xdd, 0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
    // A string of 4 GiB.
    let mut b = vec![0x85];
    b.extend(fixstr("spec_version"));
    b.push(0x01);
    b.extend(fixstr("producer"));
    b.extend([0xdb, 0xff, 0xff, 0xff, 0xff, b'x']);
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
    // A map of 2^32 - 1 entries as the whole model.
    let b = [0xdf, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
    // One node whose shape array claims 2^32 - 1 dimensions.
    let mut b = prefix_to_nodes();
    b.push(0x91);
    b.push(0x87);
    b.extend(fixstr("id"));
    b.push(0x00);
    b.extend(fixstr("name"));
    b.extend(fixstr("x"));
    b.extend(fixstr("ir_node"));
    b.push(0xc0);
    b.extend(fixstr("op"));
    b.push(0x81);
    b.extend(fixstr("Input"));
    b.push(0x80);
    b.extend(fixstr("inputs"));
    b.push(0x90);
    b.extend(fixstr("shape"));
    b.extend([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
}

#[test]
fn deeply_nested_values_are_errors() {
    // 100 000 nested arrays where a map is expected: a type error at the first byte, never a
    // recursion that exhausts the stack.
    let b = vec![0x91; 100_000];
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
    let mut b = prefix_to_nodes();
    b.extend(vec![0x91; 100_000]);
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
    // The same under an unknown key, whose value a decoder skips without a type to stop it:
    // the depth limit must end the recursion long before the stack does.
    let mut b = vec![0x81];
    b.extend(fixstr("unknown"));
    b.extend(vec![0x91; 100_000]);
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
    let mut b = vec![0x81];
    b.extend(fixstr("unknown"));
    b.extend([0x81, 0xa1, b'k'].repeat(30_000));
    assert!(matches!(
        file::from_bytes(&tkq(&b)),
        Err(QuantError::Decode(_))
    ));
}

#[test]
fn oversized_files_are_refused_by_size() {
    let dir = std::env::temp_dir().join(format!("tk-quant-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.tkq");
    // A sparse file: nothing is written or read, the size alone is refused.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(file::MAX_FILE_BYTES + 1).unwrap();
    drop(f);
    let e = file::load(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(e, QuantError::TooLarge { .. }), "{e}");
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Largest model (elements summed over all node outputs) that is also run.
const RUN_LIMIT: usize = 1 << 14;

/// The decode path of `fuzz/fuzz_targets/tkq_decode.rs` within tk-quant: decoding never panics,
/// and a small model that decodes (so has passed `QModel::validate`) runs on the reference
/// interpreter to a value or a typed error. The runtime-against-reference and trace oracles of
/// that target run in tk-trace's `fuzz_replay.rs`.
fn tkq_decode(data: &[u8]) {
    let Ok(m) = file::from_bytes(data) else {
        return;
    };
    let total: usize = m
        .graph
        .nodes
        .iter()
        .map(|n| n.shape.iter().product::<usize>())
        .sum();
    if total <= RUN_LIMIT {
        let _ = tk_quant::reference::run(&m, &zeros_for(&m));
    }
}

/// Each op model of `models/ops/` quantized on its own sample input, as `tk quantize` does.
fn op_model_seeds() -> Vec<(String, Vec<u8>)> {
    let ops = root().join("models/ops");
    let mut names: Vec<String> = std::fs::read_dir(&ops)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            Some(name.strip_suffix(".input.npy")?.to_string())
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|name| {
            let onnx = ops.join(format!("{name}.onnx"));
            let imported = tk_ir::onnx::import_onnx(&onnx, &Default::default()).ok()?;
            let calib = tk_ir::npy::read_npy(&ops.join(format!("{name}.input.npy"))).ok()?;
            let q = tk_quant::quantize(&imported.graph, &[calib], &Default::default()).ok()?;
            Some((name, file::to_bytes(&q.model).unwrap()))
        })
        .collect()
}

#[test]
fn tkq_decode_replay() {
    let mut seeds = op_model_seeds();
    assert!(
        seeds.len() >= 30,
        "only {} op models quantized",
        seeds.len()
    );
    seeds.push(("hostile".into(), file::to_bytes(&model()).unwrap()));
    for (name, data) in &seeds {
        file::from_bytes(data).unwrap_or_else(|e| panic!("{name}: {e}"));
        tkq_decode(data);
    }
    let corpus = mutate::files(&root().join("fuzz/corpus/tkq_decode"), 5000, 1 << 16);
    for (_, data) in &corpus {
        tkq_decode(data);
    }
    let others: Vec<&[u8]> = seeds.iter().map(|(_, d)| d.as_slice()).collect();
    let rounds = mutate::rounds(mutate::DEFAULT_ROUNDS);
    let mut decoded = 0;
    for (name, data) in &seeds {
        let mut m = mutate::Mutator::new(name, 3);
        for _ in 0..rounds {
            let b = m.mutate(data, &others);
            decoded += usize::from(file::from_bytes(&b).is_ok());
            tkq_decode(&b);
        }
    }
    // Mutations of names, weights and scales keep a valid model; most others do not.
    assert!(
        decoded > 0 && decoded < seeds.len() * rounds / 2,
        "{decoded} mutants decode"
    );
}
