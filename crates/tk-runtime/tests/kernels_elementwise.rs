//! Add, Mul, Rescale, Clip, Lut and Softmax kernels against the spec formulas.
// The naive formulas read best with explicit indices.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{node, range, ravel, requant, round_shift, tensor, unravel, values};
use proptest::prelude::*;
use tk_quant::QTensor;
use tk_quant::ops::{Add, Clip, Lut, Mul, QOp, Requant, Rescale, Softmax};
use tk_runtime::{RuntimeError, execute_node};

fn run(op: QOp, shape: Vec<usize>, bits: u8, inputs: &[&QTensor]) -> Result<QTensor, RuntimeError> {
    execute_node(
        &node(inputs.len(), op, (0..inputs.len()).collect(), shape, bits),
        inputs,
    )
}

/// An output shape and two shapes that broadcast to it (numpy rules).
fn broadcast_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    proptest::collection::vec(1usize..=3, 0..=3).prop_flat_map(|out| {
        let rank = out.len();
        let input = move |out: Vec<usize>| {
            (0..=rank, proptest::collection::vec(any::<bool>(), rank)).prop_map(
                move |(drop, ones)| {
                    out[drop..]
                        .iter()
                        .zip(&ones[drop..])
                        .map(|(&d, &one)| if one { 1 } else { d })
                        .collect::<Vec<_>>()
                },
            )
        };
        (Just(out.clone()), input(out.clone()), input(out))
    })
}

/// Element of `t` read at output multi-index `idx` under broadcasting.
fn at(t: &QTensor, idx: &[usize]) -> i128 {
    let lead = idx.len() - t.shape.len();
    let local: Vec<usize> = t
        .shape
        .iter()
        .enumerate()
        .map(|(k, &d)| if d == 1 { 0 } else { idx[lead + k] })
        .collect();
    i128::from(t.data[ravel(&local, &t.shape)])
}

