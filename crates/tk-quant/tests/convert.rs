//! End-to-end conversion of small hand-built graphs: the model validates, the reference
//! interpreter's dequantized output is close to float (SQNR > 25 dB), and the stage graphs
//! behave.

mod common;

use common::{assert_close, compare, op_names, rng, tensor};
use tk_ir::ops::binary::BinaryKind;
use tk_ir::ops::pool::PoolGeometry;
use tk_ir::prelude::*;
use tk_quant::{Calibration, QuantOptions, Stage};

fn conv(
    g: &mut Graph,
    r: &mut rand_chacha::ChaCha8Rng,
    x: OutletId,
    cin: usize,
    cout: usize,
    name: &str,
) -> OutletId {
    let w = g
        .add_const(
            format!("{name}.w"),
            common::tensor(r, &[cout, cin, 3, 3], 0.4),
        )
        .unwrap();
    let b = g
        .add_const(format!("{name}.b"), common::tensor(r, &[cout], 0.1))
        .unwrap();
    let op = Conv {
        strides: [1, 1],
        pads: [1, 1, 1, 1],
        dilations: [1, 1],
        group: 1,
    };
    g.add_node(name, op.into(), &[x, w, b]).unwrap()
}

fn binary(kind: BinaryKind) -> Op {
    Binary { kind }.into()
}

#[test]
fn conv_relu_gemm() {
    let mut r = rng(1);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 6, 6])).unwrap();
    let c = conv(&mut g, &mut r, x, 2, 4, "conv");
    let a = g.add_node("relu", Relu.into(), &[c]).unwrap();
    let f = g
        .add_node("flatten", Flatten { axis: 1 }.into(), &[a])
        .unwrap();
    let w = g.add_const("fc.w", tensor(&mut r, &[144, 5], 0.2)).unwrap();
    let b = g.add_const("fc.b", tensor(&mut r, &[5], 0.1)).unwrap();
    let gemm = Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b: false,
    };
    let y = g.add_node("fc", gemm.into(), &[f, w, b]).unwrap();
    g.add_output("y", y).unwrap();
    let unfused = QuantOptions {
        fuse_clamps: false,
        ..QuantOptions::default()
    };
    let (u, _) = compare(&g, &[1, 2, 6, 6], 1.0, &unfused, 10);
    assert_eq!(op_names(&u), ["Input", "Conv", "Clip", "Reshape", "Gemm"]);
    // The conv output takes the scale of the Relu that follows it.
    assert_eq!(u.model.scale(1), u.model.scale(2));
    // By default the Relu becomes the conv's fused clamp.
    let (q, cmp) = compare(&g, &[1, 2, 6, 6], 1.0, &QuantOptions::default(), 10);
    assert_eq!(op_names(&q), ["Input", "Conv", "Reshape", "Gemm"]);
    let conv_node = &q.model.graph.nodes[1];
    assert_eq!(
        (conv_node.name.as_str(), conv_node.ir_node),
        ("conv", Some(3))
    );
    assert_eq!(conv_node.op.fused_clamp(), Some([0, 127]));
    assert_eq!(q.model.spec_version, tk_quant::INTEGER_SPEC_VERSION);
    assert_close(&cmp, 30.0);
    // The fused model computes exactly what the unfused one does.
    for seed in 0..4 {
        let x = tensor(&mut rng(100 + seed), &[1, 2, 6, 6], 1.5);
        let xq = tk_quant::quantize_inputs(&q.model, std::slice::from_ref(&x)).unwrap();
        assert_eq!(
            tk_quant::reference::run(&q.model, &xq).unwrap(),
            tk_quant::reference::run(&u.model, &xq).unwrap()
        );
    }
    // Staged losses are ordered roughly: sim ~ float, round close to the integer model.
    assert!(cmp.stage_sqnr(Stage::Round) > 30.0);
    assert!(cmp.stage_sqnr(Stage::Clip) > 60.0);
}

