//! Segmented proving: a model cut into segments of consecutive ops, each proven by its own
//! [`ModelCircuit`], with the tensors that cross a cut bound by public values.
//!
//! ```text
//! QModel ─ split (channel parts of ops too big for one circuit) ─► split model
//!        ─ schedule real ops, pack greedily under a budget (k, memory) ─► segments
//! segment i = sub-model: boundary tensors in as model inputs, boundary tensors out as outputs
//! ```
//!
//! A segment is an ordinary [`QModel`], so keys, proving and verification are the
//! single-model ones, unchanged. Every tensor crossing a cut is a public value of both
//! proofs: segment i's public outputs and segment j's public inputs for the same tensor must
//! be equal ([`Segmentation::check_chain`]); the first tensors are the model inputs and the
//! last the model outputs. Intermediate activations at cuts are therefore public (a hiding
//! commitment would need an in-circuit hash; see `docs/segmented-proving.md`).
//!
//! Binding: a segment's sub-model records the segment index, the number of segments and the
//! full model's digest in its `producer` field, so its digest (carried by its proof file)
//! names exactly one segment of one model. The verifier re-derives every sub-model from the
//! full model and the manifest ([`Segmentation::from_manifest`]) rather than trusting stored
//! ones.
//!
//! **Invariant:** planning sees the model only, never witness values; the same model and
//! options give the same segmentation (ordered containers, deterministic scheduling).

mod graph;
pub mod memory;
mod split;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use tk_quant::ops::{Input, QOp};
use tk_quant::{QGraph, QModel, QNode, QTensor};

pub use split::{Partitions, Source, SplitModel, slice_channels, split};

use crate::circuit::ModelCircuit;
use crate::error::CircuitError;
use crate::keys::{ModelVk, Params};
use crate::lower::{lower, volume};
use crate::plan::{CommitDemand, Demand, OpDemand, PlanOptions, PlanReport, usable_rows};
use crate::proof_file::{Commitment, ProofFile};
use crate::prover;
use crate::witness::OpWitness;
use crate::witness::public_instance_with;
use graph::{Kind, Topology, extract};

/// Version of the segment manifest format.
pub const MANIFEST_VERSION: u32 = 1;

/// Limits on every segment's circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentOptions {
    /// Largest `k` of a segment circuit (also the planner's `max_k` for every segment).
    pub max_k: u32,
    /// Estimated peak proving memory per segment ([`memory::estimate_bytes`]).
    pub max_bytes: Option<u64>,
    /// Aim for this many segments (balanced by estimated prover work) instead of as few as
    /// the limits allow. More segments may result when the limits demand it.
    pub count: Option<usize>,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            max_k: PlanOptions::default().max_k,
            max_bytes: None,
            count: None,
        }
    }
}

impl SegmentOptions {
    /// Options for a memory budget: `max_k` from [`memory::max_k_for`].
    pub fn for_memory(bytes: u64) -> SegmentOptions {
        SegmentOptions {
            max_k: memory::max_k_for(bytes).min(PlanOptions::default().max_k),
            max_bytes: Some(bytes),
            count: None,
        }
    }

    /// Segments are planned without multi-output dot rows: the memory model
    /// ([`memory`]) was calibrated on measured segments laid out with the dot chip only, and a
    /// memory budget must hold. The estimates and probes lower ops without groups
    /// accordingly.
    fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            max_k: self.max_k,
            mdot: Some(None),
            ..PlanOptions::default()
        }
    }
}

/// A tensor crossing a cut (or a model input or output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundaryTensor {
    /// Node id in the split model.
    pub node: usize,
    /// Node name.
    pub name: String,
    /// Original node whose output (or channel range of it) this is.
    pub source: usize,
    /// Channel range `[c0, c1)` of the source, when not all of it.
    pub channels: Option<(usize, usize)>,
    /// Shape.
    pub shape: Vec<usize>,
    /// Bit width.
    pub bits: u8,
}

/// One segment.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Position in the chain.
    pub index: usize,
    /// Positions in the schedule of real ops ([`Segmentation::order`]).
    pub ops: Range<usize>,
    /// The sub-model: boundary inputs as model inputs, boundary outputs as model outputs.
    pub model: QModel,
    /// Hex SHA-256 of the sub-model's `.tkq` bytes.
    pub digest: String,
    /// Public inputs, in the sub-model's input order.
    pub inputs: Vec<BoundaryTensor>,
    /// Public outputs, in the sub-model's output order.
    pub outputs: Vec<BoundaryTensor>,
    /// The planner's estimate (absent when re-derived from a manifest).
    pub estimate: Option<SegmentEstimate>,
    /// Sub-model inputs and outputs bound by commitments: every boundary tensor that is not a
    /// model input or output.
    pub commit: BTreeSet<usize>,
    map: Vec<usize>,
}

