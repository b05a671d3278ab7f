//! Conv, Gemm, MaxPool and AvgPool kernels against the spec formulas written out naively.
// The naive formulas read best with explicit indices.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{node, range, requant, tensor, values};
use proptest::prelude::*;
use tk_quant::ops::{AvgPool, Conv, Gemm, MaxPool, PoolGeometry, QOp, Requant};
use tk_quant::{QNode, QTensor};
use tk_runtime::{RuntimeError, execute_node};

#[derive(Debug, Clone)]
struct ConvCase {
    x: QTensor,
    op: Conv,
    bits: u8,
}

fn conv_out(len: usize, pa: usize, pb: usize, k: usize, d: usize, s: usize) -> Option<usize> {
    let span = (k - 1) * d + 1;
    (len + pa + pb).checked_sub(span).map(|v| v / s + 1)
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        1usize..=2,
        1usize..=2,
        1usize..=3,
        1usize..=3,
        1usize..=6,
        1usize..=6,
        1usize..=3,
        1usize..=3,
    )
        .prop_flat_map(|(n, group, cg, mg, h, w, kh, kw)| {
            let m = mg * group;
            let c = cg * group;
            (
                values(n * c * h * w, -128, 127),
                values(m * cg * kh * kw, -128, 127),
                values(m, -4096, 4096),
                prop_oneof![Just(1usize), Just(m)].prop_flat_map(|pairs| {
                    (
                        proptest::collection::vec(common::multiplier(), pairs),
                        proptest::collection::vec(common::shift(), pairs),
                    )
                }),
                [1usize..=2, 1usize..=2],
                [1usize..=2, 1usize..=2],
                [0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2],
                2u8..=16,
                common::clamp_choice(),
            )
                .prop_filter_map(
                    "window larger than padded input",
                    move |(xd, wd, bias, (mult, shifts), strides, dilations, pads, bits, clamp)| {
                        conv_out(h, pads[0], pads[2], kh, dilations[0], strides[0])?;
                        conv_out(w, pads[1], pads[3], kw, dilations[1], strides[1])?;
                        Some(ConvCase {
                            x: tensor(vec![n, c, h, w], xd),
                            op: Conv {
                                strides,
                                pads,
                                dilations,
                                group,
                                weight: tensor(vec![m, cg, kh, kw], wd),
                                bias,
                                requant: Requant {
                                    multipliers: mult,
                                    shifts,
                                    clamp: common::clamp_in(clamp, bits),
                                },
                            },
                            bits,
                        })
                    },
                )
        })
}

/// The spec's Conv formula, one output element at a time.
fn naive_conv(x: &QTensor, op: &Conv, bits: u8) -> QTensor {
    let [n, c, h, w] = x.shape[..] else {
        unreachable!()
    };
    let [m, cg, kh, kw] = op.weight.shape[..] else {
        unreachable!()
    };
    let oh = conv_out(
        h,
        op.pads[0],
        op.pads[2],
        kh,
        op.dilations[0],
        op.strides[0],
    )
    .unwrap();
    let ow = conv_out(
        w,
        op.pads[1],
        op.pads[3],
        kw,
        op.dilations[1],
        op.strides[1],
    )
    .unwrap();
    let (lo, hi) = range(bits);
    let (lo, hi) = op.requant.clamp.map_or((lo, hi), |[l, h]| (l, h));
    let mg = m / op.group;
    let mut data = vec![];
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
                    let (mm, s) = op.requant.for_channel(oc);
                    data.push(requant(acc, i64::from(mm), u32::from(s), lo, hi));
                }
            }
        }
    }
    tensor(vec![n, m, oh, ow], data)
}

