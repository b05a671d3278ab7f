//! Operators of the float IR, one file per op.
//!
//! Each op is a struct with public fields and an [`OpDef`] impl with three items in a fixed
//! order: `name`, `output_fact` (all validation happens here, when the graph is built) and
//! `eval` (float reference semantics, called only on inputs whose facts were accepted).
//!
//! Adding an op: write `ops/<name>.rs` with the struct and its `OpDef` impl, then add one line
//! to the `declare_ops!` list below.

use crate::{Fact, OpError, Tensor};

pub mod broadcast;
pub mod pool;

/// What every IR op provides.
pub trait OpDef {
    /// Operator name, as in ONNX where one exists.
    fn name(&self) -> &'static str;
    /// Infers the output fact from the input facts, rejecting anything invalid.
    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError>;
    /// Evaluates the op in float. Inputs have the facts that `output_fact` accepted.
    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError>;
}

macro_rules! declare_ops {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        $(pub mod $module; pub use $module::$ty;)*

        /// Every operator of the float IR.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(missing_docs)]
        pub enum Op {
            $($ty($ty),)*
        }

        impl Op {
            /// The op as a trait object.
            pub fn as_def(&self) -> &dyn OpDef {
                match self {
                    $(Op::$ty(op) => op,)*
                }
            }
        }

        $(impl From<$ty> for Op {
            fn from(op: $ty) -> Op {
                Op::$ty(op)
            }
        })*
    };
}

declare_ops! {
    input::Input,
    konst::Const,
    conv::Conv,
    gemm::Gemm,
    binary::Binary,
    relu::Relu,
    reshape::Reshape,
    flatten::Flatten,
    clip::Clip,
    leaky_relu::LeakyRelu,
    sigmoid::Sigmoid,
    hard_sigmoid::HardSigmoid,
    hard_swish::HardSwish,
    softmax::Softmax,
    max_pool::MaxPool,
    average_pool::AveragePool,
    global_average_pool::GlobalAveragePool,
    batch_norm::BatchNormalization,
    concat::Concat,
    transpose::Transpose,
    squeeze::Squeeze,
    unsqueeze::Unsqueeze,
    slice::Slice,
    pad::Pad,
    resize::Resize,
    identity::Identity,
    quantize_linear::QuantizeLinear,
    dequantize_linear::DequantizeLinear,
    matmul::MatMul,
    fake_quant::FakeQuant,
    dynamic_quantize_linear::DynamicQuantizeLinear,
}

impl OpDef for Op {
    fn name(&self) -> &'static str {
        self.as_def().name()
    }
    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        self.as_def().output_fact(inputs)
    }
    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        self.as_def().eval(inputs)
    }
}

/// Checks the number of inputs is within `min..=max`.
pub fn expect_inputs<T>(inputs: &[T], min: usize, max: usize) -> Result<(), OpError> {
    if inputs.len() < min || inputs.len() > max {
        if min == max {
            crate::op_bail!("expected {min} inputs, got {}", inputs.len());
        }
        crate::op_bail!("expected {min} to {max} inputs, got {}", inputs.len());
    }
    Ok(())
}

/// Checks that a fact is F32.
pub fn expect_f32(fact: &Fact, what: &str) -> Result<(), OpError> {
    if fact.dtype != crate::DType::F32 {
        crate::op_bail!("{what} must be F32, got {:?}", fact.dtype);
    }
    Ok(())
}

/// Resolves a possibly negative axis against a rank.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, OpError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        crate::op_bail!("axis {axis} out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Checks that a fact is F32 and returns it unchanged: the output fact of every element-wise
/// unary op.
pub fn unary_f32_fact(inputs: &[&Fact]) -> Result<Fact, OpError> {
    expect_inputs(inputs, 1, 1)?;
    expect_f32(inputs[0], "x")?;
    Ok(inputs[0].clone())
}

/// Re-runs an op's shape inference on concrete values, so that `eval` can rely on the same
/// invariants as graph construction even when it is called directly on arbitrary tensors.
pub fn checked_fact(op: &dyn OpDef, inputs: &[&Tensor]) -> Result<Fact, OpError> {
    let facts: Vec<Fact> = inputs.iter().map(|t| t.fact()).collect();
    let refs: Vec<&Fact> = facts.iter().collect();
    op.output_fact(&refs)
}

/// Checks that a list of axes is strictly increasing and below `rank`.
pub fn expect_sorted_axes(axes: &[usize], rank: usize, what: &str) -> Result<(), OpError> {
    for (i, &a) in axes.iter().enumerate() {
        if a >= rank {
            crate::op_bail!("{what} axis {a} out of range for rank {rank}");
        }
        if i > 0 && axes[i - 1] >= a {
            crate::op_bail!("{what} axes {axes:?} must be strictly increasing");
        }
    }
    Ok(())
}
