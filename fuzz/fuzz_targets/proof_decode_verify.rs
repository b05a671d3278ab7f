//! Proof files: decoding, public-value checks and verification of arbitrary bytes must return
//! a value or an error, never panic or abort. The context is a tiny model with real
//! (development) keys and a genuine proof (seeds from `scripts/fuzz_seeds.sh`).
//!
//! Oracle (soundness): a proof that verifies attests the integer standard's outputs, so its
//! public outputs must be the runtime's outputs on its public inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tk_circuit::proof_file::ProofFile;

fuzz_target!(|data: &[u8]| {
    let ctx = tk_fuzz::tiny();
    let Ok(file) = ProofFile::from_bytes(data) else {
        return;
    };
    let Ok(instance) = tk_circuit::public_instance(&ctx.model, &file.inputs, &file.outputs) else {
        return;
    };
    if tk_circuit::prover::verify(&ctx.params, &ctx.vk, &instance, &file.proof).is_ok() {
        let runtime = tk_runtime::Runtime::new(&ctx.model).expect("the context model");
        let outputs = runtime.run(&file.inputs).expect("in-range inputs run");
        assert_eq!(outputs, file.outputs, "a proof of wrong outputs verifies");
    }
});
