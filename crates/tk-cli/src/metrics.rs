//! `--metrics`: wall time, peak resident memory and command-specific figures as JSON.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// Started when the command starts.
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// Starts timing.
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Writes `{"wall_s", "peak_rss_bytes", "details"}` to `path`.
    pub fn write(&self, path: &Path, details: Value) -> Result<()> {
        let doc = json!({
            "wall_s": self.start.elapsed().as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
            "details": details,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("cannot write metrics to {}", path.display()))
    }
}

/// Peak resident set size of this process (`VmHWM`), when the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
