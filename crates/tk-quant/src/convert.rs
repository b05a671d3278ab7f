//! The staged conversion of a float graph: fold, calibrate, choose scales, then map every node
//! onto integer ops with one rule per IR op ([`crate::rules`]).

use std::collections::BTreeMap;

use ndarray::ArrayD;
use tk_ir::ops::Op;
use tk_ir::{Graph, Node, Tensor};

use crate::calibrate::{self, Calibration, CalibrationStats};
use crate::fold::{self, Folded};
use crate::ops::{Const, QOp};
use crate::scales::{self, ActScale};
use crate::stages::{self, StageGraphs};
use crate::{
    INTEGER_SPEC_VERSION, Mixed, NodeScale, QGraph, QModel, QNode, QTensor, QuantError,
    QuantResult, quantize_value,
};

/// Options of the conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantOptions {
    /// Activation bit width, `2..=16` (default 8).
    pub bits: u8,
    /// Weight bit width, `2..=16` (default 8); weights lie in `[-(2^(wb-1) - 1), 2^(wb-1) - 1]`.
    /// Mixed precision may give some layers up to [`Mixed::weight_bits`].
    pub weight_bits: u8,
    /// One weight scale per output channel (default) instead of one per tensor.
    pub per_channel: bool,
    /// How activation thresholds are chosen.
    pub calibration: Calibration,
    /// Widen the activations and weights that lose the most until the output reaches a target
    /// SQNR ([`crate::mixed`]); `None` (default) keeps every activation at `bits` and every
    /// weight at `weight_bits`. Needs calibration data.
    pub mixed: Option<Mixed>,
    /// Fuse every activation (`Relu`, `Clip`) that follows a Conv, Gemm, Rescale or Add into that
    /// op's requantization ([`crate::fuse_clamps`]; default `true`). The fused model computes
    /// the same values with one node fewer per activation.
    pub fuse_clamps: bool,
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions {
            bits: 8,
            weight_bits: 8,
            per_channel: true,
            calibration: Calibration::MaxAbs,
            mixed: None,
            fuse_clamps: true,
        }
    }
}

impl QuantOptions {
    fn check(&self) -> QuantResult<()> {
        for (option, bits) in [("bits", self.bits), ("weight_bits", self.weight_bits)] {
            if !(2..=16).contains(&bits) {
                return Err(QuantError::Options {
                    option,
                    reason: format!("{bits} is outside 2..=16"),
                });
            }
        }
        if let Calibration::Percentile(p) = self.calibration
            && !(p > 0.0 && p <= 100.0)
        {
            return Err(QuantError::Options {
                option: "calibration",
                reason: format!("percentile {p} outside (0, 100]"),
            });
        }
        if let Some(m) = &self.mixed
            && !(self.bits < m.bits && m.bits <= 16)
        {
            return Err(QuantError::Options {
                option: "mixed.bits",
                reason: format!(
                    "{} must be above bits ({}) and at most 16",
                    m.bits, self.bits
                ),
            });
        }
        if let Some(m) = &self.mixed
            && !(self.weight_bits <= m.weight_bits && m.weight_bits <= 16)
        {
            return Err(QuantError::Options {
                option: "mixed.weight_bits",
                reason: format!(
                    "{} must be at least weight_bits ({}) and at most 16",
                    m.weight_bits, self.weight_bits
                ),
            });
        }
        Ok(())
    }
}

/// Everything [`quantize`] produces.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The integer model (validated).
    pub model: QModel,
    /// Float graphs of the intermediate stages, for accuracy tables.
    pub stages: StageGraphs,
    /// The folded float graph the model was converted from.
    pub folded: Folded,
    /// Calibration statistics per node of the folded graph (`None` when no data was given).
    pub stats: Option<CalibrationStats>,
    /// Weight bit width of every folded node with quantized weights (`Conv`, `Gemm`; `None`
    /// elsewhere).
    pub weight_bits: Vec<Option<u8>>,
    /// What mixed precision widened (`None` without [`QuantOptions::mixed`]).
    pub widened: Option<crate::mixed::Widened>,
}

