//! The models of `models/qdq/`, quantized by onnxruntime (QDQ, QOperator with uint8
//! asymmetric activations, dynamic): imported, converted onto the integer standard, checked
//! against the onnxruntime output stored next to each model and, for the classifiers, for
//! top-1 accuracy on their test sets.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tk_ir::onnx::{ImportOptions, import_onnx};
use tk_ir::{Graph, Tensor};
use tk_quant::{QModel, QuantError, QuantOptions, Quantized, metrics, quantize, reference};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn npy(path: &str) -> Tensor {
    tk_ir::npy::read_npy(&models().join(path)).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.as_f32().unwrap().iter().copied().collect()
}

/// Where calibration data comes from, when a model needs it.
#[derive(Clone, Copy)]
enum Calib {
    /// Every scale comes from the model's Q/DQ pairs.
    None,
    /// A committed calibration set.
    File(&'static str),
    /// Seeded standard-normal samples (the `models/ops` inputs are standard normal).
    Normal,
}

struct Case {
    name: &'static str,
    calib: Calib,
    /// `(inputs, labels, float top-1 of the source model)` for the classifiers.
    test: Option<(&'static str, &'static str, f64)>,
}

const DIGITS_MLP: Option<(&str, &str, f64)> =
    Some(("digits/test_x_flat.npy", "digits/test_y.npy", 0.975));
const DIGITS_CNN: Option<(&str, &str, f64)> =
    Some(("digits/test_x_img.npy", "digits/test_y.npy", 0.9639));
const FASHION: Option<(&str, &str, f64)> =
    Some(("fashion/test_x_200.npy", "fashion/test_y_200.npy", 0.895));

fn cases() -> Vec<Case> {
    let case = |name, calib, test| Case { name, calib, test };
    vec![
        case("digits_mlp_qdq", Calib::None, DIGITS_MLP),
        case("digits_cnn_qdq", Calib::None, DIGITS_CNN),
        case("fashion_cnn_qdq", Calib::None, FASHION),
        case("conv_qdq", Calib::None, None),
        case("residual_qdq", Calib::None, None),
        case("net_tiny_cnn_qdq", Calib::None, None),
        case("net_mobilenet_block_qdq", Calib::None, None),
        case("digits_mlp_qop", Calib::None, DIGITS_MLP),
        case("digits_cnn_qop", Calib::None, DIGITS_CNN),
        case("fashion_cnn_qop", Calib::None, FASHION),
        case("conv_qop", Calib::None, None),
        // Its residual `Add` reads the float input and stays float in the QOperator model.
        case("residual_qop", Calib::Normal, None),
        case(
            "digits_mlp_dyn",
            Calib::File("digits/calib_x_flat.npy"),
            DIGITS_MLP,
        ),
        case(
            "digits_cnn_dyn",
            Calib::File("digits/calib_x_img.npy"),
            DIGITS_CNN,
        ),
    ]
}

fn import(name: &str) -> Graph {
    let path = models().join(format!("qdq/{name}.onnx"));
    import_onnx(&path, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .graph
}

/// `count` standard-normal samples shaped like the graph's input (Box-Muller, seeded).
fn normal_samples(graph: &Graph, count: usize, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fact = graph.fact(graph.inputs()[0]).unwrap();
    let mut shape = fact.shape.clone();
    shape[0] = count;
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            let (u, v): (f32, f32) = (rng.gen_range(1e-7..1.0), rng.gen_range(0.0..1.0));
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect();
    Tensor::from_f32(&shape, data).unwrap()
}

fn calibration(case: &Case, graph: &Graph) -> Vec<Tensor> {
    match case.calib {
        Calib::None => vec![],
        Calib::File(path) => vec![npy(path)],
        Calib::Normal => vec![normal_samples(graph, 64, 1000)],
    }
}

/// Quantizes, validates and round-trips through the `.tkq` bytes.
fn convert(case: &Case, graph: &Graph) -> (Quantized, QModel) {
    let q = quantize(graph, &calibration(case, graph), &QuantOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    q.model.validate().unwrap();
    let bytes = tk_quant::file::to_bytes(&q.model).unwrap();
    let model = tk_quant::file::from_bytes(&bytes).unwrap();
    (q, model)
}

/// The integer model's output for `x`, dequantized.
fn run(model: &QModel, x: &[Tensor]) -> Vec<f32> {
    let qx = tk_quant::quantize_inputs(model, x).unwrap();
    let y = reference::run(model, &qx).unwrap();
    flat(&tk_quant::dequantize_outputs(model, &y).unwrap()[0])
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn every_model_of_the_directory_is_covered() {
    let mut found: Vec<String> = std::fs::read_dir(models().join("qdq"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".onnx").map(str::to_string)
        })
        .collect();
    found.sort();
    let mut listed: Vec<String> = cases().iter().map(|c| c.name.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}

/// On the stored sample, the integer model's dequantized output matches onnxruntime's: the
/// same top-1 class for the classifiers, and a maximum error of a few output quantization
/// steps (onnxruntime rounds twice where the integer model rounds once, half to even where
/// the standard rounds half up, and the 9-bit grids of uint8 tensors saturate elsewhere).
#[test]
fn integer_models_agree_with_onnxruntime_on_the_stored_samples() {
    for case in cases() {
        let graph = import(case.name);
        let (_, model) = convert(&case, &graph);
        let x = npy(&format!("qdq/{}.input.npy", case.name));
        let want = flat(&npy(&format!("qdq/{}.output.npy", case.name)));
        let got = run(&model, &[x]);
        let out = model.graph.outputs[0];
        let step = model.scale(out).unwrap();
        let err = max_abs_diff(&got, &want);
        let bits: Vec<u8> = model.graph.nodes.iter().map(|n| n.bits).collect();
        eprintln!(
            "{:<24} max |int - ort| {err:.4} = {:.2} output steps ({step:.4}); bits {bits:?}",
            case.name,
            err / step
        );
        assert!(
            err <= 3.0 * step,
            "{}: error {err} (step {step})",
            case.name
        );
        if want.len() == 10 {
            assert_eq!(
                metrics::argmax(&got),
                metrics::argmax(&want),
                "{}: top-1 differs",
                case.name
            );
        }
    }
}

struct Accuracy {
    float: f64,
    integer: f64,
    agreement: f64,
}

/// Top-1 of the imported graph (float evaluation, i.e. onnxruntime's quantized model) and of
/// the integer model over a test set.
fn accuracy(case: &Case, inputs: &str, labels: &str) -> Accuracy {
    let graph = import(case.name);
    let (_, model) = convert(case, &graph);
    let labels: Vec<usize> = npy(labels)
        .to_i64_vec()
        .unwrap()
        .iter()
        .map(|&l| l as usize)
        .collect();
    let test = npy(inputs);
    let (mut float, mut integer) = (Vec::new(), Vec::new());
    for i in 0..labels.len() {
        let x = tk_quant::calibrate::sample(&graph, std::slice::from_ref(&test), i).unwrap();
        float.extend(flat(&tk_ir::eval::eval(&graph, &x).unwrap()[0]));
        integer.extend(run(&model, &x));
    }
    Accuracy {
        float: metrics::top1(&float, 10, &labels),
        integer: metrics::top1(&integer, 10, &labels),
        agreement: metrics::top1_agreement(&float, &integer, 10),
    }
}

/// Integer top-1 within one point of the source float model's on the test sets.
fn check_accuracy(family: &str) {
    for case in cases().iter().filter(|c| c.name.starts_with(family)) {
        let (inputs, labels, source_float) = case.test.unwrap();
        let a = accuracy(case, inputs, labels);
        eprintln!(
            "{:<18} source float {:.2}%, onnxruntime model {:.2}%, integer {:.2}%, agreement {:.2}%",
            case.name,
            100.0 * source_float,
            100.0 * a.float,
            100.0 * a.integer,
            100.0 * a.agreement
        );
        assert!(
            (a.integer - source_float).abs() <= 0.01,
            "{}: integer top-1 {} vs float {source_float}",
            case.name,
            a.integer
        );
    }
}

#[test]
fn digits_mlp_models_keep_accuracy() {
    check_accuracy("digits_mlp");
}

#[test]
fn digits_cnn_models_keep_accuracy() {
    check_accuracy("digits_cnn");
}

#[test]
fn fashion_models_keep_accuracy() {
    check_accuracy("fashion_cnn");
}

/// Scales come from the model's Q/DQ pairs: the same model with or without calibration data,
/// uint8 activations on 9-bit grids of the model's scale.
#[test]
fn scales_come_from_the_model() {
    let graph = import("conv_qop");
    let without = quantize(&graph, &[], &QuantOptions::default()).unwrap();
    let calib = normal_samples(&graph, 32, 7);
    let with = quantize(&graph, &[calib], &QuantOptions::default()).unwrap();
    assert_eq!(without.model, with.model);
    let m = &without.model;
    let ops: Vec<&str> = m.graph.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(ops, ["Input", "Conv"]);
    // input_scale 0.03126 with zero point 122, output_scale 0.04029 with zero point 131:
    // uint8 minus its zero point needs 9 signed bits.
    assert_eq!(m.scale(0), Some(0.031_257_376));
    assert_eq!(m.scale(1), Some(0.040_293_135));
    assert!(m.graph.nodes.iter().all(|n| n.bits == 9));
    // onnxruntime's int32 bias is recovered exactly from its real value.
    let tk_quant::ops::QOp::Conv(conv) = &m.graph.nodes[1].op else {
        panic!("not a Conv")
    };
    assert_eq!(conv.bias, [57, 407, 267, -487]);
}

/// A scale the model fixes after `Relu` (or `Flatten`) is the one the producing layer
/// requantizes to.
#[test]
fn scales_after_wiring_ops_move_to_the_producer() {
    let graph = import("digits_cnn_qop");
    let q = quantize(&graph, &[], &QuantOptions::default()).unwrap();
    let m = &q.model;
    let named = |name: &str| {
        let id = m.graph.nodes.iter().position(|n| n.name == name).unwrap();
        (m.graph.nodes[id].op.name(), m.scale(id).unwrap())
    };
    // `/0/Conv_quant` is requantized to the scale of the Relu after it, not its own 0.0315.
    assert_eq!(named("/0/Conv_quant"), ("Conv", 0.022_572_106));
    // The average pool takes the scale the model quantizes the flattened tensor to.
    assert_eq!(named("/4/AveragePool"), ("AvgPool", 0.074_423_544));
}

#[test]
fn dynamic_quantization_needs_calibration_data() {
    let graph = import("digits_mlp_dyn");
    let err = quantize(&graph, &[], &QuantOptions::default()).unwrap_err();
    assert!(matches!(err, QuantError::Calibration { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"input_QuantizeLinear\" (DynamicQuantizeLinear)"),
        "{msg}"
    );
}

#[test]
fn float_ops_outside_the_qdq_pairs_need_calibration_data() {
    let graph = import("residual_qop");
    let err = quantize(&graph, &[], &QuantOptions::default()).unwrap_err();
    assert!(err.to_string().contains("\"add\""), "{err}");
}

/// A dynamically quantized tensor gets the scale calibration gives the same tensor of the
/// source float model: the dynamic model converts to the float model's integer graph.
#[test]
fn dynamic_scales_are_calibrated() {
    let calib = [npy("digits/calib_x_flat.npy")];
    let options = QuantOptions::default();
    let dynamic = quantize(&import("digits_mlp_dyn"), &calib, &options).unwrap();
    assert_eq!(
        dynamic.folded.dynamic,
        ["input_QuantizeLinear", "/1/Relu_output_0_QuantizeLinear"]
    );
    let source = import_onnx(&models().join("digits_mlp.onnx"), &ImportOptions::default())
        .unwrap()
        .graph;
    let float = quantize(&source, &calib, &options).unwrap();
    let ops =
        |m: &QModel| -> Vec<&'static str> { m.graph.nodes.iter().map(|n| n.op.name()).collect() };
    assert_eq!(ops(&dynamic.model), ops(&float.model));
    // Same input scale; later layers see slightly different values (onnxruntime's weights).
    assert_eq!(dynamic.model.scale(0), float.model.scale(0));
    for id in 1..dynamic.model.graph.nodes.len() {
        let (d, f) = (
            dynamic.model.scale(id).unwrap(),
            float.model.scale(id).unwrap(),
        );
        assert!((d / f - 1.0).abs() < 0.02, "node {id}: {d} vs {f}");
    }
}

/// `DynamicQuantizeLinear` outputs used other than as `quantize_dynamic` does are refused.
#[test]
fn other_uses_of_dynamic_scales_are_refused() {
    use tk_ir::ops::dynamic_quantize_linear::DynamicOutput;
    use tk_ir::ops::{DequantizeLinear, DynamicQuantizeLinear};
    use tk_ir::{Fact, OutletId};
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 4])).unwrap();
    let part = |g: &mut Graph, name: &str, output| -> OutletId {
        g.add_node(name, DynamicQuantizeLinear { output }.into(), &[x])
            .unwrap()
    };
    let q = part(&mut g, "dql", DynamicOutput::Quantized);
    let s = part(&mut g, "dql/scale", DynamicOutput::Scale);
    let z = part(&mut g, "dql/zero_point", DynamicOutput::ZeroPoint);
    let y = g
        .add_node("dq", DequantizeLinear { axis: None }.into(), &[q, s, z])
        .unwrap();
    g.add_output("y", y).unwrap();
    let calib = normal_samples(&g, 8, 3);
    // Dequantizing the dynamic tensor is the tensor itself.
    let q = quantize(&g, std::slice::from_ref(&calib), &QuantOptions::default()).unwrap();
    assert_eq!(q.folded.dynamic, ["dql"]);
    assert_eq!(q.model.graph.nodes.len(), 1);
    // Its scale as an output has no static equivalent.
    g.add_output("scale", s).unwrap();
    let err = quantize(&g, &[calib], &QuantOptions::default()).unwrap_err();
    assert!(
        matches!(&err, QuantError::Unsupported { node, .. } if node == "dql/scale"),
        "{err}"
    );
}
