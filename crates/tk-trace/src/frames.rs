//! The frames of a trace: header, input frames, records, footer (see the format spec).

use serde::{Deserialize, Serialize};
use tk_quant::QModel;
use tk_quant::ops::QOp;

use crate::params::Params;
use crate::tensor::TraceTensor;

/// The `kind` key every frame carries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// [`Header`].
    Header,
    /// [`InputFrame`].
    Input,
    /// [`Record`].
    Record,
    /// [`Footer`].
    Footer,
}

/// First frame: what produced the trace, from which model, and the model's graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`Kind::Header`].
    pub kind: Kind,
    /// Major format version; equals the one after the magic.
    pub format_version: u32,
    /// Minor format version.
    pub format_minor: u32,
    /// Free-form producer string, e.g. `tachikoma tk-trace 0.1.0`.
    pub producer: String,
    /// Lowercase hex SHA-256 of the `.tkq` file the trace was produced from.
    pub model_digest: String,
    /// Version of the integer standard (`docs/spec/integer-ops.md`).
    pub spec_version: u32,
    /// Summary of the model's graph.
    pub graph: GraphSummary,
}

/// The model's graph as recorded in the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphSummary {
    /// Ids of the `Input` nodes; `{input: i}` references `inputs[i]`.
    pub inputs: Vec<u64>,
    /// Ids of the output nodes.
    pub outputs: Vec<u64>,
    /// Every node, in id order.
    pub nodes: Vec<NodeSummary>,
}

/// One node of the graph summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSummary {
    /// Node id (its position).
    pub id: u64,
    /// ONNX (or derived) node name.
    pub name: String,
    /// Op name (`Conv`, `Clip`, ...).
    pub op: String,
    /// Output shape.
    pub shape: Vec<u64>,
    /// Output bit width.
    pub bits: u8,
    /// Producer node ids.
    pub inputs: Vec<u64>,
    /// Scalar parameters.
    pub params: Params,
    /// Real scale of the output, when the model records one (metadata only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
}

/// The value of one model input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFrame {
    /// Always [`Kind::Input`].
    pub kind: Kind,
    /// Position in `graph.inputs`.
    pub input: u64,
    /// The `Input` node's id.
    pub node: u64,
    /// The value.
    pub tensor: TraceTensor,
}

/// Where a record's input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputRef {
    /// The output of an earlier record, by index.
    Record(u64),
    /// Model input `i` (an earlier input frame).
    Input(u64),
    /// A `Const` node of the model, by node id.
    Const(u64),
}

/// Metadata of a record's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Output bit width.
    pub bits: u8,
    /// Real scale of the output, when the model records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
}

/// One executed op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Always [`Kind::Record`].
    pub kind: Kind,
    /// Position among records, from 0.
    pub index: u64,
    /// Id of the model node.
    pub node: u64,
    /// The node's name.
    pub onnx_name: String,
    /// Op name.
    pub op: String,
    /// One reference per node input, in order.
    pub inputs: Vec<InputRef>,
    /// The output value.
    pub output: TraceTensor,
    /// Scalar parameters; large constants by reference.
    pub params: Params,
    /// Output metadata.
    pub meta: Meta,
}

/// Last frame: counts and a digest of everything before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footer {
    /// Always [`Kind::Footer`].
    pub kind: Kind,
    /// Number of records.
    pub record_count: u64,
    /// Number of input frames.
    pub input_count: u64,
    /// Lowercase hex SHA-256 of every byte of the file before the footer's length prefix.
    pub digest: String,
}

/// Frames a [`crate::TraceReader`] yields between header and footer.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A model input's value.
    Input(InputFrame),
    /// An executed op (boxed: a record is much larger than an input frame).
    Record(Box<Record>),
}

/// Only the `kind` key, to dispatch a frame before decoding it fully.
#[derive(Deserialize)]
pub(crate) struct Probe {
    pub kind: Kind,
}

impl GraphSummary {
    /// The summary of a model's graph.
    pub fn of(model: &QModel) -> GraphSummary {
        let ids = |v: &[usize]| v.iter().map(|&i| i as u64).collect::<Vec<u64>>();
        let mut scales = vec![None; model.graph.nodes.len()];
        for s in &model.scales {
            if let Some(slot) = scales.get_mut(s.node) {
                *slot = Some(s.scale);
            }
        }
        GraphSummary {
            inputs: ids(&model.graph.inputs),
            outputs: ids(&model.graph.outputs),
            nodes: model
                .graph
                .nodes
                .iter()
                .map(|n| NodeSummary {
                    id: n.id as u64,
                    name: n.name.clone(),
                    op: n.op.name().to_string(),
                    shape: ids(&n.shape),
                    bits: n.bits,
                    inputs: ids(&n.inputs),
                    params: Params::of(&n.op, n.id),
                    scale: scales.get(n.id).copied().flatten(),
                })
                .collect(),
        }
    }
}

/// Whether an op produces a record (everything but `Input` and `Const`).
pub(crate) fn is_recorded(op: &QOp) -> bool {
    !matches!(op, QOp::Input(_) | QOp::Const(_))
}
