//! Which record or input each node's value is: the mapping writer and checker share.

use tk_quant::QModel;
use tk_quant::ops::QOp;

use crate::frames::{InputRef, is_recorded};

/// Record index / input position of every node of a model, in execution (id) order.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Ids of recorded nodes; record `k` is node `recorded[k]`.
    pub recorded: Vec<usize>,
    /// For each node: its reference when read by another node.
    pub refs: Vec<InputRef>,
}

impl Layout {
    /// The layout of a model whose nodes run in id order.
    pub fn of(model: &QModel) -> Layout {
        let nodes = &model.graph.nodes;
        let mut input_position = vec![None; nodes.len()];
        for (i, &id) in model.graph.inputs.iter().enumerate() {
            if let Some(slot) = input_position.get_mut(id) {
                *slot = Some(i as u64);
            }
        }
        let mut recorded = Vec::new();
        let refs = nodes
            .iter()
            .enumerate()
            .map(|(id, n)| match &n.op {
                QOp::Const(_) => InputRef::Const(id as u64),
                // An unlisted Input node cannot be referenced validly; the runtime rejects it.
                QOp::Input(_) => InputRef::Input(input_position[id].unwrap_or(u64::MAX)),
                op => {
                    debug_assert!(is_recorded(op));
                    recorded.push(id);
                    InputRef::Record(recorded.len() as u64 - 1)
                }
            })
            .collect();
        Layout { recorded, refs }
    }
}
