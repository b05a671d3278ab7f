//! The `tkq_decode` and `tkt_read_and_check` fuzz targets on stable Rust (what CI runs instead
//! of `cargo fuzz`, which needs nightly): each target's decode path and oracles, as in
//! `fuzz/fuzz_targets/`, on every seed and on deterministic mutations of each
//! (`TK_FUZZ_REPLAY_ROUNDS` per seed). Seeds are real files: the op models of `models/ops/`
//! and the digits MLP, quantized in-process as `tk quantize` does, and their traces. A local
//! `fuzz/corpus/<target>/`, when there is one, is replayed as is.

mod common;
#[path = "../../tk-ir/tests/common/mutate.rs"]
mod mutate;

use std::path::{Path, PathBuf};

use common::pseudo;
use mutate::Mutator;
use tk_quant::{QModel, QTensor};
use tk_runtime::Runtime;
use tk_trace::{Frame, ModelDigest, TraceReader, check, write_trace};

/// Largest model (elements summed over all node outputs) that `tkq_decode` also runs.
const RUN_LIMIT: usize = 1 << 14;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Deterministic inputs in each input node's range.
fn inputs_for(model: &QModel, salt: u64) -> Vec<QTensor> {
    let nodes = &model.graph.nodes;
    model
        .graph
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let n = &nodes[id];
            let len = n.shape.iter().product();
            QTensor::new(
                n.shape.clone(),
                pseudo(salt + i as u64, len, n.lo(), n.hi()),
            )
            .expect("volume of a validated shape")
        })
        .collect()
}

/// The body of `fuzz/fuzz_targets/tkq_decode.rs`. A model that decodes has passed
/// `QModel::validate`; if it is small, the runtime and the reference interpreter must agree on
/// it, and the runtime's own trace of the run must pass the checker.
fn tkq_decode(data: &[u8]) {
    let Ok(model) = tk_quant::file::from_bytes(data) else {
        return;
    };
    let nodes = &model.graph.nodes;
    let total: usize = nodes
        .iter()
        .map(|n| n.shape.iter().product::<usize>())
        .sum();
    let weights: usize = nodes
        .iter()
        .map(|n| match &n.op {
            tk_quant::ops::QOp::Conv(c) => c.weight.data.len(),
            tk_quant::ops::QOp::Gemm(g) => g.weight.data.len(),
            _ => 1,
        })
        .sum();
    if total > RUN_LIMIT || total.saturating_mul(weights) > 1 << 24 {
        return;
    }
    let inputs = inputs_for(&model, data.len() as u64);
    let runtime = Runtime::new(&model).expect("a validated model is accepted by the runtime");
    let ours = runtime.run(&inputs);
    let reference = tk_quant::reference::run(&model, &inputs);
    match (&ours, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "runtime and reference interpreter disagree"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("runtime {a:?} but reference {b:?}"),
    }
    if ours.is_err() {
        return;
    }
    let digest = ModelDigest::of_bytes(data);
    let (_, trace) =
        write_trace(&model, &digest, &inputs, Vec::new()).expect("trace of a run that succeeded");
    let reader = TraceReader::new(trace.as_slice()).expect("our own trace header");
    check(reader, &model, &digest).expect("the runtime's own trace passes the checker");
    // The writer assembles frames from prepared bytes; they must be exactly `rmp_serde`'s
    // named encoding of the frames they decode to.
    assert!(
        common::encode(&common::decode(&trace)) == trace,
        "the writer's frames differ from rmp_serde's encoding of the same frames"
    );
}

/// A model and its digest: what a trace is checked against.
struct Context {
    name: String,
    model: QModel,
    digest: ModelDigest,
    trace: Vec<u8>,
}

/// The body of `fuzz/fuzz_targets/tkt_read_and_check.rs` without its circuit oracles (tk-circuit
/// sits to the right of tk-trace): reading and checking never panic, and a trace the checker
/// accepts records the runtime's outputs on its recorded inputs.
fn tkt_read_and_check(bytes: &[u8], ctx: &Context) {
    if let Ok(reader) = TraceReader::new(bytes) {
        for frame in reader {
            if frame.is_err() {
                break;
            }
        }
    }
    let accepted = TraceReader::new(bytes).is_ok_and(|r| check(r, &ctx.model, &ctx.digest).is_ok());
    if !accepted {
        return;
    }
    let frames: Vec<Frame> = TraceReader::new(bytes)
        .unwrap()
        .collect::<Result<_, _>>()
        .expect("an accepted trace reads");
    let mut inputs: Vec<(u64, QTensor)> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Input(i) => Some((i.input, i.tensor.to_qtensor().expect("input tensor"))),
            Frame::Record(_) => None,
        })
        .collect();
    inputs.sort_by_key(|(k, _)| *k);
    let inputs: Vec<QTensor> = inputs.into_iter().map(|(_, t)| t).collect();
    let recorded: Vec<QTensor> = ctx
        .model
        .graph
        .outputs
        .iter()
        .map(|&id| {
            frames
                .iter()
                .find_map(|f| match f {
                    Frame::Record(r) if r.node == id as u64 => r.output.to_qtensor(),
                    _ => None,
                })
                .expect("an accepted trace records every output")
        })
        .collect();
    let outputs = Runtime::new(&ctx.model)
        .unwrap()
        .run(&inputs)
        .expect("accepted inputs run");
    assert_eq!(
        outputs, recorded,
        "{}: accepted trace with wrong outputs",
        ctx.name
    );
}

