//! Mixed precision: wider activations (16 bits by default) and wider weights (12 bits by
//! default) on the layers whose rounding costs the most, chosen from the error measured on
//! the calibration samples.
//!
//! Every quantized layer has two noise sources: rounding its output activation and rounding
//! its weights (and bias). Each round converts the graph with the current targets and runs the
//! folded float graph and the `Round` stage graph ([`crate::stages`]) on a few calibration
//! samples. From the float values it measures the *local* noise-to-signal ratio (`nsr = Σ (q -
//! f)^2 / Σ f^2`) of each source on its own: the activation fake-quantized at its scale, and a
//! `Conv`/`Gemm` recomputed from its float input with its rounded weights and bias. From the
//! `Round` graph it measures the *accumulated* `nsr` of every activation, at the same points.
//!
//! Deep networks amplify noise as it travels: each layer multiplies the accumulated `nsr` of
//! its inputs by a gain, so the output error is about `Σ_i G_i * local_i` where `G_i` is the
//! gain from source `i` to the outputs. Each layer's own gain is estimated from the
//! measurements (`(nsr_acc - local) / nsr_acc of its inputs`) and multiplied back from the
//! outputs; sources are ranked by `G_i * local_i`. In a deep random-weight network
//! early layers come first (the rest of the network amplifies their error); in a shallow one
//! the largest local errors do. While the output SQNR is
//! below the target, the largest sources (a [`Mixed::step`] fraction of all candidate sources
//! per round) are widened: an activation to [`Mixed::bits`] bits at the same threshold, the
//! weights of a `Conv`/`Gemm` to [`Mixed::weight_bits`] bits (or the widest width whose bias
//! and accumulator still fit). Scales fixed by the model (QDQ) never change.

use std::collections::BTreeMap;

use tk_ir::ops::{FakeQuant, Op};
use tk_ir::{Graph, Tensor};

use crate::calibrate::{self, CalibrationStats};
use crate::convert::Targets;
use crate::fold::Folded;
use crate::scales::{ActScale, ScaleKind, scale_kind};
use crate::{QuantResult, stages};

/// Settings of mixed precision.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixed {
    /// Bit width of widened activations, `bits < wide <= 16` (default 16).
    pub bits: u8,
    /// Bit width of widened weights, `weight_bits <= wide <= 16` (default 12); equal to
    /// `QuantOptions::weight_bits`, weights are never widened.
    pub weight_bits: u8,
    /// Stop once the output SQNR over the samples reaches this many dB (default 40).
    pub target_db: f64,
    /// Calibration samples measured per round (default 4).
    pub samples: usize,
    /// Fraction of the candidate noise sources (activations and weights) widened per round
    /// (default 0.1).
    pub step: f64,
    /// Largest number of rounds (default 10).
    pub rounds: usize,
}

