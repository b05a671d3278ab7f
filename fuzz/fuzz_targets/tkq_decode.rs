//! `.tkq` decoding of arbitrary bytes must return a model or an error, never panic or abort.
//!
//! A model that decodes has passed `QModel::validate`, which promises that an interpreter
//! following the integer standard cannot index out of bounds, divide by zero or overflow.
//! Small models are therefore also run, as oracles of that promise:
//! - the runtime and the spec's reference interpreter must both succeed and agree bit for bit;
//! - the runtime's own trace of that run must pass the trace checker.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tk_quant::QTensor;
use tk_trace::{ModelDigest, TraceReader, check, write_trace};

/// Largest model (elements summed over all node outputs) that is also executed.
const RUN_LIMIT: usize = 1 << 14;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = tk_quant::file::from_bytes(data) else {
        return;
    };
    let nodes = &model.graph.nodes;
    let total: usize = nodes
        .iter()
        .map(|n| n.shape.iter().product::<usize>())
        .sum();
    // Weights bound the work per output element; skip models that would run for long.
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
    let inputs: Vec<QTensor> = model
        .graph
        .inputs
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let n = &nodes[id];
            let len = n.shape.iter().product();
            QTensor::new(
                n.shape.clone(),
                tk_fuzz::values(len, n.lo(), n.hi(), i as u64 + data.len() as u64),
            )
            .expect("volume of a validated shape")
        })
        .collect();
    let runtime =
        tk_runtime::Runtime::new(&model).expect("a validated model is accepted by the runtime");
    let ours = runtime.run(&inputs);
    let reference = tk_quant::reference::run(&model, &inputs);
    match (&ours, &reference) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "runtime and reference interpreter disagree"),
        // Both may refuse the same input (an accumulator beyond the standard's bound).
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
});