/// A segment input or output as its proof shows it.
#[derive(Debug, Clone, Copy)]
enum Shown<'a> {
    Values(&'a QTensor),
    Digests(&'a Commitment),
}

impl Shown<'_> {
    /// Whether two proofs show the same tensor (values against digests: by committing to the
    /// values).
    fn same(self, other: Shown<'_>) -> Result<bool, CircuitError> {
        Ok(match (self, other) {
            (Shown::Values(a), Shown::Values(b)) => a == b,
            (Shown::Digests(a), Shown::Digests(b)) => a.digests == b.digests,
            (Shown::Values(t), Shown::Digests(c)) | (Shown::Digests(c), Shown::Values(t)) => {
                crate::commit::commit_tensor(t)? == c.fields()?
            }
        })
    }
}

impl Segment {
    /// The planner options of this segment's circuit.
    fn options(&self, base: &PlanOptions) -> PlanOptions {
        PlanOptions {
            commit: self.commit.clone(),
            ..base.clone()
        }
    }

    /// Its inputs and outputs as `public` shows them, in the sub-model's order.
    fn shown<'a>(
        &self,
        public: &SegmentPublic<'a>,
    ) -> Result<(Vec<Shown<'a>>, Vec<Shown<'a>>), CircuitError> {
        let g = &self.model.graph;
        let mut commitments = public.commitments.iter();
        let mut side = |ids: &[usize], values: &'a [QTensor], what: &str| {
            let mut values = values.iter();
            let out = ids
                .iter()
                .map(|id| {
                    let shown = if self.commit.contains(id) {
                        commitments
                            .next()
                            .filter(|c| c.node == *id)
                            .map(Shown::Digests)
                    } else {
                        values.next().map(Shown::Values)
                    };
                    shown.ok_or_else(|| {
                        CircuitError::InvalidPublic(format!(
                            "segment {}: {what} {id} missing from its proof",
                            self.index
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if values.next().is_some() {
                return Err(CircuitError::InvalidPublic(format!(
                    "segment {}: more {what} values than public {what}s",
                    self.index
                )));
            }
            Ok(out)
        };
        let inputs = side(&g.inputs, public.inputs, "input")?;
        let outputs = side(&g.outputs, public.outputs, "output")?;
        if commitments.next().is_some() {
            return Err(CircuitError::InvalidPublic(format!(
                "segment {}: more commitments than committed tensors",
                self.index
            )));
        }
        Ok((inputs, outputs))
    }
}

/// Estimated size of a segment's circuit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEstimate {
    /// `k`.
    pub k: u32,
    /// Rows of the main columns.
    pub main_rows: usize,
    /// Advice columns.
    pub advice_columns: usize,
    /// Multiply-accumulates.
    pub macs: usize,
    /// Planner cost (arbitrary units).
    pub cost: u64,
    /// Estimated peak proving memory ([`memory::estimate_bytes`]).
    pub memory_bytes: u64,
}

/// A model cut into segments.
#[derive(Debug, Clone)]
pub struct Segmentation {
    /// Hex SHA-256 of the full model's `.tkq` bytes.
    pub model_digest: String,
    /// Channel partitions of the original nodes that were split.
    pub partitions: Partitions,
    /// The split model.
    pub split: SplitModel,
    /// The segments, in chain order.
    pub segments: Vec<Segment>,
    /// Planner options every segment circuit is built with.
    pub plan_options: PlanOptions,
    options: SegmentOptions,
    topo: Topology,
}

/// The segment manifest: everything needed to re-derive the segments from the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentManifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// Hex SHA-256 of the full model's `.tkq` bytes.
    pub model_digest: String,
    /// `max_k` of the planner for every segment circuit.
    pub max_k: u32,
    /// Memory budget the segments were planned for.
    pub max_bytes: Option<u64>,
    /// Original node id and channel boundaries of every split node.
    pub partitions: Vec<(usize, Vec<usize>)>,
    /// The segments.
    pub segments: Vec<ManifestSegment>,
}

/// One segment in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSegment {
    /// Position in the chain.
    pub index: usize,
    /// Positions in the schedule of real ops.
    pub ops: (usize, usize),
    /// Hex SHA-256 of the sub-model's `.tkq` bytes.
    pub model_digest: String,
    /// Names of the first and last op (for people).
    pub first_op: String,
    /// See `first_op`.
    pub last_op: String,
    /// Public inputs.
    pub inputs: Vec<BoundaryTensor>,
    /// Public outputs.
    pub outputs: Vec<BoundaryTensor>,
    /// The planner's estimate at planning time.
    pub estimate: Option<SegmentEstimate>,
}

/// The public values of one segment proof.
#[derive(Debug, Clone, Copy)]
pub struct SegmentPublic<'a> {
    /// Segment inputs shown by value (model inputs), in order.
    pub inputs: &'a [QTensor],
    /// Segment outputs shown by value (model outputs), in order.
    pub outputs: &'a [QTensor],
    /// The committed inputs, then outputs ([`Segment::commit`]).
    pub commitments: &'a [Commitment],
}

fn invalid(node: usize, reason: impl Into<String>) -> CircuitError {
    CircuitError::InvalidModel {
        node,
        reason: reason.into(),
    }
}

fn manifest_error(reason: impl Into<String>) -> CircuitError {
    CircuitError::Malformed {
        what: "segment manifest",
        reason: reason.into(),
    }
}

/// What one real op adds to a segment's demand.
#[derive(Debug, Clone)]
struct OpCost {
    demand: OpDemand,
    consts: usize,
    lut_entries: usize,
    macs: usize,
    /// Planner cost of the op alone (for balancing).
    cost: u64,
}

