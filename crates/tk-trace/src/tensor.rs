//! Tensors as stored in a trace: `{dtype, shape, data}` with little-endian raw bytes.

use serde::{Deserialize, Serialize};
use tk_quant::QTensor;

/// Element type of a stored tensor: the smallest signed type that holds the node's bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 1 byte, for bit widths up to 8.
    I8,
    /// 2 bytes little-endian, for bit widths 9 to 16.
    I16,
    /// 4 bytes little-endian, for wider values.
    I32,
}

impl Dtype {
    /// The dtype for a node of `bits` bits.
    pub fn for_bits(bits: u8) -> Dtype {
        match bits {
            0..=8 => Dtype::I8,
            9..=16 => Dtype::I16,
            _ => Dtype::I32,
        }
    }

    /// The smallest and largest value the dtype holds.
    pub fn range(self) -> (i32, i32) {
        match self {
            Dtype::I8 => (i32::from(i8::MIN), i32::from(i8::MAX)),
            Dtype::I16 => (i32::from(i16::MIN), i32::from(i16::MAX)),
            Dtype::I32 => (i32::MIN, i32::MAX),
        }
    }

    /// The dtype's name in a trace.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::I8 => "i8",
            Dtype::I16 => "i16",
            Dtype::I32 => "i32",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::I8 => 1,
            Dtype::I16 => 2,
            Dtype::I32 => 4,
        }
    }
}

/// A tensor in a trace. `data` holds `product(shape)` elements of `dtype`, little-endian,
/// row-major.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceTensor {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
    /// Raw little-endian bytes (MessagePack `bin`).
    #[serde(with = "bin")]
    pub data: Vec<u8>,
}

/// Why a stored tensor is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TensorFault {
    /// Rank above the limit.
    Rank,
    /// Element count overflows or exceeds the limit.
    Elements,
    /// Byte length is not `elements * dtype size`.
    Length,
}

impl TensorFault {
    /// Field path suffix and reason for error messages.
    pub(crate) fn describe(self) -> (&'static str, &'static str) {
        match self {
            TensorFault::Rank => ("shape", "rank exceeds the reader limit"),
            TensorFault::Elements => (
                "shape",
                "element count overflows or exceeds the reader limit",
            ),
            TensorFault::Length => ("data", "byte length is not elements * dtype size"),
        }
    }
}

impl TraceTensor {
    /// Encodes a tensor with the given dtype; `Err((index, value))` names the first element
    /// that does not fit.
    pub fn encode(t: &QTensor, dtype: Dtype) -> Result<TraceTensor, (usize, i32)> {
        TraceTensor::encode_into(t, dtype, Vec::new())
    }

    /// [`TraceTensor::encode`], reusing `data`'s allocation for the bytes.
    pub fn encode_into(
        t: &QTensor,
        dtype: Dtype,
        mut data: Vec<u8>,
    ) -> Result<TraceTensor, (usize, i32)> {
        data.clear();
        narrow(&t.data, dtype, &mut data)?;
        Ok(TraceTensor {
            dtype,
            shape: t.shape.iter().map(|&d| d as u64).collect(),
            data,
        })
    }

    /// Checks rank, element count (with `checked_mul`) and byte length against limits;
    /// returns the element count.
    pub(crate) fn validate(&self, limits: &crate::Limits) -> Result<usize, TensorFault> {
        let elements = check_shape(&self.shape, limits)?;
        if elements.checked_mul(self.dtype.size()) != Some(self.data.len()) {
            return Err(TensorFault::Length);
        }
        Ok(elements)
    }

    /// Decodes into an integer tensor, validating it first (see [`crate::Limits`]).
    pub(crate) fn decode(&self, limits: &crate::Limits) -> Result<QTensor, TensorFault> {
        self.validate(limits)?;
        let shape = self
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>();
        let shape = shape.map_err(|_| TensorFault::Elements)?;
        let data = match self.dtype {
            Dtype::I8 => self.data.iter().map(|&b| i32::from(b as i8)).collect(),
            Dtype::I16 => self
                .data
                .chunks_exact(2)
                .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Dtype::I32 => self
                .data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        };
        Ok(QTensor { shape, data })
    }

