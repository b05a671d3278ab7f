//! Segmented proving: channel splitting is exact, cuts respect the budget, the segment
//! proofs chain from the model input to the model output, and tampering with a boundary
//! tensor, reordering or dropping a segment makes verification fail.

mod common;

use std::collections::BTreeMap;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::CircuitError;
use tk_circuit::keys::ModelVk;
use tk_circuit::prelude::*;
use tk_circuit::proof_file::{Commitment, ProofFile};
use tk_circuit::segment::{SegmentOptions, SegmentPublic, Segmentation, split};
use tk_quant::ops::{Add, AvgPool, Clip, Conv, Gemm, MaxPool, PoolGeometry, QOp, Requant, Reshape};
use tk_quant::{QModel, QTensor};

fn conv(c_in: usize, c_out: usize, seed: u64) -> QOp {
    QOp::Conv(Conv {
        strides: [1, 1],
        pads: [1; 4],
        dilations: [1, 1],
        group: 1,
        weight: tensor(
            &[c_out, c_in, 3, 3],
            values(c_out * c_in * 9, -90, 90, seed),
        ),
        bias: values(c_out, -2000, 2000, seed + 1),
        requant: Requant {
            multipliers: values(c_out, 1_100_000_000, 2_000_000_000, seed + 2),
            shifts: vec![38; c_out],
            clamp: None,
        },
    })
}

fn relu() -> QOp {
    QOp::Clip(Clip { lo: 0, hi: 127 })
}

/// A small residual network: conv -> relu -> max_pool -> conv -> relu -> conv -> add(skip)
/// -> relu -> global avg_pool -> flatten -> gemm.
fn resnet_like() -> QModel {
    let mut b = Builder::default();
    let x = b.input(&[1, 4, 8, 8], 8);
    let c1 = b.op("conv1", conv(4, 8, 10), &[x], &[1, 8, 8, 8], 8);
    let r1 = b.op("relu1", relu(), &[c1], &[1, 8, 8, 8], 8);
    let p = b.op(
        "pool",
        QOp::MaxPool(MaxPool {
            geometry: PoolGeometry {
                kernel: [2, 2],
                strides: [2, 2],
                pads: [0; 4],
            },
        }),
        &[r1],
        &[1, 8, 4, 4],
        8,
    );
    let c2 = b.op("conv2", conv(8, 8, 20), &[p], &[1, 8, 4, 4], 8);
    let r2 = b.op("relu2", relu(), &[c2], &[1, 8, 4, 4], 8);
    let c3 = b.op("conv3", conv(8, 8, 30), &[r2], &[1, 8, 4, 4], 8);
    let a = b.op(
        "add",
        QOp::Add(Add {
            ma: 1 << 29,
            mb: 3 << 28,
            shift: 30,
            clamp: None,
        }),
        &[c3, p],
        &[1, 8, 4, 4],
        8,
    );
    let r3 = b.op("relu3", relu(), &[a], &[1, 8, 4, 4], 8);
    let mut multipliers = vec![1; 17];
    multipliers[16] = 1 << 26;
    let g = b.op(
        "gap",
        QOp::AvgPool(AvgPool {
            geometry: PoolGeometry {
                kernel: [4, 4],
                strides: [1, 1],
                pads: [0; 4],
            },
            count_include_pad: false,
            multipliers,
            shift: 30,
        }),
        &[r3],
        &[1, 8, 1, 1],
        8,
    );
    let f = b.op("flatten", QOp::Reshape(Reshape {}), &[g], &[1, 8], 8);
    let fc = QOp::Gemm(Gemm {
        weight: tensor(&[5, 8], values(40, -90, 90, 40)),
        bias: values(5, -2000, 2000, 41),
        requant: Requant {
            multipliers: vec![1_500_000_000],
            shifts: vec![37],
            clamp: None,
        },
    });
    let y = b.op("fc", fc, &[f], &[1, 5], 8);
    b.output(y);
    b.build()
}

const DIGEST: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn input() -> Vec<QTensor> {
    vec![tensor(&[1, 4, 8, 8], values(256, -128, 127, 7))]
}

/// `k <= 10` (committed 8-bit inputs need 8-bit range limbs) and a memory estimate of at most
/// 215 MiB: 15 MiB above the fixed base, so the model is cut into 4 segments and conv1 split.
fn small_budget() -> SegmentOptions {
    SegmentOptions {
        max_k: 10,
        max_bytes: Some(215 << 20),
        ..SegmentOptions::default()
    }
}

fn plan(opts: &SegmentOptions) -> (QModel, Vec<QTensor>, Segmentation) {
    let m = resnet_like();
    let vals = execute(&m, &input());
    let seg = Segmentation::plan(&m, DIGEST, opts).expect("plan");
    (m, vals, seg)
}

