//! `cargo xtask accuracy`: accuracy of every quantization stage (float, sim, clip, round,
//! quantized) on every model, with MRT's published numbers beside ours.
//!
//! For each model it runs the release `tk eval ... --json` as a child process (with
//! `--metrics`, so wall time and peak memory are recorded) and writes
//! `OUT/report.json` and `OUT/report.md` (default `OUT` = `target/accuracy`), plus the raw
//! per-model `NAME.json` / `NAME.metrics.json`. It measures what `scripts/accuracy_table.sh`
//! measures:
//!
//! - trained models (`models/*.onnx`): top-1 / top-5 on their labelled test sets (the full
//!   10 000-image MNIST / Fashion-MNIST test sets when `scripts/train_*.py` left them in
//!   `target/data/`, the committed subsets otherwise);
//! - random-weight models (`target/zoo/`, written by `scripts/export_torchvision.py` and
//!   `scripts/export_detectors.py`): top-1 agreement with float and output SQNR on
//!   `NAME.calib.npy` (also the calibration set); the detectors on the first
//!   `--detector-samples` calibration samples, first raw head output.
//!
//! Models whose files are missing are skipped with a hint.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// Arguments of `cargo xtask accuracy`.
#[derive(clap::Args)]
pub struct Args {
    /// Comma-separated model names (default: all; see `--list`).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Extra `tk quantize` flags, as one string (e.g. `--flags="--mixed-sqnr 25"`).
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    flags: String,
    /// Output directory.
    #[arg(long, default_value = "target/accuracy")]
    out: PathBuf,
    /// Calibration samples the detectors are scored on.
    #[arg(long, default_value_t = 4)]
    detector_samples: usize,
    /// The `tk` binary to run (default: build the release one and use it).
    #[arg(long)]
    tk: Option<PathBuf>,
    /// List the known models and exit.
    #[arg(long)]
    list: bool,
}

/// MRT's published float -> quantized top-1/top-5 (pretrained ImageNet / MNIST models).
fn mrt(name: &str) -> &'static str {
    match name {
        "resnet18" => "77.50/94.69 → 75.31/94.06",
        "alexnet" => "66.88/88.44 → 66.56/89.06",
        "densenet121" => "83.75/96.56 → 50.31/81.25",
        "squeezenet1_0" => "70.31/91.56 → 59.38/85.94",
        "vgg11" => "79.06/95.00 → 77.50/95.94",
        "shufflenet_v2_x0_5" => "73.12/90.00 → 0.94/4.38",
        "lenet5_mnist" => "99.00 → 98.96 (MNIST CNN)",
        "mobilenet_v2" | "yolov3_darknet53_416" | "ssd_resnet50_512" => "\"passing\"",
        _ => "",
    }
}

/// Every model, in table order: our trained models, the torchvision zoo, the detectors.
fn all_models() -> Vec<&'static str> {
    let trained = ["digits_mlp", "digits_cnn", "lenet5_mnist", "fashion_cnn"];
    let detectors = ["yolov3_darknet53_416", "ssd_resnet50_512"];
    trained
        .into_iter()
        .chain(crate::bench::TORCHVISION_ZOO)
        .chain(detectors)
        .collect()
}

const STAGES: [&str; 5] = ["float", "sim", "clip", "round", "quantized"];

/// The files one model is evaluated on.
struct Inputs {
    onnx: PathBuf,
    calib: PathBuf,
    data: PathBuf,
    labels: Option<PathBuf>,
    /// Take only the first `n` samples of `data` (the detectors).
    head: Option<usize>,
}

fn inputs(root: &Path, name: &str, detector_samples: usize) -> Inputs {
    let full_or = |full: &str, subset: &str| {
        let p = root.join(full);
        if p.is_file() { p } else { root.join(subset) }
    };
    let zoo = |suffix: &str| root.join(format!("target/zoo/{name}{suffix}"));
    match name {
        "digits_mlp" | "digits_cnn" => {
            let kind = if name == "digits_mlp" { "flat" } else { "img" };
            Inputs {
                onnx: root.join(format!("models/{name}.onnx")),
                calib: root.join(format!("models/digits/calib_x_{kind}.npy")),
                data: root.join(format!("models/digits/test_x_{kind}.npy")),
                labels: Some(root.join("models/digits/test_y.npy")),
                head: None,
            }
        }
        "lenet5_mnist" | "fashion_cnn" => {
            let d = if name == "fashion_cnn" {
                "fashion"
            } else {
                "mnist"
            };
            Inputs {
                onnx: root.join(format!("models/{name}.onnx")),
                calib: root.join(format!("models/{d}/calib_x_128.npy")),
                data: full_or(
                    &format!("target/data/{d}/test_x_10000.npy"),
                    &format!("models/{d}/test_x_200.npy"),
                ),
                labels: Some(full_or(
                    &format!("target/data/{d}/test_y_10000.npy"),
                    &format!("models/{d}/test_y_200.npy"),
                )),
                head: None,
            }
        }
        _ => Inputs {
            onnx: zoo(".onnx"),
            calib: zoo(".calib.npy"),
            data: zoo(".calib.npy"),
            labels: None,
            head: (name.starts_with("yolov3_") || name.starts_with("ssd_"))
                .then_some(detector_samples),
        },
    }
}

