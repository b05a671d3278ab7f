//! One test per conversion rule: the integer parameters a rule produces for a one-op graph
//! whose calibration gives exactly known scales (threshold 127/64, so the input scale is the
//! exact `1/64`).

use tk_ir::ops::binary::BinaryKind;
use tk_ir::ops::pool::PoolGeometry;
use tk_ir::prelude::*;
use tk_quant::ops::QOp;
use tk_quant::{QModel, QuantError, QuantOptions, quantize, reference};

const IN_SCALE: f64 = 1.0 / 64.0;

/// Calibration data for an input of `shape` whose max |x| is exactly `127/64`.
fn calib(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            if i == 0 {
                127.0 / 64.0
            } else {
                ((i % 7) as f32 - 3.0) / 4.0
            }
        })
        .collect();
    Tensor::from_f32(shape, data).unwrap()
}

/// Builds `y = f(x)` for an input of `shape`, quantizes it with default options.
fn one_op(shape: &[usize], f: impl FnOnce(&mut Graph, OutletId) -> OutletId) -> QModel {
    try_one_op(shape, &QuantOptions::default(), f).unwrap()
}

fn try_one_op(
    shape: &[usize],
    opts: &QuantOptions,
    f: impl FnOnce(&mut Graph, OutletId) -> OutletId,
) -> Result<QModel, QuantError> {
    let mut g = Graph::new();
    let x = g.add_input("x", Fact::f32(shape.to_vec())).unwrap();
    let y = f(&mut g, x);
    g.add_output("y", y).unwrap();
    quantize(&g, &[calib(shape)], opts).map(|q| q.model)
}

fn konst(g: &mut Graph, name: &str, shape: &[usize], v: Vec<f32>) -> OutletId {
    g.add_const(name, Tensor::from_f32(shape, v).unwrap())
        .unwrap()
}

fn ops(m: &QModel) -> Vec<&'static str> {
    m.graph.nodes.iter().map(|n| n.op.name()).collect()
}

fn ratio(m: i32, s: u8) -> f64 {
    f64::from(m) / 2f64.powi(i32::from(s))
}

fn close(a: f64, b: f64) -> bool {
    ((a - b) / b).abs() < 1e-6
}

fn scale(m: &QModel, id: usize) -> f64 {
    f64::from(m.scale(id).unwrap())
}

#[test]
fn input_scale_is_threshold_over_hi() {
    let m = one_op(&[1, 8], |g, x| {
        g.add_node("relu", Relu.into(), &[x]).unwrap()
    });
    assert_eq!(scale(&m, 0), IN_SCALE);
}

#[test]
fn relu_is_clip_at_zero() {
    let m = one_op(&[1, 8], |g, x| {
        g.add_node("relu", Relu.into(), &[x]).unwrap()
    });
    assert_eq!(ops(&m), ["Input", "Clip"]);
    assert_eq!(
        m.graph.nodes[1].op,
        QOp::Clip(tk_quant::ops::Clip { lo: 0, hi: 127 })
    );
}

#[test]
fn clip_bounds_round_half_up() {
    // The input's only consumer is the clip, so the input takes the clip's threshold
    // (1 + 1/128) as its range, like a conv followed by a relu.
    let m = one_op(&[1, 8], |g, x| {
        g.add_node(
            "c",
            Clip {
                min: -0.5,
                max: 1.0 + 1.0 / 128.0,
            }
            .into(),
            &[x],
        )
        .unwrap()
    });
    assert!(close(scale(&m, 0), (1.0 + 1.0 / 128.0) / 127.0));
    // -0.5 / s = -63.0 exactly; the upper bound is the top of the range.
    assert_eq!(
        m.graph.nodes[1].op,
        QOp::Clip(tk_quant::ops::Clip { lo: -63, hi: 127 })
    );
    // With a second consumer the input keeps its own range: -0.5 * 64 = -32 and
    // (1 + 1/128) * 64 = 64.5, which rounds half up to 65.
    let m = one_op(&[1, 8], |g, x| {
        let c = g
            .add_node(
                "c",
                Clip {
                    min: -0.5,
                    max: 1.0 + 1.0 / 128.0,
                }
                .into(),
                &[x],
            )
            .unwrap();
        g.add_node("cat", Concat { axis: 1 }.into(), &[c, x])
            .unwrap()
    });
    assert_eq!(scale(&m, 0), IN_SCALE);
    assert_eq!(
        m.graph.nodes[1].op,
        QOp::Clip(tk_quant::ops::Clip { lo: -32, hi: 65 })
    );
}

