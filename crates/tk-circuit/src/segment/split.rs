//! Channel splitting: an op too large for one segment becomes several ops, each computing a
//! range of its output channels (axis 1), so that every piece fits a segment.
//!
//! The rewrite is exact under the integer standard: a Conv or Gemm part uses the weight rows,
//! biases and requantization pairs of its channels; a per-channel op (Clip, Lut, Rescale,
//! MaxPool, AvgPool, Add, Mul) applies to the matching channels of its inputs. Wherever a
//! consumer needs other channels than one part holds, a `Concat` (axis 1) of parts and/or a
//! `Slice` is inserted. Both are wiring (copy constraints only), so the split model computes
//! exactly the original model's values: every node of the split model holds a channel range
//! of an original node's output ([`Source`]).

use std::collections::BTreeMap;

use tk_quant::ops::{Concat, QOp, Requant, Slice};
use tk_quant::{NodeScale, QGraph, QModel, QNode, QTensor};

use crate::error::CircuitError;

/// Channel boundaries `[0, c1, ..., C]` of every split original node (at least two parts).
pub type Partitions = BTreeMap<usize, Vec<usize>>;

/// Where the value of a split-model node comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Original node id.
    pub node: usize,
    /// Channels `[c0, c1)` along axis 1, or `None` for the whole tensor.
    pub channels: Option<(usize, usize)>,
}

/// The model after channel splitting.
#[derive(Debug, Clone)]
pub struct SplitModel {
    /// The split model (its graph inputs and outputs correspond one to one to the original's).
    pub model: QModel,
    /// Source of every node's value.
    pub sources: Vec<Source>,
}

/// What an operand of a part reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operand {
    /// All of original node `p`.
    Whole(usize),
    /// Channels `[c0, c1)` of original node `p`.
    Channels(usize, usize, usize),
}

fn invalid(node: usize, reason: impl Into<String>) -> CircuitError {
    CircuitError::InvalidModel {
        node,
        reason: reason.into(),
    }
}

fn slice_requant(rq: &Requant, c0: usize, c1: usize) -> Requant {
    if rq.multipliers.len() == 1 {
        rq.clone()
    } else {
        Requant {
            multipliers: rq.multipliers[c0..c1].to_vec(),
            shifts: rq.shifts[c0..c1].to_vec(),
            clamp: rq.clamp,
        }
    }
}

/// Rows `[r0, r1)` of a tensor along axis 0.
fn slice_rows(t: &QTensor, r0: usize, r1: usize) -> QTensor {
    let inner: usize = t.shape.iter().skip(1).product();
    let mut shape = t.shape.clone();
    shape[0] = r1 - r0;
    QTensor {
        shape,
        data: t.data[r0 * inner..r1 * inner].to_vec(),
    }
}

/// Channels `[c0, c1)` (axis 1) of a tensor of rank at least 2.
pub fn slice_channels(t: &QTensor, c0: usize, c1: usize) -> QTensor {
    let c = t.shape[1];
    let inner: usize = t.shape.iter().skip(2).product();
    let mut shape = t.shape.clone();
    shape[1] = c1 - c0;
    let mut data = Vec::with_capacity(t.shape[0] * (c1 - c0) * inner);
    for b in 0..t.shape[0] {
        let base = b * c * inner;
        data.extend_from_slice(&t.data[base + c0 * inner..base + c1 * inner]);
    }
    QTensor { shape, data }
}

/// Which operand of a binary element-wise op is read per channel, whole (broadcast along
/// axis 1), or neither (the op cannot be split).
fn binary_operand(model: &QModel, node: &QNode, slot: usize) -> Option<bool> {
    let x = &model.graph.nodes[*node.inputs.get(slot)?].shape;
    let out = &node.shape;
    if x.len() > out.len() {
        return None;
    }
    let lead = out.len() - x.len();
    if lead > 1 {
        return Some(false);
    }
    let d = x[1 - lead];
    if d == out[1] {
        // Axis 1 of the output is axis 0 of a lower-rank operand: slicing it is not supported.
        (lead == 0).then_some(true)
    } else if d == 1 {
        Some(false)
    } else {
        None
    }
}

