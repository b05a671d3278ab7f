//! `.npy` decoding of arbitrary bytes must return a tensor or an error, never panic or abort;
//! a tensor that decodes respects the rank and element limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = tk_ir::npy::decode_npy(data) {
        assert!(t.shape().len() <= tk_ir::limits::MAX_RANK);
        assert!(t.shape().iter().product::<usize>() <= tk_ir::limits::MAX_TENSOR_ELEMENTS);
    }
});
