//! `tk-runtime`: executes a quantized [`tk_quant::QModel`] with integer arithmetic only.
//!
//! Every kernel implements `docs/spec/integer-ops.md` bit for bit: exact products and sums
//! (accumulators chosen wide enough that nothing wraps), round half up, clamps, and the
//! `|acc| < 2^40` bound verified on every accumulator. One kernel per op lives in
//! `src/kernels/<op>.rs` (or `src/kernels/<op>/` when it has several paths, as `conv/`), named
//! like `tk-quant/src/ops/<op>.rs`.
//!
//! **Architecture invariants:**
//! - tk-runtime never touches floats: no float type, literal or cast appears in its sources
//!   (a test greps for them).
//! - Outputs are bit-identical whatever the rayon thread count: every output element is one
//!   sequential integer sum and work splits never decide values.
//! - Nothing panics on a malformed model or input: every rule is checked and reported as a
//!   [`RuntimeError`].
//!
//! ```
//! use tk_quant::ops::{Clip, QOp};
//! use tk_quant::{QNode, QTensor};
//! use tk_runtime::execute_node;
//!
//! // One node of a model: a Relu (Clip to [0, 127]) on an 8-bit tensor produced by node 0.
//! let relu = QNode {
//!     id: 1, name: "relu".into(), ir_node: None, op: QOp::Clip(Clip { lo: 0, hi: 127 }),
//!     inputs: vec![0], shape: vec![4], bits: 8,
//! };
//! let x = QTensor::new(vec![4], vec![-3, 0, 5, 127]).unwrap();
//! assert_eq!(execute_node(&relu, &[&x])?.data, vec![0, 0, 5, 127]);
//! # Ok::<(), tk_runtime::RuntimeError>(())
//! ```
//!
//! Whole models run with [`Runtime`]: `Runtime::new(&model)?.run(&inputs)?`.
#![deny(missing_docs)]

pub mod arith;
mod error;
mod kernels;
mod observer;
mod runtime;
pub mod simd;
mod validate;

pub use error::RuntimeError;
pub use observer::{NoopObserver, Observer, ObserverError, OpEvent};
pub use runtime::Runtime;

use tk_quant::{QNode, QTensor};

/// Executes a single node on the given input values, exactly as [`Runtime`] does.
///
/// `inputs[j]` is the value of `node.inputs[j]`. Checks the node's bit width, the op's
/// parameters and the input shapes, computes the output, and checks that it has the node's
/// shape and fits its bit width. `Const` nodes return their value; `Input` nodes are
/// rejected with [`RuntimeError::NotExecutable`]. This is the entry point of the trace
/// checker, which re-executes every recorded op from its recorded inputs.
pub fn execute_node(node: &QNode, inputs: &[&QTensor]) -> Result<QTensor, RuntimeError> {
    kernels::execute(node, inputs)
}

/// Everything a user of the runtime needs.
pub mod prelude {
    pub use crate::{
        NoopObserver, Observer, ObserverError, OpEvent, Runtime, RuntimeError, execute_node,
    };
}
