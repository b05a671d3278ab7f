//! `tk verify`: check a proof against the verifying key and its public values.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tk_circuit::proof_file::ProofFile;

use super::keys_dir::{KeysDir, digest_hex, parse_segment_list, segment_name, segment_proof};

/// Arguments of `tk verify`.
#[derive(clap::Args)]
pub struct Args {
    /// The proof file from `tk prove` (with segmented keys: the proof directory).
    proof: PathBuf,
    /// Keys directory from `tk setup`.
    #[arg(long)]
    keys: PathBuf,
    /// Print the public model input and output (integers and dequantized values).
    #[arg(long)]
    print_io: bool,
    /// Check only these segment proofs, each on its own (`3`, `0,2,5-7`): for proofs arriving
    /// from several machines. The chain is not checked; a final run without it checks the set.
    #[arg(long, value_name = "LIST")]
    segment: Vec<String>,
}

fn dequantized(model: &tk_quant::QModel, node: usize, t: &tk_quant::QTensor) -> Vec<f64> {
    let scale = model.scale(node).map(f64::from).unwrap_or(1.0);
    t.data.iter().map(|&v| f64::from(v) * scale).collect()
}

/// Runs `tk verify`: prints `verified` and succeeds, or fails naming what is wrong.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let keys = KeysDir::new(&args.keys);
    if keys.is_segmented() || args.proof.is_dir() {
        return run_segmented(&args, &keys);
    }
    let bytes = std::fs::read(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?;
    let proof = ProofFile::from_bytes(&bytes)?;
    let manifest = keys.manifest()?;
    let vk_bytes = std::fs::read(keys.file("vk.bin")).context("cannot read vk.bin")?;
    if digest_hex(&vk_bytes) != manifest.vk_digest {
        bail!("vk.bin does not match setup.json");
    }
    if proof.vk_digest != manifest.vk_digest {
        bail!("the proof was made under another verifying key");
    }
    if proof.model_digest != manifest.model_digest {
        bail!("the proof is about another model");
    }
    if proof.k != manifest.k {
        bail!(
            "the proof claims k = {}, the keys have k = {}",
            proof.k,
            manifest.k
        );
    }
    let model = keys.model(&manifest)?;
    let vk = tk_circuit::keys::ModelVk::from_bytes(&vk_bytes).context("malformed vk.bin")?;
    let params = keys.params(&manifest)?;
    let instance = tk_circuit::public_instance(&model, &proof.inputs, &proof.outputs)
        .context("public values do not fit the model")?;
    tk_circuit::prover::verify(&params, &vk, &instance, &proof.proof).context("proof rejected")?;
    if args.print_io {
        for (t, &node) in proof.inputs.iter().zip(&model.graph.inputs) {
            println!(
                "input {} {:?}: {:?}",
                model.graph.nodes[node].name, t.shape, t.data
            );
        }
        for (t, &node) in proof.outputs.iter().zip(&model.graph.outputs) {
            println!(
                "output {} {:?}: {:?}",
                model.graph.nodes[node].name, t.shape, t.data
            );
            let values: Vec<String> = dequantized(&model, node, t)
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect();
            println!(
                "output {} dequantized: [{}]",
                model.graph.nodes[node].name,
                values.join(", ")
            );
        }
    }
    println!("verified");
    Ok(json!({ "verified": true, "k": proof.k, "proof_bytes": proof.proof.len() }))
}

