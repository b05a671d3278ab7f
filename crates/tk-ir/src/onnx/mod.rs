//! ONNX import: protobuf models to a [`Graph`].
//!
//! The protobuf is parsed by `tract-onnx`'s generated (prost) types; everything after that is
//! ours: tensors are decoded by [`tensor_from_proto`] (never by tract's loader), each ONNX op
//! type has one converter function registered in [`register_all_ops`], and constant
//! subgraphs are folded while importing.
//!
//! Contract of [`import_onnx`] / [`import_onnx_bytes`]:
//! - the default ONNX domain only; any other domain, and any op type without a converter, is
//!   [`IrError::UnsupportedOp`]; a supported op used outside tachikoma's subset (an attribute
//!   value, a mode, a non-constant parameter) is [`IrError::Unsupported`];
//! - graph inputs that are also initializers are constants (old exporters list weights as
//!   inputs); inputs named in [`ImportOptions::fixed_inputs`] become constants too;
//! - a symbolic first (batch) dimension defaults to 1, any other symbolic dimension must be
//!   given in [`ImportOptions::input_shapes`];
//! - every IR node carries the name of the ONNX node it came from (`<op_type>_<index>` when
//!   the model leaves it empty; helper nodes of a decomposition are named `<name>/<what>`);
//! - constants are folded: a node whose inputs are all constants becomes a `Const` node, so
//!   shape subgraphs (`Shape`, `Gather`, `Concat`, `Cast`, ...) never reach the run-time graph,
//!   while weights stay `Const` inputs of `Conv`, `Gemm`, `Add`, ...; unused nodes are removed;
//! - nothing panics on malformed input; sizes are checked against [`crate::limits`] and
//!   external tensor data is refused.
//!
//! ```no_run
//! use tk_ir::onnx::{ImportOptions, import_onnx};
//! let model = import_onnx("model.onnx".as_ref(), &ImportOptions::default()).unwrap();
//! println!("opset {}, {} nodes", model.opset, model.graph.nodes().len());
//! ```

mod context;
mod convert;
mod node;
mod registry;
mod tensor;
pub mod tract;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::{self as pb, type_proto};
use tract_onnx::prelude::Framework;

pub use context::ImportCtx;
pub use convert::register_all_ops;
pub use node::OnnxNode;
pub use registry::{Converter, OpRegistry};
pub use tensor::{decode_tensor_proto, dtype_of, elem_type_name, tensor_from_proto};

use crate::ops::Op;
use crate::{Fact, Graph, IrError, IrResult, OutletId, Tensor, limits};

/// Choices the caller makes about a model's inputs.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Concrete shapes for graph inputs, by name. Overrides the declared shape; must agree
    /// with its rank and with every declared fixed dimension.
    pub input_shapes: BTreeMap<String, Vec<usize>>,
    /// Graph inputs to replace by constants, by name (e.g. weights that conformance tests feed
    /// as inputs). The tensor's dtype must be the one the declared element type maps to.
    pub fixed_inputs: BTreeMap<String, Tensor>,
}

/// An imported model.
#[derive(Debug, Clone)]
pub struct Model {
    /// The float graph, topologically ordered, with constants folded and dead nodes removed.
    pub graph: Graph,
    /// Version of the default ONNX operator set the model imports.
    pub opset: i64,
    /// ONNX IR version of the file.
    pub ir_version: i64,
    /// `producer_name` and `producer_version`, space-separated.
    pub producer: String,
    /// Names of the graph inputs that remain inputs (parallel to [`Graph::inputs`]).
    pub input_names: Vec<String>,
    /// Names of the graph outputs (parallel to [`Graph::outputs`]).
    pub output_names: Vec<String>,
}

