//! The `.tkq` file format.
//!
//! Layout (version 1):
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | magic `b"TKQMODEL"` |
//! | 8..12 | format version, `u32` little-endian (currently 1) |
//! | 12.. | the [`QModel`] as MessagePack with field names (`rmp_serde::encode::write_named`) |
//!
//! Readers MUST reject unknown format versions, trailing bytes and files larger than
//! [`MAX_FILE_BYTES`], and MUST run [`QModel::validate`] before using the model ([`load`] and
//! [`from_bytes`] do). Writing the same model twice gives the same bytes. A change to the layout
//! or to the meaning of a field is a new format version; the integer semantics are versioned
//! separately by [`QModel::spec_version`].

use std::fs;
use std::io::Read;
use std::path::Path;

use crate::{QModel, QuantError, QuantResult};

/// First eight bytes of every `.tkq` file.
pub const MAGIC: [u8; 8] = *b"TKQMODEL";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Largest `.tkq` file accepted, in bytes.
pub const MAX_FILE_BYTES: u64 = tk_ir::limits::MAX_MODEL_BYTES;

/// Deepest MessagePack nesting accepted. A model nests about 8 deep; values under unknown keys
/// are skipped recursively, so without this bound a hostile file could exhaust the stack.
pub const MAX_NESTING: usize = 64;

/// Encodes a model (without validating it).
pub fn to_bytes(model: &QModel) -> QuantResult<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    rmp_serde::encode::write_named(&mut out, model)?;
    Ok(out)
}

/// Decodes and validates a model.
pub fn from_bytes(bytes: &[u8]) -> QuantResult<QModel> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(QuantError::TooLarge {
            size: bytes.len() as u64,
            max: MAX_FILE_BYTES,
        });
    }
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(QuantError::BadMagic);
    }
    let version = bytes
        .get(8..12)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| QuantError::Malformed {
            reason: "truncated header".into(),
        })?;
    if version != FORMAT_VERSION {
        return Err(QuantError::UnsupportedVersion {
            got: version,
            supported: FORMAT_VERSION,
        });
    }
    let mut body = bytes.get(12..).unwrap_or_default();
    let mut de = rmp_serde::Deserializer::new(&mut body);
    de.set_max_depth(MAX_NESTING);
    let model: QModel = serde::Deserialize::deserialize(&mut de)?;
    if !body.is_empty() {
        return Err(QuantError::Malformed {
            reason: format!("{} bytes after the model", body.len()),
        });
    }
    model.validate()?;
    Ok(model)
}

/// Writes `model` to `path` (after validating it, so that no unreadable file is produced).
pub fn save(model: &QModel, path: impl AsRef<Path>) -> QuantResult<()> {
    let path = path.as_ref();
    model.validate()?;
    let bytes = to_bytes(model)?;
    fs::write(path, bytes).map_err(|source| QuantError::Io {
        path: path.into(),
        source,
    })
}

/// Reads, decodes and validates a `.tkq` file.
pub fn load(path: impl AsRef<Path>) -> QuantResult<QModel> {
    let path = path.as_ref();
    let io = |source| QuantError::Io {
        path: path.into(),
        source,
    };
    let file = fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(QuantError::TooLarge {
            size,
            max: MAX_FILE_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // The length check above can race with a writer; `take` keeps the bound anyway.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    from_bytes(&bytes)
}
