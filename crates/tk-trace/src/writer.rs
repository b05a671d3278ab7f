//! Streaming trace writer: an observer that writes one frame per event.

use std::io::Write;
use std::ops::Deref;

use tk_quant::QModel;
use tk_quant::ops::QOp;
use tk_runtime::{Observer, ObserverError, OpEvent};

use crate::TraceError;
use crate::digest::{ModelDigest, hex};
use crate::frames::{Footer, InputRef, Kind};
use crate::hashing::Hashing;
use crate::plan::{TracePlan, frame_len};
use crate::tensor::{AppendFault, append_encoded};

/// Writes a `.tkt` trace while the runtime executes: pass it to
/// [`tk_runtime::Runtime::run_observed`], then call [`TraceWriter::finish`].
///
/// Writes the magic, version and header on construction, one input frame per `Input` event,
/// one record per computed node (`Const` events write nothing: constants live in the
/// model), and the footer in `finish`. Each frame is written as soon as it is complete, so
/// memory stays at a few encoded layers: once a frame reaches 64 KiB, the running SHA-256
/// moves to a thread of its own (at most two jobs, a large frame or a batch of small ones,
/// wait for it), which overlaps hashing with the next ops. Wrap files in a `BufWriter`.
///
/// To write many traces of one model, build a [`TracePlan`] once and start each writer with
/// [`TraceWriter::with_plan`]: the header is then neither encoded nor hashed again.
///
/// The same model, digest and inputs always give the same bytes.
pub struct TraceWriter<'m, W: Write> {
    out: W,
    hashing: Hashing,
    plan: Plan<'m>,
    records: u64,
    inputs: u64,
    buf: Vec<u8>,
}

/// The writer's plan, built by the writer or lent by the caller.
enum Plan<'m> {
    Owned(Box<TracePlan<'m>>),
    Shared(&'m TracePlan<'m>),
}

impl<'m> Deref for Plan<'m> {
    type Target = TracePlan<'m>;

    fn deref(&self) -> &TracePlan<'m> {
        match self {
            Plan::Owned(plan) => plan,
            Plan::Shared(plan) => plan,
        }
    }
}

impl<'m, W: Write> TraceWriter<'m, W> {
    /// Starts a trace of `model`, whose `.tkq` file has digest `model_digest`.
    pub fn new(out: W, model: &'m QModel, model_digest: &ModelDigest) -> Result<Self, TraceError> {
        let plan = TracePlan::new(model, model_digest)?;
        TraceWriter::start(out, Plan::Owned(Box::new(plan)))
    }

    /// Starts a trace of the plan's model: the same bytes as [`TraceWriter::new`] with the
    /// plan's model and digest, without preparing them again.
    pub fn with_plan(out: W, plan: &'m TracePlan<'m>) -> Result<Self, TraceError> {
        TraceWriter::start(out, Plan::Shared(plan))
    }

    fn start(mut out: W, plan: Plan<'m>) -> Result<Self, TraceError> {
        out.write_all(&plan.head)?;
        Ok(TraceWriter {
            out,
            hashing: Hashing::resume(plan.head_hash.clone()),
            plan,
            records: 0,
            inputs: 0,
            buf: Vec::new(),
        })
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
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        rmp_serde::encode::write_named(&mut buf, &footer)?;
        self.write_frame(buf, false)?;
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
        let model_node = self.plan.model.graph.nodes.get(node.id);
        if model_node.is_none_or(|m| m.name != node.name || m.op.name() != node.op.name()) {
            return Err(TraceError::WriterNode {
                node: node.id,
                reason: "is not a node of the writer's model",
            });
        }
        if model_node.is_some_and(|m| m.shape != event.output.shape) {
            return Err(TraceError::WriterNode {
                node: node.id,
                reason: "has an output whose shape is not the model node's",
            });
        }
        match (&node.op, self.plan.layout.refs[node.id]) {
            (QOp::Const(_), _) => Ok(()),
            (QOp::Input(_), InputRef::Input(_)) => {
                self.tensor_frame(event)?;
                self.inputs += 1;
                Ok(())
            }
            (QOp::Input(_), _) => Err(TraceError::WriterNode {
                node: node.id,
                reason: "is not a graph input",
            }),
            _ => {
                if self.plan.layout.recorded.get(self.records as usize) != Some(&node.id) {
                    return Err(TraceError::WriterNode {
                        node: node.id,
                        reason: "arrived out of execution order",
                    });
                }
                self.tensor_frame(event)?;
                self.records += 1;
                Ok(())
            }
        }
    }

    /// Writes the node's prepared frame with the event's output as its tensor.
    fn tensor_frame(&mut self, event: &OpEvent<'_>) -> Result<(), TraceError> {
        let node = event.node.id;
        let parts = self.plan.frames[node]
            .as_ref()
            .ok_or(TraceError::WriterNode {
                node,
                reason: "has no frame",
            })?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        // The whole frame in one allocation: the tensor's map head is at most 32 bytes plus 9
        // per dimension.
        let data = event.output.data.len().saturating_mul(parts.dtype.size());
        let head = 32 + 9 * event.output.shape.len();
        buf.reserve((4 + parts.before.len() + head + parts.after.len()).saturating_add(data));
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&parts.before);
        let frame = self.records + self.inputs + 1;
        append_encoded(event.output, parts.dtype, &mut buf).map_err(|fault| match fault {
            AppendFault::TooWide { index, value } => TraceError::ValueTooWide {
                node,
                index,
                value,
                dtype: parts.dtype,
            },
            AppendFault::TooLong { bytes } => TraceError::FrameTooLarge {
                frame,
                len: bytes,
                max: u64::from(self.plan.max_frame),
            },
        })?;
        buf.extend_from_slice(&parts.after);
        self.write_frame(buf, true)
    }

    /// Writes `buf` (4 placeholder bytes, then a MessagePack map) as `u32 LE length ++ map`,
    /// hashing it when `hashed` (everything but the footer).
    fn write_frame(&mut self, mut buf: Vec<u8>, hashed: bool) -> Result<(), TraceError> {
        let frame = self.records + self.inputs + 1;
        let len = frame_len(buf.len() - 4, frame, self.plan.max_frame)?;
        buf[..4].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&buf)?;
        self.buf = if hashed {
            self.hashing.update(buf)
        } else {
            buf
        };
        Ok(())
    }
}

impl<W: Write> Observer for TraceWriter<'_, W> {
    fn on_op(&mut self, event: &OpEvent<'_>) -> Result<(), ObserverError> {
        self.write_event(event).map_err(ObserverError::new)
    }
}