/// Imports an ONNX file. See the module docs for the contract.
pub fn import_onnx(path: &Path, options: &ImportOptions) -> IrResult<Model> {
    let io = |source| IrError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > limits::MAX_MODEL_BYTES {
        return Err(IrError::Limit {
            what: format!("size of {}", path.display()),
            got: u128::from(size),
            max: u128::from(limits::MAX_MODEL_BYTES),
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let proto = decode_model(&bytes, &path.display().to_string())?;
    import_model_proto(&proto, options, &path.display().to_string())
}

/// Imports an ONNX model held in memory. See the module docs for the contract.
pub fn import_onnx_bytes(bytes: &[u8], options: &ImportOptions) -> IrResult<Model> {
    let proto = decode_model(bytes, "<bytes>")?;
    import_model_proto(&proto, options, "<bytes>")
}

/// Parses model bytes with `tract-onnx`'s protobuf types; `origin` names the source in errors.
pub fn decode_model(bytes: &[u8], origin: &str) -> IrResult<pb::ModelProto> {
    if bytes.len() as u64 > limits::MAX_MODEL_BYTES {
        return Err(IrError::Limit {
            what: format!("size of {origin}"),
            got: bytes.len() as u128,
            max: u128::from(limits::MAX_MODEL_BYTES),
        });
    }
    if bytes.is_empty() {
        return Err(malformed(origin, "empty file"));
    }
    let mut reader = bytes;
    tract_onnx::onnx()
        .proto_model_for_read(&mut reader)
        .map_err(|e| malformed(origin, format!("protobuf decoding failed: {e:#}")))
}

fn malformed(origin: &str, reason: impl Into<String>) -> IrError {
    IrError::Malformed {
        path: origin.to_string(),
        reason: reason.into(),
    }
}

/// The shape and element type a graph input or output declares, if it is a tensor.
fn tensor_type(vi: &pb::ValueInfoProto) -> Option<&type_proto::Tensor> {
    match vi.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some(t),
    }
}

/// Resolves the shape of graph input `name` from its declaration and the user's override.
fn input_shape(
    name: &str,
    declared: Option<&pb::TensorShapeProto>,
    given: Option<&Vec<usize>>,
) -> IrResult<Vec<usize>> {
    let mismatch = |expected: String, got: String| IrError::InputMismatch {
        name: name.to_string(),
        expected,
        got,
    };
    let dims: Option<&[pb::tensor_shape_proto::Dimension]> = declared.map(|s| s.dim.as_slice());
    if let Some(dims) = dims
        && dims.len() > limits::MAX_RANK
    {
        return Err(IrError::Limit {
            what: format!("rank of input {name:?}"),
            got: dims.len() as u128,
            max: limits::MAX_RANK as u128,
        });
    }
    let fixed = |d: &pb::tensor_shape_proto::Dimension| match d.value {
        Some(DimValue::DimValue(v)) => Some(v),
        _ => None,
    };
    if let Some(given) = given {
        if let Some(dims) = dims {
            let agrees = dims.len() == given.len()
                && dims
                    .iter()
                    .zip(given)
                    .all(|(d, &g)| fixed(d).is_none_or(|v| v == g as i64));
            if !agrees {
                let declared: Vec<String> = dims
                    .iter()
                    .map(|d| fixed(d).map_or("?".to_string(), |v| v.to_string()))
                    .collect();
                return Err(mismatch(
                    format!("a shape matching [{}]", declared.join(", ")),
                    format!("{given:?}"),
                ));
            }
        }
        return Ok(given.clone());
    }
    let Some(dims) = dims else {
        return Err(mismatch(
            "a declared shape".into(),
            "none; pass its shape (--input-shape)".into(),
        ));
    };
    dims.iter()
        .enumerate()
        .map(|(axis, d)| match &d.value {
            Some(DimValue::DimValue(v)) => usize::try_from(*v).map_err(|_| {
                mismatch(
                    "non-negative dimensions".into(),
                    format!("{v} at axis {axis}"),
                )
            }),
            _ if axis == 0 => Ok(1),
            other => {
                let symbol = match other {
                    Some(DimValue::DimParam(p)) if !p.is_empty() => {
                        format!("symbolic dimension {p:?}")
                    }
                    _ => "an unknown dimension".to_string(),
                };
                Err(mismatch(
                    format!("a concrete size at axis {axis}"),
                    format!("{symbol}; pass the input shape (--input-shape {name}=...)"),
                ))
            }
        })
        .collect()
}

/// Imports a parsed model. `origin` names the source in errors.
pub fn import_model_proto(
    proto: &pb::ModelProto,
    options: &ImportOptions,
    origin: &str,
) -> IrResult<Model> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| malformed(origin, "no graph"))?;
    for (what, count) in [
        ("node count", graph.node.len()),
        ("initializer count", graph.initializer.len()),
    ] {
        if count > limits::MAX_NODES {
            return Err(IrError::Limit {
                what: what.into(),
                got: count as u128,
                max: limits::MAX_NODES as u128,
            });
        }
    }
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| malformed(origin, "no opset for the default ONNX domain"))?;
    let registry = OpRegistry::with_all_ops();
    let mut ctx = ImportCtx::new(opset);

    let declared: BTreeSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    for name in options
        .fixed_inputs
        .keys()
        .chain(options.input_shapes.keys())
    {
        if !declared.contains(name.as_str()) {
            return Err(IrError::InputMismatch {
                name: name.clone(),
                expected: "the name of a graph input".into(),
                got: "no such input".into(),
            });
        }
    }

    let mut initializers = BTreeSet::new();
    for t in &graph.initializer {
        let value = tensor_from_proto(t)?;
        let outlet = ctx.graph.add_const(t.name.clone(), value)?;
        ctx.bind(&t.name, outlet)?;
        ctx.set_elem_type(outlet, t.data_type);
        initializers.insert(t.name.as_str());
    }

    let mut input_names = Vec::new();
    for vi in graph
        .input
        .iter()
        .filter(|vi| !initializers.contains(vi.name.as_str()))
    {
        let unsupported = |feature: String| IrError::Unsupported {
            op: "graph input".into(),
            node: vi.name.clone(),
            feature,
        };
        let t = tensor_type(vi).ok_or_else(|| unsupported("non-tensor input".into()))?;
        let dtype = dtype_of(t.elem_type)
            .ok_or_else(|| unsupported(format!("input type {}", elem_type_name(t.elem_type))))?;
        let outlet = if let Some(value) = options.fixed_inputs.get(&vi.name) {
            let shape = value.shape().to_vec();
            let fact = Fact {
                dtype,
                shape: input_shape(&vi.name, t.shape.as_ref(), Some(&shape))?,
            };
            if value.fact() != fact {
                return Err(IrError::InputMismatch {
                    name: vi.name.clone(),
                    expected: fact.to_string(),
                    got: value.fact().to_string(),
                });
            }
            ctx.graph.add_const(vi.name.clone(), value.clone())?
        } else {
            let shape = input_shape(
                &vi.name,
                t.shape.as_ref(),
                options.input_shapes.get(&vi.name),
            )?;
            input_names.push(vi.name.clone());
            ctx.graph
                .add_input(vi.name.clone(), Fact { dtype, shape })?
        };
        ctx.bind(&vi.name, outlet)?;
        ctx.set_elem_type(outlet, t.elem_type);
    }

    // Outputs a converter did not produce: (op type, node name, output index).
    let mut unproduced: BTreeMap<&str, (&str, String, usize)> = BTreeMap::new();
    let not_produced = |(op, node, k): &(&str, String, usize)| IrError::Unsupported {
        op: op.to_string(),
        node: node.clone(),
        feature: format!("output {k}"),
    };
    for (index, n) in graph.node.iter().enumerate() {
        let node = OnnxNode::new(n, index);
        if node.name.len() > limits::MAX_NAME_BYTES || n.op_type.len() > limits::MAX_NAME_BYTES {
            return Err(IrError::Limit {
                what: "node name length".into(),
                got: node.name.len().max(n.op_type.len()) as u128,
                max: limits::MAX_NAME_BYTES as u128,
            });
        }
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return Err(IrError::UnsupportedOp {
                op: format!("{}::{}", n.domain, n.op_type),
                node: node.name,
            });
        }
        let converter = registry
            .get(&n.op_type)
            .ok_or_else(|| IrError::UnsupportedOp {
                op: n.op_type.clone(),
                node: node.name.clone(),
            })?;
        if let Some(missing) = n.input.iter().find_map(|i| unproduced.get(i.as_str())) {
            return Err(not_produced(missing));
        }
        let outputs = converter(&mut ctx, &node)?;
        if outputs.len() > n.output.len() {
            return Err(node.invalid(format!(
                "{} outputs declared, {} produced",
                n.output.len(),
                outputs.len()
            )));
        }
        for (k, name) in n.output.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            match outputs.get(k) {
                Some(&outlet) => ctx.bind(name, outlet)?,
                None => {
                    unproduced.insert(name, (n.op_type.as_str(), node.name.clone(), k));
                }
            }
        }
    }

    let mut output_names = Vec::new();
    let mut outputs = Vec::new();
    for vo in &graph.output {
        let outlet = match ctx.value(&vo.name) {
            Some(o) => o,
            None => match unproduced.get(vo.name.as_str()) {
                Some(missing) => return Err(not_produced(missing)),
                None => {
                    return Err(IrError::DanglingEdge {
                        node: "<graph outputs>".into(),
                        input: outputs.len(),
                        target: vo.name.clone(),
                    });
                }
            },
        };
        outputs.push(outlet);
        output_names.push(vo.name.clone());
    }
    let mut graph_ir = ctx.into_graph();
    for (name, outlet) in output_names.iter().zip(outputs) {
        graph_ir.add_output(name.clone(), outlet)?;
    }
    let producer = format!("{} {}", proto.producer_name, proto.producer_version)
        .trim()
        .to_string();
    Ok(Model {
        graph: prune(graph_ir)?,
        opset,
        ir_version: proto.ir_version,
        producer,
        input_names,
        output_names,
    })
}

