//! Malformed and tampered traces: always an error naming what is wrong, never a panic.

mod common;

use common::{decode, digest, encode, tiny_model, tiny_trace};
use tk_trace::{CheckError, CheckFailure, Frame, InputRef, Limits, TraceError, TraceReader, check};

/// Reads and checks a trace; `Ok` only if everything passes.
fn read_and_check(bytes: &[u8]) -> Result<(), String> {
    let reader = TraceReader::new(bytes).map_err(|e| e.to_string())?;
    check(reader, &tiny_model(), &digest())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_err(bytes: &[u8]) -> CheckError {
    check(TraceReader::new(bytes).unwrap(), &tiny_model(), &digest()).unwrap_err()
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = tiny_trace();
    for len in 0..bytes.len() {
        let prefix = &bytes[..len];
        assert!(
            read_and_check(prefix).is_err(),
            "prefix of {len} bytes accepted"
        );
        // The bare reader must fail too (the footer is missing).
        if let Ok(reader) = TraceReader::new(prefix) {
            assert!(
                reader.into_iter().any(|f| f.is_err()),
                "reader accepted prefix of {len} bytes"
            );
        }
    }
    assert!(read_and_check(&bytes).is_ok());
}

#[test]
fn every_single_bit_flip_is_an_error() {
    let bytes = tiny_trace();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << bit;
            assert!(
                read_and_check(&flipped).is_err(),
                "flip of byte {i} bit {bit} accepted"
            );
        }
    }
}

#[test]
fn trailing_data_is_an_error() {
    let mut bytes = tiny_trace();
    bytes.push(0);
    let errors: Vec<_> = TraceReader::new(bytes.as_slice())
        .unwrap()
        .filter_map(Result::err)
        .collect();
    assert!(matches!(errors[..], [TraceError::TrailingData]));
}

#[test]
fn bad_magic_and_unknown_major_versions_are_rejected() {
    let mut bytes = tiny_trace();
    bytes[0] = b'X';
    assert!(matches!(
        TraceReader::new(bytes.as_slice()),
        Err(TraceError::BadMagic { .. })
    ));
    let mut bytes = tiny_trace();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        TraceReader::new(bytes.as_slice()),
        Err(TraceError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
}

#[test]
fn limits_are_enforced_before_allocation() {
    // A frame claiming 4 GiB: rejected from the length prefix alone.
    let mut bytes = b"TKTRACE\0".to_vec();
    bytes.extend(1u32.to_le_bytes());
    bytes.extend(u32::MAX.to_le_bytes());
    assert!(matches!(
        TraceReader::new(bytes.as_slice()),
        Err(TraceError::FrameTooLarge { .. })
    ));
    // Tight limits on a valid trace.
    let bytes = tiny_trace();
    let tight = |f: fn(&mut Limits)| {
        let mut limits = Limits::default();
        f(&mut limits);
        TraceReader::with_limits(bytes.as_slice(), limits)
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .unwrap_err()
    };
    assert!(matches!(
        tight(|l| l.max_frame_bytes = 64),
        TraceError::FrameTooLarge { .. }
    ));
    assert!(matches!(
        tight(|l| l.max_records = 2),
        TraceError::Record { record: 2, .. }
    ));
    assert!(matches!(
        tight(|l| l.max_tensor_elements = 20),
        TraceError::Header { .. }
    ));
    assert!(matches!(
        tight(|l| l.max_string_len = 3),
        TraceError::Header { .. }
    ));
    assert!(matches!(
        tight(|l| l.max_nodes = 2),
        TraceError::Header { .. }
    ));
    assert!(matches!(
        tight(|l| l.max_rank = 1),
        TraceError::Header { .. }
    ));
}

#[test]
fn an_overflowing_shape_is_an_error() {
    let mut d = decode(&tiny_trace());
    let Frame::Record(r) = &mut d.frames[1] else {
        panic!()
    };
    r.output.shape = vec![1 << 40, 1 << 40, 1 << 40];
    let bytes = encode(&d);
    let err = check_err(&bytes);
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(0), "output.shape"),
        "{err}"
    );
}

