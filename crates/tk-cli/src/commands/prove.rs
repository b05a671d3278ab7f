//! `tk prove`: prove that a trace is a correct execution of a model.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tk_circuit::proof_file::ProofFile;
use tk_circuit::{ModelCircuit, PlanOptions, TraceValues};

use super::keys_dir::{KeysDir, digest_hex, load_model, spinner};

/// Arguments of `tk prove`.
#[derive(clap::Args)]
pub struct Args {
    /// The quantized model.
    model: PathBuf,
    /// The trace to prove.
    trace: PathBuf,
    /// Keys directory from `tk setup`.
    #[arg(long)]
    keys: PathBuf,
    /// Where to write the proof file.
    #[arg(long)]
    output: PathBuf,
}

/// Runs `tk prove`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let (model, digest) = load_model(&args.model)?;
    let keys = KeysDir::new(&args.keys);
    let manifest = keys.manifest()?;
    if manifest.model_digest != digest.to_hex() {
        bail!(
            "the keys in {} were made for another model (run tk setup for this one)",
            keys.dir.display()
        );
    }
    let file = std::fs::File::open(&args.trace)
        .with_context(|| format!("cannot open {}", args.trace.display()))?;
    let reader = tk_trace::TraceReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read {}", args.trace.display()))?;
    let values = TraceValues::read(reader, &model, &digest)
        .with_context(|| format!("refusing to prove {}", args.trace.display()))?;
    let witnesses = values.op_witnesses(&model);
    let circuit =
        ModelCircuit::new(&model, &witnesses, &PlanOptions::default()).with_context(|| {
            format!(
                "refusing to prove {}: it is not a correct execution",
                args.trace.display()
            )
        })?;
    if circuit.k() != manifest.k {
        bail!(
            "circuit needs k = {}, the keys have k = {}",
            circuit.k(),
            manifest.k
        );
    }
    let params = keys.params(&manifest)?;
    let pk_bytes = std::fs::read(keys.file("pk.bin")).context("cannot read pk.bin")?;
    let pk = tk_circuit::keys::ModelPk::from_bytes(&pk_bytes).context("malformed pk.bin")?;
    let vk_bytes = std::fs::read(keys.file("vk.bin")).context("cannot read vk.bin")?;
    let bar = spinner(&format!(
        "proving {} records, k = {}",
        values.records,
        circuit.k()
    ));
    let proof = tk_circuit::prover::prove(&params, &pk, &circuit, rand::rngs::OsRng)?;
    bar.finish_and_clear();
    let out = ProofFile {
        model_digest: digest.to_hex(),
        vk_digest: digest_hex(&vk_bytes),
        k: circuit.k(),
        inputs: values.inputs(&model),
        outputs: values.outputs(&model),
        proof,
    };
    let bytes = out.to_bytes()?;
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "proved {} ({} records, k = {}): {} ({} B, proof {} B)",
        args.trace.display(),
        values.records,
        circuit.k(),
        args.output.display(),
        bytes.len(),
        out.proof.len()
    );
    Ok(
        json!({ "k": circuit.k(), "records": values.records, "proof_bytes": out.proof.len(), "file_bytes": bytes.len() }),
    )
}
