//! Op witnesses (the values each op saw and produced), their checks against the integer
//! standard, and the advice values of the chip jobs computed from them.

use tk_quant::{QModel, QNode, QTensor};

use crate::chips::dot::{DotLayout, DotWitness};
use crate::chips::lut::{LutTable, LutWitness};
use crate::chips::max_pool::MaxPoolWitness;
use crate::chips::mdot::GroupWitness;
use crate::chips::requant::{RequantParams, RequantWitness};
use crate::chips::softmax::SoftmaxWitness;
use crate::error::CircuitError;
use crate::field::{Fr, fe};
use crate::jobs::dot_layout;
use crate::jobs::{OpCircuit, OpKind, Operand};
use crate::lower::{invalid, volume};
use crate::plan::CircuitParams;

/// The values one op saw and produced (one trace record).
#[derive(Debug, Clone)]
pub struct OpWitness<'a> {
    /// The op's node in the model.
    pub node: &'a QNode,
    /// Its input tensors, in `node.inputs` order.
    pub inputs: Vec<QTensor>,
    /// Its output tensor.
    pub output: QTensor,
}

/// Integer value of an operand, given the op's inputs and dot accumulators.
fn operand_value(op: Operand, inputs: &[QTensor], accs: &[i128]) -> i64 {
    match op {
        Operand::Input { slot, index } => i64::from(inputs[slot].data[index]),
        Operand::Zero => 0,
        Operand::Acc(e) => accs[e] as i64,
    }
}

/// The integer standard's output of `op` on `inputs`, and the dot accumulators.
pub(crate) fn reference(
    op: &OpCircuit,
    inputs: &[QTensor],
    luts: &[LutTable],
) -> Result<(Vec<i64>, Vec<i128>), CircuitError> {
    let val = |o: Operand| operand_value(o, inputs, &[]);
    Ok(match &op.kind {
        OpKind::Input { .. } => (Vec::new(), Vec::new()),
        OpKind::Const { values, .. } => (values.clone(), Vec::new()),
        OpKind::Dot { dots, requant, .. } => {
            let accs: Vec<i128> = dots
                .iter()
                .map(|d| {
                    d.spec
                        .eval(&d.inputs.iter().map(|&o| val(o)).collect::<Vec<_>>())
                })
                .collect();
            let out = requant
                .iter()
                .zip(&accs)
                .map(|(r, &acc)| own(op, &r.params).eval(acc as i64, 0))
                .collect();
            (out, accs)
        }
        OpKind::Requant { items } => (
            items
                .iter()
                .map(|r| own(op, &r.params).eval(val(r.u1), val(r.u2)))
                .collect(),
            Vec::new(),
        ),
        OpKind::FoldedClip { lo, hi } => (
            inputs[0]
                .data
                .iter()
                .map(|&v| i64::from(v).clamp(*lo, *hi))
                .collect(),
            Vec::new(),
        ),
        OpKind::MaxPool { items, .. } => (
            items
                .iter()
                .map(|m| m.inputs.iter().map(|&o| val(o)).max().unwrap_or(0))
                .collect(),
            Vec::new(),
        ),
        OpKind::Lut { tag, items } => {
            let table = lut_table(luts, *tag, op.node)?;
            let out = items
                .iter()
                .map(|l| {
                    let x = val(l.input);
                    table.get(x).ok_or_else(|| CircuitError::InvalidWitness {
                        node: op.node,
                        reason: format!("lut input {x} outside the table"),
                    })
                })
                .collect::<Result<_, _>>()?;
            (out, Vec::new())
        }
        OpKind::Softmax { tag, params, rows } => {
            let table = lut_table(luts, *tag, op.node)?;
            let mut out = vec![0; rows.iter().map(|r| r.outputs.len()).sum()];
            for row in rows {
                let x: Vec<i64> = row.inputs.iter().map(|&o| val(o)).collect();
                let y = params
                    .eval(table, &x)
                    .ok_or_else(|| CircuitError::InvalidWitness {
                        node: op.node,
                        reason: format!("softmax differences of {x:?} outside the table"),
                    })?;
                for (&at, y) in row.outputs.iter().zip(y) {
                    if let Some(slot) = out.get_mut(at) {
                        *slot = y;
                    }
                }
            }
            (out, Vec::new())
        }
        OpKind::Wiring { map } => (
            map.iter()
                .map(|s| s.map_or(0, |(slot, i)| i64::from(inputs[slot].data[i])))
                .collect(),
            Vec::new(),
        ),
    })
}

