//! Lowering: every op of a [`QModel`] becomes chip jobs (without witness values), and the
//! planner's demand. Validation of the model's parameters against the bounds the chips rely
//! on happens here, so a bad model fails before any layout.

use std::collections::{BTreeMap, BTreeSet};

use tk_quant::QModel;
use tk_quant::ops::QOp;

use crate::chips::dot::{self, DotSpec, DotWitness};
use crate::chips::lut::{LutTable, LutWitness};
use crate::chips::max_pool::{MaxPoolWitness, pool_windows};
use crate::chips::mdot::GroupWitness;
use crate::chips::requant::{MAX_T_BITS, RequantParams, RequantWitness};
use crate::chips::softmax::{self, SoftmaxParams, SoftmaxWitness};
use crate::chips::wiring::{self, WireMap};
use crate::chips::{add, avg_pool, clip, mul};
use crate::error::CircuitError;
use crate::jobs::{
    DotJob, GroupJob, LutJob, MaxPoolJob, OpCircuit, OpKind, Operand, RequantJob, SoftmaxJob,
};
use crate::plan::{CommitDemand, Demand, OpDemand, RqDemand};

pub(crate) fn invalid(node: usize, reason: impl Into<String>) -> CircuitError {
    CircuitError::InvalidModel {
        node,
        reason: reason.into(),
    }
}

pub(crate) fn volume(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The model, lowered to chip jobs without witness values.
pub(crate) struct Lowered {
    pub ops: Vec<OpCircuit>,
    pub luts: Vec<LutTable>,
    pub demand: Demand,
    /// `(node, first instance row)` of every public model output.
    pub outputs: Vec<(usize, usize)>,
    /// The committed inputs and outputs, inputs first, in graph order.
    pub commits: Vec<CommitJob>,
}

/// A graph input or output bound by its commitment ([`crate::commit`]) instead of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitJob {
    pub node: usize,
    /// Whether the circuit reads it (a graph input): its values are range-checked here.
    pub read: bool,
    /// First instance row of its digests.
    pub instance_offset: usize,
    /// Bit width of its values.
    pub bits: u32,
}

fn check_requant(node: usize, m: i64, shift: u8, signed: bool) -> Result<(), CircuitError> {
    let ok_m = if signed {
        m.unsigned_abs() < 1 << 31
    } else {
        (1..1 << 31).contains(&m)
    };
    if !ok_m || shift > 62 {
        return Err(invalid(
            node,
            format!("requant multiplier {m} or shift {shift} out of range"),
        ));
    }
    Ok(())
}

fn requant_job(
    node: usize,
    u1: Operand,
    u2: Operand,
    params: RequantParams,
    bounds: (u128, u128),
) -> Result<RequantJob, CircuitError> {
    let t_bits = params.t_bits(bounds.0, bounds.1);
    if t_bits as usize > MAX_T_BITS - 16 {
        return Err(invalid(
            node,
            format!("requantized value needs {t_bits} bits"),
        ));
    }
    Ok(RequantJob {
        u1,
        u2,
        params,
        t_bits,
        witness: RequantWitness::default(),
    })
}

/// The tag of `values` (inputs `in_lo..`) in the lut table, adding the table if no identical
/// one is there yet.
fn table_tag(luts: &mut Vec<LutTable>, in_lo: i64, values: Vec<i64>) -> u64 {
    if let Some(t) = luts.iter().find(|t| t.in_lo == in_lo && t.values == values) {
        return t.tag;
    }
    let tag = luts.len() as u64 + 1;
    luts.push(LutTable { tag, in_lo, values });
    tag
}

/// The outputs of `taps` (per output: `(input index, weight)` pairs in increasing index order,
/// and channel) grouped by `key` (outputs with equal keys read the same input patch): one group
/// per key, in order of first appearance, over the union of its outputs' inputs in increasing
/// index order. Empty when no two outputs share a key.
fn share_activations(
    taps: &[(Vec<(usize, i64)>, usize)],
    key: &dyn Fn(usize) -> usize,
) -> Vec<GroupJob> {
    let mut by_key: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for e in 0..taps.len() {
        by_key.entry(key(e)).or_default().push(e);
    }
    if by_key.values().all(|members| members.len() < 2) {
        return Vec::new();
    }
    let mut groups: Vec<Vec<usize>> = by_key.into_values().collect();
    groups.sort_unstable_by_key(|members| members[0]);
    // `stamp[i]` is 1 + the last group that took input `i`: one pass over the taps (a large
    // conv has millions), then a sort of each union only.
    let inputs = taps
        .iter()
        .flat_map(|t| t.0.iter().map(|tap| tap.0 + 1))
        .max()
        .unwrap_or(0);
    let mut stamp = vec![0usize; inputs];
    groups
        .into_iter()
        .enumerate()
        .map(|(g, outputs)| {
            let mut union = Vec::new();
            for &e in &outputs {
                for &(i, _) in &taps[e].0 {
                    if stamp[i] != g + 1 {
                        stamp[i] = g + 1;
                        union.push(i);
                    }
                }
            }
            union.sort_unstable();
            GroupJob {
                inputs: union
                    .into_iter()
                    .map(|index| Operand::Input { slot: 0, index })
                    .collect(),
                outputs,
                witness: GroupWitness::default(),
            }
        })
        .collect()
}

