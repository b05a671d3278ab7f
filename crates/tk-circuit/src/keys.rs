//! KZG parameters, key generation and key serialization.
//!
//! # Parameters
//! [`setup_params`] runs `ParamsKZG::setup` with a ChaCha20 RNG seeded by a public seed, and
//! [`load_or_setup_params`] caches the result on disk as `kzg-bn254-k{k}.srs` (halo2's raw
//! format). Anyone who knows the seed knows the toxic waste, so such parameters are for
//! development and tests; production proofs need parameters from a trusted-setup ceremony,
//! loaded from the same file name. Because the setup draws its secret first, the parameters
//! for `k` are a prefix of those for any larger `k`: a cached larger file is downsized instead
//! of recomputed.
//!
//! # Key files
//! - verifying key: `b"TKVK"`, version byte `1`, `u32` little-endian length `n`, `n` bytes of
//!   [`CircuitParams`] in MessagePack, then halo2's verifying key (`SerdeFormat::Processed`:
//!   compressed points);
//! - proving key: `b"TKPK"`, version `1`, the same parameter block, then halo2's proving key
//!   (`SerdeFormat::RawBytes`: uncompressed, faster to load).
//!
//! The verifying key commits to every fixed column (weights, requant constants, tables) and
//! to the copy constraints, so it is a function of the model: [`crate::ModelCircuit::for_keygen`]
//! gives the same key as a circuit with a real witness.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use halo2_axiom::SerdeFormat;
use halo2_axiom::halo2curves::bn256::{Bn256, G1Affine};
use halo2_axiom::plonk::{ProvingKey, VerifyingKey, keygen_pk, keygen_vk};
use halo2_axiom::poly::commitment::Params as _;
use halo2_axiom::poly::kzg::commitment::ParamsKZG;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::circuit::ModelCircuit;
use crate::error::CircuitError;
use crate::plan::CircuitParams;

/// KZG parameters on BN254.
pub type Params = ParamsKZG<Bn256>;

/// Seed of the development setup.
pub const DEV_SEED: u64 = 0x7ac1_c0a4_2024_0001;

const VK_MAGIC: &[u8; 4] = b"TKVK";
const PK_MAGIC: &[u8; 4] = b"TKPK";
const KEY_VERSION: u8 = 1;

/// Parameters for `2^k` rows from a seeded RNG (insecure: development only).
pub fn setup_params(k: u32, seed: u64) -> Params {
    ParamsKZG::setup(k, ChaCha20Rng::seed_from_u64(seed))
}

/// Path of the cached parameters for `k` in `dir`.
pub fn params_path(dir: &Path, k: u32) -> PathBuf {
    dir.join(format!("kzg-bn254-k{k}.srs"))
}

fn read_params(path: &Path) -> Result<Params, CircuitError> {
    let bytes = fs::read(path)?;
    Ok(Params::read(&mut bytes.as_slice())?)
}

/// Parameters for `2^k` rows: read from `dir`, else downsized from a larger cached file, else
/// generated with [`DEV_SEED`] and cached (written atomically).
pub fn load_or_setup_params(dir: &Path, k: u32) -> Result<Params, CircuitError> {
    let path = params_path(dir, k);
    if path.exists() {
        let params = read_params(&path)?;
        if params.k() != k {
            return Err(CircuitError::ParamsMismatch {
                expected: k,
                got: params.k(),
            });
        }
        return Ok(params);
    }
    let params = match (k + 1..=26)
        .map(|b| params_path(dir, b))
        .find(|p| p.exists())
    {
        Some(bigger) => {
            let mut params = read_params(&bigger)?;
            params.downsize(k);
            params
        }
        None => setup_params(k, DEV_SEED),
    };
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut file = fs::File::create(&tmp)?;
        let mut bytes = Vec::new();
        params.write(&mut bytes)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    Ok(params)
}

/// Parameters for `2^k` rows from a user-supplied file (e.g. from a trusted-setup ceremony),
/// downsized when the file holds more rows. Fails if the file holds fewer than `2^k`.
pub fn load_params_file(path: &Path, k: u32) -> Result<Params, CircuitError> {
    let mut params = read_params(path)?;
    if params.k() < k {
        return Err(CircuitError::ParamsMismatch {
            expected: k,
            got: params.k(),
        });
    }
    if params.k() > k {
        params.downsize(k);
    }
    Ok(params)
}

/// A verifying key with the circuit shape it belongs to.
#[derive(Debug, Clone)]
pub struct ModelVk {
    /// Circuit shape (needed to rebuild the constraint system when reading the key).
    pub circuit: CircuitParams,
    /// halo2 verifying key.
    pub vk: VerifyingKey<G1Affine>,
}