/// Where the files of a missing model come from.
fn hint(name: &str) -> &'static str {
    match name {
        "digits_mlp" | "digits_cnn" | "lenet5_mnist" | "fashion_cnn" => {
            "trained models and test sets: see scripts/README.md (scripts/train_*.py)"
        }
        "yolov3_darknet53_416" | "ssd_resnet50_512" => {
            "python3 scripts/export_detectors.py (Debian python3-torch, python3-torchvision)"
        }
        _ => "python3 scripts/export_torchvision.py (Debian python3-torch, python3-torchvision)",
    }
}

/// Runs `cargo xtask accuracy`.
pub fn run(args: Args) -> Result<()> {
    let all = all_models();
    if args.list {
        for name in &all {
            println!("{name}");
        }
        return Ok(());
    }
    let root = crate::workspace_root();
    let models: Vec<String> = if args.models.is_empty() {
        all.iter().map(|s| s.to_string()).collect()
    } else {
        for m in &args.models {
            if !all.contains(&m.as_str()) {
                bail!("unknown model {m:?} (see --list)");
            }
        }
        args.models.clone()
    };
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let tk = match &args.tk {
        Some(p) => p.clone(),
        None => {
            crate::sh("cargo", &["build", "--release", "--quiet", "-p", "tk-cli"])?;
            crate::cargo_target_dir().join("release/tk")
        }
    };
    let flags: Vec<String> = args.flags.split_whitespace().map(String::from).collect();

    let bar = ProgressBar::new(models.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(250));
    let mut rows = Vec::new();
    for name in &models {
        bar.set_message(name.clone());
        let row = eval_model(&root, &tk, &out, name, &flags, args.detector_samples).unwrap_or_else(
            |e| json!({ "model": name, "status": "failed", "error": format!("{e:#}") }),
        );
        let line = match row["status"].as_str() {
            Some("missing") => format!(
                "skipped {name}: {} (make it with {})",
                row["error"].as_str().unwrap_or(""),
                hint(name)
            ),
            Some("failed") => format!("{name} failed: {}", row["error"].as_str().unwrap_or("")),
            _ => format!("{name}: {}", summary(&row)),
        };
        // A hidden bar (no terminal) drops `println`.
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_with_message("done");

    let report = json!({
        "date": today(),
        "tk": tk.display().to_string(),
        "flags": args.flags,
        "detector_samples": args.detector_samples,
        "models": rows,
        "worst": worst(&rows),
    });
    let json_path = out.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md = markdown(&report);
    let md_path = out.join("report.md");
    std::fs::write(&md_path, &md).with_context(|| format!("cannot write {}", md_path.display()))?;
    println!("{md}");
    println!("report: {} and {}", md_path.display(), json_path.display());
    Ok(())
}

/// Evaluates one model; a row with `status` `ok` or `missing`.
fn eval_model(
    root: &Path,
    tk: &Path,
    out: &Path,
    name: &str,
    flags: &[String],
    detector_samples: usize,
) -> Result<Value> {
    let files = inputs(root, name, detector_samples);
    let mut need = vec![&files.onnx, &files.calib, &files.data];
    need.extend(files.labels.as_ref());
    if let Some(missing) = need.iter().find(|p| !p.is_file()) {
        return Ok(json!({
            "model": name,
            "status": "missing",
            "error": format!("missing {}", missing.display()),
        }));
    }
    let data = match files.head {
        Some(n) => {
            let stem = files
                .data
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(name);
            let dst = out.join(format!("{stem}.first{n}.npy"));
            if !dst.is_file() {
                npy_head(&files.data, n, &dst)?;
            }
            dst
        }
        None => files.data.clone(),
    };
    let json_path = out.join(format!("{name}.json"));
    let metrics_path = out.join(format!("{name}.metrics.json"));
    let mut cmd = Command::new(tk);
    cmd.current_dir(root)
        .arg("--metrics")
        .arg(&metrics_path)
        .arg("eval")
        .arg(&files.onnx)
        .arg("--calib")
        .arg(&files.calib)
        .arg("--data")
        .arg(&data);
    if let Some(labels) = &files.labels {
        cmd.arg("--labels").arg(labels);
    }
    cmd.args(flags).arg("--json");
    let output = cmd
        .output()
        .with_context(|| format!("cannot start {}", tk.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        bail!(
            "tk eval exited with {}: {}",
            output.status,
            last.unwrap_or("")
        );
    }
    std::fs::write(&json_path, &output.stdout)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let doc: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("tk eval printed no JSON for {name}"))?;
    let metrics: Value = std::fs::read(&metrics_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let mixed = stderr
        .lines()
        .find(|l| l.starts_with("mixed precision:"))
        .map(|l| l.trim_start_matches("mixed precision:").trim().to_string());
    Ok(json!({
        "model": name,
        "status": "ok",
        "labelled": files.labels.is_some(),
        "samples": doc["samples"],
        "stages": doc["stages"],
        "mrt": mrt(name),
        "mixed": mixed,
        "wall_s": metrics["wall_s"],
        "peak_rss_bytes": metrics["peak_rss_bytes"],
    }))
}

/// The row of `stage` in a model's `stages`.
fn stage<'a>(row: &'a Value, name: &str) -> Option<&'a Value> {
    row["stages"]
        .as_array()?
        .iter()
        .find(|s| s["stage"].as_str() == Some(name))
}

