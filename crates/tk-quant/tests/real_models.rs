//! The trained models under `models/`: quantized with their calibration samples, the integer
//! model (run by the reference interpreter, after a `.tkq` round trip) must keep top-1
//! accuracy on the committed test samples within one point of float.

use std::path::{Path, PathBuf};

use tk_ir::Tensor;
use tk_ir::onnx::{ImportOptions, import_onnx};
use tk_quant::{QuantOptions, Stage, metrics, quantize, reference};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn npy(path: &str) -> Tensor {
    tk_ir::npy::read_npy(&models().join(path)).unwrap()
}

struct Accuracy {
    float: f64,
    integer: f64,
    round: f64,
    agreement: f64,
}

fn evaluate(model: &str, calib: &str, test: &str, labels: &str) -> Accuracy {
    let graph = import_onnx(&models().join(model), &ImportOptions::default())
        .unwrap()
        .graph;
    let q = quantize(&graph, &[npy(calib)], &QuantOptions::default()).unwrap();
    let bytes = tk_quant::file::to_bytes(&q.model).unwrap();
    let model = tk_quant::file::from_bytes(&bytes).unwrap();
    let labels: Vec<usize> = npy(labels)
        .to_i64_vec()
        .unwrap()
        .iter()
        .map(|&l| l as usize)
        .collect();
    let test = npy(test);
    let (mut float, mut integer, mut round) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..labels.len() {
        let x = tk_quant::calibrate::sample(&graph, std::slice::from_ref(&test), i).unwrap();
        let f = tk_ir::eval::eval(&graph, &x).unwrap();
        float.extend(f[0].as_f32().unwrap().iter().copied());
        let r = tk_ir::eval::eval(q.stages.graph(Stage::Round).unwrap(), &x).unwrap();
        round.extend(r[0].as_f32().unwrap().iter().copied());
        let qx = tk_quant::quantize_inputs(&model, &x).unwrap();
        let y =
            tk_quant::dequantize_outputs(&model, &reference::run(&model, &qx).unwrap()).unwrap();
        integer.extend(y[0].as_f32().unwrap().iter().copied());
    }
    Accuracy {
        float: metrics::top1(&float, 10, &labels),
        integer: metrics::top1(&integer, 10, &labels),
        round: metrics::top1(&round, 10, &labels),
        agreement: metrics::top1_agreement(&float, &integer, 10),
    }
}

fn check(a: &Accuracy, expected_float: f64) {
    eprintln!(
        "float {:.2}% round {:.2}% integer {:.2}% agreement {:.2}%",
        100.0 * a.float,
        100.0 * a.round,
        100.0 * a.integer,
        100.0 * a.agreement
    );
    assert!(
        (a.float - expected_float).abs() < 0.003,
        "float top-1 {}",
        a.float
    );
    assert!(
        (a.integer - a.float).abs() <= 0.01,
        "integer {} vs float {}",
        a.integer,
        a.float
    );
}

#[test]
fn digits_mlp_keeps_accuracy() {
    let a = evaluate(
        "digits_mlp.onnx",
        "digits/calib_x_flat.npy",
        "digits/test_x_flat.npy",
        "digits/test_y.npy",
    );
    check(&a, 0.975);
}

#[test]
fn digits_cnn_keeps_accuracy() {
    let a = evaluate(
        "digits_cnn.onnx",
        "digits/calib_x_img.npy",
        "digits/test_x_img.npy",
        "digits/test_y.npy",
    );
    check(&a, 0.9639);
}

#[test]
fn lenet5_mnist_keeps_accuracy() {
    let a = evaluate(
        "lenet5_mnist.onnx",
        "mnist/calib_x_128.npy",
        "mnist/test_x_200.npy",
        "mnist/test_y_200.npy",
    );
    check(&a, 0.995);
}
