//! Integer operators of a quantized model, one file per op.
//!
//! Each struct holds the op's integer parameters exactly as `docs/spec/integer-ops.md` defines
//! them; the kernels live in `tk-runtime/src/kernels/<op>.rs`, the chips in
//! `tk-circuit/src/chips/`. Adding an op: a file here, one line in `declare_qops!`, a kernel,
//! a checker rule and a chip.

use serde::{Deserialize, Serialize};

use crate::QNode;

/// Static typing of an integer op, used by [`crate::QModel::validate`].
///
/// `check` verifies the op's parameters against its producers (already validated) and the
/// claimed output bit width `node.bits`, and returns the output shape implied by the op, which
/// the caller compares with `node.shape`. It never panics, whatever the parameters: this is
/// what makes a loaded `.tkq` safe to run. Errors are human-readable reasons.
pub trait QOpDef {
    /// Checks the op and returns its output shape.
    fn check(&self, inputs: &[&QNode], node: &QNode) -> Result<Vec<usize>, String>;
}

/// Largest accumulator magnitude allowed by the spec: `|acc| < 2^ACC_BITS`.
pub const ACC_BITS: u32 = 40;

/// Checks the number of inputs.
pub fn expect_arity(inputs: &[&QNode], n: usize) -> Result<(), String> {
    if inputs.len() != n {
        return Err(format!("expected {n} inputs, got {}", inputs.len()));
    }
    Ok(())
}

/// Checks that a wiring or clamping op keeps the bit width of its input.
pub fn expect_same_bits(input: &QNode, node: &QNode) -> Result<(), String> {
    if input.bits != node.bits {
        return Err(format!(
            "output bits {} differ from input bits {}",
            node.bits, input.bits
        ));
    }
    Ok(())
}

/// Checks a requantization multiplier and shift: `1 <= m < 2^31`, `s <= 62`.
pub fn check_multiplier(m: i32, s: u8) -> Result<(), String> {
    if m < 1 {
        return Err(format!("multiplier {m} must be at least 1"));
    }
    if s > 62 {
        return Err(format!("shift {s} exceeds 62"));
    }
    Ok(())
}

/// Checks a fused clamp: absent, or a non-empty interval inside `node`'s output range.
pub fn check_clamp(clamp: Option<[i32; 2]>, node: &QNode) -> Result<(), String> {
    match clamp {
        Some([lo, hi]) if !(node.lo() <= lo && lo <= hi && hi <= node.hi()) => Err(format!(
            "fused clamp [{lo}, {hi}] is empty or leaves the output range [{}, {}]",
            node.lo(),
            node.hi()
        )),
        _ => Ok(()),
    }
}

/// Largest magnitude of a value of `bits` bits: `2^(bits - 1)`.
pub fn max_magnitude(bits: u8) -> u128 {
    1u128 << (bits.clamp(1, 32) - 1)
}

/// Checks the worst-case accumulator `|bias| + Σ|w| * 2^(bits - 1)` of one output channel
/// against `2^ACC_BITS`.
pub fn check_accumulator(
    bias: i32,
    weights: &[i32],
    input_bits: u8,
    channel: usize,
) -> Result<(), String> {
    let sum: u128 = weights.iter().map(|w| u128::from(w.unsigned_abs())).sum();
    let bound = u128::from(bias.unsigned_abs()) + sum * max_magnitude(input_bits);
    if bound >= 1u128 << ACC_BITS {
        return Err(format!(
            "channel {channel}: worst-case accumulator {bound} reaches 2^{ACC_BITS}"
        ));
    }
    Ok(())
}

/// Product of dimensions, or an error when it overflows.
pub fn volume(shape: &[usize]) -> Result<usize, String> {
    tk_ir::checked_volume(shape).map_err(|e| e.to_string())
}

/// Checks that a [`QTensor`](crate::QTensor) holds exactly as many elements as its shape says.
pub fn check_tensor(t: &crate::QTensor, what: &str) -> Result<(), String> {
    if volume(&t.shape)? != t.data.len() {
        return Err(format!(
            "{what} shape {:?} does not match its {} elements",
            t.shape,
            t.data.len()
        ));
    }
    Ok(())
}

/// Per-tensor or per-channel requantization parameters `(M, s)` (spec section 3), with an
/// optional fused clamp.
///
/// Either one pair (per tensor) or one pair per output channel. Every `M` is in `1..2^31`,
/// every `s` in `0..=62`. When `clamp` is `Some([lo, hi])` the op's result is clamped to
/// `[lo, hi]` instead of its output range: this is an activation (`Relu`, `Clip`) fused into
/// the op. It lies within the output range and `lo <= hi`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requant {
    /// Multipliers `M`.
    pub multipliers: Vec<i32>,
    /// Shifts `s`, same length as `multipliers`.
    pub shifts: Vec<u8>,
    /// Fused clamp bounds `[lo, hi]`, replacing the output range (integer spec version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clamp: Option<[i32; 2]>,
}

