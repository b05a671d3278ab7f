//! The worked example of `docs/spec/trace-format.md` stays in sync with the writer.

use tk_quant::ops::{Clip, Input, QOp};
use tk_quant::{INTEGER_SPEC_VERSION, NodeScale, QGraph, QModel, QNode, QTensor};
use tk_trace::{ModelDigest, TraceReader, check, write_trace};

fn example() -> (QModel, Vec<u8>) {
    let node = |id, name: &str, op, inputs: Vec<usize>| QNode {
        id,
        name: name.into(),
        ir_node: None,
        op,
        inputs,
        shape: vec![4],
        bits: 8,
    };
    let model = QModel {
        spec_version: INTEGER_SPEC_VERSION,
        producer: "doc".into(),
        source_digest: String::new(),
        graph: QGraph {
            nodes: vec![
                node(0, "x", QOp::Input(Input {}), vec![]),
                node(1, "relu", QOp::Clip(Clip { lo: 0, hi: 127 }), vec![0]),
            ],
            inputs: vec![0],
            outputs: vec![1],
        },
        scales: vec![
            NodeScale {
                node: 0,
                scale: 0.5,
            },
            NodeScale {
                node: 1,
                scale: 0.5,
            },
        ],
    };
    let x = QTensor::new(vec![4], vec![-3, 0, 5, 127]).unwrap();
    let (_, bytes) = write_trace(&model, &ModelDigest::of_bytes(b""), &[x], Vec::new()).unwrap();
    (model, bytes)
}

/// The annotated hex dump the spec shows: preamble, then each frame's length and map.
fn annotated(bytes: &[u8]) -> String {
    let hex = |b: &[u8]| {
        b.chunks(16)
            .map(|c| {
                c.iter()
                    .map(|x| format!("{x:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut out = format!(
        "# preamble: magic \"TKTRACE\\0\", then major version 1 (u32 LE)\n{}\n",
        hex(&bytes[..12])
    );
    let (mut at, mut k) = (12, 0);
    while at < bytes.len() {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let map = rmpv::decode::read_value(&mut &bytes[at + 4..at + 4 + n]).unwrap();
        let kind = map.as_map().unwrap()[0].1.as_str().unwrap().to_string();
        out += &format!(
            "# frame {k} ({kind}): u32 LE length {n}, then the map\n{}\n{}\n",
            hex(&bytes[at..at + 4]),
            hex(&bytes[at + 4..at + 4 + n])
        );
        at += 4 + n;
        k += 1;
    }
    out
}

/// `TK_UPDATE_GOLDEN=1` rewrites the example block of the spec.
#[test]
fn the_spec_hex_dump_is_the_writers_output() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/spec/trace-format.md"
    );
    if std::env::var_os("TK_UPDATE_GOLDEN").is_some() {
        let spec = std::fs::read_to_string(path).unwrap();
        let (head, rest) = spec.split_once("<!-- example-hex-begin -->\n").unwrap();
        let (_, tail) = rest.split_once("<!-- example-hex-end -->").unwrap();
        let block = format!("```text\n{}```\n", annotated(&example().1));
        std::fs::write(
            path,
            format!("{head}<!-- example-hex-begin -->\n{block}<!-- example-hex-end -->{tail}"),
        )
        .unwrap();
    }
    let spec = std::fs::read_to_string(path).unwrap();
    let block = spec
        .split("<!-- example-hex-begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- example-hex-end -->").next())
        .expect("example markers in the spec");
    let documented: Vec<u8> = block
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("```"))
        .flat_map(|l| l.split_whitespace())
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect();
    let (model, bytes) = example();
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        documented,
        bytes,
        "spec example is stale; the trace is now:\n{}",
        hex.join(" ")
    );
    let report = check(
        TraceReader::new(bytes.as_slice()).unwrap(),
        &model,
        &ModelDigest::of_bytes(b""),
    )
    .unwrap();
    assert_eq!(report.records, 1);
}