/// Removes nodes that no graph output depends on (graph inputs always stay).
fn prune(graph: Graph) -> IrResult<Graph> {
    let mut live = vec![false; graph.nodes().len()];
    for o in graph.outputs().iter().chain(graph.inputs()) {
        live[o.node] = true;
    }
    for node in graph.nodes().iter().rev() {
        if live[node.id] {
            for i in &node.inputs {
                live[i.node] = true;
            }
        }
    }
    if live.iter().all(|&l| l) {
        return Ok(graph);
    }
    let (nodes, _, outputs, output_names) = graph.into_parts();
    let mut map: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut out = Graph::new();
    for node in nodes.into_iter().filter(|n| live[n.id]) {
        let inputs: Vec<OutletId> = node
            .inputs
            .iter()
            .map(|i| {
                map[i.node].map(|n| OutletId {
                    node: n,
                    slot: i.slot,
                })
            })
            .collect::<Option<_>>()
            .ok_or_else(|| IrError::DanglingEdge {
                node: node.name.clone(),
                input: 0,
                target: "pruned node".into(),
            })?;
        let outlet = match node.op {
            Op::Input(input) => out.add_input(node.name, input.fact)?,
            op => out.add_node(node.name, op, &inputs)?,
        };
        map[node.id] = Some(outlet.node);
    }
    for (o, name) in outputs.into_iter().zip(output_names) {
        let node = map[o.node].ok_or_else(|| IrError::DanglingEdge {
            node: name.clone(),
            input: 0,
            target: "pruned output".into(),
        })?;
        out.add_output(name, OutletId { node, slot: o.slot })?;
    }
    Ok(out)
}