/// The alignment of channel ranges if `node` can be split along axis 1 (1, or the output
/// channels per group of a grouped convolution), `None` otherwise.
pub(crate) fn split_unit(model: &QModel, node: &QNode) -> Option<usize> {
    if node.shape.len() < 2 || node.shape[1] < 2 {
        return None;
    }
    let c = node.shape[1];
    let same_channels = |slot: usize| {
        node.inputs
            .get(slot)
            .map(|&p| &model.graph.nodes[p].shape)
            .is_some_and(|s| s.len() == node.shape.len() && s[1] == c)
    };
    match &node.op {
        QOp::Conv(op) if op.group >= 1 && c.is_multiple_of(op.group) => {
            Some(if op.group == 1 { 1 } else { c / op.group })
        }
        QOp::Gemm(_) => Some(1),
        QOp::Clip(_) | QOp::Lut(_) | QOp::MaxPool(_) | QOp::AvgPool(_) | QOp::Rescale(_) => {
            same_channels(0).then_some(1)
        }
        QOp::Add(_) | QOp::Mul(_) => {
            let a = binary_operand(model, node, 0)?;
            let b = binary_operand(model, node, 1)?;
            (a || b).then_some(1)
        }
        _ => None,
    }
}

/// Whether `node` applies per channel to its inputs (a part reads the same channels of them),
/// as opposed to Conv/Gemm (a part reads every input channel).
pub(crate) fn is_per_channel(node: &QNode) -> bool {
    matches!(
        node.op,
        QOp::Clip(_)
            | QOp::Lut(_)
            | QOp::MaxPool(_)
            | QOp::AvgPool(_)
            | QOp::Rescale(_)
            | QOp::Add(_)
            | QOp::Mul(_)
    )
}

/// The op computing channels `[c0, c1)` of `node`, the operands it reads (in input-slot
/// order) and its output shape.
pub(crate) fn part_op(
    model: &QModel,
    node: &QNode,
    c0: usize,
    c1: usize,
) -> Result<(QOp, Vec<Operand>, Vec<usize>), CircuitError> {
    let id = node.id;
    let unit = split_unit(model, node).ok_or_else(|| invalid(id, "this op cannot be split"))?;
    if c0 >= c1 || c1 > node.shape[1] || !c0.is_multiple_of(unit) || !c1.is_multiple_of(unit) {
        return Err(invalid(
            id,
            format!("channels {c0}..{c1} are not a valid part"),
        ));
    }
    let mut shape = node.shape.clone();
    shape[1] = c1 - c0;
    let n = c1 - c0;
    let x = node.inputs.first().copied().unwrap_or(0);
    let (op, operands) = match &node.op {
        QOp::Conv(op) => {
            let ws = &op.weight.shape;
            let mut part = op.clone();
            part.weight = slice_rows(&op.weight, c0, c1);
            part.bias = op.bias[c0..c1].to_vec();
            part.requant = slice_requant(&op.requant, c0, c1);
            let operand = if op.group == 1 {
                Operand::Whole(x)
            } else {
                part.group = n / unit;
                Operand::Channels(x, c0 / unit * ws[1], c1 / unit * ws[1])
            };
            (QOp::Conv(part), vec![operand])
        }
        QOp::Gemm(op) => {
            let mut part = op.clone();
            part.weight = slice_rows(&op.weight, c0, c1);
            part.bias = op.bias[c0..c1].to_vec();
            part.requant = slice_requant(&op.requant, c0, c1);
            (QOp::Gemm(part), vec![Operand::Whole(x)])
        }
        QOp::Rescale(op) => {
            let mut part = op.clone();
            part.requant = slice_requant(&op.requant, c0, c1);
            (QOp::Rescale(part), vec![Operand::Channels(x, c0, c1)])
        }
        QOp::Clip(_) | QOp::Lut(_) | QOp::MaxPool(_) | QOp::AvgPool(_) => {
            (node.op.clone(), vec![Operand::Channels(x, c0, c1)])
        }
        QOp::Add(_) | QOp::Mul(_) => {
            let mut operands = Vec::with_capacity(2);
            for slot in 0..2 {
                let p = node.inputs[slot];
                operands.push(match binary_operand(model, node, slot) {
                    Some(true) => Operand::Channels(p, c0, c1),
                    Some(false) => Operand::Whole(p),
                    None => return Err(invalid(id, "operand does not split along axis 1")),
                });
            }
            (node.op.clone(), operands)
        }
        _ => return Err(invalid(id, "this op cannot be split")),
    };
    Ok((op, operands, shape))
}

