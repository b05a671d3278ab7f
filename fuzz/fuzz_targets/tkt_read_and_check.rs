//! `.tkt` reading, checking and witness extraction on arbitrary bytes must return a value or an
//! error, never panic or abort. The context is the digits MLP and its genuine trace (seeds come
//! from `scripts/fuzz_seeds.sh`).
//!
//! Every input is tried as is and, when it ends in a footer, with the footer's digest recomputed,
//! so that mutated records also reach the footer checks and the prover's path
//! (`TraceValues::read`, `ModelCircuit::new`). Oracles:
//! - a trace the checker accepts is read by the prover's path, and its recorded outputs are the
//!   runtime's outputs on its recorded inputs;
//! - the circuit builder, which checks the witness against the integer standard, accepts every
//!   trace the checker accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tk_circuit::{ModelCircuit, PlanOptions, TraceValues};
use tk_fuzz::TraceContext;
use tk_trace::{TraceReader, check};

fn run(bytes: &[u8], ctx: &TraceContext) {
    if let Ok(mut reader) = TraceReader::new(bytes) {
        while let Ok(Some(_)) = reader.next_frame() {}
    }
    let accepted = TraceReader::new(bytes)
        .map(|r| check(r, &ctx.model, &ctx.digest).is_ok())
        .unwrap_or(false);
    let values = TraceReader::new(bytes)
        .ok()
        .and_then(|r| TraceValues::read(r, &ctx.model, &ctx.digest).ok());
    let Some(values) = values else {
        assert!(
            !accepted,
            "the checker accepts a trace the prover cannot read"
        );
        return;
    };
    let circuit = ModelCircuit::new(
        &ctx.model,
        &values.op_witnesses(&ctx.model),
        &PlanOptions::default(),
    );
    if accepted {
        if let Err(e) = circuit {
            panic!("the checker accepts a trace the circuit builder rejects: {e}");
        }
        let runtime = tk_runtime::Runtime::new(&ctx.model).expect("the context model");
        let outputs = runtime
            .run(&values.inputs(&ctx.model))
            .expect("accepted inputs run");
        assert_eq!(
            outputs,
            values.outputs(&ctx.model),
            "accepted trace with wrong outputs"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let ctx = tk_fuzz::digits();
    run(data, ctx);
    if let Some(fixed) = tk_fuzz::fix_trace_digest(data) {
        run(&fixed, ctx);
    }
});
