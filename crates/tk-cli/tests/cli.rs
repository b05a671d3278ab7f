//! The `tk` binary: bad input never panics and fails with one `error: ...` line naming the
//! problem; `inspect` (text and JSON); float `run` on N samples; and the integer pipeline
//! quantize -> run --trace -> check -> setup -> prove -> verify on the digits MLP.

mod common;

use common::*;

fn onnx_mlp() -> std::path::PathBuf {
    repo("models/digits_mlp.onnx")
}

fn read_f32(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    match tk_ir::npy::read_npy(path).unwrap() {
        tk_ir::Tensor::F32(a) => (a.shape().to_vec(), a.iter().copied().collect()),
        other => panic!("{}: dtype {:?}", path.display(), other.dtype()),
    }
}

// ---------------------------------------------------------------------------------------
// Bad input.

#[test]
fn missing_files_are_named() {
    let d = Scratch::new("missing");
    let gone = d.path("gone.onnx");
    let g = s(&gone);
    error(tk(&["inspect", g]), &["cannot", "gone.onnx"]);
    let out = d.path("y.npy");
    error(
        tk(&[
            "run",
            g,
            "--input",
            s(&fixture("tiny_gemm.x.npy")),
            "--output",
            s(&out),
        ]),
        &["gone.onnx"],
    );
    error(
        tk(&["quantize", g, "--output", s(&d.path("m.tkq"))]),
        &["gone.onnx"],
    );
    let gone_tkq = d.path("gone.tkq");
    error(
        tk(&[
            "run",
            s(&gone_tkq),
            "--input",
            s(&fixture("tiny_gemm.x.npy")),
            "--output",
            s(&out),
        ]),
        &["cannot read", "gone.tkq"],
    );
    let missing_npy = d.path("gone.npy");
    error(
        tk(&[
            "run",
            s(&fixture("tiny_gemm.onnx")),
            "--input",
            s(&missing_npy),
            "--output",
            s(&out),
        ]),
        &["gone.npy"],
    );
    error(
        tk(&["check", s(&d.path("gone.tkt")), "--model", s(&gone_tkq)]),
        &["gone.tkq"],
    );
    error(
        tk(&["setup", s(&gone_tkq), "--keys", s(&d.path("keys"))]),
        &["gone.tkq"],
    );
    error(
        tk(&[
            "verify",
            s(&d.path("gone.tkp")),
            "--keys",
            s(&d.path("keys")),
        ]),
        &["cannot read", "gone.tkp"],
    );
}

#[test]
fn not_onnx_truncated_onnx_and_unsupported_ops_are_refused() {
    let d = Scratch::new("onnx");
    let text = d.write("text.onnx", b"this is not a protobuf model\n");
    error(tk(&["inspect", s(&text)]), &["text.onnx", "malformed"]);
    let empty = d.write("empty.onnx", b"");
    let line = error(tk(&["inspect", s(&empty)]), &["empty.onnx"]);
    assert!(!line.contains("panicked"));
    let bytes = std::fs::read(onnx_mlp()).unwrap();
    for cut in [1, 10, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        let p = d.write("cut.onnx", &bytes[..cut]);
        error(tk(&["inspect", s(&p)]), &["cut.onnx"]);
    }
    let unsupported = fixture("unsupported_op.onnx");
    error(
        tk(&["inspect", s(&unsupported)]),
        &["unsupported op", "Cos", "cos"],
    );
    error(
        tk(&[
            "quantize",
            s(&unsupported),
            "--calib",
            s(&fixture("tiny_gemm.batch.npy")),
            "--output",
            s(&d.path("u.tkq")),
        ]),
        &["unsupported op", "Cos"],
    );
    let y = d.path("y.npy");
    error(
        tk(&[
            "run",
            s(&unsupported),
            "--input",
            s(&fixture("tiny_gemm.x.npy")),
            "--output",
            s(&y),
        ]),
        &["unsupported op", "Cos"],
    );
    error(
        tk(&[
            "run",
            s(&fixture("two_inputs.onnx")),
            "--input",
            s(&fixture("tiny_gemm.x.npy")),
            "--output",
            s(&y),
        ]),
        &["2 inputs"],
    );
    error(
        tk(&[
            "run",
            s(&d.write("m.txt", b"x")),
            "--input",
            s(&fixture("tiny_gemm.x.npy")),
            "--output",
            s(&y),
        ]),
        &[".onnx or .tkq"],
    );
}

