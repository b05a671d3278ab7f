//! Writing then reading a trace gives back exactly what the runtime computed; the checker
//! accepts it; traces are deterministic, compact and self-describing.

mod common;

use common::{cnn, decode, digest, pseudo, tiny_input, tiny_model, tiny_trace};
use proptest::prelude::*;
use tk_quant::{QModel, QTensor};
use tk_runtime::{Observer, ObserverError, OpEvent, Runtime};
use tk_trace::{
    Dtype, Frame, InputRef, Kind, TracePlan, TraceReader, TraceWriter, check, write_trace,
};

/// Collects every event's node id and output.
#[derive(Default)]
struct Outputs(Vec<(usize, QTensor)>);

impl Observer for Outputs {
    fn on_op(&mut self, e: &OpEvent<'_>) -> Result<(), ObserverError> {
        self.0.push((e.node.id, e.output.clone()));
        Ok(())
    }
}

/// Asserts the trace of `model` on `x` holds exactly the runtime's values, and checks.
fn assert_round_trip(model: &QModel, x: &QTensor) {
    let mut seen = Outputs::default();
    Runtime::new(model)
        .unwrap()
        .run_observed(std::slice::from_ref(x), &mut seen)
        .unwrap();
    let (_, bytes) = write_trace(model, &digest(), std::slice::from_ref(x), Vec::new()).unwrap();
    let mut reader = TraceReader::new(bytes.as_slice()).unwrap();
    let frames: Vec<Frame> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    let footer = reader.footer().expect("footer verified");
    assert_eq!(footer.record_count, 4);
    assert_eq!(footer.input_count, 1);
    // Input frame then one record per computed node, with the runtime's values.
    assert_eq!(frames.len(), seen.0.len());
    for (frame, (id, value)) in frames.iter().zip(&seen.0) {
        match frame {
            Frame::Input(f) => {
                assert_eq!((f.node, f.input), (*id as u64, 0));
                assert_eq!(&f.tensor.to_qtensor().unwrap(), value);
            }
            Frame::Record(r) => {
                let n = &model.graph.nodes[*id];
                assert_eq!(
                    (r.node, r.onnx_name.as_str(), r.op.as_str()),
                    (*id as u64, n.name.as_str(), n.op.name())
                );
                assert_eq!(&r.output.to_qtensor().unwrap(), value);
                assert_eq!(r.output.dtype, Dtype::I8);
                let expected_ref = if *id == 1 {
                    InputRef::Input(0)
                } else {
                    InputRef::Record(r.index - 1)
                };
                assert_eq!(r.inputs, vec![expected_ref]);
            }
        }
    }
    let report = check(
        TraceReader::new(bytes.as_slice()).unwrap(),
        model,
        &digest(),
    )
    .unwrap();
    assert_eq!((report.records, report.inputs), (4, 1));
}

#[test]
fn round_trip_of_the_tiny_model() {
    assert_round_trip(&tiny_model(), &tiny_input());
}

#[test]
fn two_runs_are_byte_identical_whatever_the_thread_count() {
    let model = cnn(3, 16, 8, 10);
    let x = QTensor::new(vec![1, 3, 16, 16], pseudo(77, 768, -128, 127)).unwrap();
    let trace = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            write_trace(&model, &digest(), std::slice::from_ref(&x), Vec::new())
                .unwrap()
                .1
        })
    };
    let a = trace(1);
    assert_eq!(a, trace(1));
    assert_eq!(a, trace(4));
}

#[test]
fn trace_bytes_stay_within_ten_percent_of_the_raw_tensors() {
    let model = cnn(3, 32, 16, 10);
    let x = QTensor::new(vec![1, 3, 32, 32], pseudo(5, 3 * 1024, -128, 127)).unwrap();
    let (_, bytes) = write_trace(&model, &digest(), std::slice::from_ref(&x), Vec::new()).unwrap();
    let raw: usize = decode(&bytes)
        .frames
        .iter()
        .map(|f| match f {
            Frame::Input(i) => i.tensor.data.len(),
            Frame::Record(r) => r.output.data.len(),
        })
        .sum();
    assert_eq!(raw, 3 * 1024 + 3 * 16 * 1024 + 10);
    assert!(
        bytes.len() * 10 <= raw * 11,
        "trace {} bytes for {raw} raw bytes",
        bytes.len()
    );
}

#[test]
fn the_writer_streams_frames_as_events_arrive() {
    let model = tiny_model();
    let mut writer = TraceWriter::new(Vec::new(), &model, &digest()).unwrap();
    Runtime::new(&model)
        .unwrap()
        .run_observed(&[tiny_input()], &mut writer)
        .unwrap();
    assert_eq!(writer.record_count(), 4);
    let bytes = writer.finish().unwrap();
    assert_eq!(bytes, tiny_trace());
}