/// One table cell: `top-1 / top-5` in % (labelled) or `agreement % / SQNR dB`.
fn cell(row: &Value, name: &str) -> String {
    let Some(s) = stage(row, name) else {
        return String::new();
    };
    if row["labelled"].as_bool() == Some(true) {
        let top1 = s["top1"].as_f64().unwrap_or(f64::NAN) * 100.0;
        match s["top5"].as_f64() {
            Some(t5) => format!("{top1:.2} / {:.2}", t5 * 100.0),
            None => format!("{top1:.2}"),
        }
    } else {
        let agree = s["agreement"].as_f64().unwrap_or(f64::NAN) * 100.0;
        let db = match s["sqnr_db"].as_f64() {
            Some(d) if d < 1e6 => format!("{d:.1}"),
            _ => "∞".to_string(),
        };
        format!("{agree:.2} / {db}")
    }
}

/// Short progress line for a finished model.
fn summary(row: &Value) -> String {
    let time = row["wall_s"]
        .as_f64()
        .map_or(String::new(), |t| format!(" ({t:.0} s)"));
    format!("quantized {}{time}", cell(row, "quantized"))
}

/// The worst case: the random-weight model with the lowest quantized-stage SQNR and the
/// labelled model with the largest top-1 drop from float.
fn worst(rows: &[Value]) -> Value {
    let ok = || rows.iter().filter(|r| r["status"] == "ok");
    let sqnr = ok()
        .filter(|r| r["labelled"] == false)
        .filter_map(|r| {
            let q = stage(r, "quantized")?;
            Some((r, q["sqnr_db"].as_f64()?, q["agreement"].as_f64()?))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let drop = ok()
        .filter(|r| r["labelled"] == true)
        .filter_map(|r| {
            let f = stage(r, "float")?["top1"].as_f64()?;
            let q = stage(r, "quantized")?["top1"].as_f64()?;
            Some((r, (f - q) * 100.0))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    json!({
        "sqnr": sqnr.map(|(r, db, agree)| json!({
            "model": r["model"], "sqnr_db": db, "agreement": agree,
        })),
        "top1_drop": drop.map(|(r, points)| json!({ "model": r["model"], "points": points })),
    })
}

/// The markdown report.
fn markdown(report: &Value) -> String {
    let mut md = String::new();
    let flags = report["flags"].as_str().unwrap_or("");
    md += &format!(
        "Accuracy per stage, {} (`cargo xtask accuracy{}`; detectors on {} samples)\n\n",
        report["date"].as_str().unwrap_or(""),
        if flags.is_empty() {
            String::new()
        } else {
            format!(" --flags=\"{flags}\"")
        },
        report["detector_samples"]
    );
    md += "| model | samples | metric | float | sim | clip | round | quantized | MRT float → int | time |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|\n";
    let rows = report["models"].as_array().cloned().unwrap_or_default();
    for row in &rows {
        let name = row["model"].as_str().unwrap_or("");
        match row["status"].as_str() {
            Some("ok") => {
                let metric = if row["labelled"] == true {
                    "top-1 / top-5 %"
                } else {
                    "agree % / SQNR dB"
                };
                let cells: Vec<String> = STAGES.iter().map(|s| cell(row, s)).collect();
                let time = row["wall_s"]
                    .as_f64()
                    .map_or(String::new(), |t| format!("{t:.0} s"));
                md += &format!(
                    "| {name} | {} | {metric} | {} | {} | {time} |\n",
                    row["samples"],
                    cells.join(" | "),
                    row["mrt"].as_str().unwrap_or("")
                );
            }
            _ => {
                md += &format!(
                    "| {name} | {} | | | | | | | | |\n",
                    row["error"].as_str().unwrap_or("failed")
                );
            }
        }
    }
    let mixed: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            Some(format!(
                "{}: {}",
                r["model"].as_str()?,
                r["mixed"].as_str()?
            ))
        })
        .collect();
    if !mixed.is_empty() {
        md += "\nMixed precision (activations and weights widened / candidates):\n\n";
        for line in mixed {
            md += &format!("- {line}\n");
        }
    }
    let w = &report["worst"];
    md += "\n";
    match w["sqnr"].as_object() {
        Some(s) => {
            md += &format!(
                "**Worst case:** {}, quantized output SQNR {:.1} dB, top-1 agreement {:.0} % with float",
                s["model"].as_str().unwrap_or(""),
                s["sqnr_db"].as_f64().unwrap_or(f64::NAN),
                100.0 * s["agreement"].as_f64().unwrap_or(f64::NAN)
            );
        }
        None => md += "**Worst case:** no random-weight model measured",
    }
    if let Some(d) = w["top1_drop"].as_object() {
        md += &format!(
            "; largest top-1 drop on labelled data: {}, {:.2} points",
            d["model"].as_str().unwrap_or(""),
            d["points"].as_f64().unwrap_or(f64::NAN)
        );
    }
    md += ".\n";
    md
}

/// Writes the first `n` samples (axis 0) of the `.npy` file `src` to `dst`: same header with
/// the first dimension replaced, data truncated. Only little-endian/byte, C-order arrays.
fn npy_head(src: &Path, n: usize, dst: &Path) -> Result<()> {
    let bytes = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    let (header, data) = npy_split(&bytes).with_context(|| format!("{}", src.display()))?;
    let shape_at = header
        .find("'shape':")
        .with_context(|| format!("{}: no shape in the npy header", src.display()))?;
    let open = header[shape_at..]
        .find('(')
        .map(|i| shape_at + i + 1)
        .context("npy shape")?;
    let close = header[open..]
        .find(')')
        .map(|i| open + i)
        .context("npy shape")?;
    let dims: Vec<usize> = header[open..close]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<usize>().context("npy dimension"))
        .collect::<Result<_>>()?;
    let Some((&first, rest)) = dims.split_first() else {
        bail!("{}: a scalar has no samples", src.display());
    };
    if header.contains("'fortran_order': True") {
        bail!("{}: Fortran-order arrays are not supported", src.display());
    }
    let per_sample = data.len() / first.max(1);
    let keep = n.min(first);
    let mut shape = format!("({keep},");
    for d in rest {
        shape += &format!(" {d},");
    }
    if !rest.is_empty() {
        shape.pop();
    }
    shape.push(')');
    let mut new_header = format!("{}{}{}", &header[..open - 1], shape, &header[close + 1..])
        .trim_end()
        .to_string();
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    let unpadded = 10 + new_header.len() + 1;
    new_header += &" ".repeat(unpadded.next_multiple_of(64) - unpadded);
    new_header.push('\n');
    let len = u16::try_from(new_header.len()).context("npy header too long")?;
    let mut out = Vec::with_capacity(10 + new_header.len() + keep * per_sample);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(new_header.as_bytes());
    out.extend_from_slice(&data[..keep * per_sample]);
    std::fs::write(dst, out).with_context(|| format!("cannot write {}", dst.display()))
}

/// Header text and data bytes of an `.npy` file (versions 1 to 3).
fn npy_split(bytes: &[u8]) -> Result<(&str, &[u8])> {
    if bytes.get(..6) != Some(b"\x93NUMPY") {
        bail!("not an npy file");
    }
    let (len, start) = match bytes.get(6) {
        Some(1) => {
            let b = bytes.get(8..10).context("truncated npy header")?;
            (usize::from(u16::from_le_bytes([b[0], b[1]])), 10usize)
        }
        Some(2 | 3) => {
            let b = bytes.get(8..12).context("truncated npy header")?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        _ => bail!("unknown npy version"),
    };
    let end = start.checked_add(len).context("npy header length")?;
    let header = std::str::from_utf8(bytes.get(start..end).context("truncated npy header")?)
        .context("npy header is not UTF-8")?;
    Ok((header, &bytes[end..]))
}

/// Today's date (UTC), `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Howard Hinnant's days-to-civil algorithm.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