#[test]
fn wrong_inputs_are_refused() {
    let d = Scratch::new("inputs");
    let m = fixture("tiny_gemm.onnx");
    let y = d.path("y.npy");
    let run = |input: &std::path::Path| tk(&["run", s(&m), "--input", s(input), "--output", s(&y)]);
    error(
        run(&fixture("x_wrong_shape.npy")),
        &["shape [1, 5]", "[1, 4]"],
    );
    error(run(&fixture("x_i64.npy")), &["dtype", "I64", "F32"]);
    error(
        run(&d.write("junk.npy", b"garbage, not npy")),
        &["npy", "junk.npy"],
    );
    let npy = std::fs::read(fixture("tiny_gemm.batch.npy")).unwrap();
    for cut in [0, 5, 60, npy.len() - 4] {
        error(run(&d.write("cut.npy", &npy[..cut])), &["npy", "cut.npy"]);
    }
    // A header that announces more data than the file holds.
    let mut lying = npy.clone();
    let at = lying.windows(4).position(|w| w == b"(3, ").unwrap();
    lying[at + 1] = b'9';
    error(run(&d.write("lying.npy", &lying)), &["lying.npy"]);
    // float64 is converted, like numpy's default dtype.
    let a = d.path("a.npy");
    let b = d.path("b.npy");
    ok(tk(&[
        "run",
        s(&m),
        "--input",
        s(&fixture("x_f64.npy")),
        "--output",
        s(&a),
    ]));
    ok(tk(&[
        "run",
        s(&m),
        "--input",
        s(&fixture("tiny_gemm.x.npy")),
        "--output",
        s(&b),
    ]));
    assert_eq!(read_f32(&a), read_f32(&b));
    // The quantizer's calibration data is checked the same way.
    error(
        tk(&[
            "quantize",
            s(&m),
            "--calib",
            s(&fixture("x_i64.npy")),
            "--output",
            s(&d.path("q.tkq")),
        ]),
        &["calibration"],
    );
    error(
        tk(&["quantize", s(&m), "--output", s(&d.path("q.tkq"))]),
        &["calibration"],
    );
    error(
        tk(&[
            "quantize",
            s(&m),
            "--bits",
            "40",
            "--calib",
            s(&fixture("tiny_gemm.batch.npy")),
            "--output",
            s(&d.path("q.tkq")),
        ]),
        &["bits"],
    );
}

#[test]
fn corrupt_models_and_traces_are_refused() {
    let d = Scratch::new("corrupt");
    let p = pipeline(&d);
    let sample = repo("models/digits/sample0_flat.npy");
    let y = d.path("y2.npy");
    let tkq = std::fs::read(&p.model).unwrap();
    let run = |m: &std::path::Path| tk(&["run", s(m), "--input", s(&sample), "--output", s(&y)]);
    error(
        run(&d.write("empty.tkq", b"")),
        &["cannot load", "empty.tkq"],
    );
    error(
        run(&d.write("junk.tkq", b"not a model at all")),
        &["cannot load", "junk.tkq"],
    );
    for cut in [4, 12, tkq.len() / 2, tkq.len() - 1] {
        error(
            run(&d.write("cut.tkq", &tkq[..cut])),
            &["cannot load", "cut.tkq"],
        );
    }
    // Single flipped bytes: a clean error, or (a flipped weight) a clean run; never a panic.
    for i in (0..tkq.len()).step_by(tkq.len() / 24) {
        let mut bad = tkq.clone();
        bad[i] ^= 0x5a;
        let out = run(&d.write("flip.tkq", &bad));
        if !out.status.success() {
            error(out, &["flip.tkq"]);
        }
    }
    // Traces: truncated, flipped, foreign.
    let trace = std::fs::read(&p.trace).unwrap();
    let check = |t: &std::path::Path| tk(&["check", s(t), "--model", s(&p.model)]);
    error(check(&d.write("empty.tkt", b"")), &["empty.tkt"]);
    for cut in [8, 12, 100, trace.len() / 2, trace.len() - 1] {
        error(
            check(&d.write("cut.tkt", &trace[..cut])),
            &["cut.tkt", "truncated"],
        );
    }
    for i in (0..trace.len()).step_by(trace.len() / 24) {
        let mut bad = trace.clone();
        bad[i] ^= 0x01;
        error(check(&d.write("flip.tkt", &bad)), &["flip.tkt"]);
        error(
            tk(&[
                "prove",
                s(&p.model),
                s(&d.path("flip.tkt")),
                "--keys",
                s(&p.keys),
                "--output",
                s(&d.path("x.tkp")),
            ]),
            &["flip.tkt"],
        );
    }
    error(check(&p.model), &["m.tkq"]);
    error(tk(&["check", s(&p.trace)]), &["--model"]);
    // A trace checked against another model.
    let other = d.path("other.tkq");
    ok(tk(&[
        "quantize",
        s(&onnx_mlp()),
        "--calib",
        s(&repo("models/digits/calib_x_flat.npy")),
        "--per-tensor",
        "--output",
        s(&other),
    ]));
    error(
        tk(&["check", s(&p.trace), "--model", s(&other)]),
        &["model_digest"],
    );
    // Keys and proofs that are not keys and proofs.
    let junk = d.write("junk.tkp", b"TKPROOF\0\x01\x00\x00\x00garbage");
    error(
        tk(&["verify", s(&junk), "--keys", s(&p.keys)]),
        &["malformed proof file"],
    );
    error(
        tk(&["verify", s(&p.trace), "--keys", s(&p.keys)]),
        &["malformed proof file", "magic"],
    );
    error(
        tk(&["verify", s(&p.proof), "--keys", s(&d.path("nokeys"))]),
        &["setup.json"],
    );
}