#[test]
fn add_and_sub_multipliers() {
    for (kind, sign) in [(BinaryKind::Add, 1.0), (BinaryKind::Sub, -1.0)] {
        let m = one_op(&[1, 8], |g, x| {
            let c = konst(g, "c", &[8], (0..8).map(|i| i as f32 * 0.5).collect());
            g.add_node("add", Binary { kind }.into(), &[x, c]).unwrap()
        });
        assert_eq!(ops(&m), ["Input", "Const", "Add"]);
        let QOp::Add(a) = &m.graph.nodes[2].op else {
            panic!()
        };
        let (sy, sc) = (scale(&m, 2), scale(&m, 1));
        assert!(close(ratio(a.ma, a.shift), IN_SCALE / sy));
        assert!(close(ratio(a.mb, a.shift), sign * sc / sy));
        assert!(a.ma.unsigned_abs().max(a.mb.unsigned_abs()) >= 1 << 30);
    }
}

#[test]
fn mul_by_positive_per_channel_constant_is_rescale() {
    let m = one_op(&[1, 3, 2, 2], |g, x| {
        let c = konst(g, "c", &[3, 1, 1], vec![0.5, 1.0, 2.0]);
        g.add_node(
            "mul",
            Binary {
                kind: BinaryKind::Mul,
            }
            .into(),
            &[c, x],
        )
        .unwrap()
    });
    assert_eq!(ops(&m), ["Input", "Rescale"]);
    let QOp::Rescale(r) = &m.graph.nodes[1].op else {
        panic!()
    };
    let sy = scale(&m, 1);
    for (c, k) in [0.5, 1.0, 2.0].iter().enumerate() {
        assert!(close(
            ratio(r.requant.multipliers[c], r.requant.shifts[c]),
            IN_SCALE * k / sy
        ));
    }
}

#[test]
fn mul_by_negative_or_activation_is_mul() {
    let m = one_op(&[1, 4], |g, x| {
        let c = konst(g, "c", &[], vec![-3.0]);
        g.add_node(
            "mul",
            Binary {
                kind: BinaryKind::Mul,
            }
            .into(),
            &[x, c],
        )
        .unwrap()
    });
    assert_eq!(ops(&m), ["Input", "Const", "Mul"]);
    let QOp::Const(c) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!(c.value.data, vec![-127]);
    let m = one_op(&[1, 4], |g, x| {
        g.add_node(
            "sq",
            Binary {
                kind: BinaryKind::Mul,
            }
            .into(),
            &[x, x],
        )
        .unwrap()
    });
    let QOp::Mul(q) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert!(close(
        ratio(q.m, q.shift),
        IN_SCALE * IN_SCALE / scale(&m, 1)
    ));
}

#[test]
fn div_by_constant() {
    let m = one_op(&[1, 4], |g, x| {
        let c = konst(g, "c", &[1], vec![4.0]);
        g.add_node(
            "div",
            Binary {
                kind: BinaryKind::Div,
            }
            .into(),
            &[x, c],
        )
        .unwrap()
    });
    assert_eq!(ops(&m), ["Input", "Rescale"]);
    let QOp::Rescale(r) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert!(close(
        ratio(r.requant.multipliers[0], r.requant.shifts[0]),
        IN_SCALE / 4.0 / scale(&m, 1)
    ));
    let m = one_op(&[1, 4], |g, x| {
        let c = konst(g, "c", &[1], vec![-4.0]);
        g.add_node(
            "div",
            Binary {
                kind: BinaryKind::Div,
            }
            .into(),
            &[x, c],
        )
        .unwrap()
    });
    assert_eq!(ops(&m), ["Input", "Const", "Mul"]);
    let err = try_one_op(&[1, 4], &QuantOptions::default(), |g, x| {
        g.add_node(
            "div",
            Binary {
                kind: BinaryKind::Div,
            }
            .into(),
            &[x, x],
        )
        .unwrap()
    });
    assert!(matches!(err, Err(QuantError::Unsupported { .. })));
}

