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
use halo2_axiom::halo2curves::bn256::{Bn256, G1Affine, G2Affine};
use halo2_axiom::halo2curves::serde::SerdeObject;
use halo2_axiom::plonk::{
    Circuit, ConstraintSystem, ProvingKey, VerifyingKey, keygen_pk, keygen_vk,
};
use halo2_axiom::poly::commitment::Params as _;
use halo2_axiom::poly::kzg::commitment::ParamsKZG;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::circuit::ModelCircuit;
use crate::error::CircuitError;
use crate::field::Fr;
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

/// Largest `k` a parameter file may declare (BN254's scalar field has `2^28`-th roots of unity).
const MAX_PARAMS_K: u32 = 28;

fn read_params(path: &Path) -> Result<Params, CircuitError> {
    let bytes = fs::read(path)?;
    check_params_layout(&bytes)?;
    Ok(Params::read(&mut bytes.as_slice())?)
}

/// halo2 reads parameters unchecked (`RawBytesUnchecked`, panicking on a short read, allocating
/// `2^k` points before reading them), so the layout is checked first: a `u32` little-endian
/// `k`, then `2 * 2^k` raw G1 points (`g` and `g_lagrange`), then two raw G2 points.
fn check_params_layout(bytes: &[u8]) -> Result<(), CircuitError> {
    let what = "KZG parameters";
    let k = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| malformed(what, "truncated"))?;
    if k > MAX_PARAMS_K {
        return Err(malformed(
            what,
            format!("k = {k}, at most {MAX_PARAMS_K} supported"),
        ));
    }
    let g1 = G1Affine::default().to_raw_bytes().len();
    let g2 = G2Affine::default().to_raw_bytes().len();
    let expected = 4 + (2usize << k) * g1 + 2 * g2;
    if bytes.len() != expected {
        return Err(malformed(
            what,
            format!("{} bytes, k = {k} needs {expected}", bytes.len()),
        ));
    }
    Ok(())
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
        let what = "proving key";
        let (circuit, mut rest) = read_header(PK_MAGIC, what, bytes)?;
        check_halo2_header(what, rest, &circuit)?;
        // halo2 reads the polynomials with `unwrap` and `assert!`: check their layout first.
        let mut polynomials = rest;
        let vk = VerifyingKey::read::<_, ModelCircuit>(
            &mut polynomials,
            SerdeFormat::RawBytes,
            circuit.clone(),
        )
        .map_err(|e| malformed(what, e.to_string()))?;
        check_vk_columns(what, &vk)?;
        check_pk_polynomials(polynomials, &vk).map_err(|e| malformed(what, e))?;
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
        check_halo2_header("verifying key", rest, &circuit)?;
        let halo2_bytes = rest;
        let vk = VerifyingKey::read::<_, ModelCircuit>(
            &mut rest,
            SerdeFormat::Processed,
            circuit.clone(),
        )
        .map_err(|e| malformed("verifying key", e.to_string()))?;
        check_vk_columns("verifying key", &vk)?;
        if !rest.is_empty() {
            return Err(malformed(
                "verifying key",
                format!("{} trailing bytes", rest.len()),
            ));
        }
        // One key, one encoding: halo2curves also accepts points with a stray identity flag,
        // which would give the same key under another file digest.
        let mut canonical = Vec::with_capacity(halo2_bytes.len());
        vk.write(&mut canonical, SerdeFormat::Processed)?;
        if canonical != halo2_bytes {
            return Err(malformed("verifying key", "not in canonical encoding"));
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

/// Checks the start of halo2's key encoding before halo2 reads it: version byte 2, a `k` equal to
/// the parameter block's (halo2 builds its evaluation domain from this `k` and panics on large
/// values), a boolean selector flag and, with compressed selectors, enough bytes for the selector
/// bitmaps (`2^k` bits each), which halo2 allocates before reading them.
fn check_halo2_header(
    what: &'static str,
    rest: &[u8],
    circuit: &CircuitParams,
) -> Result<(), CircuitError> {
    let (Some(&version), Some(k), Some(&compressed)) = (rest.first(), rest.get(1..5), rest.get(5))
    else {
        return Err(malformed(what, "truncated"));
    };
    let k = u32::from_le_bytes(k.try_into().map_err(|_| malformed(what, "truncated"))?);
    if version != 2 {
        return Err(malformed(
            what,
            format!("unknown halo2 key version {version}"),
        ));
    }
    if k != circuit.k {
        return Err(malformed(
            what,
            format!(
                "halo2 key for k = {k}, its parameter block says k = {}",
                circuit.k
            ),
        ));
    }
    match compressed {
        0 => Ok(()),
        1 => {
            let mut cs = ConstraintSystem::<Fr>::default();
            ModelCircuit::configure_with_params(&mut cs, circuit.clone());
            let bitmaps = cs.num_selectors().saturating_mul((1usize << k).div_ceil(8));
            if rest.len() < bitmaps {
                return Err(malformed(what, "truncated selector bitmaps"));
            }
            Ok(())
        }
        _ => Err(malformed(what, format!("selector flag {compressed}"))),
    }
}

/// halo2 trusts the number of fixed commitments a key declares; the verifier indexes them by
/// column, so a short list must be refused here.
fn check_vk_columns(what: &'static str, vk: &VerifyingKey<G1Affine>) -> Result<(), CircuitError> {
    let (declared, needed) = (vk.fixed_commitments().len(), vk.cs().num_fixed_columns());
    if declared != needed {
        return Err(malformed(
            what,
            format!("{declared} fixed column commitments, the circuit has {needed} fixed columns"),
        ));
    }
    Ok(())
}

/// Checks that `bytes` is exactly the polynomial part of a proving key for `vk` in halo2-axiom's
/// layout: `l0`, `l_last`, `l_active_row`, the fixed values and the fixed polynomials (one per
/// fixed column each), the permutation polynomials in both bases (one per permuted column each).
/// A polynomial is a big-endian `u32` length, which must be `2^k`, and that many raw field
/// elements, each below the modulus; a list is a big-endian `u32` count and its polynomials.
fn check_pk_polynomials(mut bytes: &[u8], vk: &VerifyingKey<G1Affine>) -> Result<(), String> {
    let n = 1usize << vk.get_domain().k();
    let element = Fr::default().to_raw_bytes().len();
    let fixed = vk.cs().num_fixed_columns();
    let permuted = vk.cs().permutation().get_columns().len();
    fn take<'b>(bytes: &mut &'b [u8], len: usize) -> Result<&'b [u8], String> {
        if bytes.len() < len {
            return Err("truncated polynomials".into());
        }
        let (head, tail) = bytes.split_at(len);
        *bytes = tail;
        Ok(head)
    }
    fn be_u32(bytes: &mut &[u8]) -> Result<usize, String> {
        let b = take(bytes, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let polynomial = |bytes: &mut &[u8]| -> Result<(), String> {
        let len = be_u32(bytes)?;
        if len != n {
            return Err(format!("polynomial of {len} coefficients, expected {n}"));
        }
        let values = take(bytes, n * element)?;
        if values
            .chunks_exact(element)
            .any(|c| Fr::from_raw_bytes(c).is_none())
        {
            return Err("a coefficient is not a canonical field element".into());
        }
        Ok(())
    };
    for _ in 0..3 {
        polynomial(&mut bytes)?;
    }
    for count in [fixed, fixed, permuted, permuted] {
        let declared = be_u32(&mut bytes)?;
        if declared != count {
            return Err(format!("{declared} polynomials in a list of {count}"));
        }
        for _ in 0..count {
            polynomial(&mut bytes)?;
        }
    }
    if !bytes.is_empty() {
        return Err(format!("{} trailing bytes", bytes.len()));
    }
    Ok(())
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
    let mut de = rmp_serde::Deserializer::from_read_ref(block);
    // The block nests 3 deep; skipped unknown values must not recurse without bound.
    de.set_max_depth(crate::proof_file::MAX_NESTING);
    let circuit: CircuitParams = serde::Deserialize::deserialize(&mut de)?;
    circuit.validate().map_err(|e| malformed(what, e))?;
    // One parameter set, one encoding: a block that decodes with fewer fields (serde defaults)
    // or carries trailing bytes would give the same key under another file digest.
    if rmp_serde::to_vec(&circuit)? != block {
        return Err(malformed(what, "parameter block not in canonical encoding"));
    }
    Ok((circuit, &bytes[9 + len..]))
}
