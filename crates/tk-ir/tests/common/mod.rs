//! Helpers shared by the integration tests: tolerance checks and tract as a second opinion.
#![allow(dead_code)]

pub mod mutate;

use std::path::{Path, PathBuf};

use tk_ir::Tensor;
use tract_onnx::prelude::*;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Values of a tensor as f64, row-major.
pub fn values(t: &Tensor) -> Vec<f64> {
    match t {
        Tensor::F32(a) => a.iter().map(|&v| f64::from(v)).collect(),
        Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
    }
}

/// Checks `got` against `reference`: same shape and `max |got - ref| <= 1e-4 * (1 + max |ref|)`
/// (NaNs must match NaNs). Returns the maximum absolute error or a description of the mismatch.
pub fn compare(got: &Tensor, reference: &Tensor) -> Result<f64, String> {
    if got.shape() != reference.shape() {
        return Err(format!(
            "shape {:?}, expected {:?}",
            got.shape(),
            reference.shape()
        ));
    }
    let (g, r) = (values(got), values(reference));
    let scale = r
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let tolerance = 1e-4 * (1.0 + scale);
    let mut worst = 0.0f64;
    for (i, (a, b)) in g.iter().zip(&r).enumerate() {
        let err = if a.is_nan() && b.is_nan() || a == b {
            0.0
        } else {
            (a - b).abs()
        };
        if err.is_nan() || err > tolerance {
            return Err(format!(
                "element {i}: {a} vs expected {b} (tolerance {tolerance:.3e})"
            ));
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

/// Runs an ONNX file through tract (optimized plan) with concrete input values.
pub fn tract_eval(path: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let run = || -> TractResult<Vec<Tensor>> {
        let mut model = tract_onnx::onnx().model_for_path(path)?;
        for (i, t) in inputs.iter().enumerate() {
            let dt = match t {
                Tensor::F32(_) => f32::datum_type(),
                Tensor::I64(_) => i64::datum_type(),
            };
            model = model.with_input_fact(i, InferenceFact::dt_shape(dt, t.shape()))?;
        }
        let plan = model.into_optimized()?.into_runnable()?;
        let feed: TVec<TValue> = inputs
            .iter()
            .map(|t| match t {
                Tensor::F32(a) => tract_onnx::prelude::Tensor::from(a.clone()).into_tvalue(),
                Tensor::I64(a) => tract_onnx::prelude::Tensor::from(a.clone()).into_tvalue(),
            })
            .collect();
        let outputs = plan.run(feed)?;
        outputs
            .iter()
            .map(|o| {
                let o = o.cast_to::<f32>()?;
                Ok(Tensor::F32(o.to_plain_array_view::<f32>()?.to_owned()))
            })
            .collect()
    };
    run().map_err(|e| format!("{e:#}"))
}

/// Builders for hand-written ONNX models.
pub mod build {
    use tract_onnx::pb;
    use tract_onnx::pb::attribute_proto::AttributeType;
    use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension::Value};

    /// One declared dimension: a size, or a symbol.
    pub enum Dim {
        /// A fixed size.
        N(i64),
        /// A symbolic size.
        S(&'static str),
    }

    /// A float tensor value-info.
    pub fn value(name: &str, dims: &[Dim]) -> pb::ValueInfoProto {
        typed_value(name, 1, dims)
    }

    /// A tensor value-info of any ONNX element type.
    pub fn typed_value(name: &str, elem_type: i32, dims: &[Dim]) -> pb::ValueInfoProto {
        let dim = dims
            .iter()
            .map(|d| Dimension {
                denotation: String::new(),
                value: Some(match d {
                    Dim::N(n) => Value::DimValue(*n),
                    Dim::S(s) => Value::DimParam(s.to_string()),
                }),
            })
            .collect();
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                denotation: String::new(),
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type,
                    shape: Some(pb::TensorShapeProto { dim }),
                })),
            }),
            ..Default::default()
        }
    }

    /// A node.
    pub fn node(
        op: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
    ) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..Default::default()
        }
    }

    /// An `INT` attribute.
    pub fn int(name: &str, v: i64) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i: v,
            ..Default::default()
        }
    }

    /// An `INTS` attribute.
    pub fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Ints as i32,
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    /// A `FLOAT` attribute.
    pub fn float(name: &str, v: f32) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Float as i32,
            f: v,
            ..Default::default()
        }
    }

    /// A float initializer.
    pub fn f32_init(name: &str, dims: &[i64], data: Vec<f32>) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: data,
            ..Default::default()
        }
    }

    /// An int64 initializer.
    pub fn i64_init(name: &str, dims: &[i64], data: Vec<i64>) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 7,
            int64_data: data,
            ..Default::default()
        }
    }

    /// A model of opset `opset` around one graph.
    pub fn model(
        opset: i64,
        nodes: Vec<pb::NodeProto>,
        inputs: Vec<pb::ValueInfoProto>,
        outputs: Vec<pb::ValueInfoProto>,
        initializers: Vec<pb::TensorProto>,
    ) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 8,
            producer_name: "tk-ir tests".into(),
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            graph: Some(pb::GraphProto {
                name: "g".into(),
                node: nodes,
                input: inputs,
                output: outputs,
                initializer: initializers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Serialized bytes of a model.
    pub fn bytes(m: &pb::ModelProto) -> Vec<u8> {
        prost::Message::encode_to_vec(m)
    }
}
