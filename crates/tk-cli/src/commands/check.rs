//! `tk check`: replay every record of a trace with the integer standard's semantics.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;

/// Arguments of `tk check`.
#[derive(clap::Args)]
pub struct Args {
    /// The trace (`.tkt`).
    trace: PathBuf,
    /// The model the trace claims to execute (its digest must match the trace header).
    #[arg(long)]
    model: Option<PathBuf>,
}

/// Runs `tk check`: exit 0 with `ok: N records`, or an error naming the first bad record and field.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let Some(model_path) = &args.model else {
        bail!("tk check needs --model M.tkq: records refer to the model's weights and tables");
    };
    let bytes = std::fs::read(model_path)
        .with_context(|| format!("cannot read {}", model_path.display()))?;
    let model = tk_quant::file::from_bytes(&bytes)
        .with_context(|| format!("cannot load {}", model_path.display()))?;
    let digest = tk_trace::ModelDigest::of_bytes(&bytes);
    let file = std::fs::File::open(&args.trace)
        .with_context(|| format!("cannot open {}", args.trace.display()))?;
    let reader = tk_trace::TraceReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read {}", args.trace.display()))?;
    let report = tk_trace::check(reader, &model, &digest).with_context(|| {
        format!(
            "{} does not check against {}",
            args.trace.display(),
            model_path.display()
        )
    })?;
    println!("ok: {} records", report.records);
    Ok(json!({ "records": report.records }))
}
