//! `tk run`: float evaluation of an ONNX model on `.npy` inputs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::samples::{split_samples, stack_f32};

/// Arguments of `tk run`.
#[derive(clap::Args)]
pub struct Args {
    /// The model (`.onnx` for float evaluation).
    model: PathBuf,
    /// Input `.npy`: the model input shape, or `[N, ..]` for N samples.
    #[arg(long)]
    input: PathBuf,
    /// Output `.npy`: outputs of all samples stacked on the first axis.
    #[arg(long)]
    output: PathBuf,
    /// Resolve a symbolic input shape: `name=1,3,224,224` (repeatable).
    #[arg(long = "input-shape")]
    input_shapes: Vec<String>,
}

/// Runs `tk run`.
pub fn run(args: Args) -> Result<()> {
    let ext = args.model.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != "onnx" {
        bail!("{}: expected an .onnx model", args.model.display());
    }
    let model = super::import(&args.model, &args.input_shapes)?;
    let graph = &model.graph;
    if graph.inputs().len() != 1 {
        bail!("model has {} inputs; tk run feeds exactly one", graph.inputs().len());
    }
    let data = tk_ir::npy::read_npy(&args.input)?;
    let fact = &graph.nodes()[graph.inputs()[0].node].fact;
    let samples = split_samples(fact, &data)
        .with_context(|| format!("input {}", args.input.display()))?;
    let mut outputs = Vec::with_capacity(samples.len());
    for sample in samples {
        let out = tk_ir::eval::eval(graph, &[sample])?;
        let first = out.into_iter().next().context("model has no output")?;
        outputs.push(first.as_f32().map_err(anyhow::Error::msg)?.clone());
    }
    let stacked = stack_f32(&outputs)?;
    tk_ir::npy::write_npy(&args.output, &tk_ir::Tensor::F32(stacked))?;
    Ok(())
}
