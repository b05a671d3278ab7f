//! Golden bytes: the tiny model's trace is fixed. Regenerate with `TK_UPDATE_GOLDEN=1` after
//! an intended format change (and bump the format version if it is incompatible).

mod common;

use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn tiny_trace_matches_the_golden_file() {
    let bytes = common::tiny_trace();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if std::env::var_os("TK_UPDATE_GOLDEN").is_some() {
        std::fs::write(golden("tiny.tkt"), &bytes).unwrap();
        std::fs::write(golden("tiny.tkt.sha256"), format!("{digest}\n")).unwrap();
    }
    let expected = std::fs::read_to_string(golden("tiny.tkt.sha256"))
        .expect("golden digest; run with TK_UPDATE_GOLDEN=1");
    assert_eq!(
        digest,
        expected.trim(),
        "trace bytes changed; TK_UPDATE_GOLDEN=1 regenerates"
    );
    assert_eq!(std::fs::read(golden("tiny.tkt")).unwrap(), bytes);
    // The golden file is a valid trace of its model.
    let reader = tk_trace::TraceReader::new(bytes.as_slice()).unwrap();
    let report = tk_trace::check(reader, &common::tiny_model(), &common::digest()).unwrap();
    assert_eq!(report.records, 4);
}