#[test]
fn a_shared_plan_writes_the_same_bytes_as_a_fresh_writer() {
    let model = cnn(2, 6, 3, 4);
    let plan = TracePlan::new(&model, &digest()).unwrap();
    let runtime = Runtime::new(&model).unwrap();
    let inputs =
        [1, 2, 3].map(|seed| QTensor::new(vec![1, 2, 6, 6], pseudo(seed, 72, -128, 127)).unwrap());
    for x in &inputs {
        let mut writer = TraceWriter::with_plan(Vec::new(), &plan).unwrap();
        runtime
            .run_observed(std::slice::from_ref(x), &mut writer)
            .unwrap();
        let planned = writer.finish().unwrap();
        let (_, fresh) =
            write_trace(&model, &digest(), std::slice::from_ref(x), Vec::new()).unwrap();
        assert_eq!(planned, fresh);
    }
    // A plan belongs to one model: another model's events are refused.
    let other = tiny_model();
    let mut writer = TraceWriter::with_plan(Vec::new(), &plan).unwrap();
    let refused = Runtime::new(&other)
        .unwrap()
        .run_observed(&[tiny_input()], &mut writer);
    assert!(refused.is_err());
}

#[test]
fn a_generic_msgpack_parser_reads_every_frame() {
    use rmpv::Value;
    let bytes = tiny_trace();
    assert_eq!(&bytes[..8], b"TKTRACE\0");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 1);
    let mut rest = &bytes[12..];
    let mut kinds = vec![];
    while !rest.is_empty() {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let mut frame = &rest[4..4 + len];
        let value = rmpv::decode::read_value(&mut frame).unwrap();
        assert!(frame.is_empty());
        let map = value.as_map().expect("every frame is a map");
        let get = |k: &str| {
            map.iter()
                .find(|(key, _)| key.as_str() == Some(k))
                .map(|(_, v)| v.clone())
        };
        let kind = get("kind")
            .and_then(|k| k.as_str().map(String::from))
            .expect("string kind");
        if kind == "record" {
            let output = get("output").unwrap();
            let output = output.as_map().unwrap();
            let field = |k: &str| {
                output
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(k))
                    .map(|(_, v)| v.clone())
                    .unwrap()
            };
            assert_eq!(field("dtype"), Value::from("i8"));
            assert!(matches!(field("data"), Value::Binary(_)));
            let refs = get("inputs").unwrap();
            let first = refs.as_array().unwrap()[0].as_map().unwrap()[0]
                .0
                .as_str()
                .map(String::from);
            assert!(first == Some("record".into()) || first == Some("input".into()));
        }
        if kind == "header" {
            assert_eq!(get("format_version"), Some(Value::from(1)));
            let nodes = get("graph")
                .unwrap()
                .as_map()
                .unwrap()
                .iter()
                .find(|(k, _)| k.as_str() == Some("nodes"))
                .unwrap()
                .1
                .clone();
            assert_eq!(nodes.as_array().unwrap().len(), 5);
        }
        kinds.push(kind);
        rest = &rest[4 + len..];
    }
    assert_eq!(
        kinds,
        [
            "header", "input", "record", "record", "record", "record", "footer"
        ]
    );
}

#[test]
fn record_kinds_and_constants_are_not_duplicated() {
    let d = decode(&tiny_trace());
    assert_eq!(d.header.kind, Kind::Header);
    for f in &d.frames {
        if let Frame::Record(r) = f {
            // Weights are referenced by node, never inlined.
            if r.op == "Conv" || r.op == "Gemm" {
                assert_eq!(r.params.weights, Some(r.node));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip_of_random_models_and_inputs(c in 1usize..=3, hw in 1usize..=6, k in 1usize..=4, n in 1usize..=5, seed in any::<u64>()) {
        let model = cnn(c, hw, k, n);
        let x = QTensor::new(vec![1, c, hw, hw], pseudo(seed, c * hw * hw, -128, 127)).unwrap();
        assert_round_trip(&model, &x);
    }

    #[test]
    fn records_round_trip_through_msgpack(
        data in proptest::collection::vec(any::<u8>(), 0..64),
        refs in proptest::collection::vec((0u8..3, any::<u64>()), 0..4),
        index in any::<u64>(),
        name in "[a-z/_0-9]{0,20}",
        shift in proptest::option::of(any::<u64>()),
        mults in proptest::option::of(proptest::collection::vec(any::<i64>(), 0..5)),
        scale in proptest::option::of(any::<f32>().prop_filter("not NaN", |s| !s.is_nan())),
    ) {
        let record = tk_trace::Record {
            kind: Kind::Record,
            index,
            node: index / 3,
            onnx_name: name.clone(),
            op: "Conv".into(),
            inputs: refs.iter().map(|&(t, v)| match t { 0 => InputRef::Record(v), 1 => InputRef::Input(v), _ => InputRef::Const(v) }).collect(),
            output: tk_trace::TraceTensor { dtype: Dtype::I8, shape: vec![data.len() as u64], data },
            params: tk_trace::Params { shift, multipliers: mults, function: Some(name), ..Default::default() },
            meta: tk_trace::Meta { bits: 8, scale },
        };
        let bytes = rmp_serde::to_vec_named(&record).unwrap();
        let back: tk_trace::Record = rmp_serde::from_slice(&bytes).unwrap();
        prop_assert_eq!(back, record);
    }
}
