//! `.tkq` round trips, determinism, and hostile files: every corruption is an error, never a
//! panic.

mod common;

use proptest::prelude::*;
use tk_ir::prelude::*;
use tk_quant::ops::QOp;
use tk_quant::{QModel, QuantError, QuantOptions, file, quantize};

/// A small model covering conv, relu, pooling, gemm, lut and softmax.
fn model() -> QModel {
    let mut r = common::rng(100);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 1, 6, 6])).unwrap();
    let w = g
        .add_const("w", common::tensor(&mut r, &[3, 1, 3, 3], 0.5))
        .unwrap();
    let op = Conv {
        strides: [1, 1],
        pads: [1, 1, 1, 1],
        dilations: [1, 1],
        group: 1,
    };
    let c = g.add_node("conv", op.into(), &[x, w]).unwrap();
    let a = g.add_node("relu", Relu.into(), &[c]).unwrap();
    let p = g
        .add_node(
            "pool",
            AveragePool {
                geometry: tk_ir::ops::pool::PoolGeometry::with_kernel([2, 2]),
                count_include_pad: false,
            }
            .into(),
            &[a],
        )
        .unwrap();
    let f = g
        .add_node("flat", Flatten { axis: 1 }.into(), &[p])
        .unwrap();
    let s = g.add_node("sig", Sigmoid.into(), &[f]).unwrap();
    let w2 = g
        .add_const("w2", common::tensor(&mut r, &[75, 4], 0.3))
        .unwrap();
    let m = g.add_node("fc", MatMul.into(), &[s, w2]).unwrap();
    let y = g
        .add_node("softmax", Softmax { axis: 1 }.into(), &[m])
        .unwrap();
    g.add_output("y", y).unwrap();
    let calib = common::samples(&mut r, 16, &[1, 1, 6, 6], 1.0);
    let mut q = quantize(&g, &[calib], &QuantOptions::default())
        .unwrap()
        .model;
    q.source_digest = "00".repeat(32);
    q
}

