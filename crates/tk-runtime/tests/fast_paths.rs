//! The fast Conv and Gemm paths (packed `i16` operands, chunked `i32` sums, depthwise rows,
//! rayon tiles) against the spec formulas written out naively, on shapes, strides, groups,
//! padding and value ranges chosen to reach every path: 8-bit and 16-bit operands, operand
//! products large enough to force short `i32` chunks, values beyond `i16` (the generic path),
//! accumulators beyond `2^40` (the reported overflow must be the first output element in
//! row-major order), and one and several threads.
// The naive formulas read best with explicit indices.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{node, range, requant, tensor};
use proptest::prelude::*;
use tk_quant::ops::{Conv, Gemm, QOp, Requant};
use tk_quant::{QNode, QTensor};
use tk_runtime::{RuntimeError, execute_node};

/// `2^40`, the accumulator bound of spec section 1.
const BOUND: u128 = 1 << 40;

/// Activation magnitudes: 8-bit, 16-bit, and beyond `i16` (the generic path).
fn x_range() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        3 => Just((-128, 127)),
        3 => Just((-32768, 32767)),
        1 => Just((-100_000, 100_000)),
    ]
}

/// Weight magnitudes: 8-bit, 13-bit (with 16-bit activations every `i32` chunk is 8 terms),
/// 16-bit, and beyond `i16`.
fn w_range() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        3 => Just((-128, 127)),
        2 => Just((-4096, 4095)),
        1 => Just((-32768, 32767)),
        1 => Just((-(1 << 20), 1 << 20)),
    ]
}

/// Values in `[lo, hi]`, with the extremes over-represented.
fn values(len: usize, (lo, hi): (i32, i32)) -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec(prop_oneof![4 => lo..=hi, 1 => Just(lo), 1 => Just(hi)], len)
}

fn requant_params(pairs: usize) -> impl Strategy<Value = Requant> {
    (
        proptest::collection::vec(common::multiplier(), pairs),
        proptest::collection::vec(common::shift(), pairs),
    )
        .prop_map(|(multipliers, shifts)| Requant {
            multipliers,
            shifts,
            clamp: None,
        })
}

/// Spec requantization of exact accumulators (clamped to the fused clamp if any), or the first `(index, acc)` beyond `2^40`.
fn finish(accs: &[i128], channel: impl Fn(usize) -> usize, op: &Requant, bits: u8) -> Expected {
    let (lo, hi) = op.clamp.map_or(range(bits), |[l, h]| (l, h));
    let mut data = Vec::with_capacity(accs.len());
    for (i, &acc) in accs.iter().enumerate() {
        if acc.unsigned_abs() >= BOUND {
            return Err((i, acc));
        }
        let (m, s) = op.for_channel(channel(i));
        data.push(requant(acc, i64::from(m), u32::from(s), lo, hi));
    }
    Ok(data)
}

type Expected = Result<Vec<i32>, (usize, i128)>;

fn conv_out(len: usize, pa: usize, pb: usize, k: usize, d: usize, s: usize) -> Option<usize> {
    let span = (k - 1) * d + 1;
    (len + pa + pb).checked_sub(span).map(|v| v / s + 1)
}

#[derive(Debug, Clone)]
struct ConvCase {
    x: QTensor,
    op: Conv,
    out: Vec<usize>,
    bits: u8,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (
            1usize..=2,
            1usize..=4,
            prop_oneof![Just(1usize), 1usize..=9],
        ),
        (1usize..=8, 1usize..=12, 1usize..=12, 1usize..=5, 1usize..=5),
        (x_range(), w_range()),
    )
        .prop_flat_map(|((n, group, cg), (mg, h, w, kh, kw), (xr, wr))| {
            let (m, c) = (mg * group, cg * group);
            (
                values(n * c * h * w, xr),
                values(m * cg * kh * kw, wr),
                proptest::collection::vec(any::<i32>(), m),
                prop_oneof![Just(1usize), Just(m)].prop_flat_map(requant_params),
                [1usize..=3, 1usize..=3],
                [1usize..=2, 1usize..=2],
                [0usize..=3, 0usize..=3, 0usize..=3, 0usize..=3],
                2u8..=16,
            )
                .prop_filter_map(
                    "window larger than padded input",
                    move |(xd, wd, bias, requant, strides, dilations, pads, bits)| {
                        let oh = conv_out(h, pads[0], pads[2], kh, dilations[0], strides[0])?;
                        let ow = conv_out(w, pads[1], pads[3], kw, dilations[1], strides[1])?;
                        Some(ConvCase {
                            x: tensor(vec![n, c, h, w], xd),
                            op: Conv {
                                strides,
                                pads,
                                dilations,
                                group,
                                weight: tensor(vec![m, cg, kh, kw], wd),
                                bias,
                                requant,
                            },
                            out: vec![n, m, oh, ow],
                            bits,
                        })
                    },
                )
        })
}

