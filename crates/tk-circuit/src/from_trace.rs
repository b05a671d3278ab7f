//! Witness values from a trace: the circuit's only source of values besides the model.

use std::io::Read;

use tk_quant::ops::QOp;
use tk_quant::{QModel, QTensor};
use tk_trace::{Frame, GraphSummary, InputRef, ModelDigest, Params, TraceReader};

use crate::CircuitError;
use crate::witness::OpWitness;

/// Every node's value as recorded in a trace (model inputs, constants and op outputs).
///
/// **Invariant:** `values[id]` is `Some` for every node of the model once
/// [`TraceValues::read`] succeeds; record references were resolved to the recorded values,
/// never recomputed.
#[derive(Debug, Clone)]
pub struct TraceValues {
    values: Vec<Option<QTensor>>,
    /// Record index of each executed node, in execution order.
    pub records: usize,
}

fn mismatch(reason: String) -> CircuitError {
    CircuitError::TraceMismatch(reason)
}

impl TraceValues {
    /// Reads a whole trace of `model`, whose `.tkq` bytes hash to `digest`.
    ///
    /// Checks that the header names this model and describes its graph (every node with its
    /// parameters), that every record belongs to the node it claims, carries that node's name,
    /// op, bit width and parameters and references exactly its producers, and that every node
    /// is recorded once. Values are *not* checked against the integer standard here: the
    /// circuit does that.
    pub fn read<R: Read>(
        mut reader: TraceReader<R>,
        model: &QModel,
        digest: &ModelDigest,
    ) -> Result<TraceValues, CircuitError> {
        if reader.header().model_digest != digest.to_hex() {
            return Err(mismatch(format!(
                "trace was produced from model {}, not {}",
                reader.header().model_digest,
                digest.to_hex()
            )));
        }
        if reader.header().spec_version != model.spec_version {
            return Err(mismatch(format!(
                "trace follows integer standard version {}, the model {}",
                reader.header().spec_version,
                model.spec_version
            )));
        }
        if reader.header().graph != GraphSummary::of(model) {
            return Err(mismatch(
                "the trace header describes another graph (nodes, shapes or parameters)".into(),
            ));
        }
        let nodes = &model.graph.nodes;
        let mut values: Vec<Option<QTensor>> = vec![None; nodes.len()];
        for node in nodes {
            if let QOp::Const(c) = &node.op {
                values[node.id] = Some(c.value.clone());
            }
        }
        let mut record_nodes: Vec<usize> = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            match frame {
                Frame::Input(input) => {
                    let id = usize::try_from(input.node)
                        .map_err(|_| mismatch("input node id".into()))?;
                    if model.graph.inputs.get(input.input as usize) != Some(&id) {
                        return Err(mismatch(format!(
                            "input frame {} names node {id}",
                            input.input
                        )));
                    }
                    values[id] = Some(input.tensor.to_qtensor().ok_or_else(|| {
                        mismatch(format!(
                            "input frame {} holds a malformed tensor",
                            input.input
                        ))
                    })?);
                }
                Frame::Record(record) => {
                    let id = usize::try_from(record.node)
                        .map_err(|_| mismatch("record node id".into()))?;
                    let node = nodes.get(id).ok_or_else(|| {
                        mismatch(format!("record {} names node {id}", record.index))
                    })?;
                    if record.inputs.len() != node.inputs.len() {
                        return Err(mismatch(format!(
                            "record {} has {} inputs",
                            record.index,
                            record.inputs.len()
                        )));
                    }
                    if record.onnx_name != node.name
                        || record.op != node.op.name()
                        || record.meta.bits != node.bits
                        || record.params != Params::of(&node.op, id)
                    {
                        return Err(mismatch(format!(
                            "record {} describes node {id} ({}) with another name, op, bit width \
                             or parameters than the model",
                            record.index, node.name
                        )));
                    }
                    for (slot, (reference, &producer)) in
                        record.inputs.iter().zip(&node.inputs).enumerate()
                    {
                        let referenced = match *reference {
                            InputRef::Record(k) => record_nodes.get(k as usize).copied(),
                            InputRef::Input(i) => model.graph.inputs.get(i as usize).copied(),
                            InputRef::Const(c) => Some(c as usize),
                        };
                        if referenced != Some(producer) {
                            return Err(mismatch(format!(
                                "record {} input {slot} references {reference:?}, the model wires node {producer}",
                                record.index
                            )));
                        }
                    }
                    if values[id].is_some() {
                        return Err(mismatch(format!("node {id} is recorded twice")));
                    }
                    values[id] = Some(record.output.to_qtensor().ok_or_else(|| {
                        mismatch(format!("record {} holds a malformed output", record.index))
                    })?);
                    record_nodes.push(id);
                }
            }
        }
        if let Some(missing) = values.iter().position(Option::is_none) {
            return Err(mismatch(format!(
                "node {missing} ({}) has no recorded value",
                nodes[missing].name
            )));
        }
        Ok(TraceValues {
            values,
            records: record_nodes.len(),
        })
    }

    /// The value of node `id`.
    pub fn value(&self, id: usize) -> Option<&QTensor> {
        self.values.get(id).and_then(Option::as_ref)
    }

    /// Model input values, in `graph.inputs` order.
    pub fn inputs(&self, model: &QModel) -> Vec<QTensor> {
        model
            .graph
            .inputs
            .iter()
            .filter_map(|&i| self.value(i).cloned())
            .collect()
    }

    /// Model output values, in `graph.outputs` order.
    pub fn outputs(&self, model: &QModel) -> Vec<QTensor> {
        model
            .graph
            .outputs
            .iter()
            .filter_map(|&i| self.value(i).cloned())
            .collect()
    }

    /// One witness per node, in node order (inputs and constants included, as
    /// [`crate::ModelCircuit::for_keygen`] lays them out).
    pub fn op_witnesses<'m>(&self, model: &'m QModel) -> Vec<OpWitness<'m>> {
        model
            .graph
            .nodes
            .iter()
            .filter_map(|node| {
                Some(OpWitness {
                    node,
                    inputs: node
                        .inputs
                        .iter()
                        .map(|&i| self.value(i).cloned())
                        .collect::<Option<Vec<_>>>()?,
                    output: self.value(node.id)?.clone(),
                })
            })
            .collect()
    }
}
