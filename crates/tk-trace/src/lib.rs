//! `tk-trace`: the tachikoma trace format (`.tkt`), its streaming writer and reader, and the
//! op-by-op checker.
//!
//! A trace records one integer inference of a quantized model: the model inputs, then one
//! record per computed node (its output tensor, references to the values it read, its scalar
//! parameters), framed as length-delimited MessagePack maps with named keys so any generic
//! MessagePack library can read it. The format is specified in `docs/spec/trace-format.md`.
//!
//! **Architecture invariants:**
//! - tk-trace does not depend on halo2: the format is independent of any proof system.
//! - Same model, digest and inputs give byte-identical traces.
//! - Reading never panics: every malformed input is a [`TraceError`] or a [`CheckError`].
//!
//! ```
//! use tk_quant::ops::{Clip, Input, QOp};
//! use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
//! use tk_trace::{ModelDigest, TraceReader, check, write_trace};
//!
//! let node = |id, op, inputs: Vec<usize>| QNode {
//!     id, name: format!("n{id}"), ir_node: None, op, inputs, shape: vec![4], bits: 8,
//! };
//! let model = QModel {
//!     spec_version: INTEGER_SPEC_VERSION,
//!     producer: "doc".into(),
//!     source_digest: String::new(),
//!     graph: QGraph {
//!         nodes: vec![node(0, QOp::Input(Input {}), vec![]), node(1, QOp::Clip(Clip { lo: 0, hi: 127 }), vec![0])],
//!         inputs: vec![0],
//!         outputs: vec![1],
//!     },
//!     scales: vec![NodeScale { node: 0, scale: 0.5 }, NodeScale { node: 1, scale: 0.5 }],
//! };
//! let digest = ModelDigest::of_bytes(b"the .tkq file's bytes");
//! let x = QTensor::new(vec![4], vec![-3, 0, 5, 127]).unwrap();
//! let (outputs, bytes) = write_trace(&model, &digest, &[x], Vec::new())?;
//! assert_eq!(outputs[0].data, vec![0, 0, 5, 127]);
//! let report = check(TraceReader::new(bytes.as_slice())?, &model, &digest)?;
//! assert_eq!(report.records, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod check;
mod digest;
mod error;
mod format;
mod frames;
mod hashing;
mod layout;
mod params;
mod plan;
mod reader;
mod tensor;
mod writer;

pub use check::{CheckError, CheckFailure, CheckReport, check};
pub use digest::ModelDigest;
pub use error::TraceError;
pub use format::{FORMAT_MAJOR, FORMAT_MINOR, Limits, MAGIC};
pub use frames::{
    Footer, Frame, GraphSummary, Header, InputFrame, InputRef, Kind, Meta, NodeSummary, Record,
};
pub use params::Params;
pub use plan::TracePlan;
pub use reader::TraceReader;
pub use tensor::{Dtype, TraceTensor};
pub use writer::TraceWriter;

use std::io::Write;

use tk_quant::{QModel, QTensor};
use tk_runtime::{Runtime, RuntimeError};

/// Errors of [`write_trace`]: the run or the writing failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteTraceError {
    /// The model was rejected or an op failed (observer failures carry the
    /// [`TraceError`] as their source).
    #[error("inference failed")]
    Runtime(#[from] RuntimeError),
    /// Writing the header or footer failed.
    #[error("writing the trace failed")]
    Trace(#[from] TraceError),
}

/// Runs `model` on `inputs` while writing its trace to `out`; returns the model outputs and
/// the writer. `model_digest` is the SHA-256 of the model's `.tkq` bytes.
pub fn write_trace<W: Write + Send>(
    model: &QModel,
    model_digest: &ModelDigest,
    inputs: &[QTensor],
    out: W,
) -> Result<(Vec<QTensor>, W), WriteTraceError> {
    let runtime = Runtime::new(model)?;
    let mut writer = TraceWriter::new(out, model, model_digest)?;
    let outputs = runtime.run_observed(inputs, &mut writer)?;
    Ok((outputs, writer.finish()?))
}

/// Everything a user of the trace crate needs.
pub mod prelude {
    pub use crate::{
        CheckError, CheckReport, Frame, ModelDigest, Record, TraceError, TracePlan, TraceReader,
        TraceWriter, check, write_trace,
    };
}
