//! `tk verify`: check a proof against the verifying key and its public values.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tk_circuit::proof_file::ProofFile;

use super::keys_dir::{KeysDir, digest_hex};

/// Arguments of `tk verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The proof file from `tk prove`.
    proof: PathBuf,
    /// Keys directory from `tk setup`.
    #[arg(long)]
    keys: PathBuf,
    /// Print the public model input and output (integers and dequantized values).
    #[arg(long)]
    print_io: bool,
}

fn dequantized(model: &tk_quant::QModel, node: usize, t: &tk_quant::QTensor) -> Vec<f64> {
    let scale = model.scale(node).map(f64::from).unwrap_or(1.0);
    t.data.iter().map(|&v| f64::from(v) * scale).collect()
}

/// Runs `tk verify`: prints `verified` and succeeds, or fails naming what is wrong.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let bytes = std::fs::read(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?;
    let proof = ProofFile::from_bytes(&bytes)?;
    let keys = KeysDir::new(&args.keys);
    let manifest = keys.manifest()?;
    let vk_bytes = std::fs::read(keys.file("vk.bin")).context("cannot read vk.bin")?;
    if digest_hex(&vk_bytes) != manifest.vk_digest {
        bail!("vk.bin does not match setup.json");
    }
    if proof.vk_digest != manifest.vk_digest {
        bail!("the proof was made under another verifying key");
    }
    if proof.model_digest != manifest.model_digest {
        bail!("the proof is about another model");
    }
    let model = keys.model(&manifest)?;
    let vk = tk_circuit::keys::ModelVk::from_bytes(&vk_bytes).context("malformed vk.bin")?;
    let params = keys.params(&manifest)?;
    let instance = tk_circuit::public_instance(&model, &proof.inputs, &proof.outputs)
        .context("public values do not fit the model")?;
    tk_circuit::prover::verify(&params, &vk, &instance, &proof.proof).context("proof rejected")?;
    if args.print_io {
        for (t, &node) in proof.inputs.iter().zip(&model.graph.inputs) {
            println!(
                "input {} {:?}: {:?}",
                model.graph.nodes[node].name, t.shape, t.data
            );
        }
        for (t, &node) in proof.outputs.iter().zip(&model.graph.outputs) {
            println!(
                "output {} {:?}: {:?}",
                model.graph.nodes[node].name, t.shape, t.data
            );
            let values: Vec<String> = dequantized(&model, node, t)
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect();
            println!(
                "output {} dequantized: [{}]",
                model.graph.nodes[node].name,
                values.join(", ")
            );
        }
    }
    println!("verified");
    Ok(json!({ "verified": true, "k": proof.k, "proof_bytes": proof.proof.len() }))
}
