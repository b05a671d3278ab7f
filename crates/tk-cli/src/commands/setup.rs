//! `tk setup`: KZG parameters, proving and verifying keys for a model.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tk_circuit::segment::{SegmentOptions, Segmentation};
use tk_circuit::{ModelCircuit, PlanOptions};

use super::keys_dir::{
    KeysDir, Manifest, SEGMENTS_FILE, digest_hex, load_model, parse_segment_list, parse_size,
    run_jobs, spinner,
};

/// Arguments of `tk setup`.
#[derive(clap::Args)]
pub struct Args {
    /// The quantized model.
    model: PathBuf,
    /// Directory for the keys (created; reused parameters are read from it).
    #[arg(long)]
    keys: PathBuf,
    /// Existing KZG parameters (e.g. from a ceremony) instead of locally generated ones.
    #[arg(long)]
    params: Option<PathBuf>,
    /// Cut the model into segments proven separately: a number, or `auto` for as few as
    /// the limits allow. Without it the model is one circuit (the classic layout).
    #[arg(long, value_name = "N|auto")]
    segments: Option<String>,
    /// Peak proving memory allowed per segment, e.g. `8GiB` (implies a `k` limit).
    #[arg(long, value_name = "SIZE", requires = "segments")]
    max_memory: Option<String>,
    /// Largest `k` of a segment circuit.
    #[arg(long, value_name = "K", requires = "segments")]
    max_k: Option<u32>,
    /// Only generate the keys of these segments (`3`, `0,2,5-7`; repeatable), e.g. one per
    /// machine; the manifest is the same everywhere.
    #[arg(long, value_name = "LIST", requires = "segments")]
    segment: Vec<String>,
    /// Write the segment manifest and print the plan, without generating keys.
    #[arg(long, requires = "segments")]
    plan_only: bool,
    /// Segments whose keys are generated at the same time (each uses the memory budget).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
}

