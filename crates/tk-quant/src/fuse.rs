//! Fusing activations into their producer's requantization: a `Clip` (or `Relu`) whose only
//! input is a Conv, Gemm, Rescale or Add that nothing else reads becomes that op's fused clamp
//! ([`QOp::fused_clamp`]).
//!
//! `clamp(clamp(v, lo, hi), lo', hi') = clamp(v, max(lo, lo'), min(hi, hi'))` whenever the two
//! intervals meet, so the fused model computes exactly the same values at every remaining
//! node; it has one node, one runtime pass and one trace record fewer per fused activation.

use crate::ops::QOp;
use crate::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel};

/// Fuses every `Clip` whose input `p` is a Conv, Gemm, Rescale or Add when `p` has no other reader,
/// is not a graph output, and has the Clip's bit width and scale, and the two ranges meet.
/// Chains of Clips fuse one after the other. The fused node keeps `p`'s name and IR node; it
/// takes the Clip's place as a graph output. Node ids are renumbered in order, and the model
/// is marked with [`INTEGER_SPEC_VERSION`] when anything was fused.
///
/// Expects a model that passes [`QModel::validate`]; returns it unchanged when nothing fuses.
pub fn fuse_clamps(mut model: QModel) -> QModel {
    let n = model.graph.nodes.len();
    let mut readers = vec![0usize; n];
    for node in &model.graph.nodes {
        for &i in &node.inputs {
            readers[i] += 1;
        }
    }
    let mut is_output = vec![false; n];
    for &o in &model.graph.outputs {
        is_output[o] = true;
    }
    let mut scales: Vec<Option<u32>> = vec![None; n];
    for s in &model.scales {
        if let Some(slot) = scales.get_mut(s.node) {
            *slot = Some(s.scale.to_bits());
        }
    }
    // `into[i]`: the node that holds node `i`'s value after fusion.
    let mut into: Vec<usize> = (0..n).collect();
    let mut fused = 0usize;
    for c in 0..n {
        let remapped: Vec<usize> = model.graph.nodes[c]
            .inputs
            .iter()
            .map(|&i| into[i])
            .collect();
        model.graph.nodes[c].inputs = remapped;
        let node = &model.graph.nodes[c];
        let QOp::Clip(clip) = &node.op else {
            continue;
        };
        let &[p] = node.inputs.as_slice() else {
            continue;
        };
        let producer = &model.graph.nodes[p];
        if !producer.op.takes_fused_clamp() {
            continue;
        }
        let (lo, hi) = producer.clamp_bounds();
        let (lo, hi) = (lo.max(clip.lo), hi.min(clip.hi));
        if readers[p] != 1
            || is_output[p]
            || producer.bits != node.bits
            || scales[p] != scales[c]
            || lo > hi
        {
            continue;
        }
        let clip_readers = readers[c];
        let clip_is_output = is_output[c];
        if let Some(slot) = model.graph.nodes[p].op.fused_clamp_slot() {
            *slot = Some([lo, hi]);
        }
        readers[p] = clip_readers;
        is_output[p] = clip_is_output;
        into[c] = p;
        fused += 1;
    }
    if fused == 0 {
        return model;
    }
    // Renumber the nodes that remain.
    let mut new_id = vec![usize::MAX; n];
    let mut nodes = Vec::with_capacity(n - fused);
    for (old, mut node) in std::mem::take(&mut model.graph.nodes)
        .into_iter()
        .enumerate()
    {
        if into[old] != old {
            continue;
        }
        new_id[old] = nodes.len();
        node.id = nodes.len();
        node.inputs = node.inputs.iter().map(|&i| new_id[i]).collect();
        nodes.push(node);
    }
    let renumber = |ids: &[usize]| ids.iter().map(|&i| new_id[into[i]]).collect();
    let graph = QGraph {
        inputs: renumber(&model.graph.inputs),
        outputs: renumber(&model.graph.outputs),
        nodes,
    };
    let scales = model
        .scales
        .iter()
        .filter(|s| into[s.node] == s.node)
        .map(|s| NodeScale {
            node: new_id[s.node],
            scale: s.scale,
        })
        .collect();
    QModel {
        spec_version: INTEGER_SPEC_VERSION,
        graph,
        scales,
        ..model
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QNode;
    use crate::ops::{Clip, Input, Requant, Rescale};

    fn node(id: usize, op: QOp, inputs: Vec<usize>) -> QNode {
        QNode {
            id,
            name: format!("n{id}"),
            ir_node: None,
            op,
            inputs,
            shape: vec![4],
            bits: 8,
        }
    }

    fn rescale(clamp: Option<[i32; 2]>) -> QOp {
        QOp::Rescale(Rescale {
            requant: Requant {
                multipliers: vec![3 << 28],
                shifts: vec![30],
                clamp,
            },
        })
    }

    fn clip(lo: i32, hi: i32) -> QOp {
        QOp::Clip(Clip { lo, hi })
    }

    fn model(nodes: Vec<QNode>, outputs: Vec<usize>) -> QModel {
        let scales = nodes
            .iter()
            .map(|n| NodeScale {
                node: n.id,
                scale: 0.5,
            })
            .collect();
        let m = QModel {
            spec_version: 1,
            producer: String::new(),
            source_digest: String::new(),
            graph: QGraph {
                nodes,
                inputs: vec![0],
                outputs,
            },
            scales,
        };
        m.validate().unwrap();
        m
    }

    /// x -> Rescale -> Relu, with the given outputs.
    fn rescale_relu(outputs: Vec<usize>) -> QModel {
        model(
            vec![
                input(),
                node(1, rescale(None), vec![0]),
                node(2, clip(0, 127), vec![1]),
            ],
            outputs,
        )
    }

    fn input() -> QNode {
        node(0, QOp::Input(Input {}), vec![])
    }

    #[test]
    fn a_chain_of_clips_fuses_into_the_rescale_and_ids_are_renumbered() {
        // x -> r -> relu -> clip(-5, 100) -> r2 (output): both clips fuse into r.
        let m = model(
            vec![
                input(),
                node(1, rescale(None), vec![0]),
                node(2, clip(0, 127), vec![1]),
                node(3, clip(-5, 100), vec![2]),
                node(4, rescale(None), vec![3]),
            ],
            vec![4],
        );
        let f = fuse_clamps(m);
        f.validate().unwrap();
        assert_eq!(f.spec_version, INTEGER_SPEC_VERSION);
        let nodes = &f.graph.nodes;
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[1].op.fused_clamp(), Some([0, 100]));
        assert_eq!(nodes[2].inputs, vec![1]);
        assert_eq!(nodes[2].name, "n4");
        assert_eq!(f.graph.outputs, vec![2]);
        let ids: Vec<usize> = f.scales.iter().map(|s| s.node).collect();
        assert_eq!(ids, vec![0, 1, 2]);
    }

    #[test]
    fn a_relu_after_an_add_fuses_into_it() {
        let add = QOp::Add(crate::ops::Add {
            ma: 1 << 20,
            mb: 1 << 20,
            shift: 21,
            clamp: None,
        });
        let m = model(
            vec![
                input(),
                node(1, add, vec![0, 0]),
                node(2, clip(0, 127), vec![1]),
            ],
            vec![2],
        );
        let f = fuse_clamps(m);
        f.validate().unwrap();
        assert_eq!(f.graph.nodes.len(), 2);
        assert_eq!(f.graph.nodes[1].op.fused_clamp(), Some([0, 127]));
        assert_eq!(f.graph.nodes[1].clamp_bounds(), (0, 127));
    }

    #[test]
    fn a_clip_that_is_the_output_moves_the_output_to_its_producer() {
        let f = fuse_clamps(rescale_relu(vec![2]));
        assert_eq!(f.graph.nodes.len(), 2);
        assert_eq!(f.graph.outputs, vec![1]);
    }

    #[test]
    fn producers_read_elsewhere_or_outputs_or_of_other_ops_do_not_fuse() {
        // r is read twice (by the clip and by r2).
        let shared = model(
            vec![
                input(),
                node(1, rescale(None), vec![0]),
                node(2, clip(0, 127), vec![1]),
                node(3, rescale(None), vec![1]),
            ],
            vec![2, 3],
        );
        assert_eq!(fuse_clamps(shared.clone()), shared);
        // r is itself an output.
        let output = rescale_relu(vec![1, 2]);
        assert_eq!(fuse_clamps(output.clone()), output);
        // A clip of the input (no requantization to fuse into).
        let of_input = model(vec![input(), node(1, clip(0, 127), vec![0])], vec![1]);
        assert_eq!(fuse_clamps(of_input.clone()), of_input);
        // Disjoint ranges: the existing clamp [-100, -50] and the clip [0, 127].
        let mut disjoint = rescale_relu(vec![2]);
        disjoint.spec_version = INTEGER_SPEC_VERSION;
        disjoint.graph.nodes[1].op = rescale(Some([-100, -50]));
        assert_eq!(fuse_clamps(disjoint.clone()), disjoint);
        // Different scales.
        let mut scaled = rescale_relu(vec![2]);
        scaled.scales[2].scale = 0.25;
        assert_eq!(fuse_clamps(scaled.clone()), scaled);
    }
}