#[test]
fn a_tampered_output_fails_at_its_record() {
    let mut d = decode(&tiny_trace());
    let Frame::Record(r) = &mut d.frames[2] else {
        panic!()
    };
    assert_eq!(r.op, "Clip");
    r.output.data[5] = r.output.data[5].wrapping_add(1);
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(1), "output.data[5]"),
        "{err}"
    );
    assert!(matches!(err.reason, CheckFailure::Mismatch { .. }));
    // Without a recomputed digest the checker still names the record, before the footer.
    let mut bytes = tiny_trace();
    let clean = decode(&bytes);
    let Frame::Record(r) = &clean.frames[4] else {
        panic!()
    };
    let needle = &r.output.data;
    let at = bytes
        .windows(needle.len())
        .rposition(|w| w == needle.as_slice())
        .unwrap();
    bytes[at] ^= 0x01;
    let err = check_err(&bytes);
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(3), "output.data[0]"),
        "{err}"
    );
}

#[test]
fn an_out_of_range_output_fails_its_range_check() {
    // A 7-bit model: its i8 tensors can carry values outside [-64, 63].
    use tk_quant::ops::{Clip, Input, QOp};
    let node = |id, op, inputs: Vec<usize>| tk_quant::QNode {
        id,
        name: format!("n{id}"),
        ir_node: None,
        op,
        inputs,
        shape: vec![2, 3],
        bits: 7,
    };
    let mut model = tiny_model();
    model.graph.nodes = vec![
        node(0, QOp::Input(Input {}), vec![]),
        node(1, QOp::Clip(Clip { lo: 0, hi: 63 }), vec![0]),
    ];
    model.graph.outputs = vec![1];
    model.scales = vec![
        tk_quant::NodeScale {
            node: 0,
            scale: 0.5,
        },
        tk_quant::NodeScale {
            node: 1,
            scale: 0.5,
        },
    ];
    let x = tk_quant::QTensor::new(vec![2, 3], vec![-64, -1, 0, 1, 40, 63]).unwrap();
    let (_, bytes) = tk_trace::write_trace(&model, &digest(), &[x], Vec::new()).unwrap();
    let mut d = decode(&bytes);
    let Frame::Record(r) = &mut d.frames[1] else {
        panic!()
    };
    r.output.data[3] = 100;
    let bytes = encode(&d);
    let err = check(
        TraceReader::new(bytes.as_slice()).unwrap(),
        &model,
        &digest(),
    )
    .unwrap_err();
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(0), "output.data"),
        "{err}"
    );
    assert!(
        matches!(
            err.reason,
            CheckFailure::OutOfRange {
                index: 3,
                value: 100,
                lo: -64,
                hi: 63
            }
        ),
        "{err}"
    );
    // A record claiming another bit width or dtype.
    let mut d = decode(&tiny_trace());
    let Frame::Record(r) = &mut d.frames[2] else {
        panic!()
    };
    r.meta.bits = 16;
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(1), "meta.bits"),
        "{err}"
    );
    let mut d = decode(&tiny_trace());
    let Frame::Record(r) = &mut d.frames[2] else {
        panic!()
    };
    r.output.dtype = tk_trace::Dtype::I16;
    r.output.data = r
        .output
        .data
        .iter()
        .flat_map(|&b| i16::from(b as i8).to_le_bytes())
        .collect();
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(1), "output.dtype"),
        "{err}"
    );
}

#[test]
fn an_output_outside_the_fused_clamp_or_a_tampered_clamp_fails() {
    // The Gemm (record 3) has the fused clamp [-100, 100]: 101 fits its 8 bits but not the
    // clamp, so only the replay catches it.
    let clean = decode(&tiny_trace());
    let Frame::Record(r) = &clean.frames[4] else {
        panic!()
    };
    assert_eq!(
        (r.op.as_str(), r.params.lo, r.params.hi),
        ("Gemm", Some(-100), Some(100))
    );
    let mut d = decode(&tiny_trace());
    let Frame::Record(r) = &mut d.frames[4] else {
        panic!()
    };
    r.output.data[0] = 101;
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(3), "output.data[0]"),
        "{err}"
    );
    // Params that claim another clamp, or none.
    for (lo, hi) in [(Some(-101), Some(100)), (None, None)] {
        let mut d = decode(&tiny_trace());
        let Frame::Record(r) = &mut d.frames[4] else {
            panic!()
        };
        (r.params.lo, r.params.hi) = (lo, hi);
        let err = check_err(&encode(&d));
        assert_eq!(
            (err.record, err.field.as_str()),
            (Some(3), "params"),
            "{err}"
        );
    }
}