fn macs_of(d: &OpDemand) -> usize {
    match d {
        OpDemand::Dot { lens, .. } => lens.iter().sum(),
        _ => 0,
    }
}

/// The smallest `k` whose usable rows hold `rows` (a lower bound for the planner's search).
fn k_floor(rows: usize) -> u32 {
    (6..26).find(|&k| usable_rows(k) >= rows).unwrap_or(26)
}

struct Budget<'o> {
    opts: &'o SegmentOptions,
}

impl Budget<'_> {
    /// The plan of `demand` if it fits the limits.
    fn fits(&self, demand: &Demand, macs: usize) -> Option<PlanReport> {
        let mut opts = self.opts.plan_options();
        opts.min_k = k_floor(demand.instance_len.max(demand.inputs));
        if opts.min_k > opts.max_k {
            return None;
        }
        let report = demand.plan(&opts).ok()?;
        let fits = self
            .opts
            .max_bytes
            .is_none_or(|b| memory::estimate_bytes(&report, macs) <= b);
        fits.then_some(report)
    }

    fn describe(&self) -> String {
        match self.opts.max_bytes {
            Some(b) => format!("k <= {} and {} MiB", self.opts.max_k, b >> 20),
            None => format!("k <= {}", self.opts.max_k),
        }
    }
}

/// Lowers a probe model and returns the demand of its last node plus totals.
fn probe_demand(model: &QModel, commit: &BTreeSet<usize>) -> Result<Demand, CircuitError> {
    Ok(lower(model, commit, false)?.demand)
}

/// A boundary tensor as the planner sees it.
#[derive(Debug, Clone, Copy)]
struct Side {
    values: usize,
    bits: u32,
    /// Shown by value (a model input or output) rather than committed.
    public: bool,
}

/// The boundary of `members` (real ops of `model`) as planner sides.
fn sides(model: &QModel, topo: &Topology, members: &BTreeSet<usize>) -> (Vec<Side>, Vec<Side>) {
    let b = graph::boundary(topo, members);
    let side = |id: usize, public: bool| {
        let node = &model.graph.nodes[id];
        Side {
            values: volume(&node.shape),
            bits: u32::from(node.bits),
            public,
        }
    };
    (
        b.inputs
            .iter()
            .map(|&i| side(i, topo.kind[i] == Kind::Input))
            .collect(),
        b.outputs
            .iter()
            .map(|&o| side(o, topo.is_output[o]))
            .collect(),
    )
}

/// The sum of the ops' demands with the given boundary.
fn assemble(costs: &[&OpCost], inputs: &[Side], outputs: &[Side]) -> (Demand, usize) {
    let lut: usize = costs.iter().map(|c| c.lut_entries).sum();
    let instance_len = inputs
        .iter()
        .chain(outputs)
        .map(|s| {
            if s.public {
                s.values
            } else {
                crate::commit::digest_count(s.values)
            }
        })
        .sum();
    let commits = inputs
        .iter()
        .map(|s| (s, true))
        .chain(outputs.iter().map(|s| (s, false)))
        .filter(|(s, _)| !s.public)
        .map(|(s, read)| CommitDemand {
            values: s.values,
            bits: s.bits,
            read,
        })
        .collect();
    let demand = Demand {
        consts: 1 + costs.iter().map(|c| c.consts).sum::<usize>(),
        inputs: inputs.iter().map(|s| s.values).sum(),
        instance_len,
        ops: costs.iter().map(|c| c.demand.clone()).collect(),
        lut_entries: (lut > 0).then_some(lut),
        commits,
    };
    (demand, costs.iter().map(|c| c.macs).sum())
}

/// A probe model computing channels `[c0, c1)` of `node` from fresh inputs, and the probe's
/// inputs and output that a segment holding it alone would commit to (all but model inputs
/// and outputs).
fn part_probe(
    model: &QModel,
    node: &QNode,
    c0: usize,
    c1: usize,
) -> Result<(QModel, BTreeSet<usize>), CircuitError> {
    let (op, operands, shape) = split::part_op(model, node, c0, c1)?;
    let mut nodes = Vec::new();
    let mut inputs = Vec::new();
    let mut commit = BTreeSet::new();
    for o in operands {
        let (p, range) = match o {
            split::Operand::Whole(p) => (p, None),
            split::Operand::Channels(p, a, b) => (p, Some((a, b))),
        };
        let src = &model.graph.nodes[p];
        let mut s = src.shape.clone();
        if let Some((a, b)) = range {
            s[1] = b - a;
        }
        let id = nodes.len();
        let is_const = matches!(src.op, QOp::Const(_)) && range.is_none();
        nodes.push(QNode {
            id,
            name: src.name.clone(),
            ir_node: None,
            op: if is_const {
                src.op.clone()
            } else {
                QOp::Input(Input {})
            },
            inputs: Vec::new(),
            shape: s,
            bits: src.bits,
        });
        if !is_const {
            inputs.push(id);
            if !matches!(src.op, QOp::Input(_)) {
                commit.insert(id);
            }
        }
    }
    let id = nodes.len();
    nodes.push(QNode {
        id,
        name: node.name.clone(),
        ir_node: None,
        op,
        inputs: (0..id).collect(),
        shape,
        bits: node.bits,
    });
    if !model.graph.outputs.contains(&node.id) {
        commit.insert(id);
    }
    let probe = QModel {
        spec_version: model.spec_version,
        producer: String::new(),
        source_digest: String::new(),
        graph: QGraph {
            nodes,
            inputs,
            outputs: vec![id],
        },
        scales: Vec::new(),
    };
    Ok((probe, commit))
}

