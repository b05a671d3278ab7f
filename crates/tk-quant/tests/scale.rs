//! Conversion time stays reasonable on a deep graph (the folding passes rescan the graph).

use tk_ir::ops::binary::BinaryKind;
use tk_ir::prelude::*;
use tk_quant::{QuantOptions, quantize};

#[test]
fn deep_graph_converts_quickly() {
    let mut g = Graph::new();
    let mut x = g.add_input("x", Fact::f32([1, 4])).unwrap();
    for i in 0..1000 {
        let c = g
            .add_const(
                format!("c{i}"),
                Tensor::from_f32(&[4], vec![0.01; 4]).unwrap(),
            )
            .unwrap();
        let a = g
            .add_node(
                format!("add{i}"),
                Binary {
                    kind: BinaryKind::Add,
                }
                .into(),
                &[x, c],
            )
            .unwrap();
        x = g.add_node(format!("relu{i}"), Relu.into(), &[a]).unwrap();
    }
    g.add_output("y", x).unwrap();
    let calib = Tensor::from_f32(&[2, 4], vec![0.5; 8]).unwrap();
    let start = std::time::Instant::now();
    let q = quantize(&g, &[calib], &QuantOptions::default()).unwrap();
    let took = start.elapsed();
    // Input, then per layer a Const and an Add (with the Relu fused into it).
    assert_eq!(q.model.graph.nodes.len(), 1 + 2 * 1000);
    assert!(took.as_secs() < 60, "took {took:?}");
    eprintln!("3000-node graph quantized in {took:?}");
}
