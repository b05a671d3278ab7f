//! One kernel per op of `tk_quant::ops`, same file names; [`execute`] dispatches.
//!
//! A kernel receives the node (for its parameters, declared shape and bit width) and its
//! input values, validates everything it relies on (shapes, parameter ranges) and returns the
//! output or an error; kernels never panic on any input. The output range and shape are
//! checked once, here, for every op.

mod add;
mod avg_pool;
mod clip;
mod concat;
mod conv;
mod dot;
mod gemm;
mod index;
mod input;
mod konst;
mod lut;
mod matmul;
mod max_pool;
mod mul;
mod pad;
mod pool;
mod requant_op;
mod reshape;
mod resize;
mod slice;
mod softmax;
mod transpose;

use rayon::prelude::*;
use tk_quant::ops::{QOp, Requant};
use tk_quant::{QNode, QTensor};

use crate::RuntimeError;
use crate::arith::{MAX_SHIFT, bit_range};

/// Number of inputs an op takes: `(min, max)`.
pub(crate) fn arity(op: &QOp) -> (usize, usize) {
    match op {
        QOp::Input(_) | QOp::Const(_) => (0, 0),
        QOp::Add(_) | QOp::Mul(_) => (2, 2),
        QOp::Concat(_) => (1, usize::MAX),
        _ => (1, 1),
    }
}

/// Data derived once from a node's constants to speed up its kernel (kernels compute it
/// themselves when they are not given it).
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    /// Nothing prepared.
    None,
    /// `Conv` weights for the `i16` fast path.
    Conv(conv::Packed),
    /// `Gemm` weights for the `i16` fast path.
    Gemm(gemm::Packed),
}

/// What [`execute_prepared`] can reuse across runs of `node`.
pub(crate) fn prepare(node: &QNode) -> Prepared {
    match &node.op {
        QOp::Conv(op) => conv::pack(op).map_or(Prepared::None, Prepared::Conv),
        QOp::Gemm(op) => gemm::pack(op).map_or(Prepared::None, Prepared::Gemm),
        _ => Prepared::None,
    }
}

/// Executes one node on its input values: the contract of [`crate::execute_node`].
pub(crate) fn execute(node: &QNode, inputs: &[&QTensor]) -> Result<QTensor, RuntimeError> {
    execute_prepared(node, inputs, &Prepared::None)
}

/// [`execute`] with the node's [`prepare`]d data.
pub(crate) fn execute_prepared(
    node: &QNode,
    inputs: &[&QTensor],
    prepared: &Prepared,
) -> Result<QTensor, RuntimeError> {
    let ctx = Ctx::new(node)?;
    let (min, max) = arity(&node.op);
    if inputs.len() < min || inputs.len() > max {
        return Err(RuntimeError::Arity {
            node: node.id,
            op: ctx.op,
            expected: min,
            got: inputs.len(),
        });
    }
    for tensor in inputs {
        ctx.well_formed(tensor)?;
    }
    let output = match &node.op {
        QOp::Input(_) => return Err(RuntimeError::NotExecutable { node: node.id }),
        QOp::Const(op) => konst::run(&ctx, op)?,
        QOp::Conv(op) => {
            let packed = match prepared {
                Prepared::Conv(p) => Some(p),
                _ => None,
            };
            conv::run(&ctx, op, inputs[0], packed)?
        }
        QOp::Gemm(op) => {
            let packed = match prepared {
                Prepared::Gemm(p) => Some(p),
                _ => None,
            };
            gemm::run(&ctx, op, inputs[0], packed)?
        }
        QOp::Add(op) => add::run(&ctx, op, inputs[0], inputs[1])?,
        QOp::Mul(op) => mul::run(&ctx, op, inputs[0], inputs[1])?,
        QOp::Rescale(op) => requant_op::run(&ctx, op, inputs[0])?,
        QOp::Clip(op) => clip::run(&ctx, op, inputs[0])?,
        QOp::Lut(op) => lut::run(&ctx, op, inputs[0])?,
        QOp::MaxPool(op) => max_pool::run(&ctx, op, inputs[0])?,
        QOp::AvgPool(op) => avg_pool::run(&ctx, op, inputs[0])?,
        QOp::Softmax(op) => softmax::run(&ctx, op, inputs[0])?,
        QOp::Concat(op) => concat::run(&ctx, op, inputs)?,
        QOp::Reshape(op) => reshape::run(&ctx, op, inputs[0])?,
        QOp::Transpose(op) => transpose::run(&ctx, op, inputs[0])?,
        QOp::Slice(op) => slice::run(&ctx, op, inputs[0])?,
        QOp::Pad(op) => pad::run(&ctx, op, inputs[0])?,
        QOp::Resize(op) => resize::run(&ctx, op, inputs[0])?,
    };
    ctx.check_output(&output)?;
    Ok(output)
}

