//! The table from ONNX op type to converter function.

use std::collections::BTreeMap;

use super::context::ImportCtx;
use super::node::OnnxNode;
use crate::{IrResult, OutletId};

/// Converts one ONNX node: reads its inputs and attributes from `ctx` and `node`, adds IR
/// nodes through [`ImportCtx::add`], and returns one outlet per ONNX output it produces, in
/// order. Returning fewer outlets than the node has outputs marks the rest as unsupported;
/// the import fails only if a later node or a graph output uses one of them.
pub type Converter = fn(&mut ImportCtx, &OnnxNode) -> IrResult<Vec<OutletId>>;

/// ONNX op types (default domain) and their converters.
#[derive(Debug, Clone, Default)]
pub struct OpRegistry {
    converters: BTreeMap<&'static str, Converter>,
}

impl OpRegistry {
    /// A registry with every op tachikoma supports (see [`super::register_all_ops`]).
    pub fn with_all_ops() -> OpRegistry {
        let mut registry = OpRegistry::default();
        super::register_all_ops(&mut registry);
        registry
    }

    /// Registers (or replaces) the converter of an op type.
    pub fn insert(&mut self, op_type: &'static str, converter: Converter) {
        self.converters.insert(op_type, converter);
    }

    /// The converter of an op type.
    pub fn get(&self, op_type: &str) -> Option<Converter> {
        self.converters.get(op_type).copied()
    }

    /// Every registered op type, sorted.
    pub fn op_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.converters.keys().copied()
    }
}
