//! Shared context of the fuzz targets: real models, traces, keys and proofs built once per
//! process, so that targets can check hostile bytes against genuine counterparts.
//!
//! - [`digits`]: `models/digits_mlp.onnx` quantized exactly as `tk quantize` does with
//!   `--calib models/digits/calib_x_flat.npy` and default options, and the trace of
//!   `models/digits/sample0_flat.npy` (context of `tkt_read_and_check`);
//! - [`tiny`]: a four-node model (input, Gemm with requantization, Clip) with development KZG
//!   parameters, its keys and a genuine proof (context of `proof_decode_verify` and
//!   `keys_decode`).
//!
//! When `TK_FUZZ_SEED_DIR` is set, building a context writes its genuine files there (used by
//! `scripts/fuzz_seeds.sh` to seed the corpora with files that match the context).

use std::path::PathBuf;
use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use tk_circuit::keys::{ModelVk, Params};
use tk_circuit::proof_file::ProofFile;
use tk_circuit::{ModelCircuit, PlanOptions, TraceValues};
use tk_quant::ops::{Clip, Gemm, Input, QOp, Requant};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
use tk_trace::{ModelDigest, TraceReader, write_trace};

/// A path inside the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a genuine file to `$TK_FUZZ_SEED_DIR/name` when that variable is set.
fn dump_seed(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("TK_FUZZ_SEED_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create the seed directory");
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    }
}

/// A quantized model with its `.tkq` bytes and one genuine trace.
pub struct TraceContext {
    /// The model.
    pub model: QModel,
    /// Its `.tkq` bytes.
    pub tkq: Vec<u8>,
    /// SHA-256 of [`TraceContext::tkq`].
    pub digest: ModelDigest,
    /// A genuine trace of the model.
    pub trace: Vec<u8>,
}

/// The digits MLP and a trace of its first test sample.
pub fn digits() -> &'static TraceContext {
    static CELL: OnceLock<TraceContext> = OnceLock::new();
    CELL.get_or_init(|| {
        let onnx_path = repo_path("models/digits_mlp.onnx");
        let onnx = std::fs::read(&onnx_path).expect("read models/digits_mlp.onnx");
        let imported = tk_ir::onnx::import_onnx_bytes(&onnx, &Default::default())
            .expect("import the digits MLP");
        let calib = tk_ir::npy::read_npy(&repo_path("models/digits/calib_x_flat.npy"))
            .expect("read the calibration set");
        let mut q = tk_quant::quantize(&imported.graph, &[calib], &Default::default())
            .expect("quantize the digits MLP");
        q.model.source_digest = sha256_hex(&onnx);
        let model = q.model;
        let tkq = tk_quant::file::to_bytes(&model).expect("encode the model");
        let digest = ModelDigest::of_bytes(&tkq);
        let sample = tk_ir::npy::read_npy(&repo_path("models/digits/sample0_flat.npy"))
            .expect("read the sample");
        let inputs = tk_quant::quantize_inputs(&model, &[sample]).expect("quantize the sample");
        let (_, trace) = write_trace(&model, &digest, &inputs, Vec::new()).expect("trace");
        dump_seed("digits_mlp.tkq", &tkq);
        dump_seed("digits_mlp.tkt", &trace);
        TraceContext {
            model,
            tkq,
            digest,
            trace,
        }
    })
}

/// A tiny model with keys and a genuine proof.
pub struct ProofContext {
    /// The model.
    pub model: QModel,
    /// Its `.tkq` bytes.
    pub tkq: Vec<u8>,
    /// Development KZG parameters for the circuit's `k`.
    pub params: Params,
    /// The verifying key.
    pub vk: ModelVk,
    /// The verifying key file.
    pub vk_bytes: Vec<u8>,
    /// The proving key file.
    pub pk_bytes: Vec<u8>,
    /// A genuine proof file.
    pub proof: ProofFile,
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

/// `x [1, 8]` -> Gemm 8 -> 4 (requantized) -> Clip `[0, 127]`.
pub fn tiny_model() -> QModel {
    let weight: Vec<i32> = (0..32).map(|i| (i * 37 % 61) - 30).collect();
    let gemm = Gemm {
        weight: QTensor::new(vec![4, 8], weight).expect("weight shape"),
        bias: vec![100, -200, 300, -400],
        requant: Requant {
            multipliers: vec![1_500_000_000],
            shifts: vec![40],
        },
    };
    QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "tk-fuzz".into(),
        source_digest: String::new(),
        graph: QGraph {
            nodes: vec![
                node(0, "x", QOp::Input(Input {}), vec![], vec![1, 8]),
                node(1, "fc", QOp::Gemm(gemm), vec![0], vec![1, 4]),
                node(
                    2,
                    "relu",
                    QOp::Clip(Clip { lo: 0, hi: 127 }),
                    vec![1],
                    vec![1, 4],
                ),
            ],
            inputs: vec![0],
            outputs: vec![2],
        },
        scales: vec![
            NodeScale {
                node: 0,
                scale: 0.05,
            },
            NodeScale {
                node: 2,
                scale: 0.1,
            },
        ],
    }
}

