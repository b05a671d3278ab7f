//! `cargo xtask bench`: our pipeline and EZKL, side by side, on the same models and machine.
//!
//! Every heavy step runs as a child process of the release `tk` binary (`--dev-build`: the dev one) with `--metrics`, so
//! wall time and peak memory are measured per step. Results go to
//! `target/bench/<timestamp>/{report.json, report.md, *.svg}`.

mod ezkl;
mod machine;
mod models;
mod plot;
mod report;
mod steps;

pub use models::TORCHVISION_ZOO;

use std::path::PathBuf;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

pub use report::{ModelReport, Report};

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Smallest models only, few repetitions: finishes in minutes (CI runs this).
    #[arg(long)]
    quick: bool,
    /// Comma-separated model names (default: all that fit the mode; see `--list`).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Repetitions for latency medians.
    #[arg(long)]
    repeat: Option<usize>,
    /// Output directory (default `target/bench/<timestamp>`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not run EZKL.
    #[arg(long)]
    no_ezkl: bool,
    /// Do not prove (accuracy, runtime and trace columns only).
    #[arg(long)]
    no_prove: bool,
    /// List the known models and exit.
    #[arg(long)]
    list: bool,
    /// Use the dev-profile `tk` (the one `cargo test` builds) instead of a release build. For
    /// CI, which checks that every column is produced: timings are then not representative.
    #[arg(long)]
    dev_build: bool,
}

/// Runs the benchmark.
pub fn run(args: Args) -> Result<()> {
    let root = crate::workspace_root();
    let catalog = models::catalog(&root);
    if args.list {
        for m in &catalog {
            println!(
                "{:<22} {:<8} {}",
                m.name,
                if m.quick { "quick" } else { "full" },
                m.onnx.display()
            );
        }
        return Ok(());
    }
    let selected: Vec<_> = if args.models.is_empty() {
        catalog
            .into_iter()
            .filter(|m| !args.quick || m.quick)
            .collect()
    } else {
        let mut out = Vec::new();
        for name in &args.models {
            let model = catalog
                .iter()
                .find(|m| &m.name == name)
                .with_context(|| format!("unknown model {name:?} (see --list)"))?;
            out.push(model.clone());
        }
        out
    };
    let repeat = args.repeat.unwrap_or(if args.quick { 5 } else { 20 });
    let out = match args.out {
        Some(dir) => dir,
        None => root.join("target/bench").join(machine::timestamp()),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let target = crate::cargo_target_dir();
    let (tk, profile) = if args.dev_build {
        crate::sh("cargo", &["build", "--quiet", "-p", "tk-cli"])?;
        (target.join("debug/tk"), "dev")
    } else {
        crate::sh("cargo", &["build", "--release", "--quiet", "-p", "tk-cli"])?;
        (target.join("release/tk"), "release")
    };

    let ezkl = if args.no_ezkl || args.no_prove {
        ezkl::Ezkl::disabled("disabled by flag")
    } else {
        ezkl::Ezkl::setup(&root)
    };
    let bar = ProgressBar::new(selected.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut reports = Vec::new();
    for model in &selected {
        bar.set_message(model.name.clone());
        let dir = out.join(&model.name);
        std::fs::create_dir_all(&dir)?;
        let options = steps::StepOptions {
            repeat,
            prove: !args.no_prove && model.provable,
        };
        let mut report = steps::run_model(&tk, &root, model, &dir, &options, &bar);
        report.ezkl = if options.prove {
            Some(ezkl.run(&root, model, &dir, &bar))
        } else {
            None
        };
        reports.push(report);
        bar.inc(1);
    }
    bar.finish_with_message("done");
    let report = Report::new(
        machine::describe(&root),
        args.quick,
        profile,
        repeat,
        reports,
    );
    report.write(&out)?;
    plot::write_all(&report, &out)?;
    println!("{}", report.markdown());
    println!("report: {}", out.join("report.md").display());
    report.check_complete()
}