#[test]
fn a_tampered_input_reference_fails_at_its_record() {
    let mut d = decode(&tiny_trace());
    // Record 2 (Reshape) reads record 1 (Clip); point it at record 0 (Conv) instead, which
    // has the same shape, so only the edge check can notice.
    let Frame::Record(r) = &mut d.frames[3] else {
        panic!()
    };
    assert_eq!(r.inputs, vec![InputRef::Record(1)]);
    r.inputs = vec![InputRef::Record(0)];
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(2), "inputs[0]"),
        "{err}"
    );
    // A reference to a later record is malformed: the reader rejects it.
    let Frame::Record(r) = &mut d.frames[3] else {
        panic!()
    };
    r.inputs = vec![InputRef::Record(3)];
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(2), "inputs[0]"),
        "{err}"
    );
    assert!(matches!(err.reason, CheckFailure::Trace(_)));
    // A reference to an input that was never given.
    let Frame::Record(r) = &mut d.frames[3] else {
        panic!()
    };
    r.inputs = vec![InputRef::Input(7)];
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(2), "inputs[0]"),
        "{err}"
    );
}

#[test]
fn swapped_records_fail_naming_the_record() {
    let mut d = decode(&tiny_trace());
    d.frames.swap(2, 3);
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(1), "index"),
        "{err}"
    );
    // Renumbered after the swap: the record is not the model's next node.
    for (k, f) in d.frames.iter_mut().skip(1).enumerate() {
        if let Frame::Record(r) = f {
            r.index = k as u64;
        }
    }
    let err = check_err(&encode(&d));
    assert_eq!(err.record, Some(1), "{err}");
    assert!(err.field == "node" || err.field == "inputs[0]", "{err}");
}

#[test]
fn header_and_completeness_are_checked() {
    // Another model digest.
    let bytes = tiny_trace();
    let err = check(
        TraceReader::new(bytes.as_slice()).unwrap(),
        &tiny_model(),
        &tk_trace::ModelDigest([7; 32]),
    )
    .unwrap_err();
    assert_eq!(
        (err.record, err.field.as_str()),
        (None, "header.model_digest")
    );
    // Another model.
    let mut other = tiny_model();
    if let tk_quant::ops::QOp::Clip(c) = &mut other.graph.nodes[2].op {
        c.lo = -5;
    }
    let err = check(
        TraceReader::new(bytes.as_slice()).unwrap(),
        &other,
        &digest(),
    )
    .unwrap_err();
    assert_eq!(
        (err.record, err.field.as_str()),
        (None, "header.graph.nodes[2]"),
        "{err}"
    );
    // A missing last record.
    let mut d = decode(&bytes);
    d.frames.pop();
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (None, "footer.record_count"),
        "{err}"
    );
    // Tampered params.
    let mut d = decode(&bytes);
    let Frame::Record(r) = &mut d.frames[1] else {
        panic!()
    };
    r.params.shifts = Some(vec![38, 39]);
    let err = check_err(&encode(&d));
    assert_eq!(
        (err.record, err.field.as_str()),
        (Some(0), "params"),
        "{err}"
    );
    // A footer with a wrong digest.
    let mut bytes = tiny_trace();
    let n = bytes.len();
    bytes[n - 3] = if bytes[n - 3] == b'0' { b'1' } else { b'0' };
    let err = check_err(&bytes);
    assert_eq!(
        (err.record, err.field.as_str()),
        (None, "footer.digest"),
        "{err}"
    );
}
