//! Integer kernels (conv, depthwise conv, 1x1 conv, gemm, requantization) and whole models.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tk_benches::{conv_node, gemm_node, pointwise_node, repo_model, rescale_node, tensor_i8};

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel");
    for (c_in, c_out, hw, g) in [(16, 16, 32, 1), (64, 64, 28, 1), (64, 64, 28, 64)] {
        let node = conv_node(c_in, c_out, hw, g);
        let x = tensor_i8(&[1, c_in, hw, hw], 3);
        let macs = (c_out * hw * hw * 9 * c_in / g) as u64;
        group.throughput(Throughput::Elements(macs));
        let id = format!("{c_in}x{hw}x{hw}->{c_out} g{g}");
        group.bench_with_input(BenchmarkId::new("conv3x3", id), &x, |b, x| {
            b.iter(|| tk_runtime::execute_node(&node, &[x]).expect("conv runs"))
        });
    }
    // Stride 2 (the first depthwise layer of a MobileNet or ShuffleNet stage).
    let mut node = conv_node(64, 64, 56, 64);
    if let tk_quant::ops::QOp::Conv(conv) = &mut node.op {
        conv.strides = [2, 2];
    }
    node.shape = vec![1, 64, 28, 28];
    let x = tensor_i8(&[1, 64, 56, 56], 3);
    group.throughput(Throughput::Elements((64 * 28 * 28 * 9) as u64));
    group.bench_with_input(
        BenchmarkId::new("conv3x3", "64x56x56->64 g64 stride 2"),
        &x,
        |b, x| b.iter(|| tk_runtime::execute_node(&node, &[x]).expect("conv runs")),
    );
    for (c_in, c_out, hw) in [(24, 144, 56), (144, 24, 56), (96, 24, 28)] {
        let node = pointwise_node(c_in, c_out, hw);
        let x = tensor_i8(&[1, c_in, hw, hw], 3);
        group.throughput(Throughput::Elements((c_out * hw * hw * c_in) as u64));
        let id = format!("{c_in}x{hw}x{hw}->{c_out}");
        group.bench_with_input(BenchmarkId::new("conv1x1", id), &x, |b, x| {
            b.iter(|| tk_runtime::execute_node(&node, &[x]).expect("conv runs"))
        });
    }
    for (rows, k, n) in [(1, 784, 120), (1, 4096, 1000), (64, 512, 512)] {
        let node = gemm_node(rows, k, n);
        let x = tensor_i8(&[rows, k], 5);
        group.throughput(Throughput::Elements((rows * k * n) as u64));
        group.bench_with_input(
            BenchmarkId::new("gemm", format!("{rows}x{k}x{n}")),
            &x,
            |b, x| b.iter(|| tk_runtime::execute_node(&node, &[x]).expect("gemm runs")),
        );
    }
    let shape = [1, 64, 56, 56];
    let node = rescale_node(&shape);
    let x = tensor_i8(&shape, 9);
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("requant 64x56x56", |b| {
        b.iter(|| tk_runtime::execute_node(&node, &[&x]).expect("rescale runs"))
    });
    group.finish();
}

fn models(c: &mut Criterion) {
    let mut group = c.benchmark_group("model");
    for (name, onnx, calib, sample) in [
        (
            "digits_cnn",
            "models/digits_cnn.onnx",
            "models/digits/calib_x_img.npy",
            "models/digits/sample0_img.npy",
        ),
        (
            "lenet5_mnist",
            "models/lenet5_mnist.onnx",
            "models/mnist/calib_x_128.npy",
            "models/mnist/sample0.npy",
        ),
    ] {
        let (model, inputs) = repo_model(onnx, calib, sample);
        let runtime = tk_runtime::Runtime::new(&model).expect("model validates");
        group.bench_function(name, |b| {
            b.iter(|| runtime.run(&inputs).expect("model runs"))
        });
    }
    group.finish();
}

criterion_group!(benches, kernels, models);
criterion_main!(benches);
