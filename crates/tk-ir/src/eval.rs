//! Float reference evaluation of a [`Graph`].

use crate::ops::{Op, OpDef};
use crate::{Graph, IrError, IrResult, Node, Tensor};

/// Evaluates `graph` on `inputs` (one per graph input, in order) and returns the outputs.
///
/// Every input must match its declared fact exactly. Intermediate values are dropped after
/// their last use, so memory stays bounded by the live set, not the whole network.
pub fn eval(graph: &Graph, inputs: &[Tensor]) -> IrResult<Vec<Tensor>> {
    eval_observed(graph, inputs, |_, _| {})
}

/// Like [`eval`], calling `observe(node, value)` for every node after it is computed
/// (inputs and constants included), in node order.
pub fn eval_observed(
    graph: &Graph,
    inputs: &[Tensor],
    mut observe: impl FnMut(&Node, &Tensor),
) -> IrResult<Vec<Tensor>> {
    check_inputs(graph, inputs)?;
    let mut remaining = graph.use_counts();
    let mut values: Vec<Option<Tensor>> = vec![None; graph.nodes().len()];
    for (outlet, value) in graph.inputs().iter().zip(inputs) {
        values[outlet.node] = Some(value.clone());
    }
    for node in graph.nodes() {
        if !matches!(node.op, Op::Input(_)) {
            let args: Vec<&Tensor> = node
                .inputs
                .iter()
                .map(|i| {
                    values[i.node]
                        .as_ref()
                        .expect("producer evaluated before consumer")
                })
                .collect();
            let value = node.op.eval(&args).map_err(|source| IrError::Node {
                node: node.name.clone(),
                op: node.op.name(),
                source,
            })?;
            values[node.id] = Some(value);
            for input in &node.inputs {
                remaining[input.node] -= 1;
                if remaining[input.node] == 0 {
                    values[input.node] = None;
                }
            }
        }
        if let Some(v) = &values[node.id] {
            observe(node, v);
        }
    }
    Ok(graph
        .outputs()
        .iter()
        .map(|o| {
            values[o.node]
                .clone()
                .expect("graph outputs are kept alive")
        })
        .collect())
}

/// Checks the number, dtype and shape of values fed to `graph`.
pub fn check_inputs(graph: &Graph, inputs: &[Tensor]) -> IrResult<()> {
    if inputs.len() != graph.inputs().len() {
        return Err(IrError::InputMismatch {
            name: "<graph>".into(),
            expected: format!("{} inputs", graph.inputs().len()),
            got: format!("{} inputs", inputs.len()),
        });
    }
    for (outlet, value) in graph.inputs().iter().zip(inputs) {
        let node = &graph.nodes()[outlet.node];
        if value.fact() != node.fact {
            return Err(IrError::InputMismatch {
                name: node.name.clone(),
                expected: node.fact.to_string(),
                got: value.fact().to_string(),
            });
        }
    }
    Ok(())
}