/// A proving key with the circuit shape it belongs to.
#[derive(Debug)]
pub struct ModelPk {
    /// Circuit shape.
    pub circuit: CircuitParams,
    /// halo2 proving key (holds the verifying key).
    pub pk: ProvingKey<G1Affine>,
}

fn check_k(params: &Params, k: u32) -> Result<(), CircuitError> {
    if params.k() != k {
        return Err(CircuitError::ParamsMismatch {
            expected: k,
            got: params.k(),
        });
    }
    Ok(())
}

/// Generates the verifying and proving keys of `circuit` (its witness values are ignored).
pub fn keygen(params: &Params, circuit: &ModelCircuit) -> Result<ModelPk, CircuitError> {
    check_k(params, circuit.k())?;
    let vk = keygen_vk(params, circuit)?;
    let pk = keygen_pk(params, vk, circuit)?;
    Ok(ModelPk {
        circuit: circuit.params().clone(),
        pk,
    })
}

impl ModelPk {
    /// The matching verifying key.
    pub fn vk(&self) -> ModelVk {
        ModelVk {
            circuit: self.circuit.clone(),
            vk: self.pk.get_vk().clone(),
        }
    }

    /// Serializes the key (format in the module docs).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CircuitError> {
        let mut out = header(PK_MAGIC, &self.circuit)?;
        self.pk.write(&mut out, SerdeFormat::RawBytes)?;
        Ok(out)
    }

    /// Reads a key written by [`ModelPk::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelPk, CircuitError> {
        let (circuit, mut rest) = read_header(PK_MAGIC, "proving key", bytes)?;
        let pk =
            ProvingKey::read::<_, ModelCircuit>(&mut rest, SerdeFormat::RawBytes, circuit.clone())
                .map_err(|e| malformed("proving key", e.to_string()))?;
        Ok(ModelPk { circuit, pk })
    }
}

impl ModelVk {
    /// Serializes the key (format in the module docs).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CircuitError> {
        let mut out = header(VK_MAGIC, &self.circuit)?;
        self.vk.write(&mut out, SerdeFormat::Processed)?;
        Ok(out)
    }

    /// Reads a key written by [`ModelVk::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelVk, CircuitError> {
        let (circuit, mut rest) = read_header(VK_MAGIC, "verifying key", bytes)?;
        let vk = VerifyingKey::read::<_, ModelCircuit>(
            &mut rest,
            SerdeFormat::Processed,
            circuit.clone(),
        )
        .map_err(|e| malformed("verifying key", e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed(
                "verifying key",
                format!("{} trailing bytes", rest.len()),
            ));
        }
        Ok(ModelVk { circuit, vk })
    }
}

fn malformed(what: &'static str, reason: impl Into<String>) -> CircuitError {
    CircuitError::Malformed {
        what,
        reason: reason.into(),
    }
}

fn header(magic: &[u8; 4], circuit: &CircuitParams) -> Result<Vec<u8>, CircuitError> {
    let block = rmp_serde::to_vec(circuit)?;
    let mut out = Vec::with_capacity(9 + block.len());
    out.extend_from_slice(magic);
    out.push(KEY_VERSION);
    out.extend_from_slice(&(block.len() as u32).to_le_bytes());
    out.extend_from_slice(&block);
    Ok(out)
}

/// Maximum size of the parameter block.
const MAX_BLOCK: usize = 1 << 16;

fn read_header<'b>(
    magic: &[u8; 4],
    what: &'static str,
    bytes: &'b [u8],
) -> Result<(CircuitParams, &'b [u8]), CircuitError> {
    if bytes.get(..4) != Some(magic.as_slice()) {
        return Err(malformed(what, "bad magic"));
    }
    match bytes.get(4) {
        Some(&KEY_VERSION) => {}
        Some(v) => return Err(malformed(what, format!("unknown version {v}"))),
        None => return Err(malformed(what, "truncated")),
    }
    let len: [u8; 4] = bytes
        .get(5..9)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed(what, "truncated"))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_BLOCK {
        return Err(malformed(what, format!("parameter block of {len} bytes")));
    }
    let block = bytes
        .get(9..9 + len)
        .ok_or_else(|| malformed(what, "truncated"))?;
    let circuit: CircuitParams = rmp_serde::from_slice(block)?;
    circuit.validate().map_err(|e| malformed(what, e))?;
    Ok((circuit, &bytes[9 + len..]))
}