fn with_values(shape: Vec<usize>, lo: i32, hi: i32) -> impl Strategy<Value = QTensor> {
    let len = shape.iter().product();
    values(len, lo, hi).prop_map(move |d| tensor(shape.clone(), d))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn add_matches_spec(
        (a, b) in broadcast_shapes().prop_flat_map(|(_, a, b)| (with_values(a, -32768, 32767), with_values(b, -32768, 32767))),
        // |a|, |b| <= 2^15, so |a * ma + b * mb| < 2^40 as the quantizer guarantees.
        ma in -(1i32 << 24) + 1..(1i32 << 24),
        mb in -(1i32 << 24) + 1..(1i32 << 24),
        shift in common::shift(),
        bits in 2u8..=16,
        clamp in common::clamp_choice(),
    ) {
        let clamp = common::clamp_in(clamp, bits);
        let out: Vec<usize> = {
            let rank = a.shape.len().max(b.shape.len());
            (0..rank).map(|k| {
                let da = if k + a.shape.len() >= rank { a.shape[k + a.shape.len() - rank] } else { 1 };
                let db = if k + b.shape.len() >= rank { b.shape[k + b.shape.len() - rank] } else { 1 };
                da.max(db)
            }).collect()
        };
        let (lo, hi) = clamp.map_or(range(bits), |[l, h]| (l, h));
        let expected: Vec<i32> = (0..out.iter().product()).map(|i| {
            let idx = unravel(i, &out);
            let v = at(&a, &idx) * i128::from(ma) + at(&b, &idx) * i128::from(mb);
            round_shift(v, u32::from(shift)).clamp(i128::from(lo), i128::from(hi)) as i32
        }).collect();
        let got = run(QOp::Add(Add { ma, mb, shift, clamp }), out, bits, &[&a, &b]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn mul_matches_spec(
        (a, b) in broadcast_shapes().prop_flat_map(|(_, a, b)| (with_values(a, -32768, 32767), with_values(b, -128, 127))),
        m in common::multiplier(),
        shift in common::shift(),
        bits in 2u8..=16,
    ) {
        let rank = a.shape.len().max(b.shape.len());
        let dim = |t: &QTensor, k: usize| if k + t.shape.len() >= rank { t.shape[k + t.shape.len() - rank] } else { 1 };
        let out: Vec<usize> = (0..rank).map(|k| dim(&a, k).max(dim(&b, k))).collect();
        let (lo, hi) = range(bits);
        let expected: Vec<i32> = (0..out.iter().product()).map(|i| {
            let idx = unravel(i, &out);
            requant(at(&a, &idx) * at(&b, &idx), i64::from(m), u32::from(shift), lo, hi)
        }).collect();
        let got = run(QOp::Mul(Mul { m, shift }), out, bits, &[&a, &b]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn rescale_matches_spec(
        x in proptest::collection::vec(1usize..=4, 2..=4).prop_flat_map(|s| with_values(s, -32768, 32767)),
        per_channel in any::<bool>(),
        params in proptest::collection::vec((common::multiplier(), 20u8..=36), 4),
        bits in 2u8..=16,
        clamp in common::clamp_choice(),
    ) {
        let channels = x.shape[1];
        let pairs = if per_channel { channels } else { 1 };
        let requant_params = Requant {
            multipliers: params[..pairs].iter().map(|p| p.0).collect(),
            shifts: params[..pairs].iter().map(|p| p.1).collect(),
            clamp: common::clamp_in(clamp, bits),
        };
        let (lo, hi) = requant_params.clamp.map_or(range(bits), |[l, h]| (l, h));
        let expected: Vec<i32> = x.data.iter().enumerate().map(|(i, &v)| {
            let (m, s) = requant_params.for_channel(unravel(i, &x.shape)[1]);
            requant(i128::from(v), i64::from(m), u32::from(s), lo, hi)
        }).collect();
        let got = run(QOp::Rescale(Rescale { requant: requant_params }), x.shape.clone(), bits, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn clip_matches_spec(x in with_values(vec![17], -128, 127), a in -128i32..=127, b in -128i32..=127) {
        let (lo, hi) = (a.min(b), a.max(b));
        let expected: Vec<i32> = x.data.iter().map(|&v| v.max(lo).min(hi)).collect();
        let got = run(QOp::Clip(Clip { lo, hi }), vec![17], 8, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn lut_matches_spec(
        (bits_in, x, table) in (2u8..=8).prop_flat_map(|b| {
            let (lo, hi) = range(b);
            (Just(b), with_values(vec![2, 9], lo, hi), values(1 << b, -128, 127))
        }),
    ) {
        let in_lo = range(bits_in).0;
        let expected: Vec<i32> = x.data.iter().map(|&v| table[(v - in_lo) as usize]).collect();
        let op = QOp::Lut(Lut { function: "Test".into(), in_lo, table });
        let got = run(op, vec![2, 9], 8, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }

    #[test]
    fn softmax_matches_spec(
        x in proptest::collection::vec(1usize..=4, 1..=3).prop_flat_map(|s| with_values(s, -128, 127)),
        axis_pick in any::<usize>(),
        e in 8u32..=16,
        decay in proptest::collection::vec(0i32..=3000, 1..=40),
        frac_bits in 0u8..=14,
        bits in 2u8..=16,
    ) {
        let axis = axis_pick % x.shape.len();
        // A non-increasing table starting at 2^E.
        let mut exp_table = vec![1i32 << e];
        for d in decay {
            let last = *exp_table.last().unwrap();
            exp_table.push((last - d).max(0));
        }
        let (_, hi) = range(bits);
        let mut expected = vec![0i32; x.data.len()];
        for i in 0..x.data.len() {
            let idx = unravel(i, &x.shape);
            let row: Vec<usize> = (0..x.shape[axis]).map(|j| { let mut k = idx.clone(); k[axis] = j; ravel(&k, &x.shape) }).collect();
            let max = row.iter().map(|&r| x.data[r]).max().unwrap();
            let exp_of = |v: i32| i128::from(exp_table[((max - v) as usize).min(exp_table.len() - 1)]);
            let sum: i128 = row.iter().map(|&r| exp_of(x.data[r])).sum();
            let v = exp_of(x.data[i]) * (1i128 << frac_bits);
            // div_round(v, S) = floor((2v + S) / 2S)
            expected[i] = (2 * v + sum).div_euclid(2 * sum).min(i128::from(hi)) as i32;
        }
        let op = QOp::Softmax(Softmax { axis, exp_table, frac_bits });
        let got = run(op, x.shape.clone(), bits, &[&x]).unwrap();
        prop_assert_eq!(got.data, expected);
    }
}

#[test]
fn add_at_range_limits_and_negative_ties() {
    let a = tensor(vec![4], vec![-32768, 32767, -3, -1]);
    let b = tensor(vec![], vec![0]);
    // shift 1, ma 1: -3/2 = -1.5 rounds to -1, -1/2 = -0.5 rounds to 0.
    let y = run(
        QOp::Add(Add {
            ma: 1,
            mb: 1,
            shift: 1,
            clamp: None,
        }),
        vec![4],
        16,
        &[&a, &b],
    )
    .unwrap();
    assert_eq!(y.data, vec![-16384, 16384, -1, 0]);
    // Large multipliers clamp to [lo, hi].
    let m = (1 << 24) - 1;
    let y = run(
        QOp::Add(Add {
            ma: m,
            mb: -m,
            shift: 0,
            clamp: None,
        }),
        vec![4],
        8,
        &[&a, &b],
    )
    .unwrap();
    assert_eq!(y.data, vec![-128, 127, -128, -128]);
    // The sum is an accumulator: 2^40 in magnitude is an error.
    let big = tensor(vec![2], vec![-32768, 32767]);
    let err = run(
        QOp::Add(Add {
            ma: i32::MAX,
            mb: 0,
            shift: 0,
            clamp: None,
        }),
        vec![2],
        8,
        &[&big, &b],
    )
    .unwrap_err();
    assert!(
        matches!(err, RuntimeError::AccumulatorOverflow { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn invalid_parameters_are_errors_not_panics() {
    let x = tensor(vec![1, 2], vec![1, 2]);
    let cases = [
        QOp::Add(Add {
            ma: i32::MIN,
            mb: 1,
            shift: 0,
            clamp: None,
        }),
        QOp::Mul(Mul { m: 0, shift: 0 }),
        QOp::Mul(Mul { m: 1, shift: 63 }),
        QOp::Rescale(Rescale {
            requant: Requant {
                multipliers: vec![1, 2, 3],
                shifts: vec![0, 0, 0],
                clamp: None,
            },
        }),
        QOp::Rescale(Rescale {
            requant: Requant {
                multipliers: vec![1],
                shifts: vec![],
                clamp: None,
            },
        }),
        QOp::Clip(Clip { lo: 5, hi: 4 }),
        QOp::Lut(Lut {
            function: "x".into(),
            in_lo: 0,
            table: vec![0; 4],
        }),
        QOp::Lut(Lut {
            function: "x".into(),
            in_lo: -1,
            table: vec![0; 3],
        }),
        QOp::Softmax(Softmax {
            axis: 1,
            exp_table: vec![],
            frac_bits: 8,
        }),
        QOp::Softmax(Softmax {
            axis: 7,
            exp_table: vec![1],
            frac_bits: 8,
        }),
    ];
    for op in cases {
        let inputs: Vec<&QTensor> = if matches!(op, QOp::Add(_) | QOp::Mul(_)) {
            vec![&x, &x]
        } else {
            vec![&x]
        };
        assert!(
            run(op.clone(), vec![1, 2], 8, &inputs).is_err(),
            "{op:?} accepted"
        );
    }
    // A Lut input outside the table's domain.
    let lut = QOp::Lut(Lut {
        function: "x".into(),
        in_lo: -1,
        table: vec![0, 0],
    });
    let err = run(lut, vec![1, 2], 8, &[&x]).unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::InputOutOfRange {
                index: 0,
                value: 1,
                ..
            }
        ),
        "{err}"
    );
    // A wrong declared shape, a bad bit width and a malformed tensor.
    let clip = QOp::Clip(Clip { lo: 0, hi: 1 });
    assert!(matches!(
        run(clip.clone(), vec![2], 8, &[&x]),
        Err(RuntimeError::OutputShape { .. })
    ));
    assert!(matches!(
        run(clip.clone(), vec![1, 2], 17, &[&x]),
        Err(RuntimeError::Bits { .. })
    ));
    assert!(matches!(
        run(clip.clone(), vec![1, 2], 0, &[&x]),
        Err(RuntimeError::Bits { .. })
    ));
    let bad = QTensor {
        shape: vec![3],
        data: vec![1],
    };
    assert!(matches!(
        run(clip, vec![3], 8, &[&bad]),
        Err(RuntimeError::MalformedTensor { .. })
    ));
    // An output outside the node's bits.
    let wide = tensor(vec![1], vec![300]);
    let err = run(
        QOp::Clip(Clip {
            lo: -1000,
            hi: 1000,
        }),
        vec![1],
        8,
        &[&wide],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::OutOfRange {
                value: 300,
                lo: -128,
                hi: 127,
                ..
            }
        ),
        "{err}"
    );
}
