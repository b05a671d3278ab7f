//! Proving and verifying: SHPLONK multi-open KZG on BN254, Blake2b transcript with
//! `Challenge255`.
//!
//! Proof bytes: `b"TKPF"`, version byte `1`, then halo2's transcript. A proof has exactly one
//! accepted encoding: the verifier refuses non-canonical point encodings and bytes after the
//! transcript (halo2 alone accepts both, so proof bytes would be malleable).

use halo2_axiom::halo2curves::bn256::{Bn256, G1Affine};
use halo2_axiom::halo2curves::ff::PrimeField;
use halo2_axiom::halo2curves::group::GroupEncoding;
use halo2_axiom::plonk::{create_proof, verify_proof};
use halo2_axiom::poly::commitment::{Params as _, ParamsProver};
use halo2_axiom::poly::kzg::commitment::KZGCommitmentScheme;
use halo2_axiom::poly::kzg::multiopen::{ProverSHPLONK, VerifierSHPLONK};
use halo2_axiom::poly::kzg::strategy::SingleStrategy;
use halo2_axiom::transcript::{
    Blake2bRead, Blake2bWrite, Challenge255, Transcript, TranscriptRead, TranscriptReadBuffer,
    TranscriptWriterBuffer,
};
use rand::RngCore;

use crate::circuit::ModelCircuit;
use crate::error::CircuitError;
use crate::field::Fr;
use crate::keys::{ModelPk, ModelVk, Params};

const PROOF_MAGIC: &[u8; 4] = b"TKPF";
const PROOF_VERSION: u8 = 1;

/// Proves `circuit` with `pk`, blinding with `rng` (use a cryptographic RNG outside tests).
/// The public instance is [`ModelCircuit::instance`].
pub fn prove(
    params: &Params,
    pk: &ModelPk,
    circuit: &ModelCircuit,
    rng: impl RngCore,
) -> Result<Vec<u8>, CircuitError> {
    if params.k() != circuit.k() {
        return Err(CircuitError::ParamsMismatch {
            expected: circuit.k(),
            got: params.k(),
        });
    }
    if pk.circuit != *circuit.params() {
        return Err(CircuitError::KeyMismatch);
    }
    let instance = circuit.instance();
    let mut transcript = Blake2bWrite::<_, G1Affine, Challenge255<_>>::init(Vec::new());
    create_proof::<
        KZGCommitmentScheme<Bn256>,
        ProverSHPLONK<'_, Bn256>,
        Challenge255<G1Affine>,
        _,
        _,
        _,
    >(
        params,
        &pk.pk,
        std::slice::from_ref(circuit),
        &[&[instance]],
        rng,
        &mut transcript,
    )?;
    let mut out = Vec::new();
    out.extend_from_slice(PROOF_MAGIC);
    out.push(PROOF_VERSION);
    out.extend_from_slice(&transcript.finalize());
    Ok(out)
}

/// Verifies `proof` against `vk` and the public `instance` (inputs then outputs, see
/// [`crate::public_instance`]).
pub fn verify(
    params: &Params,
    vk: &ModelVk,
    instance: &[Fr],
    proof: &[u8],
) -> Result<(), CircuitError> {
    if params.k() != vk.circuit.k {
        return Err(CircuitError::ParamsMismatch {
            expected: vk.circuit.k,
            got: params.k(),
        });
    }
    if instance.len() != vk.circuit.instance_len {
        return Err(CircuitError::InvalidPublic(format!(
            "{} public values, the key expects {}",
            instance.len(),
            vk.circuit.instance_len
        )));
    }
    let body = match (proof.get(..4), proof.get(4)) {
        (Some(m), Some(&PROOF_VERSION)) if m == PROOF_MAGIC => &proof[5..],
        (Some(m), Some(v)) if m == PROOF_MAGIC => {
            return Err(CircuitError::Malformed {
                what: "proof",
                reason: format!("unknown version {v}"),
            });
        }
        _ => {
            return Err(CircuitError::Malformed {
                what: "proof",
                reason: "bad magic".into(),
            });
        }
    };
    let mut transcript = StrictRead::new(body);
    verify_proof::<
        KZGCommitmentScheme<Bn256>,
        VerifierSHPLONK<'_, Bn256>,
        Challenge255<G1Affine>,
        _,
        _,
    >(
        params.verifier_params(),
        &vk.vk,
        SingleStrategy::new(params),
        &[&[instance]],
        &mut transcript,
    )
    .map_err(CircuitError::Verification)?;
    if transcript.read < body.len() {
        return Err(CircuitError::Malformed {
            what: "proof",
            reason: format!(
                "{} bytes after the transcript",
                body.len() - transcript.read
            ),
        });
    }
    Ok(())
}

/// halo2's Blake2b transcript reader, additionally refusing point encodings that are not the
/// canonical one (halo2curves ignores the identity flag of a non-zero `x`, so two byte strings
/// decode to the same point) and counting the bytes read.
struct StrictRead<'a> {
    inner: Blake2bRead<&'a [u8], G1Affine, Challenge255<G1Affine>>,
    body: &'a [u8],
    read: usize,
}

impl<'a> StrictRead<'a> {
    fn new(body: &'a [u8]) -> Self {
        StrictRead {
            inner: Blake2bRead::init(body),
            body,
            read: 0,
        }
    }
}

impl Transcript<G1Affine, Challenge255<G1Affine>> for StrictRead<'_> {
    fn squeeze_challenge(&mut self) -> Challenge255<G1Affine> {
        self.inner.squeeze_challenge()
    }

    fn common_point(&mut self, point: G1Affine) -> std::io::Result<()> {
        self.inner.common_point(point)
    }

    fn common_scalar(&mut self, scalar: Fr) -> std::io::Result<()> {
        self.inner.common_scalar(scalar)
    }
}

impl TranscriptRead<G1Affine, Challenge255<G1Affine>> for StrictRead<'_> {
    fn read_point(&mut self) -> std::io::Result<G1Affine> {
        let point = self.inner.read_point()?;
        let canonical = point.to_bytes();
        let len = canonical.as_ref().len();
        let raw = self.body.get(self.read..self.read + len);
        self.read += len;
        if raw != Some(canonical.as_ref()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "non-canonical point encoding in proof",
            ));
        }
        Ok(point)
    }

    fn read_scalar(&mut self) -> std::io::Result<Fr> {
        // `Fr::from_repr` already refuses non-canonical scalars.
        let scalar = self.inner.read_scalar()?;
        self.read += scalar.to_repr().as_ref().len();
        Ok(scalar)
    }
}
