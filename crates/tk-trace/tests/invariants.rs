//! Architecture invariants of the stack, checked on the manifests.

fn dependencies(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            deps.push(name.trim().to_string());
        }
    }
    deps
}

#[test]
fn tk_trace_does_not_depend_on_halo2_or_the_circuit() {
    let deps = dependencies(include_str!("../Cargo.toml"));
    assert!(
        deps.iter()
            .all(|d| !d.contains("halo2") && d != "tk-circuit"),
        "{deps:?}"
    );
}

#[test]
fn tk_runtime_depends_only_on_crates_to_its_left() {
    let deps = dependencies(include_str!("../../tk-runtime/Cargo.toml"));
    assert!(
        deps.iter()
            .all(|d| !matches!(d.as_str(), "tk-trace" | "tk-circuit" | "tk-cli")),
        "{deps:?}"
    );
    assert!(deps.iter().all(|d| !d.contains("halo2")), "{deps:?}");
}
