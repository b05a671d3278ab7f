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
    /// Skip the `bench --quick` smoke run after the tests.
    #[arg(long)]
    no_bench: bool,
}

/// Installs missing test data, then runs fmt, clippy, the whole test suite, the golden digests
/// in the release profile and a quick bench.
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
    crate::sh("cargo", &["test", "--workspace", "--locked"])?;
    // The golden digests again in the release profile: debug and release builds (overflow
    // checks, optimisation, SIMD dispatch) must give the same bytes.
    crate::sh(
        "cargo",
        &[
            "test",
            "--release",
            "--locked",
            "-p",
            "tk-trace",
            "--test",
            "golden",
            "--test",
            "golden_models",
        ],
    )?;
    if !args.no_bench {
        // Every column of the bench must be produced (timings are not checked): the smallest
        // models, with the dev-profile `tk` the tests already built, EZKL included when its
        // package can be installed.
        let out = crate::workspace_root().join("target/bench/ci-quick");
        let out = out.to_string_lossy();
        crate::sh(
            "cargo",
            &[
                "xtask",
                "bench",
                "--quick",
                "--dev-build",
                "--repeat",
                "3",
                "--out",
                &out,
            ],
        )?;
    }
    Ok(())
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
