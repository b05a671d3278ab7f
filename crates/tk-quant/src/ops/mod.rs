//! Integer operators of a quantized model, one file per op.
//!
//! Each struct holds the op's integer parameters exactly as `docs/spec/integer-ops.md` defines
//! them; the kernels live in `tk-runtime/src/kernels/<op>.rs`, the chips in
//! `tk-circuit/src/chips/`. Adding an op: a file here, one line in `declare_qops!`, a kernel,
//! a checker rule and a chip.

use serde::{Deserialize, Serialize};

/// Per-tensor or per-channel requantization parameters `(M, s)` (spec section 3).
///
/// Either one pair (per tensor) or one pair per output channel. Every `M` is in `1..2^31`,
/// every `s` in `0..=62`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requant {
    /// Multipliers `M`.
    pub multipliers: Vec<i32>,
    /// Shifts `s`, same length as `multipliers`.
    pub shifts: Vec<u8>,
}

impl Requant {
    /// `(M, s)` for output channel `c` (channel 0 for per-tensor parameters).
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
            /// Operator name, as used in traces.
            pub fn name(&self) -> &'static str {
                match self {
                    $(QOp::$ty(_) => stringify!($ty),)*
                }
            }
        }
    };
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
