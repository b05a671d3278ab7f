//! Pre-quantized QDQ graphs: scales come from the `QuantizeLinear -> DequantizeLinear` pairs,
//! no calibration data is needed.

mod common;

use tk_ir::ops::quantize_linear::QType;
use tk_ir::prelude::*;
use tk_quant::{QuantError, QuantOptions, metrics, quantize, reference};

/// Appends `Q(x; scale, zp) -> DQ` and returns the DQ outlet.
fn qdq(g: &mut Graph, x: OutletId, name: &str, scale: f32, zp: f32, qtype: QType) -> OutletId {
    let s = g
        .add_const(
            format!("{name}.s"),
            Tensor::from_f32(&[], vec![scale]).unwrap(),
        )
        .unwrap();
    let z = g
        .add_const(
            format!("{name}.z"),
            Tensor::from_f32(&[], vec![zp]).unwrap(),
        )
        .unwrap();
    let q = g
        .add_node(
            format!("{name}.q"),
            QuantizeLinear { axis: None, qtype }.into(),
            &[x, s, z],
        )
        .unwrap();
    g.add_node(
        format!("{name}.dq"),
        DequantizeLinear { axis: None }.into(),
        &[q, s, z],
    )
    .unwrap()
}

fn graph() -> Graph {
    let mut r = common::rng(200);
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 2, 5, 5])).unwrap();
    let xq = qdq(&mut g, x, "x", 1.0 / 127.0, 0.0, QType::I8);
    // Weights as ORT stores them: int8 values times a per-channel scale (folded to float).
    let wi: Vec<f32> = (0..3 * 2 * 9)
        .map(|i| ((i * 37 % 255) as f32 - 127.0).round())
        .collect();
    let w: Vec<f32> = wi
        .iter()
        .enumerate()
        .map(|(i, v)| v * [0.004, 0.002, 0.003][i / 18])
        .collect();
    let w = g
        .add_const("w", Tensor::from_f32(&[3, 2, 3, 3], w).unwrap())
        .unwrap();
    let b = g
        .add_const("b", common::tensor(&mut r, &[3], 0.05))
        .unwrap();
    let op = Conv {
        strides: [1, 1],
        pads: [1, 1, 1, 1],
        dilations: [1, 1],
        group: 1,
    };
    let c = g.add_node("conv", op.into(), &[xq, w, b]).unwrap();
    let cq = qdq(&mut g, c, "conv", 0.01, 128.0, QType::U8);
    let a = g.add_node("relu", Relu.into(), &[cq]).unwrap();
    let aq = qdq(&mut g, a, "relu", 0.005, 0.0, QType::U8);
    let f = g
        .add_node("flatten", Flatten { axis: 1 }.into(), &[aq])
        .unwrap();
    let fw = g
        .add_const("fc.w", common::tensor(&mut r, &[4, 75], 0.1))
        .unwrap();
    let fb = g
        .add_const("fc.b", common::tensor(&mut r, &[4], 0.1))
        .unwrap();
    let gemm = Gemm {
        alpha: 1.0,
        beta: 1.0,
        trans_a: false,
        trans_b: true,
    };
    let y = g.add_node("fc", gemm.into(), &[f, fw, fb]).unwrap();
    let yq = qdq(&mut g, y, "fc", 0.02, 0.0, QType::I8);
    g.add_output("y", yq).unwrap();
    g
}

#[test]
fn scales_come_from_the_model() {
    let g = graph();
    let q = quantize(&g, &[], &QuantOptions::default()).unwrap();
    let m = &q.model;
    let names: Vec<&str> = m.graph.nodes.iter().map(|n| n.op.name()).collect();
    // The Relu is fused into the conv's requantization.
    assert_eq!(names, ["Input", "Conv", "Reshape", "Gemm"]);
    assert_eq!(m.scale(0), Some(1.0 / 127.0));
    assert_eq!(m.scale(1), Some(0.01));
    assert_eq!(m.scale(3), Some(0.02));
    // uint8 with zero point 128 is exactly the signed 8-bit grid.
    assert_eq!(m.graph.nodes[1].bits, 8);
    // The ORT-style per-channel int8 weights are recovered exactly.
    let tk_quant::ops::QOp::Conv(conv) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!(conv.weight.data[0], -127);
    let mut r = common::rng(201);
    let (mut float, mut int) = (vec![], vec![]);
    for _ in 0..16 {
        let x = common::tensor(&mut r, &[1, 2, 5, 5], 1.0);
        float.extend(common::flat(
            &tk_ir::eval::eval(&g, std::slice::from_ref(&x)).unwrap()[0],
        ));
        let qx = tk_quant::quantize_inputs(m, &[x]).unwrap();
        let y = tk_quant::dequantize_outputs(m, &reference::run(m, &qx).unwrap()).unwrap();
        int.extend(common::flat(&y[0]));
    }
    let db = metrics::sqnr_db(&float, &int);
    assert!(db > 30.0, "{db:.1} dB");
}

#[test]
fn unsupported_qdq_forms() {
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32([1, 4])).unwrap();
    let s = g
        .add_const("s", Tensor::from_f32(&[], vec![0.1]).unwrap())
        .unwrap();
    let y = g
        .add_node("dq", DequantizeLinear { axis: None }.into(), &[x, s])
        .unwrap();
    g.add_output("y", y).unwrap();
    let err = quantize(&g, &[], &QuantOptions::default()).unwrap_err();
    assert!(matches!(err, QuantError::Unsupported { .. }), "{err}");
}