#[test]
fn residual_add_and_sub() {
    let mut r = rng(2);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 3, 5, 5])).unwrap();
    let c1 = conv(&mut g, &mut r, x, 3, 3, "c1");
    let a1 = g.add_node("r1", Relu.into(), &[c1]).unwrap();
    let c2 = conv(&mut g, &mut r, a1, 3, 3, "c2");
    let s = g
        .add_node("add", binary(BinaryKind::Add), &[c2, x])
        .unwrap();
    let k = g
        .add_const("k", tensor(&mut r, &[1, 3, 1, 1], 2.0))
        .unwrap();
    let d = g.add_node("sub", binary(BinaryKind::Sub), &[k, s]).unwrap();
    g.add_output("y", d).unwrap();
    let (q, cmp) = compare(&g, &[1, 3, 5, 5], 1.0, &QuantOptions::default(), 20);
    assert_eq!(
        op_names(&q),
        ["Input", "Conv", "Conv", "Add", "Const", "Add"]
    );
    assert_close(&cmp, 28.0);
}

#[test]
fn concat_of_different_scales() {
    let mut r = rng(3);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 4, 4])).unwrap();
    let k = g
        .add_const("k", Tensor::from_f32(&[1], vec![5.0]).unwrap())
        .unwrap();
    let big = g.add_node("big", binary(BinaryKind::Mul), &[x, k]).unwrap();
    let c = conv(&mut g, &mut r, x, 2, 3, "conv");
    let cat = g
        .add_node("cat", Concat { axis: 1 }.into(), &[big, c, x])
        .unwrap();
    g.add_output("y", cat).unwrap();
    let (q, cmp) = compare(&g, &[1, 2, 4, 4], 1.0, &QuantOptions::default(), 30);
    // Mul by a positive constant is a Rescale; concat inputs at other scales get one each.
    let names = op_names(&q);
    assert_eq!(
        names.iter().filter(|n| **n == "Rescale").count(),
        3,
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"Concat"));
    assert_close(&cmp, 28.0);
}

#[test]
fn avgpool_with_padding_and_maxpool_ceil() {
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 7, 7])).unwrap();
    let mut geo = PoolGeometry::with_kernel([3, 3]);
    geo.pads = [1, 1, 1, 1];
    geo.strides = [2, 2];
    let a = g
        .add_node(
            "avg",
            AveragePool {
                geometry: geo,
                count_include_pad: false,
            }
            .into(),
            &[x],
        )
        .unwrap();
    let b = g
        .add_node(
            "avg_incl",
            AveragePool {
                geometry: geo,
                count_include_pad: true,
            }
            .into(),
            &[x],
        )
        .unwrap();
    let s = g.add_node("sum", binary(BinaryKind::Add), &[a, b]).unwrap();
    let mut mgeo = PoolGeometry::with_kernel([2, 2]);
    mgeo.strides = [2, 2];
    mgeo.ceil_mode = true;
    let m = g
        .add_node("max", MaxPool { geometry: mgeo }.into(), &[s])
        .unwrap();
    let gap = g.add_node("gap", GlobalAveragePool.into(), &[m]).unwrap();
    let cat = g
        .add_node("cat", Concat { axis: 2 }.into(), &[gap, gap])
        .unwrap();
    g.add_output("y", m).unwrap();
    g.add_output("z", cat).unwrap();
    let (q, cmp) = compare(&g, &[1, 2, 7, 7], 1.0, &QuantOptions::default(), 40);
    assert_eq!(q.model.graph.nodes[4].shape, vec![1, 2, 2, 2]);
    assert_close(&cmp, 28.0);
}

#[test]
fn lut_activations() {
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 64])).unwrap();
    let s = g.add_node("sigmoid", Sigmoid.into(), &[x]).unwrap();
    let h = g.add_node("hswish", HardSwish.into(), &[x]).unwrap();
    let l = g
        .add_node("leaky", LeakyRelu { alpha: 0.1 }.into(), &[x])
        .unwrap();
    let hs = g
        .add_node(
            "hsig",
            HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            }
            .into(),
            &[x],
        )
        .unwrap();
    let a = g.add_node("a", binary(BinaryKind::Add), &[s, h]).unwrap();
    let b = g.add_node("b", binary(BinaryKind::Mul), &[l, hs]).unwrap();
    let y = g.add_node("y", binary(BinaryKind::Add), &[a, b]).unwrap();
    g.add_output("y", y).unwrap();
    let (q, cmp) = compare(&g, &[1, 64], 4.0, &QuantOptions::default(), 50);
    let luts: Vec<_> = q
        .model
        .graph
        .nodes
        .iter()
        .filter(|n| n.op.name() == "Lut")
        .collect();
    assert_eq!(luts.len(), 4);
    assert_close(&cmp, 28.0);
}