/// What every kernel needs to know about its node, plus error constructors.
pub(crate) struct Ctx<'a> {
    /// The node being executed.
    pub node: &'a QNode,
    /// Its op name.
    pub op: &'static str,
    /// Lower bound of the op's final clamp: the output range's, or the fused clamp's
    /// ([`tk_quant::ops::QOp::fused_clamp`]) for Conv, Gemm, Rescale and Add.
    pub lo: i32,
    /// Upper bound of the op's final clamp (see `lo`).
    pub hi: i32,
}

impl<'a> Ctx<'a> {
    /// Checks the node's bit width and derives its clamp bounds.
    pub fn new(node: &'a QNode) -> Result<Ctx<'a>, RuntimeError> {
        check_bits(node)?;
        // bits <= 16, so the bounds are the node's `i32` range or its fused clamp.
        let (lo, hi) = node.clamp_bounds();
        let ctx = Ctx {
            node,
            op: node.op.name(),
            lo,
            hi,
        };
        tk_quant::ops::check_clamp(node.op.fused_clamp(), node).map_err(|_| {
            ctx.param(
                "requant.clamp",
                "must be a non-empty interval inside the output range",
            )
        })?;
        Ok(ctx)
    }

    /// A parameter error.
    pub fn param(&self, param: &'static str, reason: &'static str) -> RuntimeError {
        RuntimeError::Param {
            node: self.node.id,
            op: self.op,
            param,
            reason,
        }
    }

    /// An input shape error.
    pub fn input_shape(&self, input: usize, shape: &[usize], reason: &'static str) -> RuntimeError {
        RuntimeError::InputShape {
            node: self.node.id,
            op: self.op,
            input,
            shape: shape.to_vec(),
            reason,
        }
    }

    /// Checks that a shape computed by the kernel equals the node's declared shape.
    pub fn expect_shape(&self, computed: &[usize]) -> Result<(), RuntimeError> {
        if computed == self.node.shape.as_slice() {
            Ok(())
        } else {
            Err(RuntimeError::OutputShape {
                node: self.node.id,
                op: self.op,
                computed: computed.to_vec(),
                declared: self.node.shape.clone(),
            })
        }
    }

    /// Element count of a shape, or an error when it overflows.
    pub fn volume(&self, shape: &[usize]) -> Result<usize, RuntimeError> {
        checked_volume(shape).ok_or_else(|| RuntimeError::TensorTooLarge {
            node: self.node.id,
            shape: shape.to_vec(),
        })
    }

    /// `a * b` or a too-large error naming `shape`.
    pub fn mul(&self, a: usize, b: usize, shape: &[usize]) -> Result<usize, RuntimeError> {
        a.checked_mul(b)
            .ok_or_else(|| RuntimeError::TensorTooLarge {
                node: self.node.id,
                shape: shape.to_vec(),
            })
    }

    /// Checks that `tensor.data.len()` is the product of its shape.
    pub fn well_formed(&self, tensor: &QTensor) -> Result<(), RuntimeError> {
        well_formed(self.node.id, tensor)
    }

    /// Checks `(M, s)` pairs: equal lengths, one pair or `channels` pairs, `M >= 1`, `s <= 62`.
    pub fn requant(&self, requant: &Requant, channels: usize) -> Result<(), RuntimeError> {
        if requant.multipliers.len() != requant.shifts.len() {
            return Err(self.param("requant", "has different numbers of multipliers and shifts"));
        }
        if requant.multipliers.len() != 1 && requant.multipliers.len() != channels {
            return Err(self.param("requant", "must hold one pair or one pair per channel"));
        }
        if requant.multipliers.iter().any(|&m| m < 1) {
            return Err(self.param("requant.multipliers", "must be in 1..2^31"));
        }
        if requant.shifts.iter().any(|&s| s > MAX_SHIFT) {
            return Err(self.param("requant.shifts", "must be in 0..=62"));
        }
        Ok(())
    }

    /// An accumulator overflow at output element `index`.
    pub fn overflow(&self, index: usize, acc: i128) -> RuntimeError {
        RuntimeError::AccumulatorOverflow {
            node: self.node.id,
            index,
            acc,
        }
    }

    /// Checks the output's shape and that every element lies in `[lo, hi]`.
    fn check_output(&self, output: &QTensor) -> Result<(), RuntimeError> {
        self.well_formed(output)?;
        self.expect_shape(&output.shape)?;
        check_range(self.node.id, &output.data, self.node.bits)
    }
}

/// Checks that a node's bit width is in `2..=16` (spec section 1).
pub(crate) fn check_bits(node: &QNode) -> Result<(), RuntimeError> {
    if (2..=16).contains(&node.bits) {
        Ok(())
    } else {
        Err(RuntimeError::Bits {
            node: node.id,
            bits: node.bits,
        })
    }
}

/// Checks that every element of `data` fits `bits` signed bits (`bits` in `2..=16`).
pub(crate) fn check_range(node: usize, data: &[i32], bits: u8) -> Result<(), RuntimeError> {
    let (lo, hi) = bit_range(bits);
    // One vectorised pass in the common case; the scan below only runs to name the culprit.
    let (min, max) = dot::vectorized(dot::MinMax(data));
    if i64::from(min) >= lo && i64::from(max) <= hi {
        return Ok(());
    }
    match data
        .iter()
        .position(|&v| i64::from(v) < lo || i64::from(v) > hi)
    {
        None => Ok(()),
        Some(index) => Err(RuntimeError::OutOfRange {
            node,
            index,
            value: i64::from(data[index]),
            lo,
            hi,
        }),
    }
}

/// Checks that `tensor.data.len()` is the product of its shape.
pub(crate) fn well_formed(node: usize, tensor: &QTensor) -> Result<(), RuntimeError> {
    match checked_volume(&tensor.shape) {
        Some(v) if v == tensor.data.len() => Ok(()),
        Some(_) => Err(RuntimeError::MalformedTensor {
            node,
            shape: tensor.shape.clone(),
            len: tensor.data.len(),
        }),
        None => Err(RuntimeError::TensorTooLarge {
            node,
            shape: tensor.shape.clone(),
        }),
    }
}

/// Product of the dimensions, `None` on overflow.
pub(crate) fn checked_volume(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Below this many multiply-adds (or element operations) a kernel runs on the calling thread:
/// handing work to rayon costs microseconds.
pub(crate) const PARALLEL_MACS: usize = 1 << 18;

/// Whether a kernel may hand `node`'s work to rayon: its multiply-adds (or element
/// operations) reach [`PARALLEL_MACS`]. Saturates instead of overflowing.
pub(crate) fn may_run_parallel(node: &QNode) -> bool {
    let outputs = node
        .shape
        .iter()
        .fold(1usize, |acc, &d| acc.saturating_mul(d));
    let per_output = match &node.op {
        QOp::Conv(c) => c.weight.data.len() / c.weight.shape.first().copied().unwrap_or(1).max(1),
        QOp::Gemm(g) => g.weight.data.len() / g.weight.shape.first().copied().unwrap_or(1).max(1),
        QOp::MaxPool(p) => p.geometry.kernel[0].saturating_mul(p.geometry.kernel[1]),
        QOp::AvgPool(p) => p.geometry.kernel[0].saturating_mul(p.geometry.kernel[1]),
        _ => 1,
    };
    outputs.saturating_mul(per_output) >= PARALLEL_MACS.min(PARALLEL_ELEMENTS)
}

/// Elements per parallel task of the element-wise kernels.
pub(crate) const CHUNK: usize = 1 << 14;

/// Below this many elements an element-wise kernel runs on the calling thread: it is bound by
/// memory, and a fork-join costs more than it saves on smaller tensors.
pub(crate) const PARALLEL_ELEMENTS: usize = 1 << 18;

/// Runs `task` on every `(index, chunk)` of `data` cut in chunks of `size` (on rayon's pool
/// when `parallel`) and returns the failure with the lowest output index, if any.
pub(crate) fn first_failure<T, F>(
    data: &mut [T],
    size: usize,
    parallel: bool,
    task: F,
) -> Option<(usize, i128)>
where
    T: Send,
    F: Fn((usize, &mut [T])) -> Option<(usize, i128)> + Sync + Send,
{
    let size = size.max(1);
    if parallel {
        data.par_chunks_mut(size)
            .enumerate()
            .filter_map(task)
            .min_by_key(|f| f.0)
    } else {
        data.chunks_mut(size)
            .enumerate()
            .filter_map(task)
            .min_by_key(|f| f.0)
    }
}

/// Runs `task` on every `(index, chunk)` of `data` cut in chunks of `size`, on rayon's pool
/// when `parallel`.
pub(crate) fn for_each_chunk<T, F>(data: &mut [T], size: usize, parallel: bool, task: F)
where
    T: Send,
    F: Fn((usize, &mut [T])) + Sync + Send,
{
    let size = size.max(1);
    if parallel {
        data.par_chunks_mut(size).enumerate().for_each(task);
    } else {
        data.chunks_mut(size).enumerate().for_each(task);
    }
}

/// Row-major strides of a shape whose volume is known not to overflow.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    strides
}
