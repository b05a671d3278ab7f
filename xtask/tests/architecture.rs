//! Architecture invariants, checked on every `cargo test`.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The strict stack: each library crate may depend only on crates to its left.
const STACK: [&str; 5] = ["tk-ir", "tk-quant", "tk-runtime", "tk-trace", "tk-circuit"];

fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut deps = BTreeMap::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap().to_string();
        let names = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null()) // normal dependencies only
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        deps.insert(name, names);
    }
    deps
}

#[test]
fn library_crates_depend_only_on_crates_to_their_left() {
    let deps = workspace_dependencies();
    for (position, krate) in STACK.iter().enumerate() {
        let own = deps
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for dep in own.iter().filter(|d| d.starts_with("tk-")) {
            let dep_position = STACK.iter().position(|s| s == dep);
            assert!(
                matches!(dep_position, Some(p) if p < position),
                "{krate} depends on {dep}, which is not to its left in {STACK:?}"
            );
        }
    }
}

#[test]
fn only_the_circuit_crate_depends_on_halo2_and_only_the_ir_on_tract() {
    let deps = workspace_dependencies();
    for (krate, own) in &deps {
        if own.iter().any(|d| d.starts_with("halo2")) {
            assert!(
                ["tk-circuit", "tk-cli", "tk-benches", "xtask"].contains(&krate.as_str()),
                "{krate} depends on halo2"
            );
        }
        if own.iter().any(|d| d.starts_with("tract")) {
            assert!(
                ["tk-ir", "tk-benches"].contains(&krate.as_str()),
                "{krate} depends on tract"
            );
        }
    }
}

#[test]
fn anyhow_only_in_binaries() {
    let deps = workspace_dependencies();
    for krate in STACK {
        assert!(
            !deps[krate].iter().any(|d| d == "anyhow"),
            "{krate} uses anyhow: libraries use thiserror"
        );
    }
}

/// Integer-only crates: no floating-point type may appear in their sources.
#[test]
fn runtime_and_circuit_have_no_floating_point() {
    for krate in ["tk-runtime", "tk-circuit"] {
        let dir = root().join("crates").join(krate).join("src");
        for entry in walk(&dir) {
            let text = std::fs::read_to_string(&entry).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for float in ["f32", "f64"] {
                    let found = code.match_indices(float).any(|(i, _)| {
                        !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                            && !code[i + 3..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    assert!(
                        !found,
                        "{}:{}: floating point in an integer-only crate: {line}",
                        entry.display(),
                        n + 1
                    );
                }
            }
        }
    }
}

#[test]
fn architecture_doc_names_every_crate() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    for krate in STACK.iter().chain(&["tk-cli", "xtask"]) {
        assert!(
            doc.contains(&format!("`{krate}`")),
            "docs/ARCHITECTURE.md does not describe {krate}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}
