//! Per-layer quantization error: for every fake-quantized activation, the SQNR of the `Round`
//! stage against the `Sim` stage (accumulated error) and of its own rounding (local error),
//! over the first samples of a data set.
//!
//! `cargo run --release -p tk-quant --example layer_error -- MODEL.onnx CALIB.npy [SAMPLES] [BITS]`

use std::collections::BTreeMap;

use tk_ir::Tensor;
use tk_quant::{QuantOptions, quantize};

fn collect(g: &tk_ir::Graph, x: &[Tensor], into: &mut BTreeMap<String, Vec<f32>>) {
    tk_ir::eval::eval_observed(g, x, |node, v| {
        if let Tensor::F32(a) = v {
            into.entry(node.name.clone())
                .or_default()
                .extend(a.iter().copied());
        }
    })
    .expect("eval");
}

fn sqnr(reference: &[f32], test: &[f32]) -> f64 {
    let (mut s, mut n) = (0f64, 0f64);
    for (&r, &t) in reference.iter().zip(test) {
        s += f64::from(r) * f64::from(r);
        n += (f64::from(r) - f64::from(t)).powi(2);
    }
    10.0 * (s / n.max(1e-30)).log10()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: layer_error MODEL.onnx CALIB.npy [SAMPLES] [BITS]");
        std::process::exit(2);
    }
    let model = tk_ir::onnx::import_onnx(args[1].as_ref(), &Default::default()).expect("import");
    let calib = tk_ir::npy::read_npy(args[2].as_ref()).expect("npy");
    let samples: usize = args.get(3).map_or(4, |s| s.parse().unwrap());
    let bits: u8 = args.get(4).map_or(8, |s| s.parse().unwrap());
    let calibration = match std::env::var("TK_CALIB").as_deref() {
        Ok("entropy") => tk_quant::Calibration::Entropy,
        Ok("percentile") => tk_quant::Calibration::Percentile(99.99),
        _ => tk_quant::Calibration::MaxAbs,
    };
    let options = QuantOptions {
        bits,
        calibration,
        ..QuantOptions::default()
    };
    let q = quantize(&model.graph, std::slice::from_ref(&calib), &options).expect("quantize");
    let (mut sim, mut round) = (BTreeMap::new(), BTreeMap::new());
    for i in 0..samples {
        let x = tk_quant::calibrate::sample(&model.graph, std::slice::from_ref(&calib), i)
            .expect("sample");
        collect(&q.stages.sim, &x, &mut sim);
        collect(&q.stages.round, &x, &mut round);
    }
    println!(
        "{:>4} {:<60} {:>8} {:>8} {:>8} {:>8}",
        "id", "node", "acc dB", "local dB", "crest", "T/max"
    );
    for node in q.stages.round.nodes() {
        let Some(base) = node.name.strip_suffix("/fake_quant") else {
            continue;
        };
        let (Some(s), Some(r), Some(raw)) =
            (sim.get(&node.name), round.get(&node.name), round.get(base))
        else {
            continue;
        };
        let rms = (s.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        let max = s.iter().fold(0f32, |m, v| m.max(v.abs()));
        let t = match &node.op {
            tk_ir::ops::Op::FakeQuant(f) => f64::from(f.scale * f.hi),
            _ => 0.0,
        };
        println!(
            "{:>4} {:<60} {:>8.1} {:>8.1} {:>8.1} {:>8.3}",
            node.id,
            base,
            sqnr(s, r),
            sqnr(raw, r),
            f64::from(max) / rms,
            t / f64::from(max)
        );
    }
}
