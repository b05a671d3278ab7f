//! Tampering at the command line, on the digits MLP pipeline: a changed trace value or
//! parameter, a model changed after setup, a changed or corrupted proof file, and a proof
//! checked under another model's keys are all refused by `tk check`, `tk prove` or
//! `tk verify`. (The exhaustive variants run at library level in
//! `crates/tk-circuit/tests/tamper.rs`.)

mod common;

use std::path::Path;

use common::*;
use tk_circuit::proof_file::ProofFile;
use tk_quant::ops::QOp;
use tk_trace::Frame;

fn check(trace: &Path, model: &Path) -> std::process::Output {
    tk(&["check", s(trace), "--model", s(model)])
}

fn prove(model: &Path, trace: &Path, keys: &Path, out: &Path) -> std::process::Output {
    tk(&[
        "prove",
        s(model),
        s(trace),
        "--keys",
        s(keys),
        "--output",
        s(out),
    ])
}

fn verify(proof: &Path, keys: &Path) -> std::process::Output {
    tk(&["verify", s(proof), "--keys", s(keys)])
}

#[test]
fn changed_trace_values_and_parameters_are_refused() {
    let d = Scratch::new("tamper-trace");
    let p = pipeline(&d);
    let honest = decode(&std::fs::read(&p.trace).unwrap());
    let bits: Vec<u8> = honest.header.graph.nodes.iter().map(|n| n.bits).collect();
    let out = d.path("x.tkp");
    let model = tk_quant::file::load(&p.model).unwrap();
    let digest = tk_trace::ModelDigest::of_bytes(&std::fs::read(&p.model).unwrap());
    let mut cases = 0;
    for (k, frame) in honest.frames.iter().enumerate() {
        let elements = match frame {
            // Input pixels whose weights are all zero change nothing: pick three that matter.
            Frame::Input(i) => {
                let x = i.tensor.to_qtensor().unwrap();
                (0..x.data.len())
                    .filter(|&e| {
                        let mut x2 = x.clone();
                        x2.data[e] += if x2.data[e] == 127 { -1 } else { 1 };
                        let y = tk_trace::write_trace(
                            &model,
                            &digest,
                            std::slice::from_ref(&x),
                            Vec::new(),
                        );
                        let y2 = tk_trace::write_trace(&model, &digest, &[x2], Vec::new());
                        y.unwrap().0 != y2.unwrap().0
                    })
                    .step_by(17)
                    .take(3)
                    .collect::<Vec<_>>()
            }
            Frame::Record(r) => {
                let len = r.output.to_qtensor().unwrap().data.len();
                vec![0, len / 2, len - 1]
            }
        };
        for e in elements {
            let mut t = Decoded {
                header: honest.header.clone(),
                frames: honest.frames.clone(),
            };
            let what = match &mut t.frames[k] {
                Frame::Input(i) => {
                    bump(&mut i.tensor, e, bits[i.node as usize]);
                    format!("input {} element {e}", i.input)
                }
                Frame::Record(r) => {
                    bump(&mut r.output, e, r.meta.bits);
                    format!("record {} element {e}", r.index)
                }
            };
            let path = d.write("bad.tkt", &encode(&t));
            let line = error(check(&path, &p.model), &["bad.tkt", "record"]);
            eprintln!("{what}: {line}");
            error(
                prove(&p.model, &path, &p.keys, &out),
                &["refusing to prove"],
            );
            cases += 1;
        }
    }
    assert_eq!(
        cases, 9,
        "one input and two records (Gemm with the fused Relu, Gemm)"
    );
    assert!(!out.exists());

    // A requantization multiplier and shift, in the record and in the header's node.
    for (field, tweak) in [
        (
            "multipliers",
            (|p: &mut tk_trace::Params| p.multipliers.as_mut().unwrap()[0] += 1)
                as fn(&mut tk_trace::Params),
        ),
        ("shifts", |p| p.shifts.as_mut().unwrap()[0] += 1),
    ] {
        let mut t = Decoded {
            header: honest.header.clone(),
            frames: honest.frames.clone(),
        };
        let Frame::Record(r) = &mut t.frames[1] else {
            panic!("frame 1 is the first record")
        };
        tweak(&mut r.params);
        let node = r.node as usize;
        let path = d.write("params.tkt", &encode(&t));
        error(check(&path, &p.model), &[field]);
        error(
            prove(&p.model, &path, &p.keys, &out),
            &["refusing to prove"],
        );
        tweak(&mut t.header.graph.nodes[node].params);
        let path = d.write("params.tkt", &encode(&t));
        error(check(&path, &p.model), &[field]);
        error(
            prove(&p.model, &path, &p.keys, &out),
            &["refusing to prove"],
        );
    }
}

/// The digits MLP's model with one weight of its first Gemm changed: one that multiplies a
/// non-zero pixel of the traced input (so the execution changes) and stays non-zero (so the
/// circuit keeps its shape).
fn changed_model(path: &Path, trace: &Path, out: &Path) {
    let mut m = tk_quant::file::load(path).unwrap();
    let x = decode(&std::fs::read(trace).unwrap())
        .frames
        .iter()
        .find_map(|f| match f {
            Frame::Input(i) => Some(i.tensor.to_qtensor().unwrap()),
            Frame::Record(_) => None,
        })
        .unwrap();
    let gemm = m
        .graph
        .nodes
        .iter_mut()
        .find_map(|n| match &mut n.op {
            QOp::Gemm(g) => Some(g),
            _ => None,
        })
        .unwrap();
    let k = (0..x.data.len())
        .find(|&k| x.data[k] != 0 && gemm.weight.data[k] > 1)
        .expect("a live weight");
    gemm.weight.data[k] -= 1;
    tk_quant::file::save(&m, out).unwrap();
}

