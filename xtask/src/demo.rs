//! `cargo xtask demo`: the main job on the small model shipped in the repo.

use anyhow::Result;

/// Arguments of `cargo xtask demo`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model (default: the 8x8 digits MLP shipped in `models/`).
    #[arg(long, default_value = "models/digits_mlp.onnx")]
    model: String,
    /// Input `.npy` (default: one test sample).
    #[arg(long, default_value = "models/digits/sample0_flat.npy")]
    input: String,
}

/// Runs every stage of the pipeline on one model and input, printing what each produced.
pub fn run(args: Args) -> Result<()> {
    let out = "target/demo";
    std::fs::create_dir_all(crate::workspace_root().join(out))?;
    let tk = |rest: &[&str]| -> Result<()> {
        let mut a = vec!["run", "--release", "--quiet", "-p", "tk-cli", "--"];
        a.extend_from_slice(rest);
        crate::sh("cargo", &a)
    };
    tk(&["inspect", &args.model])?;
    tk(&["run", &args.model, "--input", &args.input, "--output", &format!("{out}/float.npy")])?;
    Ok(())
}