/// A requant slot's parameters with the op's own clamp bounds (the slot's bounds include a
/// folded Clip's).
fn own(op: &OpCircuit, params: &RequantParams) -> RequantParams {
    match op.fold {
        Some(f) => RequantParams {
            lo: f.lo,
            hi: f.hi,
            ..*params
        },
        None => *params,
    }
}

fn lut_table(luts: &[LutTable], tag: u64, node: usize) -> Result<&LutTable, CircuitError> {
    luts.iter()
        .find(|t| t.tag == tag)
        .ok_or_else(|| invalid(node, "lut tag"))
}

/// Collects one witness per node, checking shapes against the model.
pub(crate) fn index_witnesses<'w, 'a>(
    model: &QModel,
    witnesses: &'w [OpWitness<'a>],
) -> Result<Vec<&'w OpWitness<'a>>, CircuitError> {
    let g = &model.graph;
    let mut by_node: Vec<Option<&OpWitness<'a>>> = vec![None; g.nodes.len()];
    for w in witnesses {
        let id = w.node.id;
        let slot = by_node
            .get_mut(id)
            .ok_or_else(|| CircuitError::InvalidWitness {
                node: id,
                reason: "no such node".into(),
            })?;
        if slot.replace(w).is_some() {
            return Err(CircuitError::InvalidWitness {
                node: id,
                reason: "two witnesses".into(),
            });
        }
    }
    by_node
        .into_iter()
        .enumerate()
        .map(|(id, w)| {
            let bad = |reason: String| CircuitError::InvalidWitness { node: id, reason };
            let w = w.ok_or_else(|| bad("missing".into()))?;
            let node = &g.nodes[id];
            if w.output.shape != node.shape || w.output.data.len() != volume(&node.shape) {
                return Err(bad(format!(
                    "output shape {:?}, node has {:?}",
                    w.output.shape, node.shape
                )));
            }
            if w.inputs.len() != node.inputs.len() {
                return Err(bad(format!(
                    "{} inputs, node has {}",
                    w.inputs.len(),
                    node.inputs.len()
                )));
            }
            for (t, &p) in w.inputs.iter().zip(&node.inputs) {
                if t.shape != g.nodes[p].shape || t.data.len() != volume(&t.shape) {
                    return Err(bad(format!(
                        "input shape {:?}, producer has {:?}",
                        t.shape, g.nodes[p].shape
                    )));
                }
            }
            Ok(w)
        })
        .collect()
}

