//! Hostile traces: records that reference missing, later or wrong values, records for nodes
//! that do not exist or are not computed, headers with cyclic or dangling edges, huge declared
//! dimensions, lying frame lengths and random corruption. Each ends in an error that names the
//! frame, never a panic or an allocation the file does not pay for.
//!
//! Complements `robustness.rs` (truncations, single-bit flips, limits, tampered values); the
//! `tkt_read_and_check` fuzz target explores the rest.

mod common;

use common::{Decoded, cnn, decode, digest, encode, pseudo, tiny_model, tiny_trace};
use sha2::{Digest, Sha256};
use tk_quant::QTensor;
use tk_trace::{CheckError, Frame, InputRef, Record, TraceError, TraceReader, check, write_trace};

/// Reads every frame with the bare reader.
fn read_all(bytes: &[u8]) -> Result<Vec<Frame>, TraceError> {
    TraceReader::new(bytes)?.collect()
}

fn reader_err(bytes: &[u8]) -> TraceError {
    read_all(bytes).expect_err("the reader accepted a hostile trace")
}

fn check_err(bytes: &[u8]) -> CheckError {
    match TraceReader::new(bytes) {
        Ok(reader) => check(reader, &tiny_model(), &digest())
            .expect_err("the checker accepted a hostile trace"),
        Err(e) => panic!("the header was rejected: {e}"),
    }
}

/// The trace decoded; `frames[0]` is the input frame, `frames[1 + k]` record `k`.
fn frames() -> Decoded {
    decode(&tiny_trace())
}

fn record(d: &mut Decoded, k: usize) -> &mut Record {
    match &mut d.frames[1 + k] {
        Frame::Record(r) => r,
        Frame::Input(_) => panic!("frame {} is not a record", 1 + k),
    }
}

/// Asserts a reader error at record `k`, field `field`.
fn assert_record_err(e: TraceError, k: u64, field: &str) {
    match &e {
        TraceError::Record {
            record, field: f, ..
        } if *record == k && f == field => {}
        _ => panic!("expected an error at record {k} field {field}, got {e:?}"),
    }
}

#[test]
fn references_to_missing_or_later_records_are_rejected() {
    // Record 2 (Reshape) reads record 1. Point it at itself, at a later record and far away.
    for bad in [2, 3, 4, u64::MAX] {
        let mut d = frames();
        record(&mut d, 2).inputs = vec![InputRef::Record(bad)];
        assert_record_err(reader_err(&encode(&d)), 2, "inputs[0]");
        let err = check_err(&encode(&d));
        assert_eq!(
            (err.record, err.field.as_str()),
            (Some(2), "inputs[0]"),
            "{err}"
        );
    }
    // A reference to an input that is read only later in the file.
    let mut d = frames();
    let input = d.frames.remove(0);
    d.frames.insert(1, input);
    assert_record_err(reader_err(&encode(&d)), 0, "inputs[0]");
    // References to model inputs that do not exist.
    for bad in [1, u64::MAX] {
        let mut d = frames();
        record(&mut d, 0).inputs = vec![InputRef::Input(bad)];
        assert_record_err(reader_err(&encode(&d)), 0, "inputs[0]");
    }
    // `const` references to a node that is not a `Const`, or to no node at all.
    for bad in [0, 2, 99, u64::MAX] {
        let mut d = frames();
        record(&mut d, 1).inputs = vec![InputRef::Const(bad)];
        assert_record_err(reader_err(&encode(&d)), 1, "inputs[0]");
    }
    // More or fewer references than the node has inputs.
    let mut d = frames();
    record(&mut d, 1).inputs = vec![InputRef::Record(0), InputRef::Record(0)];
    assert_record_err(reader_err(&encode(&d)), 1, "inputs");
    let mut d = frames();
    record(&mut d, 1).inputs.clear();
    assert_record_err(reader_err(&encode(&d)), 1, "inputs");
}

#[test]
fn records_for_missing_or_uncomputed_nodes_are_rejected() {
    for bad in [5, 99, u64::MAX] {
        let mut d = frames();
        record(&mut d, 1).node = bad;
        assert_record_err(reader_err(&encode(&d)), 1, "node");
    }
    // A record for the Input node: structurally fine, but not the model's next computed node.
    let mut d = frames();
    let header_node = d.header.graph.nodes[0].clone();
    let r = record(&mut d, 0);
    r.node = 0;
    r.op = header_node.op;
    r.onnx_name = header_node.name;
    r.inputs.clear();
    r.params = header_node.params;
    read_all(&encode(&d)).expect("structurally valid");
    let err = check_err(&encode(&d));
    assert_eq!(err.record, Some(0), "{err}");
}

