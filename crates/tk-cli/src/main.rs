//! `tk`: the tachikoma command line.

mod commands;
mod samples;

use clap::{Parser, Subcommand};

/// Verifiable neural-network inference: import, quantize, run with a trace, check, prove, verify.
#[derive(Parser)]
#[command(name = "tk", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the graph of an ONNX model: one line per node and a summary.
    Inspect(commands::inspect::Args),
    /// Evaluate a model (float for .onnx, integer-only for .tkq) on a .npy input.
    Run(commands::run::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Run(args) => commands::run::run(args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
