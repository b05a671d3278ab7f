//! The `params` map of a record: an op's scalar parameters inline, its large constants
//! (weights, biases, tables) by reference to the model node that holds them.

use serde::{Deserialize, Serialize};
use tk_quant::ops::{PoolGeometry, QOp, Requant};

/// Scalar parameters of one op. Absent keys are omitted from the encoding; which keys an op
/// has is listed per op in `docs/spec/trace-format.md`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// Node whose op holds the large constants (weights and bias, or the table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<u64>,
    /// Shape of the weight tensor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_shape: Option<Vec<u64>>,
    /// Window `[kh, kw]` of a pooling op.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Vec<u64>>,
    /// Strides `[sh, sw]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strides: Option<Vec<u64>>,
    /// Padding: `[top, left, bottom, right]` (Conv, pools) or `[begins.., ends..]` (Pad).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pads: Option<Vec<u64>>,
    /// Dilations `[dh, dw]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dilations: Option<Vec<u64>>,
    /// Convolution groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u64>,
    /// Requantization multipliers `M` (per tensor, per channel, or per count for AvgPool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipliers: Option<Vec<i64>>,
    /// Requantization shifts, one per multiplier (Conv, Gemm, Rescale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shifts: Option<Vec<u64>>,
    /// Single shift (Add, Mul, AvgPool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<u64>,
    /// Add: multiplier of the first input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ma: Option<i64>,
    /// Add: multiplier of the second input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mb: Option<i64>,
    /// Mul: multiplier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub m: Option<i64>,
    /// Clip: lower bound; Conv, Gemm, Rescale, Add: lower bound of the fused clamp, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lo: Option<i64>,
    /// Clip: upper bound; Conv, Gemm, Rescale, Add: upper bound of the fused clamp, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hi: Option<i64>,
    /// Lut: smallest input value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_lo: Option<i64>,
    /// Lut, Softmax: table length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_len: Option<u64>,
    /// Lut: the float function the table approximates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// AvgPool: whether padding counts in the divisor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_include_pad: Option<bool>,
    /// Softmax, Concat: axis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axis: Option<u64>,
    /// Softmax: output fraction bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frac_bits: Option<u64>,
    /// Transpose: permutation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perm: Option<Vec<u64>>,
    /// Slice: start per axis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts: Option<Vec<u64>>,
    /// Slice: step per axis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<i64>>,
    /// Resize: factor per axis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scales: Option<Vec<u64>>,
}

fn u64s(v: &[usize]) -> Option<Vec<u64>> {
    Some(v.iter().map(|&x| x as u64).collect())
}

fn requant(p: &mut Params, r: &Requant) {
    p.multipliers = Some(r.multipliers.iter().map(|&m| i64::from(m)).collect());
    p.shifts = Some(r.shifts.iter().map(|&s| u64::from(s)).collect());
    if let Some([lo, hi]) = r.clamp {
        p.lo = Some(i64::from(lo));
        p.hi = Some(i64::from(hi));
    }
}

fn geometry(p: &mut Params, g: &PoolGeometry) {
    p.kernel = u64s(&g.kernel);
    p.strides = u64s(&g.strides);
    p.pads = u64s(&g.pads);
}

impl Params {
    /// The parameters of node `node`'s op, as the writer records them and the checker expects
    /// them.
    pub fn of(op: &QOp, node: usize) -> Params {
        let mut p = Params::default();
        let node = node as u64;
        match op {
            QOp::Input(_) | QOp::Reshape(_) => {}
            QOp::Const(_) => p.weights = Some(node),
            QOp::Conv(c) => {
                p.weights = Some(node);
                p.weight_shape = u64s(&c.weight.shape);
                p.strides = u64s(&c.strides);
                p.pads = u64s(&c.pads);
                p.dilations = u64s(&c.dilations);
                p.group = Some(c.group as u64);
                requant(&mut p, &c.requant);
            }
            QOp::Gemm(g) => {
                p.weights = Some(node);
                p.weight_shape = u64s(&g.weight.shape);
                requant(&mut p, &g.requant);
            }
            QOp::Add(a) => {
                p.ma = Some(i64::from(a.ma));
                p.mb = Some(i64::from(a.mb));
                p.shift = Some(u64::from(a.shift));
                if let Some([lo, hi]) = a.clamp {
                    p.lo = Some(i64::from(lo));
                    p.hi = Some(i64::from(hi));
                }
            }
            QOp::Mul(m) => {
                p.m = Some(i64::from(m.m));
                p.shift = Some(u64::from(m.shift));
            }
            QOp::Rescale(r) => requant(&mut p, &r.requant),
            QOp::Clip(c) => {
                p.lo = Some(i64::from(c.lo));
                p.hi = Some(i64::from(c.hi));
            }
            QOp::Lut(l) => {
                p.weights = Some(node);
                p.function = Some(l.function.clone());
                p.in_lo = Some(i64::from(l.in_lo));
                p.table_len = Some(l.table.len() as u64);
            }
            QOp::MaxPool(m) => geometry(&mut p, &m.geometry),
            QOp::AvgPool(a) => {
                geometry(&mut p, &a.geometry);
                p.count_include_pad = Some(a.count_include_pad);
                p.multipliers = Some(a.multipliers.iter().map(|&m| i64::from(m)).collect());
                p.shift = Some(u64::from(a.shift));
            }
            QOp::Softmax(s) => {
                p.weights = Some(node);
                p.axis = Some(s.axis as u64);
                p.table_len = Some(s.exp_table.len() as u64);
                p.frac_bits = Some(u64::from(s.frac_bits));
            }
            QOp::Concat(c) => p.axis = Some(c.axis as u64),
            QOp::Transpose(t) => p.perm = u64s(&t.perm),
            QOp::Slice(s) => {
                p.starts = u64s(&s.starts);
                p.steps = Some(s.steps.clone());
            }
            QOp::Pad(pad) => p.pads = u64s(&pad.pads),
            QOp::Resize(r) => p.scales = u64s(&r.scales),
        }
        p
    }

    /// Length of the longest string field (for the reader's limit).
    pub(crate) fn longest_string(&self) -> usize {
        self.function.as_ref().map_or(0, String::len)
    }
}
