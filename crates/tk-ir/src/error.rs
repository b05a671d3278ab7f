//! The one error type of `tk-ir`.

use std::path::PathBuf;

/// A failure of an operator's own checks, before the graph adds node context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

impl OpError {
    /// Builds an error from anything printable.
    pub fn new(message: impl Into<String>) -> Self {
        OpError(message.into())
    }
}

/// Shorthand for returning an [`OpError`] with a formatted message.
#[macro_export]
macro_rules! op_bail {
    ($($arg:tt)*) => {
        return Err($crate::OpError::new(format!($($arg)*)))
    };
}

/// Everything that can go wrong while building, importing or evaluating a graph.
#[derive(Debug, thiserror::Error)]
pub enum IrError {
    /// An operator rejected its inputs (shape, dtype or attribute problem).
    #[error("node {node:?} ({op}): {source}")]
    Node {
        /// Name of the offending node.
        node: String,
        /// Operator name.
        op: &'static str,
        /// What the operator said.
        #[source]
        source: OpError,
    },
    /// The ONNX model uses an operator tachikoma does not support.
    #[error("unsupported op {op} at node {node:?}")]
    UnsupportedOp {
        /// ONNX op type.
        op: String,
        /// ONNX node name.
        node: String,
    },
    /// A supported ONNX op uses a feature outside tachikoma's subset: an attribute value, a
    /// mode, a non-constant parameter, an output or a data type the float IR does not model.
    #[error("node {node:?} ({op}): unsupported {feature}")]
    Unsupported {
        /// ONNX op type.
        op: String,
        /// ONNX node name.
        node: String,
        /// What is not supported, e.g. `mode "linear"`.
        feature: String,
    },
    /// An ONNX node violates the ONNX specification: a missing input, an attribute of the wrong
    /// type or an out-of-range value.
    #[error("node {node:?} ({op}): invalid: {reason}")]
    InvalidNode {
        /// ONNX op type.
        op: String,
        /// ONNX node name.
        node: String,
        /// What is wrong.
        reason: String,
    },
    /// A serialized tensor is inconsistent: data length versus dims, bad dims, external data.
    #[error("invalid tensor {name:?}: {reason}")]
    InvalidTensor {
        /// Tensor name (may be empty).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An edge refers to a node or slot that does not exist (or comes later).
    #[error("dangling edge: node {node:?} input {input} refers to {target}")]
    DanglingEdge {
        /// Name of the consuming node.
        node: String,
        /// Index of the input.
        input: usize,
        /// The missing producer (name or outlet).
        target: String,
    },
    /// The model file could not be parsed.
    #[error("malformed model {path}: {reason}")]
    Malformed {
        /// File that was read.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A size or count exceeds a hard limit.
    #[error("limit exceeded: {what} is {got}, at most {max} allowed")]
    Limit {
        /// What was counted.
        what: String,
        /// The value found.
        got: u128,
        /// The limit.
        max: u128,
    },
    /// A value fed to the graph has the wrong shape or dtype.
    #[error("input {name:?}: expected {expected}, got {got}")]
    InputMismatch {
        /// Graph input name.
        name: String,
        /// Expected fact.
        expected: String,
        /// What was given.
        got: String,
    },
    /// A `.npy` file is malformed or holds an unsupported dtype.
    #[error("bad npy file {path}: {reason}")]
    Npy {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result type of `tk-ir`.
pub type IrResult<T> = Result<T, IrError>;