    /// The integer tensor, using the default [`crate::Limits`]; `None` when malformed.
    pub fn to_qtensor(&self) -> Option<QTensor> {
        self.decode(&crate::Limits::default()).ok()
    }
}

/// Why a tensor cannot be appended to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendFault {
    /// Element `index` holds `value`, outside the dtype's range.
    TooWide { index: usize, value: i32 },
    /// The data is longer than a MessagePack `bin` can be.
    TooLong { bytes: u64 },
}

/// Appends the MessagePack encoding of `t` stored as `dtype` to `out`: the same bytes as
/// `rmp_serde`'s named encoding of the [`TraceTensor`], with the elements narrowed straight
/// into place. On a fault, `out` holds a partial encoding.
pub(crate) fn append_encoded(
    t: &QTensor,
    dtype: Dtype,
    out: &mut Vec<u8>,
) -> Result<(), AppendFault> {
    let bytes = t.data.len() as u64 * dtype.size() as u64;
    let bin_len = u32::try_from(bytes).map_err(|_| AppendFault::TooLong { bytes })?;
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_map_len(out, 3);
    let _ = rmp::encode::write_str(out, "dtype");
    let _ = rmp::encode::write_str(out, dtype.name());
    let _ = rmp::encode::write_str(out, "shape");
    let _ = rmp::encode::write_array_len(out, t.shape.len() as u32);
    for &d in &t.shape {
        let _ = rmp::encode::write_uint(out, d as u64);
    }
    let _ = rmp::encode::write_str(out, "data");
    let _ = rmp::encode::write_bin_len(out, bin_len);
    narrow(&t.data, dtype, out).map_err(|(index, value)| AppendFault::TooWide { index, value })
}

/// Appends `values` as little-endian `dtype` bytes to `out`; `Err((index, value))` names the
/// first value that does not fit (the appended bytes are then truncated values).
fn narrow(values: &[i32], dtype: Dtype, out: &mut Vec<u8>) -> Result<(), (usize, i32)> {
    if tk_runtime::simd::vectorized(Narrow { values, dtype, out }) {
        return Ok(());
    }
    let (lo, hi) = dtype.range();
    let index = values.iter().position(|&v| v < lo || v > hi).unwrap_or(0);
    Err((index, values[index]))
}

/// Appends `values` as little-endian `dtype` bytes to `out` in one pass, and returns whether
/// every value fits `dtype`; when one does not, the appended bytes are truncated values.
struct Narrow<'a> {
    values: &'a [i32],
    dtype: Dtype,
    out: &'a mut Vec<u8>,
}

impl tk_runtime::simd::Kernel for Narrow<'_> {
    type Output = bool;

    #[inline(always)]
    fn run(self) -> bool {
        let (lo, hi) = self.dtype.range();
        let size = self.dtype.size();
        let start = self.out.len();
        self.out.resize(start + self.values.len() * size, 0);
        let out = &mut self.out[start..];
        // Branch-free, so that the range check and the narrowing vectorise together.
        let mut fits = true;
        match self.dtype {
            Dtype::I8 => {
                for (d, &v) in out.iter_mut().zip(self.values) {
                    fits &= (lo <= v) & (v <= hi);
                    *d = v as u8;
                }
            }
            Dtype::I16 => {
                for (d, &v) in out.chunks_exact_mut(2).zip(self.values) {
                    fits &= (lo <= v) & (v <= hi);
                    d.copy_from_slice(&(v as i16).to_le_bytes());
                }
            }
            Dtype::I32 => {
                for (d, &v) in out.chunks_exact_mut(4).zip(self.values) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        fits
    }
}

/// Element count of a shape, checked against the rank and element limits.
pub(crate) fn check_shape(shape: &[u64], limits: &crate::Limits) -> Result<usize, TensorFault> {
    if shape.len() > limits.max_rank {
        return Err(TensorFault::Rank);
    }
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= limits.max_tensor_elements)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(TensorFault::Elements)
}