/// The spec's Conv formula, one output element at a time.
fn naive_conv(case: &ConvCase) -> Expected {
    let (x, op) = (&case.x, &case.op);
    let [n, c, h, w] = x.shape[..] else {
        unreachable!()
    };
    let [m, cg, kh, kw] = op.weight.shape[..] else {
        unreachable!()
    };
    let [_, _, oh, ow] = case.out[..] else {
        unreachable!()
    };
    let mg = m / op.group;
    let mut accs = vec![];
    for b in 0..n {
        for oc in 0..m {
            let g = oc / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = i128::from(op.bias[oc]);
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * op.strides[0] + i * op.dilations[0]) as i64
                                    - op.pads[0] as i64;
                                let ix = (ox * op.strides[1] + j * op.dilations[1]) as i64
                                    - op.pads[1] as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                    continue;
                                }
                                let xv = x.data
                                    [((b * c + g * cg + ci) * h + iy as usize) * w + ix as usize];
                                let wv = op.weight.data[((oc * cg + ci) * kh + i) * kw + j];
                                acc += i128::from(xv) * i128::from(wv);
                            }
                        }
                    }
                    accs.push(acc);
                }
            }
        }
    }
    finish(&accs, |i| (i / (oh * ow)) % m, &op.requant, case.bits)
}

/// Runs `node` on `x` in a rayon pool of `threads` threads with `execute_node` and, when `x`
/// fits a 16-bit model input and the model validates, as a one-node model (whose weights the
/// runtime packs once, ahead of the run); both must agree.
fn run(node: QNode, x: &QTensor, threads: usize) -> Expected {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let unpack = |r: Result<QTensor, RuntimeError>, id: usize| match r {
        Ok(t) => Ok(t.data),
        Err(RuntimeError::AccumulatorOverflow { node, index, acc }) => {
            assert_eq!(node, id, "overflow names the node");
            Err((index, acc))
        }
        Err(e) => panic!("unexpected error: {e}"),
    };
    let single = unpack(pool.install(|| execute_node(&node, &[x])), node.id);
    if x.data.iter().all(|&v| i16::try_from(v).is_ok()) {
        let mut model_node = node.clone();
        model_node.id = 1;
        model_node.inputs = vec![0];
        let model = common::model(
            vec![common::input(0, x.shape.clone(), 16), model_node],
            vec![1],
        );
        // Models whose worst-case accumulator could reach 2^40 are rejected up front.
        if let Ok(runtime) = tk_runtime::Runtime::new(&model) {
            let whole = pool.install(|| runtime.run(std::slice::from_ref(x)));
            let whole = unpack(whole.map(|mut outs| outs.remove(0)), 1);
            assert_eq!(single, whole, "execute_node and Runtime agree");
        }
    }
    single
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn fast_conv_matches_spec(
        mut case in conv_case(),
        threads in 1usize..=3,
        clamp in common::clamp_choice(),
    ) {
        case.op.requant.clamp = common::clamp_in(clamp, case.bits);
        let expected = naive_conv(&case);
        let n = node(0, QOp::Conv(case.op.clone()), vec![0], case.out.clone(), case.bits);
        prop_assert_eq!(run(n, &case.x, threads), expected);
    }

    #[test]
    fn fast_gemm_matches_spec(
        ((r, k, n), (xr, wr)) in ((1usize..=5, 0usize..=300, 1usize..=40), (x_range(), w_range())),
        seed in any::<u64>(),
        bits in 2u8..=16,
        per_channel in any::<bool>(),
        threads in 1usize..=3,
        clamp in common::clamp_choice(),
    ) {
        let x = tensor(vec![r, k], common::pseudo(seed, r * k, xr.0, xr.1));
        let w = tensor(vec![n, k], common::pseudo(seed ^ 1, n * k, wr.0, wr.1));
        let bias = common::pseudo(seed ^ 2, n, i32::MIN, i32::MAX);
        let pairs = if per_channel { n } else { 1 };
        let requant = Requant {
            multipliers: common::pseudo(seed ^ 3, pairs, 1, i32::MAX),
            shifts: common::pseudo(seed ^ 4, pairs, 20, 50).into_iter().map(|s| s as u8).collect(),
            clamp: common::clamp_in(clamp, bits),
        };
        let mut accs = vec![];
        for row in 0..r {
            for col in 0..n {
                accs.push(i128::from(bias[col]) + (0..k).map(|t| i128::from(x.data[row * k + t]) * i128::from(w.data[col * k + t])).sum::<i128>());
            }
        }
        let expected = finish(&accs, |i| i % n, &requant, bits);
        let op = QOp::Gemm(Gemm { weight: w, bias, requant });
        prop_assert_eq!(run(node(0, op, vec![0], vec![r, n], bits), &x, threads), expected);
    }
}

