//! The op-by-op checker: a trace is accepted only if every record is the model's next node,
//! reads its producers' recorded values, and re-executes to its recorded output.

use std::io::Read;

use tk_quant::ops::QOp;
use tk_quant::{INTEGER_SPEC_VERSION, OLDEST_INTEGER_SPEC_VERSION, QModel, QTensor};
use tk_runtime::RuntimeError;

use crate::digest::ModelDigest;
use crate::frames::{Frame, GraphSummary, InputFrame, Record};
use crate::layout::Layout;
use crate::params::Params;
use crate::tensor::Dtype;
use crate::{TraceError, TraceReader};

/// What a successful check covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckReport {
    /// Number of records checked (every computed node of the model).
    pub records: u64,
    /// Number of model inputs read.
    pub inputs: u64,
}

/// The first failed check: where (`record`, `field`) and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: field `{field}`: {reason}", record.map_or_else(|| "trace".to_string(), |r| format!("record {r}")))]
pub struct CheckError {
    /// Index of the failing record; `None` for the header, input frames and footer.
    pub record: Option<u64>,
    /// Field path within the frame, e.g. `inputs[0]`, `output.data`, `header.model_digest`.
    pub field: String,
    /// What is wrong.
    #[source]
    pub reason: CheckFailure,
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailure {
    /// The trace is malformed (reported by the reader).
    #[error("malformed trace")]
    Trace(#[source] Box<TraceError>),
    /// Re-executing the op failed.
    #[error("re-execution failed")]
    Runtime(#[source] Box<RuntimeError>),
    /// The trace disagrees with the model or with re-execution.
    #[error("expected {expected}, found {found}")]
    Mismatch {
        /// What the model or re-execution says.
        expected: String,
        /// What the trace says.
        found: String,
    },
    /// A recorded element lies outside the node's bit range.
    #[error("element {index} is {value}, outside [{lo}, {hi}]")]
    OutOfRange {
        /// Flat element index.
        index: usize,
        /// The value.
        value: i32,
        /// Lower bound.
        lo: i32,
        /// Upper bound.
        hi: i32,
    },
}

fn fail(record: Option<u64>, field: impl Into<String>, reason: CheckFailure) -> CheckError {
    CheckError {
        record,
        field: field.into(),
        reason,
    }
}

fn mismatch(
    record: Option<u64>,
    field: impl Into<String>,
    expected: impl std::fmt::Debug,
    found: impl std::fmt::Debug,
) -> CheckError {
    let reason = CheckFailure::Mismatch {
        expected: format!("{expected:?}"),
        found: format!("{found:?}"),
    };
    fail(record, field, reason)
}

/// A reader error as a check failure, naming the record and field when the reader did.
fn from_trace(e: TraceError) -> CheckError {
    match &e {
        TraceError::Record { record, field, .. } => {
            let (record, field) = (Some(*record), field.clone());
            fail(record, field, CheckFailure::Trace(Box::new(e)))
        }
        TraceError::Input { input, field, .. } => {
            let field = format!("input[{input}].{field}");
            fail(None, field, CheckFailure::Trace(Box::new(e)))
        }
        TraceError::Header { field, .. } => {
            let field = format!("header.{field}");
            fail(None, field, CheckFailure::Trace(Box::new(e)))
        }
        TraceError::Footer { field, .. } => {
            let field = format!("footer.{field}");
            fail(None, field, CheckFailure::Trace(Box::new(e)))
        }
        _ => fail(None, "frame", CheckFailure::Trace(Box::new(e))),
    }
}

/// Checks a trace against the model it claims to come from.
///
/// Verifies, in order: the header (model digest, spec version, graph summary equal to the
/// model's); each input frame (shape, dtype, range); each record (it is the model's next
/// computed node, its references are the model's edges, its params and bits are the node's,
/// its output has the node's shape, dtype and range, and re-executing the node with
/// [`tk_runtime::execute_node`] on the referenced recorded values gives exactly the recorded
/// output); and the footer (verified by the reader) plus completeness (every computed node
/// recorded, every input present). Stops at the first failure.
///
/// Memory: recorded values are kept only until their last reader.
pub fn check<R: Read>(
    mut reader: TraceReader<R>,
    model: &QModel,
    model_digest: &ModelDigest,
) -> Result<CheckReport, CheckError> {
    // Structural validation first: afterwards ids, edges and bit widths can be trusted.
    tk_runtime::Runtime::new(model)
        .map_err(|e| fail(None, "model", CheckFailure::Runtime(Box::new(e))))?;
    check_header(&reader, model, model_digest)?;
    let limits = *reader.limits();
    let layout = Layout::of(model);
    let nodes = &model.graph.nodes;
    let mut last_use: Vec<usize> = (0..nodes.len()).collect();
    for n in nodes {
        for &p in &n.inputs {
            last_use[p] = last_use[p].max(n.id);
        }
    }
    let mut values: Vec<Option<QTensor>> = vec![None; nodes.len()];
    let mut inputs = 0u64;
    let mut records = 0u64;
    while let Some(frame) = reader.next_frame().map_err(from_trace)? {
        match frame {
            Frame::Input(f) => {
                let (id, value) = check_input(model, &f, &limits)?;
                values[id] = Some(value);
                inputs += 1;
            }
            Frame::Record(r) => {
                let id = check_record(model, &layout, &values, &r, &limits)?;
                values[id] = Some(decode(&r, &limits)?);
                for &p in &nodes[id].inputs {
                    if last_use[p] == id {
                        values[p] = None;
                    }
                }
                records += 1;
            }
        }
    }
    if records != layout.recorded.len() as u64 {
        return Err(mismatch(
            None,
            "footer.record_count",
            layout.recorded.len(),
            records,
        ));
    }
    if inputs != model.graph.inputs.len() as u64 {
        return Err(mismatch(
            None,
            "footer.input_count",
            model.graph.inputs.len(),
            inputs,
        ));
    }
    Ok(CheckReport { records, inputs })
}

fn check_header<R: Read>(
    reader: &TraceReader<R>,
    model: &QModel,
    digest: &ModelDigest,
) -> Result<(), CheckError> {
    let h = reader.header();
    if h.model_digest != digest.to_hex() {
        return Err(mismatch(
            None,
            "header.model_digest",
            digest.to_hex(),
            &h.model_digest,
        ));
    }
    if h.spec_version != model.spec_version
        || !(OLDEST_INTEGER_SPEC_VERSION..=INTEGER_SPEC_VERSION).contains(&h.spec_version)
    {
        return Err(mismatch(
            None,
            "header.spec_version",
            model.spec_version,
            h.spec_version,
        ));
    }
    let expected = GraphSummary::of(model);
    if h.graph.inputs != expected.inputs {
        return Err(mismatch(
            None,
            "header.graph.inputs",
            &expected.inputs,
            &h.graph.inputs,
        ));
    }
    if h.graph.outputs != expected.outputs {
        return Err(mismatch(
            None,
            "header.graph.outputs",
            &expected.outputs,
            &h.graph.outputs,
        ));
    }
    if h.graph.nodes.len() != expected.nodes.len() {
        return Err(mismatch(
            None,
            "header.graph.nodes",
            expected.nodes.len(),
            h.graph.nodes.len(),
        ));
    }
    for (i, (want, got)) in expected.nodes.iter().zip(&h.graph.nodes).enumerate() {
        // Scales are compared bit for bit so a NaN metadata scale cannot fail the check.
        let same_scale = want.scale.map(f32::to_bits) == got.scale.map(f32::to_bits);
        let mut got_unscaled = got.clone();
        got_unscaled.scale = want.scale;
        if !same_scale || &got_unscaled != want {
            return Err(mismatch(
                None,
                format!("header.graph.nodes[{i}]"),
                want,
                got,
            ));
        }
    }
    Ok(())
}

fn check_input(
    model: &QModel,
    f: &InputFrame,
    limits: &crate::Limits,
) -> Result<(usize, QTensor), CheckError> {
    let field = |s: &str| format!("input[{}].{s}", f.input);
    // The reader checked that `input` is a valid position and `node` its node.
    let id = model.graph.inputs[f.input as usize];
    let node = &model.graph.nodes[id];
    if f.tensor.dtype != Dtype::for_bits(node.bits) {
        return Err(mismatch(
            None,
            field("tensor.dtype"),
            Dtype::for_bits(node.bits),
            f.tensor.dtype,
        ));
    }
    let value = f
        .tensor
        .decode(limits)
        .map_err(|_| mismatch(None, field("tensor"), "a well-formed tensor", "malformed"))?;
    if value.shape != node.shape {
        return Err(mismatch(
            None,
            field("tensor.shape"),
            &node.shape,
            &value.shape,
        ));
    }
    check_range(None, field("tensor.data"), &value, node.bits)?;
    Ok((id, value))
}

fn decode(r: &Record, limits: &crate::Limits) -> Result<QTensor, CheckError> {
    // The reader validated the tensor, so this only fails if limits differ.
    r.output
        .decode(limits)
        .map_err(|_| mismatch(Some(r.index), "output", "a well-formed tensor", "malformed"))
}

/// Checks one record; returns its node id.
fn check_record(
    model: &QModel,
    layout: &Layout,
    values: &[Option<QTensor>],
    r: &Record,
    limits: &crate::Limits,
) -> Result<usize, CheckError> {
    let k = Some(r.index);
    let Some(&id) = layout.recorded.get(r.index as usize) else {
        return Err(mismatch(k, "node", "no further computed node", r.node));
    };
    let node = &model.graph.nodes[id];
    if r.node != id as u64 {
        return Err(mismatch(k, "node", id, r.node));
    }
    if r.onnx_name != node.name {
        return Err(mismatch(k, "onnx_name", &node.name, &r.onnx_name));
    }
    if r.op != node.op.name() {
        return Err(mismatch(k, "op", node.op.name(), &r.op));
    }
    let expected_refs: Vec<_> = node.inputs.iter().map(|&p| layout.refs[p]).collect();
    if r.inputs.len() != expected_refs.len() {
        return Err(mismatch(k, "inputs", &expected_refs, &r.inputs));
    }
    for (j, (want, got)) in expected_refs.iter().zip(&r.inputs).enumerate() {
        if want != got {
            return Err(mismatch(k, format!("inputs[{j}]"), want, got));
        }
    }
    let params = Params::of(&node.op, id);
    if r.params != params {
        return Err(mismatch(k, "params", &params, &r.params));
    }
    if r.meta.bits != node.bits {
        return Err(mismatch(k, "meta.bits", node.bits, r.meta.bits));
    }
    if r.output.dtype != Dtype::for_bits(node.bits) {
        return Err(mismatch(
            k,
            "output.dtype",
            Dtype::for_bits(node.bits),
            r.output.dtype,
        ));
    }
    let recorded = decode(r, limits)?;
    if recorded.shape != node.shape {
        return Err(mismatch(k, "output.shape", &node.shape, &recorded.shape));
    }
    check_range(k, "output.data".into(), &recorded, node.bits)?;
    let mut args = Vec::with_capacity(node.inputs.len());
    for (j, &p) in node.inputs.iter().enumerate() {
        let value = match &model.graph.nodes[p].op {
            QOp::Const(c) => Some(&c.value),
            _ => values[p].as_ref(),
        };
        args.push(value.ok_or_else(|| {
            mismatch(
                k,
                format!("inputs[{j}]"),
                "a value read earlier in the trace",
                "nothing",
            )
        })?);
    }
    let expected = tk_runtime::execute_node(node, &args)
        .map_err(|e| fail(k, "output", CheckFailure::Runtime(Box::new(e))))?;
    if let Some(i) = expected
        .data
        .iter()
        .zip(&recorded.data)
        .position(|(a, b)| a != b)
    {
        return Err(mismatch(
            k,
            format!("output.data[{i}]"),
            expected.data[i],
            recorded.data[i],
        ));
    }
    Ok(id)
}

fn check_range(
    record: Option<u64>,
    field: String,
    t: &QTensor,
    bits: u8,
) -> Result<(), CheckError> {
    let (lo, hi) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
    match t.data.iter().position(|&v| v < lo || v > hi) {
        None => Ok(()),
        Some(index) => Err(fail(
            record,
            field,
            CheckFailure::OutOfRange {
                index,
                value: t.data[index],
                lo,
                hi,
            },
        )),
    }
}