pub(crate) fn check_witnesses(
    model: &QModel,
    ops: &[OpCircuit],
    luts: &[LutTable],
    wits: &[&OpWitness<'_>],
) -> Result<(), CircuitError> {
    for op in ops {
        let w = wits[op.node];
        for (slot, &p) in op.inputs.iter().enumerate() {
            if let Some(index) = w.inputs[slot]
                .data
                .iter()
                .zip(&wits[p].output.data)
                .position(|(a, b)| a != b)
            {
                return Err(CircuitError::InvalidWitness {
                    node: op.node,
                    reason: format!("input {slot} element {index} differs from node {p}'s output"),
                });
            }
        }
        let node = &model.graph.nodes[op.node];
        if let OpKind::Input { .. } = op.kind {
            if let Some(index) = w
                .output
                .data
                .iter()
                .position(|&v| v < node.lo() || v > node.hi())
            {
                return Err(CircuitError::InvalidWitness {
                    node: op.node,
                    reason: format!(
                        "input element {index} outside [{}, {}]",
                        node.lo(),
                        node.hi()
                    ),
                });
            }
            continue;
        }
        let (expected, _) = reference(op, &w.inputs, luts)?;
        for (index, (&e, &c)) in expected.iter().zip(&w.output.data).enumerate() {
            if e != i64::from(c) {
                return Err(CircuitError::WitnessMismatch {
                    node: op.node,
                    index,
                    claimed: c.into(),
                    expected: e,
                });
            }
        }
    }
    Ok(())
}

/// Computes the advice values of `op` from its witness `w`; `out` is the tensor its output
/// cells hold: `w.output`, or the folded Clip's output when the op has a [`crate::jobs::Fold`].
pub(crate) fn fill_witness(
    op: &mut OpCircuit,
    w: &OpWitness<'_>,
    out: &QTensor,
    luts: &[LutTable],
    p: &CircuitParams,
) -> Result<(), CircuitError> {
    let node = op.node;
    let fail = |reason: String| CircuitError::InvalidWitness { node, reason };
    let y = |e: usize| i64::from(out.data[e]);
    let (_, accs) = reference(op, &w.inputs, luts).unwrap_or_default();
    let val = |o: Operand| operand_value(o, &w.inputs, &accs);
    match &mut op.kind {
        OpKind::Input { witness, .. } | OpKind::Const { witness, .. } => {
            *witness = w.output.data.iter().map(|&v| fe(v.into())).collect();
        }
        OpKind::Dot {
            dots,
            requant,
            groups,
        } => {
            let shape = p.requant.ok_or_else(|| fail("no requant shape".into()))?;
            match (dot_layout(dots, groups, p).0, p.mdot) {
                (DotLayout::Grouped, Some(mdot)) => {
                    for g in groups.iter_mut() {
                        let x: Vec<i64> = g.inputs.iter().map(|&o| val(o)).collect();
                        let group = g
                            .group(dots)
                            .ok_or_else(|| fail("a dot product outside its group".into()))?;
                        g.witness = GroupWitness::compute(&group, &x, mdot);
                    }
                }
                _ => {
                    for d in dots.iter_mut() {
                        let x: Vec<i64> = d.inputs.iter().map(|&o| val(o)).collect();
                        d.witness = DotWitness::compute(&d.spec, &x, p.width);
                    }
                }
            }
            for (e, r) in requant.iter_mut().enumerate() {
                r.witness = RequantWitness::compute(
                    &r.params,
                    val(r.u1),
                    val(r.u2),
                    Some(y(e)),
                    &shape,
                    p.range_bits,
                )
                .map_err(fail)?;
            }
        }
        OpKind::Requant { items } => {
            let shape = p.requant.ok_or_else(|| fail("no requant shape".into()))?;
            for (e, r) in items.iter_mut().enumerate() {
                r.witness = RequantWitness::compute(
                    &r.params,
                    val(r.u1),
                    val(r.u2),
                    Some(y(e)),
                    &shape,
                    p.range_bits,
                )
                .map_err(fail)?;
            }
        }
        OpKind::MaxPool { window, items, .. } => {
            let shape = *p
                .max_pool
                .iter()
                .find(|s| s.window == *window)
                .ok_or_else(|| fail("no max-pool shape".into()))?;
            for (e, m) in items.iter_mut().enumerate() {
                let x: Vec<i64> = m.inputs.iter().map(|&o| val(o)).collect();
                m.witness = MaxPoolWitness::compute(&x, Some(y(e)), &shape, p.range_bits);
            }
        }
        OpKind::Lut { items, .. } => {
            for (e, l) in items.iter_mut().enumerate() {
                l.witness = LutWitness {
                    x: fe(val(l.input).into()),
                    y: fe(y(e).into()),
                };
            }
        }
        OpKind::Softmax { tag, params, rows } => {
            let shape = p.softmax.ok_or_else(|| fail("no softmax shape".into()))?;
            let table = lut_table(luts, *tag, node)?;
            for row in rows.iter_mut() {
                let x: Vec<i64> = row.inputs.iter().map(|&o| val(o)).collect();
                let ys: Vec<i64> = row.outputs.iter().map(|&e| y(e)).collect();
                row.witness =
                    SoftmaxWitness::compute(params, table, &x, Some(&ys), &shape, p.range_bits);
            }
        }
        OpKind::Wiring { .. } | OpKind::FoldedClip { .. } => {}
    }
    Ok(())
}

/// The public instance for model inputs `inputs` (in `graph.inputs` order) and outputs
/// `outputs` (in `graph.outputs` order). Fails if a shape differs from the model or an element
/// lies outside its node's range: a verifier must reject such public values.
pub fn public_instance(
    model: &QModel,
    inputs: &[QTensor],
    outputs: &[QTensor],
) -> Result<Vec<Fr>, CircuitError> {
    let g = &model.graph;
    if inputs.len() != g.inputs.len() || outputs.len() != g.outputs.len() {
        return Err(CircuitError::InvalidPublic(
            "wrong number of tensors".into(),
        ));
    }
    public_instance_with(model, &Default::default(), inputs, outputs, &[])
}

/// The public instance of a proof whose graph inputs and outputs in `commit` are bound by
/// commitments: for each graph input, then output, in order, either its digests (the next of
/// `commitments`, which must name that node) or its values (the next of `inputs`/`outputs`,
/// checked against the node's shape and range). Without commitments this is
/// [`public_instance`].
pub fn public_instance_with(
    model: &QModel,
    commit: &std::collections::BTreeSet<usize>,
    inputs: &[QTensor],
    outputs: &[QTensor],
    commitments: &[crate::proof_file::Commitment],
) -> Result<Vec<Fr>, CircuitError> {
    let g = &model.graph;
    let mut out = Vec::new();
    let (mut values_in, mut values_out) = (inputs.iter(), outputs.iter());
    let mut digests = commitments.iter();
    for (pos, &id) in g.inputs.iter().chain(&g.outputs).enumerate() {
        let node = g
            .nodes
            .get(id)
            .ok_or_else(|| CircuitError::InvalidPublic(format!("no node {id}")))?;
        if commit.contains(&id) {
            let c = digests.next().filter(|c| c.node == id).ok_or_else(|| {
                CircuitError::InvalidPublic(format!("no commitment for node {id}"))
            })?;
            let fields = c.fields()?;
            if fields.len() != crate::commit::digest_count(volume(&node.shape)) {
                return Err(CircuitError::InvalidPublic(format!(
                    "node {id}: {} digests, expected {}",
                    fields.len(),
                    crate::commit::digest_count(volume(&node.shape))
                )));
            }
            out.extend(fields);
            continue;
        }
        let next = if pos < g.inputs.len() {
            values_in.next()
        } else {
            values_out.next()
        };
        let t =
            next.ok_or_else(|| CircuitError::InvalidPublic("wrong number of tensors".into()))?;
        if t.shape != node.shape || t.data.len() != volume(&node.shape) {
            return Err(CircuitError::InvalidPublic(format!(
                "node {id}: shape {:?}, expected {:?}",
                t.shape, node.shape
            )));
        }
        if let Some(v) = t.data.iter().find(|&&v| v < node.lo() || v > node.hi()) {
            return Err(CircuitError::InvalidPublic(format!(
                "node {id}: {v} outside its range"
            )));
        }
        out.extend(t.data.iter().map(|&v| fe(v.into())));
    }
    if values_in.next().is_some() || values_out.next().is_some() || digests.next().is_some() {
        return Err(CircuitError::InvalidPublic(
            "wrong number of tensors".into(),
        ));
    }
    Ok(out)
}