#[test]
fn sigmoid_lut_table_follows_the_spec() {
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 8])).unwrap();
    let s = g.add_node("sigmoid", Sigmoid.into(), &[x]).unwrap();
    g.add_output("y", s).unwrap();
    let (q, _) = compare(&g, &[1, 8], 6.0, &QuantOptions::default(), 51);
    let tk_quant::ops::QOp::Lut(lut) = &q.model.graph.nodes[1].op else {
        panic!("not a lut")
    };
    let (si, so) = (
        f64::from(q.model.scale(0).unwrap()),
        f64::from(q.model.scale(1).unwrap()),
    );
    assert_eq!(lut.table.len(), 256);
    assert_eq!(lut.in_lo, -128);
    for (k, &v) in lut.table.iter().enumerate() {
        let real = 1.0 / (1.0 + (-((k as f64 - 128.0) * si)).exp());
        let expect = tk_quant::round_half_up(real / so).clamp(-128.0, 127.0) as i32;
        // Scales are stored as f32: allow one step at exact half-way points.
        assert!((v - expect).abs() <= 1, "k {k}: {v} vs {expect}");
    }
}

#[test]
fn softmax_output() {
    let mut r = rng(6);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 16])).unwrap();
    let w = g.add_const("w", tensor(&mut r, &[16, 10], 0.5)).unwrap();
    let m = g.add_node("mm", MatMul.into(), &[x, w]).unwrap();
    let s = g
        .add_node("softmax", Softmax { axis: 1 }.into(), &[m])
        .unwrap();
    g.add_output("y", s).unwrap();
    let (q, cmp) = compare(&g, &[1, 16], 1.0, &QuantOptions::default(), 60);
    assert_eq!(op_names(&q), ["Input", "Gemm", "Softmax"]);
    assert_eq!(q.model.scale(2), Some(1.0 / 128.0));
    assert_close(&cmp, 25.0);
}

#[test]
fn wiring_ops_and_batchnorm() {
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 4, 4])).unwrap();
    let p: Vec<_> = (0..4)
        .map(|i| {
            let v = if i == 3 {
                vec![0.5, 2.0]
            } else {
                vec![0.7 - i as f32, 0.3]
            };
            g.add_const(format!("bn{i}"), Tensor::from_f32(&[2], v).unwrap())
                .unwrap()
        })
        .collect();
    let bn = g
        .add_node(
            "bn",
            BatchNormalization { epsilon: 1e-5 }.into(),
            &[x, p[0], p[1], p[2], p[3]],
        )
        .unwrap();
    let t = g
        .add_node(
            "t",
            Transpose {
                perm: vec![0, 1, 3, 2],
            }
            .into(),
            &[bn],
        )
        .unwrap();
    let axes = vec![tk_ir::ops::slice::SliceAxis::from_onnx(3, 4, 3, -5, -1).unwrap()];
    let s = g.add_node("slice", Slice { axes }.into(), &[t]).unwrap();
    let pd = g
        .add_node(
            "pad",
            Pad {
                pads: vec![[0, 0], [0, 0], [1, 0], [0, 2]],
                value: 0.0,
            }
            .into(),
            &[s],
        )
        .unwrap();
    let rs = g
        .add_node(
            "up",
            Resize {
                scales: vec![1, 1, 2, 1],
            }
            .into(),
            &[pd],
        )
        .unwrap();
    let sq = g
        .add_node("unsq", Unsqueeze { axes: vec![0] }.into(), &[rs])
        .unwrap();
    let sq = g
        .add_node("sq", Squeeze { axes: vec![0] }.into(), &[sq])
        .unwrap();
    let k = g
        .add_const("k", Tensor::from_f32(&[1], vec![-2.0]).unwrap())
        .unwrap();
    let d = g
        .add_node("div", binary(BinaryKind::Div), &[sq, k])
        .unwrap();
    let c = g
        .add_node(
            "clip",
            Clip {
                min: -1.0,
                max: 1.5,
            }
            .into(),
            &[d],
        )
        .unwrap();
    g.add_output("y", c).unwrap();
    let (q, cmp) = compare(&g, &[1, 2, 4, 4], 1.0, &QuantOptions::default(), 70);
    let names = op_names(&q);
    for op in [
        "Mul",
        "Add",
        "Transpose",
        "Slice",
        "Pad",
        "Resize",
        "Reshape",
        "Clip",
    ] {
        assert!(names.contains(&op), "{op} missing in {names:?}");
    }
    assert_close(&cmp, 28.0);
}