// ---------------------------------------------------------------------------------------
// Commands that work.

#[test]
fn inspect_prints_text_and_json() {
    let text = ok(tk(&["inspect", s(&onnx_mlp())]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.contains("Gemm")), "{text}");
    let summary = lines
        .iter()
        .find(|l| l.contains(" nodes, "))
        .expect("summary line");
    assert!(
        summary.contains("digits_mlp.onnx") && summary.contains("parameters"),
        "{summary}"
    );
    assert!(lines.last().unwrap().starts_with("ops: "), "{text}");

    let json = ok(tk(&["inspect", s(&onnx_mlp()), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let nodes = v["nodes"].as_array().expect("nodes");
    let summary = &v["summary"];
    assert_eq!(summary["nodes"].as_u64(), Some(nodes.len() as u64));
    assert_eq!(summary["inputs"][0]["shape"], serde_json::json!([1, 64]));
    assert_eq!(summary["outputs"][0]["shape"], serde_json::json!([1, 10]));
    assert!(summary["parameters"].as_u64().unwrap() > 1000);
    assert!(summary["ops"]["Gemm"].as_u64().unwrap() >= 2);
    // One text line per node plus the summary and the op list.
    assert_eq!(lines.len(), nodes.len() + 2);
}

#[test]
fn float_run_stacks_samples() {
    let d = Scratch::new("float");
    let m = fixture("tiny_gemm.onnx");
    let y = d.path("y.npy");
    ok(tk(&[
        "run",
        s(&m),
        "--input",
        s(&fixture("tiny_gemm.batch.npy")),
        "--output",
        s(&y),
    ]));
    let (shape, got) = read_f32(&y);
    let (eshape, expected) = read_f32(&fixture("tiny_gemm.expected.npy"));
    assert_eq!(shape, eshape);
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-5, "{got:?} vs {expected:?}");
    }
    // One sample alone gives the first row.
    let y1 = d.path("y1.npy");
    ok(tk(&[
        "run",
        s(&m),
        "--input",
        s(&fixture("tiny_gemm.x.npy")),
        "--output",
        s(&y1),
    ]));
    let (shape1, one) = read_f32(&y1);
    assert_eq!(shape1, [1, 3]);
    assert_eq!(one[..], got[..3]);

    // The digits MLP on its 8 x 64 test batch: one output row per sample.
    let x = repo("models/digits/test_x_flat.npy");
    let (xshape, _) = read_f32(&x);
    let yd = d.path("yd.npy");
    ok(tk(&[
        "run",
        s(&onnx_mlp()),
        "--input",
        s(&x),
        "--output",
        s(&yd),
    ]));
    let (yshape, _) = read_f32(&yd);
    assert_eq!(yshape, [xshape[0], 10]);
}

#[test]
fn integer_pipeline_proves_and_verifies() {
    let d = Scratch::new("pipeline");
    let p = pipeline(&d);
    assert!(p.out[0].starts_with("quantized "), "{}", p.out[0]);
    assert!(p.out[1].contains("2 records"), "{}", p.out[1]);
    assert_eq!(p.out[2].trim(), "ok: 2 records");
    assert!(p.out[3].contains("k = "), "{}", p.out[3]);
    assert!(p.out[4].starts_with("proved "), "{}", p.out[4]);
    let verify = ok(tk(&[
        "verify",
        s(&p.proof),
        "--keys",
        s(&p.keys),
        "--print-io",
    ]));
    assert_eq!(verify.lines().last(), Some("verified"), "{verify}");
    assert!(verify.contains("input input [1, 64]"), "{verify}");
    let y = verify
        .lines()
        .find(|l| l.starts_with("output ") && !l.contains("dequantized"))
        .expect("output line");
    assert!(y.contains("[1, 10]"), "{y}");
    // The public output is the integer model's output that `tk run --raw` prints.
    let raw = d.path("raw.npy");
    ok(tk(&[
        "run",
        s(&p.model),
        "--input",
        s(&repo("models/digits/sample0_flat.npy")),
        "--output",
        s(&raw),
        "--raw",
    ]));
    let raw = match tk_ir::npy::read_npy(&raw).unwrap() {
        tk_ir::Tensor::I64(a) => a.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        other => panic!("raw output dtype {:?}", other.dtype()),
    };
    assert!(
        y.ends_with(&format!("[{}]", raw.join(", "))),
        "{y} vs {raw:?}"
    );
    // The metrics file of a step is JSON.
    let metrics = d.path("verify.json");
    ok(tk(&[
        "--metrics",
        s(&metrics),
        "verify",
        s(&p.proof),
        "--keys",
        s(&p.keys),
    ]));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&metrics).unwrap()).unwrap();
    assert!(m.to_string().contains("\"verified\":true"), "{m}");

    // N samples: one trace per sample, each checks.
    let batch = d.path("batch.npy");
    let x = repo("models/digits/test_x_flat.npy");
    let t = d.path("b.tkt");
    let out = ok(tk(&[
        "run",
        s(&p.model),
        "--input",
        s(&x),
        "--output",
        s(&batch),
        "--trace",
        s(&t),
    ]));
    assert!(out.contains("records"), "{out}");
    for i in 0..2 {
        let ti = d.path(&format!("b.{i}.tkt"));
        assert_eq!(
            ok(tk(&["check", s(&ti), "--model", s(&p.model)])).trim(),
            "ok: 2 records"
        );
    }

    // Latency profile, per op kind and per node, printed and in the metrics.
    let metrics = d.path("profile.json");
    let (onnx, sample) = (onnx_mlp(), repo("models/digits/sample0_flat.npy"));
    let profile = ["profile", s(&onnx), s(&p.model), "--input", s(&sample)];
    let args = [
        &["--metrics", s(&metrics)][..],
        &profile,
        &["--repeat", "3", "--ops", "--nodes"],
    ]
    .concat();
    let out = ok(tk(&args));
    assert!(out.contains("integer runtime per node"), "{out}");
    assert!(out.contains("trace Gemm"), "{out}");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&metrics).unwrap()).unwrap();
    let model = tk_quant::file::from_bytes(&std::fs::read(&p.model).unwrap()).unwrap();
    let by_node = m["details"]["by_node"].as_array().expect("by_node");
    let ids: Vec<u64> = by_node
        .iter()
        .map(|n| n["node"].as_u64().unwrap())
        .collect();
    let all: Vec<u64> = (0..model.graph.nodes.len() as u64).collect();
    assert_eq!(ids, all, "one row per node, in id order");
    for (row, node) in by_node.iter().zip(&model.graph.nodes) {
        assert_eq!(row["name"], node.name.as_str());
        assert!(
            row["median_us"].as_f64().is_some_and(|us| us >= 0.0),
            "{row}"
        );
    }
    // `--nodes` needs `--ops`.
    let refused = tk(&[&profile[..], &["--nodes"]].concat());
    assert!(!refused.status.success());
}
