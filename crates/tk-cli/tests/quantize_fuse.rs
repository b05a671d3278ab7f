//! `tk quantize` fuses every Relu that follows a Conv or Gemm into its requantization;
//! `--no-fuse` keeps them as Clip nodes. Both models compute the same integers, and the fused
//! one traces with fewer records.

mod common;

use common::*;
use tk_quant::ops::QOp;

#[test]
fn fused_and_unfused_models_compute_the_same_integers() {
    let d = Scratch::new("quantize_fuse");
    let model = repo("models/digits_cnn.onnx");
    let calib = repo("models/digits/calib_x_img.npy");
    let input = repo("models/digits/sample0_img.npy");
    let mut outputs = Vec::new();
    let mut records = Vec::new();
    for (name, extra) in [("fused", None), ("unfused", Some("--no-fuse"))] {
        let tkq = d.path(&format!("{name}.tkq"));
        let mut args = vec![
            "quantize",
            s(&model),
            "--calib",
            s(&calib),
            "--output",
            s(&tkq),
        ];
        args.extend(extra);
        ok(tk(&args));
        let q = tk_quant::file::load(&tkq).unwrap();
        let clips = q
            .graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, QOp::Clip(_)))
            .count();
        let clamps = q
            .graph
            .nodes
            .iter()
            .filter(|n| n.op.fused_clamp().is_some())
            .count();
        match extra {
            None => assert!(
                clips == 0 && clamps > 0,
                "{name}: {clips} clips, {clamps} clamps"
            ),
            Some(_) => assert!(
                clips > 0 && clamps == 0,
                "{name}: {clips} clips, {clamps} clamps"
            ),
        }
        let (y, trace) = (
            d.path(&format!("{name}.npy")),
            d.path(&format!("{name}.tkt")),
        );
        ok(tk(&[
            "run",
            s(&tkq),
            "--input",
            s(&input),
            "--output",
            s(&y),
            "--raw",
            "--trace",
            s(&trace),
        ]));
        let checked = ok(tk(&["check", s(&trace), "--model", s(&tkq)]));
        outputs.push(std::fs::read(&y).unwrap());
        records.push((checked, q.graph.nodes.len()));
    }
    assert_eq!(outputs[0], outputs[1], "fused and unfused outputs differ");
    assert!(records[0].1 < records[1].1, "{records:?}");
    assert_ne!(records[0].0, records[1].0, "{records:?}");
}
