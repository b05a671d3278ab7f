//! `tk quantize --mixed-sqnr`: mixed precision widens activations and weights
//! (`--mixed-weight-bits`), reports what it widened, and refuses a weight width outside
//! `weight_bits..=16`.

mod common;

use common::*;

#[test]
fn mixed_precision_widens_weights_and_reports_it() {
    let d = Scratch::new("quantize_mixed");
    let model = repo("models/digits_cnn.onnx");
    let calib = repo("models/digits/calib_x_img.npy");
    let metrics = d.path("m.json");
    let out = tk(&[
        "--metrics",
        s(&metrics),
        "quantize",
        s(&model),
        "--calib",
        s(&calib),
        "--weight-bits",
        "4",
        "--mixed-sqnr",
        "200",
        "--mixed-weight-bits",
        "12",
        "--output",
        s(&d.path("q.tkq")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ok(out);
    assert!(stderr.contains("mixed precision:"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&metrics).unwrap()).unwrap();
    let mixed = &doc["details"]["mixed"];
    assert!(mixed["weights"].as_u64().unwrap() > 0, "{mixed}");
    assert!(mixed["weight_candidates"].as_u64().unwrap() >= mixed["weights"].as_u64().unwrap());
    error(
        tk(&[
            "quantize",
            s(&model),
            "--calib",
            s(&calib),
            "--mixed-sqnr",
            "30",
            "--mixed-weight-bits",
            "17",
            "--output",
            s(&d.path("bad.tkq")),
        ]),
        &["mixed.weight_bits"],
    );
}
