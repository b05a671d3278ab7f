//! `tk run`: float evaluation of an `.onnx` model, or integer-only execution of a `.tkq`
//! model (optionally recording a trace), on `.npy` inputs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::samples::{split_samples, stack_f32};

/// Arguments of `tk run`.
#[derive(clap::Args)]
pub struct Args {
    /// The model: `.onnx` (float evaluation) or `.tkq` (integer-only execution).
    model: PathBuf,
    /// Input `.npy`: the model input shape, or `[N, ..]` for N samples.
    #[arg(long)]
    input: PathBuf,
    /// Output `.npy`: outputs of all samples stacked on the first axis.
    #[arg(long)]
    output: PathBuf,
    /// Record a trace (`.tkq` only). With N samples, one trace per sample: `T.0.tkt`, `T.1.tkt`, ...
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Write the raw integer outputs (`.tkq` only) instead of dequantized floats.
    #[arg(long)]
    raw: bool,
    /// Resolve a symbolic input shape: `name=1,3,224,224` (repeatable, `.onnx` only).
    #[arg(long = "input-shape")]
    input_shapes: Vec<String>,
}

/// Runs `tk run`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    match args.model.extension().and_then(|e| e.to_str()) {
        Some("onnx") => run_float(&args),
        Some("tkq") => run_integer(&args),
        _ => bail!("{}: expected an .onnx or .tkq model", args.model.display()),
    }
}

fn run_float(args: &Args) -> Result<serde_json::Value> {
    if args.trace.is_some() || args.raw {
        bail!("--trace and --raw need an integer .tkq model (see tk quantize)");
    }
    let model = super::import(&args.model, &args.input_shapes)?;
    let graph = &model.graph;
    if graph.inputs().len() != 1 {
        bail!(
            "model has {} inputs; tk run feeds exactly one",
            graph.inputs().len()
        );
    }
    let data = tk_ir::npy::read_npy(&args.input)?;
    let fact = graph.fact(graph.inputs()[0]).context("model input")?;
    let samples =
        split_samples(fact, &data).with_context(|| format!("input {}", args.input.display()))?;
    let mut outputs = Vec::with_capacity(samples.len());
    for sample in samples {
        let out = tk_ir::eval::eval(graph, &[sample])?;
        let first = out.into_iter().next().context("model has no output")?;
        outputs.push(first.as_f32().map_err(anyhow::Error::msg)?.clone());
    }
    tk_ir::npy::write_npy(&args.output, &tk_ir::Tensor::F32(stack_f32(&outputs)?))?;
    Ok(json!({ "samples": outputs.len() }))
}

/// Path of the trace of sample `i` of `n`.
fn trace_path(base: &Path, i: usize, n: usize) -> PathBuf {
    if n == 1 {
        return base.to_path_buf();
    }
    let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("trace");
    base.with_file_name(format!("{stem}.{i}.tkt"))
}

/// Bytes of every tensor a trace must hold (model input and every computed output), each in
/// the smallest dtype of its bit width: the baseline for trace size.
pub fn raw_tensor_bytes(model: &tk_quant::QModel) -> u64 {
    model
        .graph
        .nodes
        .iter()
        .filter(|n| !matches!(n.op, tk_quant::ops::QOp::Const(_)))
        .map(|n| {
            let width = match n.bits {
                0..=8 => 1,
                9..=16 => 2,
                _ => 4,
            };
            n.shape.iter().product::<usize>() as u64 * width
        })
        .sum()
}

fn run_integer(args: &Args) -> Result<serde_json::Value> {
    if !args.input_shapes.is_empty() {
        bail!("--input-shape applies to .onnx models; a .tkq has fixed shapes");
    }
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?;
    let model = tk_quant::file::from_bytes(&bytes)
        .with_context(|| format!("cannot load {}", args.model.display()))?;
    let digest = tk_trace::ModelDigest::of_bytes(&bytes);
    let runtime = tk_runtime::Runtime::new(&model)?;
    if model.graph.inputs.len() != 1 {
        bail!(
            "model has {} inputs; tk run feeds exactly one",
            model.graph.inputs.len()
        );
    }
    let input_node = &model.graph.nodes[model.graph.inputs[0]];
    let fact = tk_ir::Fact::f32(input_node.shape.clone());
    let data = tk_ir::npy::read_npy(&args.input)?;
    let samples =
        split_samples(&fact, &data).with_context(|| format!("input {}", args.input.display()))?;
    let mut float_outputs = Vec::new();
    let mut raw_outputs: Vec<ndarray::ArrayD<i32>> = Vec::new();
    // One trace plan for every sample's trace.
    let traced = match &args.trace {
        Some(base) => Some((base, tk_trace::TracePlan::new(&model, &digest)?)),
        None => None,
    };
    let mut trace_bytes = 0u64;
    let mut records = 0u64;
    for (i, sample) in samples.iter().enumerate() {
        let q = tk_quant::quantize_inputs(&model, std::slice::from_ref(sample))?;
        let out = match &traced {
            None => runtime.run(&q)?,
            Some((base, plan)) => {
                let path = trace_path(base, i, samples.len());
                let file = std::fs::File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let mut writer =
                    tk_trace::TraceWriter::with_plan(std::io::BufWriter::new(file), plan)?;
                let out = runtime.run_observed(&q, &mut writer)?;
                records += writer.record_count();
                let mut file = writer.finish()?;
                std::io::Write::flush(&mut file)?;
                trace_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                out
            }
        };
        let first = out.first().context("model has no output")?;
        raw_outputs.push(ndarray::ArrayD::from_shape_vec(
            first.shape.clone(),
            first.data.clone(),
        )?);
        let deq = tk_quant::dequantize_outputs(&model, &out)?;
        let first = deq.into_iter().next().context("model has no output")?;
        float_outputs.push(first.as_f32().map_err(anyhow::Error::msg)?.clone());
    }
    if args.raw {
        let views: Vec<_> = raw_outputs.iter().map(|a| a.view()).collect();
        let stacked = ndarray::concatenate(ndarray::Axis(0), &views)?;
        tk_ir::npy::write_npy_i32(&args.output, &stacked)?;
    } else {
        tk_ir::npy::write_npy(
            &args.output,
            &tk_ir::Tensor::F32(stack_f32(&float_outputs)?),
        )?;
    }
    if let (Some(base), Some(first)) = (&args.trace, float_outputs.first()) {
        let prediction = first
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        println!(
            "trace {}: {} records, {} bytes; prediction of sample 0: class {}",
            base.display(),
            records,
            trace_bytes,
            prediction.map(|p| p.to_string()).unwrap_or_default()
        );
    }
    Ok(json!({
        "samples": samples.len(),
        "records": records,
        "trace_bytes": trace_bytes,
        "raw_tensor_bytes": raw_tensor_bytes(&model) * samples.len() as u64,
    }))
}
