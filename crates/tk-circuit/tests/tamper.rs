//! Tampering with what a prover hands over, on the digits MLP (`models/digits_mlp.onnx`,
//! quantized like `tk quantize` does): every recorded value of a trace, the trace's
//! parameters, the weights and requantization constants of the `.tkq` after setup, and the
//! bytes of a proof file. Each tampered artefact must be refused by the trace checker, by the
//! prover (`TraceValues::read` + `ModelCircuit::new`, what `tk prove` runs), by the circuit
//! itself (`MockProver` on the unchecked witness, what a prover that skips the checks gets) or
//! by the verifier (the steps `tk verify` runs).

mod common;

use std::path::Path;
use std::sync::OnceLock;

use halo2_axiom::poly::commitment::Params as _;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::keys::{ModelPk, ModelVk};
use tk_circuit::prelude::*;
use tk_circuit::proof_file::ProofFile;
use tk_circuit::{CircuitError, TraceValues};
use tk_quant::ops::QOp;
use tk_quant::{QModel, QTensor, QuantOptions};
use tk_trace::{Frame, Header, ModelDigest, TraceReader, TraceTensor};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The digits MLP quantized with its calibration set, the trace of sample 0, keys and an
/// honest proof file.
struct Fixture {
    model: QModel,
    digest: ModelDigest,
    inputs: Vec<QTensor>,
    trace: Vec<u8>,
    params: Params,
    pk: ModelPk,
    vk: ModelVk,
    vk_digest: String,
    proof_file: Vec<u8>,
}

fn quantize(options: &QuantOptions) -> QModel {
    let graph = tk_ir::onnx::import_onnx(&repo("models/digits_mlp.onnx"), &Default::default())
        .unwrap()
        .graph;
    let calib = tk_ir::npy::read_npy(&repo("models/digits/calib_x_flat.npy")).unwrap();
    tk_quant::quantize(&graph, &[calib], options).unwrap().model
}

fn sample0(model: &QModel) -> Vec<QTensor> {
    let x = tk_ir::npy::read_npy(&repo("models/digits/sample0_flat.npy")).unwrap();
    let shape = model.graph.nodes[model.graph.inputs[0]].shape.clone();
    let x = match x {
        tk_ir::Tensor::F32(a) => tk_ir::Tensor::F32(a.into_shape_with_order(shape).unwrap()),
        other => panic!("sample dtype {:?}", other.dtype()),
    };
    tk_quant::quantize_inputs(model, &[x]).unwrap()
}

fn trace_of(model: &QModel, digest: &ModelDigest, inputs: &[QTensor]) -> Vec<u8> {
    tk_trace::write_trace(model, digest, inputs, Vec::new())
        .unwrap()
        .1
}

/// Keys for `model`.
fn keys(model: &QModel) -> (Params, ModelPk) {
    let c = ModelCircuit::for_keygen(model, &PlanOptions::default()).unwrap();
    let params = setup_params(c.k(), 5);
    let pk = keygen(&params, &c).unwrap();
    (params, pk)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let model = quantize(&QuantOptions::default());
        let tkq = tk_quant::file::to_bytes(&model).unwrap();
        let digest = ModelDigest::of_bytes(&tkq);
        let inputs = sample0(&model);
        let trace = trace_of(&model, &digest, &inputs);
        let (params, pk) = keys(&model);
        let vk = pk.vk();
        let vk_digest = ModelDigest::of_bytes(&vk.to_bytes().unwrap()).to_hex();
        let values = read(&model, &digest, &trace).unwrap();
        let c =
            ModelCircuit::new(&model, &values.op_witnesses(&model), &Default::default()).unwrap();
        let proof = prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(9)).unwrap();
        let proof_file = ProofFile {
            model_digest: digest.to_hex(),
            vk_digest: vk_digest.clone(),
            k: c.k(),
            inputs: values.inputs(&model),
            outputs: values.outputs(&model),
            commitments: Vec::new(),
            proof,
        }
        .to_bytes()
        .unwrap();
        Fixture {
            model,
            digest,
            inputs,
            trace,
            params,
            pk,
            vk,
            vk_digest,
            proof_file,
        }
    })
}

fn read(model: &QModel, digest: &ModelDigest, trace: &[u8]) -> Result<TraceValues, CircuitError> {
    TraceValues::read(TraceReader::new(trace)?, model, digest)
}

