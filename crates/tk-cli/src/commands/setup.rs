//! `tk setup`: KZG parameters, proving and verifying keys for a model.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use tk_circuit::{ModelCircuit, PlanOptions};

use super::keys_dir::{KeysDir, Manifest, digest_hex, load_model, spinner};

/// Arguments of `tk setup`.
#[derive(clap::Args)]
pub struct Args {
    /// The quantized model.
    model: PathBuf,
    /// Directory for the keys (created; reused parameters are read from it).
    #[arg(long)]
    keys: PathBuf,
    /// Existing KZG parameters (e.g. from a ceremony) instead of locally generated ones.
    #[arg(long)]
    params: Option<PathBuf>,
}

/// Runs `tk setup`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let (model, digest) = load_model(&args.model)?;
    let keys = KeysDir::new(&args.keys);
    std::fs::create_dir_all(&keys.dir)
        .with_context(|| format!("cannot create {}", keys.dir.display()))?;
    let circuit = ModelCircuit::for_keygen(&model, &PlanOptions::default())
        .with_context(|| format!("cannot lay out a circuit for {}", args.model.display()))?;
    let report = circuit.report().clone();
    let k = circuit.k();
    let (params, params_path, insecure) = match &args.params {
        Some(path) => {
            let p = tk_circuit::keys::load_params_file(path, k)
                .with_context(|| format!("cannot load KZG parameters {}", path.display()))?;
            (p, std::fs::canonicalize(path)?, false)
        }
        None => {
            let file = tk_circuit::keys::params_path(&keys.dir, k);
            if !file.exists() {
                eprintln!(
                    "warning: generating KZG parameters for k = {k} locally from a public seed. \
                     They are for testing only: anyone can forge proofs under them. \
                     Pass --params with parameters from a trusted setup for real use."
                );
            }
            let bar = spinner(&format!("KZG parameters, k = {k}"));
            let p = tk_circuit::keys::load_or_setup_params(&keys.dir, k)?;
            bar.finish_and_clear();
            (
                p,
                PathBuf::from(file.file_name().context("parameters file name")?),
                true,
            )
        }
    };
    let bar = spinner("key generation");
    let pk = tk_circuit::keys::keygen(&params, &circuit)?;
    bar.finish_and_clear();
    let vk_bytes = pk.vk().to_bytes()?;
    std::fs::write(keys.file("pk.bin"), pk.to_bytes()?)?;
    std::fs::write(keys.file("vk.bin"), &vk_bytes)?;
    std::fs::copy(&args.model, keys.file("model.tkq"))?;
    let plan = serde_json::to_value(&report)?;
    let manifest = Manifest {
        model_digest: digest.to_hex(),
        vk_digest: digest_hex(&vk_bytes),
        k,
        params: params_path,
        params_insecure: insecure,
        plan: plan.clone(),
    };
    std::fs::write(
        keys.file("setup.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    let size = |name: &str| {
        std::fs::metadata(keys.file(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let rows = report.main_rows as u64;
    println!(
        "setup {}: k = {k}, W = {}, {} advice columns, {} lookups, {rows} main rows; pk {} B, vk {} B in {}",
        args.model.display(),
        report.params.width,
        report.advice_columns,
        report.lookups,
        size("pk.bin"),
        size("vk.bin"),
        keys.dir.display()
    );
    for chip in &report.chips {
        println!("  {:<12} {:>8} rows", chip.chip, chip.rows);
    }
    Ok(
        json!({ "k": k, "rows": rows, "plan": plan, "pk_bytes": size("pk.bin"), "vk_bytes": size("vk.bin") }),
    )
}
