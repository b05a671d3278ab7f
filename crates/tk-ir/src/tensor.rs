//! Tensors (float and index data) and their static facts.

use ndarray::ArrayD;
use std::fmt;

use crate::OpError;

/// Element type of a tensor in the float IR.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum DType {
    /// 32-bit IEEE float: activations and weights.
    F32,
    /// 64-bit signed integer: shapes, indices, axes.
    I64,
}

/// Static type of an edge: dtype and a fully known shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Fact {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first. Empty for a scalar.
    pub shape: Vec<usize>,
}

impl Fact {
    /// A float fact of the given shape.
    pub fn f32(shape: impl Into<Vec<usize>>) -> Fact {
        Fact {
            dtype: DType::F32,
            shape: shape.into(),
        }
    }

    /// An i64 fact of the given shape.
    pub fn i64(shape: impl Into<Vec<usize>>) -> Fact {
        Fact {
            dtype: DType::I64,
            shape: shape.into(),
        }
    }

    /// Number of elements, or an error when the product overflows `usize`.
    pub fn volume(&self) -> Result<usize, OpError> {
        checked_volume(&self.shape)
    }

    /// Rank (number of dimensions).
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}{:?}", self.dtype, self.shape)
    }
}

/// Product of dimensions with overflow checking.
pub fn checked_volume(shape: &[usize]) -> Result<usize, OpError> {
    shape.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| OpError::new(format!("shape {shape:?} overflows the element count")))
    })
}

/// A concrete tensor value.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    /// Float data.
    F32(ArrayD<f32>),
    /// Integer (index/shape) data.
    I64(ArrayD<i64>),
}

impl Tensor {
    /// The fact describing this tensor.
    pub fn fact(&self) -> Fact {
        Fact {
            dtype: self.dtype(),
            shape: self.shape().to_vec(),
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::I64(_) => DType::I64,
        }
    }

    /// Shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }

    /// Borrows float data, or errors naming the actual dtype.
    pub fn as_f32(&self) -> Result<&ArrayD<f32>, OpError> {
        match self {
            Tensor::F32(a) => Ok(a),
            other => Err(OpError::new(format!(
                "expected F32 tensor, got {:?}",
                other.dtype()
            ))),
        }
    }

    /// Borrows integer data, or errors naming the actual dtype.
    pub fn as_i64(&self) -> Result<&ArrayD<i64>, OpError> {
        match self {
            Tensor::I64(a) => Ok(a),
            other => Err(OpError::new(format!(
                "expected I64 tensor, got {:?}",
                other.dtype()
            ))),
        }
    }

    /// Values as a flat `i64` vector (floats are truncated only if integral).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, OpError> {
        match self {
            Tensor::I64(a) => Ok(a.iter().copied().collect()),
            Tensor::F32(a) => a
                .iter()
                .map(|&v| {
                    if v.fract() == 0.0 && v.abs() < 9.0e15 {
                        Ok(v as i64)
                    } else {
                        Err(OpError::new(format!("expected integral values, got {v}")))
                    }
                })
                .collect(),
        }
    }

    /// A float tensor from a shape and row-major data.
    pub fn from_f32(shape: &[usize], data: Vec<f32>) -> Result<Tensor, OpError> {
        ArrayD::from_shape_vec(shape.to_vec(), data)
            .map(Tensor::F32)
            .map_err(|e| OpError::new(format!("bad float tensor for shape {shape:?}: {e}")))
    }

    /// An integer tensor from a shape and row-major data.
    pub fn from_i64(shape: &[usize], data: Vec<i64>) -> Result<Tensor, OpError> {
        ArrayD::from_shape_vec(shape.to_vec(), data)
            .map(Tensor::I64)
            .map_err(|e| OpError::new(format!("bad integer tensor for shape {shape:?}: {e}")))
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(a: ArrayD<f32>) -> Tensor {
        Tensor::F32(a)
    }
}

impl From<ArrayD<i64>> for Tensor {
    fn from(a: ArrayD<i64>) -> Tensor {
        Tensor::I64(a)
    }
}
