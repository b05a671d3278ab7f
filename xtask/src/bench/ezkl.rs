//! EZKL on the same model and input, through `scripts/ezkl/run_ezkl.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use indicatif::ProgressBar;
use serde_json::{Value, json};

use super::models::BenchModel;

/// EZKL availability for this run.
pub struct Ezkl {
    python: Option<PathBuf>,
    reason: String,
}

impl Ezkl {
    /// EZKL will not run, for the given reason.
    pub fn disabled(reason: &str) -> Ezkl {
        Ezkl {
            python: None,
            reason: reason.into(),
        }
    }

    /// Installs EZKL into `target/ezkl-venv` (pinned), or records why it cannot.
    pub fn setup(root: &Path) -> Ezkl {
        let log = root.join("target/ezkl-setup.log");
        let status = std::fs::File::create(&log).and_then(|f| {
            let err = f.try_clone()?;
            Command::new("bash")
                .arg("scripts/ezkl/setup.sh")
                .current_dir(root)
                .stdout(f)
                .stderr(err)
                .status()
        });
        match status {
            Ok(s) if s.success() => Ezkl {
                python: Some(root.join("target/ezkl-venv/bin/python")),
                reason: String::new(),
            },
            Ok(s) => Ezkl::disabled(&format!("EZKL setup failed ({s}); see {}", log.display())),
            Err(e) => Ezkl::disabled(&format!("cannot run scripts/ezkl/setup.sh: {e}")),
        }
    }

    /// Runs EZKL's pipeline on `model`, returning its result JSON (or a failure object).
    pub fn run(&self, root: &Path, model: &BenchModel, dir: &Path, bar: &ProgressBar) -> Value {
        let Some(python) = &self.python else {
            return json!({"status": "skipped", "reason": self.reason});
        };
        bar.set_message(format!("{} EZKL", model.name));
        let work = dir.join("ezkl");
        let out = work.join("result.json");
        let mut cmd = Command::new(python);
        cmd.arg("scripts/ezkl/run_ezkl.py")
            .args(["--model", &model.onnx.display().to_string()])
            .args(["--input", &model.sample.display().to_string()])
            .args(["--workdir", &work.display().to_string()])
            .args(["--out", &out.display().to_string()])
            .args([
                "--srs-dir",
                &root.join("target/ezkl-srs").display().to_string(),
            ])
            .args(["--cleanup", "-q"])
            .current_dir(root);
        let float_out = dir.join("float_output.npy");
        if float_out.exists() {
            cmd.args(["--expected", &float_out.display().to_string()]);
        }
        let status = cmd.status();
        let result: Option<Value> = std::fs::read(&out)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match (status, result) {
            (_, Some(v)) => v,
            (Ok(s), None) => {
                json!({"status": "failed", "error": format!("run_ezkl.py exited with {s} and wrote no result")})
            }
            (Err(e), None) => {
                json!({"status": "failed", "error": format!("cannot start EZKL: {e}")})
            }
        }
    }
}
