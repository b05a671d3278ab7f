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
    /// Mixed precision: widen the activations (to 16 bits) and weights (to
    /// `--mixed-weight-bits`) that lose the most until the output SQNR on the calibration
    /// samples reaches this many dB (see docs/accuracy.md).
    #[arg(long, value_name = "DB")]
    pub mixed_sqnr: Option<f64>,
    /// Weight bit width of the layers mixed precision widens (`--weight-bits` keeps weights
    /// narrow).
    #[arg(long, value_name = "BITS", default_value_t = tk_quant::Mixed::default().weight_bits)]
    pub mixed_weight_bits: u8,
    /// Keep every activation (`Relu`, `Clip`) as its own node instead of fusing it into the
    /// Conv, Gemm, Rescale or Add before it (same values; one more node and trace record each).
    #[arg(long)]
    pub no_fuse: bool,
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
                weight_bits: self.mixed_weight_bits.max(self.weight_bits),
                ..tk_quant::Mixed::default()
            }),
            fuse_clamps: !self.no_fuse,
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
        if let Some(w) = &quantized.widened {
            eprintln!("{}", widened_line(w));
        }
        Ok((imported, quantized))
    }
}

/// One line saying what mixed precision widened, e.g. `mixed precision: 12/180 activations,
/// 40/72 weights widened; round-stage SQNR 3.2 -> 24.0 dB in 3 rounds`.
pub fn widened_line(w: &tk_quant::mixed::Widened) -> String {
    let db = |v: Option<&f64>| v.map_or("-".to_string(), |d| format!("{d:.1}"));
    format!(
        "mixed precision: {}/{} activations, {}/{} weights widened; round-stage SQNR {} -> {} dB in {} rounds",
        w.activations,
        w.activation_candidates,
        w.weights,
        w.weight_candidates,
        db(w.output_db.first()),
        db(w.output_db.last()),
        w.rounds
    )
}

/// The JSON form of [`tk_quant::mixed::Widened`].
pub fn widened_json(w: &tk_quant::mixed::Widened) -> serde_json::Value {
    json!({
        "activation_candidates": w.activation_candidates,
        "activations": w.activations,
        "weight_candidates": w.weight_candidates,
        "weights": w.weights,
        "rounds": w.rounds,
        "round_sqnr_db": w.output_db,
    })
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
    Ok(json!({
        "integer_ops": nodes,
        "parameters": parameters,
        "tkq_bytes": bytes,
        "bits": args.quant.bits,
        "mixed": quantized.widened.as_ref().map(widened_json),
    }))
}