/// Lowers `model`; the graph inputs and outputs in `commit` are bound by commitments. With
/// `share`, outputs that read the same activations are also grouped for the multi-output
/// dot chip (a plan without a multi-output shape never reads the groups).
pub(crate) fn lower(
    model: &QModel,
    commit: &BTreeSet<usize>,
    share: bool,
) -> Result<Lowered, CircuitError> {
    let g = &model.graph;
    let mut ops = Vec::with_capacity(g.nodes.len());
    let mut luts: Vec<LutTable> = Vec::new();
    let mut demand = Demand {
        consts: 1,
        ..Demand::default()
    };
    if let Some(&id) = commit
        .iter()
        .find(|id| !g.inputs.contains(id) && !g.outputs.contains(id))
    {
        return Err(invalid(
            id,
            "only graph inputs and outputs can be committed",
        ));
    }
    // Instance rows: every graph input, then every output, by value or by its digests.
    let mut commits = Vec::new();
    let mut input_offsets = BTreeMap::new();
    let mut outputs = Vec::with_capacity(g.outputs.len());
    let boundary = g.inputs.iter().map(|&id| (id, true));
    for (id, read) in boundary.chain(g.outputs.iter().map(|&id| (id, false))) {
        let what = if read { "graph input" } else { "graph output" };
        let node = g
            .nodes
            .get(id)
            .ok_or_else(|| invalid(id, format!("{what} is not a node")))?;
        let len = volume(&node.shape);
        let offset = demand.instance_len;
        if commit.contains(&id) {
            let bits = u32::from(node.bits);
            commits.push(CommitJob {
                node: id,
                read,
                instance_offset: offset,
                bits,
            });
            demand.commits.push(CommitDemand {
                values: len,
                bits,
                read,
            });
            demand.instance_len += crate::commit::digest_count(len);
        } else {
            if read {
                input_offsets.insert(id, offset);
            } else {
                outputs.push((id, offset));
            }
            demand.instance_len += len;
        }
    }
    for (pos, node) in g.nodes.iter().enumerate() {
        let id = node.id;
        if id != pos {
            return Err(invalid(pos, format!("node id {id} at position {pos}")));
        }
        if !(2..=16).contains(&node.bits) {
            return Err(invalid(
                id,
                format!("bit width {} outside 2..=16", node.bits),
            ));
        }
        if node.inputs.iter().any(|&p| p >= id) {
            return Err(invalid(id, "an input is not an earlier node"));
        }
        let shape_of = |slot: usize| -> Result<&[usize], CircuitError> {
            let p = node
                .inputs
                .get(slot)
                .ok_or_else(|| invalid(id, "missing input"))?;
            Ok(&g.nodes[*p].shape)
        };
        let bound_of = |slot: usize| -> u128 { 1u128 << (g.nodes[node.inputs[slot]].bits - 1) };
        // The final clamp: the output range, or a fused clamp.
        tk_quant::ops::check_clamp(node.op.fused_clamp(), node).map_err(|e| invalid(id, e))?;
        let (lo, hi) = node.clamp_bounds();
        let (lo, hi) = (i64::from(lo), i64::from(hi));
        let out_len = volume(&node.shape);
        let dot_op = |taps: Vec<(Vec<(usize, i64)>, usize)>,
                      bias: &dyn Fn(usize) -> i64,
                      rq: &tk_quant::ops::Requant,
                      key: &dyn Fn(usize) -> usize|
         -> Result<(OpKind, OpDemand), CircuitError> {
            if taps.len() != out_len {
                return Err(invalid(id, "output shape does not match the op"));
            }
            let groups = if share {
                share_activations(&taps, key)
            } else {
                Vec::new()
            };
            let mut dots = Vec::with_capacity(taps.len());
            let mut requant = Vec::with_capacity(taps.len());
            for (e, (taps, ch)) in taps.into_iter().enumerate() {
                let spec = DotSpec {
                    weights: taps.iter().map(|t| t.1).collect(),
                    bias: bias(ch),
                };
                if rq.multipliers.len() != 1 && ch >= rq.multipliers.len()
                    || rq.multipliers.len() != rq.shifts.len()
                {
                    return Err(invalid(id, "requant parameters do not cover every channel"));
                }
                let (m, s) = rq.for_channel(ch);
                check_requant(id, m.into(), s, false)?;
                let params = RequantParams {
                    m1: m.into(),
                    m2: 0,
                    m3: 0,
                    shift: s,
                    lo,
                    hi,
                };
                let b = spec.bound(bound_of(0));
                requant.push(requant_job(
                    id,
                    Operand::Acc(e),
                    Operand::Zero,
                    params,
                    (b, 0),
                )?);
                dots.push(DotJob {
                    inputs: taps
                        .iter()
                        .map(|t| Operand::Input {
                            slot: 0,
                            index: t.0,
                        })
                        .collect(),
                    spec,
                    witness: DotWitness::default(),
                });
            }
            let d = OpDemand::Dot {
                lens: dots.iter().map(|d| d.spec.weights.len()).collect(),
                requant: requant.iter().map(rq_demand).collect(),
                groups: groups
                    .iter()
                    .map(|g| (g.inputs.len(), g.outputs.len()))
                    .collect(),
            };
            Ok((
                OpKind::Dot {
                    dots,
                    requant,
                    groups,
                },
                d,
            ))
        };
        let elementwise = |params: &dyn Fn(usize) -> Result<RequantParams, CircuitError>,
                           binary: bool|
         -> Result<(OpKind, OpDemand), CircuitError> {
            let mut items = Vec::with_capacity(out_len);
            let a_shape = shape_of(0)?;
            let b_shape = if binary { shape_of(1)? } else { &[] };
            if !wiring::broadcasts_to(a_shape, &node.shape)
                || binary && !wiring::broadcasts_to(b_shape, &node.shape)
            {
                return Err(invalid(id, "inputs do not broadcast to the output shape"));
            }
            for e in 0..out_len {
                let u1 = Operand::Input {
                    slot: 0,
                    index: wiring::broadcast_index(e, &node.shape, a_shape),
                };
                let (u2, b2) = if binary {
                    let index = wiring::broadcast_index(e, &node.shape, b_shape);
                    (Operand::Input { slot: 1, index }, bound_of(1))
                } else {
                    (Operand::Zero, 0)
                };
                items.push(requant_job(id, u1, u2, params(e)?, (bound_of(0), b2))?);
            }
            let d = OpDemand::Requant(items.iter().map(rq_demand).collect());
            Ok((OpKind::Requant { items }, d))
        };
        let wire = |map: Result<WireMap, String>| -> Result<(OpKind, OpDemand), CircuitError> {
            let map = map.map_err(|e| invalid(id, e))?;
            if map.len() != out_len {
                return Err(invalid(id, "wiring output does not match the node's shape"));
            }
            Ok((OpKind::Wiring { map }, OpDemand::None))
        };
        let (kind, d) = match &node.op {
            QOp::Input(_) => {
                if !g.inputs.contains(&id) {
                    return Err(invalid(id, "input node is not a graph input"));
                }
                // A committed input has no instance rows of its own.
                let instance_offset = input_offsets.get(&id).copied();
                demand.inputs += out_len;
                (
                    OpKind::Input {
                        instance_offset,
                        witness: Vec::new(),
                    },
                    OpDemand::None,
                )
            }
            QOp::Const(c) => {
                if c.value.data.len() != out_len {
                    return Err(invalid(id, "constant does not match the node's shape"));
                }
                if c.value.data.iter().any(|&v| v < node.lo() || v > node.hi()) {
                    return Err(invalid(id, "constant outside the node's range"));
                }
                demand.consts += out_len;
                let values = c.value.data.iter().map(|&v| i64::from(v)).collect();
                (
                    OpKind::Const {
                        values,
                        witness: Vec::new(),
                    },
                    OpDemand::None,
                )
            }
            QOp::Conv(op) => {
                let x = shape_of(0)?;
                let w = &op.weight.shape;
                if x.len() != 4 || w.len() != 4 || node.shape.len() != 4 || op.group == 0 {
                    return Err(invalid(id, "conv needs rank-4 input, weight and output"));
                }
                if w[0] != node.shape[1]
                    || x[1] != w[1] * op.group
                    || w[0] % op.group != 0
                    || op.bias.len() != w[0]
                    || x[0] != node.shape[0]
                    || volume(w) != op.weight.data.len()
                {
                    return Err(invalid(id, "conv shapes do not agree"));
                }
                // Outputs at one position of one image and conv group share their patch.
                let positions = node.shape[2] * node.shape[3];
                let per_group = (w[0] / op.group).max(1);
                let channels = node.shape[1];
                dot_op(
                    dot::conv_taps(x, &node.shape, op),
                    &|c| op.bias[c].into(),
                    &op.requant,
                    &|e| {
                        let (image, rest) =
                            (e / (channels * positions), e % (channels * positions));
                        let (channel, position) = (rest / positions, rest % positions);
                        (image * op.group + channel / per_group) * positions + position
                    },
                )?
            }
            QOp::Gemm(op) => {
                let x = shape_of(0)?;
                let w = &op.weight.shape;
                if x.len() != 2
                    || w.len() != 2
                    || w[1] != x[1]
                    || node.shape != [x[0], w[0]]
                    || op.bias.len() != w[0]
                    || volume(w) != op.weight.data.len()
                {
                    return Err(invalid(id, "gemm shapes do not agree"));
                }
                // The outputs of one row share it.
                let columns = w[0].max(1);
                dot_op(
                    dot::gemm_taps(x, op),
                    &|c| op.bias[c].into(),
                    &op.requant,
                    &|e| e / columns,
                )?
            }
            QOp::AvgPool(op) => {
                let x = shape_of(0)?;
                if x.len() != 4 || node.shape.len() != 4 || x[..2] != node.shape[..2] {
                    return Err(invalid(
                        id,
                        "avg_pool needs matching rank-4 input and output",
                    ));
                }
                let lowered = avg_pool::lower(x, &node.shape, op, lo, hi)
                    .ok_or_else(|| invalid(id, "no multiplier for a window count"))?;
                let mut dots = Vec::new();
                let mut requant = Vec::new();
                for (e, (spec, window, params)) in lowered.into_iter().enumerate() {
                    check_requant(id, params.m1, params.shift, false)?;
                    let b = spec.bound(bound_of(0));
                    requant.push(requant_job(
                        id,
                        Operand::Acc(e),
                        Operand::Zero,
                        params,
                        (b, 0),
                    )?);
                    let inputs = window
                        .iter()
                        .map(|&i| Operand::Input { slot: 0, index: i })
                        .collect();
                    dots.push(DotJob {
                        inputs,
                        spec,
                        witness: DotWitness::default(),
                    });
                }
                let d = OpDemand::Dot {
                    lens: dots.iter().map(|d| d.spec.weights.len()).collect(),
                    requant: requant.iter().map(rq_demand).collect(),
                    groups: Vec::new(),
                };
                (
                    OpKind::Dot {
                        dots,
                        requant,
                        groups: Vec::new(),
                    },
                    d,
                )
            }
            QOp::Add(op) => {
                check_requant(id, op.ma.into(), op.shift, true)?;
                check_requant(id, op.mb.into(), op.shift, true)?;
                elementwise(&|_| Ok(add::params(op, lo, hi)), true)?
            }
            QOp::Mul(op) => {
                check_requant(id, op.m.into(), op.shift, false)?;
                elementwise(&|_| Ok(mul::params(op, lo, hi)), true)?
            }
            QOp::Rescale(op) => {
                let rq = &op.requant;
                let channels = if node.shape.len() >= 2 {
                    node.shape[1]
                } else {
                    1
                };
                if rq.multipliers.len() != rq.shifts.len()
                    || rq.multipliers.len() != 1 && rq.multipliers.len() != channels
                    || shape_of(0)? != node.shape.as_slice()
                {
                    return Err(invalid(id, "rescale parameters do not match the shape"));
                }
                let inner: usize = node.shape.iter().skip(2).product();
                elementwise(
                    &|e| {
                        let c = if node.shape.len() >= 2 {
                            e / inner % channels
                        } else {
                            0
                        };
                        let (m, s) = rq.for_channel(c);
                        check_requant(id, m.into(), s, false)?;
                        Ok(RequantParams {
                            m1: m.into(),
                            m2: 0,
                            m3: 0,
                            shift: s,
                            lo,
                            hi,
                        })
                    },
                    false,
                )?
            }
            QOp::Clip(op) => {
                if op.lo > op.hi || shape_of(0)? != node.shape.as_slice() {
                    return Err(invalid(id, "clip bounds or shape invalid"));
                }
                elementwise(&|_| Ok(clip::params(op)), false)?
            }
            QOp::Lut(op) => {
                let bits = g.nodes[*node
                    .inputs
                    .first()
                    .ok_or_else(|| invalid(id, "missing input"))?]
                .bits;
                if op.table.len() != 1 << bits || shape_of(0)? != node.shape.as_slice() {
                    return Err(invalid(id, "lut table does not cover the input range"));
                }
                if op.table.iter().any(|&v| v < node.lo() || v > node.hi()) {
                    return Err(invalid(id, "lut entry outside the output range"));
                }
                let values = op.table.iter().map(|&v| i64::from(v)).collect();
                let tag = table_tag(&mut luts, op.in_lo.into(), values);
                let items = (0..out_len)
                    .map(|e| LutJob {
                        input: Operand::Input { slot: 0, index: e },
                        witness: LutWitness::default(),
                    })
                    .collect();
                (OpKind::Lut { tag, items }, OpDemand::Lut { count: out_len })
            }
            QOp::MaxPool(op) => {
                let x = shape_of(0)?;
                if x.len() != 4 || node.shape.len() != 4 || x[..2] != node.shape[..2] {
                    return Err(invalid(
                        id,
                        "max_pool needs matching rank-4 input and output",
                    ));
                }
                let window = op.geometry.kernel[0] * op.geometry.kernel[1];
                let input_bits = u32::from(g.nodes[node.inputs[0]].bits);
                let mut items = Vec::with_capacity(out_len);
                for w in pool_windows(x, &node.shape, &op.geometry) {
                    let first = *w
                        .first()
                        .ok_or_else(|| invalid(id, "a window lies in the padding"))?;
                    let mut inputs: Vec<Operand> = w
                        .iter()
                        .map(|&i| Operand::Input { slot: 0, index: i })
                        .collect();
                    inputs.resize(
                        window,
                        Operand::Input {
                            slot: 0,
                            index: first,
                        },
                    );
                    items.push(MaxPoolJob {
                        inputs,
                        witness: MaxPoolWitness::default(),
                    });
                }
                let d = OpDemand::MaxPool {
                    window,
                    input_bits,
                    count: items.len(),
                };
                (
                    OpKind::MaxPool {
                        window,
                        input_bits,
                        items,
                    },
                    d,
                )
            }
            QOp::Softmax(op) => {
                let x = shape_of(0)?;
                if x != node.shape.as_slice() || op.axis >= x.len() {
                    return Err(invalid(id, "softmax axis or shape invalid"));
                }
                let table = &op.exp_table;
                if table.first().is_none_or(|&e| e < 1)
                    || table
                        .iter()
                        .any(|&e| e < 0 || i64::from(e) > softmax::MAX_EXP)
                    || op.frac_bits > softmax::MAX_FRAC_BITS
                {
                    return Err(invalid(
                        id,
                        "softmax table entries must lie in [0, 2^30] with exp[0] >= 1, F <= 30",
                    ));
                }
                let in_bits = g.nodes[node.inputs[0]].bits;
                let padded = softmax::padded_table(table, in_bits);
                let len = x[op.axis];
                let max_exp = padded.iter().copied().max().unwrap_or(1);
                let params = SoftmaxParams::new(op.frac_bits, hi, len, max_exp);
                if params.r_bits > softmax::MAX_R_BITS {
                    return Err(invalid(
                        id,
                        format!("softmax rows of {len} elements are too long"),
                    ));
                }
                let tag = table_tag(&mut luts, 0, padded);
                let inner: usize = x[op.axis + 1..].iter().product();
                let outer: usize = x[..op.axis].iter().product();
                let mut rows = Vec::with_capacity(outer * inner);
                for o in 0..outer {
                    for i in 0..inner {
                        let outputs: Vec<usize> =
                            (0..len).map(|j| (o * len + j) * inner + i).collect();
                        if outputs.is_empty() {
                            continue;
                        }
                        rows.push(SoftmaxJob {
                            inputs: outputs
                                .iter()
                                .map(|&index| Operand::Input { slot: 0, index })
                                .collect(),
                            outputs,
                            witness: SoftmaxWitness::default(),
                        });
                    }
                }
                let d = OpDemand::Softmax {
                    count: rows.iter().map(|r| r.outputs.len()).sum(),
                    y_bits: params.y_bits,
                    t_bits: params.t_bits,
                    r_bits: params.r_bits,
                };
                (OpKind::Softmax { tag, params, rows }, d)
            }
            QOp::Concat(op) => {
                let shapes: Vec<Vec<usize>> = node
                    .inputs
                    .iter()
                    .map(|&p| g.nodes[p].shape.clone())
                    .collect();
                wire(wiring::concat(&shapes, op.axis, &node.shape))?
            }
            QOp::Reshape(_) => wire(wiring::reshape(shape_of(0)?, &node.shape))?,
            QOp::Transpose(op) => {
                let x = shape_of(0)?;
                let out: Vec<usize> = op
                    .perm
                    .iter()
                    .map(|&p| x.get(p).copied().unwrap_or(0))
                    .collect();
                if out != node.shape {
                    return Err(invalid(id, "transpose output shape mismatch"));
                }
                wire(wiring::transpose(x, &op.perm))?
            }
            QOp::Slice(op) => wire(wiring::slice(
                shape_of(0)?,
                &op.starts,
                &op.steps,
                &node.shape,
            ))?,
            QOp::Pad(op) => wire(wiring::pad(shape_of(0)?, &op.pads, &node.shape))?,
            QOp::Resize(op) => wire(wiring::resize(shape_of(0)?, &op.scales, &node.shape))?,
        };
        demand.ops.push(d);
        ops.push(OpCircuit {
            node: id,
            name: node.name.clone(),
            inputs: node.inputs.clone(),
            kind,
            fold: None,
        });
    }
    fold_clips(model, &mut ops, &mut demand);
    if !luts.is_empty() {
        demand.lut_entries = Some(luts.iter().map(|t| t.values.len()).sum());
    }
    Ok(Lowered {
        ops,
        luts,
        demand,
        outputs,
        commits,
    })
}

