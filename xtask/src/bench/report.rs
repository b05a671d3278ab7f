//! The bench report: `report.json` (schema `tachikoma.bench/1`) and `report.md`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::machine::Machine;

/// Outcome of one step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    /// Step name (`quantize`, `eval`, `profile`, `run`, `check`, `setup`, `prove`, `verify`).
    pub step: String,
    /// `ok`, `failed` or `skipped`.
    pub status: String,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Wall time of the work, in seconds, measured inside `tk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
    /// Peak resident set of the `tk` process (`VmHWM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Step-specific figures written by `tk` (see `docs/bench.md`).
    pub details: Value,
}

impl StepResult {
    /// A successful step from `tk --metrics` output.
    pub fn ok(step: &str, metrics: &Value) -> StepResult {
        StepResult {
            step: step.into(),
            status: "ok".into(),
            reason: None,
            wall_s: metrics["wall_s"].as_f64(),
            peak_rss_bytes: metrics["peak_rss_bytes"].as_u64(),
            details: metrics["details"].clone(),
        }
    }

    /// A failed step.
    pub fn failed(step: &str, reason: String) -> StepResult {
        StepResult {
            step: step.into(),
            status: "failed".into(),
            reason: Some(reason),
            wall_s: None,
            peak_rss_bytes: None,
            details: Value::Null,
        }
    }

    /// A step that did not run.
    pub fn skipped(step: &str, reason: &str) -> StepResult {
        StepResult {
            status: "skipped".into(),
            ..StepResult::failed(step, reason.into())
        }
    }

    /// Whether it succeeded.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Everything measured on one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// Model name.
    pub name: String,
    /// ONNX path.
    pub onnx: String,
    /// Our steps, in run order.
    pub steps: Vec<StepResult>,
    /// Proving key size in bytes.
    pub pk_bytes: Option<u64>,
    /// Verifying key size in bytes.
    pub vk_bytes: Option<u64>,
    /// Proof file size in bytes.
    pub proof_bytes: Option<u64>,
    /// EZKL's `result.json` (schema `tachikoma.ezkl-bench/1`), or why it did not run.
    pub ezkl: Option<Value>,
}

const ALL_STEPS: [&str; 8] = [
    "quantize", "eval", "profile", "run", "check", "setup", "prove", "verify",
];
const PROVING: [&str; 3] = ["setup", "prove", "verify"];

impl ModelReport {
    /// An empty report.
    pub fn new(name: &str, onnx: &Path) -> ModelReport {
        ModelReport {
            name: name.into(),
            onnx: onnx.display().to_string(),
            steps: Vec::new(),
            pk_bytes: None,
            vk_bytes: None,
            proof_bytes: None,
            ezkl: None,
        }
    }

    /// Marks every step skipped.
    pub fn skip_all(&mut self, reason: &str) {
        self.steps = ALL_STEPS
            .iter()
            .map(|s| StepResult::skipped(s, reason))
            .collect();
    }

    /// Marks every step not yet run as skipped.
    pub fn skip_rest(&mut self, reason: &str) {
        for s in ALL_STEPS {
            if self.step(s).is_none() {
                self.steps.push(StepResult::skipped(s, reason));
            }
        }
    }

    /// Marks setup, prove and verify skipped.
    pub fn skip_proving(&mut self, reason: &str) {
        for s in PROVING {
            self.steps.push(StepResult::skipped(s, reason));
        }
    }

    /// Records key and proof sizes from the files.
    pub fn record_sizes(&mut self, keys: &Path, proof: &Path) {
        let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
        self.pk_bytes = size(&keys.join("pk.bin"));
        self.vk_bytes = size(&keys.join("vk.bin"));
        self.proof_bytes = size(proof);
    }

    /// One step by name.
    pub fn step(&self, name: &str) -> Option<&StepResult> {
        self.steps.iter().find(|s| s.step == name)
    }

    fn detail(&self, step: &str, key: &str) -> Option<&Value> {
        self.step(step)
            .filter(|s| s.is_ok())
            .map(|s| &s.details[key])
            .filter(|v| !v.is_null())
    }

    fn wall(&self, step: &str) -> Option<f64> {
        self.step(step).filter(|s| s.is_ok()).and_then(|s| s.wall_s)
    }

