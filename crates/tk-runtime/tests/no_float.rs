//! Architecture invariant: tk-runtime never touches floats.

use std::fs;
use std::path::Path;

fn visit(dir: &Path, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            visit(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                // Split the needles so this file does not match itself.
                if [concat!("f", "32"), concat!("f", "64")]
                    .iter()
                    .any(|t| line.contains(t))
                {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
}

#[test]
fn runtime_sources_contain_no_float_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    visit(&root.join("src"), &mut found);
    visit(&root.join("tests"), &mut found);
    assert!(
        found.is_empty(),
        "float types in tk-runtime:\n{}",
        found.join("\n")
    );
}