/// A lower bound on the dot rows of `node` (all of it), at most 64 columns per row.
fn dot_rows_lower_bound(model: &QModel, node: &QNode) -> usize {
    let nnz = |w: &QTensor, row: usize| {
        let inner: usize = w.shape.iter().skip(1).product();
        w.data[row * inner..(row + 1) * inner]
            .iter()
            .filter(|&&v| v != 0)
            .count()
    };
    match &node.op {
        QOp::Conv(op) => {
            let x = &model.graph.nodes[node.inputs[0]].shape;
            let ks = &op.weight.shape;
            let inside = |axis: usize| {
                let (n_in, n_out, k) = (x[2 + axis], node.shape[2 + axis], ks[2 + axis]);
                (0..n_out)
                    .filter(|&o| {
                        let first = (o * op.strides[axis]) as isize - op.pads[axis] as isize;
                        let last = first + ((k - 1) * op.dilations[axis]) as isize;
                        first >= 0 && (last as usize) < n_in
                    })
                    .count()
            };
            let positions = inside(0) * inside(1) * node.shape[0];
            (0..ks[0])
                .map(|m| nnz(&op.weight, m) * positions / 64)
                .sum()
        }
        QOp::Gemm(op) => {
            let rows = node.shape[0];
            (0..op.weight.shape[0])
                .map(|n| nnz(&op.weight, n) * rows / 64)
                .sum()
        }
        _ => 0,
    }
}

/// Chooses channel partitions: per-channel ops follow their split inputs; a Conv or Gemm that
/// does not fit alone is cut into the fewest power-of-two number of parts that fit.
fn choose_partitions(model: &QModel, budget: &Budget<'_>) -> Result<Partitions, CircuitError> {
    let mut partitions = Partitions::new();
    let usable = usable_rows(budget.opts.max_k);
    for node in &model.graph.nodes {
        let Some(unit) = split::split_unit(model, node) else {
            continue;
        };
        let channel_preserving_conv = matches!(&node.op, QOp::Conv(op) if op.group > 1
            && model.graph.nodes[node.inputs[0]].shape.get(1) == node.shape.get(1)
            && op.weight.shape[1] == 1);
        if split::is_per_channel(node) || channel_preserving_conv {
            let inherited = node.inputs.iter().find_map(|&p| {
                let b = partitions.get(&p)?;
                let ok = model.graph.nodes[p].shape.get(1) == node.shape.get(1)
                    && b.iter().all(|c| c % unit == 0);
                ok.then(|| b.clone())
            });
            if let Some(bounds) = inherited {
                // Only the operands read per channel follow the parts; check the op reads
                // them so (a broadcast operand of the same width would not).
                if split::part_op(model, node, bounds[0], bounds[1]).is_ok() {
                    partitions.insert(node.id, bounds);
                    continue;
                }
            }
            // A per-channel op on an unsplit input usually shares a segment with its
            // producer, so its own public values say nothing; packing reports it if it does
            // not fit.
            if !channel_preserving_conv {
                continue;
            }
        }
        let c = node.shape[1];
        let units = c / unit;
        let mut parts = dot_rows_lower_bound(model, node).div_ceil(usable).max(1);
        parts = parts.next_power_of_two().min(units);
        loop {
            let bounds = even_bounds_for(c, unit, parts);
            let (probe, commit) = part_probe(model, node, bounds[0], bounds[1])?;
            let demand = probe_demand(&probe, &commit)?;
            let macs = demand.ops.iter().map(macs_of).sum();
            if budget.fits(&demand, macs).is_some() {
                if bounds.len() > 2 {
                    partitions.insert(node.id, bounds);
                }
                break;
            }
            if parts >= units {
                return Err(invalid(
                    node.id,
                    format!(
                        "{}: even {} output channel(s) alone do not fit {} (the public inputs alone are {} values)",
                        node.name,
                        unit,
                        budget.describe(),
                        demand.inputs
                    ),
                ));
            }
            parts = (parts * 2).min(units);
        }
    }
    Ok(partitions)
}

fn even_bounds_for(c: usize, unit: usize, parts: usize) -> Vec<usize> {
    split::even_bounds(c, unit, parts)
}

fn segment_producer(index: usize, count: usize, model_digest: &str) -> String {
    format!("tachikoma segment {index} of {count} of model {model_digest}")
}

fn digest_of(model: &QModel) -> Result<String, CircuitError> {
    let bytes = tk_quant::file::to_bytes(model)
        .map_err(|e| CircuitError::Internal(format!("encoding a segment model: {e}")))?;
    Ok(tk_trace::ModelDigest::of_bytes(&bytes).to_hex())
}