fn conv(m: &mut QModel) -> &mut tk_quant::ops::Conv {
    match &mut m.graph.nodes[1].op {
        QOp::Conv(c) => c,
        _ => panic!("node 1 is the conv"),
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tk-quant-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn round_trip_is_byte_identical() {
    let m = model();
    let path = temp("a.tkq");
    file::save(&m, &path).unwrap();
    let first = std::fs::read(&path).unwrap();
    let loaded = file::load(&path).unwrap();
    assert_eq!(loaded, m);
    file::save(&loaded, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), first);
    assert_eq!(file::to_bytes(&m).unwrap(), first);
    assert_eq!(&first[..8], b"TKQMODEL");
    assert_eq!(&first[8..12], &1u32.to_le_bytes());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn header_errors() {
    let bytes = file::to_bytes(&model()).unwrap();
    let mut v2 = bytes.clone();
    v2[8] = 2;
    assert!(matches!(
        file::from_bytes(&v2),
        Err(QuantError::UnsupportedVersion {
            got: 2,
            supported: 1
        })
    ));
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert!(matches!(
        file::from_bytes(&magic),
        Err(QuantError::BadMagic)
    ));
    assert!(matches!(
        file::from_bytes(&bytes[..10]),
        Err(QuantError::Malformed { .. })
    ));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        file::from_bytes(&trailing),
        Err(QuantError::Malformed { .. })
    ));
    assert!(matches!(
        file::load(std::env::temp_dir().join("tk-quant-no-such-dir/missing.tkq")),
        Err(QuantError::Io { .. })
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = file::to_bytes(&model()).unwrap();
    for len in 0..bytes.len() {
        assert!(
            file::from_bytes(&bytes[..len]).is_err(),
            "truncated to {len} bytes"
        );
    }
}

#[test]
fn hostile_models_fail_validation() {
    let good = model();
    good.validate().unwrap();
    // A version-1 model (no fused clamp) is still read.
    let mut v1 = good.clone();
    v1.spec_version = 1;
    for n in &mut v1.graph.nodes {
        if let QOp::Conv(c) = &mut n.op {
            c.requant.clamp = None;
        }
    }
    assert_eq!(file::from_bytes(&file::to_bytes(&v1).unwrap()).unwrap(), v1);
    let check = |edit: &dyn Fn(&mut QModel), what: &str| {
        let mut m = good.clone();
        edit(&mut m);
        let bytes = file::to_bytes(&m).unwrap();
        assert!(file::from_bytes(&bytes).is_err(), "{what} was accepted");
        assert!(tk_quant::reference::run(&m, &[]).is_err());
    };
    check(
        &|m| m.spec_version = tk_quant::INTEGER_SPEC_VERSION + 1,
        "spec version",
    );
    check(&|m| m.spec_version = 0, "spec version 0");
    check(&|m| m.graph.nodes[2].bits = 17, "bits 17");
    check(&|m| m.graph.nodes[2].bits = 1, "bits 1");
    check(&|m| m.graph.nodes[3].id = 7, "id");
    check(&|m| m.graph.nodes[3].inputs = vec![5], "forward edge");
    check(&|m| m.graph.nodes[3].inputs = vec![], "missing input");
    check(&|m| m.graph.nodes[1].shape = vec![1, 3, 6, 5], "conv shape");
    check(&|m| m.graph.nodes[1].shape = vec![1, 3, 6, 0], "zero dim");
    check(
        &|m| conv(m).weight.data.pop().map(|_| ()).unwrap(),
        "weight length",
    );
    check(
        &|m| conv(m).weight.shape = vec![3, 2, 3, 3],
        "weight channels",
    );
    check(&|m| conv(m).bias.push(0), "bias length");
    check(&|m| conv(m).requant.multipliers[0] = 0, "M = 0");
    check(&|m| conv(m).requant.multipliers[0] = -5, "M < 0");
    check(&|m| conv(m).requant.shifts[0] = 63, "s = 63");
    check(&|m| conv(m).requant.shifts.push(3), "requant lengths");
    check(
        &|m| conv(m).requant.clamp = Some([5, 4]),
        "empty fused clamp",
    );
    check(
        &|m| conv(m).requant.clamp = Some([-129, 0]),
        "clamp below range",
    );
    check(
        &|m| conv(m).requant.clamp = Some([0, 128]),
        "clamp above range",
    );
    check(
        &|m| {
            m.spec_version = 1;
            conv(m).requant.clamp = Some([0, 127]);
        },
        "fused clamp in a version-1 model",
    );
    check(
        &|m| conv(m).weight.data.iter_mut().for_each(|w| *w = i32::MAX),
        "accumulator bound",
    );
    check(&|m| conv(m).strides = [0, 1], "zero stride");
    check(&|m| conv(m).group = 2, "group");
    check(&|m| conv(m).pads = [usize::MAX, 0, 0, 0], "pad overflow");
    check(
        &|m| {
            for n in &mut m.graph.nodes {
                if let QOp::Lut(l) = &mut n.op {
                    l.table.pop();
                }
            }
        },
        "lut length",
    );
    check(
        &|m| {
            for n in &mut m.graph.nodes {
                if let QOp::Softmax(s) = &mut n.op {
                    s.exp_table.clear();
                }
            }
        },
        "empty exp table",
    );
    check(
        &|m| {
            for n in &mut m.graph.nodes {
                if let QOp::AvgPool(p) = &mut n.op {
                    p.multipliers.pop();
                }
            }
        },
        "avg pool multipliers",
    );
    check(
        &|m| {
            for n in &mut m.graph.nodes {
                if let QOp::AvgPool(p) = &mut n.op {
                    p.geometry.pads = [2, 0, 0, 0];
                }
            }
        },
        "pool pad >= kernel",
    );
    check(&|m| m.graph.inputs = vec![], "no inputs");
    check(&|m| m.graph.outputs = vec![99], "dangling output");
    check(&|m| m.scales.reverse(), "unsorted scales");
    check(&|m| m.scales[0].scale = f32::NAN, "NaN scale");
    check(&|m| m.scales.retain(|s| s.node != 0), "input without scale");
}

#[test]
fn reference_rejects_bad_inputs() {
    let m = model();
    let ok = tk_quant::QTensor::zeros(vec![1, 1, 6, 6]).unwrap();
    assert!(tk_quant::reference::run(&m, std::slice::from_ref(&ok)).is_ok());
    let mut big = ok.clone();
    big.data[0] = 128;
    assert!(matches!(
        tk_quant::reference::run(&m, &[big]),
        Err(QuantError::Value { .. })
    ));
    let shape = tk_quant::QTensor::zeros(vec![1, 36]).unwrap();
    assert!(tk_quant::reference::run(&m, &[shape]).is_err());
    assert!(tk_quant::reference::run(&m, &[]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bit_flips_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let bytes = BYTES.get_or_init(|| file::to_bytes(&model()).unwrap());
        let mut b = bytes.clone();
        for (i, bit) in flips {
            let i = i.index(b.len());
            b[i] ^= 1 << bit;
        }
        if let Ok(m) = file::from_bytes(&b) {
            // A flip that still decodes to a valid model must also run.
            let inputs: Vec<_> = m.graph.inputs.iter().map(|&i| tk_quant::QTensor::zeros(m.graph.nodes[i].shape.clone()).unwrap()).collect();
            prop_assert!(tk_quant::reference::run(&m, &inputs).is_ok());
        }
    }
}