// ---------------------------------------------------------------------------------------
// Trace surgery: decode every frame, change one thing, re-encode with a valid footer, so that
// only semantic checks can reject the result.

struct Decoded {
    header: Header,
    frames: Vec<Frame>,
}

fn decode(trace: &[u8]) -> Decoded {
    let mut reader = TraceReader::new(trace).unwrap();
    let frames = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
    Decoded {
        header: reader.header().clone(),
        frames,
    }
}

fn encode(d: &Decoded) -> Vec<u8> {
    common::encode_trace(&d.header, &d.frames)
}

/// Every tensor of a trace (input frames, then record outputs), by frame position.
fn tensors(d: &mut Decoded) -> Vec<(String, &mut TraceTensor, u8)> {
    let bits: Vec<u8> = d.header.graph.nodes.iter().map(|n| n.bits).collect();
    d.frames
        .iter_mut()
        .map(|f| match f {
            Frame::Input(i) => (
                format!("input {}", i.input),
                &mut i.tensor,
                bits[i.node as usize],
            ),
            Frame::Record(r) => (format!("record {}", r.index), &mut r.output, r.meta.bits),
        })
        .collect()
}

/// Adds one to element `e` of `t` (minus one at the top of its range), keeping it in range.
fn bump(t: &mut TraceTensor, e: usize, bits: u8) {
    let mut q = t.to_qtensor().unwrap();
    let hi = (1i32 << (bits - 1)) - 1;
    q.data[e] = if q.data[e] == hi {
        hi - 1
    } else {
        q.data[e] + 1
    };
    *t = TraceTensor::encode(&q, t.dtype).unwrap();
}

/// The checker and the prover's checks refuse a tampered trace of `model`, and the circuit
/// built from it without checks is unsatisfied when the tampered value has cells (`in_circuit`;
/// a producer folded into its Clip has none: its output is checked by the prover against the
/// trace but is not part of the proven statement).
fn assert_refused(
    model: &QModel,
    digest: &ModelDigest,
    trace: &[u8],
    what: &str,
    in_circuit: bool,
) {
    assert!(
        tk_trace::check(TraceReader::new(trace).unwrap(), model, digest).is_err(),
        "{what}: the checker accepts the trace"
    );
    let values = read(model, digest, trace).unwrap_or_else(|e| panic!("{what}: {e}"));
    let witnesses = values.op_witnesses(model);
    let err = ModelCircuit::new(model, &witnesses, &PlanOptions::default());
    assert!(
        matches!(err, Err(CircuitError::WitnessMismatch { .. })),
        "{what}: the prover does not refuse: {err:?}"
    );
    if in_circuit {
        let c = ModelCircuit::new_unchecked(model, &witnesses, &PlanOptions::default()).unwrap();
        let verdict = c.mock_prover().unwrap().verify();
        assert!(verdict.is_err(), "{what}: the circuit accepts the witness");
    }
}

/// The model inputs a trace records.
fn recorded_inputs(d: &Decoded) -> Vec<QTensor> {
    d.frames
        .iter()
        .filter_map(|f| match f {
            Frame::Input(i) => Some(i.tensor.to_qtensor().unwrap()),
            Frame::Record(_) => None,
        })
        .collect()
}

/// Changing any one value of the trace (a model input, or an element of any record's output)
/// gives a trace that is refused, unless it is the honest trace of the changed input (an
/// input element whose weights are all zero changes nothing downstream).
#[test]
fn every_recorded_value_is_bound() {
    let f = fixture();
    assert_every_value_bound(&f.model, &f.digest, &f.trace, false);
}

/// The same with the Relus kept as Clips (`fuse_clamps: false`), which the circuit folds into
/// the Gemms' requant slots.
#[test]
fn every_recorded_value_of_an_unfused_model_is_bound() {
    let model = quantize(&QuantOptions {
        fuse_clamps: false,
        ..Default::default()
    });
    let digest = ModelDigest::of_bytes(&tk_quant::file::to_bytes(&model).unwrap());
    let trace = trace_of(&model, &digest, &sample0(&model));
    assert_every_value_bound(&model, &digest, &trace, true);
}

