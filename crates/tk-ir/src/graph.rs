//! The graph: nodes in topological order, connected by outlets.

use std::fmt;

use crate::ops::{Op, OpDef};
use crate::{Fact, IrError, IrResult, limits};

/// One output of one node. Every op in tachikoma has exactly one output, so `slot` is 0;
/// the field exists so that multi-output ops can be added without changing edges.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct OutletId {
    /// Index of the producing node in [`Graph::nodes`].
    pub node: usize,
    /// Output slot of that node.
    pub slot: usize,
}

impl OutletId {
    /// Slot 0 of `node`.
    pub fn new(node: usize) -> OutletId {
        OutletId { node, slot: 0 }
    }
}

impl fmt::Debug for OutletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.slot)
    }
}

/// A node: an op applied to earlier outlets.
#[derive(Debug, Clone)]
pub struct Node {
    /// Index of this node in [`Graph::nodes`]; stable for the life of the graph.
    pub id: usize,
    /// The name of the ONNX node (or a generated name) this node came from.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// Producers of the inputs, all with ids smaller than `id`.
    pub inputs: Vec<OutletId>,
    /// Static type of the single output, computed when the node was added.
    pub fact: Fact,
}

/// A computation graph whose nodes are stored in topological order.
///
/// **Invariant:** every input of node `i` refers to a node with id `< i`, and every node's
/// `fact` is what its op infers from its inputs' facts. [`Graph::add_node`] is the only way
/// to add nodes, so a `Graph` value always satisfies the invariant.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    inputs: Vec<OutletId>,
    outputs: Vec<OutletId>,
    output_names: Vec<String>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// All nodes, in topological order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node by id.
    pub fn node(&self, id: usize) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Graph inputs, in the order values must be fed.
    pub fn inputs(&self) -> &[OutletId] {
        &self.inputs
    }

    /// Graph outputs, in the order values are returned.
    pub fn outputs(&self) -> &[OutletId] {
        &self.outputs
    }

    /// Names of the graph outputs (parallel to [`Graph::outputs`]).
    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// The fact of an outlet.
    pub fn fact(&self, outlet: OutletId) -> Option<&Fact> {
        self.nodes.get(outlet.node).map(|n| &n.fact)
    }

    /// Adds a graph input of the given fact and returns its outlet.
    pub fn add_input(&mut self, name: impl Into<String>, fact: Fact) -> IrResult<OutletId> {
        let outlet = self.add_node(name, Op::Input(crate::ops::Input { fact }), &[])?;
        self.inputs.push(outlet);
        Ok(outlet)
    }

    /// Adds a constant node.
    pub fn add_const(
        &mut self,
        name: impl Into<String>,
        value: crate::Tensor,
    ) -> IrResult<OutletId> {
        self.add_node(name, Op::Const(crate::ops::Const { value }), &[])
    }

    /// Adds a node after checking that its inputs exist and that the op accepts their facts.
    ///
    /// Shape and attribute errors surface here, naming the node, never at evaluation.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: &[OutletId],
    ) -> IrResult<OutletId> {
        let name = name.into();
        if self.nodes.len() >= limits::MAX_NODES {
            return Err(IrError::Limit {
                what: "node count".into(),
                got: self.nodes.len() as u128 + 1,
                max: limits::MAX_NODES as u128,
            });
        }
        let mut facts = Vec::with_capacity(inputs.len());
        for (ix, outlet) in inputs.iter().enumerate() {
            match self.nodes.get(outlet.node) {
                Some(node) if outlet.slot == 0 => facts.push(&node.fact),
                _ => {
                    return Err(IrError::DanglingEdge {
                        node: name,
                        input: ix,
                        target: format!("{outlet:?}"),
                    });
                }
            }
        }
        let fact = op.output_fact(&facts).map_err(|source| IrError::Node {
            node: name.clone(),
            op: op.name(),
            source,
        })?;
        let volume = fact.volume().map_err(|source| IrError::Node {
            node: name.clone(),
            op: op.name(),
            source,
        })?;
        if volume > limits::MAX_TENSOR_ELEMENTS {
            return Err(IrError::Limit {
                what: format!("element count of node {name:?}"),
                got: volume as u128,
                max: limits::MAX_TENSOR_ELEMENTS as u128,
            });
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            id,
            name,
            op,
            inputs: inputs.to_vec(),
            fact,
        });
        Ok(OutletId::new(id))
    }

    /// Declares an outlet as a graph output.
    pub fn add_output(&mut self, name: impl Into<String>, outlet: OutletId) -> IrResult<()> {
        let name = name.into();
        if outlet.node >= self.nodes.len() || outlet.slot != 0 {
            return Err(IrError::DanglingEdge {
                node: name,
                input: 0,
                target: format!("{outlet:?}"),
            });
        }
        self.outputs.push(outlet);
        self.output_names.push(name);
        Ok(())
    }

    /// For each node, the number of times its output is consumed (graph outputs count once).
    pub fn use_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.nodes.len()];
        for node in &self.nodes {
            for input in &node.inputs {
                counts[input.node] += 1;
            }
        }
        for output in &self.outputs {
            counts[output.node] += 1;
        }
        counts
    }

    /// For each node, the ids of the nodes that consume its output, in increasing order.
    pub fn successors(&self) -> Vec<Vec<usize>> {
        let mut succ = vec![Vec::new(); self.nodes.len()];
        for node in &self.nodes {
            for input in &node.inputs {
                if succ[input.node].last() != Some(&node.id) {
                    succ[input.node].push(node.id);
                }
            }
        }
        succ
    }

    /// Consumes the graph into `(nodes, inputs, outputs, output_names)`, for passes that
    /// rebuild a graph through [`Graph::add_node`] without copying ops.
    pub(crate) fn into_parts(self) -> (Vec<Node>, Vec<OutletId>, Vec<OutletId>, Vec<String>) {
        (self.nodes, self.inputs, self.outputs, self.output_names)
    }

    /// The value of a constant outlet, if that outlet is a `Const` node.
    pub fn const_value(&self, outlet: OutletId) -> Option<&crate::Tensor> {
        match &self.nodes.get(outlet.node)?.op {
            Op::Const(c) => Some(&c.value),
            _ => None,
        }
    }
}
