//! The state of an import in progress: the graph being built and the ONNX value table.

use std::collections::BTreeMap;

use super::node::OnnxNode;
use crate::ops::{Op, OpDef};
use crate::{DType, Fact, Graph, IrError, IrResult, OutletId, Tensor, limits};

/// What converters work with: the IR graph under construction, the map from ONNX value names
/// to outlets, and the ONNX element types known for some outlets.
///
/// [`ImportCtx::add`] folds constants: when every input of a new op is a `Const` node, the op
/// is evaluated at import and a `Const` node is added instead, so shape computations never
/// reach the run-time graph.
#[derive(Debug)]
pub struct ImportCtx {
    /// The graph being built. Converters add nodes through [`ImportCtx::add`].
    pub(crate) graph: Graph,
    values: BTreeMap<String, OutletId>,
    elem_types: BTreeMap<OutletId, i32>,
    /// Version of the default ONNX domain the model imports.
    pub opset: i64,
}

impl ImportCtx {
    /// An empty context for a model of the given opset.
    pub fn new(opset: i64) -> ImportCtx {
        ImportCtx {
            graph: Graph::new(),
            values: BTreeMap::new(),
            elem_types: BTreeMap::new(),
            opset,
        }
    }

    /// The outlet that produces the ONNX value `name`.
    pub fn value(&self, name: &str) -> Option<OutletId> {
        self.values.get(name).copied()
    }

    /// Binds an ONNX value name to an outlet; a value may be defined only once.
    pub fn bind(&mut self, name: &str, outlet: OutletId) -> IrResult<()> {
        if name.len() > limits::MAX_NAME_BYTES {
            return Err(IrError::Limit {
                what: "value name length".into(),
                got: name.len() as u128,
                max: limits::MAX_NAME_BYTES as u128,
            });
        }
        if self.values.insert(name.to_string(), outlet).is_some() {
            return Err(IrError::Malformed {
                path: "<graph>".into(),
                reason: format!("value {name:?} is defined twice"),
            });
        }
        Ok(())
    }

    /// Records the ONNX element type of an outlet (used for uint8/int8 data held as F32).
    pub fn set_elem_type(&mut self, outlet: OutletId, elem_type: i32) {
        self.elem_types.insert(outlet, elem_type);
    }

    /// The ONNX element type of an outlet, when known.
    pub fn elem_type(&self, outlet: OutletId) -> Option<i32> {
        self.elem_types.get(&outlet).copied()
    }

    /// The fact of an outlet.
    pub fn fact(&self, outlet: OutletId) -> IrResult<&Fact> {
        self.graph
            .fact(outlet)
            .ok_or_else(|| IrError::DanglingEdge {
                node: "<import>".into(),
                input: 0,
                target: format!("{outlet:?}"),
            })
    }

    /// The value of an outlet when it is a constant.
    pub fn const_value(&self, outlet: OutletId) -> Option<&Tensor> {
        self.graph.const_value(outlet)
    }

    /// Input `i` of `node`, which must be present.
    pub fn input(&self, node: &OnnxNode, i: usize) -> IrResult<OutletId> {
        self.opt_input(node, i)?
            .ok_or_else(|| node.invalid(format!("missing input {i}")))
    }

    /// Input `i` of `node`, or `None` when omitted.
    pub fn opt_input(&self, node: &OnnxNode, i: usize) -> IrResult<Option<OutletId>> {
        let Some(name) = node.input_name(i) else {
            return Ok(None);
        };
        self.value(name)
            .map(Some)
            .ok_or_else(|| IrError::DanglingEdge {
                node: node.name.clone(),
                input: i,
                target: name.to_string(),
            })
    }

    /// All present inputs of `node`, in order; omitted optional inputs are an error.
    pub fn inputs(&self, node: &OnnxNode) -> IrResult<Vec<OutletId>> {
        (0..node.input_count())
            .map(|i| self.input(node, i))
            .collect()
    }

    /// The constant value of input `i`, or `None` when omitted; a present non-constant input
    /// is [`IrError::Unsupported`] (`what` names it in the message).
    pub fn const_input(&self, node: &OnnxNode, i: usize, what: &str) -> IrResult<Option<Tensor>> {
        let Some(outlet) = self.opt_input(node, i)? else {
            return Ok(None);
        };
        match self.const_value(outlet) {
            Some(t) => Ok(Some(t.clone())),
            None => Err(node.unsupported(format!("non-constant {what} input"))),
        }
    }

