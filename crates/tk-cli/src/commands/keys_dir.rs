//! The keys directory written by `tk setup` and read by `tk prove` and `tk verify`.
//!
//! `DIR/setup.json` (this manifest), `DIR/pk.bin`, `DIR/vk.bin`, `DIR/model.tkq` (a copy of the
//! model the keys belong to; a verifier needs its input/output shapes and ranges) and the KZG
//! parameters `DIR/kzg-bn254-k{k}.srs` unless `--params` named another file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

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
