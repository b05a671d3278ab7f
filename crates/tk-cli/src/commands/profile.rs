//! `tk profile`: latency of tract (float), our integer runtime, and our runtime with tracing,
//! on the same model and input, in the same process.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::samples::split_samples;

/// Arguments of `tk profile`.
#[derive(clap::Args)]
pub struct Args {
    /// The float ONNX model (run by tract).
    onnx: PathBuf,
    /// Its quantized `.tkq` (run by tk-runtime).
    tkq: PathBuf,
    /// One input sample `.npy`.
    #[arg(long)]
    input: PathBuf,
    /// Timed repetitions (after one warm-up run each).
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

fn median_ms(mut f: impl FnMut() -> Result<()>, repeat: usize) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(repeat);
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Runs `tk profile`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let bytes =
        std::fs::read(&args.tkq).with_context(|| format!("cannot read {}", args.tkq.display()))?;
    let model = tk_quant::file::from_bytes(&bytes)?;
    let digest = tk_trace::ModelDigest::of_bytes(&bytes);
    if model.graph.inputs.len() != 1 {
        bail!("tk profile feeds exactly one input");
    }
    let fact = tk_ir::Fact::f32(model.graph.nodes[model.graph.inputs[0]].shape.clone());
    let data = tk_ir::npy::read_npy(&args.input)?;
    let sample = split_samples(&fact, &data)?
        .into_iter()
        .next()
        .context("no sample in the input")?;
    // tract's AVX-512 kernels leave the upper vector registers dirty and threads spawned later
    // inherit that state, which makes legacy-SSE code (the integer runtime is built for the
    // x86-64 baseline) several times slower: tract runs on a thread of its own.
    let tract_ms = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<f64> {
                let tract =
                    tk_ir::onnx::tract::TractPlan::load(&args.onnx, std::slice::from_ref(&fact))?;
                median_ms(
                    || {
                        tract
                            .run(std::slice::from_ref(&sample))
                            .map(|_| ())
                            .map_err(Into::into)
                    },
                    args.repeat,
                )
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the tract thread panicked"))?
    })?;
    let runtime = tk_runtime::Runtime::new(&model)?;
    let q = tk_quant::quantize_inputs(&model, std::slice::from_ref(&sample))?;
    let int_ms = median_ms(
        || runtime.run(&q).map(|_| ()).map_err(Into::into),
        args.repeat,
    )?;
    let mut trace_bytes = 0;
    let traced_ms = median_ms(
        || {
            let mut writer = tk_trace::TraceWriter::new(Vec::new(), &model, &digest)?;
            runtime.run_observed(&q, &mut writer)?;
            trace_bytes = writer.finish()?.len();
            Ok(())
        },
        args.repeat,
    )?;
    let raw = super::run::raw_tensor_bytes(&model);
    println!(
        "tract float {tract_ms:.3} ms | tk integer {int_ms:.3} ms ({:.2}x) | tk integer + trace {traced_ms:.3} ms ({:.2}x) | trace {trace_bytes} B vs raw tensors {raw} B ({:.3}x)",
        int_ms / tract_ms,
        traced_ms / tract_ms,
        trace_bytes as f64 / raw as f64
    );
    Ok(json!({
        "tract_float_ms": tract_ms,
        "tk_int_ms": int_ms,
        "tk_int_trace_ms": traced_ms,
        "trace_bytes": trace_bytes,
        "raw_tensor_bytes": raw,
        "repeat": args.repeat,
        "threads": rayon_threads(),
    }))
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