#[test]
fn duplicated_skipped_and_misnumbered_records_are_rejected() {
    // Record 1 repeated (renumbered so the reader's numbering rule passes).
    let mut d = frames();
    let copy = d.frames[2].clone();
    d.frames.insert(3, copy);
    for (k, f) in d.frames.iter_mut().skip(1).enumerate() {
        if let Frame::Record(r) = f {
            r.index = k as u64;
        }
    }
    let err = check_err(&encode(&d));
    assert_eq!(err.record, Some(2), "{err}");
    // Record 1 dropped and the rest renumbered.
    let mut d = frames();
    d.frames.remove(2);
    for (k, f) in d.frames.iter_mut().skip(1).enumerate() {
        if let Frame::Record(r) = f {
            r.index = k as u64;
        }
    }
    let err = check_err(&encode(&d));
    assert_eq!(err.record, Some(1), "{err}");
    // Indices that skip or repeat.
    for bad in [2, 0, u64::MAX] {
        let mut d = frames();
        record(&mut d, 1).index = bad;
        assert_record_err(reader_err(&encode(&d)), 1, "index");
    }
    // An input frame given twice, out of range or for the wrong node.
    let mut d = frames();
    let input = d.frames[0].clone();
    d.frames.insert(1, input);
    assert!(matches!(
        reader_err(&encode(&d)),
        TraceError::Input { input: 0, .. }
    ));
    for (position, node) in [(1, 0), (u64::MAX, 0), (0, 1)] {
        let mut d = frames();
        let Frame::Input(i) = &mut d.frames[0] else {
            panic!("frame 0 is the input")
        };
        (i.input, i.node) = (position, node);
        assert!(matches!(reader_err(&encode(&d)), TraceError::Input { .. }));
    }
}

#[test]
fn headers_with_cyclic_or_dangling_edges_are_rejected() {
    let header_err = |edit: &dyn Fn(&mut Decoded), field: &str| {
        let mut d = frames();
        edit(&mut d);
        match TraceReader::new(encode(&d).as_slice()) {
            Err(TraceError::Header { field: f, .. }) if f == field => {}
            Err(e) => panic!("expected a header error at {field}, got {e:?}"),
            Ok(_) => panic!("header with a bad {field} accepted"),
        }
    };
    // Self-loop, an edge to a later node (a cycle through 3 -> 2), a dangling edge.
    for bad in [2, 3, 99, u64::MAX] {
        header_err(
            &|d| d.header.graph.nodes[2].inputs = vec![bad],
            "graph.nodes[2].inputs",
        );
    }
    header_err(&|d| d.header.graph.nodes[3].id = 2, "graph.nodes[3].id");
    header_err(&|d| d.header.graph.inputs = vec![1], "graph.inputs[0]");
    header_err(
        &|d| d.header.graph.inputs = vec![u64::MAX],
        "graph.inputs[0]",
    );
    header_err(&|d| d.header.graph.outputs = vec![5], "graph.outputs[0]");
    header_err(&|d| d.header.model_digest = "A".repeat(64), "model_digest");
    // A header that is structurally fine but describes another graph: the checker refuses it.
    let mut d = frames();
    d.header.graph.outputs = vec![3];
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (None, "header.graph.outputs"),
        "{err}"
    );
}

#[test]
fn huge_declared_dimensions_are_rejected_before_allocation() {
    // Header node shapes: overflowing, over the element limit, over the rank limit.
    for shape in [
        vec![1u64 << 40; 3],
        vec![u64::MAX, 2],
        vec![1 << 29],
        vec![1; 9],
    ] {
        let mut d = frames();
        d.header.graph.nodes[1].shape = shape.clone();
        match TraceReader::new(encode(&d).as_slice()) {
            Err(TraceError::Header { field, .. }) => assert_eq!(field, "graph.nodes[1].shape"),
            other => panic!("{shape:?}: {:?}", other.map(|_| ())),
        }
    }
    // Tensor shapes that claim far more elements than the data holds.
    for shape in [
        vec![1u64 << 20, 1 << 20],
        vec![u64::MAX, u64::MAX],
        vec![1 << 28, 2],
    ] {
        let mut d = frames();
        let Frame::Input(i) = &mut d.frames[0] else {
            panic!("frame 0 is the input")
        };
        i.tensor.shape = shape.clone();
        match reader_err(&encode(&d)) {
            TraceError::Input { field, .. } => assert!(field.starts_with("tensor."), "{field}"),
            e => panic!("{shape:?}: {e:?}"),
        }
        let mut d = frames();
        record(&mut d, 2).output.shape = shape.clone();
        match reader_err(&encode(&d)) {
            TraceError::Record {
                record: 2, field, ..
            } => {
                assert!(field.starts_with("output."), "{field}")
            }
            e => panic!("{shape:?}: {e:?}"),
        }
    }
}

fn preamble() -> Vec<u8> {
    let mut b = b"TKTRACE\0".to_vec();
    b.extend(1u32.to_le_bytes());
    b
}