#[test]
fn options_change_the_model() {
    let mut r = rng(8);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 6, 6])).unwrap();
    let c = conv(&mut g, &mut r, x, 2, 4, "conv");
    g.add_output("y", c).unwrap();
    let opts = QuantOptions {
        bits: 12,
        weight_bits: 10,
        per_channel: false,
        calibration: Calibration::Percentile(99.9),
        mixed: None,
        fuse_clamps: true,
    };
    let (q, cmp) = compare(&g, &[1, 2, 6, 6], 1.0, &opts, 80);
    assert!(q.model.graph.nodes.iter().all(|n| n.bits == 12));
    let tk_quant::ops::QOp::Conv(conv) = &q.model.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!(conv.requant.multipliers.len(), 1);
    assert!(conv.weight.data.iter().any(|w| w.abs() > 127));
    assert_close(&cmp, 40.0);
    let opts = QuantOptions {
        calibration: Calibration::Entropy,
        ..QuantOptions::default()
    };
    let (_, cmp) = compare(&g, &[1, 2, 6, 6], 1.0, &opts, 81);
    assert_close(&cmp, 20.0);
    let bad = QuantOptions {
        bits: 17,
        ..QuantOptions::default()
    };
    assert!(tk_quant::quantize(&g, &[], &bad).is_err());
}

#[test]
fn missing_calibration_is_an_error() {
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 4])).unwrap();
    let y = g.add_node("relu", Relu.into(), &[x]).unwrap();
    g.add_output("y", y).unwrap();
    let err = tk_quant::quantize(&g, &[], &QuantOptions::default()).unwrap_err();
    assert!(
        matches!(err, tk_quant::QuantError::Calibration { .. }),
        "{err}"
    );
    let wrong = Tensor::from_f32(&[3, 5], vec![0.0; 15]).unwrap();
    assert!(tk_quant::quantize(&g, &[wrong], &QuantOptions::default()).is_err());
}

/// Mixed precision widens some activations to 16 bits, the integer model still validates and
/// its output gets closer to float than the all-8-bit model; an impossible target stops after
/// the round limit instead of looping, and a wide width not above `bits` is refused.
#[test]
fn mixed_precision_widens_the_noisiest_activations() {
    let mut r = rng(9);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 6, 6])).unwrap();
    let c1 = conv(&mut g, &mut r, x, 2, 4, "conv1");
    let a1 = g.add_node("relu1", Relu.into(), &[c1]).unwrap();
    let c2 = conv(&mut g, &mut r, a1, 4, 4, "conv2");
    let a2 = g.add_node("relu2", Relu.into(), &[c2]).unwrap();
    let c3 = conv(&mut g, &mut r, a2, 4, 3, "conv3");
    g.add_output("y", c3).unwrap();
    let (plain, plain_cmp) = compare(&g, &[1, 2, 6, 6], 1.0, &QuantOptions::default(), 90);
    assert!(plain.model.graph.nodes.iter().all(|n| n.bits == 8));
    let opts = QuantOptions {
        mixed: Some(tk_quant::Mixed {
            target_db: plain_cmp.sqnr() + 6.0,
            ..tk_quant::Mixed::default()
        }),
        ..QuantOptions::default()
    };
    let (mixed, mixed_cmp) = compare(&g, &[1, 2, 6, 6], 1.0, &opts, 90);
    let wide = mixed
        .model
        .graph
        .nodes
        .iter()
        .filter(|n| n.bits == 16)
        .count();
    assert!(wide > 0, "nothing was widened");
    assert!(
        wide < mixed.model.graph.nodes.len(),
        "everything was widened"
    );
    assert!(
        mixed_cmp.sqnr() > plain_cmp.sqnr() + 3.0,
        "mixed {:.1} dB vs plain {:.1} dB",
        mixed_cmp.sqnr(),
        plain_cmp.sqnr()
    );
    let unreachable = QuantOptions {
        mixed: Some(tk_quant::Mixed {
            target_db: 400.0,
            rounds: 2,
            ..tk_quant::Mixed::default()
        }),
        ..QuantOptions::default()
    };
    let calib = common::tensor(&mut r, &[4, 2, 6, 6], 1.0);
    let q = tk_quant::quantize(&g, std::slice::from_ref(&calib), &unreachable).unwrap();
    q.model.validate().unwrap();
    let bad = QuantOptions {
        mixed: Some(tk_quant::Mixed {
            bits: 8,
            ..tk_quant::Mixed::default()
        }),
        ..QuantOptions::default()
    };
    assert!(tk_quant::quantize(&g, &[calib], &bad).is_err());
}