    fn rss_mib(&self, step: &str) -> Option<f64> {
        self.step(step)
            .and_then(|s| s.peak_rss_bytes)
            .map(|b| b as f64 / 1048576.0)
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `tachikoma.bench/1`.
    pub schema: &'static str,
    /// Where it ran.
    pub machine: Machine,
    /// `--quick` mode.
    pub quick: bool,
    /// Cargo profile of the measured `tk` binary: `release`, or `dev` (`--dev-build`, whose
    /// timings are not representative).
    pub build_profile: &'static str,
    /// Latency repetitions.
    pub repeat: usize,
    /// Per-model results.
    pub models: Vec<ModelReport>,
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "–".into(),
    }
}

fn bytes(v: Option<u64>) -> String {
    match v {
        None => "–".into(),
        Some(b) if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / 1048576.0),
        Some(b) if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        Some(b) => format!("{b} B"),
    }
}

impl Report {
    /// Assembles a report.
    pub fn new(
        machine: Machine,
        quick: bool,
        build_profile: &'static str,
        repeat: usize,
        models: Vec<ModelReport>,
    ) -> Report {
        Report {
            schema: "tachikoma.bench/1",
            machine,
            quick,
            build_profile,
            repeat,
            models,
        }
    }

    /// Writes `report.json` and `report.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(dir.join("report.json"), json).context("cannot write report.json")?;
        std::fs::write(dir.join("report.md"), self.markdown()).context("cannot write report.md")?;
        Ok(())
    }

    /// Fails when a step that should have produced a column did not (not when it was slow).
    pub fn check_complete(&self) -> Result<()> {
        let mut failures = Vec::new();
        for m in &self.models {
            for s in &m.steps {
                if s.status == "failed" {
                    failures.push(format!(
                        "{} {}: {}",
                        m.name,
                        s.step,
                        s.reason.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(
                "{} step(s) failed:\n{}",
                failures.len(),
                failures.join("\n")
            )
        }
    }

    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# tachikoma bench\n");
        if self.build_profile != "release" {
            let _ = writeln!(
                md,
                "**`tk` built with the `{}` profile: timings are not representative.**\n",
                self.build_profile
            );
        }
        let _ = writeln!(
            md,
            "Machine: {} ({} cores, {:.1} GiB), {}, {}; commit {}; load at start {}. Latencies are medians of {} runs.\n",
            m.cpu,
            m.cores,
            m.memory_bytes as f64 / 1073741824.0,
            m.os,
            m.rustc,
            m.commit,
            m.load_average,
            self.repeat
        );
        self.accuracy_table(&mut md);
        self.runtime_table(&mut md);
        self.proving_table(&mut md);
        self.skipped_list(&mut md);
        md
    }

    fn accuracy_table(&self, md: &mut String) {
        let _ = writeln!(md, "## Accuracy per stage\n");
        let _ = writeln!(
            md,
            "top-1 % on labelled data (top-1 agreement with float and output SQNR otherwise).\n"
        );
        let _ = writeln!(
            md,
            "| model | samples | float | sim | clip | round | quantized | SQNR int (dB) | EZKL argmax = float |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        for r in &self.models {
            let stages = r
                .detail("eval", "stages")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            let cell = |name: &str| -> String {
                let Some(s) = stages.iter().find(|s| s["stage"] == name) else {
                    return "–".into();
                };
                match (s["top1"].as_f64(), s["agreement"].as_f64()) {
                    (Some(t), _) => format!("{:.2}", 100.0 * t),
                    (None, Some(a)) => format!("agr {:.1}", 100.0 * a),
                    _ => "–".into(),
                }
            };
            let sqnr = stages
                .iter()
                .find(|s| s["stage"] == "quantized")
                .and_then(|s| s["sqnr_db"].as_f64());
            let ezkl = r
                .ezkl
                .as_ref()
                .and_then(|e| e["output"]["vs_expected"]["argmax_match"].as_bool())
                .map(|b| if b { "yes" } else { "no" }.to_string())
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                r.detail("eval", "samples")
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "–".into()),
                cell("float"),
                cell("sim"),
                cell("clip"),
                cell("round"),
                cell("quantized"),
                fmt_opt(sqnr, 1),
                ezkl
            );
        }
        md.push('\n');
    }

    fn runtime_table(&self, md: &mut String) {
        let _ = writeln!(md, "## Runtime and trace\n");
        let _ = writeln!(
            md,
            "| model | tract float (ms) | tk integer (ms) | ratio | tk + trace (ms) | ratio | trace | raw tensors | ratio | tk check (s) |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.models {
            let f = |k: &str| r.detail("profile", k).and_then(|v| v.as_f64());
            let tract = f("tract_float_ms");
            let int = f("tk_int_ms");
            let traced = f("tk_int_trace_ms");
            let trace = r.detail("run", "trace_bytes").and_then(|v| v.as_u64());
            let raw = r.detail("run", "raw_tensor_bytes").and_then(|v| v.as_u64());
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                fmt_opt(tract, 3),
                fmt_opt(int, 3),
                ratio(int, tract),
                fmt_opt(traced, 3),
                ratio(traced, tract),
                bytes(trace),
                bytes(raw),
                ratio(trace.map(|v| v as f64), raw.map(|v| v as f64)),
                fmt_opt(r.wall("check"), 3)
            );
        }
        md.push('\n');
    }

    fn proving_table(&self, md: &mut String) {
        let _ = writeln!(md, "## Proving: tachikoma vs EZKL\n");
        let _ = writeln!(
            md,
            "| model | system | k | rows | setup (s) | prove (s) | verify (s) | peak prove (MiB) | pk | vk | proof |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
        let mut ratios = Vec::new();
        for r in &self.models {
            let k = r.detail("setup", "k").and_then(|v| v.as_u64());
            let rows = r.detail("setup", "rows").and_then(|v| v.as_u64());
            let _ = writeln!(
                md,
                "| {} | tachikoma | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                k.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
                rows.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
                fmt_opt(r.wall("setup"), 2),
                fmt_opt(r.wall("prove"), 2),
                fmt_opt(r.wall("verify"), 3),
                fmt_opt(r.rss_mib("prove"), 0),
                bytes(r.pk_bytes),
                bytes(r.vk_bytes),
                bytes(r.proof_bytes)
            );
            let Some(e) = r.ezkl.as_ref().filter(|e| e["status"] == "ok") else {
                if let Some(e) = &r.ezkl {
                    let why = e["error"]
                        .as_str()
                        .or(e["reason"].as_str())
                        .unwrap_or("failed");
                    let _ = writeln!(
                        md,
                        "| {} | EZKL | {} | | | | | | | | |",
                        r.name,
                        why.replace('|', "/")
                    );
                }
                continue;
            };
            let ef = |k: &str| e[k].as_f64();
            let _ = writeln!(
                md,
                "| {} | EZKL {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                e["ezkl_version"].as_str().unwrap_or(""),
                e["logrows"],
                e["num_rows"],
                fmt_opt(ef("setup_s"), 2),
                fmt_opt(ef("prove_s"), 2),
                fmt_opt(ef("verify_s"), 3),
                fmt_opt(e["peak_rss_mib"]["prove"].as_f64(), 0),
                bytes(e["sizes"]["pk_bytes"].as_u64()),
                bytes(e["sizes"]["vk_bytes"].as_u64()),
                bytes(e["sizes"]["proof_bytes"].as_u64())
            );
            ratios.push(format!(
                "| {} | {} | {} | {} | {} | {} |",
                r.name,
                ratio(r.wall("setup"), ef("setup_s")),
                ratio(r.wall("prove"), ef("prove_s")),
                ratio(r.rss_mib("prove"), e["peak_rss_mib"]["prove"].as_f64()),
                ratio(r.wall("verify"), ef("verify_s")),
                ratio(
                    r.proof_bytes.map(|v| v as f64),
                    e["sizes"]["proof_bytes"].as_f64()
                )
            ));
        }
        if !ratios.is_empty() {
            let _ = writeln!(
                md,
                "\nRatios tachikoma / EZKL (below 1 is better for us):\n"
            );
            let _ = writeln!(
                md,
                "| model | setup | prove | peak prove memory | verify | proof size |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|---|");
            for line in ratios {
                let _ = writeln!(md, "{line}");
            }
        }
        md.push('\n');
    }

    fn skipped_list(&self, md: &mut String) {
        let mut lines = Vec::new();
        for r in &self.models {
            for s in r.steps.iter().filter(|s| !s.is_ok()) {
                lines.push(format!(
                    "- {} {}: {} ({})",
                    r.name,
                    s.step,
                    s.status,
                    s.reason.as_deref().unwrap_or("")
                ));
            }
        }
        if !lines.is_empty() {
            let _ = writeln!(md, "## Skipped and failed steps\n");
            for l in lines {
                let _ = writeln!(md, "{l}");
            }
        }
    }
}
