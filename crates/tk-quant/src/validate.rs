//! [`QModel::validate`]: everything a hostile `.tkq` could break, checked once.

use crate::ops::{QOp, volume};
use crate::{
    INTEGER_SPEC_VERSION, OLDEST_INTEGER_SPEC_VERSION, QModel, QNode, QuantError, QuantResult,
};

/// Most nodes a quantized graph may hold.
pub const MAX_NODES: usize = tk_ir::limits::MAX_NODES;
/// Most elements summed over the outputs of all nodes (bounds what a runtime allocates).
pub const MAX_TOTAL_ELEMENTS: usize = 1 << 31;
/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = tk_ir::limits::MAX_RANK;

fn model_err(reason: impl Into<String>) -> QuantError {
    QuantError::InvalidModel {
        reason: reason.into(),
    }
}

impl QModel {
    /// Checks every invariant the integer standard and the runtime rely on:
    ///
    /// - the spec version is known, strings are bounded;
    /// - node `i` has id `i`, its inputs are earlier nodes, its bit width is in `2..=16`, its
    ///   shape has rank at most 8, no zero dimension and a bounded element count (also summed
    ///   over all nodes);
    /// - every op's parameters are consistent with its inputs and its output shape is the one
    ///   the op implies ([`crate::ops::QOpDef::check`]): conv/gemm/pool geometry, broadcasting,
    ///   tensor data lengths, requantization pairs (`1 <= M < 2^31`, `s <= 62`), worst-case
    ///   accumulators below `2^40`, LUT sizes `2^bits` of the input, constant and table values
    ///   inside the output range, ...;
    /// - graph inputs are exactly the `Input` nodes, outputs exist, and the scale table is
    ///   sorted by node, positive, finite and covers every input and output.
    ///
    /// After `validate` succeeds, an interpreter following the spec cannot index out of
    /// bounds, divide by zero or overflow `i64` arithmetic (with `i128` for `acc * M`).
    pub fn validate(&self) -> QuantResult<()> {
        if !(OLDEST_INTEGER_SPEC_VERSION..=INTEGER_SPEC_VERSION).contains(&self.spec_version) {
            return Err(model_err(format!(
                "integer standard version {} is not supported (this build implements {OLDEST_INTEGER_SPEC_VERSION} to {INTEGER_SPEC_VERSION})",
                self.spec_version
            )));
        }
        let max_name = tk_ir::limits::MAX_NAME_BYTES;
        if self.producer.len() > max_name || self.source_digest.len() > max_name {
            return Err(model_err("producer or digest string too long"));
        }
        let nodes = &self.graph.nodes;
        if nodes.is_empty() || nodes.len() > MAX_NODES {
            return Err(model_err(format!(
                "{} nodes (1 to {MAX_NODES} allowed)",
                nodes.len()
            )));
        }
        let mut total = 0usize;
        for (i, node) in nodes.iter().enumerate() {
            total = total.saturating_add(check_node_header(i, node)?);
            if total > MAX_TOTAL_ELEMENTS {
                return Err(model_err(format!(
                    "more than {MAX_TOTAL_ELEMENTS} elements in all tensors"
                )));
            }
            let inputs: Vec<&QNode> = node.inputs.iter().map(|&j| &nodes[j]).collect();
            let invalid = |reason: String| QuantError::InvalidNode {
                node: i,
                op: node.op.name(),
                reason,
            };
            let shape = node.op.as_def().check(&inputs, node).map_err(invalid)?;
            if self.spec_version < 2 && node.op.fused_clamp().is_some() {
                return Err(invalid(format!(
                    "a fused clamp needs integer standard version 2, the model declares {}",
                    self.spec_version
                )));
            }
            if shape != node.shape {
                return Err(invalid(format!(
                    "declared shape {:?}, op implies {shape:?}",
                    node.shape
                )));
            }
        }
        self.check_io()?;
        self.check_scales()
    }

    fn check_io(&self) -> QuantResult<()> {
        let nodes = &self.graph.nodes;
        let mut listed = vec![false; nodes.len()];
        for &i in &self.graph.inputs {
            match (nodes.get(i), listed.get_mut(i)) {
                (
                    Some(QNode {
                        op: QOp::Input(_), ..
                    }),
                    Some(seen),
                ) if !*seen => *seen = true,
                _ => {
                    return Err(model_err(format!(
                        "graph input {i} is not a distinct Input node"
                    )));
                }
            }
        }
        if let Some(n) = nodes
            .iter()
            .find(|n| matches!(n.op, QOp::Input(_)) && !listed[n.id])
        {
            return Err(model_err(format!(
                "Input node {} is not a graph input",
                n.id
            )));
        }
        if self.graph.inputs.is_empty() || self.graph.outputs.is_empty() {
            return Err(model_err(
                "the graph needs at least one input and one output",
            ));
        }
        if let Some(o) = self.graph.outputs.iter().find(|&&o| o >= nodes.len()) {
            return Err(model_err(format!("graph output {o} does not exist")));
        }
        Ok(())
    }

    fn check_scales(&self) -> QuantResult<()> {
        let n = self.graph.nodes.len();
        for pair in self.scales.windows(2) {
            if pair[0].node >= pair[1].node {
                return Err(model_err(
                    "scale table is not sorted by node id without repeats",
                ));
            }
        }
        if let Some(s) = self
            .scales
            .iter()
            .find(|s| s.node >= n || !(s.scale.is_finite() && s.scale > 0.0))
        {
            return Err(model_err(format!("bad scale entry {s:?}")));
        }
        for &i in self.graph.inputs.iter().chain(&self.graph.outputs) {
            if self.scale(i).is_none() {
                return Err(model_err(format!("graph input or output {i} has no scale")));
            }
        }
        Ok(())
    }

    /// The real scale of node `id`'s output, when recorded.
    pub fn scale(&self, id: usize) -> Option<f32> {
        self.scales
            .binary_search_by_key(&id, |s| s.node)
            .ok()
            .map(|k| self.scales[k].scale)
    }
}

/// Checks id, edges, bits, name and shape of one node; returns its element count.
fn check_node_header(i: usize, node: &QNode) -> QuantResult<usize> {
    let invalid = |reason: String| QuantError::InvalidNode {
        node: i,
        op: node.op.name(),
        reason,
    };
    if node.id != i {
        return Err(invalid(format!("id {} at position {i}", node.id)));
    }
    if let Some(&j) = node.inputs.iter().find(|&&j| j >= i) {
        return Err(invalid(format!("input {j} is not an earlier node")));
    }
    if !(2..=16).contains(&node.bits) {
        return Err(invalid(format!("bit width {} outside 2..=16", node.bits)));
    }
    if node.name.len() > tk_ir::limits::MAX_NAME_BYTES {
        return Err(invalid("name too long".into()));
    }
    if node.shape.len() > MAX_RANK || node.shape.contains(&0) {
        return Err(invalid(format!(
            "shape {:?} must have rank at most {MAX_RANK} and no zero dimension",
            node.shape
        )));
    }
    let v = volume(&node.shape).map_err(invalid)?;
    if v > tk_ir::limits::MAX_TENSOR_ELEMENTS {
        return Err(invalid(format!("{v} elements exceed the tensor limit")));
    }
    Ok(v)
}
