//! The models the bench knows, with their data.

use std::path::{Path, PathBuf};

/// The torchvision architectures of the MRT list, exported (random weights) to `target/zoo/`
/// by `scripts/export_torchvision.py`.
pub const TORCHVISION_ZOO: [&str; 8] = [
    "resnet18",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "squeezenet1_0",
    "shufflenet_v2_x0_5",
    "densenet121",
    "alexnet",
    "vgg11",
];

/// One benchmark model and its data files.
#[derive(Debug, Clone)]
pub struct BenchModel {
    /// Short name (`digits_mlp`).
    pub name: String,
    /// ONNX file.
    pub onnx: PathBuf,
    /// Calibration samples `[N, ..]`.
    pub calib: PathBuf,
    /// Evaluation samples `[N, ..]`.
    pub data: PathBuf,
    /// Labels `[N]`, when the model was trained on real data.
    pub labels: Option<PathBuf>,
    /// One input for latency, trace and proof.
    pub sample: PathBuf,
    /// Part of `--quick`.
    pub quick: bool,
    /// Small enough to prove as one circuit on this machine.
    pub provable: bool,
    /// Command that generates the files when they are missing.
    pub generate: Option<Vec<String>>,
}

fn trained(
    root: &Path,
    name: &str,
    onnx: &str,
    dir: &str,
    files: [&str; 4],
    quick: bool,
) -> BenchModel {
    let [calib, data, labels, sample] = files;
    BenchModel {
        name: name.into(),
        onnx: root.join(onnx),
        calib: root.join(dir).join(calib),
        data: root.join(dir).join(data),
        labels: Some(root.join(dir).join(labels)),
        sample: root.join(dir).join(sample),
        quick,
        provable: true,
        generate: None,
    }
}

/// Every model, smallest first.
pub fn catalog(root: &Path) -> Vec<BenchModel> {
    let mut out = vec![
        trained(
            root,
            "digits_mlp",
            "models/digits_mlp.onnx",
            "models/digits",
            [
                "calib_x_flat.npy",
                "test_x_flat.npy",
                "test_y.npy",
                "sample0_flat.npy",
            ],
            true,
        ),
        trained(
            root,
            "digits_cnn",
            "models/digits_cnn.onnx",
            "models/digits",
            [
                "calib_x_img.npy",
                "test_x_img.npy",
                "test_y.npy",
                "sample0_img.npy",
            ],
            true,
        ),
        trained(
            root,
            "lenet5_mnist",
            "models/lenet5_mnist.onnx",
            "models/mnist",
            [
                "calib_x_128.npy",
                "test_x_200.npy",
                "test_y_200.npy",
                "sample0.npy",
            ],
            false,
        ),
    ];
    if root.join("models/fashion_cnn.onnx").exists() {
        out.push(trained(
            root,
            "fashion_cnn",
            "models/fashion_cnn.onnx",
            "models/fashion",
            [
                "calib_x_128.npy",
                "test_x_200.npy",
                "test_y_200.npy",
                "sample0.npy",
            ],
            false,
        ));
    }
    let zoo = root.join("target/zoo");
    for name in TORCHVISION_ZOO {
        out.push(BenchModel {
            name: name.into(),
            onnx: zoo.join(format!("{name}.onnx")),
            calib: zoo.join(format!("{name}.calib.npy")),
            data: zoo.join(format!("{name}.calib.npy")),
            labels: None,
            sample: zoo.join(format!("{name}.input.npy")),
            quick: false,
            provable: false,
            generate: Some(vec![
                "target/pyenv/bin/python".into(),
                "scripts/export_torchvision.py".into(),
                "--models".into(),
                name.into(),
            ]),
        });
    }
    out
}