/// The tiny model's keys and a proof for input `[-128, -50, -1, 0, 1, 50, 100, 127]`.
pub fn tiny() -> &'static ProofContext {
    static CELL: OnceLock<ProofContext> = OnceLock::new();
    CELL.get_or_init(|| {
        let model = tiny_model();
        model.validate().expect("the tiny model is valid");
        let tkq = tk_quant::file::to_bytes(&model).expect("encode the model");
        let digest = ModelDigest::of_bytes(&tkq);
        let options = PlanOptions::default();
        let keygen_circuit = ModelCircuit::for_keygen(&model, &options).expect("lay out");
        let params = tk_circuit::keys::setup_params(keygen_circuit.k(), tk_circuit::keys::DEV_SEED);
        let pk = tk_circuit::keys::keygen(&params, &keygen_circuit).expect("keygen");
        let vk = pk.vk();
        let vk_bytes = vk.to_bytes().expect("encode the vk");
        let pk_bytes = pk.to_bytes().expect("encode the pk");

        let x = QTensor::new(vec![1, 8], vec![-128, -50, -1, 0, 1, 50, 100, 127]).expect("x");
        let (_, trace) = write_trace(&model, &digest, &[x], Vec::new()).expect("trace");
        let reader = TraceReader::new(trace.as_slice()).expect("read the trace");
        let values = TraceValues::read(reader, &model, &digest).expect("trace values");
        let circuit =
            ModelCircuit::new(&model, &values.op_witnesses(&model), &options).expect("circuit");
        let proof =
            tk_circuit::prover::prove(&params, &pk, &circuit, ChaCha20Rng::seed_from_u64(7))
                .expect("prove");
        let proof = ProofFile {
            model_digest: digest.to_hex(),
            vk_digest: sha256_hex(&vk_bytes),
            k: circuit.k(),
            inputs: values.inputs(&model),
            outputs: values.outputs(&model),
            commitments: Vec::new(),
            proof,
        };
        dump_seed("tiny.tkq", &tkq);
        dump_seed("tiny.tkt", &trace);
        dump_seed("tiny.vk", &vk_bytes);
        dump_seed("tiny.pk", &pk_bytes);
        dump_seed("tiny.tkp", &proof.to_bytes().expect("encode the proof"));
        ProofContext {
            model,
            tkq,
            params,
            vk,
            vk_bytes,
            pk_bytes,
            proof,
        }
    })
}

/// Deterministic pseudo-random values in `[lo, hi]` derived from `seed`.
pub fn values(n: usize, lo: i32, hi: i32, seed: u64) -> Vec<i32> {
    let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
    let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (i64::from(lo) + ((s >> 33) % span) as i64) as i32
        })
        .collect()
}

/// If `bytes` looks like a trace whose last frame is a footer ending in its digest string,
/// a copy with that digest recomputed over the bytes before the footer; otherwise `None`.
///
/// Lets mutations of a trace's content reach the footer checks and everything that needs a
/// complete trace, instead of stopping at a stale digest.
pub fn fix_trace_digest(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut off = 12usize;
    let mut last = None;
    while off < bytes.len() {
        let len = u32::from_le_bytes(bytes.get(off..off + 4)?.try_into().ok()?) as usize;
        let end = off.checked_add(4)?.checked_add(len)?;
        if end > bytes.len() {
            return None;
        }
        last = Some((off, end));
        off = end;
    }
    let (start, end) = last?;
    // The footer ends with `d9 40` and 64 hex digits (a str8 of length 64).
    let hex_at = end.checked_sub(64)?;
    if hex_at < start + 6 || bytes.get(hex_at - 2..hex_at)? != [0xd9, 0x40] {
        return None;
    }
    let digest = sha256_hex(&bytes[..start]);
    if bytes[hex_at..end] == *digest.as_bytes() {
        return None;
    }
    let mut fixed = bytes.to_vec();
    fixed[hex_at..end].copy_from_slice(digest.as_bytes());
    Some(fixed)
}
