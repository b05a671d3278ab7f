//! The multi-output dot chip through Conv and Gemm: the gate (first and continuation rows),
//! the activation copies, the accumulator copies, and a real keygen/prove/verify round trip.

mod common;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::field::{Fr, fe};
use tk_circuit::prelude::*;
use tk_circuit::{GroupJob, OpKind};
use tk_quant::ops::{Gemm, QOp, Requant};

const GATE: &str = "mdot: z_g[1] = c z_g + b_g + sum a*w_g";

fn gemm_model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[2, 20], 8);
    let op = Gemm {
        weight: tensor(&[6, 20], values(120, -127, 127, 21)),
        bias: values(6, -2000, 2000, 22),
        requant: Requant {
            multipliers: vec![1 << 30],
            shifts: vec![37],
            clamp: None,
        },
    };
    let y = b.op("gemm", QOp::Gemm(op), &[x], &[2, 6], 8);
    b.output(y);
    (b.build(), vec![tensor(&[2, 20], values(40, -128, 127, 23))])
}

fn options() -> PlanOptions {
    mdot_options()
}

fn conv_circuit() -> ModelCircuit {
    let (m, x) = mdot_conv_model();
    circuit_with(&m, &x, &options())
}

/// Weights and biases of group `g` of the conv.
fn built(c: &ModelCircuit, g: usize) -> tk_circuit::chips::mdot::DotGroup {
    match &c.ops()[1].kind {
        OpKind::Dot { groups, dots, .. } => groups[g].group(dots).unwrap(),
        _ => unreachable!(),
    }
}

fn group(c: &mut ModelCircuit, g: usize) -> &mut GroupJob {
    match &mut c.ops_mut()[1].kind {
        OpKind::Dot { groups, .. } => &mut groups[g],
        _ => unreachable!(),
    }
}

#[test]
fn conv_and_gemm_are_satisfied_with_grouped_rows() {
    for (m, x) in [mdot_conv_model(), gemm_model()] {
        let c = circuit_with(&m, &x, &options());
        assert_eq!(c.params().mdot, Some(MDOT_SHAPE));
        let rows = c.report().chips.iter().find(|r| r.chip == "mdot").unwrap();
        assert!(
            rows.rows > 0,
            "the op is laid out grouped: {:?}",
            c.report()
        );
        assert_satisfied(&c);
    }
}

#[test]
fn groups_share_one_patch_per_position() {
    let c = conv_circuit();
    let OpKind::Dot { groups, dots, .. } = &c.ops()[1].kind else {
        unreachable!()
    };
    // One group per output position, each with all 8 channels.
    assert_eq!(groups.len(), 25);
    assert!(groups.iter().all(|g| g.outputs.len() == 8));
    // A corner patch has 2x2 in-bounds taps per channel, the centre 3x3.
    assert_eq!(groups[0].inputs.len(), 12);
    assert_eq!(groups[12].inputs.len(), 27);
    // Every output's weights over the union reproduce its own product.
    for g in groups {
        let built = g.group(dots).expect("every product lies in its group");
        assert_eq!(built.outputs, g.outputs);
        for (m, &e) in g.outputs.iter().enumerate() {
            let nonzero: Vec<i64> = built.weights[m]
                .iter()
                .copied()
                .filter(|&w| w != 0)
                .collect();
            assert_eq!(nonzero, dots[e].spec.weights);
            assert_eq!(built.biases[m], dots[e].spec.bias);
        }
    }
}

#[test]
fn the_planner_groups_a_many_channel_conv_by_itself() {
    // 8 -> 16 channels, 3x3 stride 2 (the digits CNN's second conv): 16 outputs per patch.
    let mut b = Builder::default();
    let x = b.input(&[1, 8, 8, 8], 8);
    let op = tk_quant::ops::Conv {
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        dilations: [1, 1],
        group: 1,
        weight: tensor(&[16, 8, 3, 3], values(16 * 72, -100, 100, 31)),
        bias: values(16, -3000, 3000, 32),
        requant: Requant {
            multipliers: vec![1_200_000_000],
            shifts: vec![40],
            clamp: None,
        },
    };
    let y = b.op("conv", QOp::Conv(op), &[x], &[1, 16, 4, 4], 8);
    b.output(y);
    let m = b.build();
    let x = vec![tensor(&[1, 8, 8, 8], values(512, -128, 127, 33))];
    let c = circuit(&m, &x);
    let off = circuit_with(
        &m,
        &x,
        &PlanOptions {
            mdot: Some(None),
            ..Default::default()
        },
    );
    eprintln!(
        "grouped: {:?}
plain: {:?}",
        c.report(),
        off.report()
    );
    assert!(c.params().mdot.is_some());
    assert!(c.report().cost < off.report().cost);
    assert_eq!(off.params().mdot, None);
    assert_satisfied(&c);
    assert_satisfied(&off);
}

#[test]
fn a_first_row_sum_must_hold() {
    // Row 0 of chunk 0 of the centre group: its sums are read by row 1 (c = 1).
    let mut c = conv_circuit();
    group(&mut c, 12).witness.partial[0][0][1] += Fr::one();
    assert_fails_exactly(&failures(&c), &[&[GATE, "conv: dot"]]);
}

#[test]
fn a_continuation_row_sum_must_hold() {
    // The last row's sums are the accumulators, which the requant slots copy.
    let mut c = conv_circuit();
    group(&mut c, 12).witness.partial[1][2][3] += Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[&[GATE, "conv: dot"], &["Equality constraint"]],
    );
}

#[test]
fn a_middle_row_sum_must_hold() {
    // Row 1 of chunk 0 writes the sums row 2 reads.
    let mut c = conv_circuit();
    group(&mut c, 12).witness.partial[0][1][0] -= fe(1 << 20);
    assert_fails_exactly(&failures(&c), &[&[GATE, "conv: dot"]]);
}

#[test]
fn activations_are_copies_of_the_input() {
    // Taps (0, 0) and (0, 1) of input channel 0 have equal weights in every output, so moving
    // one unit between them keeps every sum: only the copies see it.
    let mut c = conv_circuit();
    for w in &built(&c, 12).weights {
        assert_eq!(w[0], w[1]);
    }
    let g = group(&mut c, 12);
    g.witness.activations[0] += Fr::one();
    g.witness.activations[1] -= Fr::one();
    assert_fails_exactly(
        &failures(&c),
        &[
            &["Equality constraint", "conv: dot"],
            &["Equality constraint"],
        ],
    );
}

#[test]
fn grouped_rows_prove_and_verify() {
    let (m, x) = mdot_conv_model();
    let c = circuit_with(&m, &x, &options());
    let params = setup_params(c.k(), 1);
    let pk = keygen(&params, &c).expect("keygen");
    let proof = prove(&params, &pk, &c, ChaCha20Rng::seed_from_u64(7)).expect("prove");
    verify(&params, &pk.vk(), c.instance(), &proof).expect("verify");
    let other = instance_with_output(&c, &m, 40, 3);
    assert_ne!(other, c.instance());
    assert!(verify(&params, &pk.vk(), &other, &proof).is_err());
}
