//! `tk-ir`: the graph IR of tachikoma.
//!
//! Owns tensors and their static [`Fact`]s, the [`Graph`] of [`Node`]s, the float operators
//! ([`ops`]), ONNX import ([`onnx`], through `tract-onnx`'s parser) and the float reference
//! evaluator ([`eval`]).
//!
//! Invariants:
//! - a [`Graph`] is always topologically ordered and every node's fact is the one its op
//!   infers: shapes are checked when nodes are added, never first at evaluation;
//! - nothing in this crate panics on untrusted input: every loader returns an [`IrError`].
//!
//! ```
//! use tk_ir::prelude::*;
//! let mut g = Graph::new();
//! let x = g.add_input("x", Fact::f32([1, 3])).unwrap();
//! let y = g.add_node("relu", Relu.into(), &[x]).unwrap();
//! g.add_output("y", y).unwrap();
//! let x = Tensor::from_f32(&[1, 3], vec![-1.0, 0.5, 2.0]).unwrap();
//! let out = tk_ir::eval::eval(&g, &[x]).unwrap();
//! assert_eq!(out[0].as_f32().unwrap().as_slice().unwrap(), &[0.0, 0.5, 2.0]);
//! ```
#![deny(missing_docs)]

mod error;
pub mod eval;
mod graph;
pub mod limits;
pub mod npy;
pub mod onnx;
pub mod ops;
mod tensor;

pub use error::{IrError, IrResult, OpError};
pub use graph::{Graph, Node, OutletId};
pub use tensor::{DType, Fact, Tensor, checked_volume};

/// What a user of the crate needs.
pub mod prelude {
    pub use crate::onnx::{ImportOptions, Model, import_onnx, import_onnx_bytes};
    pub use crate::ops::*;
    pub use crate::{DType, Fact, Graph, IrError, IrResult, Node, OutletId, Tensor};
}