/// Checks a proof directory: every segment present, each about its segment and under its
/// key, the boundaries chained from the model input to the model output, every proof valid.
fn run_segmented(args: &Args, keys: &KeysDir) -> Result<serde_json::Value> {
    if !keys.is_segmented() {
        bail!(
            "{} is a proof directory, but {} holds no segment keys",
            args.proof.display(),
            keys.dir.display()
        );
    }
    if !args.proof.is_dir() {
        bail!(
            "the keys in {} are segmented: pass the proof directory from tk prove",
            keys.dir.display()
        );
    }
    let (model, seg) = keys.segmentation()?;
    let n = seg.segments.len();
    for entry in std::fs::read_dir(&args.proof)
        .with_context(|| format!("cannot read {}", args.proof.display()))?
    {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("seg-") && !(0..n).any(|i| name == format!("{}.tkp", segment_name(i))) {
            bail!(
                "{}: unexpected {name} (the model has {n} segments)",
                args.proof.display()
            );
        }
    }
    let partial = !args.segment.is_empty();
    let selected = parse_segment_list(&args.segment, n)?;
    let mut proofs = Vec::with_capacity(n);
    let mut vks = Vec::with_capacity(n);
    let mut params = std::collections::BTreeMap::new();
    for &i in &selected {
        let path = segment_proof(&args.proof, i);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("segment {i} of {n} is missing: no {}", path.display())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let proof = ProofFile::from_bytes(&bytes)
            .with_context(|| format!("malformed {}", path.display()))?;
        let dir = keys.segment(i);
        let manifest = dir.manifest()?;
        let vk_bytes = std::fs::read(dir.file("vk.bin"))
            .with_context(|| format!("cannot read {}", dir.file("vk.bin").display()))?;
        if digest_hex(&vk_bytes) != manifest.vk_digest {
            bail!(
                "{} does not match its setup.json",
                dir.file("vk.bin").display()
            );
        }
        if manifest.model_digest != seg.segments[i].digest {
            bail!("{} holds the keys of another segment", dir.dir.display());
        }
        if proof.model_digest != seg.segments[i].digest {
            bail!(
                "{} is not the proof of segment {i} (it proves another segment or model)",
                path.display()
            );
        }
        if proof.vk_digest != manifest.vk_digest {
            bail!(
                "{} was made under another verifying key than segment {i}'s",
                path.display()
            );
        }
        let vk = tk_circuit::keys::ModelVk::from_bytes(&vk_bytes)
            .with_context(|| format!("malformed {}", dir.file("vk.bin").display()))?;
        if let std::collections::btree_map::Entry::Vacant(e) = params.entry(manifest.k) {
            e.insert(dir.params(&manifest)?);
        }
        if partial {
            let start = std::time::Instant::now();
            let segment = &seg.segments[i];
            let instance = tk_circuit::public_instance_with(
                &segment.model,
                &segment.commit,
                &proof.inputs,
                &proof.outputs,
                &proof.commitments,
            )
            .with_context(|| format!("{}: public values do not fit segment {i}", path.display()))?;
            tk_circuit::prover::verify(&params[&manifest.k], &vk, &instance, &proof.proof)
                .with_context(|| format!("segment {i}: proof rejected"))?;
            println!(
                "  segment {i}: verified in {:.3} s (k = {})",
                start.elapsed().as_secs_f64(),
                proof.k
            );
        }
        proofs.push(proof);
        vks.push(vk);
    }
    if partial {
        println!(
            "verified {} of {n} segment proofs on their own; the chain was not checked",
            selected.len()
        );
        return Ok(json!({ "verified": true, "segments": n, "checked": selected, "chain": false }));
    }
    let (inputs, outputs) = seg
        .verify(&vks, &params, &proofs)
        .context("proof set rejected")?;
    if args.print_io {
        for (t, &node) in inputs.iter().zip(&model.graph.inputs) {
            println!(
                "input {} {:?}: {:?}",
                model.graph.nodes[node].name, t.shape, t.data
            );
        }
        for (t, &node) in outputs.iter().zip(&model.graph.outputs) {
            println!(
                "output {} {:?}: {:?}",
                model.graph.nodes[node].name, t.shape, t.data
            );
            let values: Vec<String> = dequantized(&model, node, t)
                .iter()
                .map(|v| format!("{v:.4}"))
                .collect();
            println!(
                "output {} dequantized: [{}]",
                model.graph.nodes[node].name,
                values.join(", ")
            );
        }
    }
    println!("verified {n} segments");
    Ok(json!({
        "verified": true,
        "segments": n,
        "k": proofs.iter().map(|p| p.k).max().unwrap_or(0),
        "proof_bytes": proofs.iter().map(|p| p.proof.len()).sum::<usize>(),
    }))
}
