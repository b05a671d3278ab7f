//! `tk prove`: prove that a trace is a correct execution of a model.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tk_circuit::proof_file::ProofFile;
use tk_circuit::{ModelCircuit, PlanOptions, TraceValues};

use super::keys_dir::{
    KeysDir, digest_hex, load_model, parse_segment_list, run_jobs, segment_proof, spinner,
};

/// Arguments of `tk prove`.
#[derive(clap::Args)]
pub struct Args {
    /// The quantized model.
    model: PathBuf,
    /// The trace to prove.
    trace: PathBuf,
    /// Keys directory from `tk setup`.
    #[arg(long)]
    keys: PathBuf,
    /// Where to write the proof file (with segmented keys: a directory, one proof file per
    /// segment).
    #[arg(long)]
    output: PathBuf,
    /// Prove only these segments (`3`, `0,2,5-7`; repeatable), e.g. one per machine.
    #[arg(long, value_name = "LIST")]
    segment: Vec<String>,
    /// Segments proven at the same time (each uses its memory budget).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

/// Runs `tk prove`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let keys = KeysDir::new(&args.keys);
    if keys.is_segmented() {
        return run_segmented(&args, &keys);
    }
    if !args.segment.is_empty() {
        bail!("--segment needs keys from tk setup --segments");
    }
    let (model, digest) = load_model(&args.model)?;
    let manifest = keys.manifest()?;
    if manifest.model_digest != digest.to_hex() {
        bail!(
            "the keys in {} were made for another model (run tk setup for this one)",
            keys.dir.display()
        );
    }
    let file = std::fs::File::open(&args.trace)
        .with_context(|| format!("cannot open {}", args.trace.display()))?;
    let reader = tk_trace::TraceReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read {}", args.trace.display()))?;
    let values = TraceValues::read(reader, &model, &digest)
        .with_context(|| format!("refusing to prove {}", args.trace.display()))?;
    let witnesses = values.op_witnesses(&model);
    let circuit =
        ModelCircuit::new(&model, &witnesses, &PlanOptions::default()).with_context(|| {
            format!(
                "refusing to prove {}: it is not a correct execution",
                args.trace.display()
            )
        })?;
    if circuit.k() != manifest.k {
        bail!(
            "circuit needs k = {}, the keys have k = {}",
            circuit.k(),
            manifest.k
        );
    }
    let params = keys.params(&manifest)?;
    let pk_bytes = std::fs::read(keys.file("pk.bin")).context("cannot read pk.bin")?;
    let pk = tk_circuit::keys::ModelPk::from_bytes(&pk_bytes).context("malformed pk.bin")?;
    let vk_bytes = std::fs::read(keys.file("vk.bin")).context("cannot read vk.bin")?;
    let bar = spinner(&format!(
        "proving {} records, k = {}",
        values.records,
        circuit.k()
    ));
    let proof = tk_circuit::prover::prove(&params, &pk, &circuit, rand::rngs::OsRng)?;
    bar.finish_and_clear();
    let out = ProofFile {
        model_digest: digest.to_hex(),
        vk_digest: digest_hex(&vk_bytes),
        k: circuit.k(),
        inputs: values.inputs(&model),
        outputs: values.outputs(&model),
        commitments: Vec::new(),
        proof,
    };
    let bytes = out.to_bytes()?;
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!(
        "proved {} ({} records, k = {}): {} ({} B, proof {} B)",
        args.trace.display(),
        values.records,
        circuit.k(),
        args.output.display(),
        bytes.len(),
        out.proof.len()
    );
    Ok(
        json!({ "k": circuit.k(), "records": values.records, "proof_bytes": out.proof.len(), "file_bytes": bytes.len() }),
    )
}

/// Proves the selected segments into the directory `args.output`.
fn run_segmented(args: &Args, keys: &KeysDir) -> Result<serde_json::Value> {
    let (model, digest) = load_model(&args.model)?;
    let (_, seg) = keys.segmentation()?;
    if seg.model_digest != digest.to_hex() {
        bail!(
            "the keys in {} were made for another model (run tk setup for this one)",
            keys.dir.display()
        );
    }
    let selected = parse_segment_list(&args.segment, seg.segments.len())?;
    let file = std::fs::File::open(&args.trace)
        .with_context(|| format!("cannot open {}", args.trace.display()))?;
    let reader = tk_trace::TraceReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("cannot read {}", args.trace.display()))?;
    let values = TraceValues::read(reader, &model, &digest)
        .with_context(|| format!("refusing to prove {}", args.trace.display()))?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let n = seg.segments.len();
    let done = run_jobs(&selected, args.jobs, |i| {
        let dir = keys.segment(i);
        let manifest = dir
            .manifest()
            .with_context(|| format!("segment {i} has no keys (run tk setup --segment {i})"))?;
        if manifest.model_digest != seg.segments[i].digest {
            bail!("{} holds the keys of another segment", dir.dir.display());
        }
        let start = std::time::Instant::now();
        let tk_circuit::segment::SegmentProofInputs {
            circuit,
            inputs,
            outputs,
            commitments,
        } = seg.circuit(i, |id| values.value(id)).with_context(|| {
            format!(
                "refusing to prove segment {i} of {}: it is not a correct execution",
                args.trace.display()
            )
        })?;
        if circuit.k() != manifest.k {
            bail!(
                "segment {i} needs k = {}, its keys have k = {}",
                circuit.k(),
                manifest.k
            );
        }
        let witness_s = start.elapsed().as_secs_f64();
        let params = dir.params(&manifest)?;
        let pk_bytes = std::fs::read(dir.file("pk.bin"))
            .with_context(|| format!("cannot read {}", dir.file("pk.bin").display()))?;
        let pk = tk_circuit::keys::ModelPk::from_bytes(&pk_bytes)
            .with_context(|| format!("malformed {}", dir.file("pk.bin").display()))?;
        drop(pk_bytes);
        let vk_bytes = std::fs::read(dir.file("vk.bin"))
            .with_context(|| format!("cannot read {}", dir.file("vk.bin").display()))?;
        let load_s = start.elapsed().as_secs_f64() - witness_s;
        let t = std::time::Instant::now();
        let proof = tk_circuit::prover::prove(&params, &pk, &circuit, rand::rngs::OsRng)
            .with_context(|| format!("segment {i}"))?;
        let prove_s = t.elapsed().as_secs_f64();
        drop(pk);
        drop(circuit);
        let out = ProofFile {
            model_digest: seg.segments[i].digest.clone(),
            vk_digest: digest_hex(&vk_bytes),
            k: manifest.k,
            inputs,
            outputs,
            commitments,
            proof,
        };
        let bytes = out.to_bytes()?;
        let path = segment_proof(&args.output, i);
        std::fs::write(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "  segment {i}/{n}: k = {}, witness {witness_s:.1} s, keys {load_s:.1} s, prove {prove_s:.1} s -> {} ({} B, proof {} B)",
            manifest.k,
            path.display(),
            bytes.len(),
            out.proof.len()
        );
        Ok(json!({
            "index": i, "k": manifest.k, "witness_s": witness_s, "load_s": load_s, "prove_s": prove_s,
            "proof_bytes": out.proof.len(), "file_bytes": bytes.len(),
        }))
    })?;
    println!(
        "proved {} of {n} segments of {} into {}",
        done.len(),
        args.trace.display(),
        args.output.display()
    );
    Ok(json!({ "segments": n, "proved": done, "records": values.records }))
}
