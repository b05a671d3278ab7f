//! SHA-256 digests and their lowercase hex form.

use sha2::{Digest, Sha256};

/// SHA-256 of a `.tkq` file's bytes: the model a trace was produced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelDigest(pub [u8; 32]);

impl ModelDigest {
    /// Digest of the model file's bytes.
    pub fn of_bytes(tkq: &[u8]) -> ModelDigest {
        ModelDigest(Sha256::digest(tkq).into())
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|&b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// Whether `s` is 64 lowercase hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
