//! The one error type of `tk-quant`.

use std::path::PathBuf;

/// Everything that can go wrong while calibrating, converting, validating, storing or
/// interpreting a quantized model.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The float graph could not be built or evaluated.
    #[error(transparent)]
    Ir(#[from] tk_ir::IrError),
    /// A float operator rejected its values while folding or calibrating.
    #[error(transparent)]
    Op(#[from] tk_ir::OpError),
    /// The float graph uses an operator (or an operator form) the quantizer cannot map.
    #[error("cannot quantize node {node:?} ({op}): {reason}")]
    Unsupported {
        /// Name of the float node.
        node: String,
        /// Operator name.
        op: &'static str,
        /// Why the node cannot be mapped onto the integer standard.
        reason: String,
    },
    /// A value needed by the integer standard does not fit its integer type.
    #[error("node {node:?}: {what} is {value}, which exceeds {bound}")]
    Overflow {
        /// Name of the float node being converted.
        node: String,
        /// What overflowed (`bias`, `accumulator bound`, ...).
        what: &'static str,
        /// The offending value.
        value: String,
        /// The bound it must respect.
        bound: String,
    },
    /// A real requantization ratio cannot be represented as `M / 2^s` with `1 <= M < 2^31`,
    /// `0 <= s <= 62`.
    #[error("requantization ratio {ratio} cannot be represented as M / 2^s")]
    Multiplier {
        /// The ratio.
        ratio: f64,
    },
    /// Calibration data does not fit the graph.
    #[error("calibration: {reason}")]
    Calibration {
        /// What was wrong.
        reason: String,
    },
    /// Invalid options.
    #[error("invalid option {option}: {reason}")]
    Options {
        /// Option name.
        option: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A value fed to (or read from) a quantized model has the wrong count, shape or range.
    #[error("value {index}: {reason}")]
    Value {
        /// Index of the input or output.
        index: usize,
        /// What was wrong.
        reason: String,
    },
    /// A quantized node breaks the integer standard or is inconsistent with its inputs.
    #[error("invalid node {node} ({op}): {reason}")]
    InvalidNode {
        /// Node id.
        node: usize,
        /// Operator name.
        op: &'static str,
        /// The violated rule.
        reason: String,
    },
    /// The quantized model as a whole is malformed (ids, edges, versions, scales).
    #[error("invalid model: {reason}")]
    InvalidModel {
        /// The violated rule.
        reason: String,
    },
    /// A `.tkq` file does not start with the `.tkq` magic bytes.
    #[error("not a .tkq file (bad magic bytes)")]
    BadMagic,
    /// A `.tkq` file of a format version this build does not read.
    #[error("unsupported .tkq format version {got} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        got: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A `.tkq` file is larger than [`crate::file::MAX_FILE_BYTES`].
    #[error("file of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// File size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A `.tkq` file is truncated or holds bytes after the model.
    #[error("malformed .tkq: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// The MessagePack body of a `.tkq` file does not decode.
    #[error("cannot decode .tkq body: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The model could not be encoded.
    #[error("cannot encode .tkq body: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// Reading or writing a file failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result type of `tk-quant`.
pub type QuantResult<T> = Result<T, QuantError>;
