//! `tk-circuit`: halo2 circuits proving that a tachikoma trace is a correct execution of a
//! quantized model.
//!
//! The circuit enforces the integer standard (`docs/spec/integer-ops.md`) exactly: every op
//! of a [`tk_quant::QModel`] becomes chip jobs (dot products, requantizations, max-pool
//! windows, table lookups, wiring), laid out from the op witnesses (inputs and output of each
//! op, in execution order) and chained by copy constraints: an op's input cells are copies of
//! its producers' output cells. Model inputs and outputs are public (one instance column); an
//! input or output listed in [`PlanOptions::commit`] (a segment boundary) is public through
//! its Poseidon digests instead ([`commit`]).
//! Proofs are KZG on BN254 with SHPLONK multi-opening and a Blake2b transcript (halo2-axiom).
//!
//! ```text
//! OpWitness per node ─► ModelCircuit::new ─► keys::keygen ─► prover::prove ─► prover::verify
//!                        (lower, plan k)     (vk, pk)          (proof bytes)
//! ```
//!
//! Invariants:
//! - no floating point: every value is an integer mapped into the field ([`field`]);
//! - the layout (and so the verifying key) depends on the model only, never on witness values;
//! - every advice value is uniquely determined by the public inputs and the model (each chip
//!   documents why), so a proof attests exactly the integer standard's outputs.
#![deny(missing_docs)]

pub mod chips;
mod circuit;
pub mod commit;
mod error;
pub mod field;
mod from_trace;
mod jobs;
pub mod keys;
mod lower;
pub mod mutation;
pub mod plan;
pub mod proof_file;
pub mod prover;
pub mod segment;
mod witness;

pub use circuit::{CommitOverrides, ModelCircuit, ModelConfig, RegionRows};
pub use error::CircuitError;
pub use from_trace::TraceValues;
pub use jobs::{
    DotJob, Fold, GroupJob, LutJob, MaxPoolJob, OpCircuit, OpKind, Operand, RequantJob, SoftmaxJob,
};
pub use plan::{CircuitParams, PlanOptions, PlanReport};
pub use witness::{OpWitness, public_instance, public_instance_with};

/// What a user of the crate needs.
pub mod prelude {
    pub use crate::field::{Fr, fe};
    pub use crate::keys::{ModelPk, ModelVk, Params, keygen, load_or_setup_params, setup_params};
    pub use crate::prover::{prove, verify};
    pub use crate::{
        CircuitError, CircuitParams, ModelCircuit, OpWitness, PlanOptions, PlanReport,
        public_instance,
    };
}
