//! The import contract: folding, naming, constants, options.

mod common;

use common::build::{Dim, bytes, f32_init, i64_init, int, ints, model, node, value};
use tk_ir::onnx::{ImportOptions, import_onnx_bytes};
use tk_ir::ops::Op;
use tk_ir::{IrError, Tensor};

fn op_names(m: &tk_ir::onnx::Model) -> Vec<&'static str> {
    m.graph
        .nodes()
        .iter()
        .map(|n| n.op.as_def().name())
        .collect()
}

#[test]
fn torch_flatten_shape_subgraph_is_folded() {
    // x.view(x.size(0), -1) as older PyTorch exports it.
    let m = model(
        13,
        vec![
            node("Shape", "shape", &["x"], &["s"], vec![]),
            node(
                "Constant",
                "zero",
                &[],
                &["i0"],
                vec![tensor_attr("value", i64_init("", &[], vec![0]))],
            ),
            node(
                "Gather",
                "gather",
                &["s", "i0"],
                &["n"],
                vec![int("axis", 0)],
            ),
            node("Unsqueeze", "unsq", &["n", "ax"], &["n1"], vec![]),
            node(
                "Concat",
                "cat",
                &["n1", "minus_one"],
                &["spec"],
                vec![int("axis", 0)],
            ),
            node("Reshape", "reshape", &["x", "spec"], &["y"], vec![]),
        ],
        vec![value("x", &[Dim::N(2), Dim::N(3), Dim::N(4)])],
        vec![value("y", &[])],
        vec![
            i64_init("ax", &[1], vec![0]),
            i64_init("minus_one", &[1], vec![-1]),
        ],
    );
    let imported = import_onnx_bytes(&bytes(&m), &ImportOptions::default()).unwrap();
    assert_eq!(op_names(&imported), ["Input", "Reshape"]);
    let reshape = &imported.graph.nodes()[1];
    assert_eq!(reshape.name, "reshape");
    assert_eq!(reshape.fact.shape, vec![2, 12]);
}

fn tensor_attr(name: &str, t: tract_onnx::pb::TensorProto) -> tract_onnx::pb::AttributeProto {
    tract_onnx::pb::AttributeProto {
        name: name.into(),
        r#type: tract_onnx::pb::attribute_proto::AttributeType::Tensor as i32,
        t: Some(t),
        ..Default::default()
    }
}

#[test]
fn weights_stay_constant_inputs_and_names_are_kept() {
    let m = model(
        13,
        vec![
            node(
                "Transpose",
                "",
                &["w_t"],
                &["w"],
                vec![ints("perm", &[1, 0])],
            ),
            node("Gemm", "", &["x", "w", "b"], &["y"], vec![]),
            node("Relu", "act", &["y"], &["z"], vec![]),
        ],
        vec![value("x", &[Dim::N(1), Dim::N(2)])],
        vec![value("z", &[])],
        vec![
            f32_init("w_t", &[3, 2], vec![1.0; 6]),
            f32_init("b", &[3], vec![0.5; 3]),
        ],
    );
    let imported = import_onnx_bytes(&bytes(&m), &ImportOptions::default()).unwrap();
    let g = &imported.graph;
    let gemm = g
        .nodes()
        .iter()
        .find(|n| matches!(n.op, Op::Gemm(_)))
        .unwrap();
    assert_eq!(gemm.name, "Gemm_1");
    // The transposed weight was folded into one constant named after the Transpose node.
    let w = g.node(gemm.inputs[1].node).unwrap();
    assert!(matches!(w.op, Op::Const(_)));
    assert_eq!(
        (w.name.as_str(), w.fact.shape.as_slice()),
        ("Transpose_0", &[2, 3][..])
    );
    assert!(matches!(
        g.node(gemm.inputs[2].node).unwrap().op,
        Op::Const(_)
    ));
    assert_eq!(
        g.nodes()
            .iter()
            .filter(|n| matches!(n.op, Op::Transpose(_)))
            .count(),
        0
    );
    // The unused original weight is pruned.
    assert!(g.nodes().iter().all(|n| n.name != "w_t"));
    let out = tk_ir::eval::eval(g, &[Tensor::from_f32(&[1, 2], vec![1.0, -3.0]).unwrap()]).unwrap();
    assert_eq!(
        out[0].as_f32().unwrap().as_slice().unwrap(),
        &[0.0, 0.0, 0.0]
    );
    assert_eq!(imported.output_names, ["z"]);
    assert_eq!(imported.input_names, ["x"]);
    assert_eq!(imported.opset, 13);
    assert_eq!(imported.producer, "tk-ir tests");
}

