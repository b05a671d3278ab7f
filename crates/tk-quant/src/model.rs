//! The quantized model: an integer graph plus the metadata needed to read its outputs.

use serde::{Deserialize, Serialize};

use crate::ops::QOp;

/// Version of `docs/spec/integer-ops.md` this crate implements.
pub const INTEGER_SPEC_VERSION: u32 = 1;

/// A dense signed integer tensor, row-major.
///
/// **Invariant:** `data.len()` equals the product of `shape` (checked by [`QTensor::new`]
/// and by [`QModel::validate`] after loading).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements.
    pub data: Vec<i32>,
}

impl QTensor {
    /// A tensor, or `None` when the data length does not match the shape.
    pub fn new(shape: Vec<usize>, data: Vec<i32>) -> Option<QTensor> {
        let volume = tk_ir::checked_volume(&shape).ok()?;
        (volume == data.len()).then_some(QTensor { shape, data })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Option<QTensor> {
        let volume = tk_ir::checked_volume(&shape).ok()?;
        Some(QTensor { shape, data: vec![0; volume] })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// One integer operation of the quantized graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QNode {
    /// Index in [`QGraph::nodes`].
    pub id: usize,
    /// Name of the ONNX node this op implements (or a derived name such as `conv1/rescale`).
    pub name: String,
    /// Id of the float IR node it came from, when there is one.
    pub ir_node: Option<usize>,
    /// The operation and its integer parameters.
    pub op: QOp,
    /// Producers, all with smaller ids.
    pub inputs: Vec<usize>,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Output bit width `b`: every output element lies in `[-2^(b-1), 2^(b-1) - 1]`.
    pub bits: u8,
}

impl QNode {
    /// Smallest value the output may hold.
    pub fn lo(&self) -> i32 {
        -(1i32 << (self.bits - 1))
    }

    /// Largest value the output may hold.
    pub fn hi(&self) -> i32 {
        (1i32 << (self.bits - 1)) - 1
    }
}

/// The integer graph, topologically ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QGraph {
    /// Nodes in execution order.
    pub nodes: Vec<QNode>,
    /// Ids of the input nodes.
    pub inputs: Vec<usize>,
    /// Ids of the output nodes.
    pub outputs: Vec<usize>,
}

/// Real-valued scale of a node's output (metadata for quantizing inputs and reading outputs;
/// never used by integer semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeScale {
    /// Node id.
    pub node: usize,
    /// `real = q * scale`.
    pub scale: f32,
}

/// A quantized model as stored in a `.tkq` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QModel {
    /// Version of the integer standard the graph follows.
    pub spec_version: u32,
    /// Free-form producer string (`tachikoma 0.1.0`).
    pub producer: String,
    /// Hex SHA-256 of the source ONNX file.
    pub source_digest: String,
    /// The integer graph.
    pub graph: QGraph,
    /// Scales of the inputs, outputs and any other node that has one.
    pub scales: Vec<NodeScale>,
}