fn manifest(keys: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(keys.join("setup.json")).unwrap()).unwrap()
}

#[test]
fn model_changed_after_setup_is_refused() {
    let d = Scratch::new("tamper-model");
    let p = pipeline(&d);
    let m2 = d.path("m2.tkq");
    changed_model(&p.model, &p.trace, &m2);
    let sample = repo("models/digits/sample0_flat.npy");
    let out = d.path("x.tkp");
    // The honest trace names the original model.
    error(check(&p.trace, &m2), &["model_digest"]);
    error(prove(&m2, &p.trace, &p.keys, &out), &["another model"]);
    // A trace of the changed model, with the original keys.
    let t2 = d.path("t2.tkt");
    ok(tk(&[
        "run",
        s(&m2),
        "--input",
        s(&sample),
        "--output",
        s(&d.path("y2.npy")),
        "--trace",
        s(&t2),
    ]));
    assert_eq!(ok(check(&t2, &m2)).trim(), "ok: 2 records");
    error(prove(&m2, &t2, &p.keys, &out), &["another model"]);
    // The keys directory's copy of the model replaced.
    let keys2 = d.path("keys2");
    std::fs::create_dir_all(&keys2).unwrap();
    for f in std::fs::read_dir(&p.keys).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, keys2.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::copy(&m2, keys2.join("model.tkq")).unwrap();
    error(verify(&p.proof, &keys2), &["does not match setup.json"]);
    // And the manifest rewritten to name the changed model: the old proving key (whose fixed
    // columns hold the original weights) gives a proof the verifying key rejects.
    let mut man = manifest(&keys2);
    let m2_digest = tk_trace::ModelDigest::of_bytes(&std::fs::read(&m2).unwrap()).to_hex();
    man["model_digest"] = serde_json::json!(m2_digest);
    std::fs::write(keys2.join("setup.json"), serde_json::to_vec(&man).unwrap()).unwrap();
    ok(prove(&m2, &t2, &keys2, &out));
    error(verify(&out, &keys2), &["proof rejected"]);
    // The honest proof still verifies under the honest keys.
    assert_eq!(ok(verify(&p.proof, &p.keys)).trim(), "verified");
}

#[test]
fn changed_proof_files_are_refused() {
    let d = Scratch::new("tamper-proof");
    let p = pipeline(&d);
    let bytes = std::fs::read(&p.proof).unwrap();
    let honest = ProofFile::from_bytes(&bytes).unwrap();
    let write = |name: &str, f: &ProofFile| d.write(name, &f.to_bytes().unwrap());

    let mut f = honest.clone();
    f.outputs[0].data[3] += 1;
    error(verify(&write("out.tkp", &f), &p.keys), &["proof rejected"]);
    let mut f = honest.clone();
    f.inputs[0].data[20] = if f.inputs[0].data[20] == 0 { 1 } else { 0 };
    error(verify(&write("in.tkp", &f), &p.keys), &["proof rejected"]);
    let mut f = honest.clone();
    f.outputs[0].data[0] = 1000;
    error(
        verify(&write("range.tkp", &f), &p.keys),
        &["public values", "range"],
    );
    let mut f = honest.clone();
    f.outputs[0].data.pop();
    f.outputs[0].shape = vec![1, 9];
    error(verify(&write("shape.tkp", &f), &p.keys), &["public values"]);
    // The proof file's `k` is part of what it claims.
    let mut f = honest.clone();
    f.k += 1;
    error(verify(&write("k.tkp", &f), &p.keys), &["k"]);
    let mut f = honest.clone();
    f.proof.truncate(f.proof.len() - 32);
    error(
        verify(&write("short.tkp", &f), &p.keys),
        &["proof rejected"],
    );

    // Single flipped bits across the file, including the halo2 proof body.
    let body = bytes.len() - honest.proof.len();
    let mut positions: Vec<usize> = (0..bytes.len()).step_by(bytes.len() / 20).collect();
    positions.extend([body + 5, body + 100, bytes.len() / 2, bytes.len() - 1]);
    for i in positions {
        let mut bad = bytes.clone();
        bad[i] ^= 0x04;
        let path = d.write("flip.tkp", &bad);
        let out = verify(&path, &p.keys);
        assert!(
            !out.status.success(),
            "flipped byte {i} of {} verifies",
            bytes.len()
        );
        error(out, &[]);
    }
    assert_eq!(ok(verify(&p.proof, &p.keys)).trim(), "verified");
}

#[test]
fn proof_under_another_models_keys_is_refused() {
    let d = Scratch::new("tamper-keys");
    let p = pipeline(&d);
    let other = d.path("other.tkq");
    ok(tk(&[
        "quantize",
        s(&repo("models/digits_mlp.onnx")),
        "--calib",
        s(&repo("models/digits/calib_x_flat.npy")),
        "--per-tensor",
        "--output",
        s(&other),
    ]));
    let keys2 = d.path("keys2");
    ok(tk(&["setup", s(&other), "--keys", s(&keys2)]));
    error(verify(&p.proof, &keys2), &["another verifying key"]);
    // Relabelled as the other model's proof: the cryptographic check fails.
    let man = manifest(&keys2);
    let mut f = ProofFile::from_bytes(&std::fs::read(&p.proof).unwrap()).unwrap();
    f.vk_digest = man["vk_digest"].as_str().unwrap().to_string();
    f.model_digest = man["model_digest"].as_str().unwrap().to_string();
    f.k = man["k"].as_u64().unwrap() as u32;
    let path = d.write("relabelled.tkp", &f.to_bytes().unwrap());
    error(verify(&path, &keys2), &["proof rejected"]);
}