/// What one conversion aims for, per folded node: the activation scale of every own-scale
/// node ([`crate::scales::plan`]) and the weight bit width of every weighted layer (read by
/// the `Conv` and `Gemm` rules only).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Targets {
    /// Target activation scale (`None` for nodes that inherit or fix theirs).
    pub act: Vec<Option<ActScale>>,
    /// Weight bit width.
    pub weight_bits: Vec<u8>,
}

/// Quantizes a float graph.
///
/// `calib` holds one tensor per graph input whose axis 0 indexes samples (see
/// [`calibrate::collect`]); it may be empty only when every scale comes from the model's own
/// `QuantizeLinear`/`DequantizeLinear` pairs, so never for a model that quantizes dynamically
/// ([`fold::Folded::dynamic`]). The graph is folded ([`fold::fold`]), calibrated, and
/// converted node by node; the resulting [`QModel`] is validated before it is returned.
/// `QModel::source_digest` is left empty for the caller to fill.
pub fn quantize(graph: &Graph, calib: &[Tensor], options: &QuantOptions) -> QuantResult<Quantized> {
    options.check()?;
    let folded = fold::fold(graph)?;
    let stats = if calib.is_empty() {
        if let Some(name) = folded.dynamic.first() {
            return Err(QuantError::Calibration {
                reason: format!(
                    "node {name:?} (DynamicQuantizeLinear) computes its scale from the data at \
                     run time; the integer standard fixes every scale ahead of time, so pass \
                     calibration data to choose a static one"
                ),
            });
        }
        None
    } else {
        Some(calibrate::collect(
            &folded.graph,
            calib,
            options.calibration.needs_histogram(),
        )?)
    };
    let mut targets = Targets {
        act: scales::plan(&folded, stats.as_ref(), options)?,
        weight_bits: vec![options.weight_bits; folded.graph.nodes().len()],
    };
    let mut widened = None;
    if let (Some(mixed), Some(stats)) = (&options.mixed, &stats) {
        let (t, w) = crate::mixed::widen(&folded, calib, stats, targets, mixed, |t| {
            let c = convert_all(&folded, options, t.clone())?;
            Ok((c.act, c.rounded))
        })?;
        targets = t;
        widened = Some(w);
    }
    let c = convert_all(&folded, options, targets)?;
    let stages = stages::build(graph, &folded, &c.act, &c.rounded)?;
    if let Some(w) = &mut widened {
        // The conversion may have narrowed weights that did not fit ([`crate::rules`]).
        w.weights = c
            .weight_bits
            .iter()
            .filter(|b| b.is_some_and(|b| b > options.weight_bits))
            .count();
    }
    let model = if options.fuse_clamps {
        let fused = crate::fuse::fuse_clamps(c.model);
        fused.validate()?;
        fused
    } else {
        c.model
    };
    Ok(Quantized {
        model,
        stages,
        folded,
        stats,
        weight_bits: c.weight_bits,
        widened,
    })
}

/// A conversion: the model, and per folded node its output scale, rounded constants and
/// weight width.
pub(crate) struct Converted {
    model: QModel,
    pub act: Vec<Option<ActScale>>,
    pub rounded: BTreeMap<usize, Vec<(usize, Tensor)>>,
    weight_bits: Vec<Option<u8>>,
}