impl Default for Mixed {
    fn default() -> Self {
        Mixed {
            bits: 16,
            weight_bits: 12,
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

/// What mixed precision widened.
#[derive(Debug, Clone, PartialEq)]
pub struct Widened {
    /// Nodes whose own activation scale could be widened.
    pub activation_candidates: usize,
    /// Of those, the widened ones.
    pub activations: usize,
    /// Weighted layers (`Conv`, `Gemm`) whose weights could be widened.
    pub weight_candidates: usize,
    /// Of those, the ones quantized with more than `QuantOptions::weight_bits` bits.
    pub weights: usize,
    /// Rounds measured.
    pub rounds: usize,
    /// Output SQNR of the `Round` stage at each round, in dB (the last one is before the
    /// final widening, if the target was not reached).
    pub output_db: Vec<f64>,
}

/// A noise source that can be widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Activation,
    Weights,
}

/// Per folded node, what a conversion chose: output activation scales and rounded constants
/// of the weighted layers.
pub(crate) type Conversion = (Vec<Option<ActScale>>, BTreeMap<usize, Vec<(usize, Tensor)>>);

/// The mixed-precision targets: starting from `targets` (activation scales as
/// [`crate::scales`] plans them, base weight widths), widens noise sources round by round until
/// the output SQNR reaches `mixed.target_db`. `convert` runs a conversion for some targets.
pub(crate) fn widen(
    folded: &Folded,
    calib: &[Tensor],
    stats: &CalibrationStats,
    mut targets: Targets,
    mixed: &Mixed,
    mut convert: impl FnMut(&Targets) -> QuantResult<Conversion>,
) -> QuantResult<(Targets, Widened)> {
    let g = &folded.graph;
    let samples = (0..mixed.samples.clamp(1, stats.samples))
        .map(|i| calibrate::sample(g, calib, i))
        .collect::<QuantResult<Vec<_>>>()?;
    let act_ok = |t: &Targets, i: usize| t.act[i].is_some_and(|a| a.bits < mixed.bits);
    let weights_ok =
        |t: &Targets, i: usize| t.weight_bits[i] < mixed.weight_bits && has_weights(g, i);
    let acts: Vec<usize> = (0..g.nodes().len())
        .filter(|&i| act_ok(&targets, i) && folded.overrides[i].is_none())
        .collect();
    let weighted: Vec<usize> = (0..g.nodes().len())
        .filter(|&i| weights_ok(&targets, i) && folded.overrides[i].is_none())
        .collect();
    let per_round = (((acts.len() + weighted.len()) as f64 * mixed.step).ceil() as usize).max(1);
    let mut report = Widened {
        activation_candidates: acts.len(),
        activations: 0,
        weight_candidates: weighted.len(),
        weights: 0,
        rounds: 0,
        output_db: Vec::new(),
    };
    for _ in 0..mixed.rounds {
        let (act, rounded) = convert(&targets)?;
        let round = stages::fake_graph(g, &act, Some(&rounded), true, true)?;
        let m = measure_sources(g, &round, &act, &rounded, &samples)?;
        report.rounds += 1;
        report.output_db.push(m.accumulated.output_db);
        if m.accumulated.output_db >= mixed.target_db {
            break;
        }
        let gain = gains(g, &m);
        let mut candidates: Vec<(f64, usize, Source)> = acts
            .iter()
            .filter(|&&i| act_ok(&targets, i))
            .map(|&i| (gain[i] * m.local_act[i], i, Source::Activation))
            .chain(
                weighted
                    .iter()
                    .filter(|&&i| weights_ok(&targets, i))
                    .map(|&i| (gain[i] * m.local_weights[i], i, Source::Weights)),
            )
            .filter(|&(d, _, _)| d > 0.0)
            .collect();
        if candidates.is_empty() {
            break;
        }
        // Largest estimated contribution first; node ids and the source break ties, so the choice is
        // deterministic.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for &(_, i, source) in candidates.iter().take(per_round) {
            match source {
                Source::Activation => {
                    if let Some(t) = targets.act[i] {
                        let threshold = t.scale * f64::from(t.hi());
                        targets.act[i] = Some(ActScale::from_threshold(threshold, mixed.bits));
                        report.activations += 1;
                    }
                }
                Source::Weights => {
                    targets.weight_bits[i] = mixed.weight_bits;
                    report.weights += 1;
                }
            }
        }
    }
    Ok((targets, report))
}

/// Estimated gain from each node's output to the graph outputs: how much an `nsr` added at the
/// node grows by the time it reaches an output (summed over outputs).
///
/// A node's own gain is `(nsr_acc - local) / mean nsr_acc of its inputs`, where `local` is the
/// noise it injects itself (its weights; its activation rounding unless it inherits its
/// input's scale, which rounds nothing new). Gains to the outputs are then propagated
/// backwards, an input receiving its consumer's gain divided by the consumer's measured inputs.
fn gains(g: &Graph, m: &Sources) -> Vec<f64> {
    let nsr = &m.accumulated.nsr;
    let n = g.nodes().len();
    let measured = |node: &tk_ir::Node| -> Vec<usize> {
        node.inputs
            .iter()
            .map(|i| i.node)
            .filter(|&i| nsr[i].is_some())
            .collect()
    };
    let mut own = vec![0.0; n];
    for node in g.nodes() {
        let Some(out) = nsr[node.id] else { continue };
        let inputs = measured(node);
        if inputs.is_empty() {
            continue;
        }
        let mean = inputs.iter().filter_map(|&i| nsr[i]).sum::<f64>() / inputs.len() as f64;
        let act = if scale_kind(&node.op) == ScaleKind::Inherit {
            0.0
        } else {
            m.local_act[node.id]
        };
        let local = act + m.local_weights[node.id];
        if mean > 0.0 {
            own[node.id] = (out - local).max(0.0) / mean;
        }
    }
    let mut to_out = vec![0.0; n];
    for o in g.outputs() {
        to_out[o.node] += 1.0;
    }
    for node in g.nodes().iter().rev() {
        let inputs = measured(node);
        let share = to_out[node.id] * own[node.id] / inputs.len().max(1) as f64;
        for i in inputs {
            to_out[i] += share;
        }
    }
    to_out
}

/// Whether node `i` is a layer with quantized weights.
fn has_weights(g: &Graph, i: usize) -> bool {
    matches!(g.nodes()[i].op, Op::Conv(_) | Op::Gemm(_))
}

/// Node ids of the folded graph `g` by name.
fn ids_by_name(g: &Graph) -> BTreeMap<&str, usize> {
    g.nodes().iter().map(|n| (n.name.as_str(), n.id)).collect()
}

/// The folded node that a round-stage node named `NAME/fake_quant` quantizes (`None` for any
/// other node).
fn fake_quant_source(name: &str, by_name: &BTreeMap<&str, usize>) -> Option<usize> {
    name.strip_suffix("/fake_quant")
        .and_then(|n| by_name.get(n).copied())
}

/// Runs the folded graph `g` and its round-stage graph `round` on `samples` and compares every
/// activation.
pub fn measure(g: &Graph, round: &Graph, samples: &[Vec<Tensor>]) -> QuantResult<Measured> {
    let by_name = ids_by_name(g);
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
            let Some(id) = fake_quant_source(&node.name, &by_name) else {
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

/// Local and accumulated noise of one conversion (see the module docs).
struct Sources {
    /// Accumulated `nsr` of every activation in the `Round` graph.
    accumulated: Measured,
    /// Local `nsr` of fake-quantizing each node's float output at its scale (0 where none).
    local_act: Vec<f64>,
    /// Local `nsr` of each weighted layer run on its float input with its rounded weights and
    /// bias (0 elsewhere).
    local_weights: Vec<f64>,
}

/// Measures [`Sources`] for the round-stage graph `round` built from `act` and `rounded`.
fn measure_sources(
    g: &Graph,
    round: &Graph,
    act: &[Option<ActScale>],
    rounded: &BTreeMap<usize, Vec<(usize, Tensor)>>,
    samples: &[Vec<Tensor>],
) -> QuantResult<Sources> {
    let n = g.nodes().len();
    let by_name = ids_by_name(g);
    let mut signal = vec![0f64; n];
    let mut noise = vec![0f64; n];
    let mut noise_act = vec![0f64; n];
    let mut noise_w = vec![0f64; n];
    let mut seen = vec![false; n];
    for x in samples {
        let mut reference: Vec<Option<Tensor>> = vec![None; n];
        let mut failure = None;
        tk_ir::eval::eval_observed(g, x, |node, value| {
            let Tensor::F32(f) = value else { return };
            if matches!(node.op, Op::Const(_)) || failure.is_some() {
                return;
            }
            signal[node.id] += f.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
            if let Some(a) = act[node.id] {
                let fq = fake_quant(a);
                noise_act[node.id] += f
                    .iter()
                    .map(|&v| (f64::from(fq.apply(v)) - f64::from(v)).powi(2))
                    .sum::<f64>();
            }
            if let Some(consts) = rounded.get(&node.id) {
                match local_layer(g, node, consts, &reference) {
                    Ok(Some(y)) => noise_w[node.id] += sq_diff(&y, value),
                    Ok(None) => {}
                    Err(e) => failure = Some(e),
                }
            }
            reference[node.id] = Some(value.clone());
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        tk_ir::eval::eval_observed(round, x, |node, value| {
            let Some(id) = fake_quant_source(&node.name, &by_name) else {
                return;
            };
            if let Some(r) = &reference[id] {
                seen[id] = true;
                noise[id] += sq_diff(value, r);
            }
        })?;
    }
    let ratio = |noise: &[f64]| -> Vec<f64> {
        noise
            .iter()
            .zip(&signal)
            .map(|(&e, &s)| e / s.max(f64::MIN_POSITIVE))
            .collect()
    };
    let nsr: Vec<Option<f64>> = ratio(&noise)
        .into_iter()
        .enumerate()
        .map(|(i, r)| seen[i].then_some(r))
        .collect();
    let output_db = g
        .outputs()
        .iter()
        .filter_map(|o| nsr[o.node])
        .map(|r| -10.0 * r.max(f64::MIN_POSITIVE).log10())
        .fold(f64::INFINITY, f64::min);
    Ok(Sources {
        accumulated: Measured { nsr, output_db },
        local_act: ratio(&noise_act),
        local_weights: ratio(&noise_w),
    })
}

/// The output of weighted layer `node` recomputed from its float inputs in `values` with its
/// rounded constants `consts`; `None` when an input is missing.
fn local_layer(
    g: &Graph,
    node: &tk_ir::Node,
    consts: &[(usize, Tensor)],
    values: &[Option<Tensor>],
) -> QuantResult<Option<Tensor>> {
    let mut args: Vec<&Tensor> = Vec::with_capacity(node.inputs.len());
    for (k, i) in node.inputs.iter().enumerate() {
        let value = match consts.iter().find(|(p, _)| *p == k) {
            Some((_, t)) => Some(t),
            None => match &g.nodes()[i.node].op {
                Op::Const(c) => Some(&c.value),
                _ => values[i.node].as_ref(),
            },
        };
        let Some(value) = value else { return Ok(None) };
        args.push(value);
    }
    Ok(Some(node.op.as_def().eval(&args)?))
}

/// `Σ (a - b)^2` over two float tensors of the same length (0 otherwise).
fn sq_diff(a: &Tensor, b: &Tensor) -> f64 {
    match (a, b) {
        (Tensor::F32(a), Tensor::F32(b)) if a.len() == b.len() => a
            .iter()
            .zip(b.iter())
            .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
            .sum(),
        _ => 0.0,
    }
}

/// The fake quantization (clip and round) of an activation at `a`.
fn fake_quant(a: ActScale) -> FakeQuant {
    FakeQuant {
        scale: a.scale as f32,
        lo: a.lo() as f32,
        hi: a.hi() as f32,
        round: true,
        clip: true,
    }
}