fn run_single(
    op: QOp,
    shape: Vec<usize>,
    bits: u8,
    inputs: &[&QTensor],
) -> Result<QTensor, RuntimeError> {
    let n: QNode = node(inputs.len(), op, (0..inputs.len()).collect(), shape, bits);
    execute_node(&n, inputs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn conv_matches_spec(case in conv_case()) {
        let expected = naive_conv(&case.x, &case.op, case.bits);
        let got = run_single(QOp::Conv(case.op.clone()), expected.shape.clone(), case.bits, &[&case.x]).unwrap();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn gemm_matches_spec(
        (r, k, n) in (1usize..=3, 0usize..=8, 1usize..=5),
        seed in any::<u64>(),
        bits in 2u8..=16,
        per_channel in any::<bool>(),
        clamp in common::clamp_choice(),
    ) {
        let mut rng = rand_like::Rng(seed);
        use rand_like::*;
        let x = tensor(vec![r, k], (0..r * k).map(|_| int(&mut rng, -32768, 32767)).collect());
        let w = tensor(vec![n, k], (0..n * k).map(|_| int(&mut rng, -128, 127)).collect());
        let bias: Vec<i32> = (0..n).map(|_| int(&mut rng, -100_000, 100_000)).collect();
        let pairs = if per_channel { n } else { 1 };
        let requant_params = Requant {
            multipliers: (0..pairs).map(|_| int(&mut rng, 1 << 30, i32::MAX)).collect(),
            shifts: (0..pairs).map(|_| int(&mut rng, 28, 44) as u8).collect(),
            clamp: common::clamp_in(clamp, bits),
        };
        let (lo, hi) = requant_params.clamp.map_or(range(bits), |[l, h]| (l, h));
        let mut expected = vec![];
        for row in 0..r {
            for col in 0..n {
                let acc = i128::from(bias[col]) + (0..k).map(|t| i128::from(x.data[row * k + t]) * i128::from(w.data[col * k + t])).sum::<i128>();
                let (m, s) = requant_params.for_channel(col);
                expected.push(requant(acc, i64::from(m), u32::from(s), lo, hi));
            }
        }
        let op = QOp::Gemm(Gemm { weight: w, bias, requant: requant_params });
        let got = run_single(op, vec![r, n], bits, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn pools_match_spec(
        (n, c, h, w) in (1usize..=2, 1usize..=3, 1usize..=6, 1usize..=6),
        kernel in [1usize..=3, 1usize..=3],
        strides in [1usize..=3, 1usize..=3],
        pads in [0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2],
        count_include_pad in any::<bool>(),
        shift in 20u8..=30,
        seed in any::<u64>(),
    ) {
        // ONNX requires pads smaller than the kernel, so windows are never empty.
        prop_assume!(pads[0] < kernel[0] && pads[2] < kernel[0] && pads[1] < kernel[1] && pads[3] < kernel[1]);
        let oh = (h + pads[0] + pads[2]).checked_sub(kernel[0]).map(|v| v / strides[0] + 1);
        let ow = (w + pads[1] + pads[3]).checked_sub(kernel[1]).map(|v| v / strides[1] + 1);
        let (Some(oh), Some(ow)) = (oh, ow) else { return Ok(()) };
        let mut rng = rand_like::Rng(seed);
        use rand_like::*;
        let x = tensor(vec![n, c, h, w], (0..n * c * h * w).map(|_| int(&mut rng, -128, 127)).collect());
        let full = kernel[0] * kernel[1];
        // M[count] ~ 2^shift / count, as a quantizer would store it.
        let multipliers: Vec<i32> = (0..=full).map(|count| ((1i64 << shift) / count.max(1) as i64) as i32).collect();
        let geometry = PoolGeometry { kernel, strides, pads };
        let (max_expected, avg_expected) = naive_pools(&x, &geometry, count_include_pad, &multipliers, shift, [oh, ow]);
        let shape = vec![n, c, oh, ow];
        let max = run_single(QOp::MaxPool(MaxPool { geometry: geometry.clone() }), shape.clone(), 8, &[&x]).unwrap();
        prop_assert_eq!(max.data, max_expected);
        let avg = QOp::AvgPool(AvgPool { geometry, count_include_pad, multipliers, shift });
        let avg = run_single(avg, shape, 8, &[&x]).unwrap();
        prop_assert_eq!(avg.data, avg_expected);
    }
}

/// MaxPool and AvgPool of `x` (`[n, c, h, w]`) by the spec's definition, window by window.
fn naive_pools(
    x: &QTensor,
    geometry: &PoolGeometry,
    count_include_pad: bool,
    multipliers: &[i32],
    shift: u8,
    [oh, ow]: [usize; 2],
) -> (Vec<i32>, Vec<i32>) {
    let [n, c, h, w] = x.shape[..] else {
        panic!("pool input must be 4-d")
    };
    let (kernel, strides, pads) = (geometry.kernel, geometry.strides, &geometry.pads);
    let full = kernel[0] * kernel[1];
    let (mut max_expected, mut avg_expected) = (vec![], vec![]);
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut taps = vec![];
                for i in 0..kernel[0] {
                    for j in 0..kernel[1] {
                        let iy = (oy * strides[0] + i) as i64 - pads[0] as i64;
                        let ix = (ox * strides[1] + j) as i64 - pads[1] as i64;
                        if iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64 {
                            taps.push(x.data[plane * h * w + iy as usize * w + ix as usize]);
                        }
                    }
                }
                max_expected.push(*taps.iter().max().unwrap());
                let count = if count_include_pad { full } else { taps.len() };
                let sum: i128 = taps.iter().map(|&v| i128::from(v)).sum();
                avg_expected.push(requant(
                    sum,
                    i64::from(multipliers[count]),
                    u32::from(shift),
                    -128,
                    127,
                ));
            }
        }
    }
    (max_expected, avg_expected)
}

/// The unpadded fast paths of the pools (windows all inside the input, including the tight
/// fits where a stride-2 row ends half-way through a pair, and global pooling), on every
/// geometry up to 9x9 inputs and 4x4 windows.
#[test]
fn unpadded_pools_match_spec_on_every_small_geometry() {
    let shift = 24u8;
    let mut seed = 1u64;
    for (h, w) in (1usize..=9).flat_map(|h| (1usize..=9).map(move |w| (h, w))) {
        for kernel in (1usize..=4).flat_map(|a| (1usize..=4).map(move |b| [a, b])) {
            for strides in (1usize..=3).flat_map(|a| (1usize..=3).map(move |b| [a, b])) {
                if kernel[0] > h || kernel[1] > w {
                    continue;
                }
                let (oh, ow) = (
                    (h - kernel[0]) / strides[0] + 1,
                    (w - kernel[1]) / strides[1] + 1,
                );
                seed += 1;
                let mut rng = rand_like::Rng(seed);
                let x = tensor(
                    vec![1, 2, h, w],
                    (0..2 * h * w)
                        .map(|_| rand_like::int(&mut rng, -128, 127))
                        .collect(),
                );
                let full = kernel[0] * kernel[1];
                let multipliers: Vec<i32> = (0..=full)
                    .map(|count| ((1i64 << shift) / count.max(1) as i64) as i32)
                    .collect();
                let geometry = PoolGeometry {
                    kernel,
                    strides,
                    pads: [0; 4],
                };
                let (max_expected, avg_expected) =
                    naive_pools(&x, &geometry, false, &multipliers, shift, [oh, ow]);
                let shape = vec![1, 2, oh, ow];
                let what = format!("{h}x{w} input, kernel {kernel:?}, strides {strides:?}");
                let max = run_single(
                    QOp::MaxPool(MaxPool {
                        geometry: geometry.clone(),
                    }),
                    shape.clone(),
                    8,
                    &[&x],
                )
                .unwrap();
                assert_eq!(max.data, max_expected, "MaxPool, {what}");
                let avg = QOp::AvgPool(AvgPool {
                    geometry,
                    count_include_pad: false,
                    multipliers,
                    shift,
                });
                let avg = run_single(avg, shape, 8, &[&x]).unwrap();
                assert_eq!(avg.data, avg_expected, "AvgPool, {what}");
            }
        }
    }
    // Large enough to split across threads (2^18 window reads), with a last task shorter
    // than the others (67 planes).
    let (c, hw) = (67, 64);
    let mut rng = rand_like::Rng(7);
    let x = tensor(
        vec![1, c, hw, hw],
        (0..c * hw * hw)
            .map(|_| rand_like::int(&mut rng, -128, 127))
            .collect(),
    );
    let multipliers: Vec<i32> = (0..=4)
        .map(|count| ((1i64 << shift) / count.max(1) as i64) as i32)
        .collect();
    let geometry = PoolGeometry {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0; 4],
    };
    let (_, avg_expected) =
        naive_pools(&x, &geometry, false, &multipliers, shift, [hw / 2, hw / 2]);
    let avg = QOp::AvgPool(AvgPool {
        geometry,
        count_include_pad: false,
        multipliers,
        shift,
    });
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let got =
            pool.install(|| run_single(avg.clone(), vec![1, c, hw / 2, hw / 2], 8, &[&x]).unwrap());
        assert_eq!(
            got.data, avg_expected,
            "AvgPool 2x2 on {c} planes, {threads} threads"
        );
    }
}