/// Serde for `Vec<u8>` as MessagePack `bin` (not an array of integers).
mod bin {
    use std::fmt;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Vec<u8>, A::Error> {
            Err(A::Error::custom("tensor data must be a bin, not an array"))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dtype() -> impl Strategy<Value = Dtype> {
        prop_oneof![Just(Dtype::I8), Just(Dtype::I16), Just(Dtype::I32)]
    }

    /// Mostly int8 values, with some int16 and arbitrary ones, so that every dtype sees both
    /// fitting and overflowing tensors.
    fn values() -> impl Strategy<Value = Vec<i32>> {
        let value = prop_oneof![
            20 => -128i32..=127,
            2 => -32768i32..=32767,
            1 => any::<i32>(),
        ];
        prop::collection::vec(value, 0..200)
    }

    /// Shapes whose dims and element counts cross MessagePack's size classes: dims below and
    /// above 127, 255 and 65535, data of `bin 8`, `bin 16` and `bin 32` lengths.
    fn shape() -> impl Strategy<Value = Vec<usize>> {
        let small = prop::collection::vec(prop_oneof![0usize..4, 120usize..300], 0..4);
        let long = (65530usize..65541).prop_map(|d| vec![1, d]);
        prop_oneof![4 => small.prop_filter("at most 2^18 elements", |s| s.iter().product::<usize>() <= 1 << 18), 1 => long]
    }

    proptest! {
        /// Appending a tensor to a frame gives exactly `rmp_serde`'s named encoding of the
        /// same [`TraceTensor`], after whatever bytes the frame already holds.
        #[test]
        fn appended_tensors_are_the_serde_encoding(
            shape in shape(),
            dtype in dtype(),
            seed in any::<u64>(),
            prefix in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            let len = shape.iter().product::<usize>();
            let (lo, hi) = dtype.range();
            let data = (0..len as u64)
                .map(|i| {
                    let x = seed.wrapping_add(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
                    (i64::from(lo) + (x % (i64::from(hi) - i64::from(lo) + 1) as u64) as i64) as i32
                })
                .collect();
            let t = QTensor { shape, data };
            let mut out = prefix.clone();
            prop_assert!(append_encoded(&t, dtype, &mut out).is_ok());
            let mut want = prefix;
            want.extend(rmp_serde::to_vec_named(&TraceTensor::encode(&t, dtype).unwrap()).unwrap());
            prop_assert!(out == want, "encodings differ for shape {:?}", t.shape);
        }

        /// The vectorised single pass agrees with the element-by-element definition: the
        /// first value out of range is named, otherwise every value's low little-endian
        /// bytes are written, and decoding gives the tensor back. The scratch buffer's old
        /// contents never leak.
        #[test]
        fn encoding_matches_its_definition(
            data in values(),
            dtype in dtype(),
            junk in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let t = QTensor { shape: vec![data.len()], data: data.clone() };
            let (lo, hi) = dtype.range();
            let encoded = TraceTensor::encode_into(&t, dtype, junk);
            match data.iter().position(|&v| v < lo || v > hi) {
                Some(index) => prop_assert_eq!(encoded, Err((index, data[index]))),
                None => {
                    let encoded = encoded.expect("every value fits");
                    let want: Vec<u8> = data
                        .iter()
                        .flat_map(|v| v.to_le_bytes()[..dtype.size()].to_vec())
                        .collect();
                    prop_assert_eq!(&encoded.data, &want);
                    prop_assert_eq!(encoded.to_qtensor(), Some(t));
                }
            }
        }
    }
}