impl Requant {
    /// Checks the pairs (equal lengths, one pair or exactly `channels` pairs, each valid) and
    /// the fused clamp against `node`'s output range.
    pub fn check(&self, channels: usize, node: &QNode) -> Result<(), String> {
        let n = self.multipliers.len();
        if n != self.shifts.len() {
            return Err(format!("{n} multipliers but {} shifts", self.shifts.len()));
        }
        if n != 1 && n != channels {
            return Err(format!("{n} requantization pairs for {channels} channels"));
        }
        for (&m, &s) in self.multipliers.iter().zip(&self.shifts) {
            check_multiplier(m, s)?;
        }
        check_clamp(self.clamp, node)
    }

    /// `(M, s)` for output channel `c` (channel 0 for per-tensor parameters). Panics when `c`
    /// is out of range; [`Requant::check`] (run by validation) rules that out.
    pub fn for_channel(&self, c: usize) -> (i32, u8) {
        let i = if self.multipliers.len() == 1 { 0 } else { c };
        (self.multipliers[i], self.shifts[i])
    }
}

/// Window geometry shared by the pooling ops (2-D, NCHW).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolGeometry {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`; ceil mode is resolved into extra bottom/right padding.
    pub pads: [usize; 4],
}

impl PoolGeometry {
    /// Output shape `[N, C, OH, OW]` for input `[N, C, H, W]`, with
    /// `OH = (H + top + bottom - kh) / sh + 1`. Rejects geometries where a window could lie
    /// entirely in padding (`top >= kh`, or a last window starting at or after `H + top`), so
    /// that every window covers at least one input position.
    pub fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>, String> {
        let &[n, c, h, w] = x else {
            return Err(format!("pooling needs an NCHW input, got {x:?}"));
        };
        let dim = |axis: usize, input: usize| -> Result<usize, String> {
            let (k, s) = (self.kernel[axis], self.strides[axis]);
            let (pb, pe) = (self.pads[axis], self.pads[axis + 2]);
            if k == 0 || s == 0 {
                return Err(format!("kernel and strides must be positive: {self:?}"));
            }
            if pb >= k {
                return Err(format!(
                    "begin padding {pb} must be smaller than the kernel {k}"
                ));
            }
            let padded = input
                .checked_add(pb)
                .and_then(|v| v.checked_add(pe))
                .ok_or("padded size overflows")?;
            if k > padded {
                return Err(format!("kernel {k} does not fit padded input {padded}"));
            }
            let out = (padded - k) / s + 1;
            if (out - 1)
                .checked_mul(s)
                .is_none_or(|start| start >= input + pb)
            {
                return Err(format!(
                    "the last window lies entirely in the end padding: {self:?}"
                ));
            }
            Ok(out)
        };
        Ok(vec![n, c, dim(0, h)?, dim(1, w)?])
    }
}

macro_rules! declare_qops {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        $(pub mod $module; pub use $module::$ty;)*

        /// Every integer operator.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[allow(missing_docs)]
        pub enum QOp {
            $($ty($ty),)*
        }

        impl QOp {
            /// The op as a trait object for static checks.
            pub fn as_def(&self) -> &dyn QOpDef {
                match self {
                    $(QOp::$ty(op) => op,)*
                }
            }

            /// Operator name, as used in traces.
            pub fn name(&self) -> &'static str {
                match self {
                    $(QOp::$ty(_) => stringify!($ty),)*
                }
            }
        }
    };
}

impl QOp {
    /// The fused clamp of the ops that can carry one (Conv, Gemm, Rescale, Add; integer
    /// standard version 2), if set.
    pub fn fused_clamp(&self) -> Option<[i32; 2]> {
        match self {
            QOp::Conv(op) => op.requant.clamp,
            QOp::Gemm(op) => op.requant.clamp,
            QOp::Rescale(op) => op.requant.clamp,
            QOp::Add(op) => op.clamp,
            _ => None,
        }
    }

    /// Whether the op can carry a fused clamp (Conv, Gemm, Rescale, Add).
    pub fn takes_fused_clamp(&self) -> bool {
        matches!(
            self,
            QOp::Conv(_) | QOp::Gemm(_) | QOp::Rescale(_) | QOp::Add(_)
        )
    }

    /// Where the ops that can carry a fused clamp store it; `None` for the other ops.
    pub fn fused_clamp_slot(&mut self) -> Option<&mut Option<[i32; 2]>> {
        match self {
            QOp::Conv(op) => Some(&mut op.requant.clamp),
            QOp::Gemm(op) => Some(&mut op.requant.clamp),
            QOp::Rescale(op) => Some(&mut op.requant.clamp),
            QOp::Add(op) => Some(&mut op.clamp),
            _ => None,
        }
    }
}

declare_qops! {
    input::Input,
    konst::Const,
    conv::Conv,
    gemm::Gemm,
    add::Add,
    mul::Mul,
    requant_op::Rescale,
    clip::Clip,
    lut::Lut,
    max_pool::MaxPool,
    avg_pool::AvgPool,
    softmax::Softmax,
    concat::Concat,
    reshape::Reshape,
    transpose::Transpose,
    slice::Slice,
    pad::Pad,
    resize::Resize,
}
