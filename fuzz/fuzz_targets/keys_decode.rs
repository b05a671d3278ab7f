//! Key files: decoding arbitrary bytes as a verifying or proving key must return a key or an
//! error, never panic, abort or allocate without bound. A verifying key that decodes is used
//! to verify the tiny model's genuine proof (the result may be either; it must not crash).
//! Seeds are the tiny model's real keys (`scripts/fuzz_seeds.sh`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tk_circuit::keys::{ModelPk, ModelVk};

fuzz_target!(|data: &[u8]| {
    let ctx = tk_fuzz::tiny();
    if let Ok(vk) = ModelVk::from_bytes(data) {
        let proof = &ctx.proof;
        if let Ok(instance) = tk_circuit::public_instance(&ctx.model, &proof.inputs, &proof.outputs)
        {
            let _ = tk_circuit::prover::verify(&ctx.params, &vk, &instance, &proof.proof);
        }
    }
    let _ = ModelPk::from_bytes(data);
});
