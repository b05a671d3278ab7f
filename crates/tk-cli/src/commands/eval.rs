//! `tk eval`: accuracy of every stage (float, sim, clip, round, quantized), like MRT's reports.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tk_quant::{Stage, metrics};

use super::quantize::QuantArgs;
use crate::samples::split_samples;

/// Arguments of `tk eval`.
#[derive(clap::Args)]
pub struct Args {
    /// The float ONNX model.
    model: PathBuf,
    /// Evaluation samples `.npy`, first axis = samples.
    #[arg(long)]
    data: PathBuf,
    /// Integer class labels `.npy` (one per sample); without it, stages are compared to float.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    quant: QuantArgs,
}

/// One row of the table.
#[derive(serde::Serialize)]
struct StageRow {
    stage: &'static str,
    top1: Option<f64>,
    top5: Option<f64>,
    agreement: f64,
    sqnr_db: f64,
}

fn progress(len: usize, stage: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(stage.to_string());
    bar
}

/// Runs `tk eval`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let (imported, quantized) = args.quant.quantize(&args.model)?;
    let graph = &imported.graph;
    if graph.inputs().len() != 1 {
        bail!(
            "tk eval feeds exactly one input; the model has {}",
            graph.inputs().len()
        );
    }
    let data = tk_ir::npy::read_npy(&args.data)?;
    let fact = graph.fact(graph.inputs()[0]).context("model input")?;
    let samples =
        split_samples(fact, &data).with_context(|| format!("data {}", args.data.display()))?;
    let labels = match &args.labels {
        Some(path) => {
            let t = tk_ir::npy::read_npy(path)?;
            let v = t.to_i64_vec().map_err(anyhow::Error::msg)?;
            if v.len() != samples.len() {
                bail!("{} labels for {} samples", v.len(), samples.len());
            }
            Some(
                v.into_iter()
                    .map(|l| usize::try_from(l).context("negative label"))
                    .collect::<Result<Vec<_>>>()?,
            )
        }
        None => None,
    };
    let mut outputs: Vec<(Stage, Vec<f32>)> = Vec::new();
    for stage in Stage::ALL {
        let bar = progress(samples.len(), stage.name());
        let mut flat = Vec::new();
        for sample in &samples {
            let out = match quantized.stages.graph(stage) {
                Some(g) => tk_ir::eval::eval(g, std::slice::from_ref(sample))?,
                None => {
                    let q =
                        tk_quant::quantize_inputs(&quantized.model, std::slice::from_ref(sample))?;
                    let runtime = tk_runtime::Runtime::new(&quantized.model)?;
                    tk_quant::dequantize_outputs(&quantized.model, &runtime.run(&q)?)?
                }
            };
            let first = out.into_iter().next().context("model has no output")?;
            flat.extend(first.as_f32().map_err(anyhow::Error::msg)?.iter().copied());
            bar.inc(1);
        }
        bar.finish_and_clear();
        outputs.push((stage, flat));
    }
    let classes = outputs[0].1.len() / samples.len().max(1);
    let float = outputs[0].1.clone();
    let rows: Vec<StageRow> = outputs
        .iter()
        .map(|(stage, out)| StageRow {
            stage: stage.name(),
            top1: labels.as_ref().map(|l| metrics::top1(out, classes, l)),
            top5: labels
                .as_ref()
                .filter(|_| classes >= 5)
                .map(|l| metrics::top5(out, classes, l)),
            agreement: metrics::top1_agreement(&float, out, classes),
            sqnr_db: metrics::sqnr_db(&float, out),
        })
        .collect();
    let doc = json!({ "model": args.model.display().to_string(), "samples": samples.len(), "stages": rows });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{} on {} samples ({} classes)",
            args.model.display(),
            samples.len(),
            classes
        );
        println!(
            "{:<10} {:>8} {:>8} {:>10} {:>10}",
            "stage", "top-1 %", "top-5 %", "agree %", "SQNR dB"
        );
        let pct = |v: Option<f64>| {
            v.map(|v| format!("{:.2}", 100.0 * v))
                .unwrap_or_else(|| "-".into())
        };
        for r in &rows {
            println!(
                "{:<10} {:>8} {:>8} {:>10.2} {:>10.1}",
                r.stage,
                pct(r.top1),
                pct(r.top5),
                100.0 * r.agreement,
                r.sqnr_db
            );
        }
    }
    Ok(doc)
}