/// Converts every node of the folded graph towards the given target scales and validates the
/// model.
fn convert_all(
    folded: &Folded,
    options: &QuantOptions,
    targets: Targets,
) -> QuantResult<Converted> {
    let mut cx = Converter::new(folded, options, targets);
    for node in folded.graph.nodes() {
        if matches!(node.op, Op::Const(_)) {
            continue;
        }
        let v = crate::rules::convert(&mut cx, node)?;
        cx.values[node.id] = Some(v);
        cx.act[node.id] = Some(ActScale {
            scale: v.scale,
            bits: v.bits,
        });
    }
    let model = cx.finish()?;
    model.validate()?;
    Ok(Converted {
        model,
        act: std::mem::take(&mut cx.act),
        rounded: std::mem::take(&mut cx.rounded),
        weight_bits: std::mem::take(&mut cx.weight_bits),
    })
}

/// An integer value produced for a float node: the id of the QNode holding it, its scale and
/// bit width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QValue {
    /// Id of the producing [`QNode`].
    pub id: usize,
    /// Real scale.
    pub scale: f64,
    /// Bit width.
    pub bits: u8,
}

/// State of one conversion, shared by the rules.
pub(crate) struct Converter<'a> {
    /// The folded float graph.
    pub graph: &'a Graph,
    origin: &'a [usize],
    /// Options.
    pub options: &'a QuantOptions,
    targets: Targets,
    values: Vec<Option<QValue>>,
    nodes: Vec<QNode>,
    scales: Vec<f64>,
    /// Output scale of every converted float node (for the stage graphs).
    pub(crate) act: Vec<Option<ActScale>>,
    /// Quantized-then-dequantized replacements of constant inputs (weights, biases) per float
    /// node: `(input position, tensor)`, used by the `Round` stage.
    pub(crate) rounded: BTreeMap<usize, Vec<(usize, Tensor)>>,
    /// Weight width each weighted layer was quantized with.
    weight_bits: Vec<Option<u8>>,
}

impl<'a> Converter<'a> {
    fn new(folded: &'a Folded, options: &'a QuantOptions, targets: Targets) -> Self {
        let n = folded.graph.nodes().len();
        Converter {
            graph: &folded.graph,
            origin: &folded.origin,
            options,
            targets,
            values: vec![None; n],
            nodes: Vec::new(),
            scales: Vec::new(),
            act: vec![None; n],
            rounded: BTreeMap::new(),
            weight_bits: vec![None; n],
        }
    }

    /// The target scale of an own-scale node.
    pub fn target(&self, node: &Node) -> QuantResult<ActScale> {
        self.targets.act[node.id].ok_or_else(|| QuantError::Calibration {
            reason: format!("node {:?} has no target scale", node.name),
        })
    }

    /// The target weight bit width of a weighted layer.
    pub fn weight_bits(&self, node: &Node) -> u8 {
        self.targets.weight_bits[node.id]
    }

    /// Records the weight bit width `node` was quantized with.
    pub fn record_weight_bits(&mut self, node: &Node, bits: u8) {
        self.weight_bits[node.id] = Some(bits);
    }

    /// The float constant feeding input `k` of `node`, if that input is a constant.
    pub fn konst(&self, node: &Node, k: usize) -> Option<&ArrayD<f32>> {
        let i = node.inputs.get(k)?;
        match self.graph.const_value(*i)? {
            Tensor::F32(a) => Some(a),
            Tensor::I64(_) => None,
        }
    }

    /// The integer value of input `k` of `node`. Constant inputs are quantized on first use
    /// at their own scale (`max |c| / (2^(bits-1) - 1)`) into a `Const` node.
    pub fn value(&mut self, node: &Node, k: usize) -> QuantResult<QValue> {
        let i = node
            .inputs
            .get(k)
            .ok_or_else(|| unsupported(node, format!("missing input {k}")))?
            .node;
        self.value_of(i)
    }