/// Checks channel boundaries for `node`.
pub(crate) fn check_bounds(
    model: &QModel,
    node: &QNode,
    bounds: &[usize],
) -> Result<(), CircuitError> {
    let unit = split_unit(model, node)
        .ok_or_else(|| invalid(node.id, "partitioned, but this op cannot be split"))?;
    let ok = bounds.len() >= 3
        && bounds.first() == Some(&0)
        && bounds.last() == Some(&node.shape[1])
        && bounds.windows(2).all(|w| w[0] < w[1] && w[1] % unit == 0);
    if !ok {
        return Err(invalid(
            node.id,
            format!("channel boundaries {bounds:?} do not partition the output"),
        ));
    }
    Ok(())
}

/// `parts` nearly equal channel ranges of `c` channels in multiples of `unit` (fewer when
/// there are not enough units).
pub(crate) fn even_bounds(c: usize, unit: usize, parts: usize) -> Vec<usize> {
    let units = c / unit;
    let parts = parts.clamp(1, units.max(1));
    let per = units.div_ceil(parts);
    let mut bounds: Vec<usize> = (0..units).step_by(per).map(|u| u * unit).collect();
    bounds.push(c);
    bounds
}

enum Repr {
    Whole(usize),
    Parts { bounds: Vec<usize>, ids: Vec<usize> },
}

struct Emitter<'m> {
    orig: &'m QModel,
    nodes: Vec<QNode>,
    sources: Vec<Source>,
    repr: Vec<Repr>,
    cache: BTreeMap<(usize, usize, usize), usize>,
}

impl Emitter<'_> {
    fn emit(
        &mut self,
        name: String,
        op: QOp,
        inputs: Vec<usize>,
        shape: Vec<usize>,
        bits: u8,
        source: Source,
    ) -> usize {
        let id = self.nodes.len();
        self.nodes.push(QNode {
            id,
            name,
            ir_node: None,
            op,
            inputs,
            shape,
            bits,
        });
        self.sources.push(source);
        id
    }

    fn channel_source(&self, o: usize, c0: usize, c1: usize) -> Source {
        let whole = c0 == 0 && self.orig.graph.nodes[o].shape.get(1) == Some(&c1);
        Source {
            node: o,
            channels: (!whole).then_some((c0, c1)),
        }
    }

    fn helper_name(&self, o: usize, c0: usize, c1: usize) -> String {
        format!("{} [{c0}..{c1}]", self.orig.graph.nodes[o].name)
    }

    fn whole(&mut self, o: usize) -> usize {
        match &self.repr[o] {
            Repr::Whole(id) => *id,
            Repr::Parts { bounds, .. } => {
                let c = *bounds.last().unwrap_or(&0);
                self.channels(o, 0, c)
            }
        }
    }

    /// A node holding channels `[c0, c1)` of original node `o`.
    fn channels(&mut self, o: usize, c0: usize, c1: usize) -> usize {
        if let Some(&id) = self.cache.get(&(o, c0, c1)) {
            return id;
        }
        let orig = &self.orig.graph.nodes[o];
        let (base, base_c0, base_c1) = match &self.repr[o] {
            Repr::Whole(id) => (*id, 0, orig.shape[1]),
            Repr::Parts { bounds, ids } => {
                let i0 = bounds.partition_point(|&b| b <= c0) - 1;
                let i1 = bounds.partition_point(|&b| b < c1) - 1;
                let (lo, hi) = (bounds[i0], bounds[i1 + 1]);
                if i0 == i1 {
                    (ids[i0], lo, hi)
                } else {
                    let parts = ids[i0..=i1].to_vec();
                    let id = match self.cache.get(&(o, lo, hi)) {
                        Some(&id) => id,
                        None => {
                            let mut shape = orig.shape.clone();
                            shape[1] = hi - lo;
                            let source = self.channel_source(o, lo, hi);
                            let id = self.emit(
                                self.helper_name(o, lo, hi),
                                QOp::Concat(Concat { axis: 1 }),
                                parts,
                                shape,
                                orig.bits,
                                source,
                            );
                            self.cache.insert((o, lo, hi), id);
                            id
                        }
                    };
                    (id, lo, hi)
                }
            }
        };
        if base_c0 == c0 && base_c1 == c1 {
            return base;
        }
        let mut starts = vec![0; orig.shape.len()];
        starts[1] = c0 - base_c0;
        let mut shape = orig.shape.clone();
        shape[1] = c1 - c0;
        let source = self.channel_source(o, c0, c1);
        let id = self.emit(
            self.helper_name(o, c0, c1),
            QOp::Slice(Slice {
                starts,
                steps: vec![1; orig.shape.len()],
            }),
            vec![base],
            shape,
            orig.bits,
            source,
        );
        self.cache.insert((o, c0, c1), id);
        id
    }

    fn operand(&mut self, o: Operand) -> usize {
        match o {
            Operand::Whole(p) => self.whole(p),
            Operand::Channels(p, c0, c1) => self.channels(p, c0, c1),
        }
    }
}

