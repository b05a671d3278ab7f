//! `tk-quant`: turns a float [`tk_ir::Graph`] into an integer-only [`QModel`].
//!
//! Owns calibration ([`calibrate`]), graph folding ([`fold`]), scale selection, the staged
//! conversion (float -> sim -> clip -> round -> quantized, [`stages`]) with one rule per float
//! op, import of pre-quantized QDQ models (their `QuantizeLinear -> DequantizeLinear` pairs
//! fix scales instead of calibration), the `.tkq` file format ([`file`](mod@file)) and a reference
//! interpreter ([`reference`](mod@reference)). The integer semantics of every op are fixed by
//! `docs/spec/integer-ops.md`; the op parameter types are in [`ops`].
//!
//! Invariants:
//! - a [`QModel`] returned by [`quantize`] or [`file::load`] has passed [`QModel::validate`];
//!   code that runs a model relies on that and nothing else;
//! - floats are used to *choose* integer parameters only; integer semantics never depend on a
//!   stored float (scales in [`QModel::scales`] are metadata for reading values).
//!
//! ```no_run
//! use tk_quant::{QuantOptions, quantize, reference};
//! # fn demo(graph: &tk_ir::Graph, calib: tk_ir::Tensor, x: tk_ir::Tensor) -> Result<(), tk_quant::QuantError> {
//! let q = quantize(graph, &[calib], &QuantOptions::default())?;
//! tk_quant::file::save(&q.model, "model.tkq")?;
//! let inputs = tk_quant::quantize_inputs(&q.model, &[x])?;
//! let outputs = reference::run(&q.model, &inputs)?;
//! let logits = tk_quant::dequantize_outputs(&q.model, &outputs)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod calibrate;
mod convert;
mod error;
pub mod file;
pub mod fold;
mod fuse;
pub mod metrics;
pub mod mixed;
mod model;
pub mod ops;
pub mod reference;
mod requant;
mod rules;
mod scales;
pub mod stages;
mod validate;

pub use calibrate::Calibration;
pub use convert::{QuantOptions, Quantized, quantize};
pub use error::{QuantError, QuantResult};
pub use fuse::fuse_clamps;
pub use mixed::Mixed;
pub use model::{
    INTEGER_SPEC_VERSION, NodeScale, OLDEST_INTEGER_SPEC_VERSION, QGraph, QModel, QNode, QTensor,
    dequantize_outputs, quantize_inputs,
};
pub use requant::{add_multipliers, quantize_multiplier, quantize_value, round_half_up};
pub use scales::ActScale;
pub use stages::{Stage, StageGraphs};
pub use validate::{MAX_NODES, MAX_RANK, MAX_TOTAL_ELEMENTS};
