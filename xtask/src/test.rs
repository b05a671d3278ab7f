//! `cargo xtask test`: the one test command of the README and of CI.

use std::path::Path;

use anyhow::{Result, bail};

/// Where Debian's `libonnx-testdata` puts the ONNX node conformance tests.
pub const ONNX_TESTDATA: &str = "/usr/share/libonnx-testdata/data/node";

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Skip `cargo fmt --check` and clippy (tests only).
    #[arg(long)]
    no_lint: bool,
}

/// Installs missing test data, then runs fmt, clippy and the whole test suite.
pub fn run(args: Args) -> Result<()> {
    ensure_onnx_testdata()?;
    if !args.no_lint {
        crate::sh("cargo", &["fmt", "--all", "--check"])?;
        crate::sh(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }
    crate::sh("cargo", &["test", "--workspace", "--locked"])
}

/// Installs `libonnx-testdata` with apt when it is missing and we may (root, apt present).
fn ensure_onnx_testdata() -> Result<()> {
    if Path::new(ONNX_TESTDATA).is_dir() {
        return Ok(());
    }
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "ONNX conformance data missing at {ONNX_TESTDATA}: run `sudo apt-get install libonnx-testdata`"
        );
    }
    crate::sh("apt-get", &["update", "-q"])?;
    crate::sh(
        "apt-get",
        &[
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "libonnx-testdata",
        ],
    )
}