/// If `bytes` is a trace whose last frame ends in a 64-digit digest string, a copy with that
/// digest recomputed (as the fuzz target does), so mutated records reach the footer checks.
fn fix_digest(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut off = 12usize;
    let mut last = None;
    while off < bytes.len() {
        let len = u32::from_le_bytes(bytes.get(off..off + 4)?.try_into().ok()?) as usize;
        let end = off.checked_add(4)?.checked_add(len)?;
        if end > bytes.len() {
            return None;
        }
        last = Some((off, end));
        off = end;
    }
    let (start, end) = last?;
    let hex_at = end.checked_sub(64)?;
    if hex_at < start + 6 || bytes.get(hex_at - 2..hex_at)? != [0xd9, 0x40] {
        return None;
    }
    let digest = ModelDigest::of_bytes(&bytes[..start]).to_hex();
    let mut fixed = bytes.to_vec();
    fixed[hex_at..end].copy_from_slice(digest.as_bytes());
    (fixed != bytes).then_some(fixed)
}

/// The op models of `models/ops/` and the digits MLP, quantized on their own sample input, with
/// a trace of that input.
fn contexts() -> Vec<Context> {
    let ops = root().join("models/ops");
    let mut pairs: Vec<(String, PathBuf, PathBuf)> = std::fs::read_dir(&ops)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_string();
            let input = ops.join(format!("{stem}.input.npy"));
            input.exists().then_some((stem, p, input))
        })
        .collect();
    pairs.sort();
    pairs.push((
        "digits_mlp".into(),
        root().join("models/digits_mlp.onnx"),
        root().join("models/digits/calib_x_flat.npy"),
    ));
    let mut out = Vec::new();
    for (name, onnx, input) in pairs {
        let Ok(imported) = tk_ir::onnx::import_onnx(&onnx, &Default::default()) else {
            continue;
        };
        let calib = tk_ir::npy::read_npy(&input).unwrap();
        let Ok(q) = tk_quant::quantize(&imported.graph, &[calib], &Default::default()) else {
            continue;
        };
        let model = q.model;
        let tkq = tk_quant::file::to_bytes(&model).unwrap();
        let digest = ModelDigest::of_bytes(&tkq);
        let inputs = inputs_for(&model, 7);
        let Ok((_, trace)) = write_trace(&model, &digest, &inputs, Vec::new()) else {
            continue;
        };
        out.push(Context {
            name,
            model,
            digest,
            trace,
        });
    }
    out
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    mutate::files(&root().join("fuzz/corpus").join(target), 5000, 1 << 16)
}

#[test]
fn tkq_decode_replay() {
    let contexts = contexts();
    assert!(
        contexts.len() >= 30,
        "only {} models quantized",
        contexts.len()
    );
    let seeds: Vec<(String, Vec<u8>)> = contexts
        .iter()
        .map(|c| (c.name.clone(), tk_quant::file::to_bytes(&c.model).unwrap()))
        .collect();
    for (name, data) in &seeds {
        tk_quant::file::from_bytes(data).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (_, data) in seeds.iter().chain(&corpus("tkq_decode")) {
        tkq_decode(data);
    }
    let others: Vec<&[u8]> = seeds.iter().map(|(_, d)| d.as_slice()).collect();
    let rounds = mutate::rounds(mutate::DEFAULT_ROUNDS);
    for (name, data) in &seeds {
        let mut m = Mutator::new(name, 1);
        for _ in 0..rounds {
            tkq_decode(&m.mutate(data, &others));
        }
    }
}

#[test]
fn tkt_read_and_check_replay() {
    let contexts = contexts();
    let others: Vec<&[u8]> = contexts.iter().map(|c| c.trace.as_slice()).collect();
    let digits = contexts.last().expect("the digits MLP");
    assert_eq!(digits.name, "digits_mlp");
    for (_, data) in corpus("tkt_read_and_check") {
        tkt_read_and_check(&data, digits);
    }
    let rounds = mutate::rounds(mutate::DEFAULT_ROUNDS);
    let mut accepted_mutants = 0;
    for ctx in &contexts {
        check(
            TraceReader::new(ctx.trace.as_slice()).unwrap(),
            &ctx.model,
            &ctx.digest,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", ctx.name));
        tkt_read_and_check(&ctx.trace, ctx);
        let mut m = Mutator::new(&ctx.name, 2);
        for _ in 0..rounds {
            let b = m.mutate(&ctx.trace, &others);
            tkt_read_and_check(&b, ctx);
            if let Some(fixed) = fix_digest(&b) {
                tkt_read_and_check(&fixed, ctx);
                accepted_mutants += usize::from(
                    TraceReader::new(fixed.as_slice())
                        .is_ok_and(|r| check(r, &ctx.model, &ctx.digest).is_ok()),
                );
            }
        }
    }
    // Some mutations (a producer string, a scale) keep a valid trace; most do not.
    assert!(
        accepted_mutants < contexts.len() * rounds / 2,
        "{accepted_mutants} mutants accepted"
    );
}
