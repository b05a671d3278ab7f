//! Reading and writing `.npy` files with hard limits.
//!
//! A hostile header can declare any shape; the file is therefore read whole (at most
//! [`MAX_NPY_BYTES`]) into an aligned buffer and viewed with a length check before any tensor
//! is allocated.

use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ViewNpyExt, WriteNpyExt};

use crate::{IrError, IrResult, Tensor};

/// Largest `.npy` file accepted, in bytes (4 GiB).
pub const MAX_NPY_BYTES: u64 = 4 << 30;

fn npy_error(path: &Path, reason: impl ToString) -> IrError {
    IrError::Npy {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Reads a `.npy` file. Float data (`f4`, `f8`) becomes [`Tensor::F32`]; integer data
/// (`i1`, `u1`, `i2`, `i4`, `i8`) becomes [`Tensor::I64`]. Fortran-ordered arrays are
/// converted to row-major.
pub fn read_npy(path: &Path) -> IrResult<Tensor> {
    let meta = std::fs::metadata(path).map_err(|source| IrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > MAX_NPY_BYTES {
        return Err(IrError::Limit {
            what: format!("size of {}", path.display()),
            got: meta.len() as u128,
            max: MAX_NPY_BYTES as u128,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| IrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_npy(&bytes).map_err(|reason| npy_error(path, reason))
}

/// Decodes `.npy` bytes (see [`read_npy`]).
pub fn decode_npy(bytes: &[u8]) -> Result<Tensor, String> {
    check_header_len(bytes)?;
    let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
    let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
    buf[..bytes.len()].copy_from_slice(bytes);
    let buf = &buf[..bytes.len()];
    let tensor = if let Ok(v) = ndarray::ArrayViewD::<f32>::view_npy(buf) {
        Tensor::F32(v.as_standard_layout().into_owned())
    } else if let Ok(v) = ndarray::ArrayViewD::<f64>::view_npy(buf) {
        Tensor::F32(v.mapv(|x| x as f32))
    } else if let Ok(v) = ndarray::ArrayViewD::<i64>::view_npy(buf) {
        Tensor::I64(v.as_standard_layout().into_owned())
    } else if let Ok(v) = ndarray::ArrayViewD::<i32>::view_npy(buf) {
        Tensor::I64(v.mapv(i64::from))
    } else if let Ok(v) = ndarray::ArrayViewD::<i16>::view_npy(buf) {
        Tensor::I64(v.mapv(i64::from))
    } else if let Ok(v) = ndarray::ArrayViewD::<i8>::view_npy(buf) {
        Tensor::I64(v.mapv(i64::from))
    } else if let Ok(v) = ndarray::ArrayViewD::<u8>::view_npy(buf) {
        Tensor::I64(v.mapv(i64::from))
    } else {
        // Report the f32 attempt's error: it names header and length problems precisely.
        return Err(match ndarray::ArrayViewD::<f32>::view_npy(buf) {
            Err(e) => format!("{e} (supported dtypes: f4, f8, i1, u1, i2, i4, i8)"),
            Ok(_) => "unreadable".to_string(),
        });
    };
    if tensor.shape().len() > crate::limits::MAX_RANK {
        return Err(format!(
            "rank {} exceeds {}",
            tensor.shape().len(),
            crate::limits::MAX_RANK
        ));
    }
    Ok(tensor)
}

/// `ndarray-npy` allocates the header's declared length (up to 4 GiB in format versions 2 and
/// 3) before reading it: refuse a declared length beyond the file first.
fn check_header_len(bytes: &[u8]) -> Result<(), String> {
    let (len, start): (Option<usize>, usize) = match bytes.get(6) {
        Some(1) => (
            bytes
                .get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
            10,
        ),
        Some(2 | 3) => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        // Unknown versions and short files: ndarray-npy reports them.
        _ => return Ok(()),
    };
    match len {
        Some(len) if start.saturating_add(len) > bytes.len() => Err(format!(
            "header of {len} bytes, the file has {} after the preamble",
            bytes.len() - start
        )),
        _ => Ok(()),
    }
}

/// Writes a tensor as `.npy` (`<f4` for F32, `<i8` for I64).
pub fn write_npy(path: &Path, tensor: &Tensor) -> IrResult<()> {
    let file = std::fs::File::create(path).map_err(|source| IrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let writer = std::io::BufWriter::new(file);
    let result = match tensor {
        Tensor::F32(a) => a.write_npy(writer),
        Tensor::I64(a) => a.write_npy(writer),
    };
    result.map_err(|e| npy_error(path, e))
}

/// Writes an `i32` array as `.npy` (`<i4`), for raw integer outputs.
pub fn write_npy_i32(path: &Path, array: &ArrayD<i32>) -> IrResult<()> {
    let file = std::fs::File::create(path).map_err(|source| IrError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| npy_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_bytes(tensor: &Tensor) -> Vec<u8> {
        let mut out = Vec::new();
        match tensor {
            Tensor::F32(a) => a.write_npy(&mut out).unwrap(),
            Tensor::I64(a) => a.write_npy(&mut out).unwrap(),
        }
        out
    }

    #[test]
    fn round_trips_f32_and_i64() {
        let f = Tensor::from_f32(&[2, 3], vec![1.0, -2.0, 3.5, 0.0, 4.0, 5.0]).unwrap();
        assert_eq!(decode_npy(&npy_bytes(&f)).unwrap(), f);
        let i = Tensor::from_i64(&[4], vec![1, -2, 3, 9]).unwrap();
        assert_eq!(decode_npy(&npy_bytes(&i)).unwrap(), i);
    }

    #[test]
    fn huge_declared_shape_is_an_error_not_an_allocation() {
        let f = Tensor::from_f32(&[2], vec![1.0, 2.0]).unwrap();
        let bytes = npy_bytes(&f);
        let text = String::from_utf8_lossy(&bytes).to_string();
        let forged = text.replace("(2,)", "(99999999999,)");
        let err = decode_npy(forged.as_bytes()).unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn truncated_and_garbage_files_are_errors() {
        let f = Tensor::from_f32(&[8], vec![0.5; 8]).unwrap();
        let bytes = npy_bytes(&f);
        for cut in 0..bytes.len() {
            assert!(
                decode_npy(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
        assert!(decode_npy(b"not an npy file at all").is_err());
    }
}