/// Tampers with every value of `honest_trace` in turn (see
/// [`every_recorded_value_is_bound`]); `folds`: whether the circuit folds Clips of `model`
/// into their producers (whose records then have no cells).
fn assert_every_value_bound(
    model: &QModel,
    digest: &ModelDigest,
    honest_trace: &[u8],
    folds: bool,
) {
    let honest = decode(honest_trace);
    assert_eq!(encode(&honest), honest_trace, "re-encoding is exact");
    let (mut count, mut still_honest) = (0, 0);
    let shapes: Vec<(String, usize)> = {
        let mut d = decode(honest_trace);
        tensors(&mut d)
            .into_iter()
            .map(|(n, t, _)| (n, t.to_qtensor().unwrap().data.len()))
            .collect()
    };
    // Records of producers folded into their Clip: no cells (see `Fold`).
    let folded: std::collections::BTreeSet<String> = {
        let values = read(model, digest, honest_trace).unwrap();
        let c = ModelCircuit::new(model, &values.op_witnesses(model), &Default::default()).unwrap();
        let nodes: Vec<u64> = c
            .ops()
            .iter()
            .filter(|o| o.fold.is_some())
            .map(|o| o.node as u64)
            .collect();
        honest
            .frames
            .iter()
            .filter_map(|fr| match fr {
                Frame::Record(r) if nodes.contains(&r.node) => Some(format!("record {}", r.index)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        !folded.is_empty(),
        folds,
        "the MLP's Gemm+Relu pairs are folded exactly when the Relus are Clips"
    );
    if !folds {
        assert!(
            model
                .graph
                .nodes
                .iter()
                .any(|n| n.op.fused_clamp().is_some()),
            "the Relus are fused"
        );
    }
    for (k, (name, len)) in shapes.iter().enumerate() {
        for e in 0..*len {
            let mut d = Decoded {
                header: honest.header.clone(),
                frames: honest.frames.clone(),
            };
            {
                let mut ts = tensors(&mut d);
                let (_, t, bits) = &mut ts[k];
                bump(t, e, *bits);
            }
            let what = format!("{name} element {e}");
            let trace = encode(&d);
            if name.starts_with("input") && trace == trace_of(model, digest, &recorded_inputs(&d)) {
                // Another correct execution: accepted, and proven with the changed input.
                let values = read(model, digest, &trace).unwrap();
                ModelCircuit::new(model, &values.op_witnesses(model), &Default::default())
                    .unwrap_or_else(|e| panic!("{what}: an honest trace is refused: {e}"));
                still_honest += 1;
                continue;
            }
            assert_refused(model, digest, &trace, &what, !folded.contains(name));
            count += 1;
        }
    }
    eprintln!("{count} single-value tamperings refused, {still_honest} were honest traces");
    // Every value was changed once: the digits MLP has 64 inputs, 32 hidden values (64 when
    // the Relu is a Clip) and 10 outputs.
    let values: usize = shapes.iter().map(|(_, len)| len).sum();
    assert_eq!(count + still_honest, values);
    assert!(values >= 106, "{values} values");
    assert!(still_honest < 32, "{still_honest} input changes are honest");
}

/// An in-place change of a `T`.
type Tweak<T> = Box<dyn Fn(&mut T)>;

#[test]
fn recorded_parameters_must_be_the_models() {
    let f = fixture();
    let honest = decode(&f.trace);
    let mut variants: Vec<(String, Decoded)> = Vec::new();
    for (i, frame) in honest.frames.iter().enumerate() {
        let Frame::Record(r) = frame else { continue };
        let mut tweaks: Vec<(&str, Tweak<tk_trace::Params>)> = Vec::new();
        if r.params.multipliers.is_some() {
            tweaks.push((
                "multiplier",
                Box::new(|p| p.multipliers.as_mut().unwrap()[0] += 1),
            ));
            tweaks.push(("shift", Box::new(|p| p.shifts.as_mut().unwrap()[0] += 1)));
        }
        if r.params.lo.is_some() {
            tweaks.push(("clip lo", Box::new(|p| *p.lo.as_mut().unwrap() += 1)));
        }
        for (name, tweak) in tweaks {
            // In the record only, and in the record and the header's node together.
            let mut d = Decoded {
                header: honest.header.clone(),
                frames: honest.frames.clone(),
            };
            let Frame::Record(r) = &mut d.frames[i] else {
                unreachable!()
            };
            tweak(&mut r.params);
            let node = r.node as usize;
            variants.push((format!("record {} {name}", r.index), d));
            let mut d = Decoded {
                header: honest.header.clone(),
                frames: honest.frames.clone(),
            };
            let Frame::Record(r) = &mut d.frames[i] else {
                unreachable!()
            };
            tweak(&mut r.params);
            tweak(&mut d.header.graph.nodes[node].params);
            variants.push((format!("record {} and header {name}", r.index), d));
        }
    }
    assert!(variants.len() >= 6);
    for (what, d) in &variants {
        let trace = encode(d);
        assert!(
            tk_trace::check(
                TraceReader::new(trace.as_slice()).unwrap(),
                &f.model,
                &f.digest
            )
            .is_err(),
            "{what}: the checker accepts the trace"
        );
        let err = read(&f.model, &f.digest, &trace).map(|_| ());
        assert!(
            matches!(err, Err(CircuitError::TraceMismatch(_))),
            "{what}: the prover does not refuse the trace: {err:?}"
        );
    }
}

/// New `.tkq` models, each with one weight, bias or requantization constant of a Gemm of
/// `model` changed, so that the execution on `values` changes: the weight multiplies a non-zero
/// activation and stays non-zero (zero weights take no cell, changing one would change the
/// circuit's shape).
fn tampered_models(model: &QModel, values: &TraceValues) -> Vec<(String, QModel)> {
    let mut out = Vec::new();
    for node in &model.graph.nodes {
        let QOp::Gemm(g) = &node.op else { continue };
        let x = values.value(node.inputs[0]).unwrap();
        let k = g.weight.shape[1];
        let at = (0..k)
            .find(|&i| x.data[i] != 0 && g.weight.data[i] != 0)
            .expect("a live weight in row 0");
        let w = g.weight.data[at];
        let w2 = if w == -1 {
            -2
        } else if w > 0 && w < 127 {
            w + 1
        } else {
            w - 1
        };
        let mut edits: Vec<(&str, Tweak<tk_quant::ops::Gemm>)> = vec![
            ("weight", Box::new(move |g| g.weight.data[at] = w2)),
            ("bias", Box::new(|g| g.bias[0] += 1000)),
            (
                "multiplier",
                Box::new(|g| g.requant.multipliers[0] += 1 << 20),
            ),
            ("shift", Box::new(|g| g.requant.shifts[0] -= 1)),
        ];
        for (what, edit) in edits.drain(..) {
            let mut m = model.clone();
            let QOp::Gemm(g) = &mut m.graph.nodes[node.id].op else {
                unreachable!()
            };
            edit(g);
            out.push((format!("{} {what}", node.name), m));
        }
    }
    out
}

/// The `.tkq` changed after setup: `tk prove` refuses (the trace and the keys name the
/// original model), and a prover that traces the changed model and proves it with the
/// original keys gets a proof the original verifying key rejects.
#[test]
fn model_changed_after_setup_is_refused() {
    let f = fixture();
    let values = read(&f.model, &f.digest, &f.trace).unwrap();
    let variants = tampered_models(&f.model, &values);
    assert_eq!(variants.len(), 8, "two Gemm layers, four edits each");
    for (what, m) in &variants {
        let tkq = tk_quant::file::to_bytes(m).unwrap();
        let digest = ModelDigest::of_bytes(&tkq);
        assert_ne!(digest, f.digest);
        // The honest trace no longer matches the model file.
        assert!(
            matches!(
                read(m, &digest, &f.trace),
                Err(CircuitError::TraceMismatch(_))
            ),
            "{what}: trace of the original model accepted"
        );
        // A trace of the changed model, proven with the original keys.
        let trace = trace_of(m, &digest, &f.inputs);
        let values = read(m, &digest, &trace).unwrap();
        let c = ModelCircuit::new(m, &values.op_witnesses(m), &PlanOptions::default()).unwrap();
        assert_eq!(c.params(), &f.pk.circuit, "{what}: same circuit shape");
        let proof = prove(&f.params, &f.pk, &c, ChaCha20Rng::seed_from_u64(3)).unwrap();
        let public = public_instance(m, &values.inputs(m), &values.outputs(m)).unwrap();
        assert!(
            verify(&f.params, &f.vk, &public, &proof).is_err(),
            "{what}: a proof of the changed model verifies under the original key"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Proof files.

/// What `tk verify` checks, given the keys directory's model digest and verifying key.
fn verifies(f: &Fixture, bytes: &[u8]) -> Result<(), String> {
    let p = ProofFile::from_bytes(bytes).map_err(|e| e.to_string())?;
    if p.vk_digest != f.vk_digest {
        return Err("another verifying key".into());
    }
    if p.model_digest != f.digest.to_hex() {
        return Err("another model".into());
    }
    if p.k != f.vk.circuit.k {
        return Err(format!("k = {}", p.k));
    }
    let instance = public_instance(&f.model, &p.inputs, &p.outputs).map_err(|e| e.to_string())?;
    verify(&f.params, &f.vk, &instance, &p.proof).map_err(|e| e.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| {
            panic!(
                "{:?} not in the proof file",
                String::from_utf8_lossy(needle)
            )
        })
}

#[test]
fn flipped_proof_file_bytes_are_rejected() {
    let f = fixture();
    let honest = &f.proof_file;
    verifies(f, honest).expect("the honest proof verifies");
    // Named-map keys: the public values lie between "inputs" and "proof"; the halo2 proof is
    // the last `proof.len()` bytes.
    let publics = find(honest, b"\xa6inputs")..find(honest, b"\xa5proof");
    let proof_len = ProofFile::from_bytes(honest).unwrap().proof.len();
    let body = honest.len() - proof_len..honest.len();
    let mut positions: Vec<usize> = publics.clone().collect();
    positions.extend((0..honest.len()).step_by(127));
    positions.extend((0..48).map(|i| body.start + i * (proof_len - 1) / 47));
    positions.extend(0..16);
    positions.sort();
    positions.dedup();
    let start = std::time::Instant::now();
    for (n, &i) in positions.iter().enumerate() {
        let mask = [0x01u8, 0x80, 0x10][n % 3];
        let mut bytes = honest.clone();
        bytes[i] ^= mask;
        assert!(
            verifies(f, &bytes).is_err(),
            "byte {i} ^ {mask:#04x} of {} accepted",
            honest.len()
        );
    }
    eprintln!(
        "{} flips ({} in the public values, {} in the halo2 proof) rejected in {:.1} s",
        positions.len(),
        publics.len(),
        positions.iter().filter(|&&i| body.contains(&i)).count(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn changed_public_values_are_rejected() {
    let f = fixture();
    let honest = ProofFile::from_bytes(&f.proof_file).unwrap();
    let n_in = honest.inputs[0].data.len();
    for (t, e) in (0..n_in)
        .step_by(9)
        .map(|e| (0, e))
        .chain((0..10).map(|e| (1, e)))
    {
        let mut p = honest.clone();
        let v = if t == 0 {
            &mut p.inputs[0].data[e]
        } else {
            &mut p.outputs[0].data[e]
        };
        *v = if *v == 127 { 126 } else { *v + 1 };
        let bytes = p.to_bytes().unwrap();
        let err = verifies(f, &bytes).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
    }
}

#[test]
fn proof_is_rejected_under_another_models_key() {
    let f = fixture();
    let honest = ProofFile::from_bytes(&f.proof_file).unwrap();
    let other = quantize(&QuantOptions {
        per_channel: false,
        ..Default::default()
    });
    let (params, pk) = keys(&other);
    let vk = pk.vk();
    let instance = public_instance(&other, &honest.inputs, &honest.outputs).unwrap();
    let result = verify(&params, &vk, &instance, &honest.proof);
    assert!(result.is_err(), "verified under another model's key");
    // And the other way round: the other model's honest proof under this key.
    let inputs = sample0(&other);
    let digest = ModelDigest::of_bytes(&tk_quant::file::to_bytes(&other).unwrap());
    let values = read(&other, &digest, &trace_of(&other, &digest, &inputs)).unwrap();
    let c = ModelCircuit::new(&other, &values.op_witnesses(&other), &Default::default()).unwrap();
    let proof = prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(4)).unwrap();
    verify(&params, &vk, c.instance(), &proof).expect("its own key accepts it");
    if params.k() == f.params.k() {
        assert!(verify(&f.params, &f.vk, c.instance(), &proof).is_err());
    }
}