/// 16-bit activations times 8-bit weights over a dot long enough to pass `2^40`: the fast
/// path sums many `i32` chunks, and the reported overflow is the first element in row-major
/// order, whatever the thread count.
#[test]
fn fast_gemm_reports_the_first_overflow() {
    let (r, k, n) = (3, 300_000, 9);
    let x: Vec<i32> = (0..r * k)
        .map(|i| if i / k == 0 { 1 } else { -32768 })
        .collect();
    // Column j: weights all -128 when j is odd (with row 1 or 2: +2^15 * 2^7 * k > 2^40),
    // small otherwise.
    let w: Vec<i32> = (0..n * k)
        .map(|i| if (i / k) % 2 == 1 { -128 } else { 3 })
        .collect();
    let bias = vec![0; n];
    let requant = Requant {
        multipliers: vec![1 << 30],
        shifts: vec![60],
        clamp: None,
    };
    let x = tensor(vec![r, k], x);
    let op = QOp::Gemm(Gemm {
        weight: tensor(vec![n, k], w),
        bias,
        requant,
    });
    let want = (n + 1, 128 * 32768 * k as i128);
    for threads in [1, 2, 3] {
        let got = run(node(0, op.clone(), vec![0], vec![r, n], 8), &x, threads);
        assert_eq!(got, Err(want), "{threads} threads");
    }
}

/// The runtime's conv equals the spec's on 1, 2 and 3 threads (and the spec accepts it).
fn assert_spec_on_1_to_3_threads(case: &ConvCase, what: &str) {
    let expected = naive_conv(case);
    assert!(expected.is_ok(), "{what}: {expected:?}");
    for threads in [1, 2, 3] {
        let n = node(0, QOp::Conv(case.op.clone()), vec![0], case.out.clone(), 8);
        assert_eq!(
            run(n, &case.x, threads),
            expected,
            "{what} threads {threads}"
        );
    }
}

/// A depthwise 3x3 convolution and a pointwise one on a tensor large enough to be split
/// between threads, compared with the spec, without and with a fused clamp (a Relu, and a
/// narrower one).
#[test]
fn large_depthwise_and_pointwise_convs_match_spec() {
    for (cg, group, kh, pad, clamp) in [
        (1, 32, 3, 1, None),
        (32, 1, 1, 0, None),
        (8, 4, 3, 1, None),
        (1, 32, 3, 1, Some([0, 127])),
        (32, 1, 1, 0, Some([0, 127])),
        (8, 4, 3, 1, Some([-20, 90])),
    ] {
        let (c, m, hw) = (cg * group, 32, 40);
        let op = Conv {
            strides: [1, 1],
            pads: [pad; 4],
            dilations: [1, 1],
            group,
            weight: tensor(
                vec![m, cg, kh, kh],
                common::pseudo(7, m * cg * kh * kh, -128, 127),
            ),
            bias: common::pseudo(8, m, -50_000, 50_000),
            requant: Requant {
                multipliers: common::pseudo(9, m, 1 << 30, i32::MAX),
                shifts: vec![38; m],
                clamp,
            },
        };
        let case = ConvCase {
            x: tensor(
                vec![1, c, hw, hw],
                common::pseudo(10, c * hw * hw, -128, 127),
            ),
            op,
            out: vec![1, m, hw, hw],
            bits: 8,
        };
        assert_spec_on_1_to_3_threads(&case, &format!("cg {cg} clamp {clamp:?}"));
    }
}