/// Folds every Clip whose producer ends in requant slots, has no other consumer and is not a
/// model output into those slots (see [`crate::jobs::Fold`]): it saves the Clip's slots and
/// limbs. The layout stays a function of the model alone.
fn fold_clips(model: &QModel, ops: &mut [OpCircuit], demand: &mut Demand) {
    let g = &model.graph;
    let mut uses = vec![0usize; g.nodes.len()];
    for node in &g.nodes {
        for &p in &node.inputs {
            uses[p] += 1;
        }
    }
    for &o in &g.outputs {
        uses[o] += 1;
    }
    for c in 0..ops.len() {
        let (lo2, hi2) = match &g.nodes[c].op {
            QOp::Clip(op) => (i64::from(op.lo), i64::from(op.hi)),
            _ => continue,
        };
        let p = g.nodes[c].inputs[0];
        if uses[p] != 1 || ops[p].fold.is_some() {
            continue;
        }
        let jobs = match &mut ops[p].kind {
            OpKind::Dot { requant, .. } => requant,
            OpKind::Requant { items } => items,
            _ => continue,
        };
        let Some((lo, hi)) = jobs.first().map(|j| (j.params.lo, j.params.hi)) else {
            continue;
        };
        let (lo_f, hi_f) = (lo.max(lo2), hi.min(hi2));
        if lo_f > hi_f || jobs.iter().any(|j| (j.params.lo, j.params.hi) != (lo, hi)) {
            continue;
        }
        // The clamp excess only shrinks (the new bounds lie inside the old ones), so each
        // job's `t_bits` stays a valid bound.
        for j in jobs.iter_mut() {
            j.params.lo = lo_f;
            j.params.hi = hi_f;
        }
        let rq: Vec<RqDemand> = jobs.iter().map(rq_demand).collect();
        match &mut demand.ops[p] {
            OpDemand::Dot { requant, .. } | OpDemand::Requant(requant) => *requant = rq,
            _ => {}
        }
        ops[p].fold = Some(crate::jobs::Fold { clip: c, lo, hi });
        ops[c].kind = OpKind::FoldedClip { lo: lo2, hi: hi2 };
        demand.ops[c] = OpDemand::None;
    }
}

fn rq_demand(j: &RequantJob) -> RqDemand {
    RqDemand {
        shift: j.params.shift.into(),
        interval_bits: j.params.interval_bits(),
        t_bits: j.t_bits,
        checks_upper: j.params.checks_upper(),
    }
}
