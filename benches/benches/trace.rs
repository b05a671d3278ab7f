//! Trace writing (through the runtime's observer), reading and checking.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tk_benches::repo_model;
use tk_quant::QTensor;
use tk_trace::{Dtype, ModelDigest, TracePlan, TraceReader, TraceTensor, TraceWriter};

fn trace(c: &mut Criterion) {
    let (model, inputs) = repo_model(
        "models/lenet5_mnist.onnx",
        "models/mnist/calib_x_128.npy",
        "models/mnist/sample0.npy",
    );
    let tkq = tk_quant::file::to_bytes(&model).expect("model encodes");
    let digest = ModelDigest::of_bytes(&tkq);
    let runtime = tk_runtime::Runtime::new(&model).expect("model validates");
    let write = || {
        let mut writer = TraceWriter::new(Vec::new(), &model, &digest).expect("writer");
        runtime.run_observed(&inputs, &mut writer).expect("runs");
        writer.finish().expect("finishes")
    };
    let plan = TracePlan::new(&model, &digest).expect("plan");
    let write_planned = || {
        let mut writer = TraceWriter::with_plan(Vec::new(), &plan).expect("writer");
        runtime.run_observed(&inputs, &mut writer).expect("runs");
        writer.finish().expect("finishes")
    };
    let bytes = write();
    assert_eq!(write_planned(), bytes);
    let mut group = c.benchmark_group("trace lenet5");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("run only", |b| {
        b.iter(|| runtime.run(&inputs).expect("runs"))
    });
    group.bench_function("run + write", |b| b.iter(write));
    group.bench_function("run + write, shared plan", |b| b.iter(write_planned));
    group.bench_function("read", |b| {
        b.iter(|| {
            let mut reader = TraceReader::new(bytes.as_slice()).expect("header");
            while reader.next_frame().expect("frame").is_some() {}
        })
    });
    group.bench_function("check", |b| {
        b.iter(|| {
            let reader = TraceReader::new(bytes.as_slice()).expect("header");
            tk_trace::check(reader, &model, &digest).expect("checks")
        })
    });
    group.finish();
}

/// Narrowing a runtime tensor to its trace bytes (with the range check), per dtype.
fn encode(c: &mut Criterion) {
    let len = 1 << 20;
    let mut group = c.benchmark_group("trace encode 1Mi values");
    group.throughput(Throughput::Elements(len as u64));
    for dtype in [Dtype::I8, Dtype::I16] {
        let (lo, hi) = dtype.range();
        let span = i64::from(hi) - i64::from(lo) + 1;
        let data = (0..len)
            .map(|i| (i64::from(lo) + (i as i64 * 7919) % span) as i32)
            .collect();
        let t = QTensor::new(vec![len], data).expect("shape matches");
        let mut scratch = Vec::new();
        group.bench_function(format!("{dtype:?}"), |b| {
            b.iter(|| {
                let encoded = TraceTensor::encode_into(&t, dtype, std::mem::take(&mut scratch));
                scratch = encoded.expect("in range").data;
            })
        });
    }
    group.finish();
}

criterion_group!(benches, trace, encode);
criterion_main!(benches);
