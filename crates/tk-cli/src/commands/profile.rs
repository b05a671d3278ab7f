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
    /// Also print where the integer runtime spends its time: per op kind, the median over the
    /// repetitions of the summed time of that kind's nodes.
    #[arg(long)]
    ops: bool,
    /// With `--ops`, also print every node in execution order: its id, name, op kind, output
    /// shape and median time.
    #[arg(long, requires = "ops")]
    nodes: bool,
}

/// Times every node of a run: the time between consecutive observer calls is the node's
/// execution (plus the observer's own, negligible, call). With a `writer`, the time each
/// event takes the trace writer is counted apart, under `trace <kind>`.
struct OpTimer<'m> {
    model: &'m tk_quant::QModel,
    writer: Option<tk_trace::TraceWriter<'m, Vec<u8>>>,
    last: Instant,
    /// Per op kind, the summed time of its nodes in each run (µs).
    runs: std::collections::BTreeMap<String, Vec<f64>>,
    current: std::collections::BTreeMap<String, f64>,
    /// Per node id, its time in each run (µs).
    per_node: Vec<Vec<f64>>,
}

impl<'m> OpTimer<'m> {
    fn new(model: &'m tk_quant::QModel) -> OpTimer<'m> {
        OpTimer {
            model,
            writer: None,
            last: Instant::now(),
            runs: Default::default(),
            current: Default::default(),
            per_node: vec![Vec::new(); model.graph.nodes.len()],
        }
    }

    fn start(&mut self) {
        self.current.clear();
        self.last = Instant::now();
    }

    fn end(&mut self) {
        for (kind, us) in std::mem::take(&mut self.current) {
            self.runs.entry(kind).or_default().push(us);
        }
    }

    /// `(kind, median µs)`, slowest first.
    fn medians(&self) -> Vec<(&str, f64)> {
        let mut out: Vec<_> = self
            .runs
            .iter()
            .map(|(kind, times)| {
                let mut t = times.clone();
                t.sort_by(f64::total_cmp);
                (kind.as_str(), t[t.len() / 2])
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out
    }

    /// `(node, median µs)` in id order, for the nodes that ran.
    fn node_medians(&self) -> Vec<(&tk_quant::QNode, f64)> {
        self.model
            .graph
            .nodes
            .iter()
            .zip(&self.per_node)
            .filter(|(_, times)| !times.is_empty())
            .map(|(node, times)| {
                let mut t = times.clone();
                t.sort_by(f64::total_cmp);
                (node, t[t.len() / 2])
            })
            .collect()
    }
}

/// The op's name, with convolutions split by kind (their kernels differ).
fn kind(op: &tk_quant::ops::QOp) -> &'static str {
    match op {
        tk_quant::ops::QOp::Conv(conv) => match conv.weight.shape.as_slice() {
            [_, 1, ..] if conv.group > 1 => "Conv depthwise",
            _ if conv.group > 1 => "Conv grouped",
            [_, _, 1, 1] => "Conv 1x1",
            _ => "Conv KxK",
        },
        _ => op.name(),
    }
}

impl tk_runtime::Observer for OpTimer<'_> {
    fn on_op(&mut self, event: &tk_runtime::OpEvent<'_>) -> Result<(), tk_runtime::ObserverError> {
        let now = Instant::now();
        let us = (now - self.last).as_secs_f64() * 1e6;
        let kind = kind(&self.model.graph.nodes[event.node.id].op);
        *self.current.entry(kind.to_string()).or_default() += us;
        if let Some(times) = self.per_node.get_mut(event.node.id) {
            times.push(us);
        }
        if let Some(writer) = &mut self.writer {
            writer.on_op(event)?;
            let us = now.elapsed().as_secs_f64() * 1e6;
            *self.current.entry(format!("trace {kind}")).or_default() += us;
        }
        self.last = Instant::now();
        Ok(())
    }
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
    // One sink for every run, as a stream would be: grown by the warm-up run, then only
    // overwritten, so that neither its growth nor faulting in fresh pages is timed.
    // The trace plan is per model, like the runtime: built once, outside the timing.
    let plan = tk_trace::TracePlan::new(&model, &digest)?;
    let mut sink = Vec::new();
    let traced_ms = median_ms(
        || {
            sink.clear();
            let mut writer = tk_trace::TraceWriter::with_plan(std::mem::take(&mut sink), &plan)?;
            runtime.run_observed(&q, &mut writer)?;
            sink = writer.finish()?;
            Ok(())
        },
        args.repeat,
    )?;
    let trace_bytes = sink.len();
    let mut by_op = Vec::new();
    let mut by_node = Vec::new();
    if args.ops {
        let mut timer = OpTimer::new(&model);
        for _ in 0..args.repeat.max(1) {
            timer.start();
            runtime.run_observed(&q, &mut timer)?;
            timer.end();
        }
        let mut traced = OpTimer::new(&model);
        for _ in 0..args.repeat.max(1) {
            sink.clear();
            traced.writer = Some(tk_trace::TraceWriter::with_plan(
                std::mem::take(&mut sink),
                &plan,
            )?);
            traced.start();
            runtime.run_observed(&q, &mut traced)?;
            let finish = Instant::now();
            if let Some(writer) = traced.writer.take() {
                sink = writer.finish()?;
            }
            traced.current.retain(|kind, _| kind.starts_with("trace "));
            traced
                .current
                .insert("trace finish".into(), finish.elapsed().as_secs_f64() * 1e6);
            traced.end();
        }
        println!("integer runtime per op kind (median over runs of the kind's total):");
        for (kind, us) in timer.medians().into_iter().chain(traced.medians()) {
            println!("  {kind:<22} {us:>10.1} µs");
            by_op.push(json!({"op": kind, "median_us": us}));
        }
        if args.nodes {
            println!("integer runtime per node (median over runs):");
            for (node, us) in timer.node_medians() {
                let shape = format!("{:?}", node.shape);
                println!(
                    "  {:>5} {:<16} {:<24} {shape:<20} {us:>10.1} µs",
                    node.id,
                    kind(&node.op),
                    node.name
                );
                by_node.push(json!({
                    "node": node.id,
                    "name": node.name,
                    "op": kind(&node.op),
                    "shape": node.shape,
                    "median_us": us,
                }));
            }
        }
    }
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
        "by_op": by_op,
        "by_node": by_node,
        "threads": rayon_threads(),
    }))
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