#[test]
fn initializers_listed_as_inputs_and_fixed_inputs_are_constants() {
    let m = model(
        13,
        vec![
            node("Add", "add", &["x", "w"], &["y"], vec![]),
            node("Mul", "mul", &["y", "k"], &["z"], vec![]),
        ],
        vec![
            value("x", &[Dim::N(2)]),
            value("w", &[Dim::N(2)]),
            value("k", &[Dim::N(2)]),
        ],
        vec![value("z", &[])],
        vec![f32_init("w", &[2], vec![1.0, 2.0])],
    );
    // `k` is a real input unless fixed.
    let free = import_onnx_bytes(&bytes(&m), &ImportOptions::default()).unwrap();
    assert_eq!(free.input_names, ["x", "k"]);
    let options = ImportOptions {
        fixed_inputs: [(
            "k".to_string(),
            Tensor::from_f32(&[2], vec![10.0, 100.0]).unwrap(),
        )]
        .into(),
        ..Default::default()
    };
    let fixed = import_onnx_bytes(&bytes(&m), &options).unwrap();
    assert_eq!(fixed.input_names, ["x"]);
    let out = tk_ir::eval::eval(
        &fixed.graph,
        &[Tensor::from_f32(&[2], vec![0.0, 1.0]).unwrap()],
    )
    .unwrap();
    assert_eq!(out[0].as_f32().unwrap().as_slice().unwrap(), &[10.0, 300.0]);
    let wrong = ImportOptions {
        fixed_inputs: [("k".to_string(), Tensor::from_i64(&[2], vec![1, 2]).unwrap())].into(),
        ..Default::default()
    };
    assert!(matches!(
        import_onnx_bytes(&bytes(&m), &wrong),
        Err(IrError::InputMismatch { .. })
    ));
}

#[test]
fn unproduced_outputs_fail_only_when_used() {
    let pool = |outputs: &[&str]| {
        node(
            "MaxPool",
            "pool",
            &["x"],
            outputs,
            vec![ints("kernel_shape", &[2, 2])],
        )
    };
    let x = || vec![value("x", &[Dim::N(1), Dim::N(1), Dim::N(4), Dim::N(4)])];
    let unused = model(
        13,
        vec![pool(&["y", "idx"])],
        x(),
        vec![value("y", &[])],
        vec![],
    );
    assert!(import_onnx_bytes(&bytes(&unused), &ImportOptions::default()).is_ok());
    let used = model(
        13,
        vec![pool(&["y", "idx"])],
        x(),
        vec![value("idx", &[])],
        vec![],
    );
    match import_onnx_bytes(&bytes(&used), &ImportOptions::default()) {
        Err(IrError::Unsupported { op, feature, .. }) => {
            assert_eq!((op.as_str(), feature.as_str()), ("MaxPool", "output 1"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn legacy_softmax_is_coerced_to_2d() {
    let m = model(
        11,
        vec![node("Softmax", "sm", &["x"], &["y"], vec![int("axis", 1)])],
        vec![value("x", &[Dim::N(1), Dim::N(2), Dim::N(2)])],
        vec![value("y", &[])],
        vec![],
    );
    let imported = import_onnx_bytes(&bytes(&m), &ImportOptions::default()).unwrap();
    assert_eq!(
        op_names(&imported),
        ["Input", "Reshape", "Softmax", "Reshape"]
    );
    let x = Tensor::from_f32(&[1, 2, 2], vec![0.0; 4]).unwrap();
    let y = tk_ir::eval::eval(&imported.graph, &[x]).unwrap();
    assert_eq!(y[0].as_f32().unwrap().as_slice().unwrap(), &[0.25; 4]);
}

#[test]
fn quantize_dequantize_round_trip_uses_zero_point_type() {
    let mut zp = typed_tensor("zp", 3);
    zp.raw_data = vec![0xfe]; // int8 -2
    let m = model(
        13,
        vec![
            node("QuantizeLinear", "q", &["x", "s", "zp"], &["xq"], vec![]),
            node("DequantizeLinear", "dq", &["xq", "s", "zp"], &["y"], vec![]),
        ],
        vec![value("x", &[Dim::N(4)])],
        vec![value("y", &[])],
        vec![f32_init("s", &[], vec![0.5]), zp],
    );
    let imported = import_onnx_bytes(&bytes(&m), &ImportOptions::default()).unwrap();
    let x = Tensor::from_f32(&[4], vec![-100.0, -0.26, 0.25, 100.0]).unwrap();
    let y = tk_ir::eval::eval(&imported.graph, &[x]).unwrap();
    // int8 saturates at -128 and 127; 0.25 / 0.5 rounds half to even (0).
    assert_eq!(
        y[0].as_f32().unwrap().as_slice().unwrap(),
        &[-63.0, -0.5, 0.0, 64.5]
    );
}

fn typed_tensor(name: &str, data_type: i32) -> tract_onnx::pb::TensorProto {
    tract_onnx::pb::TensorProto {
        name: name.into(),
        data_type,
        ..Default::default()
    }
}
