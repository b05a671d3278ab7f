//! The stages of the conversion, as float graphs that `tk_ir::eval` runs, so that the loss of
//! every step can be measured on its own:
//!
//! | stage | graph |
//! |---|---|
//! | `Float` | the original graph |
//! | `Sim` | the folded graph with a `FakeQuant { round: false, clip: false }` after every quantized activation: numerically the float model, it checks folding |
//! | `Clip` | activations clamped at the calibrated thresholds (`clip: true, round: false`); weights keep their float values (max-abs weight scales never clip them) |
//! | `Round` | activations and weights on the integer grid (`clip: true, round: true`), weights and biases replaced by their dequantized integer values, same bit widths as the integer model |
//! | `Quantized` | the integer [`crate::QModel`] itself (run by the runtime or [`crate::reference`]) |

use std::collections::BTreeMap;

use tk_ir::ops::{FakeQuant, Op};
use tk_ir::{Graph, OutletId, Tensor};

use crate::QuantResult;
use crate::fold::Folded;
use crate::scales::ActScale;

/// One stage of the conversion (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// The original float graph.
    Float,
    /// Scales applied, nothing clipped or rounded.
    Sim,
    /// Activations clipped at their thresholds.
    Clip,
    /// Weights and activations rounded to the integer grid.
    Round,
    /// The integer model.
    Quantized,
}

impl Stage {
    /// Every stage, in conversion order.
    pub const ALL: [Stage; 5] = [
        Stage::Float,
        Stage::Sim,
        Stage::Clip,
        Stage::Round,
        Stage::Quantized,
    ];

    /// Lower-case name (`float`, `sim`, `clip`, `round`, `quantized`).
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Float => "float",
            Stage::Sim => "sim",
            Stage::Clip => "clip",
            Stage::Round => "round",
            Stage::Quantized => "quantized",
        }
    }
}

/// The float graphs of the stages before `Quantized`. All have the original graph's inputs
/// and outputs (same order, shapes and names).
#[derive(Debug, Clone)]
pub struct StageGraphs {
    /// [`Stage::Float`].
    pub float: Graph,
    /// [`Stage::Sim`].
    pub sim: Graph,
    /// [`Stage::Clip`].
    pub clip: Graph,
    /// [`Stage::Round`].
    pub round: Graph,
}

impl StageGraphs {
    /// The float graph of a stage; `None` for [`Stage::Quantized`].
    pub fn graph(&self, stage: Stage) -> Option<&Graph> {
        match stage {
            Stage::Float => Some(&self.float),
            Stage::Sim => Some(&self.sim),
            Stage::Clip => Some(&self.clip),
            Stage::Round => Some(&self.round),
            Stage::Quantized => None,
        }
    }
}

/// Builds the stage graphs from the original graph, the folded graph, the output scale of
/// every converted folded node and the rounded constants of the weighted layers.
pub(crate) fn build(
    original: &Graph,
    folded: &Folded,
    act: &[Option<ActScale>],
    rounded: &BTreeMap<usize, Vec<(usize, Tensor)>>,
) -> QuantResult<StageGraphs> {
    Ok(StageGraphs {
        float: original.clone(),
        sim: fake_graph(&folded.graph, act, None, false, false)?,
        clip: fake_graph(&folded.graph, act, None, false, true)?,
        round: fake_graph(&folded.graph, act, Some(rounded), true, true)?,
    })
}

/// Copies `g`, adding a `FakeQuant` after every node with an activation scale. With
/// `rounded`, the recorded constant inputs of weighted layers are replaced.
pub(crate) fn fake_graph(
    g: &Graph,
    act: &[Option<ActScale>],
    rounded: Option<&BTreeMap<usize, Vec<(usize, Tensor)>>>,
    round: bool,
    clip: bool,
) -> QuantResult<Graph> {
    let mut out = Graph::new();
    // Per node: the raw outlet and the (possibly) fake-quantized one.
    let mut raw: Vec<OutletId> = Vec::with_capacity(g.nodes().len());
    let mut fq: Vec<OutletId> = Vec::with_capacity(g.nodes().len());
    for node in g.nodes() {
        let weights = rounded.and_then(|r| r.get(&node.id));
        let outlet = match &node.op {
            Op::Input(i) => out.add_input(node.name.clone(), i.fact.clone())?,
            op => {
                let mut inputs = Vec::with_capacity(node.inputs.len());
                for (k, i) in node.inputs.iter().enumerate() {
                    let replaced = weights.and_then(|w| w.iter().find(|(p, _)| *p == k));
                    inputs.push(match replaced {
                        Some((_, t)) => {
                            out.add_const(format!("{}/rounded{k}", node.name), t.clone())?
                        }
                        None if matches!(g.nodes()[i.node].op, Op::Const(_))
                            && weights.is_some() =>
                        {
                            raw[i.node]
                        }
                        None => fq[i.node],
                    });
                }
                out.add_node(node.name.clone(), op.clone(), &inputs)?
            }
        };
        raw.push(outlet);
        let q = match act[node.id] {
            Some(a) => {
                let op = FakeQuant {
                    scale: a.scale as f32,
                    lo: a.lo() as f32,
                    hi: a.hi() as f32,
                    round,
                    clip,
                };
                out.add_node(format!("{}/fake_quant", node.name), op.into(), &[outlet])?
            }
            None => outlet,
        };
        fq.push(q);
    }
    for (o, name) in g.outputs().iter().zip(g.output_names()) {
        out.add_output(name.clone(), fq[o.node])?;
    }
    Ok(out)
}
