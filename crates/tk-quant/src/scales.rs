//! Choosing the activation scale of every node: calibration thresholds, QDQ overrides, and
//! the few ops whose scale is inherited or fixed.

use tk_ir::ops::Op;

use crate::calibrate::CalibrationStats;
use crate::fold::Folded;
use crate::{QuantError, QuantOptions, QuantResult};

/// The real scale and bit width of an activation tensor: element `q` stands for `q * scale`
/// and lies in `[-2^(bits-1), 2^(bits-1) - 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActScale {
    /// Real value of one integer step, positive.
    pub scale: f64,
    /// Bit width, in `2..=16`.
    pub bits: u8,
}

impl ActScale {
    /// The scale that maps `threshold` to the largest value `2^(bits-1) - 1`.
    pub fn from_threshold(threshold: f64, bits: u8) -> ActScale {
        ActScale {
            scale: threshold / f64::from(hi(bits)),
            bits,
        }
    }

    /// Largest integer value.
    pub fn hi(&self) -> i32 {
        hi(self.bits)
    }

    /// Smallest integer value.
    pub fn lo(&self) -> i32 {
        -(1 << (self.bits - 1))
    }
}

fn hi(bits: u8) -> i32 {
    (1 << (bits - 1)) - 1
}

/// How an op's output scale is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScaleKind {
    /// From the node's own calibration statistics (or QDQ override).
    Own,
    /// Equal to the scale of the first input (wiring, clamping, max pooling).
    Inherit,
    /// Fixed by the op (`Softmax`: `2^-(bits-1)`).
    Fixed,
}

/// The scale kind of a float op.
pub(crate) fn scale_kind(op: &Op) -> ScaleKind {
    match op {
        Op::Relu(_)
        | Op::Clip(_)
        | Op::MaxPool(_)
        | Op::Reshape(_)
        | Op::Flatten(_)
        | Op::Squeeze(_)
        | Op::Unsqueeze(_)
        | Op::Transpose(_)
        | Op::Slice(_)
        | Op::Pad(_)
        | Op::Resize(_)
        | Op::Identity(_) => ScaleKind::Inherit,
        Op::Softmax(_) => ScaleKind::Fixed,
        _ => ScaleKind::Own,
    }
}

/// Target scale of every node with [`ScaleKind::Own`] (other entries `None`).
///
/// A QDQ override wins; otherwise the calibrated threshold for `options.calibration` at
/// `options.bits` (a node that only ever held zeros gets threshold 1). A node whose only
/// consumer is a `Relu`/`Clip` takes that consumer's threshold or override instead, so the
/// clamp does not waste half of the range. Errors when a node needs calibration statistics
/// and none were collected.
pub(crate) fn plan(
    folded: &Folded,
    stats: Option<&CalibrationStats>,
    options: &QuantOptions,
) -> QuantResult<Vec<Option<ActScale>>> {
    let g = &folded.graph;
    let uses = g.use_counts();
    let succ = g.successors();
    let is_output: Vec<bool> = (0..g.nodes().len())
        .map(|i| g.outputs().iter().any(|o| o.node == i))
        .collect();
    let own = |id: usize| -> QuantResult<Option<ActScale>> {
        if let Some(o) = folded.overrides[id] {
            return Ok(Some(o));
        }
        let Some(stats) = stats else { return Ok(None) };
        let threshold = stats
            .nodes
            .get(id)
            .and_then(|s| s.as_ref())
            .and_then(|s| s.threshold(options.calibration, options.bits))
            .map_or(1.0, f64::from);
        Ok(Some(ActScale::from_threshold(threshold, options.bits)))
    };
    let mut out = vec![None; g.nodes().len()];
    for node in g.nodes() {
        if scale_kind(&node.op) != ScaleKind::Own || matches!(node.op, Op::Const(_)) {
            continue;
        }
        let mut target = own(node.id)?;
        if folded.overrides[node.id].is_none()
            && uses[node.id] == 1
            && !is_output[node.id]
            && let [c] = succ[node.id][..]
            && matches!(g.nodes()[c].op, Op::Relu(_) | Op::Clip(_))
        {
            target = own(c)?.or(target);
        }
        let target = target.ok_or_else(|| QuantError::Calibration {
            reason: format!(
                "node {:?} has no scale from the model and no calibration data was given",
                node.name
            ),
        })?;
        out[node.id] = Some(target);
    }
    Ok(out)
}