impl Segmentation {
    /// Plans the segmentation of `model` (whose `.tkq` bytes hash to `model_digest`) under
    /// `opts`: splits ops that do not fit, then cuts the schedule greedily.
    pub fn plan(
        model: &QModel,
        model_digest: &str,
        opts: &SegmentOptions,
    ) -> Result<Segmentation, CircuitError> {
        let budget = Budget { opts };
        let partitions = choose_partitions(model, &budget)?;
        let split = split::split(model, &partitions)?;
        let topo = Topology::new(&split.model)?;
        let costs = op_costs(&split.model, &topo, &budget)?;
        let cuts = match opts.count {
            None => pack(&split.model, &topo, &costs, &budget, None)?,
            Some(n) => pack_count(&split.model, &topo, &costs, &budget, n)?,
        };
        let estimates: Vec<Option<SegmentEstimate>> =
            cuts.iter().map(|(_, e)| Some(e.clone())).collect();
        let ranges: Vec<Range<usize>> = cuts.into_iter().map(|(r, _)| r).collect();
        Self::build(
            model_digest,
            partitions,
            split,
            topo,
            &ranges,
            estimates,
            opts.clone(),
        )
    }

    /// Re-derives the segmentation recorded in `manifest` from the full `model` (whose bytes
    /// hash to `model_digest`), checking that every segment's sub-model has the recorded
    /// digest.
    pub fn from_manifest(
        model: &QModel,
        model_digest: &str,
        manifest: &SegmentManifest,
    ) -> Result<Segmentation, CircuitError> {
        if manifest.version != MANIFEST_VERSION {
            return Err(manifest_error(format!(
                "unknown version {}, this reader knows {MANIFEST_VERSION}",
                manifest.version
            )));
        }
        if manifest.model_digest != model_digest {
            return Err(manifest_error("the manifest belongs to another model"));
        }
        if !(4..=26).contains(&manifest.max_k) {
            return Err(manifest_error(format!("max_k {}", manifest.max_k)));
        }
        let mut partitions = Partitions::new();
        for (node, bounds) in &manifest.partitions {
            if partitions.insert(*node, bounds.clone()).is_some() {
                return Err(manifest_error(format!("node {node} partitioned twice")));
            }
        }
        let split = split::split(model, &partitions)?;
        let topo = Topology::new(&split.model)?;
        let mut ranges = Vec::with_capacity(manifest.segments.len());
        let mut at = 0;
        for (i, s) in manifest.segments.iter().enumerate() {
            if s.index != i || s.ops.0 != at || s.ops.1 <= s.ops.0 {
                return Err(manifest_error(format!(
                    "segment {i} does not continue the chain"
                )));
            }
            at = s.ops.1;
            ranges.push(s.ops.0..s.ops.1);
        }
        if at != topo.order.len() {
            return Err(manifest_error(format!(
                "the segments cover {at} of {} ops",
                topo.order.len()
            )));
        }
        let opts = SegmentOptions {
            max_k: manifest.max_k,
            max_bytes: manifest.max_bytes,
            count: None,
        };
        let estimates = manifest
            .segments
            .iter()
            .map(|s| s.estimate.clone())
            .collect();
        let seg = Self::build(
            model_digest,
            partitions,
            split,
            topo,
            &ranges,
            estimates,
            opts,
        )?;
        for (s, m) in seg.segments.iter().zip(&manifest.segments) {
            if s.digest != m.model_digest || s.inputs != m.inputs || s.outputs != m.outputs {
                return Err(manifest_error(format!(
                    "segment {} differs from the one the manifest records",
                    s.index
                )));
            }
        }
        Ok(seg)
    }

    fn build(
        model_digest: &str,
        partitions: Partitions,
        split: SplitModel,
        topo: Topology,
        ranges: &[Range<usize>],
        estimates: Vec<Option<SegmentEstimate>>,
        options: SegmentOptions,
    ) -> Result<Segmentation, CircuitError> {
        let count = ranges.len();
        let mut segments = Vec::with_capacity(count);
        for (index, (range, estimate)) in ranges.iter().zip(estimates).enumerate() {
            let members: BTreeSet<usize> = topo.order[range.clone()].iter().copied().collect();
            let ex = extract(
                &split.model,
                &topo,
                &members,
                segment_producer(index, count, model_digest),
            );
            let tensor = |id: usize| {
                let node = &split.model.graph.nodes[id];
                let s = split.sources[id];
                BoundaryTensor {
                    node: id,
                    name: node.name.clone(),
                    source: s.node,
                    channels: s.channels,
                    shape: node.shape.clone(),
                    bits: node.bits,
                }
            };
            let g = &ex.model.graph;
            let commit: BTreeSet<usize> = g
                .inputs
                .iter()
                .zip(&ex.boundary.inputs)
                .filter(|&(_, &b)| topo.kind[b] != Kind::Input)
                .chain(
                    g.outputs
                        .iter()
                        .zip(&ex.boundary.outputs)
                        .filter(|&(_, &b)| !topo.is_output[b]),
                )
                .map(|(&id, _)| id)
                .collect();
            segments.push(Segment {
                index,
                ops: range.clone(),
                commit,
                digest: digest_of(&ex.model)?,
                inputs: ex.boundary.inputs.iter().map(|&i| tensor(i)).collect(),
                outputs: ex.boundary.outputs.iter().map(|&i| tensor(i)).collect(),
                model: ex.model,
                estimate,
                map: ex.map,
            });
        }
        Ok(Segmentation {
            model_digest: model_digest.to_string(),
            plan_options: options.plan_options(),
            partitions,
            split,
            segments,
            options,
            topo,
        })
    }

