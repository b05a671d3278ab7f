//! Hostile and broken inputs: every one must give an error, none may panic.

mod common;

use common::build::{Dim, bytes, f32_init, float, i64_init, ints, model, node, value};
use common::workspace_root;
use proptest::prelude::*;
use tk_ir::IrError;
use tk_ir::onnx::{ImportOptions, import_onnx, import_onnx_bytes};
use tract_onnx::pb;

fn import(m: &pb::ModelProto) -> Result<tk_ir::onnx::Model, IrError> {
    import_onnx_bytes(&bytes(m), &ImportOptions::default())
}

fn real_model() -> Vec<u8> {
    std::fs::read(workspace_root().join("models/ops/net_tiny_cnn.onnx")).expect("op model present")
}

#[test]
fn empty_input_is_malformed() {
    assert!(matches!(
        import_onnx_bytes(&[], &ImportOptions::default()),
        Err(IrError::Malformed { .. })
    ));
    let dir = std::env::temp_dir().join(format!("tk-ir-empty-{}", std::process::id()));
    std::fs::write(&dir, b"").unwrap();
    let r = import_onnx(&dir, &ImportOptions::default());
    let _ = std::fs::remove_file(&dir);
    assert!(matches!(r, Err(IrError::Malformed { .. })), "{r:?}");
    assert!(matches!(
        import_onnx(
            "/nonexistent/model.onnx".as_ref(),
            &ImportOptions::default()
        ),
        Err(IrError::Io { .. })
    ));
}

#[test]
fn random_bytes_are_rejected() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [1usize, 2, 7, 64, 1000, 65_536] {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(
            import_onnx_bytes(&data, &ImportOptions::default()).is_err(),
            "{len} random bytes"
        );
    }
}