    fn value_of(&mut self, i: usize) -> QuantResult<QValue> {
        if let Some(v) = self.values[i] {
            return Ok(v);
        }
        let src = &self.graph.nodes()[i];
        let Some(Tensor::F32(c)) = self.graph.const_value(tk_ir::OutletId::new(i)) else {
            return Err(unsupported(src, "value used before it is converted".into()));
        };
        let max = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        let act = ActScale::from_threshold(
            if max > 0.0 { f64::from(max) } else { 1.0 },
            self.options.bits,
        );
        let data = c
            .iter()
            .map(|&v| quantize_value(f64::from(v), act.scale, act.lo(), act.hi()))
            .collect();
        let value = QTensor {
            shape: c.shape().to_vec(),
            data,
        };
        let v = self.push(
            src,
            "",
            QOp::Const(Const { value }),
            vec![],
            c.shape().to_vec(),
            act,
        );
        self.values[i] = Some(v);
        self.act[i] = Some(act);
        Ok(v)
    }

    /// Appends a QNode implementing (part of) `node`; `suffix` distinguishes helper nodes
    /// (`conv1/rescale`). Returns its value.
    pub fn push(
        &mut self,
        node: &Node,
        suffix: &str,
        op: QOp,
        inputs: Vec<usize>,
        shape: Vec<usize>,
        act: ActScale,
    ) -> QValue {
        let id = self.nodes.len();
        let name = if suffix.is_empty() {
            node.name.clone()
        } else {
            format!("{}/{suffix}", node.name)
        };
        self.nodes.push(QNode {
            id,
            name,
            ir_node: Some(self.origin[node.id]),
            op,
            inputs,
            shape,
            bits: act.bits,
        });
        self.scales.push(act.scale);
        QValue {
            id,
            scale: act.scale,
            bits: act.bits,
        }
    }

    /// Shape of a QNode.
    pub fn shape(&self, v: QValue) -> &[usize] {
        &self.nodes[v.id].shape
    }

    /// `v` requantized to `to` with a `Rescale` node, or `v` itself when scale and bits match.
    pub fn rescale(
        &mut self,
        node: &Node,
        v: QValue,
        to: ActScale,
        suffix: &str,
    ) -> QuantResult<QValue> {
        if v.scale == to.scale && v.bits == to.bits {
            return Ok(v);
        }
        let (m, s) = crate::quantize_multiplier(v.scale / to.scale)?;
        let op = QOp::Rescale(crate::ops::Rescale {
            requant: crate::ops::Requant {
                multipliers: vec![m],
                shifts: vec![s],
                clamp: None,
            },
        });
        let shape = self.shape(v).to_vec();
        Ok(self.push(node, suffix, op, vec![v.id], shape, to))
    }

    /// Records the rounded float replacement of constant input `k` of `node` for the `Round`
    /// stage.
    pub fn record_rounded(&mut self, node: &Node, k: usize, value: Tensor) {
        self.rounded.entry(node.id).or_default().push((k, value));
    }

    fn finish(&mut self) -> QuantResult<QModel> {
        let graph = self.graph;
        let inputs = graph
            .inputs()
            .iter()
            .map(|o| self.value_of(o.node).map(|v| v.id))
            .collect::<QuantResult<_>>()?;
        let outputs = graph
            .outputs()
            .iter()
            .map(|o| self.value_of(o.node).map(|v| v.id))
            .collect::<QuantResult<_>>()?;
        let scales = self
            .scales
            .iter()
            .enumerate()
            .map(|(node, &s)| NodeScale {
                node,
                scale: s as f32,
            })
            .collect();
        Ok(QModel {
            spec_version: INTEGER_SPEC_VERSION,
            producer: format!("tachikoma {}", env!("CARGO_PKG_VERSION")),
            source_digest: String::new(),
            graph: QGraph {
                nodes: std::mem::take(&mut self.nodes),
                inputs,
                outputs,
            },
            scales,
        })
    }
}

/// An [`QuantError::Unsupported`] for `node`.
pub(crate) fn unsupported(node: &Node, reason: String) -> QuantError {
    QuantError::Unsupported {
        node: node.name.clone(),
        op: tk_ir::ops::OpDef::name(&node.op),
        reason,
    }
}
