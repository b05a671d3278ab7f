//! `tk-quant`: turns a float [`tk_ir::Graph`] into an integer-only [`QModel`].
//!
//! Owns calibration, scale selection, the staged conversion (float -> sim -> clip -> round ->
//! quantized), import of already-quantized ONNX (QDQ, QLinear*), and the `.tkq` file format.
//! The integer semantics of every op are fixed by `docs/spec/integer-ops.md`; the op
//! parameter types are in [`ops`].
#![deny(missing_docs)]

mod model;
pub mod ops;

pub use model::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
