//! The ONNX backend node tests (`/usr/share/libonnx-testdata/data/node`, Debian package
//! `libonnx-testdata`) for every op tachikoma imports.
//!
//! Selection and scope rules:
//! 1. A test is *selected* when every node of its model is in the default domain and has a
//!    converter in [`tk_ir::onnx::OpRegistry::with_all_ops`].
//! 2. Graph inputs: the first is fed at run time and every other one is passed as a
//!    `fixed_input` (a constant), the way weights, shapes and axes reach real models. When every
//!    node is a fold-only op (`Constant`, `Shape`, `Cast`, `ConstantOfShape`, `Range`), all
//!    inputs are fixed so that the import-time folding is what gets tested.
//! 3. A selected test is *out of scope* when (a) a graph input or output has a type the float
//!    IR does not represent (strings, 16-bit floats, sequences, optionals: see
//!    [`tk_ir::onnx::dtype_of`]), or (b) the importer refuses it with `IrError::Unsupported`,
//!    which names a documented feature outside the subset (3-D windows, non-nearest resize,
//!    training mode, integer arithmetic at run time, ...). Out-of-scope tests are listed with
//!    their reason.
//! 4. Every other selected test is *in scope* and must match every expected output within
//!    `1e-4 * (1 + max |expected|)`.
//!
//! `tests/conformance_pass.txt` lists the tests known to pass; the test fails when one of them
//! stops passing. Regenerate it with `TK_UPDATE_CONFORMANCE=1 cargo test -p tk-ir --test
//! conformance`. Run with `-- --nocapture` to see the pass rate and the failing tests.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::compare;
use tk_ir::onnx::{
    ImportOptions, OpRegistry, decode_model, decode_tensor_proto, dtype_of, import_model_proto,
};
use tk_ir::{IrError, Tensor};
use tract_onnx::pb;

const DATA_DIR: &str = "/usr/share/libonnx-testdata/data/node";
const FOLD_ONLY: [&str; 5] = ["Constant", "Shape", "Cast", "ConstantOfShape", "Range"];

enum Outcome {
    Pass,
    Fail(String),
    OutOfScope(String),
}

fn read_tensors(dir: &Path, prefix: &str) -> Result<Vec<Tensor>, String> {
    let mut out = Vec::new();
    for i in 0.. {
        let path = dir.join(format!("{prefix}_{i}.pb"));
        if !path.exists() {
            break;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(decode_tensor_proto(&bytes).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    Ok(out)
}

fn unrepresentable(vi: &pb::ValueInfoProto) -> Option<String> {
    use pb::type_proto::Value;
    match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(Value::TensorType(t)) if dtype_of(t.elem_type).is_some() => None,
        Some(Value::TensorType(t)) => Some(format!(
            "{} has type {}",
            vi.name,
            tk_ir::onnx::elem_type_name(t.elem_type)
        )),
        None => Some(format!("{} is not a tensor", vi.name)),
    }
}

fn run_test(dir: &Path, model: &pb::ModelProto) -> Outcome {
    let Some(graph) = model.graph.as_ref() else {
        return Outcome::Fail("no graph".into());
    };
    if let Some(reason) = graph
        .input
        .iter()
        .chain(&graph.output)
        .find_map(unrepresentable)
    {
        return Outcome::OutOfScope(format!("tensor type: {reason}"));
    }
    let initializers: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !initializers.contains(n))
        .collect();
    let fold_only = graph
        .node
        .iter()
        .all(|n| FOLD_ONLY.contains(&n.op_type.as_str()));
    let mut data_sets: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set"))
            })
            .collect(),
        Err(e) => return Outcome::Fail(e.to_string()),
    };
    data_sets.sort();
    if data_sets.is_empty() {
        return Outcome::Fail("no test_data_set".into());
    }
    for set in &data_sets {
        let (values, expected) = match (read_tensors(set, "input"), read_tensors(set, "output")) {
            (Ok(v), Ok(e)) => (v, e),
            (Err(e), _) | (_, Err(e)) => return Outcome::Fail(e),
        };
        if values.len() != inputs.len() {
            return Outcome::Fail(format!(
                "{} inputs given, model has {}",
                values.len(),
                inputs.len()
            ));
        }
        let fed = if fold_only { 0 } else { inputs.len().min(1) };
        let options = ImportOptions {
            input_shapes: inputs
                .iter()
                .zip(&values)
                .take(fed)
                .map(|(n, v)| (n.to_string(), v.shape().to_vec()))
                .collect(),
            fixed_inputs: inputs
                .iter()
                .zip(&values)
                .skip(fed)
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        };
        let imported = match import_model_proto(model, &options, &dir.display().to_string()) {
            Ok(m) => m,
            Err(IrError::Unsupported { op, feature, .. }) => {
                return Outcome::OutOfScope(format!("{op}: {feature}"));
            }
            Err(e) => return Outcome::Fail(format!("import: {e}")),
        };
        let got = match tk_ir::eval::eval(&imported.graph, &values[..fed]) {
            Ok(g) => g,
            Err(e) => return Outcome::Fail(format!("eval: {e}")),
        };
        if got.len() != expected.len() {
            return Outcome::Fail(format!(
                "{} outputs, expected {}",
                got.len(),
                expected.len()
            ));
        }
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            if let Err(why) = compare(g, e) {
                return Outcome::Fail(format!("output {k}: {why}"));
            }
        }
    }
    Outcome::Pass
}

