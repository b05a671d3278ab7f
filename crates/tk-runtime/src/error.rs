//! The runtime's error type.

use crate::observer::ObserverError;

/// Everything that can go wrong while checking a model or executing it.
///
/// Variants name the node (its id in the graph) and the offending quantity; no variant is a
/// bare string.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model was produced for an integer standard this runtime does not implement.
    #[error(
        "model follows integer spec version {found}, this runtime implements versions up to {supported}"
    )]
    SpecVersion {
        /// Version found in the model.
        found: u32,
        /// Newest version implemented here (every older one is read too).
        supported: u32,
    },
    /// `tk_quant::QModel::validate` rejected the model (shapes, parameters, worst-case
    /// accumulator bounds, scales, ...).
    #[error("invalid model")]
    InvalidModel(#[source] Box<tk_quant::QuantError>),
    /// A node's id differs from its position in the node list.
    #[error("node at position {position} has id {id}")]
    NodeId {
        /// Position in `graph.nodes`.
        position: usize,
        /// The id it carries.
        id: usize,
    },
    /// A node reads a node that does not precede it.
    #[error("node {node} reads node {input}, which does not precede it")]
    ForwardEdge {
        /// Reading node.
        node: usize,
        /// Referenced producer id.
        input: usize,
    },
    /// A node's output bit width is outside `2..=16`.
    #[error("node {node} has bit width {bits}, expected 2..=16")]
    Bits {
        /// Node id.
        node: usize,
        /// Declared bit width.
        bits: u8,
    },
    /// An entry of `graph.inputs` is not an `Input` node, or an `Input` node is not listed.
    #[error("graph input list is inconsistent at node {node}")]
    GraphInput {
        /// Offending node id.
        node: usize,
    },
    /// An entry of `graph.outputs` names no node.
    #[error("graph output {position} names missing node {node}")]
    GraphOutput {
        /// Position in `graph.outputs`.
        position: usize,
        /// Referenced id.
        node: usize,
    },
    /// The caller supplied the wrong number of model inputs.
    #[error("model takes {expected} inputs, got {got}")]
    InputCount {
        /// Number of `Input` nodes.
        expected: usize,
        /// Number of tensors supplied.
        got: usize,
    },
    /// A tensor's data length differs from the product of its shape.
    #[error("node {node}: tensor of shape {shape:?} holds {len} elements")]
    MalformedTensor {
        /// Node id the tensor belongs to or is read by.
        node: usize,
        /// Declared shape.
        shape: Vec<usize>,
        /// Actual element count.
        len: usize,
    },
    /// A shape's element count overflows `usize`.
    #[error("node {node}: shape {shape:?} is too large")]
    TensorTooLarge {
        /// Node id.
        node: usize,
        /// The shape.
        shape: Vec<usize>,
    },
    /// A node received the wrong number of inputs for its op.
    #[error("node {node} ({op}) takes {expected} inputs, got {got}")]
    Arity {
        /// Node id.
        node: usize,
        /// Op name.
        op: &'static str,
        /// Expected count (for `Concat`: at least this many).
        expected: usize,
        /// Actual count.
        got: usize,
    },
    /// An input tensor's shape is not acceptable for the op.
    #[error("node {node} ({op}): input {input} has shape {shape:?}: {reason}")]
    InputShape {
        /// Node id.
        node: usize,
        /// Op name.
        op: &'static str,
        /// Input position.
        input: usize,
        /// The shape received.
        shape: Vec<usize>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The output shape the op computes differs from the node's declared shape.
    #[error("node {node} ({op}): computed shape {computed:?}, node declares {declared:?}")]
    OutputShape {
        /// Node id.
        node: usize,
        /// Op name.
        op: &'static str,
        /// Shape the kernel derives from its inputs and parameters.
        computed: Vec<usize>,
        /// `QNode::shape`.
        declared: Vec<usize>,
    },
    /// An op parameter violates the integer standard.
    #[error("node {node} ({op}): parameter `{param}` {reason}")]
    Param {
        /// Node id.
        node: usize,
        /// Op name.
        op: &'static str,
        /// Parameter name as in `tk_quant::ops`.
        param: &'static str,
        /// The violated rule.
        reason: &'static str,
    },
    /// An element lies outside the range its bit width allows.
    #[error("node {node}: element {index} is {value}, outside [{lo}, {hi}]")]
    OutOfRange {
        /// Node id whose tensor holds the element.
        node: usize,
        /// Flat index of the element.
        index: usize,
        /// The value.
        value: i64,
        /// Lower bound.
        lo: i64,
        /// Upper bound.
        hi: i64,
    },
    /// An input element is outside the domain the op accepts (e.g. a `Lut` index).
    #[error("node {node}: input {input} element {index} is {value}, outside [{lo}, {hi}]")]
    InputOutOfRange {
        /// Node id.
        node: usize,
        /// Input position.
        input: usize,
        /// Flat index of the element.
        index: usize,
        /// The value.
        value: i64,
        /// Lower bound of the domain.
        lo: i64,
        /// Upper bound of the domain.
        hi: i64,
    },
    /// An accumulator reached `2^40` in magnitude (spec section 1).
    #[error("node {node}: accumulator {acc} at output element {index} exceeds 2^40")]
    AccumulatorOverflow {
        /// Node id.
        node: usize,
        /// Flat output index.
        index: usize,
        /// The accumulator value.
        acc: i128,
    },
    /// A pooling window contains no in-bounds position.
    #[error("node {node}: pooling window of output element {index} is empty")]
    EmptyWindow {
        /// Node id.
        node: usize,
        /// Flat output index.
        index: usize,
    },
    /// `execute_node` was asked to execute an `Input` node.
    #[error("node {node} is a model input and has no kernel")]
    NotExecutable {
        /// Node id.
        node: usize,
    },
    /// The observer refused an event; execution stopped after that node.
    #[error("observer failed at node {node}")]
    Observer {
        /// Node id of the event.
        node: usize,
        /// The observer's error.
        #[source]
        source: ObserverError,
    },
}
