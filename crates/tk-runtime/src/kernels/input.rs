//! `Input`: the model input has no kernel.
//!
//! [`crate::Runtime`] binds the caller's tensors to `Input` nodes (checking shape and range
//! against the node); [`crate::execute_node`] rejects an `Input` node with
//! [`crate::RuntimeError::NotExecutable`]. This file exists so every op of `tk_quant::ops`
//! has its namesake here.
