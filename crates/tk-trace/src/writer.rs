//! Streaming trace writer: an observer that writes one frame per event.

use std::io::Write;

use serde::Serialize;
use tk_quant::ops::QOp;
use tk_quant::{QModel, QTensor};
use tk_runtime::{Observer, ObserverError, OpEvent};

use crate::TraceError;
use crate::digest::{ModelDigest, hex};
use crate::format::{FORMAT_MAJOR, FORMAT_MINOR, Limits, MAGIC};
use crate::frames::{Footer, GraphSummary, Header, InputFrame, Kind, Meta, Record};
use crate::hashing::Hashing;
use crate::layout::Layout;
use crate::params::Params;
use crate::tensor::{Dtype, TraceTensor};

/// Writes a `.tkt` trace while the runtime executes: pass it to
/// [`tk_runtime::Runtime::run_observed`], then call [`TraceWriter::finish`].
///
/// Writes the magic, version and header on construction, one input frame per `Input` event,
/// one record per computed node (`Const` events write nothing: constants live in the
/// model), and the footer in `finish`. Each frame is written as soon as it is complete, so
/// memory stays at a few encoded layers: once a frame reaches 256 KiB, the running SHA-256
/// moves to a thread of its own (at most two frames wait for it), which overlaps hashing
/// with the next ops. Wrap files in a `BufWriter`.
///
/// The same model, digest and inputs always give the same bytes.
pub struct TraceWriter<'m, W: Write> {
    out: W,
    hashing: Hashing,
    model: &'m QModel,
    layout: Layout,
    scales: Vec<Option<f32>>,
    records: u64,
    inputs: u64,
    buf: Vec<u8>,
    /// Reused allocation for the encoded output of each frame.
    scratch: Vec<u8>,
    max_frame: u32,
}

impl<'m, W: Write> TraceWriter<'m, W> {
    /// Starts a trace of `model`, whose `.tkq` file has digest `model_digest`.
    pub fn new(out: W, model: &'m QModel, model_digest: &ModelDigest) -> Result<Self, TraceError> {
        let graph = GraphSummary::of(model);
        let scales = graph.nodes.iter().map(|n| n.scale).collect();
        let mut writer = TraceWriter {
            out,
            hashing: Hashing::new(),
            model,
            layout: Layout::of(model),
            scales,
            records: 0,
            inputs: 0,
            buf: Vec::new(),
            scratch: Vec::new(),
            max_frame: Limits::default().max_frame_bytes,
        };
        writer.put(&MAGIC)?;
        writer.put(&FORMAT_MAJOR.to_le_bytes())?;
        let header = Header {
            kind: Kind::Header,
            format_version: FORMAT_MAJOR,
            format_minor: FORMAT_MINOR,
            producer: format!("tachikoma tk-trace {}", env!("CARGO_PKG_VERSION")),
            model_digest: model_digest.to_hex(),
            spec_version: model.spec_version,
            graph,
        };
        writer.frame(&header, true)?;
        Ok(writer)
    }

    /// Writes the footer and returns the underlying writer (flushed).
    pub fn finish(mut self) -> Result<W, TraceError> {
        let digest = std::mem::replace(&mut self.hashing, Hashing::Switching)
            .finish()
            .ok_or_else(|| std::io::Error::other("the trace hashing thread stopped"))?;
        let footer = Footer {
            kind: Kind::Footer,
            record_count: self.records,
            input_count: self.inputs,
            digest: hex(&digest),
        };
        self.frame(&footer, false)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Number of records written so far.
    pub fn record_count(&self) -> u64 {
        self.records
    }

    /// Writes the frame for one runtime event.
    pub fn write_event(&mut self, event: &OpEvent<'_>) -> Result<(), TraceError> {
        let node = event.node;
        let model_node = self.model.graph.nodes.get(node.id);
        if model_node.is_none_or(|m| m.name != node.name || m.op.name() != node.op.name()) {
            return Err(TraceError::WriterNode {
                node: node.id,
                reason: "is not a node of the writer's model",
            });
        }
        match &node.op {
            QOp::Const(_) => Ok(()),
            QOp::Input(_) => {
                let crate::InputRef::Input(input) = self.layout.refs[node.id] else {
                    return Err(TraceError::WriterNode {
                        node: node.id,
                        reason: "is not a graph input",
                    });
                };
                let frame = InputFrame {
                    kind: Kind::Input,
                    input,
                    node: node.id as u64,
                    tensor: self.encode(node.id, node.bits, event.output)?,
                };
                let written = self.frame(&frame, true);
                self.scratch = frame.tensor.data;
                written?;
                self.inputs += 1;
                Ok(())
            }
            op => {
                if self.layout.recorded.get(self.records as usize) != Some(&node.id) {
                    return Err(TraceError::WriterNode {
                        node: node.id,
                        reason: "arrived out of execution order",
                    });
                }
                let record = Record {
                    kind: Kind::Record,
                    index: self.records,
                    node: node.id as u64,
                    onnx_name: node.name.clone(),
                    op: op.name().to_string(),
                    inputs: node.inputs.iter().map(|&p| self.layout.refs[p]).collect(),
                    output: self.encode(node.id, node.bits, event.output)?,
                    params: Params::of(op, node.id),
                    meta: Meta {
                        bits: node.bits,
                        scale: self.scales[node.id],
                    },
                };
                let written = self.frame(&record, true);
                self.scratch = record.output.data;
                written?;
                self.records += 1;
                Ok(())
            }
        }
    }

    /// Writes `u32 LE length ++ MessagePack map`, hashing it when `hashed` (everything but
    /// the footer).
    fn frame<T: Serialize>(&mut self, value: &T, hashed: bool) -> Result<(), TraceError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        rmp_serde::encode::write_named(&mut buf, value)?;
        let body = buf.len() - 4;
        let len = u32::try_from(body)
            .ok()
            .filter(|&l| l <= self.max_frame)
            .ok_or(TraceError::FrameTooLarge {
                frame: self.records + self.inputs + 1,
                len: body as u64,
                max: u64::from(self.max_frame),
            })?;
        buf[..4].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&buf)?;
        self.buf = if hashed {
            self.hashing.update(buf)
        } else {
            buf
        };
        Ok(())
    }

    /// Encodes a node's value into the reused scratch allocation.
    fn encode(&mut self, node: usize, bits: u8, t: &QTensor) -> Result<TraceTensor, TraceError> {
        let dtype = Dtype::for_bits(bits);
        let scratch = std::mem::take(&mut self.scratch);
        TraceTensor::encode_into(t, dtype, scratch).map_err(|(index, value)| {
            TraceError::ValueTooWide {
                node,
                index,
                value,
                dtype,
            }
        })
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), TraceError> {
        self.hashing.update_now(bytes);
        self.out.write_all(bytes)?;
        Ok(())
    }
}
impl<W: Write> Observer for TraceWriter<'_, W> {
    fn on_op(&mut self, event: &OpEvent<'_>) -> Result<(), ObserverError> {
        self.write_event(event).map_err(ObserverError::new)
    }
}