#[test]
fn lut_table_is_exact() {
    let m = one_op(&[1, 8], |g, x| {
        g.add_node("l", LeakyRelu { alpha: 0.25 }.into(), &[x])
            .unwrap()
    });
    let QOp::Lut(l) = &m.graph.nodes[1].op else {
        panic!()
    };
    let so = scale(&m, 1);
    assert_eq!(
        (l.table.len(), l.in_lo, l.function.as_str()),
        (256, -128, "LeakyRelu")
    );
    for (k, &v) in l.table.iter().enumerate() {
        let x = (k as f64 - 128.0) * IN_SCALE;
        let y = if x >= 0.0 { x } else { 0.25 * x };
        assert_eq!(
            v,
            tk_quant::round_half_up(y / so).clamp(-128.0, 127.0) as i32,
            "k = {k}"
        );
    }
}

#[test]
fn softmax_table() {
    let m = one_op(&[1, 8], |g, x| {
        g.add_node("s", Softmax { axis: 1 }.into(), &[x]).unwrap()
    });
    let QOp::Softmax(s) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!((s.axis, s.frac_bits, s.exp_table[0]), (1, 7, 1 << 15));
    assert!(s.exp_table.windows(2).all(|w| w[0] >= w[1]));
    for (d, &e) in s.exp_table.iter().enumerate() {
        let expect = tk_quant::round_half_up(32768.0 * (-(d as f64) * IN_SCALE).exp());
        assert_eq!(f64::from(e), expect);
    }
    assert!(s.exp_table.len() == 256 || s.exp_table.last() == Some(&0));
    assert_eq!(scale(&m, 1), 1.0 / 128.0);
    // Equal inputs give equal probabilities summing to one.
    let out = reference::run(&m, &[tk_quant::QTensor::zeros(vec![1, 8]).unwrap()]).unwrap();
    assert_eq!(out[0].data, vec![16; 8]);
}

#[test]
fn average_pool_multipliers_per_count() {
    let mut geometry = PoolGeometry::with_kernel([3, 3]);
    geometry.pads = [1, 1, 1, 1];
    let m = one_op(&[1, 1, 4, 4], |g, x| {
        g.add_node(
            "p",
            AveragePool {
                geometry,
                count_include_pad: false,
            }
            .into(),
            &[x],
        )
        .unwrap()
    });
    let QOp::AvgPool(p) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!(p.multipliers.len(), 10);
    assert_eq!(p.multipliers[0], 0);
    let r = IN_SCALE / scale(&m, 1);
    for c in 1..=9 {
        assert!(
            close(ratio(p.multipliers[c], p.shift), r / c as f64),
            "count {c}"
        );
    }
    // A corner window sums 4 values, the centre 9.
    let x = tk_quant::QTensor::new(vec![1, 1, 4, 4], vec![9; 16]).unwrap();
    let y = reference::run(&m, &[x]).unwrap();
    let expect = tk_quant::round_half_up(9.0 * IN_SCALE / scale(&m, 1)) as i32;
    assert!(
        y[0].data.iter().all(|&v| (v - expect).abs() <= 1),
        "{:?} vs {expect}",
        y[0].data
    );
}

#[test]
fn global_average_pool_is_a_full_window() {
    let m = one_op(&[1, 2, 3, 5], |g, x| {
        g.add_node("gap", GlobalAveragePool.into(), &[x]).unwrap()
    });
    let QOp::AvgPool(p) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!(
        (p.geometry.kernel, p.geometry.pads, p.multipliers.len()),
        ([3, 5], [0; 4], 16)
    );
    assert_eq!(m.graph.nodes[1].shape, vec![1, 2, 1, 1]);
}

#[test]
fn max_pool_ceil_mode_pads_the_end() {
    let mut geometry = PoolGeometry::with_kernel([2, 2]);
    geometry.strides = [2, 2];
    geometry.ceil_mode = true;
    let m = one_op(&[1, 1, 5, 5], |g, x| {
        g.add_node("p", MaxPool { geometry }.into(), &[x]).unwrap()
    });
    let QOp::MaxPool(p) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!(p.geometry.pads, [0, 0, 1, 1]);
    assert_eq!(m.graph.nodes[1].shape, vec![1, 1, 3, 3]);
    assert_eq!(scale(&m, 1), IN_SCALE);
}

#[test]
fn concat_rescales_only_differing_inputs() {
    let m = one_op(&[1, 2], |g, x| {
        let c = konst(g, "c", &[], vec![2.0]);
        let y = g
            .add_node(
                "double",
                Binary {
                    kind: BinaryKind::Mul,
                }
                .into(),
                &[x, c],
            )
            .unwrap();
        g.add_node("cat", Concat { axis: 1 }.into(), &[y, x])
            .unwrap()
    });
    assert_eq!(ops(&m), ["Input", "Rescale", "Rescale", "Concat"]);
    // The doubled branch has the concat's range: no second rescale for it.
    assert_eq!(m.graph.nodes[3].inputs, vec![1, 2]);
    assert_eq!(m.graph.nodes[2].inputs, vec![0]);
}