/// A tiny seeded generator (splitmix64) for test data derived from one proptest seed.
mod rand_like {
    /// Generator state.
    pub struct Rng(pub u64);

    /// Uniform in `[lo, hi]` (bias is negligible for test ranges).
    pub fn int(rng: &mut Rng, lo: i32, hi: i32) -> i32 {
        rng.0 = rng.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
        (i64::from(lo) + (z % span) as i64) as i32
    }
}

#[test]
fn conv_accumulator_overflow_is_an_error() {
    // 16-bit input and weights, 1x1x64x64 kernel: acc = 64*64 * 32767 * 32767 > 2^40.
    let x = tensor(vec![1, 1, 64, 64], vec![32767; 64 * 64]);
    let op = Conv {
        strides: [1, 1],
        pads: [0; 4],
        dilations: [1, 1],
        group: 1,
        weight: tensor(vec![1, 1, 64, 64], vec![32767; 64 * 64]),
        bias: vec![0],
        requant: Requant {
            multipliers: vec![1],
            shifts: vec![0],
            clamp: None,
        },
    };
    let err = run_single(QOp::Conv(op), vec![1, 1, 1, 1], 8, &[&x]).unwrap_err();
    assert!(
        matches!(err, RuntimeError::AccumulatorOverflow { node: 1, index: 0, acc } if acc == 4096 * 32767 * 32767),
        "{err}"
    );
}

