//! Project automation: `cargo xtask <task>`.

mod accuracy;
mod bench;
mod demo;
mod fuzz;
mod test;

use clap::{Parser, Subcommand};

/// Tasks that keep tachikoma building, tested and measured.
#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The full test gate (what CI runs): installs test data if missing, then fmt, clippy, tests.
    Test(test::Args),
    /// The main job on the small model shipped in the repo.
    Demo(demo::Args),
    /// Accuracy, runtime, trace and proving figures, side by side with EZKL.
    Bench(bench::Args),
    /// Accuracy of every quantization stage on every model, MRT's numbers beside ours.
    Accuracy(accuracy::Args),
    /// Runs every cargo-fuzz target for a while (needs nightly and cargo-fuzz).
    Fuzz(fuzz::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Test(args) => test::run(args),
        Task::Demo(args) => demo::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Fuzz(args) => fuzz::run(args),
        Task::Accuracy(args) => accuracy::run(args),
    }
}

/// The workspace root (parent of `xtask/`).
pub fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or(manifest)
}

/// Cargo's build directory: `CARGO_TARGET_DIR` when set, else `target/` of the workspace.
pub fn cargo_target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs a command in the workspace root, failing with its description if it fails.
pub fn sh(program: &str, args: &[&str]) -> anyhow::Result<()> {
    use anyhow::Context;
    eprintln!("$ {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        anyhow::bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
