//! `tk quantize`: float ONNX model to an integer-only `.tkq`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use sha2::Digest;
use tk_quant::{Calibration, QuantOptions};

/// How activation thresholds are chosen.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Method {
    /// Largest magnitude seen (nothing clipped).
    Maxabs,
    /// The 99.99th percentile of magnitudes.
    Percentile,
    /// Minimal KL divergence (entropy calibration).
    Entropy,
}

/// Options shared by `tk quantize` and `tk eval`.
#[derive(clap::Args, Clone)]
pub struct QuantArgs {
    /// Calibration samples `.npy`, first axis = samples.
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Activation bit width (2..=16).
    #[arg(long, default_value_t = 8)]
    pub bits: u8,
    /// Weight bit width (2..=16).
    #[arg(long, default_value_t = 8)]
    pub weight_bits: u8,
    /// One weight scale per tensor instead of per output channel.
    #[arg(long)]
    pub per_tensor: bool,
    /// Threshold method.
    #[arg(long, value_enum, default_value = "maxabs")]
    pub calibration: Method,
    /// Resolve a symbolic input shape: `name=1,3,224,224` (repeatable).
    #[arg(long = "input-shape")]
    pub input_shapes: Vec<String>,
    /// Mixed precision: widen the activations that lose the most to 16 bits until the output
    /// SQNR on the calibration samples reaches this many dB (see docs/accuracy.md).
    #[arg(long, value_name = "DB")]
    pub mixed_sqnr: Option<f64>,
}

impl QuantArgs {
    fn options(&self) -> QuantOptions {
        QuantOptions {
            bits: self.bits,
            weight_bits: self.weight_bits,
            per_channel: !self.per_tensor,
            calibration: match self.calibration {
                Method::Maxabs => Calibration::MaxAbs,
                Method::Percentile => Calibration::Percentile(99.99),
                Method::Entropy => Calibration::Entropy,
            },
            mixed: self.mixed_sqnr.map(|target_db| tk_quant::Mixed {
                target_db,
                ..tk_quant::Mixed::default()
            }),
        }
    }

    /// Imports, calibrates and quantizes `model`.
    pub fn quantize(
        &self,
        model: &std::path::Path,
    ) -> Result<(tk_ir::onnx::Model, tk_quant::Quantized)> {
        let imported = super::import(model, &self.input_shapes)?;
        let calib = match &self.calib {
            Some(path) => vec![tk_ir::npy::read_npy(path)?],
            None => Vec::new(),
        };
        let mut quantized = tk_quant::quantize(&imported.graph, &calib, &self.options())
            .with_context(|| format!("cannot quantize {}", model.display()))?;
        let bytes =
            std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
        quantized.model.source_digest = hex(&sha2::Sha256::digest(&bytes));
        Ok((imported, quantized))
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Arguments of `tk quantize`.
#[derive(clap::Args)]
pub struct Args {
    /// The float ONNX model.
    model: PathBuf,
    /// Where to write the `.tkq`.
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    quant: QuantArgs,
}

/// Runs `tk quantize`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let (imported, quantized) = args.quant.quantize(&args.model)?;
    tk_quant::file::save(&quantized.model, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let parameters: usize = imported
        .graph
        .nodes()
        .iter()
        .filter_map(|n| match &n.op {
            tk_ir::ops::Op::Const(c) => Some(c.value.shape().iter().product::<usize>()),
            _ => None,
        })
        .sum();
    let nodes = quantized.model.graph.nodes.len();
    let bytes = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "quantized {} -> {}: {} integer ops, {} parameters, {} bytes",
        args.model.display(),
        args.output.display(),
        nodes,
        parameters,
        bytes
    );
    Ok(
        json!({ "integer_ops": nodes, "parameters": parameters, "tkq_bytes": bytes, "bits": args.quant.bits }),
    )
}