/// Runs `tk setup`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    if args.segments.is_some() {
        return run_segmented(&args);
    }
    let (model, digest) = load_model(&args.model)?;
    let keys = KeysDir::new(&args.keys);
    std::fs::create_dir_all(&keys.dir)
        .with_context(|| format!("cannot create {}", keys.dir.display()))?;
    let circuit = ModelCircuit::for_keygen(&model, &PlanOptions::default())
        .with_context(|| format!("cannot lay out a circuit for {}", args.model.display()))?;
    let report = circuit.report().clone();
    let k = circuit.k();
    let (params, params_path, insecure) = match &args.params {
        Some(path) => {
            let p = tk_circuit::keys::load_params_file(path, k)
                .with_context(|| format!("cannot load KZG parameters {}", path.display()))?;
            (p, std::fs::canonicalize(path)?, false)
        }
        None => {
            let file = tk_circuit::keys::params_path(&keys.dir, k);
            if !file.exists() {
                eprintln!(
                    "warning: generating KZG parameters for k = {k} locally from a public seed. \
                     They are for testing only: anyone can forge proofs under them. \
                     Pass --params with parameters from a trusted setup for real use."
                );
            }
            let bar = spinner(&format!("KZG parameters, k = {k}"));
            let p = tk_circuit::keys::load_or_setup_params(&keys.dir, k)?;
            bar.finish_and_clear();
            (
                p,
                PathBuf::from(file.file_name().context("parameters file name")?),
                true,
            )
        }
    };
    let bar = spinner("key generation");
    let pk = tk_circuit::keys::keygen(&params, &circuit)?;
    bar.finish_and_clear();
    let vk_bytes = pk.vk().to_bytes()?;
    std::fs::write(keys.file("pk.bin"), pk.to_bytes()?)?;
    std::fs::write(keys.file("vk.bin"), &vk_bytes)?;
    std::fs::copy(&args.model, keys.file("model.tkq"))?;
    let plan = serde_json::to_value(&report)?;
    let manifest = Manifest {
        model_digest: digest.to_hex(),
        vk_digest: digest_hex(&vk_bytes),
        k,
        params: params_path,
        params_insecure: insecure,
        plan: plan.clone(),
    };
    std::fs::write(
        keys.file("setup.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    let size = |name: &str| {
        std::fs::metadata(keys.file(name))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let rows = report.main_rows as u64;
    println!(
        "setup {}: k = {k}, W = {}, {} advice columns, {} lookups, {rows} main rows; pk {} B, vk {} B in {}",
        args.model.display(),
        report.params.width,
        report.advice_columns,
        report.lookups,
        size("pk.bin"),
        size("vk.bin"),
        keys.dir.display()
    );
    for chip in &report.chips {
        println!("  {:<12} {:>8} rows", chip.chip, chip.rows);
    }
    Ok(
        json!({ "k": k, "rows": rows, "plan": plan, "pk_bytes": size("pk.bin"), "vk_bytes": size("vk.bin") }),
    )
}

/// The segment options from the command line.
fn segment_options(args: &Args) -> Result<SegmentOptions> {
    let mut opts = match &args.max_memory {
        Some(size) => SegmentOptions::for_memory(parse_size(size)?),
        None => SegmentOptions::default(),
    };
    if let Some(k) = args.max_k {
        if !(6..=26).contains(&k) {
            bail!("--max-k {k}: expected 6 to 26");
        }
        opts.max_k = opts.max_k.min(k);
    }
    opts.count = match args.segments.as_deref() {
        Some("auto") | None => None,
        Some(n) => Some(
            n.parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .with_context(|| format!("--segments {n:?}: expected a positive number or auto"))?,
        ),
    };
    Ok(opts)
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// `tk setup --segments`: plan (or reuse) the segmentation, then keys per segment.
fn run_segmented(args: &Args) -> Result<serde_json::Value> {
    let (model, digest) = load_model(&args.model)?;
    let keys = KeysDir::new(&args.keys);
    std::fs::create_dir_all(&keys.dir)
        .with_context(|| format!("cannot create {}", keys.dir.display()))?;
    let opts = segment_options(args)?;
    let seg = if keys.is_segmented() {
        let manifest = keys.segment_manifest()?;
        let same = manifest.model_digest == digest.to_hex()
            && manifest.max_k == opts.max_k
            && manifest.max_bytes == opts.max_bytes
            && opts.count.is_none_or(|n| n == manifest.segments.len());
        if !same {
            bail!(
                "{} holds the segments of another model or other limits; use an empty directory",
                keys.dir.display()
            );
        }
        let (_, seg) = keys.segmentation()?;
        eprintln!(
            "reusing the segmentation in {}",
            keys.file(SEGMENTS_FILE).display()
        );
        seg
    } else {
        let bar = spinner("planning segments");
        let seg = Segmentation::plan(&model, &digest.to_hex(), &opts)
            .with_context(|| format!("cannot segment {}", args.model.display()))?;
        bar.finish_and_clear();
        std::fs::copy(&args.model, keys.file("model.tkq"))?;
        std::fs::write(
            keys.file(SEGMENTS_FILE),
            serde_json::to_vec_pretty(&seg.manifest())?,
        )?;
        seg
    };
    println!(
        "segments of {}: {} (limit k <= {}{}), {} ops split by channels",
        args.model.display(),
        seg.segments.len(),
        opts.max_k,
        opts.max_bytes
            .map(|b| format!(", {} per segment", gib(b)))
            .unwrap_or_default(),
        seg.partitions.len()
    );
    let manifest = seg.manifest();
    for m in &manifest.segments {
        // Values crossing the segment's boundary (committed, or shown when a model input or
        // output).
        let boundary: usize = m
            .inputs
            .iter()
            .chain(&m.outputs)
            .map(|t| t.shape.iter().product::<usize>())
            .sum();
        let e = m.estimate.as_ref();
        println!(
            "  {:>4}  ops {:>4}..{:<4} k {:>2}  rows {:>8}  MACs {:>10}  boundary {:>7}  est. {:>9}  {} .. {}",
            m.index,
            m.ops.0,
            m.ops.1,
            e.map_or(0, |e| e.k),
            e.map_or(0, |e| e.main_rows),
            e.map_or(0, |e| e.macs),
            boundary,
            e.map_or_else(String::new, |e| gib(e.memory_bytes)),
            m.first_op,
            m.last_op
        );
    }
    let plan = serde_json::to_value(&manifest)?;
    if args.plan_only {
        return Ok(json!({ "segments": seg.segments.len(), "manifest": plan }));
    }
    let selected = parse_segment_list(&args.segment, seg.segments.len())?;
    // Parameters first, one k at a time (generating the same k concurrently would be wasted).
    let mut ks: Vec<u32> = Vec::new();
    for &i in &selected {
        ks.push(
            seg.plan_report(i)
                .with_context(|| format!("cannot lay out segment {i}"))?
                .params
                .k,
        );
    }
    let mut needed = ks.clone();
    needed.sort_unstable();
    needed.dedup();
    let insecure = args.params.is_none();
    if insecure {
        for &k in needed.iter().rev() {
            if !tk_circuit::keys::params_path(&keys.dir, k).exists() {
                eprintln!(
                    "warning: generating KZG parameters for k = {k} locally from a public seed. \
                     They are for testing only: anyone can forge proofs under them. \
                     Pass --params with parameters from a trusted setup for real use."
                );
            }
            let bar = spinner(&format!("KZG parameters, k = {k}"));
            tk_circuit::keys::load_or_setup_params(&keys.dir, k)?;
            bar.finish_and_clear();
        }
    }
    let params_file = |k: u32| -> Result<PathBuf> {
        Ok(match &args.params {
            Some(path) => std::fs::canonicalize(path)?,
            None => PathBuf::from("..").join(
                tk_circuit::keys::params_path(&keys.dir, k)
                    .file_name()
                    .context("parameters file name")?,
            ),
        })
    };
    let positions: Vec<usize> = (0..selected.len()).collect();
    let rows = run_jobs(&positions, args.jobs, |pos| {
        let i = selected[pos];
        let circuit = seg
            .keygen_circuit(i)
            .with_context(|| format!("cannot lay out segment {i}"))?;
        let k = circuit.k();
        let dir = keys.segment(i);
        std::fs::create_dir_all(&dir.dir)?;
        let params = match &args.params {
            Some(path) => tk_circuit::keys::load_params_file(path, k)
                .with_context(|| format!("cannot load KZG parameters {}", path.display()))?,
            None => tk_circuit::keys::load_or_setup_params(&keys.dir, k)?,
        };
        let start = std::time::Instant::now();
        let pk = tk_circuit::keys::keygen(&params, &circuit)
            .with_context(|| format!("segment {i}: key generation"))?;
        let keygen_s = start.elapsed().as_secs_f64();
        let vk_bytes = pk.vk().to_bytes()?;
        std::fs::write(dir.file("pk.bin"), pk.to_bytes()?)?;
        std::fs::write(dir.file("vk.bin"), &vk_bytes)?;
        drop(pk);
        let report = circuit.report().clone();
        let manifest = Manifest {
            model_digest: seg.segments[i].digest.clone(),
            vk_digest: digest_hex(&vk_bytes),
            k,
            params: params_file(k)?,
            params_insecure: insecure,
            plan: serde_json::to_value(&report)?,
        };
        std::fs::write(
            dir.file("setup.json"),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
        let size = |name: &str| {
            std::fs::metadata(dir.file(name))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        println!(
            "  segment {i}: k = {k}, W = {}, {} main rows; keygen {keygen_s:.1} s; pk {} B, vk {} B",
            report.params.width,
            report.main_rows,
            size("pk.bin"),
            size("vk.bin")
        );
        Ok(json!({
            "index": i, "k": k, "rows": report.main_rows, "width": report.params.width,
            "keygen_s": keygen_s, "pk_bytes": size("pk.bin"), "vk_bytes": size("vk.bin"),
        }))
    })?;
    let k_max = ks.iter().copied().max().unwrap_or(0);
    let total_rows: u64 = rows.iter().filter_map(|r| r["rows"].as_u64()).sum();
    Ok(json!({
        "segments": seg.segments.len(),
        "k": k_max,
        "rows": total_rows,
        "generated": rows,
        "manifest": plan,
    }))
}
