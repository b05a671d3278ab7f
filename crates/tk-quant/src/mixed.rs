//! Mixed precision: wider activations (16 bits by default) on the layers that lose the most,
//! chosen from the error measured on the calibration samples.
//!
//! Each round converts the graph with the current scales, runs the `Round` stage graph
//! (activations and weights on the integer grid, [`crate::stages`]) and the folded float graph
//! on a few calibration samples, and measures the noise-to-signal ratio `nsr = Σ (q - f)^2 /
//! Σ f^2` of every activation. The noise a quantized value adds is its `nsr` minus the mean
//! `nsr` of its inputs; a node that inherits its scale (`Relu`, `MaxPool`, wiring) charges its
//! share to the node whose scale it uses, so a `Conv -> Relu` pair is judged after the `Relu`,
//! where clipping the negative side costs nothing. While the output SQNR is below the target,
//! the nodes adding the most noise (a [`Mixed::step`] fraction of the candidates per round) get
//! [`Mixed::bits`] bits at the same threshold. Scales fixed by the model (QDQ) never change.

use std::collections::BTreeMap;

use tk_ir::ops::Op;
use tk_ir::{Graph, Tensor};

use crate::calibrate::{self, CalibrationStats};
use crate::fold::Folded;
use crate::scales::{ActScale, ScaleKind, scale_kind};
use crate::{QuantResult, stages};

/// Settings of mixed precision.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixed {
    /// Bit width of widened activations, `bits < wide <= 16` (default 16).
    pub bits: u8,
    /// Stop once the output SQNR over the samples reaches this many dB (default 40).
    pub target_db: f64,
    /// Calibration samples measured per round (default 4).
    pub samples: usize,
    /// Fraction of the widenable nodes widened per round (default 0.1).
    pub step: f64,
    /// Largest number of rounds (default 10).
    pub rounds: usize,
}

impl Default for Mixed {
    fn default() -> Self {
        Mixed {
            bits: 16,
            target_db: 40.0,
            samples: 4,
            step: 0.1,
            rounds: 10,
        }
    }
}

/// What one measurement found.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Noise-to-signal ratio of every folded node that carries an activation scale.
    pub nsr: Vec<Option<f64>>,
    /// Lowest SQNR over the graph outputs, in dB.
    pub output_db: f64,
}

/// The mixed-precision targets: starting from `targets` (one per folded node, as
/// [`crate::scales`] plans them), widens nodes round by round until the output SQNR reaches
/// `mixed.target_db`. `convert` turns targets into the round-stage graph.
pub(crate) fn widen(
    folded: &Folded,
    calib: &[Tensor],
    stats: &CalibrationStats,
    mut targets: Vec<Option<ActScale>>,
    mixed: &Mixed,
    mut convert: impl FnMut(&[Option<ActScale>]) -> QuantResult<Graph>,
) -> QuantResult<Vec<Option<ActScale>>> {
    let g = &folded.graph;
    let samples = (0..mixed.samples.clamp(1, stats.samples))
        .map(|i| calibrate::sample(g, calib, i))
        .collect::<QuantResult<Vec<_>>>()?;
    let owner = owners(g);
    let widenable: Vec<usize> = (0..g.nodes().len())
        .filter(|&i| {
            targets[i].is_some_and(|t| t.bits < mixed.bits) && folded.overrides[i].is_none()
        })
        .collect();
    let per_round = ((widenable.len() as f64 * mixed.step).ceil() as usize).max(1);
    for _ in 0..mixed.rounds {
        let round = convert(&targets)?;
        let m = measure(g, &round, &samples)?;
        if m.output_db >= mixed.target_db {
            break;
        }
        let added = added_noise(g, &m.nsr, &owner);
        let mut candidates: Vec<(f64, usize)> = widenable
            .iter()
            .filter(|&&i| targets[i].is_some_and(|t| t.bits < mixed.bits))
            .map(|&i| (added[i], i))
            .filter(|&(d, _)| d > 0.0)
            .collect();
        if candidates.is_empty() {
            break;
        }
        // Largest added noise first; node ids break ties, so the choice is deterministic.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in candidates.iter().take(per_round) {
            if let Some(t) = targets[i] {
                let threshold = t.scale * f64::from(t.hi());
                targets[i] = Some(ActScale::from_threshold(threshold, mixed.bits));
            }
        }
    }
    Ok(targets)
}

