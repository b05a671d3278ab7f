//! Every single-input model in `models/ops/` (one ONNX op or a small block each): quantized
//! with its own sample input as calibration, the reference interpreter's output must be close
//! to onnxruntime's float output, or the conversion must fail with a clear error for the few
//! op forms the integer standard does not cover.

use std::path::{Path, PathBuf};

use tk_ir::onnx::{ImportOptions, import_onnx};
use tk_quant::{QuantOptions, metrics, quantize, reference};

/// Cases the quantizer rejects on purpose (and why).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("matmul_batched", "MatMul by a batched (3-D) constant"),
    ("pad", "padding with a non-zero constant"),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/ops")
}

/// `Ok(sqnr)` or `Err(reason)` for one case; `None` when the case is not applicable (the
/// importer rejects it or it has several inputs).
fn run_case(name: &str) -> Option<Result<f64, String>> {
    let d = dir();
    let graph = import_onnx(&d.join(format!("{name}.onnx")), &ImportOptions::default())
        .ok()?
        .graph;
    if graph.inputs().len() != 1 || graph.outputs().len() != 1 {
        return None;
    }
    let x = tk_ir::npy::read_npy(&d.join(format!("{name}.input.npy"))).ok()?;
    let expected = tk_ir::npy::read_npy(&d.join(format!("{name}.output.npy"))).ok()?;
    let q = match quantize(&graph, std::slice::from_ref(&x), &QuantOptions::default()) {
        Ok(q) => q,
        Err(e) => return Some(Err(e.to_string())),
    };
    let qx = tk_quant::quantize_inputs(&q.model, &[x]).unwrap();
    let y =
        tk_quant::dequantize_outputs(&q.model, &reference::run(&q.model, &qx).unwrap()).unwrap();
    let (e, y) = (expected.as_f32().unwrap(), y[0].as_f32().unwrap());
    assert_eq!(e.shape(), y.shape(), "{name}: output shape");
    let (e, y): (Vec<f32>, Vec<f32>) = (e.iter().copied().collect(), y.iter().copied().collect());
    Some(Ok(metrics::sqnr_db(&e, &y)))
}

#[test]
fn op_models_quantize_accurately() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".onnx")
                .map(String::from)
        })
        .collect();
    names.sort();
    let mut failures = Vec::new();
    for name in &names {
        let result = run_case(name);
        let expected_unsupported = UNSUPPORTED.iter().any(|(n, _)| n == name);
        match &result {
            None => eprintln!("{name:28} n/a"),
            Some(Ok(db)) => eprintln!("{name:28} {db:6.1} dB"),
            Some(Err(e)) => eprintln!("{name:28} error: {e}"),
        }
        match result {
            Some(Ok(db)) if !expected_unsupported && db < 25.0 => {
                failures.push(format!("{name}: {db:.1} dB"))
            }
            Some(Err(e)) if !expected_unsupported => failures.push(format!("{name}: {e}")),
            Some(Ok(_)) if expected_unsupported => {
                failures.push(format!("{name}: unexpectedly supported"))
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
