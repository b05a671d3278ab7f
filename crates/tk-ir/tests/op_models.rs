//! Every model of `models/ops/MANIFEST.json`: import, evaluate, compare with the onnxruntime
//! output stored next to it, and with tract as a second opinion.

mod common;

use std::path::Path;

use common::{compare, tract_eval, workspace_root};
use tk_ir::onnx::{ImportOptions, import_onnx};

#[derive(serde::Deserialize)]
struct Manifest {
    directory: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    files: Files,
}

#[derive(serde::Deserialize)]
struct Files {
    onnx: String,
    input: String,
    output: String,
}

fn run_case(dir: &Path, case: &Case) -> Result<String, String> {
    let model_path = dir.join(&case.files.onnx);
    let model =
        import_onnx(&model_path, &ImportOptions::default()).map_err(|e| format!("import: {e}"))?;
    let input = tk_ir::npy::read_npy(&dir.join(&case.files.input)).map_err(|e| e.to_string())?;
    let expected =
        tk_ir::npy::read_npy(&dir.join(&case.files.output)).map_err(|e| e.to_string())?;
    let got = tk_ir::eval::eval(&model.graph, std::slice::from_ref(&input))
        .map_err(|e| format!("eval: {e}"))?;
    let got = got.first().ok_or("no output")?;
    let err = compare(got, &expected).map_err(|e| format!("vs onnxruntime: {e}"))?;
    // tract is a second opinion: a model it cannot load is noted, a disagreement fails.
    let tract = match tract_eval(&model_path, std::slice::from_ref(&input)) {
        Ok(outputs) => {
            let first = outputs.first().ok_or("tract: no output")?;
            let e = compare(got, first).map_err(|e| format!("vs tract: {e}"))?;
            format!("{e:.2e} (tract)")
        }
        Err(e) => format!(
            "tract cannot run it: {}",
            e.lines().next().unwrap_or_default()
        ),
    };
    Ok(format!("max err {err:.2e} (onnxruntime), {tract}"))
}

#[test]
fn op_models_match_onnxruntime_and_tract() {
    let root = workspace_root();
    let manifest_path = root.join("models/ops/MANIFEST.json");
    let text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest_path.display()));
    let manifest: Manifest = serde_json::from_str(&text).expect("valid manifest");
    let dir = root.join(&manifest.directory);
    let mut failures = Vec::new();
    for case in &manifest.cases {
        match run_case(&dir, case) {
            Ok(summary) => println!("ok   {:<28} {summary}", case.name),
            Err(e) => {
                println!("FAIL {:<28} {e}", case.name);
                failures.push(format!("{}: {e}", case.name));
            }
        }
    }
    println!(
        "op models: {}/{} pass",
        manifest.cases.len() - failures.len(),
        manifest.cases.len()
    );
    assert!(
        failures.is_empty(),
        "failing op models:\n{}",
        failures.join("\n")
    );
}
