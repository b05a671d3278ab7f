//! The proof file (`.tkp`): a proof together with the public values it attests.
//!
//! Layout: the 8 magic bytes `TKPROOF\0`, a `u32` little-endian format version (1), then one
//! MessagePack map (named fields) of [`ProofFile`]. The public instance the proof is checked
//! against is rebuilt from `inputs` and `outputs` (model inputs, then outputs, each flattened
//! row-major, each value mapped into the field as a signed integer; see
//! [`crate::public_instance`]), so a verifier sees exactly what was computed on what. A
//! segment proof's boundary tensors are bound by commitments instead (optional field
//! `commitments`, [`Commitment`]): their digests take their place in the instance.

use serde::{Deserialize, Serialize};
use tk_quant::QTensor;

use crate::CircuitError;
use crate::field::Fr;

/// Magic bytes of a proof file.
pub const MAGIC: &[u8; 8] = b"TKPROOF\0";
/// Format version written and accepted.
pub const VERSION: u32 = 1;
/// Largest proof file accepted (64 MiB; real proofs are a few KiB plus the public values).
pub const MAX_BYTES: usize = 64 << 20;
/// Deepest MessagePack nesting accepted (a proof file nests 3 deep; values under unknown keys
/// are skipped recursively, so this bound protects the stack).
pub const MAX_NESTING: usize = 64;

/// A proof and its public values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofFile {
    /// Lowercase hex SHA-256 of the `.tkq` model the proof is about.
    pub model_digest: String,
    /// Lowercase hex SHA-256 of the verifying key file the proof verifies under.
    pub vk_digest: String,
    /// `log2` of the circuit's rows.
    pub k: u32,
    /// Model input values (integers, as fed to the integer model).
    pub inputs: Vec<QTensor>,
    /// Model output values (integers).
    pub outputs: Vec<QTensor>,
    /// Inputs and outputs bound by commitments instead of values (segment boundaries), in the
    /// model's input then output order; `inputs` and `outputs` then hold the others.
    /// Absent from the file when empty, so a single-model proof file has no such key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commitments: Vec<Commitment>,
    /// The halo2 proof (`TKPF` header and transcript, see [`crate::prover`]).
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
}

/// A committed input or output: its digests ([`crate::commit`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// Its node id in the proof's model.
    pub node: usize,
    /// The digests, 32 bytes each (field elements, little-endian canonical form).
    #[serde(with = "serde_bytes")]
    pub digests: Vec<u8>,
}

impl Commitment {
    /// The commitment of node `node` with `digests`.
    pub fn new(node: usize, digests: &[Fr]) -> Commitment {
        Commitment {
            node,
            digests: digests.iter().flat_map(|d| d.to_bytes()).collect(),
        }
    }

    /// The digests as field elements; an error if a digest is not a canonical field element.
    pub fn fields(&self) -> Result<Vec<Fr>, CircuitError> {
        if !self.digests.len().is_multiple_of(32) {
            return Err(malformed(format!(
                "commitment of node {}: {} bytes, not a multiple of 32",
                self.node,
                self.digests.len()
            )));
        }
        self.digests
            .chunks_exact(32)
            .map(|c| {
                let bytes: [u8; 32] = c.try_into().map_err(|_| malformed("digest length"))?;
                Option::from(Fr::from_bytes(&bytes)).ok_or_else(|| {
                    malformed(format!(
                        "commitment of node {}: a digest is not a field element",
                        self.node
                    ))
                })
            })
            .collect()
    }
}

fn malformed(reason: impl Into<String>) -> CircuitError {
    CircuitError::Malformed {
        what: "proof file",
        reason: reason.into(),
    }
}

impl ProofFile {
    /// Encodes the file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CircuitError> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        rmp_serde::encode::write_named(&mut out, self)?;
        Ok(out)
    }

    /// Decodes a file, rejecting anything malformed, oversized or of an unknown version.
    pub fn from_bytes(bytes: &[u8]) -> Result<ProofFile, CircuitError> {
        if bytes.len() > MAX_BYTES {
            return Err(malformed(format!(
                "{} bytes, at most {MAX_BYTES} allowed",
                bytes.len()
            )));
        }
        if bytes.get(..8) != Some(MAGIC.as_slice()) {
            return Err(malformed("bad magic (not a tachikoma proof)"));
        }
        let version = bytes
            .get(8..12)
            .and_then(|v| v.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| malformed("truncated header"))?;
        if version != VERSION {
            return Err(malformed(format!(
                "unknown version {version}, this reader knows {VERSION}"
            )));
        }
        let mut body = &bytes[12..];
        let mut de = rmp_serde::Deserializer::new(&mut body);
        de.set_max_depth(MAX_NESTING);
        let file: ProofFile = serde::Deserialize::deserialize(&mut de)
            .map_err(|e| malformed(format!("body: {e}")))?;
        if !body.is_empty() {
            return Err(malformed(format!("{} trailing bytes", body.len())));
        }
        for t in file.inputs.iter().chain(&file.outputs) {
            let volume = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if volume != Some(t.data.len()) {
                return Err(malformed(format!(
                    "public tensor of shape {:?} holds {} values",
                    t.shape,
                    t.data.len()
                )));
            }
        }
        for c in &file.commitments {
            c.fields()?;
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ProofFile {
        ProofFile {
            model_digest: "ab".repeat(32),
            vk_digest: "cd".repeat(32),
            k: 10,
            inputs: vec![QTensor {
                shape: vec![1, 2],
                data: vec![-3, 4],
            }],
            commitments: vec![Commitment::new(3, &[Fr::from(5), -Fr::one()])],
            outputs: vec![QTensor {
                shape: vec![1, 3],
                data: vec![1, 2, 127],
            }],
            proof: vec![7; 100],
        }
    }

    #[test]
    fn round_trips_byte_identically() {
        let bytes = sample().to_bytes().unwrap();
        let back = ProofFile::from_bytes(&bytes).unwrap();
        assert_eq!(back, sample());
        assert_eq!(back.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().to_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(
                ProofFile::from_bytes(&bytes[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
    }

    #[test]
    fn bad_magic_version_and_shapes_are_rejected() {
        let mut bytes = sample().to_bytes().unwrap();
        bytes[0] = b'X';
        assert!(ProofFile::from_bytes(&bytes).is_err());
        let mut bytes = sample().to_bytes().unwrap();
        bytes[8] = 2;
        let err = ProofFile::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains("unknown version 2"), "{err}");
        let mut bad = sample();
        bad.outputs[0].shape = vec![1, 4];
        let err = ProofFile::from_bytes(&bad.to_bytes().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds 3 values"), "{err}");
    }
}