/// Applies `partitions` to `model` (deterministic: the same inputs give the same split model).
pub fn split(model: &QModel, partitions: &Partitions) -> Result<SplitModel, CircuitError> {
    let g = &model.graph;
    if let Some((&id, _)) = partitions.range(g.nodes.len()..).next() {
        return Err(invalid(id, "partitioned node does not exist"));
    }
    let mut e = Emitter {
        orig: model,
        nodes: Vec::with_capacity(g.nodes.len()),
        sources: Vec::with_capacity(g.nodes.len()),
        repr: Vec::with_capacity(g.nodes.len()),
        cache: BTreeMap::new(),
    };
    for node in &g.nodes {
        if node.id != e.repr.len() || node.inputs.iter().any(|&p| p >= node.id) {
            return Err(invalid(node.id, "the graph is not topologically ordered"));
        }
        let repr = match partitions.get(&node.id) {
            None => {
                let inputs = node.inputs.iter().map(|&p| e.whole(p)).collect();
                let id = e.emit(
                    node.name.clone(),
                    node.op.clone(),
                    inputs,
                    node.shape.clone(),
                    node.bits,
                    Source {
                        node: node.id,
                        channels: None,
                    },
                );
                Repr::Whole(id)
            }
            Some(bounds) => {
                check_bounds(model, node, bounds)?;
                let mut ids = Vec::with_capacity(bounds.len() - 1);
                for w in bounds.windows(2) {
                    let (op, operands, shape) = part_op(model, node, w[0], w[1])?;
                    let inputs = operands.into_iter().map(|o| e.operand(o)).collect();
                    ids.push(e.emit(
                        format!("{} [{}..{}]", node.name, w[0], w[1]),
                        op,
                        inputs,
                        shape,
                        node.bits,
                        Source {
                            node: node.id,
                            channels: Some((w[0], w[1])),
                        },
                    ));
                }
                Repr::Parts {
                    bounds: bounds.clone(),
                    ids,
                }
            }
        };
        e.repr.push(repr);
    }
    let inputs = g.inputs.iter().map(|&i| e.whole(i)).collect();
    let outputs = g.outputs.iter().map(|&o| e.whole(o)).collect();
    let scales = e
        .sources
        .iter()
        .enumerate()
        .filter_map(|(id, s)| {
            model
                .scale(s.node)
                .map(|scale| NodeScale { node: id, scale })
        })
        .collect();
    Ok(SplitModel {
        model: QModel {
            spec_version: model.spec_version,
            producer: model.producer.clone(),
            source_digest: model.source_digest.clone(),
            graph: QGraph {
                nodes: e.nodes,
                inputs,
                outputs,
            },
            scales,
        },
        sources: e.sources,
    })
}

impl SplitModel {
    /// The value of split node `id`, from the original nodes' values.
    pub fn value<'v>(
        &self,
        id: usize,
        original: impl Fn(usize) -> Option<&'v QTensor>,
    ) -> Option<QTensor> {
        let s = self.sources.get(id)?;
        let t = original(s.node)?;
        Some(match s.channels {
            None => t.clone(),
            Some((c0, c1)) => {
                if t.shape.len() < 2 || c1 > t.shape[1] || c0 >= c1 {
                    return None;
                }
                slice_channels(t, c0, c1)
            }
        })
    }
}