#[test]
fn conv_and_gemm_weights() {
    let m = one_op(&[1, 1, 3, 3], |g, x| {
        let w = konst(g, "w", &[2, 1, 1, 1], vec![0.5, -0.25]);
        let b = konst(g, "b", &[2], vec![0.125, 0.0]);
        let conv = Conv {
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
        };
        g.add_node("conv", conv.into(), &[x, w, b]).unwrap()
    });
    let QOp::Conv(c) = &m.graph.nodes[1].op else {
        panic!()
    };
    // Per-channel symmetric weights: each channel's max maps to 127.
    assert_eq!(c.weight.data, vec![127, -127]);
    // bias = round(0.125 / (scale_x * 0.5 / 127)).
    assert_eq!(
        c.bias,
        vec![(0.125 / (IN_SCALE * 0.5 / 127.0)).round() as i32, 0]
    );
    assert_eq!(c.requant.multipliers.len(), 2);
    // Gemm with alpha and an untransposed B becomes the canonical [N, K] weight.
    let opts = QuantOptions {
        per_channel: false,
        ..QuantOptions::default()
    };
    let m = try_one_op(&[1, 2], &opts, |g, x| {
        let w = konst(g, "w", &[2, 3], vec![1.0, 0.0, -1.0, 0.5, 0.25, 0.0]);
        let gemm = Gemm {
            alpha: 2.0,
            beta: 1.0,
            trans_a: false,
            trans_b: false,
        };
        g.add_node("fc", gemm.into(), &[x, w]).unwrap()
    })
    .unwrap();
    let QOp::Gemm(q) = &m.graph.nodes[1].op else {
        panic!()
    };
    assert_eq!(q.weight.shape, vec![3, 2]);
    assert_eq!(q.weight.data, vec![127, 64, 0, 32, -127, 0]);
    assert_eq!(q.requant.multipliers.len(), 1);
}

#[test]
fn bias_overflow_and_accumulator_bound_are_errors() {
    let err = try_one_op(&[1, 1, 2, 2], &QuantOptions::default(), |g, x| {
        let w = konst(g, "w", &[1, 1, 1, 1], vec![1e-9]);
        let b = konst(g, "b", &[1], vec![1000.0]);
        let conv = Conv {
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            group: 1,
        };
        g.add_node("conv", conv.into(), &[x, w, b]).unwrap()
    });
    assert!(
        matches!(err, Err(QuantError::Overflow { what: "bias", .. })),
        "{err:?}"
    );
    let opts = QuantOptions {
        bits: 16,
        weight_bits: 16,
        ..QuantOptions::default()
    };
    let err = try_one_op(&[1, 2048], &opts, |g, x| {
        let w = konst(g, "w", &[2048, 1], vec![1.0; 2048]);
        g.add_node("fc", MatMul.into(), &[x, w]).unwrap()
    });
    assert!(
        matches!(
            err,
            Err(QuantError::Overflow {
                what: "accumulator bound",
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn wiring_keeps_scale_and_bits() {
    let m = one_op(&[1, 2, 2, 3], |g, x| {
        let t = g
            .add_node(
                "t",
                Transpose {
                    perm: vec![0, 3, 1, 2],
                }
                .into(),
                &[x],
            )
            .unwrap();
        let p = g
            .add_node(
                "p",
                Pad {
                    pads: vec![[0, 0], [0, 0], [1, 1], [0, 0]],
                    value: 0.0,
                }
                .into(),
                &[t],
            )
            .unwrap();
        let r = g
            .add_node(
                "r",
                Resize {
                    scales: vec![1, 1, 1, 2],
                }
                .into(),
                &[p],
            )
            .unwrap();
        g.add_node("f", Flatten { axis: 1 }.into(), &[r]).unwrap()
    });
    assert_eq!(ops(&m), ["Input", "Transpose", "Pad", "Resize", "Reshape"]);
    assert!((1..5).all(|i| scale(&m, i) == IN_SCALE && m.graph.nodes[i].bits == 8));
    assert_eq!(m.graph.nodes[4].shape, vec![1, 3 * 4 * 4]);
}
