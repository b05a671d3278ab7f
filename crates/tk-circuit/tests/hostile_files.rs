//! Hostile key, parameter, proof and trace files on the prover's and verifier's paths: every
//! truncation, bit flip, lying header and out-of-range public value ends in a typed error,
//! never a panic or an allocation the file does not pay for; and nothing but the genuine
//! statement verifies.
//!
//! The fixture is a three-node model (input, Gemm with requantization, Clip) with development
//! KZG parameters; the fuzz targets `keys_decode` and `proof_decode_verify` use the same shape.

mod common;

use std::sync::OnceLock;

use halo2_axiom::poly::commitment::Params as _;

use common::encode_trace;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::keys::{ModelPk, ModelVk, Params};
use tk_circuit::proof_file::ProofFile;
use tk_circuit::{CircuitError, CircuitParams, ModelCircuit, PlanOptions, TraceValues};
use tk_quant::ops::{Clip, Gemm, Input, QOp, Requant};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
use tk_trace::{Frame, ModelDigest, TraceReader, write_trace};

struct Fixture {
    model: QModel,
    digest: ModelDigest,
    trace: Vec<u8>,
    params: Params,
    vk: ModelVk,
    vk_bytes: Vec<u8>,
    pk_bytes: Vec<u8>,
    proof: ProofFile,
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

fn model() -> QModel {
    let weight: Vec<i32> = (0..32).map(|i| (i * 37 % 61) - 30).collect();
    let gemm = Gemm {
        weight: QTensor::new(vec![4, 8], weight).unwrap(),
        bias: vec![100, -200, 300, -400],
        requant: Requant {
            multipliers: vec![1_500_000_000],
            shifts: vec![40],
            clamp: None,
        },
    };
    QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "hostile files test".into(),
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

fn fixture() -> &'static Fixture {
    static CELL: OnceLock<Fixture> = OnceLock::new();
    CELL.get_or_init(|| {
        let model = model();
        let tkq = tk_quant::file::to_bytes(&model).unwrap();
        let digest = ModelDigest::of_bytes(&tkq);
        let options = PlanOptions::default();
        let keygen_circuit = ModelCircuit::for_keygen(&model, &options).unwrap();
        let params = tk_circuit::keys::setup_params(keygen_circuit.k(), 5);
        let pk = tk_circuit::keys::keygen(&params, &keygen_circuit).unwrap();
        let vk = pk.vk();
        let x = QTensor::new(vec![1, 8], vec![-128, -50, -1, 0, 1, 50, 100, 127]).unwrap();
        let (_, trace) = write_trace(&model, &digest, &[x], Vec::new()).unwrap();
        let values =
            TraceValues::read(TraceReader::new(trace.as_slice()).unwrap(), &model, &digest)
                .unwrap();
        let circuit = ModelCircuit::new(&model, &values.op_witnesses(&model), &options).unwrap();
        let proof =
            tk_circuit::prover::prove(&params, &pk, &circuit, ChaCha20Rng::seed_from_u64(1))
                .unwrap();
        let proof = ProofFile {
            model_digest: digest.to_hex(),
            vk_digest: ModelDigest::of_bytes(&vk.to_bytes().unwrap()).to_hex(),
            k: circuit.k(),
            inputs: values.inputs(&model),
            outputs: values.outputs(&model),
            commitments: Vec::new(),
            proof,
        };
        Fixture {
            vk_bytes: vk.to_bytes().unwrap(),
            pk_bytes: pk.to_bytes().unwrap(),
            model,
            digest,
            trace,
            params,
            vk,
            proof,
        }
    })
}

/// Decodes, checks public values and verifies a proof file with the fixture's key.
fn verify_file(bytes: &[u8]) -> Result<ProofFile, CircuitError> {
    let f = fixture();
    let file = ProofFile::from_bytes(bytes)?;
    let instance = tk_circuit::public_instance(&f.model, &file.inputs, &file.outputs)?;
    tk_circuit::prover::verify(&f.params, &f.vk, &instance, &file.proof)?;
    Ok(file)
}

/// Offsets to cut or flip at: every one up to 256, then about 300 spread over the rest.
fn sample_offsets(len: usize) -> Vec<usize> {
    let step = (len / 300).max(1);
    (0..len.min(256))
        .chain((256..len).step_by(step))
        .chain(len.saturating_sub(3)..len)
        .collect()
}

#[test]
fn the_genuine_proof_verifies() {
    let f = fixture();
    let file = verify_file(&f.proof.to_bytes().unwrap()).unwrap();
    assert_eq!(file, f.proof);
    ModelVk::from_bytes(&f.vk_bytes).unwrap();
    ModelPk::from_bytes(&f.pk_bytes).unwrap();
}

#[test]
fn truncated_verifying_keys_are_errors() {
    let f = fixture();
    for cut in 0..f.vk_bytes.len() {
        assert!(
            ModelVk::from_bytes(&f.vk_bytes[..cut]).is_err(),
            "vk prefix of {cut} bytes accepted"
        );
    }
    let mut long = f.vk_bytes.clone();
    long.push(0);
    assert!(ModelVk::from_bytes(&long).is_err());
}

#[test]
fn flipped_verifying_keys_never_verify_the_proof() {
    let f = fixture();
    let instance =
        tk_circuit::public_instance(&f.model, &f.proof.inputs, &f.proof.outputs).unwrap();
    for i in 0..f.vk_bytes.len() {
        let mut b = f.vk_bytes.clone();
        b[i] ^= 1 << (i % 8);
        if let Ok(vk) = ModelVk::from_bytes(&b) {
            assert!(
                tk_circuit::prover::verify(&f.params, &vk, &instance, &f.proof.proof).is_err(),
                "vk with byte {i} flipped verifies the proof"
            );
        }
    }
}

#[test]
fn truncated_and_flipped_proving_keys_are_errors() {
    let f = fixture();
    for cut in sample_offsets(f.pk_bytes.len()) {
        assert!(
            ModelPk::from_bytes(&f.pk_bytes[..cut]).is_err(),
            "pk prefix of {cut} bytes accepted"
        );
    }
    let mut long = f.pk_bytes.clone();
    long.push(0);
    assert!(
        ModelPk::from_bytes(&long).is_err(),
        "pk with a trailing byte accepted"
    );
    for i in sample_offsets(f.pk_bytes.len()) {
        let mut b = f.pk_bytes.clone();
        b[i] ^= 0x80 >> (i % 8);
        // Decoding may succeed (a flipped coefficient is still a field element); it must not
        // panic.
        let _ = ModelPk::from_bytes(&b);
    }
}

/// A key file: `magic`, version 1, the parameter block, then `rest`.
fn key_file(magic: &[u8; 4], circuit: &CircuitParams, rest: &[u8]) -> Vec<u8> {
    let block = rmp_serde::to_vec(circuit).unwrap();
    let mut out = magic.to_vec();
    out.push(1);
    out.extend((block.len() as u32).to_le_bytes());
    out.extend(block);
    out.extend(rest);
    out
}

/// The halo2 part of the fixture's verifying key (after the parameter block).
fn halo2_vk() -> Vec<u8> {
    let f = fixture();
    let len = u32::from_le_bytes(f.vk_bytes[5..9].try_into().unwrap()) as usize;
    f.vk_bytes[9 + len..].to_vec()
}

/// A named edit of a key header's circuit parameters.
type ParamsEdit = (&'static str, Box<dyn Fn(&mut CircuitParams)>);

#[test]
fn key_headers_with_hostile_parameters_are_errors() {
    let f = fixture();
    let good = f.vk.circuit.clone();
    let vk_rest = halo2_vk();
    assert!(ModelVk::from_bytes(&key_file(b"TKVK", &good, &vk_rest)).is_ok());
    let hostile: Vec<ParamsEdit> = vec![
        ("k = 0", Box::new(|c| c.k = 0)),
        ("k = 27", Box::new(|c| c.k = 27)),
        ("k = u32::MAX", Box::new(|c| c.k = u32::MAX)),
        ("no columns", Box::new(|c| c.width = 0)),
        ("huge width", Box::new(|c| c.width = usize::MAX)),
        ("huge lanes", Box::new(|c| c.lanes = usize::MAX)),
        ("range bits 0", Box::new(|c| c.range_bits = 0)),
        ("range bits 64", Box::new(|c| c.range_bits = 64)),
        ("lut slots overflow", Box::new(|c| c.lut_slots = usize::MAX)),
        (
            "lut slots half",
            Box::new(|c| c.lut_slots = usize::MAX / 2 + 1),
        ),
        ("huge instance", Box::new(|c| c.instance_len = usize::MAX)),
    ];
    for (what, edit) in &hostile {
        let mut c = good.clone();
        edit(&mut c);
        for magic in [b"TKVK", b"TKPK"] {
            let bytes = key_file(magic, &c, &vk_rest);
            let result = if magic == b"TKVK" {
                ModelVk::from_bytes(&bytes).map(|_| ())
            } else {
                ModelPk::from_bytes(&bytes).map(|_| ())
            };
            assert!(result.is_err(), "{what} accepted in a {magic:?} file");
        }
    }
    // Another valid shape than the one the halo2 key was made for.
    let mut c = good.clone();
    c.k += 1;
    assert!(
        ModelVk::from_bytes(&key_file(b"TKVK", &c, &vk_rest)).is_err(),
        "k mismatch"
    );
    // A block length beyond the file or beyond the limit.
    let mut b = f.vk_bytes.clone();
    b[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(ModelVk::from_bytes(&b).is_err());
    let mut b = f.vk_bytes.clone();
    b[5..9].copy_from_slice(&((1u32 << 16) - 1).to_le_bytes());
    assert!(ModelVk::from_bytes(&b).is_err());
    // Unknown magic and versions.
    let mut b = f.vk_bytes.clone();
    b[4] = 2;
    assert!(ModelVk::from_bytes(&b).is_err());
    assert!(
        ModelPk::from_bytes(&f.vk_bytes).is_err(),
        "a vk read as a pk"
    );
    assert!(
        ModelVk::from_bytes(&f.pk_bytes).is_err(),
        "a pk read as a vk"
    );
}

#[test]
fn halo2_key_headers_that_lie_about_their_size_are_errors() {
    let f = fixture();
    let good = f.vk.circuit.clone();
    let vk_rest = halo2_vk();
    assert_eq!(vk_rest[0], 0x02, "halo2 key version byte");
    // halo2's own `k` (bytes 1..5): huge values would overflow its domain arithmetic, others
    // disagree with the parameter block.
    for k in [0u32, 3, good.k + 1, 28, 29, 40, 63, 64, 200, u32::MAX] {
        let mut rest = vk_rest.clone();
        rest[1..5].copy_from_slice(&k.to_le_bytes());
        let vk = key_file(b"TKVK", &good, &rest);
        assert!(ModelVk::from_bytes(&vk).is_err(), "halo2 k = {k} accepted");
        let mut pk = f.pk_bytes.clone();
        let block = u32::from_le_bytes(pk[5..9].try_into().unwrap()) as usize;
        pk[9 + block + 1..9 + block + 5].copy_from_slice(&k.to_le_bytes());
        assert!(
            ModelPk::from_bytes(&pk).is_err(),
            "pk with halo2 k = {k} accepted"
        );
    }
    // The largest valid `k` with compressed selectors in a tiny file: refused before the
    // selector bitmaps (2^26 bits each) are allocated.
    let mut big = good.clone();
    big.k = 26;
    let mut rest = vk_rest.clone();
    rest[1..5].copy_from_slice(&26u32.to_le_bytes());
    rest[5] = 1;
    let start = std::time::Instant::now();
    assert!(ModelVk::from_bytes(&key_file(b"TKVK", &big, &rest)).is_err());
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // A column count of 2^32 - 1 in a small file.
    let mut rest = vk_rest.clone();
    rest[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(ModelVk::from_bytes(&key_file(b"TKVK", &good, &rest)).is_err());
}

#[test]
fn proving_key_polynomials_that_lie_about_their_length_are_errors() {
    let f = fixture();
    // The pk is the parameter block, halo2's verifying key (uncompressed points), then the
    // polynomials, each a big-endian u32 length (2^k) and its coefficients.
    let block = u32::from_le_bytes(f.pk_bytes[5..9].try_into().unwrap()) as usize;
    let halo2_vk = f.vk.vk.to_bytes(halo2_axiom::SerdeFormat::RawBytes).len();
    let first = 9 + block + halo2_vk;
    let n = 1u32 << f.vk.circuit.k;
    assert_eq!(
        f.pk_bytes[first..first + 4],
        n.to_be_bytes(),
        "first polynomial"
    );
    for len in [0u32, n - 1, n + 1, 1 << 27, u32::MAX] {
        let mut b = f.pk_bytes.clone();
        b[first..first + 4].copy_from_slice(&len.to_be_bytes());
        assert!(
            ModelPk::from_bytes(&b).is_err(),
            "polynomial length {len} accepted"
        );
    }
    // A coefficient that is not a canonical field element (all ones is above the modulus).
    let mut b = f.pk_bytes.clone();
    b[first + 4..first + 36].fill(0xff);
    assert!(
        ModelPk::from_bytes(&b).is_err(),
        "non-canonical coefficient accepted"
    );
}

#[test]
fn truncated_and_flipped_proof_files_never_verify_another_statement() {
    let f = fixture();
    let bytes = f.proof.to_bytes().unwrap();
    for cut in 0..bytes.len() {
        assert!(
            verify_file(&bytes[..cut]).is_err(),
            "prefix of {cut} bytes verifies"
        );
    }
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 1 << (i % 8);
        if let Ok(file) = verify_file(&b) {
            // Only the digests and `k` are labels outside the proof (`tk verify` compares the
            // digests with its keys); everything the proof attests must be unchanged.
            let same = (&file.inputs, &file.outputs, &file.proof)
                == (&f.proof.inputs, &f.proof.outputs, &f.proof.proof);
            let at = bytes.windows(4).position(|w| w == b"TKPF").unwrap();
            assert!(
                same,
                "file byte {i} (proof byte {}) flipped verifies",
                i as isize - at as isize
            );
        }
    }
}

#[test]
fn deeply_nested_values_are_errors() {
    // An unknown key whose value nests arrays 60 000 deep: the decoder skips unknown values
    // without a type to stop it, so only a depth limit keeps the stack.
    let mut nested = vec![0x81, 0xa7];
    nested.extend(b"unknown");
    nested.extend(vec![0x91; 60_000]);
    let mut proof = b"TKPROOF\0".to_vec();
    proof.extend(1u32.to_le_bytes());
    proof.extend(&nested);
    assert!(ProofFile::from_bytes(&proof).is_err());
    let mut key = b"TKVK\x01".to_vec();
    key.extend((nested.len() as u32).to_le_bytes());
    key.extend(&nested);
    assert!(ModelVk::from_bytes(&key).is_err());
}

#[test]
fn proof_bytes_are_not_malleable() {
    let f = fixture();
    let instance =
        tk_circuit::public_instance(&f.model, &f.proof.inputs, &f.proof.outputs).unwrap();
    let verify = |proof: &[u8]| tk_circuit::prover::verify(&f.params, &f.vk, &instance, proof);
    verify(&f.proof.proof).unwrap();
    for extra in [&[0u8][..], &[0; 32], &f.proof.proof[5..]] {
        let mut p = f.proof.proof.clone();
        p.extend_from_slice(extra);
        assert!(
            verify(&p).is_err(),
            "proof with {} trailing bytes verifies",
            extra.len()
        );
    }
    for bad in [&b""[..], b"TKPF", b"TKPF\x02", b"XXXX\x01"] {
        assert!(matches!(verify(bad), Err(CircuitError::Malformed { .. })));
    }
    // The first commitment with the identity flag (top bit of its last byte) set: the same
    // point to halo2curves, but not its canonical encoding.
    let mut p = f.proof.proof.clone();
    p[5 + 31] |= 0x80;
    assert_ne!(p, f.proof.proof);
    assert!(verify(&p).is_err(), "non-canonical point encoding verifies");
    for i in (0..f.proof.proof.len()).step_by(3) {
        let mut p = f.proof.proof.clone();
        p[i] ^= 1 << (i % 8);
        assert!(verify(&p).is_err(), "proof byte {i} flipped verifies");
    }
}

#[test]
fn public_values_are_range_checked_and_bound() {
    let f = fixture();
    let (x, y) = (&f.proof.inputs, &f.proof.outputs);
    let public = |x: &[QTensor], y: &[QTensor]| tk_circuit::public_instance(&f.model, x, y);
    // Outside the 8-bit range: refused before verification (a field element `v + p` would
    // otherwise alias `v`).
    for v in [128, -129, i32::MAX, i32::MIN] {
        let mut bad = x.clone();
        bad[0].data[0] = v;
        assert!(
            matches!(public(&bad, y), Err(CircuitError::InvalidPublic(_))),
            "input {v}"
        );
        let mut bad = y.clone();
        bad[0].data[0] = v;
        assert!(
            matches!(public(x, &bad), Err(CircuitError::InvalidPublic(_))),
            "output {v}"
        );
    }
    // Wrong shapes and counts.
    let mut bad = x.clone();
    bad[0] = QTensor::new(vec![8], bad[0].data.clone()).unwrap();
    assert!(public(&bad, y).is_err());
    assert!(public(&[], y).is_err());
    assert!(public(x, &[y[0].clone(), y[0].clone()]).is_err());
    // Every in-range change of an input or an output makes the proof fail.
    for i in 0..8 {
        let mut other = x.clone();
        other[0].data[i] = if other[0].data[i] == 0 { 1 } else { 0 };
        let instance = public(&other, y).unwrap();
        assert!(tk_circuit::prover::verify(&f.params, &f.vk, &instance, &f.proof.proof).is_err());
    }
    for i in 0..4 {
        let mut other = y.clone();
        other[0].data[i] = if other[0].data[i] == 0 { 1 } else { 0 };
        let instance = public(x, &other).unwrap();
        assert!(tk_circuit::prover::verify(&f.params, &f.vk, &instance, &f.proof.proof).is_err());
    }
    // An instance of the wrong length is refused by `verify` itself.
    let mut instance = public(x, y).unwrap();
    instance.pop();
    assert!(matches!(
        tk_circuit::prover::verify(&f.params, &f.vk, &instance, &f.proof.proof),
        Err(CircuitError::InvalidPublic(_))
    ));
}

#[test]
fn malformed_parameter_files_are_errors() {
    let f = fixture();
    let dir = std::env::temp_dir().join(format!("tk-circuit-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("params.srs");
    let mut good = Vec::new();
    f.params.write(&mut good).unwrap();
    let k = f.vk.circuit.k;
    let load = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        tk_circuit::keys::load_params_file(&path, k)
    };
    load(&good).unwrap();
    for cut in sample_offsets(good.len()) {
        assert!(
            load(&good[..cut]).is_err(),
            "parameters cut at {cut} accepted"
        );
    }
    let mut long = good.clone();
    long.push(0);
    assert!(
        load(&long).is_err(),
        "parameters with a trailing byte accepted"
    );
    for bad_k in [0u32, 40, 64, u32::MAX] {
        let mut b = good.clone();
        b[..4].copy_from_slice(&bad_k.to_le_bytes());
        assert!(
            load(&b).is_err(),
            "parameters claiming k = {bad_k} accepted"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Record `k` of decoded frames (`frames[0]` is the input frame).
fn record(frames: &mut [Frame], k: usize) -> &mut tk_trace::Record {
    match &mut frames[1 + k] {
        Frame::Record(r) => r,
        Frame::Input(_) => panic!("frame {} is not a record", 1 + k),
    }
}

/// The prover's path: trace values, then the circuit (which checks them against the spec).
fn prover_path(bytes: &[u8]) -> Result<ModelCircuit, CircuitError> {
    let f = fixture();
    let reader = TraceReader::new(bytes)?;
    let values = TraceValues::read(reader, &f.model, &f.digest)?;
    ModelCircuit::new(
        &f.model,
        &values.op_witnesses(&f.model),
        &PlanOptions::default(),
    )
}

#[test]
fn hostile_traces_are_refused_on_the_prover_path() {
    let f = fixture();
    prover_path(&f.trace).unwrap();
    let mut reader = TraceReader::new(f.trace.as_slice()).unwrap();
    let frames: Vec<Frame> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    let header = reader.header().clone();
    let edit = |change: &dyn Fn(&mut tk_trace::Header, &mut Vec<Frame>)| {
        let (mut h, mut fr) = (header.clone(), frames.clone());
        change(&mut h, &mut fr);
        prover_path(&encode_trace(&h, &fr))
    };
    // Another model's digest.
    let e = edit(&|h, _| h.model_digest = "ab".repeat(32)).unwrap_err();
    assert!(matches!(e, CircuitError::TraceMismatch(_)), "{e}");
    // A record dropped, and the last record missing.
    let e = edit(&|_, fr| {
        fr.pop();
    })
    .unwrap_err();
    assert!(matches!(e, CircuitError::TraceMismatch(_)), "{e}");
    // A record wired to the wrong producer (the model input instead of record 0).
    let e = edit(&|_, fr| record(fr, 1).inputs = vec![tk_trace::InputRef::Input(0)]);
    assert!(e.is_err());
    // A wrong value, a wrong shape, a value outside the range.
    let e = edit(&|_, fr| {
        let r = record(fr, 1);
        r.output.data[0] = r.output.data[0].wrapping_add(1);
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            CircuitError::WitnessMismatch { .. } | CircuitError::InvalidWitness { .. }
        ),
        "{e}"
    );
    let e = edit(&|_, fr| record(fr, 0).output.shape = vec![4, 1]).unwrap_err();
    assert!(matches!(e, CircuitError::InvalidWitness { .. }), "{e}");
    let e = edit(&|_, fr| {
        let r = record(fr, 0);
        r.output.shape = vec![2];
        r.output.data.truncate(2);
    })
    .unwrap_err();
    assert!(matches!(e, CircuitError::InvalidWitness { .. }), "{e}");
    // The same record twice (renumbered).
    let e = edit(&|_, fr| {
        let copy = fr[1].clone();
        fr.insert(2, copy);
        for (k, frame) in fr.iter_mut().skip(1).enumerate() {
            if let Frame::Record(r) = frame {
                r.index = k as u64;
            }
        }
    })
    .unwrap_err();
    assert!(
        matches!(e, CircuitError::TraceMismatch(_) | CircuitError::Trace(_)),
        "{e}"
    );
}
