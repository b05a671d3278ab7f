//! `cargo xtask fuzz`: runs every `cargo fuzz` target of `fuzz/` for a fixed time, one after
//! the other, and prints executions, time and crashes per target.
//!
//! Needs a nightly toolchain and cargo-fuzz (libFuzzer instrumentation is nightly-only); CI has
//! only stable Rust and instead replays the seed files and their deterministic mutations in
//! ordinary tests (`fuzz_replay.rs` in tk-ir, tk-quant and tk-trace). Each target's corpus is
//! `fuzz/corpus/<target>/` (seed it with `scripts/fuzz_seeds.sh`), crashing inputs land in
//! `fuzz/artifacts/<target>/` and each run's log in `target/fuzz-logs/<target>.log`.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Arguments of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds of fuzzing per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Comma-separated targets (default: every target `cargo fuzz list` reports).
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// libFuzzer's memory limit per process: an input needing more is reported as a crash.
    #[arg(long, default_value_t = 4096)]
    rss_limit_mb: u64,
}

/// What to install when the fuzzing toolchain is missing.
const INSTALL: &str = "cargo fuzz needs a nightly toolchain and cargo-fuzz:\n\
    \x20   rustup toolchain install nightly\n\
    \x20   cargo install cargo-fuzz --locked\n\
    (stable-only machines, like CI, run the corpus replay tests instead: `cargo test -p tk-ir -p tk-quant -p tk-trace fuzz_replay`)";

/// One target's figures.
struct Outcome {
    target: String,
    executions: Option<u64>,
    seconds: f64,
    crashes: usize,
    artifact: Option<String>,
}

/// Builds the fuzz targets, runs each for `--seconds` and fails if any of them crashed.
pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    check_toolchain(&root)?;
    let targets = if args.targets.is_empty() {
        list_targets(&root)?
    } else {
        args.targets.clone()
    };
    eprintln!("$ cargo +nightly fuzz build");
    let status = cargo(root.as_path())
        .args(["+nightly", "fuzz", "build"])
        .status()
        .context("cannot start `cargo fuzz build`")?;
    if !status.success() {
        bail!("`cargo +nightly fuzz build` failed with {status}");
    }
    let logs = root.join("target/fuzz-logs");
    std::fs::create_dir_all(&logs).context("create target/fuzz-logs")?;
    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(run_target(&root, &logs, target, &args)?);
    }
    println!(
        "{:<22} {:>12} {:>8} {:>8}  artifact",
        "target", "executions", "seconds", "crashes"
    );
    for o in &outcomes {
        println!(
            "{:<22} {:>12} {:>8.0} {:>8}  {}",
            o.target,
            o.executions.map_or("?".into(), |n| n.to_string()),
            o.seconds,
            o.crashes,
            o.artifact.as_deref().unwrap_or("")
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crashes > 0)
        .map(|o| o.target.as_str())
        .collect();
    if !crashed.is_empty() {
        bail!(
            "crashes in {}: reproduce with `cargo +nightly fuzz run <target> <artifact>`",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// `cargo` in `root`, building in `fuzz/target`: a `CARGO_TARGET_DIR` meant for the stable
/// workspace would make cargo-fuzz rebuild everything there with nightly.
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root).env_remove("CARGO_TARGET_DIR");
    cmd
}

/// Fails with installation instructions when nightly or cargo-fuzz is missing.
fn check_toolchain(root: &Path) -> Result<()> {
    let works = |args: &[&str]| {
        cargo(root)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works(&["+nightly", "--version"]) {
        bail!("no nightly toolchain. {INSTALL}");
    }
    if !works(&["+nightly", "fuzz", "--version"]) {
        bail!("cargo-fuzz is not installed. {INSTALL}");
    }
    Ok(())
}

fn list_targets(root: &Path) -> Result<Vec<String>> {
    let out = cargo(root)
        .args(["+nightly", "fuzz", "list"])
        .output()
        .context("cannot start `cargo fuzz list`")?;
    if !out.status.success() {
        bail!(
            "`cargo fuzz list` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn run_target(root: &Path, logs: &Path, target: &str, args: &Args) -> Result<Outcome> {
    let corpus = root.join("fuzz/corpus").join(target);
    let artifacts = root.join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("create {}", corpus.display()))?;
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("create {}", artifacts.display()))?;
    let before = files_in(&artifacts);
    let log_path = logs.join(format!("{target}.log"));
    let log = File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
    let corpus_arg = corpus.display().to_string();
    let fuzzer_args = [
        format!("-max_total_time={}", args.seconds),
        format!("-rss_limit_mb={}", args.rss_limit_mb),
        "-timeout=30".to_string(),
        "-print_final_stats=1".to_string(),
    ];
    let mut cmd_args = vec!["+nightly", "fuzz", "run", target, corpus_arg.as_str(), "--"];
    cmd_args.extend(fuzzer_args.iter().map(String::as_str));
    eprintln!("$ cargo {} > {}", cmd_args.join(" "), log_path.display());
    let start = Instant::now();
    let status = cargo(root)
        .args(&cmd_args)
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("cannot start the {target} fuzzer"))?;
    let seconds = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let executions = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok());
    let new: Vec<String> = files_in(&artifacts)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    let mut crashes = new.len();
    let mut artifact = new.first().cloned();
    if !status.success() && crashes == 0 {
        crashes = 1;
        artifact = Some(format!("(see {})", log_path.display()));
    }
    Ok(Outcome {
        target: target.to_string(),
        executions,
        seconds,
        crashes,
        artifact,
    })
}
