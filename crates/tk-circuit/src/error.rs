//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong while building, keying, proving or verifying a circuit.
#[derive(Debug, Error)]
pub enum CircuitError {
    /// The model contains an operator this version of the circuit cannot prove.
    #[error("node {node}: operator {op} is not supported by the circuit")]
    UnsupportedOp {
        /// Operator name.
        op: &'static str,
        /// Node id.
        node: usize,
    },
    /// The model's parameters violate a bound the circuit relies on.
    #[error("node {node}: {reason}")]
    InvalidModel {
        /// Node id.
        node: usize,
        /// What is wrong.
        reason: String,
    },
    /// The op witnesses do not match the model (missing node, wrong shape, ...).
    #[error("witness for node {node}: {reason}")]
    InvalidWitness {
        /// Node id.
        node: usize,
        /// What is wrong.
        reason: String,
    },
    /// A witness value differs from the value the integer standard prescribes.
    #[error(
        "node {node} element {index}: witness holds {claimed}, the integer standard gives {expected}"
    )]
    WitnessMismatch {
        /// Node id.
        node: usize,
        /// Flat index of the element in the node's output.
        index: usize,
        /// Value found in the witness.
        claimed: i64,
        /// Value recomputed from the op's inputs.
        expected: i64,
    },
    /// No layout fits in the largest allowed number of rows.
    #[error("the model needs {rows} rows, more than 2^{max_k} allows")]
    TooLarge {
        /// Rows the smallest layout needs.
        rows: usize,
        /// Largest `k` tried.
        max_k: u32,
    },
    /// The public input or output has the wrong length or an out-of-range element.
    #[error("public values: {0}")]
    InvalidPublic(String),
    /// A serialized key, proof or parameter file is malformed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which artefact.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Key and parameters do not belong together.
    #[error("key expects k = {expected}, parameters have k = {got}")]
    ParamsMismatch {
        /// `k` of the key.
        expected: u32,
        /// `k` of the parameters.
        got: u32,
    },
    /// A bug: the planner and the layout disagree.
    #[error("internal error: {0}")]
    Internal(String),
    /// The proving key was generated for a circuit of another shape.
    #[error("the key was generated for another circuit shape")]
    KeyMismatch,
    /// The proof does not verify.
    #[error("proof does not verify: {0}")]
    Verification(halo2_axiom::plonk::Error),
    /// An error reported by halo2 during keygen or proving.
    #[error("halo2: {0}")]
    Halo2(#[from] halo2_axiom::plonk::Error),
    /// The trace could not be read.
    #[error("trace: {0}")]
    Trace(#[from] tk_trace::TraceError),
    /// The trace does not belong to the model (digest, nodes or references differ).
    #[error("trace does not match the model: {0}")]
    TraceMismatch(String),
    /// Reading or writing a file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding the circuit parameters failed.
    #[error("encoding circuit parameters: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// Decoding the circuit parameters failed.
    #[error("decoding circuit parameters: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}