/// The node whose scale each node uses: itself, or for a node that inherits its scale, the
/// owner of its first input.
fn owners(g: &Graph) -> Vec<usize> {
    let mut owner: Vec<usize> = (0..g.nodes().len()).collect();
    for node in g.nodes() {
        if scale_kind(&node.op) == ScaleKind::Inherit
            && let Some(i) = node.inputs.first()
        {
            owner[node.id] = owner[i.node];
        }
    }
    owner
}

/// Noise added by each owner node: for every measured node, its `nsr` minus the mean `nsr` of
/// its measured inputs (at least 0), summed into its owner.
fn added_noise(g: &Graph, nsr: &[Option<f64>], owner: &[usize]) -> Vec<f64> {
    let mut added = vec![0.0; g.nodes().len()];
    for node in g.nodes() {
        let Some(out) = nsr[node.id] else { continue };
        let inputs: Vec<f64> = node.inputs.iter().filter_map(|i| nsr[i.node]).collect();
        let base = if inputs.is_empty() {
            0.0
        } else {
            inputs.iter().sum::<f64>() / inputs.len() as f64
        };
        added[owner[node.id]] += (out - base).max(0.0);
    }
    added
}

/// Runs the folded graph `g` and its round-stage graph `round` on `samples` and compares every
/// activation.
pub fn measure(g: &Graph, round: &Graph, samples: &[Vec<Tensor>]) -> QuantResult<Measured> {
    let by_name: BTreeMap<&str, usize> =
        g.nodes().iter().map(|n| (n.name.as_str(), n.id)).collect();
    let mut signal = vec![0f64; g.nodes().len()];
    let mut noise = vec![0f64; g.nodes().len()];
    let mut seen = vec![false; g.nodes().len()];
    for x in samples {
        let mut reference: Vec<Option<Vec<f32>>> = vec![None; g.nodes().len()];
        tk_ir::eval::eval_observed(g, x, |node, value| {
            if let Tensor::F32(a) = value
                && !matches!(node.op, Op::Const(_))
            {
                reference[node.id] = Some(a.iter().copied().collect());
            }
        })?;
        tk_ir::eval::eval_observed(round, x, |node, value| {
            let Some(id) = node
                .name
                .strip_suffix("/fake_quant")
                .and_then(|n| by_name.get(n).copied())
            else {
                return;
            };
            if let (Tensor::F32(a), Some(r)) = (value, &reference[id])
                && a.len() == r.len()
            {
                seen[id] = true;
                for (&q, &f) in a.iter().zip(r) {
                    signal[id] += f64::from(f) * f64::from(f);
                    noise[id] += (f64::from(q) - f64::from(f)).powi(2);
                }
            }
        })?;
    }
    let nsr: Vec<Option<f64>> = (0..g.nodes().len())
        .map(|i| seen[i].then(|| noise[i] / signal[i].max(f64::MIN_POSITIVE)))
        .collect();
    let output_db = g
        .outputs()
        .iter()
        .filter_map(|o| nsr[o.node])
        .map(|r| -10.0 * r.max(f64::MIN_POSITIVE).log10())
        .fold(f64::INFINITY, f64::min);
    Ok(Measured { nsr, output_db })
}

/// The round-stage graph of `folded` for the activation scales `act` and rounded constants
/// `rounded` of a conversion.
pub(crate) fn round_graph(
    folded: &Folded,
    act: &[Option<ActScale>],
    rounded: &BTreeMap<usize, Vec<(usize, Tensor)>>,
) -> QuantResult<Graph> {
    stages::fake_graph(&folded.graph, act, Some(rounded), true, true)
}
