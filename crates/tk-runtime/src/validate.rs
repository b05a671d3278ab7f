//! Structural checks run once by [`crate::Runtime::new`].
//!
//! These cover everything the executor's bookkeeping relies on (ids, edges, input list,
//! arities, bit widths, constants) and report it with structured errors; then
//! `QModel::validate` (tk-quant) checks shapes, parameters and worst-case bounds of every op.
//! Kernels still check everything they rely on when they run, so [`crate::execute_node`] is
//! safe on its own.

use tk_quant::ops::QOp;
use tk_quant::{INTEGER_SPEC_VERSION, OLDEST_INTEGER_SPEC_VERSION, QModel};

use crate::RuntimeError;
use crate::kernels::{arity, check_bits, check_range, checked_volume, well_formed};

/// Checks the model's structure; see the module docs for what is covered.
pub(crate) fn validate(model: &QModel) -> Result<(), RuntimeError> {
    if !(OLDEST_INTEGER_SPEC_VERSION..=INTEGER_SPEC_VERSION).contains(&model.spec_version) {
        return Err(RuntimeError::SpecVersion {
            found: model.spec_version,
            supported: INTEGER_SPEC_VERSION,
        });
    }
    let graph = &model.graph;
    let mut listed = vec![false; graph.nodes.len()];
    for &id in &graph.inputs {
        match graph.nodes.get(id) {
            Some(node) if matches!(node.op, QOp::Input(_)) && !listed[id] => listed[id] = true,
            _ => return Err(RuntimeError::GraphInput { node: id }),
        }
    }
    for (position, node) in graph.nodes.iter().enumerate() {
        if node.id != position {
            return Err(RuntimeError::NodeId {
                position,
                id: node.id,
            });
        }
        if let Some(&input) = node.inputs.iter().find(|&&i| i >= position) {
            return Err(RuntimeError::ForwardEdge {
                node: position,
                input,
            });
        }
        check_bits(node)?;
        if checked_volume(&node.shape).is_none() {
            return Err(RuntimeError::TensorTooLarge {
                node: node.id,
                shape: node.shape.clone(),
            });
        }
        let (min, max) = arity(&node.op);
        if node.inputs.len() < min || node.inputs.len() > max {
            return Err(RuntimeError::Arity {
                node: node.id,
                op: node.op.name(),
                expected: min,
                got: node.inputs.len(),
            });
        }
        match &node.op {
            QOp::Input(_) if !listed[position] => {
                return Err(RuntimeError::GraphInput { node: position });
            }
            QOp::Const(c) => {
                well_formed(node.id, &c.value)?;
                check_range(node.id, &c.value.data, node.bits)?;
            }
            _ => {}
        }
    }
    for (position, &node) in graph.outputs.iter().enumerate() {
        if node >= graph.nodes.len() {
            return Err(RuntimeError::GraphOutput { position, node });
        }
    }
    model
        .validate()
        .map_err(|e| RuntimeError::InvalidModel(Box::new(e)))
}
