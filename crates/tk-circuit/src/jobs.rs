//! The chip jobs an op becomes: which chip proves it, from which operands, with which
//! fixed parameters and advice values.

use crate::chips::dot::{DotSpec, DotWitness};
use crate::chips::lut::LutWitness;
use crate::chips::max_pool::MaxPoolWitness;
use crate::chips::mdot::{DotGroup, GroupWitness};
use crate::chips::requant::{RequantParams, RequantWitness};
use crate::chips::softmax::{SoftmaxParams, SoftmaxWitness};
use crate::chips::wiring::WireMap;
use crate::field::Fr;

/// Where a chip input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// Element `index` (flat, row-major) of the op's input `slot`.
    Input {
        /// Position in `node.inputs`.
        slot: usize,
        /// Flat element index.
        index: usize,
    },
    /// The zero cell.
    Zero,
    /// The accumulator of the op's dot product `e`.
    Acc(usize),
}

/// One dot product of an op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotJob {
    /// Activation sources, one per weight.
    pub inputs: Vec<Operand>,
    /// Weights and bias.
    pub spec: DotSpec,
    /// Advice values.
    pub witness: DotWitness,
}

/// Outputs of one op that read the same activations, for the multi-output dot layout
/// ([`crate::chips::mdot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupJob {
    /// Activation sources: the union of its outputs' inputs, in increasing index order.
    pub inputs: Vec<Operand>,
    /// Index (in the op's dot products) of each output.
    pub outputs: Vec<usize>,
    /// Advice values.
    pub witness: GroupWitness,
}

impl GroupJob {
    /// Its outputs' weights over [`GroupJob::inputs`] (0 where an output has no tap) and
    /// biases, from the op's products `dots`; `None` when an output's inputs are not among the
    /// group's, in the same order. Built on demand: a model's groups would otherwise hold a
    /// copy of every conv weight per output position.
    pub fn group(&self, dots: &[DotJob]) -> Option<DotGroup> {
        let mut weights = Vec::with_capacity(self.outputs.len());
        let mut biases = Vec::with_capacity(self.outputs.len());
        for &e in &self.outputs {
            let dot = dots.get(e)?;
            let mut w = vec![0; self.inputs.len()];
            let mut at = 0;
            for (input, &weight) in dot.inputs.iter().zip(&dot.spec.weights) {
                at += self.inputs.get(at..)?.iter().position(|o| o == input)?;
                w[at] = weight;
            }
            weights.push(w);
            biases.push(dot.spec.bias);
        }
        Some(DotGroup {
            outputs: self.outputs.clone(),
            weights,
            biases,
        })
    }
}

/// One requant slot of an op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequantJob {
    /// First operand.
    pub u1: Operand,
    /// Second operand.
    pub u2: Operand,
    /// Fixed parameters.
    pub params: RequantParams,
    /// Static bound on the bits of the clamp excess.
    pub t_bits: u32,
    /// Advice values.
    pub witness: RequantWitness,
}

/// One max-pool window of an op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxPoolJob {
    /// Window elements, padded to the window size by repeating the first.
    pub inputs: Vec<Operand>,
    /// Advice values.
    pub witness: MaxPoolWitness,
}

/// One lut slot of an op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LutJob {
    /// The looked-up element.
    pub input: Operand,
    /// Advice values.
    pub witness: LutWitness,
}

/// One softmax row of an op: the elements along the axis at one position of the other axes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftmaxJob {
    /// The row's elements (`Input { slot: 0, .. }`), in axis order.
    pub inputs: Vec<Operand>,
    /// Flat output index of each element.
    pub outputs: Vec<usize>,
    /// Advice values.
    pub witness: SoftmaxWitness,
}

/// How an op is proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// A model input, bound to the instance column (or, when committed, to its digests).
    Input {
        /// First instance row of this input's values; `None` for a committed input.
        instance_offset: Option<usize>,
        /// Advice values (equal to the instance when honest).
        witness: Vec<Fr>,
    },
    /// A constant tensor.
    Const {
        /// Fixed values.
        values: Vec<i64>,
        /// Advice values (equal to `values` when honest).
        witness: Vec<Fr>,
    },
    /// Dot products, each followed by a requantization (Conv, Gemm, AvgPool).
    Dot {
        /// One product per output element.
        dots: Vec<DotJob>,
        /// One requantization per output element, `u1 = Acc(e)`.
        requant: Vec<RequantJob>,
        /// The products again, as groups sharing their activations (every output in exactly
        /// one group); empty when no two outputs share them. The layout uses either `dots` or
        /// `groups` ([`crate::chips::dot::layout`]).
        groups: Vec<GroupJob>,
    },
    /// Requantizations of input elements (Add, Mul, Rescale, Clip).
    Requant {
        /// One slot per output element.
        items: Vec<RequantJob>,
    },
    /// Window maxima.
    MaxPool {
        /// Window size `kh * kw`.
        window: usize,
        /// Input bit width.
        input_bits: u32,
        /// One slot per output element.
        items: Vec<MaxPoolJob>,
    },
    /// Table lookups.
    Lut {
        /// Tag of the op's table.
        tag: u64,
        /// One slot per output element.
        items: Vec<LutJob>,
    },
    /// Softmax rows.
    Softmax {
        /// Tag of the padded exponential table in the lut table.
        tag: u64,
        /// Fixed parameters.
        params: SoftmaxParams,
        /// One job per softmax row.
        rows: Vec<SoftmaxJob>,
    },
    /// A Clip folded into its producer's requant slots (see [`Fold`]): no cells of its own, its
    /// output cells are its input's.
    FoldedClip {
        /// Lower bound of the Clip.
        lo: i64,
        /// Upper bound of the Clip.
        hi: i64,
    },
    /// Copy constraints only.
    Wiring {
        /// Source of every output element.
        map: WireMap,
    },
}

/// One op of the circuit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpCircuit {
    /// Node id.
    pub node: usize,
    /// Node name (region names start with it).
    pub name: String,
    /// Producer node ids, in input-slot order.
    pub inputs: Vec<usize>,
    /// How it is proven.
    pub kind: OpKind,
    /// Set when the op's only consumer, a Clip, is folded into its requant slots.
    pub fold: Option<Fold>,
}

/// A Clip `clamp(., lo', hi')` folded into the requant slots of its producer, whose own clamp
/// is `clamp(., lo, hi)`: the slots prove `clamp(round_shift(v, s), max(lo, lo'),
/// min(hi, hi'))`, which equals `clamp(clamp(round_shift(v, s), lo, hi), lo', hi')` whenever
/// the two intervals meet. The producer's cells then hold the Clip's output; the producer's
/// own output is still checked against the trace, but has no cells (the Clip is its only
/// consumer and it is not a model output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// The Clip's node id.
    pub clip: usize,
    /// The producer's own lower clamp bound.
    pub lo: i64,
    /// The producer's own upper clamp bound.
    pub hi: i64,
}

/// The layout of an op's dot products and its rows ([`crate::chips::dot::layout`]).
pub(crate) fn dot_layout(
    dots: &[DotJob],
    groups: &[GroupJob],
    p: &crate::plan::CircuitParams,
) -> (crate::chips::dot::DotLayout, usize) {
    let lens: Vec<usize> = dots.iter().map(|d| d.spec.weights.len()).collect();
    let shared: Vec<(usize, usize)> = groups
        .iter()
        .map(|g| (g.inputs.len(), g.outputs.len()))
        .collect();
    crate::chips::dot::layout(&lens, &shared, p.width, p.dot_pack, p.mdot)
}