#[test]
fn accumulator_just_below_the_bound_is_accepted() {
    // acc = bias + x . w = 2^40 - 1 exactly.
    let x = tensor(vec![1, 2], vec![-(1 << 15), -(1 << 15)]);
    let w2 = tensor(vec![1, 2], vec![-(1 << 24) + 1, -(1 << 24)]);
    // acc = 2^15 * (2^24 - 1) + 2^15 * 2^24 = 2^40 - 2^15.
    let op = Gemm {
        weight: w2,
        bias: vec![(1 << 15) - 1],
        requant: Requant {
            multipliers: vec![1],
            shifts: vec![40],
            clamp: None,
        },
    };
    let y = run_single(QOp::Gemm(op.clone()), vec![1, 1], 8, &[&x]).unwrap();
    assert_eq!(y.data, vec![1]);
    let over = Gemm {
        bias: vec![1 << 15],
        ..op
    };
    assert!(matches!(
        run_single(QOp::Gemm(over), vec![1, 1], 8, &[&x]),
        Err(RuntimeError::AccumulatorOverflow { .. })
    ));
}

#[test]
fn huge_inputs_use_wide_accumulators_and_never_wrap() {
    // |x| = 2^31 - 1 and |w| = 2^31 - 1 over 8 taps: partial sums exceed i64, must be exact.
    let x = tensor(vec![1, 8], vec![i32::MAX; 8]);
    let op = Gemm {
        weight: tensor(
            vec![1, 8],
            vec![
                i32::MAX,
                -i32::MAX,
                i32::MAX,
                -i32::MAX,
                i32::MAX,
                -i32::MAX,
                i32::MAX,
                -i32::MAX,
            ],
        ),
        bias: vec![5],
        requant: Requant {
            multipliers: vec![1],
            shifts: vec![0],
            clamp: None,
        },
    };
    assert_eq!(
        run_single(QOp::Gemm(op), vec![1, 1], 8, &[&x])
            .unwrap()
            .data,
        vec![5]
    );
}