    /// The schedule: real ops of the split model (node ids) in chain order.
    pub fn order(&self) -> &[usize] {
        &self.topo.order
    }

    /// The manifest recording this segmentation.
    pub fn manifest(&self) -> SegmentManifest {
        let name = |pos: usize| {
            self.split.model.graph.nodes[self.topo.order[pos]]
                .name
                .clone()
        };
        SegmentManifest {
            version: MANIFEST_VERSION,
            model_digest: self.model_digest.clone(),
            max_k: self.options.max_k,
            max_bytes: self.options.max_bytes,
            partitions: self
                .partitions
                .iter()
                .map(|(&n, b)| (n, b.clone()))
                .collect(),
            segments: self
                .segments
                .iter()
                .map(|s| ManifestSegment {
                    index: s.index,
                    ops: (s.ops.start, s.ops.end),
                    model_digest: s.digest.clone(),
                    first_op: name(s.ops.start),
                    last_op: name(s.ops.end - 1),
                    inputs: s.inputs.clone(),
                    outputs: s.outputs.clone(),
                    estimate: s.estimate.clone(),
                })
                .collect(),
        }
    }

    /// Every node value of segment `i`'s sub-model, from the original model's node values
    /// (for instance [`crate::TraceValues::value`]).
    pub fn values<'v>(
        &self,
        i: usize,
        original: impl Fn(usize) -> Option<&'v QTensor> + Copy,
    ) -> Result<Vec<QTensor>, CircuitError> {
        let seg = self.segment(i)?;
        seg.map
            .iter()
            .enumerate()
            .map(|(j, &s)| {
                self.split
                    .value(s, original)
                    .ok_or_else(|| CircuitError::InvalidWitness {
                        node: j,
                        reason: format!(
                            "no value for original node {} of segment {i}",
                            self.split.sources[s].node
                        ),
                    })
            })
            .collect()
    }

    fn segment(&self, i: usize) -> Result<&Segment, CircuitError> {
        self.segments
            .get(i)
            .ok_or_else(|| CircuitError::Internal(format!("no segment {i}")))
    }

    /// The circuit proving segment `i` on the original model's node values, with what its
    /// proof file carries: the public inputs and outputs (model inputs and outputs) and the
    /// commitments to the others.
    pub fn circuit<'v>(
        &self,
        i: usize,
        original: impl Fn(usize) -> Option<&'v QTensor> + Copy,
    ) -> Result<SegmentProofInputs, CircuitError> {
        let seg = self.segment(i)?;
        let values = self.values(i, original)?;
        let witnesses = op_witnesses(&seg.model, &values);
        let circuit = ModelCircuit::new(&seg.model, &witnesses, &seg.options(&self.plan_options))?;
        let g = &seg.model.graph;
        let pick = |ids: &[usize]| {
            ids.iter()
                .filter(|id| !seg.commit.contains(id))
                .map(|&id| values[id].clone())
                .collect()
        };
        let commitments = g
            .inputs
            .iter()
            .chain(&g.outputs)
            .filter(|id| seg.commit.contains(id))
            .map(|&id| {
                Ok(Commitment::new(
                    id,
                    &crate::commit::commit_tensor(&values[id])?,
                ))
            })
            .collect::<Result<_, CircuitError>>()?;
        Ok(SegmentProofInputs {
            circuit,
            inputs: pick(&g.inputs),
            outputs: pick(&g.outputs),
            commitments,
        })
    }

    /// The plan of segment `i`'s circuit (without laying it out).
    pub fn plan_report(&self, i: usize) -> Result<PlanReport, CircuitError> {
        let seg = self.segment(i)?;
        lower(
            &seg.model,
            &seg.commit,
            self.plan_options.mdot != Some(None),
        )?
        .demand
        .plan(&seg.options(&self.plan_options))
    }

    /// The circuit for segment `i`'s keys.
    pub fn keygen_circuit(&self, i: usize) -> Result<ModelCircuit, CircuitError> {
        let seg = self.segment(i)?;
        ModelCircuit::for_keygen(&seg.model, &seg.options(&self.plan_options))
    }

    /// Verifies a complete set of segment proofs: one per segment in chain order, each about
    /// its segment's sub-model, chained ([`Segmentation::check_chain`]), and each valid under
    /// its segment's verifying key (`vks[i]`) and the parameters for its `k`. Returns the
    /// model inputs and outputs the set attests.
    pub fn verify(
        &self,
        vks: &[ModelVk],
        params: &BTreeMap<u32, Params>,
        proofs: &[ProofFile],
    ) -> Result<(Vec<QTensor>, Vec<QTensor>), CircuitError> {
        if proofs.len() != self.segments.len() || vks.len() != self.segments.len() {
            return Err(CircuitError::InvalidPublic(format!(
                "{} proofs and {} keys for {} segments",
                proofs.len(),
                vks.len(),
                self.segments.len()
            )));
        }
        for (seg, proof) in self.segments.iter().zip(proofs) {
            if proof.model_digest != seg.digest {
                return Err(CircuitError::InvalidPublic(format!(
                    "proof {} is not about segment {} of this model",
                    seg.index, seg.index
                )));
            }
        }
        let publics: Vec<SegmentPublic<'_>> = proofs
            .iter()
            .map(|p| SegmentPublic {
                inputs: &p.inputs,
                outputs: &p.outputs,
                commitments: &p.commitments,
            })
            .collect();
        let io = self.check_chain(&publics)?;
        for ((seg, proof), vk) in self.segments.iter().zip(proofs).zip(vks) {
            let k = vk.circuit.k;
            let p = params.get(&k).ok_or(CircuitError::ParamsMismatch {
                expected: k,
                got: 0,
            })?;
            let instance = public_instance_with(
                &seg.model,
                &seg.commit,
                &proof.inputs,
                &proof.outputs,
                &proof.commitments,
            )?;
            prover::verify(p, vk, &instance, &proof.proof).map_err(|e| match e {
                CircuitError::Verification(inner) => CircuitError::InvalidPublic(format!(
                    "segment {}: proof does not verify ({inner})",
                    seg.index
                )),
                other => other,
            })?;
        }
        Ok(io)
    }

    /// Checks that the public values of all segments form one chain: as many as there are
    /// segments, in order; every segment input equal to the output of the segment that
    /// produces it, or to the model input; every model output produced. Returns the model
    /// inputs and outputs (in the model's order). Each proof must still be verified against
    /// its segment's key with these values ([`crate::public_instance`] on the segment model).
    pub fn check_chain(
        &self,
        publics: &[SegmentPublic<'_>],
    ) -> Result<(Vec<QTensor>, Vec<QTensor>), CircuitError> {
        let bad = |reason: String| CircuitError::InvalidPublic(reason);
        if publics.len() != self.segments.len() {
            return Err(bad(format!(
                "{} segment proofs, the model has {} segments",
                publics.len(),
                self.segments.len()
            )));
        }
        let mut produced: BTreeMap<usize, (usize, Shown<'_>)> = BTreeMap::new();
        let mut model_inputs: BTreeMap<usize, &QTensor> = BTreeMap::new();
        for (seg, p) in self.segments.iter().zip(publics) {
            let (shown_in, shown_out) = seg.shown(p)?;
            for (b, shown) in seg.inputs.iter().zip(shown_in) {
                if self.topo.kind[b.node] == Kind::Input {
                    let Shown::Values(t) = shown else {
                        return Err(bad(format!(
                            "segment {}: model input {} is not shown by value",
                            seg.index, b.name
                        )));
                    };
                    match model_inputs.get(&b.node) {
                        Some(&first) if first != t => {
                            return Err(bad(format!(
                                "segment {} reads model input {} with other values than an earlier segment",
                                seg.index, b.name
                            )));
                        }
                        Some(_) => {}
                        None => {
                            model_inputs.insert(b.node, t);
                        }
                    }
                    continue;
                }
                match produced.get(&b.node) {
                    Some(&(_, out)) if out.same(shown)? => {}
                    Some(&(j, _)) => {
                        return Err(bad(format!(
                            "segment {} input {} differs from segment {j}'s output",
                            seg.index, b.name
                        )));
                    }
                    None => {
                        return Err(bad(format!(
                            "segment {} reads {}, which no earlier segment produces",
                            seg.index, b.name
                        )));
                    }
                }
            }
            for (b, shown) in seg.outputs.iter().zip(shown_out) {
                produced.insert(b.node, (seg.index, shown));
            }
        }
        let g = &self.split.model.graph;
        let inputs = g
            .inputs
            .iter()
            .map(|i| {
                model_inputs.get(i).map(|&t| t.clone()).ok_or_else(|| {
                    bad(format!("no segment reads model input {}", g.nodes[*i].name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = g
            .outputs
            .iter()
            .map(|o| match produced.get(o) {
                Some(&(_, Shown::Values(t))) => Ok(t.clone()),
                Some(&(j, Shown::Digests(_))) => Err(bad(format!(
                    "segment {j} commits to model output {} instead of showing it",
                    g.nodes[*o].name
                ))),
                None => Err(bad(format!(
                    "no segment produces model output {}",
                    g.nodes[*o].name
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((inputs, outputs))
    }
}

/// What a segment proof is built from: the circuit, and what the proof file carries.
#[derive(Debug, Clone)]
pub struct SegmentProofInputs {
    /// The segment's circuit.
    pub circuit: ModelCircuit,
    /// Public input values (model inputs the segment reads).
    pub inputs: Vec<QTensor>,
    /// Public output values (model outputs the segment produces).
    pub outputs: Vec<QTensor>,
    /// Commitments to the other boundary tensors.
    pub commitments: Vec<Commitment>,
}

/// One witness per node of `model` from its node values.
pub fn op_witnesses<'m>(model: &'m QModel, values: &[QTensor]) -> Vec<OpWitness<'m>> {
    model
        .graph
        .nodes
        .iter()
        .map(|node| OpWitness {
            node,
            inputs: node.inputs.iter().map(|&i| values[i].clone()).collect(),
            output: values[node.id].clone(),
        })
        .collect()
}

/// The cost of every real op, probed alone (as a one-op segment).
fn op_costs(
    model: &QModel,
    topo: &Topology,
    budget: &Budget<'_>,
) -> Result<BTreeMap<usize, OpCost>, CircuitError> {
    let mut costs = BTreeMap::new();
    for &r in &topo.order {
        let members = BTreeSet::from([r]);
        let ex = extract(model, topo, &members, String::new());
        let demand = lower(&ex.model, &BTreeSet::new(), false)?.demand;
        let last = demand.ops.last().cloned().unwrap_or(OpDemand::None);
        let mut cost = OpCost {
            macs: macs_of(&last),
            demand: last,
            consts: demand.consts - 1,
            lut_entries: demand.lut_entries.unwrap_or(0),
            cost: 0,
        };
        let (ins, outs) = sides(model, topo, &members);
        let (d, macs) = assemble(&[&cost], &ins, &outs);
        let node = &model.graph.nodes[r];
        let report = budget.fits(&d, macs).ok_or_else(|| {
            invalid(
                r,
                format!(
                    "{}: this op alone does not fit {} ({} public values); allow more memory or a larger k",
                    node.name,
                    budget.describe(),
                    d.instance_len
                ),
            )
        })?;
        cost.cost = report.cost;
        costs.insert(r, cost);
    }
    Ok(costs)
}

fn estimate(
    model: &QModel,
    topo: &Topology,
    costs: &BTreeMap<usize, OpCost>,
    budget: &Budget<'_>,
    members: &BTreeSet<usize>,
) -> Option<SegmentEstimate> {
    let (ins, outs) = sides(model, topo, members);
    let list: Vec<&OpCost> = members.iter().map(|r| &costs[r]).collect();
    let (demand, macs) = assemble(&list, &ins, &outs);
    let report = budget.fits(&demand, macs)?;
    Some(SegmentEstimate {
        k: report.params.k,
        main_rows: report.main_rows,
        advice_columns: report.advice_columns,
        macs,
        cost: report.cost,
        memory_bytes: memory::estimate_bytes(&report, macs),
    })
}

/// Greedy packing of the schedule: extend the current segment while it fits (and, with
/// `cap`, while the sum of its ops' costs stays within `cap`).
fn pack(
    model: &QModel,
    topo: &Topology,
    costs: &BTreeMap<usize, OpCost>,
    budget: &Budget<'_>,
    cap: Option<u64>,
) -> Result<Vec<(Range<usize>, SegmentEstimate)>, CircuitError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut members = BTreeSet::new();
    let mut weight = 0u64;
    let mut current: Option<SegmentEstimate> = None;
    for (pos, &r) in topo.order.iter().enumerate() {
        members.insert(r);
        let w = weight + costs[&r].cost;
        let within_cap = cap.is_none_or(|c| w <= c);
        let next = if within_cap || members.len() == 1 {
            estimate(model, topo, costs, budget, &members)
        } else {
            None
        };
        if let Some(e) = next {
            current = Some(e);
            weight = w;
            continue;
        }
        members.remove(&r);
        let e = current.take().ok_or_else(|| {
            invalid(
                r,
                format!(
                    "{}: this op alone does not fit {}",
                    model.graph.nodes[r].name,
                    budget.describe()
                ),
            )
        })?;
        out.push((start..pos, e));
        start = pos;
        members = BTreeSet::from([r]);
        weight = costs[&r].cost;
        current = Some(
            estimate(model, topo, costs, budget, &members).ok_or_else(|| {
                invalid(
                    r,
                    format!(
                        "{}: this op alone does not fit {}",
                        model.graph.nodes[r].name,
                        budget.describe()
                    ),
                )
            })?,
        );
    }
    if let Some(e) = current {
        out.push((start..topo.order.len(), e));
    }
    Ok(out)
}

/// Packing into about `n` segments of balanced cost: the smallest cost cap whose greedy
/// packing has at most `n` segments.
fn pack_count(
    model: &QModel,
    topo: &Topology,
    costs: &BTreeMap<usize, OpCost>,
    budget: &Budget<'_>,
    n: usize,
) -> Result<Vec<(Range<usize>, SegmentEstimate)>, CircuitError> {
    let unlimited = pack(model, topo, costs, budget, None)?;
    if n <= unlimited.len() {
        return Ok(unlimited);
    }
    let total: u64 = costs.values().map(|c| c.cost).sum();
    let (mut lo, mut hi) = (
        costs.values().map(|c| c.cost).max().unwrap_or(0),
        total.max(1),
    );
    let mut best = unlimited;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let p = pack(model, topo, costs, budget, Some(mid))?;
        if p.len() <= n {
            hi = mid;
            best = p;
        } else {
            lo = mid + 1;
        }
    }
    if best.len() > n || lo == hi {
        let p = pack(model, topo, costs, budget, Some(lo))?;
        if p.len() <= n {
            best = p;
        }
    }
    Ok(best)
}