/// The trace's bytes up to the end of its header frame.
fn through_header() -> Vec<u8> {
    let bytes = tiny_trace();
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    bytes[..16 + len].to_vec()
}

#[test]
fn lying_frame_lengths_and_bad_frames_are_rejected() {
    // A 200 MiB frame announced by a 16-byte file: the reader fails on the missing bytes
    // without reserving them.
    let mut b = preamble();
    b.extend((200u32 << 20).to_le_bytes());
    b.extend([0x81, 0xa4]);
    let start = std::time::Instant::now();
    assert!(matches!(
        TraceReader::new(b.as_slice()),
        Err(TraceError::Truncated { .. })
    ));
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    // The same after a valid header.
    let mut b = through_header();
    b.extend((200u32 << 20).to_le_bytes());
    b.extend([0x81; 8]);
    assert!(matches!(reader_err(&b), TraceError::Truncated { .. }));
    // Frames that are not a map with a known kind.
    let frame = |payload: &[u8]| {
        let mut b = through_header();
        b.extend((payload.len() as u32).to_le_bytes());
        b.extend(payload);
        b
    };
    assert!(matches!(
        reader_err(&frame(&[0x2a])),
        TraceError::Decode { .. }
    ));
    assert!(matches!(reader_err(&frame(&[])), TraceError::Decode { .. }));
    let bogus = [&[0x81, 0xa4][..], b"kind", &[0xa5], b"bogus"].concat();
    assert!(matches!(
        reader_err(&frame(&bogus)),
        TraceError::Decode { .. }
    ));
    // Deep nesting inside a frame: a decode error, not a stack overflow.
    let nested = [
        &[0x82, 0xa4][..],
        b"kind",
        &[0xa6],
        b"record",
        &[0xa1, b'x'],
        &[0x91; 100_000],
    ]
    .concat();
    assert!(matches!(
        reader_err(&frame(&nested)),
        TraceError::Decode { .. }
    ));
    // A second header, and a record as the first frame.
    let header = through_header()[12..].to_vec();
    let mut b = through_header();
    b.extend(&header);
    assert!(matches!(reader_err(&b), TraceError::UnexpectedKind { .. }));
    let bytes = tiny_trace();
    let mut d = frames();
    let first = rmp_serde::to_vec_named(record(&mut d, 0)).unwrap();
    let mut b = preamble();
    b.extend((first.len() as u32).to_le_bytes());
    b.extend(&first);
    assert!(TraceReader::new(b.as_slice()).is_err());
    // A map with bytes after it inside its frame.
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    let mut b = preamble();
    b.extend((len + 1).to_le_bytes());
    b.extend(&bytes[16..16 + len as usize]);
    b.push(0xc0);
    assert!(matches!(
        TraceReader::new(b.as_slice()),
        Err(TraceError::FrameTrailingBytes { .. })
    ));
}

/// Recomputes the footer digest of a trace whose footer ends in its digest string.
fn fix_digest(bytes: &mut [u8]) {
    let mut off = 12;
    let mut last = None;
    while off + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap()) as usize;
        if off + 4 + len > bytes.len() {
            return;
        }
        last = Some((off, off + 4 + len));
        off += 4 + len;
    }
    if let Some((start, end)) = last
        && end >= start + 70
    {
        let digest: String = Sha256::digest(&bytes[..start])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        bytes[end - 64..end].copy_from_slice(digest.as_bytes());
    }
}

#[test]
fn random_corruption_never_panics_and_never_passes_with_wrong_values() {
    let model = cnn(2, 5, 3, 4);
    let x = QTensor::new(vec![1, 2, 5, 5], pseudo(11, 50, -128, 127)).unwrap();
    let (outputs, clean) = write_trace(&model, &digest(), &[x], Vec::new()).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut rejected = 0;
    for round in 0..3000 {
        let mut b = clean.clone();
        for _ in 0..1 + next(6) {
            let i = next(b.len());
            b[i] = next(256) as u8;
        }
        // Half the rounds keep a valid footer digest, so only the semantic checks can object.
        if round % 2 == 0 {
            fix_digest(&mut b);
        }
        let result = TraceReader::new(b.as_slice())
            .map_err(|e| e.to_string())
            .and_then(|r| check(r, &model, &digest()).map_err(|e| e.to_string()));
        match result {
            Err(_) => rejected += 1,
            // Accepted only if the content still is a correct execution with the same result
            // (e.g. a changed producer string or scale).
            Ok(_) => {
                let frames = read_all(&b).unwrap();
                let last = frames.iter().rev().find_map(|f| match f {
                    Frame::Record(r) => Some(r.output.to_qtensor().unwrap()),
                    Frame::Input(_) => None,
                });
                assert_eq!(
                    last.as_ref(),
                    Some(&outputs[0]),
                    "round {round} accepted other outputs"
                );
            }
        }
    }
    assert!(
        rejected > 2500,
        "only {rejected} of 3000 corruptions rejected"
    );
}