#[test]
fn every_truncation_of_a_real_model_is_an_error() {
    let full = real_model();
    assert!(import_onnx_bytes(&full, &ImportOptions::default()).is_ok());
    for cut in (0..full.len()).step_by(7) {
        assert!(
            import_onnx_bytes(&full[..cut], &ImportOptions::default()).is_err(),
            "truncated at {cut}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Corrupting bytes of a valid model never panics (it may still import).
    #[test]
    fn byte_corruption_never_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut data = real_model();
        for (at, byte) in edits {
            let i = at.index(data.len());
            data[i] = byte;
        }
        let _ = import_onnx_bytes(&data, &ImportOptions::default());
    }
}

fn relu_model(op: &str) -> pb::ModelProto {
    model(
        13,
        vec![node(op, "n0", &["x"], &["y"], vec![])],
        vec![value("x", &[Dim::N(1), Dim::N(4)])],
        vec![value("y", &[Dim::N(1), Dim::N(4)])],
        vec![],
    )
}

#[test]
fn unsupported_op_is_named() {
    match import(&relu_model("Foo")) {
        Err(IrError::UnsupportedOp { op, node }) => {
            assert_eq!((op.as_str(), node.as_str()), ("Foo", "n0"))
        }
        other => panic!("{other:?}"),
    }
    let mut m = relu_model("Relu");
    m.graph.as_mut().unwrap().node[0].domain = "com.microsoft".into();
    assert!(
        matches!(import(&m), Err(IrError::UnsupportedOp { op, .. }) if op == "com.microsoft::Relu")
    );
}

#[test]
fn huge_declared_dims_hit_limits() {
    let m = model(
        13,
        vec![node("Relu", "n0", &["x"], &["y"], vec![])],
        vec![value("x", &[Dim::N(1), Dim::N(1 << 40), Dim::N(1 << 40)])],
        vec![value("y", &[])],
        vec![],
    );
    assert!(import(&m).is_err());
    let m = model(
        13,
        vec![node("Relu", "n0", &["x"], &["y"], vec![])],
        vec![value("x", &[Dim::N(1), Dim::N(-3)])],
        vec![value("y", &[])],
        vec![],
    );
    assert!(matches!(import(&m), Err(IrError::InputMismatch { .. })));
    // An initializer that declares 2^60 elements but holds none.
    let m = model(
        13,
        vec![node("Add", "n0", &["x", "w"], &["y"], vec![])],
        vec![value("x", &[Dim::N(1)])],
        vec![value("y", &[])],
        vec![f32_init("w", &[1 << 30, 1 << 30], vec![])],
    );
    assert!(matches!(import(&m), Err(IrError::InvalidTensor { .. })));
    // Rank beyond the limit.
    let dims: Vec<Dim> = (0..20).map(|_| Dim::N(1)).collect();
    let m = model(
        13,
        vec![],
        vec![value("x", &dims)],
        vec![value("x", &[])],
        vec![],
    );
    assert!(matches!(import(&m), Err(IrError::Limit { .. })));
}

#[test]
fn folded_constants_are_bounded() {
    // ConstantOfShape asked for 2^40 elements must not allocate.
    let m = model(
        13,
        vec![node("ConstantOfShape", "c", &["s"], &["y"], vec![])],
        vec![],
        vec![value("y", &[])],
        vec![i64_init("s", &[2], vec![1 << 20, 1 << 20])],
    );
    assert!(matches!(import(&m), Err(IrError::Limit { .. })));
    let m = model(
        13,
        vec![node("ConstantOfShape", "c", &["s"], &["y"], vec![])],
        vec![],
        vec![value("y", &[])],
        vec![i64_init("s", &[2], vec![-1, 4])],
    );
    assert!(import(&m).is_err());
}

#[test]
fn data_length_must_match_dims() {
    let mut w = f32_init("w", &[4], vec![]);
    w.raw_data = vec![0; 15];
    let m = model(
        13,
        vec![node("Add", "n0", &["x", "w"], &["y"], vec![])],
        vec![value("x", &[Dim::N(4)])],
        vec![value("y", &[])],
        vec![w],
    );
    assert!(matches!(import(&m), Err(IrError::InvalidTensor { .. })));
}

#[test]
fn external_data_is_refused() {
    let mut w = f32_init("w", &[4], vec![]);
    w.data_location = Some(1);
    w.external_data = vec![pb::StringStringEntryProto {
        key: "location".into(),
        value: "../../etc/passwd".into(),
    }];
    let m = model(
        13,
        vec![node("Add", "n0", &["x", "w"], &["y"], vec![])],
        vec![value("x", &[Dim::N(4)])],
        vec![value("y", &[])],
        vec![w],
    );
    match import(&m) {
        Err(IrError::InvalidTensor { reason, .. }) => {
            assert!(reason.contains("external"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn symbolic_dims_need_a_shape() {
    let m = model(
        13,
        vec![node("Relu", "n0", &["x"], &["y"], vec![])],
        vec![value("x", &[Dim::S("batch"), Dim::S("features")])],
        vec![value("y", &[])],
        vec![],
    );
    match import(&m) {
        Err(e @ IrError::InputMismatch { .. }) => {
            assert!(e.to_string().contains("--input-shape"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let options = ImportOptions {
        input_shapes: [("x".to_string(), vec![2, 5])].into(),
        ..Default::default()
    };
    let imported = import_onnx_bytes(&bytes(&m), &options).unwrap();
    assert_eq!(
        imported
            .graph
            .fact(imported.graph.inputs()[0])
            .unwrap()
            .shape,
        vec![2, 5]
    );
    // The batch dimension alone defaults to 1.
    let m = model(
        13,
        vec![node("Relu", "n0", &["x"], &["y"], vec![])],
        vec![value("x", &[Dim::S("batch"), Dim::N(5)])],
        vec![value("y", &[])],
        vec![],
    );
    let imported = import(&m).unwrap();
    assert_eq!(
        imported
            .graph
            .fact(imported.graph.inputs()[0])
            .unwrap()
            .shape,
        vec![1, 5]
    );
    // An override must agree with the declared fixed dims.
    let bad = ImportOptions {
        input_shapes: [("x".to_string(), vec![1, 6])].into(),
        ..Default::default()
    };
    assert!(matches!(
        import_onnx_bytes(&bytes(&m), &bad),
        Err(IrError::InputMismatch { .. })
    ));
    let unknown = ImportOptions {
        input_shapes: [("nope".to_string(), vec![1])].into(),
        ..Default::default()
    };
    assert!(matches!(
        import_onnx_bytes(&bytes(&m), &unknown),
        Err(IrError::InputMismatch { .. })
    ));
}

#[test]
fn broken_graph_structure() {
    // A node reading a value nobody produces.
    let m = model(
        13,
        vec![node("Relu", "n0", &["missing"], &["y"], vec![])],
        vec![value("x", &[Dim::N(1)])],
        vec![value("y", &[])],
        vec![],
    );
    assert!(matches!(import(&m), Err(IrError::DanglingEdge { .. })));
    // A graph output nobody produces.
    let m = model(
        13,
        vec![],
        vec![value("x", &[Dim::N(1)])],
        vec![value("z", &[])],
        vec![],
    );
    assert!(matches!(import(&m), Err(IrError::DanglingEdge { .. })));
    // A value defined twice.
    let m = model(
        13,
        vec![node("Relu", "a", &["x"], &["x"], vec![])],
        vec![value("x", &[Dim::N(1)])],
        vec![value("x", &[])],
        vec![],
    );
    assert!(import(&m).is_err());
    // No graph, no opset.
    let mut m = relu_model("Relu");
    m.graph = None;
    assert!(matches!(import(&m), Err(IrError::Malformed { .. })));
    let mut m = relu_model("Relu");
    m.opset_import.clear();
    assert!(matches!(import(&m), Err(IrError::Malformed { .. })));
}

#[test]
fn bad_attributes_and_shapes_are_errors() {
    // `axis` given as a float.
    let m = model(
        13,
        vec![node(
            "Flatten",
            "f",
            &["x"],
            &["y"],
            vec![float("axis", 1.0)],
        )],
        vec![value("x", &[Dim::N(2), Dim::N(3)])],
        vec![value("y", &[])],
        vec![],
    );
    assert!(matches!(import(&m), Err(IrError::InvalidNode { .. })));
    // Shapes that do not broadcast.
    let m = model(
        13,
        vec![node("Add", "a", &["x", "w"], &["y"], vec![])],
        vec![value("x", &[Dim::N(2), Dim::N(3)])],
        vec![value("y", &[])],
        vec![f32_init("w", &[4], vec![0.0; 4])],
    );
    assert!(matches!(import(&m), Err(IrError::Node { .. })));
    // A reshape to a different element count.
    let m = model(
        13,
        vec![node("Reshape", "r", &["x", "s"], &["y"], vec![])],
        vec![value("x", &[Dim::N(2), Dim::N(3)])],
        vec![value("y", &[])],
        vec![i64_init("s", &[2], vec![4, 2])],
    );
    assert!(matches!(import(&m), Err(IrError::InvalidNode { .. })));
    // A permutation that is not one.
    let m = model(
        13,
        vec![node(
            "Transpose",
            "t",
            &["x"],
            &["y"],
            vec![ints("perm", &[0, 7])],
        )],
        vec![value("x", &[Dim::N(2), Dim::N(3)])],
        vec![value("y", &[])],
        vec![],
    );
    assert!(matches!(import(&m), Err(IrError::Node { .. })));
    // A run-time value where a constant is required.
    let m = model(
        13,
        vec![node("Reshape", "r", &["x", "s"], &["y"], vec![])],
        vec![
            value("x", &[Dim::N(2), Dim::N(3)]),
            common::build::typed_value("s", 7, &[Dim::N(2)]),
        ],
        vec![value("y", &[])],
        vec![],
    );
    assert!(matches!(import(&m), Err(IrError::Unsupported { .. })));
}