#[test]
fn onnx_node_conformance() {
    let data = Path::new(DATA_DIR);
    assert!(
        data.is_dir(),
        "ONNX conformance data not found at {DATA_DIR}: install it with `apt-get install libonnx-testdata`"
    );
    let registry = OpRegistry::with_all_ops();
    let supported: BTreeSet<&str> = registry.op_types().collect();
    let mut names: Vec<PathBuf> = std::fs::read_dir(data)
        .expect("readable data directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    names.sort();

    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    for dir in &names {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = match std::fs::read(dir.join("model.onnx")) {
            Ok(b) => b,
            Err(_) => continue,
        };
        let Ok(model) = decode_model(&bytes, &name) else {
            continue;
        };
        let selected = model.graph.as_ref().is_some_and(|g| {
            g.node.iter().all(|n| {
                (n.domain.is_empty() || n.domain == "ai.onnx")
                    && supported.contains(n.op_type.as_str())
            })
        });
        if selected {
            outcomes.insert(name, run_test(dir, &model));
        }
    }

    let passing: BTreeSet<&str> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Pass))
        .map(|(n, _)| n.as_str())
        .collect();
    let in_scope = outcomes
        .values()
        .filter(|o| !matches!(o, Outcome::OutOfScope(_)))
        .count();
    println!(
        "selected {} of {} node tests (all ops supported)",
        outcomes.len(),
        names.len()
    );
    println!("out of scope:");
    for (name, o) in &outcomes {
        if let Outcome::OutOfScope(why) = o {
            println!("  {name}: {why}");
        }
    }
    println!("failing in-scope tests:");
    for (name, o) in &outcomes {
        if let Outcome::Fail(why) = o {
            println!("  {name}: {why}");
        }
    }
    let pct = if in_scope == 0 {
        0.0
    } else {
        100.0 * passing.len() as f64 / in_scope as f64
    };
    println!(
        "conformance: {}/{in_scope} in-scope node tests pass ({pct:.1}%)",
        passing.len()
    );

    let list_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance_pass.txt");
    if std::env::var_os("TK_UPDATE_CONFORMANCE").is_some() {
        let text: String = passing.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(&list_path, text).expect("write pass list");
        println!("wrote {}", list_path.display());
        return;
    }
    let listed = std::fs::read_to_string(&list_path).unwrap_or_default();
    let listed: BTreeSet<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let newly: Vec<&&str> = passing.difference(&listed).collect();
    if !newly.is_empty() {
        println!("passing but not in conformance_pass.txt (add them): {newly:?}");
    }
    let regressed: Vec<String> = listed
        .iter()
        .filter(|n| !passing.contains(*n))
        .map(|n| match outcomes.get(*n) {
            Some(Outcome::Fail(why)) => format!("{n}: {why}"),
            Some(Outcome::OutOfScope(why)) => format!("{n}: now out of scope: {why}"),
            _ => format!("{n}: no longer selected"),
        })
        .collect();
    assert!(
        regressed.is_empty(),
        "tests in conformance_pass.txt no longer pass:\n{}",
        regressed.join("\n")
    );
}
