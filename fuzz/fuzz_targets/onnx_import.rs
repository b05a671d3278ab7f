//! ONNX import of arbitrary bytes must return a value or an error, never panic or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Largest tensor (elements) of a model that is also evaluated. The import limits allow 2^31
/// elements per tensor (a model is a program; see docs/SECURITY.md); evaluating such models
/// here would only measure the fuzzer's memory limit.
const EVAL_LIMIT: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let options = tk_ir::onnx::ImportOptions::default();
    let Ok(model) = tk_ir::onnx::import_onnx_bytes(data, &options) else {
        return;
    };
    let small = model
        .graph
        .nodes()
        .iter()
        .all(|n| n.fact.volume().is_ok_and(|v| v <= EVAL_LIMIT));
    if !small {
        return;
    }
    // A model that imports must also evaluate or fail cleanly.
    let inputs: Vec<tk_ir::Tensor> = model
        .graph
        .inputs()
        .iter()
        .filter_map(|o| model.graph.fact(*o))
        .filter_map(|f| {
            let n = f.volume().ok()?;
            match f.dtype {
                tk_ir::DType::F32 => tk_ir::Tensor::from_f32(&f.shape, vec![0.5; n]).ok(),
                tk_ir::DType::I64 => tk_ir::Tensor::from_i64(&f.shape, vec![1; n]).ok(),
            }
        })
        .collect();
    if inputs.len() == model.graph.inputs().len() {
        let _ = tk_ir::eval::eval(&model.graph, &inputs);
    }
});
