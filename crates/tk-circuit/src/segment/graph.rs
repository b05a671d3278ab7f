//! Which nodes of a split model belong to segments, in which order, and the sub-model of a
//! segment.
//!
//! Nodes are of three kinds. Model inputs are *sources*. Constants and wiring ops (Concat,
//! Reshape, Transpose, Slice, Pad, Resize) that are not model outputs are *virtual*: they take
//! no rows, so every segment that needs one lays out its own copy, and a tensor crossing a cut
//! is always the output of a real op or a model input. Every other node is a *real op* and
//! belongs to exactly one segment. A segment is a run of consecutive real ops in the
//! schedule [`Topology::order`].

use std::collections::BTreeSet;

use tk_quant::ops::{Input, QOp};
use tk_quant::{NodeScale, QGraph, QModel, QNode};

use crate::error::CircuitError;

/// Kind of a split-model node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A model input.
    Input,
    /// A constant or wiring op, copied into every segment that needs it.
    Virtual,
    /// An op that belongs to one segment.
    Real,
}

/// Node kinds, effective producers and consumers, and the schedule of real ops.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    pub kind: Vec<Kind>,
    /// For every node: the inputs and real ops it reads, seen through virtual nodes (sorted).
    pub eff_in: Vec<Vec<usize>>,
    /// For every node: the real ops that read it through virtual nodes (sorted).
    pub consumers: Vec<Vec<usize>>,
    /// Real ops in schedule order.
    pub order: Vec<usize>,
    /// Whether a node is a model output.
    pub is_output: Vec<bool>,
}

fn is_wiring(op: &QOp) -> bool {
    matches!(
        op,
        QOp::Concat(_)
            | QOp::Reshape(_)
            | QOp::Transpose(_)
            | QOp::Slice(_)
            | QOp::Pad(_)
            | QOp::Resize(_)
    )
}

impl Topology {
    pub fn new(model: &QModel) -> Result<Topology, CircuitError> {
        let g = &model.graph;
        let n = g.nodes.len();
        let mut is_output = vec![false; n];
        for &o in &g.outputs {
            let node = g.nodes.get(o).ok_or_else(|| CircuitError::InvalidModel {
                node: o,
                reason: "graph output is not a node".into(),
            })?;
            if matches!(node.op, QOp::Input(_)) {
                return Err(CircuitError::InvalidModel {
                    node: o,
                    reason:
                        "a model input is also a model output; segmentation needs an op in between"
                            .into(),
                });
            }
            is_output[o] = true;
        }
        let kind: Vec<Kind> = g
            .nodes
            .iter()
            .map(|node| match &node.op {
                QOp::Input(_) => Kind::Input,
                op if !is_output[node.id] && (matches!(op, QOp::Const(_)) || is_wiring(op)) => {
                    Kind::Virtual
                }
                _ => Kind::Real,
            })
            .collect();
        let mut eff_in: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
        for node in &g.nodes {
            let mut set = BTreeSet::new();
            for &p in &node.inputs {
                if p >= node.id {
                    return Err(CircuitError::InvalidModel {
                        node: node.id,
                        reason: "an input is not an earlier node".into(),
                    });
                }
                match kind[p] {
                    Kind::Virtual => set.extend(eff_in[p].iter().copied()),
                    _ => {
                        set.insert(p);
                    }
                }
            }
            eff_in[node.id] = set.into_iter().collect();
            if kind[node.id] == Kind::Real {
                for &p in &eff_in[node.id] {
                    consumers[p].push(node.id);
                }
            }
        }
        let order = schedule(&kind, &eff_in, &consumers);
        Ok(Topology {
            kind,
            eff_in,
            consumers,
            order,
            is_output,
        })
    }
}

