//! The trained models under `models/`: import and compare with the stored onnxruntime logits.

mod common;

use common::{compare, workspace_root};
use ndarray::{Axis, IxDyn};
use tk_ir::Tensor;
use tk_ir::onnx::{ImportOptions, import_onnx};

/// How many samples of each stored test set to check (debug builds are slow).
const SAMPLES: usize = 40;

fn check(model: &str, inputs: &str, expected: &str) {
    let root = workspace_root().join("models");
    let imported = import_onnx(&root.join(model), &ImportOptions::default()).expect("import");
    let x = tk_ir::npy::read_npy(&root.join(inputs)).expect("inputs");
    let y = tk_ir::npy::read_npy(&root.join(expected)).expect("expected");
    let (x, y) = (x.as_f32().expect("f32"), y.as_f32().expect("f32"));
    let mut shape = x.shape().to_vec();
    shape[0] = 1;
    for (i, (xi, yi)) in x.outer_iter().zip(y.outer_iter()).take(SAMPLES).enumerate() {
        let input = Tensor::F32(
            xi.to_owned()
                .into_shape_with_order(IxDyn(&shape))
                .expect("reshape"),
        );
        let got = tk_ir::eval::eval(&imported.graph, &[input]).expect("eval");
        let want = Tensor::F32(yi.insert_axis(Axis(0)).to_owned());
        if let Err(e) = compare(&got[0], &want) {
            panic!("{model} sample {i}: {e}");
        }
    }
}

#[test]
fn digits_mlp_matches_onnxruntime() {
    check(
        "digits_mlp.onnx",
        "digits/test_x_flat.npy",
        "digits/expected_mlp.npy",
    );
}

#[test]
fn digits_cnn_matches_onnxruntime() {
    check(
        "digits_cnn.onnx",
        "digits/test_x_img.npy",
        "digits/expected_cnn.npy",
    );
}

#[test]
fn lenet5_matches_onnxruntime() {
    check(
        "lenet5_mnist.onnx",
        "mnist/test_x_200.npy",
        "mnist/expected_200.npy",
    );
}
