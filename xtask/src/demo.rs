//! `cargo xtask demo`: the main job on the small model shipped in the repo.
//!
//! quantize -> run with a trace -> check -> setup -> prove -> verify, then a summary of the
//! prediction, timings and sizes. Everything goes to `target/demo/`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

/// Arguments of `cargo xtask demo`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model (default: the 8x8 digits MLP shipped in `models/`).
    #[arg(long, default_value = "models/digits_mlp.onnx")]
    model: String,
    /// Calibration samples.
    #[arg(long, default_value = "models/digits/calib_x_flat.npy")]
    calib: String,
    /// The input to prove (default: the first test sample).
    #[arg(long, default_value = "models/digits/sample0_flat.npy")]
    input: String,
}

/// Runs every stage of the pipeline on one model and input, printing what each produced.
pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    let out = root.join("target/demo");
    std::fs::create_dir_all(&out)?;
    crate::sh("cargo", &["build", "--release", "--quiet", "-p", "tk-cli"])?;
    let tk = crate::cargo_target_dir().join("release/tk");
    let path = |name: &str| out.join(name).display().to_string();
    let mut timings = Vec::new();
    let mut step = |name: &str, rest: &[&str]| -> Result<()> {
        let start = Instant::now();
        eprintln!("\n== {name}");
        let status = std::process::Command::new(&tk)
            .args(rest)
            .current_dir(&root)
            .status()
            .with_context(|| format!("cannot start {}", tk.display()))?;
        anyhow::ensure!(status.success(), "tk {name} failed ({status})");
        timings.push((name.to_string(), start.elapsed().as_secs_f64()));
        Ok(())
    };
    step(
        "quantize",
        &[
            "quantize",
            &args.model,
            "--calib",
            &args.calib,
            "--output",
            &path("model.tkq"),
        ],
    )?;
    step(
        "run",
        &[
            "run",
            &path("model.tkq"),
            "--input",
            &args.input,
            "--output",
            &path("output.npy"),
            "--trace",
            &path("trace.tkt"),
        ],
    )?;
    step(
        "check",
        &["check", &path("trace.tkt"), "--model", &path("model.tkq")],
    )?;
    step(
        "setup",
        &["setup", &path("model.tkq"), "--keys", &path("keys")],
    )?;
    step(
        "prove",
        &[
            "prove",
            &path("model.tkq"),
            &path("trace.tkt"),
            "--keys",
            &path("keys"),
            "--output",
            &path("proof.tkp"),
        ],
    )?;
    step(
        "verify",
        &[
            "verify",
            &path("proof.tkp"),
            "--keys",
            &path("keys"),
            "--print-io",
        ],
    )?;
    println!("\nsummary ({}):", args.model);
    for (name, secs) in &timings {
        println!("  {name:<9} {secs:>8.3} s");
    }
    for file in [
        "model.tkq",
        "trace.tkt",
        "keys/pk.bin",
        "keys/vk.bin",
        "proof.tkp",
    ] {
        println!("  {file:<12} {:>10} bytes", size(&out.join(file)));
    }
    Ok(())
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