/// Orders real ops so that an op runs right after what it reads when possible (a part's
/// chain of per-channel ops stays together): among the ready ops, the one whose latest real
/// producer was scheduled last, ties broken by node id.
fn schedule(kind: &[Kind], eff_in: &[Vec<usize>], consumers: &[Vec<usize>]) -> Vec<usize> {
    let n = kind.len();
    let mut waiting: Vec<usize> = (0..n)
        .map(|i| eff_in[i].iter().filter(|&&p| kind[p] == Kind::Real).count())
        .collect();
    let mut last: Vec<i64> = vec![-1; n];
    let mut ready: BTreeSet<(i64, std::cmp::Reverse<usize>)> = (0..n)
        .filter(|&i| kind[i] == Kind::Real && waiting[i] == 0)
        .map(|i| (-1, std::cmp::Reverse(i)))
        .collect();
    let mut order = Vec::new();
    while let Some((_, std::cmp::Reverse(r))) = ready.pop_last() {
        let pos = order.len() as i64;
        order.push(r);
        for &c in &consumers[r] {
            waiting[c] -= 1;
            last[c] = pos;
            if waiting[c] == 0 {
                ready.insert((last[c], std::cmp::Reverse(c)));
            }
        }
    }
    order
}

/// The boundary of a set of real ops: what it reads from outside, what others read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Boundary {
    /// Sources read from outside (model inputs and real ops of other segments), sorted.
    pub inputs: Vec<usize>,
    /// Members read by real ops outside, or model outputs, sorted.
    pub outputs: Vec<usize>,
}

pub(crate) fn boundary(topo: &Topology, members: &BTreeSet<usize>) -> Boundary {
    let mut inputs = BTreeSet::new();
    let mut outputs = Vec::new();
    for &r in members {
        inputs.extend(
            topo.eff_in[r]
                .iter()
                .copied()
                .filter(|p| !members.contains(p)),
        );
        if topo.is_output[r] || topo.consumers[r].iter().any(|c| !members.contains(c)) {
            outputs.push(r);
        }
    }
    Boundary {
        inputs: inputs.into_iter().collect(),
        outputs,
    }
}

/// A segment's sub-model and how its nodes map to the split model.
#[derive(Debug, Clone)]
pub(crate) struct Extracted {
    pub model: QModel,
    /// Split-model id of every sub-model node.
    pub map: Vec<usize>,
    pub boundary: Boundary,
}

/// The sub-model of the real ops `members`: boundary inputs become Input nodes (in split-id
/// order), then the virtual nodes it needs and the members, in split-id order.
pub(crate) fn extract(
    model: &QModel,
    topo: &Topology,
    members: &BTreeSet<usize>,
    producer: String,
) -> Extracted {
    let g = &model.graph;
    let boundary = boundary(topo, members);
    let mut inner = BTreeSet::new();
    let mut stack: Vec<usize> = members.iter().copied().collect();
    while let Some(v) = stack.pop() {
        if !inner.insert(v) {
            continue;
        }
        for &p in &g.nodes[v].inputs {
            if topo.kind[p] == Kind::Virtual && !inner.contains(&p) {
                stack.push(p);
            }
        }
    }
    let mut map: Vec<usize> = boundary.inputs.clone();
    map.extend(inner.iter().copied());
    let mut new_id = std::collections::BTreeMap::new();
    for (i, &s) in map.iter().enumerate() {
        new_id.insert(s, i);
    }
    let mut nodes = Vec::with_capacity(map.len());
    for (i, &s) in map.iter().enumerate() {
        let node = &g.nodes[s];
        let is_input = i < boundary.inputs.len();
        nodes.push(QNode {
            id: i,
            name: node.name.clone(),
            ir_node: None,
            op: if is_input {
                QOp::Input(Input {})
            } else {
                node.op.clone()
            },
            inputs: if is_input {
                Vec::new()
            } else {
                node.inputs.iter().map(|p| new_id[p]).collect()
            },
            shape: node.shape.clone(),
            bits: node.bits,
        });
    }
    let scales = map
        .iter()
        .enumerate()
        .filter_map(|(i, &s)| model.scale(s).map(|scale| NodeScale { node: i, scale }))
        .collect();
    let sub = QModel {
        spec_version: model.spec_version,
        producer,
        source_digest: model.source_digest.clone(),
        graph: QGraph {
            nodes,
            inputs: (0..boundary.inputs.len()).collect(),
            outputs: boundary.outputs.iter().map(|o| new_id[o]).collect(),
        },
        scales,
    };
    Extracted {
        model: sub,
        map,
        boundary,
    }
}
