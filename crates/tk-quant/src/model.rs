//! The quantized model: an integer graph plus the metadata needed to read its outputs.

use serde::{Deserialize, Serialize};

use crate::ops::QOp;

/// Version of `docs/spec/integer-ops.md` this crate implements and writes. Version 2 added the
/// fused clamp of Conv, Gemm, Rescale and Add ([`QOp::fused_clamp`]).
pub const INTEGER_SPEC_VERSION: u32 = 2;

/// Oldest version of the integer standard this crate still reads: every version-1 model is a
/// version-2 model without fused clamps.
pub const OLDEST_INTEGER_SPEC_VERSION: u32 = 1;

/// A dense signed integer tensor, row-major.
///
/// **Invariant:** `data.len()` equals the product of `shape` (checked by [`QTensor::new`]
/// and by [`QModel::validate`] after loading).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements.
    pub data: Vec<i32>,
}

impl QTensor {
    /// A tensor, or `None` when the data length does not match the shape.
    pub fn new(shape: Vec<usize>, data: Vec<i32>) -> Option<QTensor> {
        let volume = tk_ir::checked_volume(&shape).ok()?;
        (volume == data.len()).then_some(QTensor { shape, data })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Option<QTensor> {
        let volume = tk_ir::checked_volume(&shape).ok()?;
        Some(QTensor {
            shape,
            data: vec![0; volume],
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// One integer operation of the quantized graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QNode {
    /// Index in [`QGraph::nodes`].
    pub id: usize,
    /// Name of the ONNX node this op implements (or a derived name such as `conv1/rescale`).
    pub name: String,
    /// Id of the float IR node it came from, when there is one.
    pub ir_node: Option<usize>,
    /// The operation and its integer parameters.
    pub op: QOp,
    /// Producers, all with smaller ids.
    pub inputs: Vec<usize>,
    /// Output shape.
    pub shape: Vec<usize>,
    /// Output bit width `b`: every output element lies in `[-2^(b-1), 2^(b-1) - 1]`.
    pub bits: u8,
}

impl QNode {
    /// Smallest value the output may hold.
    pub fn lo(&self) -> i32 {
        -(1i32 << (self.bits - 1))
    }

    /// Largest value the output may hold.
    pub fn hi(&self) -> i32 {
        (1i32 << (self.bits - 1)) - 1
    }

    /// Bounds of the op's final clamp: its fused clamp ([`QOp::fused_clamp`]) or else the
    /// output range `[lo(), hi()]`.
    pub fn clamp_bounds(&self) -> (i32, i32) {
        self.op
            .fused_clamp()
            .map_or((self.lo(), self.hi()), |[l, h]| (l, h))
    }
}

/// The integer graph, topologically ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QGraph {
    /// Nodes in execution order.
    pub nodes: Vec<QNode>,
    /// Ids of the input nodes.
    pub inputs: Vec<usize>,
    /// Ids of the output nodes.
    pub outputs: Vec<usize>,
}

/// Real-valued scale of a node's output (metadata for quantizing inputs and reading outputs;
/// never used by integer semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeScale {
    /// Node id.
    pub node: usize,
    /// `real = q * scale`.
    pub scale: f32,
}

/// A quantized model as stored in a `.tkq` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QModel {
    /// Version of the integer standard the graph follows.
    pub spec_version: u32,
    /// Free-form producer string (`tachikoma 0.1.0`).
    pub producer: String,
    /// Hex SHA-256 of the source ONNX file.
    pub source_digest: String,
    /// The integer graph.
    pub graph: QGraph,
    /// Scales of the inputs, outputs and any other node that has one.
    pub scales: Vec<NodeScale>,
}

impl QModel {
    /// Quantizes a float value for graph input `index` (spec section 5):
    /// `q = clamp(round_half_up(x / scale_in), lo, hi)`. The value must have the input's shape.
    pub fn quantize_input(
        &self,
        index: usize,
        value: &tk_ir::Tensor,
    ) -> crate::QuantResult<QTensor> {
        let bad = |reason: String| crate::QuantError::Value { index, reason };
        let id = *self
            .graph
            .inputs
            .get(index)
            .ok_or_else(|| bad("no such input".into()))?;
        let node = self
            .graph
            .nodes
            .get(id)
            .ok_or_else(|| bad("input node missing".into()))?;
        let scale = self
            .scale(id)
            .ok_or_else(|| bad("input has no scale".into()))?;
        let a = value.as_f32().map_err(|e| bad(e.to_string()))?;
        if a.shape() != node.shape.as_slice() {
            return Err(bad(format!(
                "shape {:?}, expected {:?}",
                a.shape(),
                node.shape
            )));
        }
        let data = a
            .iter()
            .map(|&x| crate::quantize_value(f64::from(x), f64::from(scale), node.lo(), node.hi()))
            .collect();
        Ok(QTensor {
            shape: node.shape.clone(),
            data,
        })
    }

    /// Dequantizes graph output `index`: `q * scale_out`.
    pub fn dequantize_output(
        &self,
        index: usize,
        value: &QTensor,
    ) -> crate::QuantResult<tk_ir::Tensor> {
        let bad = |reason: String| crate::QuantError::Value { index, reason };
        let id = *self
            .graph
            .outputs
            .get(index)
            .ok_or_else(|| bad("no such output".into()))?;
        let scale = self
            .scale(id)
            .ok_or_else(|| bad("output has no scale".into()))?;
        let data = value
            .data
            .iter()
            .map(|&q| (f64::from(q) * f64::from(scale)) as f32)
            .collect();
        tk_ir::Tensor::from_f32(&value.shape, data).map_err(|e| bad(e.to_string()))
    }
}

/// Quantizes one float value per graph input (see [`QModel::quantize_input`]).
pub fn quantize_inputs(
    model: &QModel,
    values: &[tk_ir::Tensor],
) -> crate::QuantResult<Vec<QTensor>> {
    if values.len() != model.graph.inputs.len() {
        return Err(crate::QuantError::Value {
            index: values.len(),
            reason: format!(
                "{} values for {} inputs",
                values.len(),
                model.graph.inputs.len()
            ),
        });
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| model.quantize_input(i, v))
        .collect()
}

/// Dequantizes every graph output (see [`QModel::dequantize_output`]).
pub fn dequantize_outputs(
    model: &QModel,
    values: &[QTensor],
) -> crate::QuantResult<Vec<tk_ir::Tensor>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| model.dequantize_output(i, v))
        .collect()
}