    /// Like [`ImportCtx::const_input`], as a flat list of integers (an empty tensor gives an
    /// empty list).
    pub fn const_ints(&self, node: &OnnxNode, i: usize, what: &str) -> IrResult<Option<Vec<i64>>> {
        let Some(t) = self.const_input(node, i, what)? else {
            return Ok(None);
        };
        t.to_i64_vec()
            .map(Some)
            .map_err(|e| node.invalid(format!("{what}: {e}")))
    }

    /// Like [`ImportCtx::const_input`], as one float (the tensor must hold one element).
    pub fn const_scalar(&self, node: &OnnxNode, i: usize, what: &str) -> IrResult<Option<f32>> {
        let Some(t) = self.const_input(node, i, what)? else {
            return Ok(None);
        };
        let v: Vec<f32> = match &t {
            Tensor::F32(a) => a.iter().copied().collect(),
            Tensor::I64(a) => a.iter().map(|&v| v as f32).collect(),
        };
        match v.as_slice() {
            [x] => Ok(Some(*x)),
            _ => Err(node.invalid(format!(
                "{what} must hold one value, got shape {:?}",
                t.shape()
            ))),
        }
    }

    /// Adds `op` named after `node` (or `node/suffix` for helper nodes of a decomposition),
    /// folding it into a constant when all inputs are constants.
    pub fn add(
        &mut self,
        node: &OnnxNode,
        op: impl Into<Op>,
        inputs: &[OutletId],
    ) -> IrResult<OutletId> {
        self.add_named(node.name.clone(), op.into(), inputs)
    }

    /// Adds a helper node named `<node>/<suffix>`; see [`ImportCtx::add`].
    pub fn add_aux(
        &mut self,
        node: &OnnxNode,
        suffix: &str,
        op: impl Into<Op>,
        inputs: &[OutletId],
    ) -> IrResult<OutletId> {
        self.add_named(format!("{}/{suffix}", node.name), op.into(), inputs)
    }

    /// Adds a constant node named `<node>/<suffix>`.
    pub fn add_const(
        &mut self,
        node: &OnnxNode,
        suffix: &str,
        value: Tensor,
    ) -> IrResult<OutletId> {
        let name = if suffix.is_empty() {
            node.name.clone()
        } else {
            format!("{}/{suffix}", node.name)
        };
        self.graph.add_const(name, value)
    }

    fn add_named(&mut self, name: String, op: Op, inputs: &[OutletId]) -> IrResult<OutletId> {
        let constants: Option<Vec<&Tensor>> = inputs.iter().map(|&i| self.const_value(i)).collect();
        let foldable = !matches!(op, Op::Input(_) | Op::Const(_)) && !inputs.is_empty();
        match constants {
            Some(values) if foldable => {
                let node_err = |source| IrError::Node {
                    node: name.clone(),
                    op: op.name(),
                    source,
                };
                // Validate exactly as `Graph::add_node` would before computing anything.
                let facts: Vec<Fact> = values.iter().map(|v| v.fact()).collect();
                let refs: Vec<&Fact> = facts.iter().collect();
                let fact = op.output_fact(&refs).map_err(node_err)?;
                self.check_folded(&name, &fact.shape)?;
                let value = op.eval(&values).map_err(node_err)?;
                self.graph.add_const(name, value)
            }
            _ => self.graph.add_node(name, op, inputs),
        }
    }

    /// Checks that a constant of `shape` computed at import stays within
    /// [`limits::MAX_FOLDED_ELEMENTS`]; call it before allocating one.
    pub fn check_folded(&self, node: &str, shape: &[usize]) -> IrResult<()> {
        let volume = crate::checked_volume(shape).map_err(|source| IrError::Node {
            node: node.to_string(),
            op: "Const",
            source,
        })?;
        if volume > limits::MAX_FOLDED_ELEMENTS {
            return Err(IrError::Limit {
                what: format!("element count of the constant folded at node {node:?}"),
                got: volume as u128,
                max: limits::MAX_FOLDED_ELEMENTS as u128,
            });
        }
        Ok(())
    }

    /// The dtype of an outlet.
    pub fn dtype(&self, outlet: OutletId) -> IrResult<DType> {
        Ok(self.fact(outlet)?.dtype)
    }

    /// Takes the finished graph out of the context.
    pub(crate) fn into_graph(self) -> Graph {
        self.graph
    }
}
