//! Golden digests of the whole path on the models shipped in `models/`: ONNX import,
//! calibration and quantization (`.tkq` bytes), then the integer run of the first test sample
//! with its trace (`.tkt` bytes), on 1 and 3 threads.
//!
//! `xtask test` runs this file in the dev profile (with the workspace tests) and again in the
//! release profile, so the checked-in digests pin debug and release builds, and any thread
//! count, to the same bytes. Regenerate with `TK_UPDATE_GOLDEN=1` after an intended change of
//! the quantizer, the integer spec or the trace format.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tk_quant::QuantOptions;
use tk_trace::{ModelDigest, TraceWriter};

/// A shipped model: ONNX file, calibration set and one input sample (paths under `models/`).
struct Shipped {
    name: &'static str,
    onnx: &'static str,
    calib: &'static str,
    sample: &'static str,
}

const SHIPPED: [Shipped; 4] = [
    Shipped {
        name: "digits_mlp",
        onnx: "digits_mlp.onnx",
        calib: "digits/calib_x_flat.npy",
        sample: "digits/sample0_flat.npy",
    },
    Shipped {
        name: "digits_cnn",
        onnx: "digits_cnn.onnx",
        calib: "digits/calib_x_img.npy",
        sample: "digits/sample0_img.npy",
    },
    Shipped {
        name: "lenet5_mnist",
        onnx: "lenet5_mnist.onnx",
        calib: "mnist/calib_x_128.npy",
        sample: "mnist/sample0.npy",
    },
    Shipped {
        name: "fashion_cnn",
        onnx: "fashion_cnn.onnx",
        calib: "fashion/calib_x_128.npy",
        sample: "fashion/sample0.npy",
    },
];

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn golden_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/models.sha256")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `.tkq` bytes of a shipped model, quantized with the default options.
fn quantize(dir: &Path, m: &Shipped) -> Vec<u8> {
    let imported = tk_ir::onnx::import_onnx(&dir.join(m.onnx), &Default::default())
        .unwrap_or_else(|e| panic!("{}: import: {e}", m.name));
    let calib = tk_ir::npy::read_npy(&dir.join(m.calib)).unwrap();
    let quantized = tk_quant::quantize(&imported.graph, &[calib], &QuantOptions::default())
        .unwrap_or_else(|e| panic!("{}: quantize: {e}", m.name));
    tk_quant::file::to_bytes(&quantized.model).unwrap()
}

/// Trace bytes of the integer run of the model's sample, on a pool of `threads` threads.
fn trace(dir: &Path, m: &Shipped, tkq: &[u8], threads: usize) -> Vec<u8> {
    let model = tk_quant::file::from_bytes(tkq).unwrap();
    let digest = ModelDigest::of_bytes(tkq);
    let sample = tk_ir::npy::read_npy(&dir.join(m.sample)).unwrap();
    let input = tk_quant::quantize_inputs(&model, &[sample]).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let runtime = tk_runtime::Runtime::new(&model).unwrap();
        let mut writer = TraceWriter::new(Vec::new(), &model, &digest).unwrap();
        runtime.run_observed(&input, &mut writer).unwrap();
        writer.finish().unwrap()
    })
}

#[test]
fn shipped_models_quantize_and_trace_to_the_golden_bytes() {
    let dir = models_dir();
    let mut lines = Vec::new();
    for m in &SHIPPED {
        let tkq = quantize(&dir, m);
        let one = trace(&dir, m, &tkq, 1);
        assert_eq!(
            one,
            trace(&dir, m, &tkq, 3),
            "{}: the trace depends on the thread count",
            m.name
        );
        let reader = tk_trace::TraceReader::new(one.as_slice()).unwrap();
        let model = tk_quant::file::from_bytes(&tkq).unwrap();
        tk_trace::check(reader, &model, &ModelDigest::of_bytes(&tkq))
            .unwrap_or_else(|e| panic!("{}: the trace does not check: {e}", m.name));
        lines.push(format!(
            "{} tkq {} tkt {}",
            m.name,
            sha256_hex(&tkq),
            sha256_hex(&one)
        ));
    }
    let actual = lines.join("\n") + "\n";
    if std::env::var_os("TK_UPDATE_GOLDEN").is_some() {
        std::fs::write(golden_file(), &actual).unwrap();
    }
    let expected = std::fs::read_to_string(golden_file())
        .expect("golden digests; run with TK_UPDATE_GOLDEN=1");
    for (want, got) in expected.lines().zip(actual.lines()) {
        assert_eq!(
            got,
            want,
            "bytes changed (profile {}); TK_UPDATE_GOLDEN=1 regenerates after an intended change",
            if cfg!(debug_assertions) {
                "dev"
            } else {
                "release"
            }
        );
    }
    assert_eq!(expected.lines().count(), SHIPPED.len());
}
