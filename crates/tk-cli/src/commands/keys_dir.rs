//! The keys directory written by `tk setup` and read by `tk prove` and `tk verify`.
//!
//! `DIR/setup.json` (this manifest), `DIR/pk.bin`, `DIR/vk.bin`, `DIR/model.tkq` (a copy of the
//! model the keys belong to; a verifier needs its input/output shapes and ranges) and the KZG
//! parameters `DIR/kzg-bn254-k{k}.srs` unless `--params` named another file.
//!
//! Segmented keys (`tk setup --segments`): `DIR/segments.json` (the
//! [`tk_circuit::segment::SegmentManifest`]), `DIR/model.tkq`, the parameters for every `k`
//! used, and per segment `DIR/seg-NNNN/` holding that segment's `setup.json` (this manifest,
//! about the segment's sub-model), `pk.bin` and `vk.bin`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tk_circuit::segment::{SegmentManifest, Segmentation};

/// `setup.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Hex SHA-256 of the model `.tkq`.
    pub model_digest: String,
    /// Hex SHA-256 of `vk.bin`.
    pub vk_digest: String,
    /// `log2` of the rows.
    pub k: u32,
    /// The KZG parameters file used (relative to the directory when generated there).
    pub params: PathBuf,
    /// Whether the parameters were generated locally from a public seed (insecure).
    pub params_insecure: bool,
    /// The planner's report: columns, rows per chip.
    pub plan: serde_json::Value,
}

/// Paths inside a keys directory.
pub struct KeysDir {
    /// The directory.
    pub dir: PathBuf,
}

impl KeysDir {
    /// Wraps a directory path.
    pub fn new(dir: &Path) -> KeysDir {
        KeysDir {
            dir: dir.to_path_buf(),
        }
    }

    /// `DIR/<name>`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether `tk setup --segments` wrote this directory.
    pub fn is_segmented(&self) -> bool {
        self.file(SEGMENTS_FILE).exists()
    }

    /// The keys of segment `i`: `DIR/seg-NNNN`.
    pub fn segment(&self, i: usize) -> KeysDir {
        KeysDir {
            dir: self.dir.join(segment_name(i)),
        }
    }

    /// Reads `segments.json`.
    pub fn segment_manifest(&self) -> Result<SegmentManifest> {
        let path = self.file(SEGMENTS_FILE);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {} (run tk setup --segments first)",
                path.display()
            )
        })?;
        serde_json::from_slice(&bytes).with_context(|| format!("malformed {}", path.display()))
    }

    /// The full model and its segmentation, re-derived from `model.tkq` and `segments.json`
    /// (every segment's sub-model must have the digest the manifest records).
    pub fn segmentation(&self) -> Result<(tk_quant::QModel, Segmentation)> {
        let manifest = self.segment_manifest()?;
        let (model, digest) = load_model(&self.file("model.tkq"))?;
        if digest.to_hex() != manifest.model_digest {
            bail!(
                "{} does not match {SEGMENTS_FILE} (was it replaced?)",
                self.file("model.tkq").display()
            );
        }
        let seg = Segmentation::from_manifest(&model, &manifest.model_digest, &manifest)
            .with_context(|| {
                format!(
                    "{} does not describe {}",
                    self.file(SEGMENTS_FILE).display(),
                    self.file("model.tkq").display()
                )
            })?;
        Ok((model, seg))
    }

    /// Reads `setup.json`.
    pub fn manifest(&self) -> Result<Manifest> {
        let path = self.file("setup.json");
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read {} (run tk setup first)", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("malformed {}", path.display()))
    }

    /// The KZG parameters the keys were made with.
    pub fn params(&self, manifest: &Manifest) -> Result<tk_circuit::keys::Params> {
        let path = if manifest.params.is_absolute() {
            manifest.params.clone()
        } else {
            self.dir.join(&manifest.params)
        };
        tk_circuit::keys::load_params_file(&path, manifest.k)
            .with_context(|| format!("cannot load KZG parameters {}", path.display()))
    }

    /// Loads the model copy and checks its digest against the manifest.
    pub fn model(&self, manifest: &Manifest) -> Result<tk_quant::QModel> {
        let (model, digest) = load_model(&self.file("model.tkq"))?;
        if digest.to_hex() != manifest.model_digest {
            bail!(
                "{} does not match setup.json (was it replaced?)",
                self.file("model.tkq").display()
            );
        }
        Ok(model)
    }
}

/// Name of the segment manifest in a keys directory.
pub const SEGMENTS_FILE: &str = "segments.json";

/// Directory (under the keys directory) or file stem (under a proof directory) of segment `i`.
pub fn segment_name(i: usize) -> String {
    format!("seg-{i:04}")
}

/// Proof file of segment `i` in a proof directory.
pub fn segment_proof(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{}.tkp", segment_name(i)))
}

/// Segment indices from `--segment 3`, `--segment 0,2,5-7` (repeatable); all when empty.
pub fn parse_segment_list(specs: &[String], count: usize) -> Result<Vec<usize>> {
    if specs.is_empty() {
        return Ok((0..count).collect());
    }
    let mut out = std::collections::BTreeSet::new();
    for item in specs.iter().flat_map(|s| s.split(',')) {
        let item = item.trim();
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (item, item),
        };
        let (a, b): (usize, usize) = (
            a.parse()
                .with_context(|| format!("--segment {item:?}: not a segment index or range"))?,
            b.parse()
                .with_context(|| format!("--segment {item:?}: not a segment index or range"))?,
        );
        if a > b || b >= count {
            bail!(
                "--segment {item:?}: the model has segments 0 to {}",
                count.saturating_sub(1)
            );
        }
        out.extend(a..=b);
    }
    Ok(out.into_iter().collect())
}

/// Parses a size such as `8GiB`, `512MiB`, `2G`, `1500M` or a number of bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .with_context(|| format!("size {s:?}: expected a number and a unit such as 8GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => bail!("size {s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB or TiB)"),
    };
    let bytes = value * mult as f64;
    if !(bytes.is_finite() && (1.0..1e18).contains(&bytes)) {
        bail!("size {s:?} out of range");
    }
    Ok(bytes as u64)
}

/// Loads a `.tkq` and the digest of its bytes.
pub fn load_model(path: &Path) -> Result<(tk_quant::QModel, tk_trace::ModelDigest)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model = tk_quant::file::from_bytes(&bytes)
        .with_context(|| format!("cannot load {}", path.display()))?;
    Ok((model, tk_trace::ModelDigest::of_bytes(&bytes)))
}

/// Hex SHA-256 of bytes.
pub fn digest_hex(bytes: &[u8]) -> String {
    tk_trace::ModelDigest::of_bytes(bytes).to_hex()
}

/// A spinner for a long step with no measurable progress (keygen, proving).
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Runs `f` on every index, `jobs` at a time (each job is itself multi-threaded by halo2 on
/// rayon's global pool); results in index order, the first error wins.
pub fn run_jobs<T: Send>(
    indices: &[usize],
    jobs: usize,
    f: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    use rayon::prelude::*;
    let mut out = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(jobs.max(1)) {
        let results: Vec<Result<T>> = chunk.par_iter().map(|&i| f(i)).collect();
        for r in results {
            out.push(r?);
        }
    }
    Ok(out)
}
