//! Hostile `.onnx` and `.npy` files: every truncation and single-bit flip of small real files,
//! cyclic graphs, external data in every place a tensor can appear (never read, whatever the
//! path), path traversal through tract's own loader (used by `tk profile`), and `.npy` headers
//! that lie about dtype, shape or length. Each ends in an error or a valid value, never a panic
//! or an allocation the file does not pay for.
//!
//! Complements `malformed.rs`; the `onnx_import` and `npy_read` fuzz targets explore the rest.

mod common;

use std::path::{Path, PathBuf};

use common::build::{Dim, bytes, f32_init, model, node, value};
use common::workspace_root;
use tk_ir::IrError;
use tk_ir::npy::decode_npy;
use tk_ir::onnx::{ImportOptions, import_onnx, import_onnx_bytes};
use tract_onnx::pb;

fn import(data: &[u8]) -> Result<tk_ir::onnx::Model, IrError> {
    import_onnx_bytes(data, &ImportOptions::default())
}

fn op_model(name: &str) -> Vec<u8> {
    std::fs::read(workspace_root().join("models/ops").join(name)).expect("op model present")
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tk-ir-hostile-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_truncation_and_bit_flip_of_small_models_is_handled() {
    for name in ["relu.onnx", "conv.onnx", "constant_node.onnx"] {
        let full = op_model(name);
        import(&full).unwrap_or_else(|e| panic!("{name}: {e}"));
        for cut in 0..full.len() {
            // A protobuf prefix may still parse (it ends between fields); it must not panic,
            // and a prefix that lost the graph's tail cannot import.
            let _ = import(&full[..cut]);
        }
        for i in 0..full.len() {
            for bit in 0..8 {
                let mut b = full.clone();
                b[i] ^= 1 << bit;
                let _ = import(&b);
            }
        }
    }
    // A real model: every 61st byte flipped, every 97th prefix.
    let full = std::fs::read(workspace_root().join("models/digits_mlp.onnx")).unwrap();
    for i in (0..full.len()).step_by(61) {
        let mut b = full.clone();
        b[i] ^= 1 << (i % 8);
        let _ = import(&b);
    }
    for cut in (0..full.len()).step_by(97) {
        assert!(
            import(&full[..cut]).is_err(),
            "digits_mlp cut at {cut} imports"
        );
    }
}

#[test]
fn cyclic_graphs_are_rejected() {
    // n0 reads n1's output and n1 reads n0's.
    let m = model(
        13,
        vec![
            node("Add", "n0", &["x", "b"], &["a"], vec![]),
            node("Relu", "n1", &["a"], &["b"], vec![]),
        ],
        vec![value("x", &[Dim::N(1), Dim::N(4)])],
        vec![value("b", &[])],
        vec![],
    );
    assert_dangling(import(&bytes(&m)), "n0", 1, "b");
    // A node reading its own output.
    let m = model(
        13,
        vec![node("Add", "n0", &["x", "y"], &["y"], vec![])],
        vec![value("x", &[Dim::N(1), Dim::N(4)])],
        vec![value("y", &[])],
        vec![],
    );
    assert_dangling(import(&bytes(&m)), "n0", 1, "y");
}

/// Asserts a dangling-edge error naming the consumer, its input and the missing value.
fn assert_dangling(r: Result<tk_ir::onnx::Model, IrError>, node: &str, input: usize, target: &str) {
    match r {
        Err(IrError::DanglingEdge {
            node: n,
            input: i,
            target: t,
        }) => assert_eq!((n.as_str(), i, t.as_str()), (node, input, target)),
        other => panic!(
            "expected a dangling edge at {node}, got {:?}",
            other.map(|_| ())
        ),
    }
}

fn external(t: &mut pb::TensorProto, location: &str) {
    t.data_location = Some(pb::tensor_proto::DataLocation::External as i32);
    t.external_data = vec![
        pb::StringStringEntryProto {
            key: "location".into(),
            value: location.into(),
        },
        pb::StringStringEntryProto {
            key: "length".into(),
            value: "16".into(),
        },
    ];
}

/// `y = x + w` with `w` a `[4]` initializer.
fn add_model(w: pb::TensorProto) -> pb::ModelProto {
    model(
        13,
        vec![node("Add", "n0", &["x", "w"], &["y"], vec![])],
        vec![value("x", &[Dim::N(4)])],
        vec![value("y", &[])],
        vec![w],
    )
}

fn assert_external_refused(result: Result<tk_ir::onnx::Model, IrError>, what: &str) {
    match result {
        Err(IrError::InvalidTensor { reason, .. }) if reason.contains("external") => {}
        other => panic!("{what}: {:?}", other.map(|_| ())),
    }
}

#[test]
fn external_data_is_refused_wherever_it_appears() {
    let dir = temp_dir("external");
    // A real data file next to the model: it must still never be read.
    std::fs::write(dir.join("w.bin"), [0u8; 16]).unwrap();
    let secret = dir.join("secret.bin");
    std::fs::write(&secret, [7u8; 16]).unwrap();
    for location in [
        "w.bin",
        "../w.bin",
        "../../../../etc/passwd",
        "/etc/passwd",
        secret.to_str().unwrap(),
        "",
    ] {
        // In an initializer, with and without the `data_location` flag.
        let mut w = f32_init("w", &[4], vec![]);
        external(&mut w, location);
        let path = dir.join("model.onnx");
        std::fs::write(&path, bytes(&add_model(w.clone()))).unwrap();
        assert_external_refused(import_onnx(&path, &ImportOptions::default()), location);
        w.data_location = None;
        assert_external_refused(import(&bytes(&add_model(w))), location);
        // Only the flag, no entries.
        let mut w = f32_init("w", &[4], vec![]);
        w.data_location = Some(pb::tensor_proto::DataLocation::External as i32);
        assert_external_refused(import(&bytes(&add_model(w))), "flag only");
        // In a `Constant` node's tensor attribute.
        let mut t = f32_init("c", &[4], vec![]);
        external(&mut t, location);
        let attr = pb::AttributeProto {
            name: "value".into(),
            r#type: pb::attribute_proto::AttributeType::Tensor as i32,
            t: Some(t),
            ..Default::default()
        };
        let m = model(
            13,
            vec![
                node("Constant", "c", &[], &["w"], vec![attr]),
                node("Add", "n0", &["x", "w"], &["y"], vec![]),
            ],
            vec![value("x", &[Dim::N(4)])],
            vec![value("y", &[])],
            vec![],
        );
        assert_external_refused(import(&bytes(&m)), "Constant attribute");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tracts_loader_cannot_escape_the_model_directory() {
    // `tk profile` runs the float model through tract's own loader, which does read external
    // data. It must refuse any location outside the model's directory.
    let root = temp_dir("traversal");
    let models = root.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let outside = root.join("outside.bin");
    std::fs::write(&outside, 1.5f32.to_le_bytes().repeat(4)).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, models.join("link.bin")).unwrap();
    let fact = tk_ir::Fact::f32([4]);
    let load = |location: &str| -> Result<(), String> {
        let mut w = f32_init("w", &[4], vec![]);
        external(&mut w, location);
        let path: &Path = &models.join("model.onnx");
        std::fs::write(path, bytes(&add_model(w))).unwrap();
        tk_ir::onnx::tract::TractPlan::load(path, std::slice::from_ref(&fact))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    // Control: a data file inside the directory is read, so the refusals below are real.
    std::fs::write(models.join("inside.bin"), 1.5f32.to_le_bytes().repeat(4)).unwrap();
    load("inside.bin").expect("external data inside the model directory");
    for location in [
        "../outside.bin",
        "./../outside.bin",
        outside.to_str().unwrap(),
        "/etc/passwd",
        "link.bin",
    ] {
        assert!(
            load(location).is_err(),
            "tract read external data at {location}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// Found by the `onnx_import` fuzz target: a `Resize` whose `sizes` input asks for an axis of
/// about 2^48 elements made the importer check every output coordinate, for ever.
const RESIZE_HANG: &[u8] =
    b"\x08\x08\x12\x11\x74\x61\x63\x68\x69\x6b\x6f\x6d\x61\x2d\x73\x63\x72\x69\x70\x74\x73\x3a\
      \x94\x02\x0a\x89\x01\x0a\x05\x69\x6e\x70\x75\x74\x0a\x00\x0a\x00\x0a\x05\x73\x69\x7a\x65\
      \x73\x12\x06\x6f\x75\x74\x70\x75\x74\x1a\x06\x72\x65\x73\x69\x7a\x65\x22\x06\x52\x65\x73\
      \x69\x7a\x65\x2a\x2f\x0a\x1e\x63\x6f\x6f\x72\x64\x69\x6e\x61\x74\x65\x5f\x74\x72\x61\x6e\
      \x73\x66\x6f\x72\x6d\x61\x74\x69\x6f\x6e\x5f\x6d\x6f\x64\x65\x22\x0a\x61\x73\x79\x6d\x6d\
      \x65\x74\x72\x69\x63\xa0\x01\x03\x2a\x12\x0a\x04\x6d\x6f\x64\x65\x22\x07\x6e\x65\x61\x72\
      \x65\x73\x74\xa0\x01\x03\x2a\x18\x0a\x0c\x6e\x65\x61\x72\x65\x73\x74\x5f\x6d\x6f\x64\x65\
      \x22\x05\x66\x6c\x6f\x6f\x72\xa0\x01\x03\x12\x14\x72\x65\x73\x69\x7a\x65\x5f\x6e\x65\x61\
      \x72\x65\x73\x74\x5f\x73\x69\x7a\x65\x73\x2a\x2d\x08\x04\x10\x07\x42\x05\x73\x69\x7a\x65\
      \x73\x4a\x20\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x10\x00\xff\
      \xff\xff\xfe\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x5a\x1f\x0a\x05\x69\x6e\x70\x75\x74\
      \x12\x16\x0a\x14\x08\x01\x12\x10\x0a\x02\x08\x01\x0a\x02\x08\x03\x0a\x02\x08\x08\x0a\x02\
      \x08\x08\x62\x20\x0a\x06\x6f\x75\x74\x70\x75\x74\x12\x16\x0a\x14\x08\x01\x12\x10\x0a\x02\
      \x08\x01\x0a\x02\x08\x03\x0a\x02\x08\x10\x0a\x02\x08\x10\x42\x04\x0a\x00\x10\x0d";

/// Found by the `onnx_import` fuzz target after the first fix: `sizes` of
/// `[3 * 2^48 + 1, 0, 16, 16]`, whose zero axis made the output volume 0 and so passed the volume
/// bound, while the first axis still had 3 * 2^48 coordinates to check.
const RESIZE_HANG_ZERO_AXIS: &[u8] =
    b"\x08\x08\x12\x11\x74\x61\x63\x68\x69\x6b\x6f\x6d\x61\x2d\x73\x63\x72\x69\x70\x74\x73\x3a\
      \x94\x02\x0a\x89\x01\x0a\x05\x69\x6e\x70\x75\x74\x0a\x00\x0a\x00\x0a\x05\x73\x69\x7a\x65\
      \x73\x12\x06\x6f\x75\x74\x70\x75\x74\x1a\x06\x72\x65\x73\x69\x7a\x65\x22\x06\x52\x65\x73\
      \x69\x7a\x65\x2a\x2f\x0a\x1e\x63\x6f\x6f\x72\x64\x69\x6e\x61\x74\x65\x5f\x74\x72\x61\x6e\
      \x73\x66\x6f\x72\x6d\x61\x74\x69\x6f\x6e\x5f\x6d\x6f\x64\x65\x22\x0a\x61\x73\x79\x6d\x6d\
      \x65\x74\x72\x69\x63\xa0\x01\x03\x2a\x12\x0a\x04\x6d\x6f\x64\x65\x22\x07\x6e\x65\x61\x72\
      \x65\x73\x74\xa0\x01\x03\x2a\x18\x0a\x0c\x6e\x65\x61\x72\x65\x73\x74\x5f\x6c\x6f\x64\x65\
      \x22\x05\x66\x6c\x6f\x6f\x72\xa0\x01\x03\x12\x14\x72\x65\x73\x69\x7a\x65\x5f\x6e\x65\x61\
      \x72\x65\x73\x74\x5f\x73\x69\x7a\x65\x73\x2a\x2d\x08\x04\x10\x07\x42\x05\x73\x69\x7a\x65\
      \x73\x4a\x20\x01\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\
      \x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x5a\x1f\x0a\x05\x69\x6e\x70\x75\x74\
      \x12\x16\x0a\x14\x08\x01\x12\x10\x0a\x02\x08\x01\x0a\x02\x08\x03\x0a\x02\x08\x08\x0a\x02\
      \x08\x08\x62\x20\x0a\x06\x6f\x75\x74\x70\x75\x74\x12\x16\x0a\x14\x08\x01\x12\x10\x0a\x02\
      \x08\x01\x0a\x02\x08\x03\x0a\x02\x08\x10\x0a\x02\x08\x10\x42\x04\x0a\x00\x10\x0d";

#[test]
fn resize_with_huge_sizes_is_an_error_not_a_hang() {
    let start = std::time::Instant::now();
    for (what, data) in [("hang", RESIZE_HANG), ("zero axis", RESIZE_HANG_ZERO_AXIS)] {
        match import(data) {
            Err(IrError::InvalidNode { op, node, reason }) => {
                assert_eq!((op.as_str(), node.as_str()), ("Resize", "resize"), "{what}");
                assert!(reason.contains("resize limit"), "{what}: {reason}");
            }
            other => panic!("{what}: {:?}", other.map(|_| ())),
        }
    }
    for (sizes, axis) in [
        (vec![1, 3, 1 << 40, 16], 2),
        (vec![(1 << 49) + 1, 0, 16, 16], 0),
        (vec![1, 3, 16, (1 << 20) + 16], 3),
    ] {
        let sizes = pb::TensorProto {
            name: "sizes".into(),
            dims: vec![4],
            data_type: 7,
            int64_data: sizes,
            ..Default::default()
        };
        let m = model(
            13,
            vec![node("Resize", "r", &["x", "", "", "sizes"], &["y"], vec![])],
            vec![value("x", &[Dim::N(1), Dim::N(3), Dim::N(8), Dim::N(8)])],
            vec![value("y", &[])],
            vec![sizes],
        );
        match import(&bytes(&m)) {
            Err(IrError::InvalidNode { node, reason, .. }) => {
                assert_eq!(node, "r");
                assert!(
                    reason.contains(&format!("output axis {axis} ")) && reason.contains("limit"),
                    "{reason}"
                );
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

/// Found by the `npy_read` fuzz target: a version 3 header declaring a 4 GiB header length,
/// which ndarray-npy allocated (zeroed) before reading.
const NPY_HEADER_4GIB: &[u8] =
    b"\x93\x4e\x55\x4d\x50\x59\x03\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\
      \xff\xff\xff\xff\xff\xff\xff\xff\x76\x00\x7b\x27\x64\x65\x61\x70\x65\x27\x3a\x20\x28\x30\
      \x2c\x20\x27\x2c\x20\x27\x66\x6f\x72\x74\x72\x5b\x6e\x5f\x6f\x72\x00\x00\x00\x64\x65\x72\
      \x27\x3a\x20\x46\x61\x6c\x73\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x20\x20\x20\x20\x20\
      \x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x00\x76\x00\x20\x20\x20\x20\x20\x20\
      \x20\x0a\x41\x02\x56\x3d\x00\x2f\x9c\xbc\x44\xd7\xe7\xbd\x20\x20\x20\x20\x20\x20\x20\x20\
      \x20\x20\x20\x20\x1c\x59\x3a\xbe\xe4\x47\xc9\xbc\x2c\xe2\x46\x3f\xa8\xd0\xc9\xbd\x87\x2d\
      \x10\x3e\x9d\x2f\xaa\x3e\xdb\x20\x20\x20\x20\x28\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\
      \x20\x20\x60\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a\x46\x2b\x64\xbf\x9c\
      \x33\x40\xbf\xac\xca\x7c\xea\xbe\x08\x3f\x7b\xe1\x61\x40\x5a\xd5\x8e\x3f\xe6\x96\xe1\x3d";

/// A version 1 `.npy` file with the given header dictionary and data.
fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn npy_truncations_and_bit_flips_are_handled() {
    let good = npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        &[0u8; 24],
    );
    assert_eq!(decode_npy(&good).unwrap().shape(), &[2, 3]);
    for cut in 0..good.len() {
        assert!(
            decode_npy(&good[..cut]).is_err(),
            "prefix of {cut} bytes decodes"
        );
    }
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            if let Ok(t) = decode_npy(&b) {
                assert!(t.shape().len() <= tk_ir::limits::MAX_RANK);
            }
        }
    }
}

#[test]
fn npy_headers_that_lie_are_errors() {
    let data = [0u8; 24];
    let bad = |dict: &str| {
        let r = decode_npy(&npy(dict, &data));
        assert!(
            r.is_err(),
            "{dict} decodes to {:?}",
            r.map(|t| t.shape().to_vec())
        );
    };
    // Shapes whose element count overflows or exceeds the data.
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }");
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }");
    bad("{'descr': '<f4', 'fortran_order': True, 'shape': (99999999999, 99999999999), }");
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }");
    bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }");
    // Rank over the limit (a single element).
    let ones = vec!["1"; 20].join(", ");
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({ones}), }}");
    let r = decode_npy(&npy(&dict, &data[..4]));
    assert!(r.is_err(), "rank 20 accepted");
    // Unsupported or dangerous dtypes: Python objects (pickles), complex, strings.
    bad("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }");
    bad("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }");
    bad("{'descr': '<U2', 'fortran_order': False, 'shape': (3,), }");
    bad("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }");
    // Malformed dictionaries.
    bad("{'descr': '<f4', 'fortran_order': False, }");
    bad(&format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': {}6{}, }}",
        "(".repeat(5000),
        ")".repeat(5000)
    ));
    bad("not a dictionary at all");
    // A header length beyond the file, in versions 1, 2 and 3.
    let mut b = npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
        &data,
    );
    b[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(decode_npy(&b).is_err());
    // Refused from the declared length alone, before ndarray-npy allocates it.
    for version in [2u8, 3] {
        let mut b = b"\x93NUMPY".to_vec();
        b.extend([version, 0]);
        b.extend(u32::MAX.to_le_bytes());
        b.extend(b"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }");
        let e = decode_npy(&b).unwrap_err();
        assert!(
            e.contains("header of 4294967295 bytes"),
            "version {version}: {e}"
        );
    }
    let e = decode_npy(NPY_HEADER_4GIB).unwrap_err();
    assert!(e.contains("header of 4294967295 bytes"), "{e}");
    // Trailing bytes after the data.
    let mut b = npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
        &data,
    );
    b.push(0);
    assert!(decode_npy(&b).is_err(), "trailing byte accepted");
}
