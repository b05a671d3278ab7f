//! Our pipeline, one child process per step.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde_json::Value;

use super::models::BenchModel;
use super::report::{ModelReport, StepResult};

/// Knobs shared by every model.
pub struct StepOptions {
    /// Repetitions for latency medians.
    pub repeat: usize,
    /// Whether setup/prove/verify run.
    pub prove: bool,
}

/// Longest any one step may take before it is killed and reported as failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Runs `tk` with `args` plus `--metrics`, returning the step result.
pub fn tk_step(tk: &Path, root: &Path, dir: &Path, name: &str, args: &[String]) -> StepResult {
    let metrics = dir.join(format!("{name}.metrics.json"));
    let log = dir.join(format!("{name}.log"));
    let _ = std::fs::remove_file(&metrics);
    let mut full: Vec<String> = vec!["--metrics".into(), metrics.display().to_string()];
    full.extend_from_slice(args);
    let outcome = run_with_timeout(tk, &full, root, &log);
    let parsed: Option<Value> = std::fs::read(&metrics)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    match (outcome, parsed) {
        (Ok(()), Some(m)) => StepResult::ok(name, &m),
        (Ok(()), None) => StepResult::failed(name, "tk wrote no metrics".into()),
        (Err(e), _) => StepResult::failed(name, format!("{e}; see {}", log.display())),
    }
}

fn run_with_timeout(program: &Path, args: &[String], cwd: &Path, log: &Path) -> Result<(), String> {
    let file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                let last = tail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .to_string();
                return Err(format!("exited with {status}: {last}"));
            }
            Ok(None) if start.elapsed() > STEP_TIMEOUT => {
                let _ = child.kill();
                return Err(format!("timed out after {:?}", STEP_TIMEOUT));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Generates missing model files with the model's generator script.
fn ensure_files(root: &Path, model: &BenchModel, log: &Path) -> Result<(), String> {
    let missing = [&model.onnx, &model.calib, &model.sample]
        .iter()
        .any(|p| !p.exists());
    if !missing {
        return Ok(());
    }
    let Some(cmd) = &model.generate else {
        return Err(format!("{} is missing", model.onnx.display()));
    };
    let program = root.join(&cmd[0]);
    if !program.exists() {
        return Err(format!(
            "{} is missing and {} is not installed: run scripts/setup_python.sh",
            model.onnx.display(),
            cmd[0]
        ));
    }
    run_with_timeout(&program, &cmd[1..], root, log)
}

/// Runs every step of our pipeline on one model. Failures are recorded, never fatal.
pub fn run_model(
    tk: &Path,
    root: &Path,
    model: &BenchModel,
    dir: &Path,
    options: &StepOptions,
    bar: &ProgressBar,
) -> ModelReport {
    let mut report = ModelReport::new(&model.name, &model.onnx);
    if let Err(reason) = ensure_files(root, model, &dir.join("generate.log")) {
        report.skip_all(&reason);
        return report;
    }
    let tkq: PathBuf = dir.join("model.tkq");
    let trace = dir.join("trace.tkt");
    let keys = dir.join("keys");
    let proof = dir.join("proof.tkp");
    let mut step = |name: &str, args: Vec<String>| {
        bar.set_message(format!("{} {name}", model.name));
        let result = tk_step(tk, root, dir, name, &args);
        let ok = result.is_ok();
        report.steps.push(result);
        ok
    };
    let quantized = step(
        "quantize",
        vec![
            "quantize".into(),
            s(&model.onnx),
            "--calib".into(),
            s(&model.calib),
            "--output".into(),
            s(&tkq),
        ],
    );
    let mut eval = vec![
        "eval".into(),
        s(&model.onnx),
        "--calib".into(),
        s(&model.calib),
        "--data".into(),
        s(&model.data),
    ];
    if let Some(labels) = &model.labels {
        eval.extend(["--labels".into(), s(labels)]);
    }
    step("eval", eval);
    if !quantized {
        report.skip_rest("quantization failed");
        return report;
    }
    step(
        "profile",
        vec![
            "profile".into(),
            s(&model.onnx),
            s(&tkq),
            "--input".into(),
            s(&model.sample),
            "--repeat".into(),
            options.repeat.to_string(),
        ],
    );
    let traced = step(
        "run",
        vec![
            "run".into(),
            s(&tkq),
            "--input".into(),
            s(&model.sample),
            "--output".into(),
            s(&dir.join("output.npy")),
            "--trace".into(),
            s(&trace),
        ],
    );
    if traced {
        step(
            "check",
            vec!["check".into(), s(&trace), "--model".into(), s(&tkq)],
        );
    }
    if !options.prove {
        report.skip_proving(if model.provable {
            "proving disabled"
        } else {
            "too large for one circuit on this machine (segmented proving: issue 8)"
        });
        return report;
    }
    if !traced {
        report.skip_proving("no trace");
        return report;
    }
    let setup = step(
        "setup",
        vec!["setup".into(), s(&tkq), "--keys".into(), s(&keys)],
    );
    let proved = setup
        && step(
            "prove",
            vec![
                "prove".into(),
                s(&tkq),
                s(&trace),
                "--keys".into(),
                s(&keys),
                "--output".into(),
                s(&proof),
            ],
        );
    if proved {
        step(
            "verify",
            vec!["verify".into(), s(&proof), "--keys".into(), s(&keys)],
        );
    }
    report.record_sizes(&keys, &proof);
    report
}
