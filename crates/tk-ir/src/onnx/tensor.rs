//! Decoding of ONNX `TensorProto` into IR [`Tensor`]s, with every size checked.
//!
//! Element types map as follows (the float IR has two dtypes):
//! - `FLOAT`, `DOUBLE` -> `F32` (doubles are rounded);
//! - `INT8`, `UINT8` -> `F32` holding integers (quantized data);
//! - `INT64`, `INT32`, `INT16`, `UINT16`, `UINT32`, `BOOL` -> `I64` (indices, shapes, masks).
//!
//! Anything else (strings, 16-bit and 8-bit floats, complex, 4-bit) is
//! [`IrError::Unsupported`]. External data and segments are refused.

use tract_onnx::pb::TensorProto;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};

use crate::{DType, IrError, IrResult, Tensor, limits};

/// The IR dtype an ONNX element type maps to, or `None` when the IR cannot hold it.
pub fn dtype_of(elem_type: i32) -> Option<DType> {
    match DataType::try_from(elem_type).ok()? {
        DataType::Float | DataType::Double | DataType::Int8 | DataType::Uint8 => Some(DType::F32),
        DataType::Int64
        | DataType::Int32
        | DataType::Int16
        | DataType::Uint16
        | DataType::Uint32
        | DataType::Bool => Some(DType::I64),
        _ => None,
    }
}

/// Whether an ONNX element type is an integer (or bool) type.
pub fn is_integer(elem_type: i32) -> bool {
    matches!(
        DataType::try_from(elem_type),
        Ok(DataType::Int8
            | DataType::Uint8
            | DataType::Int16
            | DataType::Uint16
            | DataType::Int32
            | DataType::Uint32
            | DataType::Int64
            | DataType::Uint64
            | DataType::Bool)
    )
}

/// Printable name of an ONNX element type.
pub fn elem_type_name(elem_type: i32) -> String {
    match DataType::try_from(elem_type) {
        Ok(t) => t.as_str_name().to_string(),
        Err(_) => format!("data type {elem_type}"),
    }
}

/// Converts declared ONNX dims to a shape, checking sign, rank and element count.
pub fn checked_shape(dims: &[i64], what: &str) -> Result<Vec<usize>, String> {
    if dims.len() > limits::MAX_RANK {
        return Err(format!(
            "{what} has rank {}, at most {} allowed",
            dims.len(),
            limits::MAX_RANK
        ));
    }
    let shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{what} has negative dimension {d}")))
        .collect::<Result<_, _>>()?;
    let volume = crate::checked_volume(&shape).map_err(|e| e.to_string())?;
    if volume > limits::MAX_TENSOR_ELEMENTS {
        return Err(format!(
            "{what} has {volume} elements, at most {} allowed",
            limits::MAX_TENSOR_ELEMENTS
        ));
    }
    Ok(shape)
}

/// Decodes a serialized `TensorProto` (as in the ONNX test data `input_0.pb` files).
pub fn decode_tensor_proto(bytes: &[u8]) -> IrResult<Tensor> {
    let proto =
        <TensorProto as prost::Message>::decode(bytes).map_err(|e| IrError::InvalidTensor {
            name: String::new(),
            reason: format!("protobuf decoding failed: {e}"),
        })?;
    tensor_from_proto(&proto)
}

/// Converts a `TensorProto` to a [`Tensor`], validating that the data matches the dims.
pub fn tensor_from_proto(t: &TensorProto) -> IrResult<Tensor> {
    let bad = |reason: String| IrError::InvalidTensor {
        name: t.name.clone(),
        reason,
    };
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err(bad(
            "external data is not supported; embed the weights in the model".into(),
        ));
    }
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    let shape = checked_shape(&t.dims, "tensor").map_err(bad)?;
    let n = crate::checked_volume(&shape).map_err(|e| bad(e.to_string()))?;
    let Ok(data_type) = DataType::try_from(t.data_type) else {
        return Err(bad(format!("unknown data type {}", t.data_type)));
    };
    let raw = t.raw_data.as_slice();
    let has_raw = !raw.is_empty();
    let small = |lo: i64, hi: i64, decode: fn(&[u8]) -> i64, width: usize| {
        if has_raw {
            from_raw(raw, n, width, decode)
        } else {
            small_ints(&t.int32_data, n, lo, hi)
        }
    };
    let tensor = match data_type {
        DataType::Float => {
            if has_raw {
                from_raw(raw, n, 4, |b| f32::from_le_bytes(le(b)))
            } else {
                typed(&t.float_data, n)
            }
        }
        .map(Values::F32),
        DataType::Double => {
            if has_raw {
                from_raw(raw, n, 8, |b| f64::from_le_bytes(le(b)))
            } else {
                typed(&t.double_data, n)
            }
        }
        .map(|v| Values::F32(v.into_iter().map(|x| x as f32).collect())),
        DataType::Int8 => {
            small(-128, 127, |b| i8::from_le_bytes(le(b)).into(), 1).map(Values::ints_as_f32)
        }
        DataType::Uint8 => {
            small(0, 255, |b| u8::from_le_bytes(le(b)).into(), 1).map(Values::ints_as_f32)
        }
        DataType::Int16 => {
            small(-32768, 32767, |b| i16::from_le_bytes(le(b)).into(), 2).map(Values::I64)
        }
        DataType::Uint16 => {
            small(0, 65535, |b| u16::from_le_bytes(le(b)).into(), 2).map(Values::I64)
        }
        DataType::Int32 => small(
            i32::MIN.into(),
            i32::MAX.into(),
            |b| i32::from_le_bytes(le(b)).into(),
            4,
        )
        .map(Values::I64),
        DataType::Bool => {
            small(0, 1, |b| i64::from(b.first().is_some_and(|&v| v != 0)), 1).map(Values::I64)
        }
        DataType::Int64 => {
            if has_raw {
                from_raw(raw, n, 8, |b| i64::from_le_bytes(le(b)))
            } else {
                typed(&t.int64_data, n)
            }
        }
        .map(Values::I64),
        DataType::Uint32 => if has_raw {
            from_raw(raw, n, 4, |b| u32::from_le_bytes(le(b)).into())
        } else {
            typed(&t.uint64_data, n).and_then(|v| {
                v.into_iter()
                    .map(|x| {
                        if x <= u64::from(u32::MAX) {
                            Ok(x as i64)
                        } else {
                            Err(format!("value {x} out of range"))
                        }
                    })
                    .collect()
            })
        }
        .map(Values::I64),
        other => {
            return Err(IrError::Unsupported {
                op: "TensorProto".into(),
                node: t.name.clone(),
                feature: format!("tensor data type {}", other.as_str_name()),
            });
        }
    };
    let tensor = tensor.map_err(bad)?;
    let build = match tensor {
        Values::F32(v) => Tensor::from_f32(&shape, v),
        Values::I64(v) => Tensor::from_i64(&shape, v),
    };
    build.map_err(|e| bad(e.to_string()))
}

enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Values {
    fn ints_as_f32(v: Vec<i64>) -> Values {
        Values::F32(v.into_iter().map(|x| x as f32).collect())
    }
}

/// Copies up to `W` bytes into an array; `from_raw` always passes exactly `W`.
fn le<const W: usize>(bytes: &[u8]) -> [u8; W] {
    let mut out = [0u8; W];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

/// Decodes `n` little-endian values of `width` bytes each from `raw`.
fn from_raw<T>(
    raw: &[u8],
    n: usize,
    width: usize,
    decode: impl Fn(&[u8]) -> T,
) -> Result<Vec<T>, String> {
    let expected = n
        .checked_mul(width)
        .ok_or_else(|| "byte size overflows".to_string())?;
    if raw.len() != expected {
        return Err(format!(
            "raw_data has {} bytes, {n} elements need {expected}",
            raw.len()
        ));
    }
    Ok(raw.chunks_exact(width).map(decode).collect())
}

/// Checks that a typed field holds exactly `n` values.
fn typed<T: Copy>(values: &[T], n: usize) -> Result<Vec<T>, String> {
    if values.len() != n {
        return Err(format!(
            "typed data has {} values, dims need {n}",
            values.len()
        ));
    }
    Ok(values.to_vec())
}

/// Small integer types stored one per `int32_data` entry, range-checked.
fn small_ints(values: &[i32], n: usize, lo: i64, hi: i64) -> Result<Vec<i64>, String> {
    typed(values, n)?
        .into_iter()
        .map(|v| {
            let v = i64::from(v);
            if (lo..=hi).contains(&v) {
                Ok(v)
            } else {
                Err(format!("value {v} outside {lo}..={hi}"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(data_type: DataType, dims: Vec<i64>) -> TensorProto {
        TensorProto {
            data_type: data_type as i32,
            dims,
            ..Default::default()
        }
    }

    #[test]
    fn raw_and_typed_fields() {
        let mut t = proto(DataType::Float, vec![2]);
        t.raw_data = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
        assert_eq!(
            tensor_from_proto(&t).unwrap(),
            Tensor::from_f32(&[2], vec![1.5, -2.0]).unwrap()
        );
        let mut t = proto(DataType::Int64, vec![]);
        t.int64_data = vec![7];
        assert_eq!(
            tensor_from_proto(&t).unwrap(),
            Tensor::from_i64(&[], vec![7]).unwrap()
        );
        let mut t = proto(DataType::Uint8, vec![3]);
        t.raw_data = vec![0, 128, 255];
        assert_eq!(
            tensor_from_proto(&t).unwrap(),
            Tensor::from_f32(&[3], vec![0.0, 128.0, 255.0]).unwrap()
        );
        let mut t = proto(DataType::Int8, vec![1]);
        t.int32_data = vec![-5];
        assert_eq!(
            tensor_from_proto(&t).unwrap(),
            Tensor::from_f32(&[1], vec![-5.0]).unwrap()
        );
    }

    #[test]
    fn rejects_inconsistent_sizes() {
        let mut t = proto(DataType::Float, vec![3]);
        t.raw_data = vec![0; 8];
        assert!(tensor_from_proto(&t).is_err());
        let t = proto(DataType::Float, vec![1 << 40, 1 << 40]);
        assert!(tensor_from_proto(&t).is_err());
        let t = proto(DataType::Float, vec![-1]);
        assert!(tensor_from_proto(&t).is_err());
        let mut t = proto(DataType::Float, vec![1]);
        t.data_location = Some(DataLocation::External as i32);
        assert!(tensor_from_proto(&t).is_err());
        assert!(matches!(
            tensor_from_proto(&proto(DataType::String, vec![1])),
            Err(IrError::Unsupported { .. })
        ));
    }
}
