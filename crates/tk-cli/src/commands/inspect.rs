//! `tk inspect`: one line per node and a summary.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use tk_ir::ops::OpDef;

/// Arguments of `tk inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model.
    model: PathBuf,
    /// Resolve a symbolic input shape: `name=1,3,224,224` (repeatable).
    #[arg(long = "input-shape")]
    input_shapes: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct NodeLine {
    id: usize,
    name: String,
    op: &'static str,
    inputs: Vec<String>,
    dtype: String,
    shape: Vec<usize>,
}

#[derive(serde::Serialize)]
struct Summary {
    model: String,
    nodes: usize,
    parameters: usize,
    ops: BTreeMap<&'static str, usize>,
    inputs: Vec<NodeLine>,
    outputs: Vec<NodeLine>,
}

/// Runs `tk inspect`.
pub fn run(args: Args) -> Result<serde_json::Value> {
    let model = super::import(&args.model, &args.input_shapes)?;
    let graph = &model.graph;
    let line = |id: usize| {
        let node = &graph.nodes()[id];
        NodeLine {
            id,
            name: node.name.clone(),
            op: node.op.name(),
            inputs: node
                .inputs
                .iter()
                .map(|i| graph.nodes()[i.node].name.clone())
                .collect(),
            dtype: format!("{:?}", node.fact.dtype),
            shape: node.fact.shape.clone(),
        }
    };
    let lines: Vec<NodeLine> = (0..graph.nodes().len()).map(line).collect();
    let mut ops = BTreeMap::new();
    let mut parameters = 0usize;
    for node in graph.nodes() {
        *ops.entry(node.op.name()).or_insert(0) += 1;
        if let tk_ir::ops::Op::Const(c) = &node.op {
            parameters += c.value.shape().iter().product::<usize>();
        }
    }
    let summary = Summary {
        model: args.model.display().to_string(),
        nodes: graph.nodes().len(),
        parameters,
        ops,
        inputs: graph.inputs().iter().map(|o| line(o.node)).collect(),
        outputs: graph.outputs().iter().map(|o| line(o.node)).collect(),
    };
    let value = serde_json::to_value(&summary)?;
    if args.json {
        let doc = serde_json::json!({ "nodes": lines, "summary": value });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(value);
    }
    for l in &lines {
        println!(
            "{:>5}  {:<20} {:<28} {:?} <- [{}]",
            l.id,
            l.op,
            l.name,
            l.shape,
            l.inputs.join(", ")
        );
    }
    println!(
        "{}: {} nodes, {} parameters; inputs {}; outputs {}",
        summary.model,
        summary.nodes,
        summary.parameters,
        describe(&summary.inputs),
        describe(&summary.outputs)
    );
    let ops: Vec<String> = summary
        .ops
        .iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect();
    println!("ops: {}", ops.join(", "));
    Ok(value)
}

fn describe(lines: &[NodeLine]) -> String {
    lines
        .iter()
        .map(|l| format!("{} {}{:?}", l.name, l.dtype, l.shape))
        .collect::<Vec<_>>()
        .join(", ")
}
