//! `.npy` decoding of arbitrary bytes must return a tensor or an error, never panic or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tk_ir::npy::decode_npy(data);
});