/// With 4-bit weights the weight rounding dominates: mixed precision widens the weights of the
/// noisiest layers to `Mixed::weight_bits`, the integer weights of exactly those layers use
/// the wider range, the model validates and gets closer to float; with
/// `Mixed::weight_bits == weight_bits` no weight is widened.
#[test]
fn mixed_precision_widens_the_weights_of_noisy_layers() {
    let mut r = rng(10);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 6, 6])).unwrap();
    let c1 = conv(&mut g, &mut r, x, 2, 8, "conv1");
    let a1 = g.add_node("relu1", Relu.into(), &[c1]).unwrap();
    let c2 = conv(&mut g, &mut r, a1, 8, 8, "conv2");
    let a2 = g.add_node("relu2", Relu.into(), &[c2]).unwrap();
    let c3 = conv(&mut g, &mut r, a2, 8, 3, "conv3");
    g.add_output("y", c3).unwrap();
    let base = QuantOptions {
        weight_bits: 4,
        ..QuantOptions::default()
    };
    let (plain, plain_cmp) = compare(&g, &[1, 2, 6, 6], 1.0, &base, 91);
    assert!(plain.widened.is_none());
    let opts = QuantOptions {
        mixed: Some(tk_quant::Mixed {
            weight_bits: 12,
            target_db: plain_cmp.sqnr() + 12.0,
            ..tk_quant::Mixed::default()
        }),
        ..base.clone()
    };
    let (mixed, mixed_cmp) = compare(&g, &[1, 2, 6, 6], 1.0, &opts, 91);
    let report = mixed.widened.clone().expect("a mixed-precision report");
    assert_eq!(report.weight_candidates, 3);
    assert!(report.weights > 0, "no weights widened: {report:?}");
    let mut wide = 0;
    for (id, bits) in mixed.weight_bits.iter().enumerate() {
        let Some(bits) = *bits else { continue };
        let name = &mixed.folded.graph.nodes()[id].name;
        let qnode = mixed.model.graph.nodes.iter().find(|n| &n.name == name);
        let Some(tk_quant::ops::QOp::Conv(conv)) = qnode.map(|n| &n.op) else {
            panic!("no integer Conv for {name}")
        };
        let max = conv.weight.data.iter().map(|w| w.abs()).max().unwrap();
        // Per-channel max-abs scales put the largest weight of every channel at the top of the
        // grid: 7 for 4 bits, 2047 for 12.
        assert_eq!(max, (1 << (bits - 1)) - 1, "{name} at {bits} bits");
        if bits == 12 {
            wide += 1;
        } else {
            assert_eq!(bits, 4, "{name}");
        }
    }
    assert_eq!(wide, report.weights);
    assert!(
        mixed_cmp.sqnr() > plain_cmp.sqnr() + 6.0,
        "mixed {:.1} dB vs plain {:.1} dB",
        mixed_cmp.sqnr(),
        plain_cmp.sqnr()
    );
    let narrow = QuantOptions {
        mixed: Some(tk_quant::Mixed {
            weight_bits: 4,
            target_db: plain_cmp.sqnr() + 12.0,
            ..tk_quant::Mixed::default()
        }),
        ..base
    };
    let (q, _) = compare(&g, &[1, 2, 6, 6], 1.0, &narrow, 91);
    assert_eq!(q.widened.unwrap().weights, 0);
    assert!(q.weight_bits.iter().flatten().all(|&b| b == 4));
}
