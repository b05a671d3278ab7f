//! The `onnx_import` and `npy_read` fuzz targets on stable Rust (what CI runs instead of
//! `cargo fuzz`, which needs nightly): each target's body, as in `fuzz/fuzz_targets/`, on every
//! seed and on deterministic mutations of each (`TK_FUZZ_REPLAY_ROUNDS` per seed). The seeds are
//! the small models and `.npy` files in `models/`; a local `fuzz/corpus/<target>/`, when there
//! is one, is replayed as is. Inputs that once crashed a target are tests in `hostile.rs`.

mod common;

use std::path::Path;

use common::mutate::{self, Mutator};
use common::workspace_root;
use tk_ir::npy::decode_npy;
use tk_ir::onnx::{ImportOptions, import_onnx_bytes};
use tk_ir::{DType, Tensor};

/// Largest tensor (elements) of a model that is also evaluated, as in the fuzz target.
const EVAL_LIMIT: usize = 1 << 16;

/// The body of `fuzz/fuzz_targets/onnx_import.rs`: import, and evaluate a small model on
/// constant inputs. Either may fail; neither may panic. Returns whether the model imports.
fn onnx_import(data: &[u8]) -> bool {
    let Ok(model) = import_onnx_bytes(data, &ImportOptions::default()) else {
        return false;
    };
    let small = model
        .graph
        .nodes()
        .iter()
        .all(|n| n.fact.volume().is_ok_and(|v| v <= EVAL_LIMIT));
    if !small {
        return true;
    }
    let inputs: Vec<Tensor> = model
        .graph
        .inputs()
        .iter()
        .filter_map(|o| model.graph.fact(*o))
        .filter_map(|f| {
            let n = f.volume().ok()?;
            match f.dtype {
                DType::F32 => Tensor::from_f32(&f.shape, vec![0.5; n]).ok(),
                DType::I64 => Tensor::from_i64(&f.shape, vec![1; n]).ok(),
            }
        })
        .collect();
    if inputs.len() == model.graph.inputs().len() {
        let _ = tk_ir::eval::eval(&model.graph, &inputs);
    }
    true
}

/// The body of `fuzz/fuzz_targets/npy_read.rs`; a tensor that decodes respects the limits.
/// Returns whether the bytes decode.
fn npy_read(data: &[u8]) -> bool {
    let Ok(t) = decode_npy(data) else {
        return false;
    };
    assert!(t.shape().len() <= tk_ir::limits::MAX_RANK);
    assert!(t.shape().iter().product::<usize>() <= tk_ir::limits::MAX_TENSOR_ELEMENTS);
    true
}

/// Files under `dir` whose name ends in `ext`, at most `max_bytes` each, sorted.
fn seeds(dir: &Path, ext: &str, max_bytes: u64) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext)
                && entry.metadata().unwrap().len() <= max_bytes
            {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Runs `body` on every seed, on the local corpus, and on `rounds` mutations of each seed;
/// returns how many mutants `body` accepts and how many were tried.
fn replay(
    target: &str,
    seeds: &[(String, Vec<u8>)],
    rounds: usize,
    body: fn(&[u8]) -> bool,
) -> (usize, usize) {
    let corpus = mutate::files(
        &workspace_root().join("fuzz/corpus").join(target),
        5000,
        1 << 16,
    );
    for (_, data) in seeds.iter().chain(&corpus) {
        body(data);
    }
    let others: Vec<&[u8]> = seeds.iter().map(|(_, d)| d.as_slice()).collect();
    let (mut accepted, mut tried) = (0, 0);
    for (name, data) in seeds {
        let mut m = Mutator::new(name, 0);
        for _ in 0..rounds {
            accepted += usize::from(body(&m.mutate(data, &others)));
            tried += 1;
        }
    }
    (accepted, tried)
}

#[test]
fn onnx_import_replay() {
    let root = workspace_root().join("models");
    let mut seeds = seeds(&root.join("ops"), "onnx", 4096);
    seeds.extend(seeds_named(&root, &["digits_mlp.onnx", "digits_cnn.onnx"]));
    assert!(seeds.len() >= 40, "only {} ONNX seeds", seeds.len());
    let (imported, tried) = replay("onnx_import", &seeds, mutate::rounds(1000), onnx_import);
    // Mutations of names and weights keep a valid model; most others do not.
    assert!(
        imported > 0 && imported < tried / 2,
        "{imported} of {tried} mutants import"
    );
}

fn seeds_named(dir: &Path, names: &[&str]) -> Vec<(String, Vec<u8>)> {
    names
        .iter()
        .map(|n| (n.to_string(), std::fs::read(dir.join(n)).unwrap()))
        .collect()
}

/// Version 2 of a version 1 `.npy` file (a `u32` header length; two padding spaces fewer, so
/// the data stays aligned).
fn npy_v2(v1: &[u8]) -> Vec<u8> {
    let len = usize::from(u16::from_le_bytes([v1[8], v1[9]]));
    let header = &v1[10..10 + len];
    assert!(header.ends_with(b"  \n"), "padded header");
    let mut out = b"\x93NUMPY\x02\x00".to_vec();
    out.extend(((len - 2) as u32).to_le_bytes());
    out.extend(&header[..len - 3]);
    out.push(b'\n');
    out.extend(&v1[10 + len..]);
    out
}

#[test]
fn npy_read_replay() {
    let all = seeds(&workspace_root().join("models"), "npy", 4096);
    // Decoding is slow in debug builds (the header is parsed as a Python literal): mutate the
    // smallest file of each dtype and rank, and a version 2 copy of one; replay all as is.
    let mut picked: Vec<(String, Vec<u8>)> = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    let mut by_size: Vec<&(String, Vec<u8>)> = all.iter().collect();
    by_size.sort_by_key(|(name, d)| (d.len(), name.clone()));
    for (name, data) in by_size {
        let t = decode_npy(data).unwrap_or_else(|e| panic!("{name}: {e}"));
        if kinds.insert((t.dtype(), t.shape().len())) {
            picked.push((name.clone(), data.clone()));
        }
    }
    assert!(
        picked.len() >= 4,
        "only {} kinds of .npy seeds",
        picked.len()
    );
    picked.push(("v2".into(), npy_v2(&picked[0].1)));
    decode_npy(&picked.last().unwrap().1).expect("the version 2 seed");
    for (_, data) in &all {
        npy_read(data);
    }
    let (decoded, tried) = replay("npy_read", &picked, mutate::rounds(1000), npy_read);
    assert!(
        decoded > 0 && decoded < tried / 2,
        "{decoded} of {tried} mutants decode"
    );
}