fn describe(seg: &Segmentation) {
    for s in &seg.segments {
        let e = s.estimate.as_ref().unwrap();
        eprintln!(
            "[segment {}] ops {:?} k={} rows={} in={:?} out={:?}",
            s.index,
            s.ops,
            e.k,
            e.main_rows,
            s.inputs.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            s.outputs
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn split_model_computes_the_original_values() {
    let mut m = resnet_like();
    m.scales = (0..m.graph.nodes.len())
        .map(|node| tk_quant::NodeScale { node, scale: 0.05 })
        .collect();
    m.validate().unwrap();
    let mut partitions = BTreeMap::new();
    partitions.insert(1, vec![0, 3, 8]);
    partitions.insert(2, vec![0, 3, 8]);
    partitions.insert(3, vec![0, 3, 8]);
    partitions.insert(6, vec![0, 2, 4, 6, 8]);
    partitions.insert(7, vec![0, 2, 4, 6, 8]);
    assert_split_computes_the_original_values(&m, &partitions);
    // The same with a fused clamp on every split op that requantizes: each part keeps it.
    let mut fused = 0;
    for &id in partitions.keys() {
        if let Some(slot) = m.graph.nodes[id].op.fused_clamp_slot() {
            *slot = Some([-20, 50]);
            fused += 1;
        }
    }
    assert!(fused >= 2, "{fused} split ops with a fused clamp");
    m.validate().unwrap();
    assert_split_computes_the_original_values(&m, &partitions);
}

fn assert_split_computes_the_original_values(m: &QModel, partitions: &BTreeMap<usize, Vec<usize>>) {
    let vals = execute(m, &input());
    let s = split(m, partitions).unwrap();
    s.model.validate().unwrap();
    let split_vals = execute(&s.model, &input());
    for (id, v) in split_vals.iter().enumerate() {
        assert_eq!(
            Some(v),
            s.value(id, |i| vals.get(i)).as_ref(),
            "node {id} {}",
            s.model.graph.nodes[id].name
        );
    }
    let out = *s.model.graph.outputs.first().unwrap();
    assert_eq!(split_vals[out], vals[*m.graph.outputs.first().unwrap()]);
}

#[test]
fn bad_partitions_are_rejected() {
    let m = resnet_like();
    for bounds in [vec![0, 8], vec![0, 3, 9], vec![0, 5, 3, 8], vec![1, 4, 8]] {
        let p = BTreeMap::from([(1, bounds.clone())]);
        assert!(split(&m, &p).is_err(), "{bounds:?} accepted");
    }
    // Reshape cannot be split.
    assert!(split(&m, &BTreeMap::from([(10, vec![0, 4, 8])])).is_err());
}

#[test]
fn small_budget_splits_and_cuts() {
    let (_, vals, seg) = plan(&small_budget());
    describe(&seg);
    assert!(seg.segments.len() >= 2, "{} segments", seg.segments.len());
    assert!(
        !seg.partitions.is_empty(),
        "conv1 should be split at k <= 10"
    );
    for s in &seg.segments {
        assert!(s.estimate.as_ref().unwrap().k <= 10);
        let proof_inputs = seg.circuit(s.index, |i| vals.get(i)).unwrap();
        let c = &proof_inputs.circuit;
        assert!(c.k() <= 10, "segment {} has k = {}", s.index, c.k());
        assert_eq!(c.k(), seg.plan_report(s.index).unwrap().params.k);
        assert_satisfied(c);
        // Every boundary tensor is shown once: by value (model input or output) or by its
        // commitment.
        assert_eq!(
            proof_inputs.inputs.len() + proof_inputs.outputs.len() + proof_inputs.commitments.len(),
            s.inputs.len() + s.outputs.len()
        );
        assert_eq!(proof_inputs.commitments.len(), s.commit.len());
    }
}

#[test]
fn planning_is_deterministic_and_the_manifest_round_trips() {
    let (m, _, seg) = plan(&small_budget());
    let again = Segmentation::plan(&m, DIGEST, &small_budget()).unwrap();
    assert_eq!(seg.manifest(), again.manifest());
    let bytes = rmp_serde::to_vec_named(&seg.manifest()).unwrap();
    let manifest: tk_circuit::segment::SegmentManifest = rmp_serde::from_slice(&bytes).unwrap();
    let derived = Segmentation::from_manifest(&m, DIGEST, &manifest).unwrap();
    for (a, b) in derived.segments.iter().zip(&seg.segments) {
        assert_eq!(a.digest, b.digest);
    }
    // Another model, another cut, another partition: refused.
    assert!(Segmentation::from_manifest(&m, &"1".repeat(64), &manifest).is_err());
    let mut moved = manifest.clone();
    moved.segments[0].ops.1 -= 1;
    assert!(Segmentation::from_manifest(&m, DIGEST, &moved).is_err());
    let mut repartitioned = manifest.clone();
    repartitioned.partitions[0].1 = vec![0, 1, 8];
    assert!(Segmentation::from_manifest(&m, DIGEST, &repartitioned).is_err());
    let mut dropped = manifest;
    dropped.segments.pop();
    assert!(Segmentation::from_manifest(&m, DIGEST, &dropped).is_err());
}

#[test]
fn one_segment_is_the_whole_model() {
    let opts = SegmentOptions {
        count: Some(1),
        ..SegmentOptions::default()
    };
    let (m, vals, seg) = plan(&opts);
    assert_eq!(seg.segments.len(), 1);
    assert!(seg.partitions.is_empty());
    let (est, real) = (
        seg.segments[0].estimate.clone().unwrap(),
        seg.plan_report(0).unwrap(),
    );
    // The estimate sums the ops lowered one by one: an upper bound on the cost (a Clip folded
    // into its producer only saves rows in the real circuit, which the planner may spend on a
    // narrower row).
    assert!(
        est.k >= real.params.k && est.cost >= real.cost,
        "{est:?}\n{real:#?}"
    );
    let first = seg.circuit(0, |i| vals.get(i)).unwrap();
    assert_eq!(first.inputs, input());
    assert_eq!(
        first.outputs,
        vec![vals[*m.graph.outputs.first().unwrap()].clone()]
    );
}

#[test]
fn a_segment_count_is_honoured() {
    let opts = SegmentOptions {
        count: Some(3),
        ..SegmentOptions::default()
    };
    let (_, _, seg) = plan(&opts);
    describe(&seg);
    assert_eq!(seg.segments.len(), 3);
}

#[test]
fn an_impossible_budget_is_an_error() {
    // The model input alone (256 values) does not fit the public column of a 2^7 circuit.
    let opts = SegmentOptions {
        max_k: 7,
        ..SegmentOptions::default()
    };
    let err = Segmentation::plan(&resnet_like(), DIGEST, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("do not fit") || err.contains("does not fit"),
        "{err}"
    );
}

struct Proven {
    seg: Segmentation,
    vks: Vec<ModelVk>,
    params: BTreeMap<u32, Params>,
    proofs: Vec<ProofFile>,
    output: QTensor,
}

fn prove_all() -> Proven {
    let (m, vals, seg) = plan(&small_budget());
    let mut params = BTreeMap::new();
    let mut vks = Vec::new();
    let mut proofs = Vec::new();
    for s in &seg.segments {
        let tk_circuit::segment::SegmentProofInputs {
            circuit: c,
            inputs,
            outputs,
            commitments,
        } = seg.circuit(s.index, |i| vals.get(i)).unwrap();
        let p = params
            .entry(c.k())
            .or_insert_with(|| setup_params(c.k(), 5));
        let pk = keygen(p, &seg.keygen_circuit(s.index).unwrap()).unwrap();
        let proof = prove(p, &pk, &c, ChaCha20Rng::seed_from_u64(s.index as u64)).unwrap();
        vks.push(pk.vk());
        proofs.push(ProofFile {
            model_digest: s.digest.clone(),
            vk_digest: String::new(),
            k: c.k(),
            inputs,
            outputs,
            commitments,
            proof,
        });
    }
    let output = vals[*m.graph.outputs.first().unwrap()].clone();
    Proven {
        seg,
        vks,
        params,
        proofs,
        output,
    }
}

fn rejected(p: &Proven, proofs: &[ProofFile]) -> String {
    p.seg
        .verify(&p.vks, &p.params, proofs)
        .expect_err("tampered set accepted")
        .to_string()
}

/// The first cut: a segment output read by a later segment.
fn first_boundary(p: &Proven) -> (usize, usize, usize, usize) {
    for (j, s) in p.seg.segments.iter().enumerate() {
        for (b, t) in s.inputs.iter().enumerate() {
            for (i, earlier) in p.seg.segments[..j].iter().enumerate() {
                if let Some(a) = earlier.outputs.iter().position(|o| o.node == t.node) {
                    return (i, a, j, b);
                }
            }
        }
    }
    panic!("no boundary between segments");
}

fn bump(t: &mut QTensor) {
    t.data[0] = if t.data[0] == 0 { 1 } else { 0 };
}

/// Applies `f` to the digests of the boundary tensor made by segment `i` as output `a`, in
/// its producer's proof and in every proof reading it.
fn recommit_everywhere(
    p: &Proven,
    t: &mut [ProofFile],
    (i, a): (usize, usize),
    f: impl Fn(&mut Vec<Fr>) + Copy,
) {
    let split_node = p.seg.segments[i].outputs[a].node;
    recommit(&mut t[i], p.seg.segments[i].model.graph.outputs[a], f);
    for (k, s) in p.seg.segments.iter().enumerate() {
        for (pos, b) in s.inputs.iter().enumerate() {
            if b.node == split_node {
                recommit(&mut t[k], s.model.graph.inputs[pos], f);
            }
        }
    }
}

/// Replaces the commitment to node `node` of a proof file by `f` of its digests.
fn recommit(file: &mut ProofFile, node: usize, f: impl Fn(&mut Vec<Fr>)) {
    let c = file
        .commitments
        .iter_mut()
        .find(|c| c.node == node)
        .expect("a commitment to the boundary");
    let mut digests = c.fields().unwrap();
    f(&mut digests);
    *c = Commitment::new(node, &digests);
}

#[test]
fn segment_proofs_chain_and_tampering_fails() {
    let p = prove_all();
    let (inputs, outputs) = p
        .seg
        .verify(&p.vks, &p.params, &p.proofs)
        .expect("honest set verifies");
    assert_eq!(inputs, input());
    assert_eq!(outputs, vec![p.output.clone()]);

    let (i, a, j, b) = first_boundary(&p);
    eprintln!("boundary: segment {i} output {a} -> segment {j} input {b}");

    // The boundary is bound by commitments, not shown by value.
    let read = p.seg.segments[j].model.graph.inputs[b];
    let made = p.seg.segments[i].model.graph.outputs[a];
    assert!(p.seg.segments[j].commit.contains(&read));
    assert!(p.seg.segments[i].commit.contains(&made));
    assert!(p.proofs[j].commitments.iter().any(|c| c.node == read));

    // A boundary digest changed where it is read: the chain breaks.
    let mut t = p.proofs.clone();
    recommit(&mut t[j], read, |d| d[0] += Fr::one());
    let err = rejected(&p, &t);
    assert!(err.contains("differs from segment"), "{err}");

    // Changed on both sides consistently: the producing segment's proof fails.
    let mut t = p.proofs.clone();
    recommit_everywhere(&p, &mut t, (i, a), |d| d[0] += Fr::one());
    let err = rejected(&p, &t);
    assert!(err.contains("does not verify"), "{err}");

    // Both sides committing to other values (the commitment of a changed tensor): the
    // producing segment's proof fails.
    let mut t = p.proofs.clone();
    let n: usize = p.seg.segments[i].outputs[a].shape.iter().product();
    let mut values = vec![0i32; n];
    values[0] = 1;
    let forged = tk_circuit::commit::commit(&values).unwrap();
    recommit_everywhere(&p, &mut t, (i, a), |d| d.clone_from(&forged));
    let err = rejected(&p, &t);
    assert!(err.contains("does not verify"), "{err}");

    // A commitment dropped from a proof file: refused before any cryptography.
    let mut t = p.proofs.clone();
    t[j].commitments.retain(|c| c.node != read);
    let err = rejected(&p, &t);
    assert!(err.contains("missing from its proof"), "{err}");

    // The claimed model output changed: the last segment's proof fails.
    let mut t = p.proofs.clone();
    let last = t.len() - 1;
    bump(t[last].outputs.last_mut().unwrap());
    let err = rejected(&p, &t);
    assert!(err.contains("does not verify"), "{err}");

    // Two segments swapped.
    let mut t = p.proofs.clone();
    t.swap(i, j);
    let err = rejected(&p, &t);
    assert!(err.contains("is not about segment"), "{err}");

    // Swapped, with the digests relabelled to pass the bookkeeping: chain or proofs fail.
    let mut t = p.proofs.clone();
    t.swap(i, j);
    let (di, dj) = (t[i].model_digest.clone(), t[j].model_digest.clone());
    t[i].model_digest = dj;
    t[j].model_digest = di;
    assert!(p.seg.verify(&p.vks, &p.params, &t).is_err());

    // A segment dropped.
    let mut t = p.proofs.clone();
    t.remove(j);
    let err = rejected(&p, &t);
    assert!(err.contains("proofs and"), "{err}");

    // A proof of one segment presented for another with the right public values fails.
    let mut t = p.proofs.clone();
    t[j].proof = p.proofs[i].proof.clone();
    assert!(rejected(&p, &t).contains("does not verify"));

    // The chain check on its own names the broken link.
    let mut t = p.proofs.clone();
    recommit(&mut t[j], read, |d| d[0] += Fr::one());
    let publics: Vec<SegmentPublic<'_>> = t
        .iter()
        .map(|f| SegmentPublic {
            inputs: &f.inputs,
            outputs: &f.outputs,
            commitments: &f.commitments,
        })
        .collect();
    match p.seg.check_chain(&publics) {
        Err(CircuitError::InvalidPublic(msg)) => assert!(msg.contains(&format!("segment {j}"))),
        other => panic!("{other:?}"),
    }
}
