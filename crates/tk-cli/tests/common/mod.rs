//! Shared support of the `tk` binary tests: running the binary, scratch directories, the
//! quantize -> run -> setup -> prove pipeline on the digits MLP, and trace surgery.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A test fixture under `crates/tk-cli/tests/fixtures/` (see `scripts/make_cli_fixtures.py`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs `tk` with `args`.
pub fn tk<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tk"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("tk runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "tk failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts that `tk` failed cleanly: exit code 1 (not a panic's 101 or a signal), and the
/// only stderr line that is not a warning is one `error: ...` line containing every needle
/// (case-insensitively). Returns that line.
pub fn error(out: Output, needles: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a clean failure, got {}:\nstderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("warning:"))
        .collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "not an error line: {line}");
    let lower = line.to_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_lowercase()),
            "error line does not mention {n:?}: {line}"
        );
    }
    line.to_string()
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tk-cli-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `bytes` to `name` and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `p` as a `&str` (the scratch paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The digits MLP through the whole pipeline in `dir`: `m.tkq`, `y.npy`, `t.tkt`, `keys/`
/// and `p.tkp`. Returns the stdout of every step.
pub struct Pipeline {
    pub model: PathBuf,
    pub trace: PathBuf,
    pub keys: PathBuf,
    pub proof: PathBuf,
    pub out: Vec<String>,
}

pub fn pipeline(dir: &Scratch) -> Pipeline {
    let model = dir.path("m.tkq");
    let trace = dir.path("t.tkt");
    let keys = dir.path("keys");
    let proof = dir.path("p.tkp");
    let onnx = repo("models/digits_mlp.onnx");
    let calib = repo("models/digits/calib_x_flat.npy");
    let sample = repo("models/digits/sample0_flat.npy");
    let mut out = vec![ok(tk(&[
        "quantize",
        s(&onnx),
        "--calib",
        s(&calib),
        "--output",
        s(&model),
    ]))];
    out.push(ok(tk(&[
        "run",
        s(&model),
        "--input",
        s(&sample),
        "--output",
        s(&dir.path("y.npy")),
        "--trace",
        s(&trace),
    ])));
    out.push(ok(tk(&["check", s(&trace), "--model", s(&model)])));
    out.push(ok(tk(&["setup", s(&model), "--keys", s(&keys)])));
    out.push(ok(tk(&[
        "prove",
        s(&model),
        s(&trace),
        "--keys",
        s(&keys),
        "--output",
        s(&proof),
    ])));
    Pipeline {
        model,
        trace,
        keys,
        proof,
        out,
    }
}

// ---------------------------------------------------------------------------------------
// Trace surgery.

use tk_trace::{Footer, Frame, Header, Kind, ModelDigest, TraceReader};

/// Every frame of a well-formed trace.
pub struct Decoded {
    pub header: Header,
    pub frames: Vec<Frame>,
}

pub fn decode(trace: &[u8]) -> Decoded {
    let mut reader = TraceReader::new(trace).unwrap();
    let frames = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
    Decoded {
        header: reader.header().clone(),
        frames,
    }
}

/// Re-encodes frames with a valid footer, so only semantic checks can reject the trace.
pub fn encode(d: &Decoded) -> Vec<u8> {
    let mut out = tk_trace::MAGIC.to_vec();
    out.extend(tk_trace::FORMAT_MAJOR.to_le_bytes());
    let put = |out: &mut Vec<u8>, bytes: Vec<u8>| {
        out.extend((bytes.len() as u32).to_le_bytes());
        out.extend(bytes);
    };
    put(&mut out, rmp_serde::to_vec_named(&d.header).unwrap());
    let (mut records, mut inputs) = (0, 0);
    for f in &d.frames {
        match f {
            Frame::Input(i) => {
                inputs += 1;
                put(&mut out, rmp_serde::to_vec_named(i).unwrap());
            }
            Frame::Record(r) => {
                records += 1;
                put(&mut out, rmp_serde::to_vec_named(r).unwrap());
            }
        }
    }
    let footer = Footer {
        kind: Kind::Footer,
        record_count: records,
        input_count: inputs,
        digest: ModelDigest::of_bytes(&out).to_hex(),
    };
    put(&mut out, rmp_serde::to_vec_named(&footer).unwrap());
    out
}

/// Adds one to element `e` of `t` (subtracts one at the top of the `bits` range).
pub fn bump(t: &mut tk_trace::TraceTensor, e: usize, bits: u8) {
    let mut q = t.to_qtensor().unwrap();
    let hi = (1i32 << (bits - 1)) - 1;
    q.data[e] = if q.data[e] == hi {
        hi - 1
    } else {
        q.data[e] + 1
    };
    *t = tk_trace::TraceTensor::encode(&q, t.dtype).unwrap();
}
