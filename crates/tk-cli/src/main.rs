//! `tk`: the tachikoma command line.

mod commands;
mod metrics;
mod samples;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Verifiable neural-network inference: import, quantize, run with a trace, check, prove, verify.
#[derive(Parser)]
#[command(name = "tk", version, about)]
struct Cli {
    /// Write wall time, peak memory and the command's figures as JSON to this file.
    #[arg(long, global = true, value_name = "FILE")]
    metrics: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the graph of an ONNX model: one line per node and a summary.
    Inspect(commands::inspect::Args),
    /// Evaluate a model (float for .onnx, integer-only for .tkq) on a .npy input.
    Run(commands::run::Args),
    /// Quantize a float ONNX model into an integer-only .tkq model.
    Quantize(commands::quantize::Args),
    /// Top-1/top-5 of every quantization stage (float, sim, clip, round, quantized).
    Eval(commands::eval::Args),
    /// Replay every record of a trace and check it against the model.
    Check(commands::check::Args),
    /// Latency of tract (float) vs the integer runtime, with and without tracing.
    Profile(commands::profile::Args),
    /// Create KZG parameters and the proving and verifying keys of a model.
    Setup(commands::setup::Args),
    /// Prove that a trace is a correct execution of a model.
    Prove(commands::prove::Args),
    /// Verify a proof against its public model input and output.
    Verify(commands::verify::Args),
}

fn main() {
    let cli = Cli::parse();
    let clock = metrics::Clock::start();
    let result = match cli.command {
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Quantize(args) => commands::quantize::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Profile(args) => commands::profile::run(args),
        Command::Setup(args) => commands::setup::run(args),
        Command::Prove(args) => commands::prove::run(args),
        Command::Verify(args) => commands::verify::run(args),
    };
    let details = match result {
        Ok(details) => details,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(1);
        }
    };
    if let Some(path) = cli.metrics
        && let Err(error) = clock.write(&path, details)
    {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