/// Large convolutions on few positions (5x5 and 7x7 planes), whose output channels are split
/// between threads, with groups, a batch of two and a channel count that leaves a short last
/// task, compared with the spec.
#[test]
fn few_position_convs_split_channels_and_match_spec() {
    for (n, c, m, group, hw) in [(1, 64, 64, 1, 7), (2, 128, 100, 2, 5), (1, 256, 52, 1, 7)] {
        let cg = c / group;
        let op = Conv {
            strides: [1, 1],
            pads: [1; 4],
            dilations: [1, 1],
            group,
            weight: tensor(vec![m, cg, 3, 3], common::pseudo(11, m * cg * 9, -128, 127)),
            bias: common::pseudo(12, m, -50_000, 50_000),
            requant: Requant {
                multipliers: common::pseudo(13, m, 1 << 30, i32::MAX),
                shifts: vec![40; m],
                clamp: None,
            },
        };
        let case = ConvCase {
            x: tensor(
                vec![n, c, hw, hw],
                common::pseudo(14, n * c * hw * hw, -128, 127),
            ),
            op,
            out: vec![n, m, hw, hw],
            bits: 8,
        };
        assert_spec_on_1_to_3_threads(&case, &format!("c {c} m {m} group {group}"));
    }
}

/// Strided depthwise convolutions (phase planes), with odd and even input sizes, asymmetric
/// padding and dilation, compared with the spec.
#[test]
fn strided_depthwise_convs_match_spec() {
    for (stride, dilation, pads, hw) in [
        ([2, 2], [1, 1], [1, 1, 1, 1], 40),
        ([2, 2], [1, 1], [0, 1, 2, 0], 31),
        ([2, 3], [2, 1], [2, 0, 1, 3], 29),
        ([3, 2], [1, 2], [1, 2, 0, 1], 17),
        ([2, 2], [1, 1], [2, 2, 2, 2], 5),
    ] {
        let (c, kh, kw) = (24, 3, 5);
        let op = Conv {
            strides: stride,
            pads,
            dilations: dilation,
            group: c,
            weight: tensor(
                vec![c, 1, kh, kw],
                common::pseudo(11, c * kh * kw, -128, 127),
            ),
            bias: common::pseudo(12, c, -50_000, 50_000),
            requant: Requant {
                multipliers: common::pseudo(13, c, 1 << 30, i32::MAX),
                shifts: vec![38; c],
                clamp: None,
            },
        };
        let oh = conv_out(hw, pads[0], pads[2], kh, dilation[0], stride[0]).unwrap();
        let ow = conv_out(hw, pads[1], pads[3], kw, dilation[1], stride[1]).unwrap();
        let case = ConvCase {
            x: tensor(
                vec![1, c, hw, hw],
                common::pseudo(14, c * hw * hw, -128, 127),
            ),
            op,
            out: vec![1, c, oh, ow],
            bits: 8,
        };
        let expected = naive_conv(&case);
        assert!(expected.is_ok());
        let n = node(0, QOp::Conv(case.op.clone()), vec![0], case.out.clone(), 8);
        assert_eq!(
            run(n, &case.x, 2),
            expected,
            "stride {stride:?} pads {pads:?}"
        );
    }
}

/// A stride far beyond the input (one output column) runs like any other: the depthwise
/// path's per-phase layout is bounded by the input, not by the stride.
#[test]
fn huge_strides_match_spec() {
    for (stride, group) in [
        ([1, 1 << 40], 2),
        ([1 << 40, 1], 2),
        ([1 << 40, 1 << 40], 1),
    ] {
        let op = Conv {
            strides: stride,
            pads: [1; 4],
            dilations: [1, 1],
            group,
            weight: tensor(
                vec![2, 2 / group, 3, 3],
                common::pseudo(3, 18 * 2 / group, -128, 127),
            ),
            bias: vec![5, -7],
            requant: Requant {
                multipliers: vec![1 << 30],
                shifts: vec![33],
                clamp: None,
            },
        };
        let oh = conv_out(4, 1, 1, 3, 1, stride[0]).unwrap();
        let ow = conv_out(5, 1, 1, 3, 1, stride[1]).unwrap();
        let case = ConvCase {
            x: tensor(vec![1, 2, 4, 5], common::pseudo(4, 40, -128, 127)),
            op,
            out: vec![1, 2, oh, ow],
            bits: 8,
        };
        let n = node(0, QOp::Conv(case.op.clone()), vec![0], case.out.clone(), 8);
        assert_eq!(run(n, &case.x, 1), naive_conv(&case), "strides {stride:?}");
    }
}
