//! A model's trace prepared once: the bytes every trace of the model starts with, and the
//! fixed bytes of each frame around its tensor.
//!
//! Everything in a frame but its tensor depends on the model alone, so a writer built from a
//! plan serialises no header, no keys and no parameters per trace: it copies the prepared
//! bytes and narrows the tensor straight into the frame. The bytes are exactly those of
//! `rmp_serde`'s named encoding of the frame's struct ([`Record`], [`InputFrame`]).

use serde::Serialize;
use sha2::{Digest, Sha256};
use tk_quant::QModel;
use tk_quant::ops::QOp;

use crate::TraceError;
use crate::digest::ModelDigest;
use crate::format::{FORMAT_MAJOR, FORMAT_MINOR, Limits, MAGIC};
use crate::frames::{GraphSummary, Header, InputRef, Kind, Meta};
use crate::layout::Layout;
use crate::params::Params;
use crate::tensor::Dtype;

/// Everything a [`crate::TraceWriter`] needs from a model, computed once per model and
/// shared by any number of traces (`TraceWriter::with_plan`).
///
/// Contract: a plan describes the model and `.tkq` digest it was built from; a writer built
/// from it writes the same bytes as [`crate::TraceWriter::new`] with that model and digest.
#[derive(Clone)]
pub struct TracePlan<'m> {
    pub(crate) model: &'m QModel,
    pub(crate) layout: Layout,
    /// Magic, major version and the length-prefixed header frame.
    pub(crate) head: Vec<u8>,
    /// SHA-256 state after hashing `head`.
    pub(crate) head_hash: Sha256,
    /// Per node id: the fixed parts of its frame (`None` for `Const` nodes, which have none).
    pub(crate) frames: Vec<Option<FrameParts>>,
    pub(crate) max_frame: u32,
}

/// The bytes of one frame's map around its tensor value.
#[derive(Debug, Clone)]
pub(crate) struct FrameParts {
    /// Map length, then every key and value before the tensor, ending with the tensor's key.
    pub before: Vec<u8>,
    /// Every key and value after the tensor.
    pub after: Vec<u8>,
    /// The node's stored element type.
    pub dtype: Dtype,
}

impl<'m> TracePlan<'m> {
    /// Prepares the traces of `model`, whose `.tkq` file has digest `model_digest`.
    pub fn new(model: &'m QModel, model_digest: &ModelDigest) -> Result<TracePlan<'m>, TraceError> {
        let graph = GraphSummary::of(model);
        let layout = Layout::of(model);
        let frames = model
            .graph
            .nodes
            .iter()
            .map(|node| {
                let dtype = Dtype::for_bits(node.bits);
                let parts = match (&node.op, layout.refs[node.id]) {
                    (QOp::Const(_), _) => return Ok(None),
                    (QOp::Input(_), input_ref) => {
                        let InputRef::Input(input) = input_ref else {
                            return unreachable_ref(node.id);
                        };
                        let mut before = map_len(4);
                        field(&mut before, "kind", &Kind::Input)?;
                        field(&mut before, "input", &input)?;
                        field(&mut before, "node", &(node.id as u64))?;
                        key(&mut before, "tensor");
                        FrameParts {
                            before,
                            after: Vec::new(),
                            dtype,
                        }
                    }
                    (op, input_ref) => {
                        let InputRef::Record(index) = input_ref else {
                            return unreachable_ref(node.id);
                        };
                        let inputs: Vec<InputRef> =
                            node.inputs.iter().map(|&p| layout.refs[p]).collect();
                        let mut before = map_len(9);
                        field(&mut before, "kind", &Kind::Record)?;
                        field(&mut before, "index", &index)?;
                        field(&mut before, "node", &(node.id as u64))?;
                        field(&mut before, "onnx_name", &node.name)?;
                        field(&mut before, "op", op.name())?;
                        field(&mut before, "inputs", &inputs)?;
                        key(&mut before, "output");
                        let mut after = Vec::new();
                        field(&mut after, "params", &Params::of(op, node.id))?;
                        let meta = Meta {
                            bits: node.bits,
                            scale: graph.nodes[node.id].scale,
                        };
                        field(&mut after, "meta", &meta)?;
                        FrameParts {
                            before,
                            after,
                            dtype,
                        }
                    }
                };
                Ok(Some(parts))
            })
            .collect::<Result<Vec<_>, TraceError>>()?;
        let header = Header {
            kind: Kind::Header,
            format_version: FORMAT_MAJOR,
            format_minor: FORMAT_MINOR,
            producer: format!("tachikoma tk-trace {}", env!("CARGO_PKG_VERSION")),
            model_digest: model_digest.to_hex(),
            spec_version: model.spec_version,
            graph,
        };
        let max_frame = Limits::default().max_frame_bytes;
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&FORMAT_MAJOR.to_le_bytes());
        let header = rmp_serde::to_vec_named(&header)?;
        head.extend_from_slice(&frame_len(header.len(), 0, max_frame)?.to_le_bytes());
        head.extend_from_slice(&header);
        let head_hash = Sha256::new_with_prefix(&head);
        Ok(TracePlan {
            model,
            layout,
            head,
            head_hash,
            frames,
            max_frame,
        })
    }

    /// The model the plan was built from.
    pub fn model(&self) -> &'m QModel {
        self.model
    }
}

/// The `u32` length prefix of a frame body of `len` bytes, or [`TraceError::FrameTooLarge`].
pub(crate) fn frame_len(len: usize, frame: u64, max: u32) -> Result<u32, TraceError> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .ok_or(TraceError::FrameTooLarge {
            frame,
            len: len as u64,
            max: u64::from(max),
        })
}

fn unreachable_ref<T>(node: usize) -> Result<T, TraceError> {
    Err(TraceError::WriterNode {
        node,
        reason: "has no reference of its kind in the model's layout",
    })
}

fn map_len(len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_map_len(&mut out, len);
    out
}

/// Appends a map key as `rmp_serde` writes struct field names.
pub(crate) fn key(out: &mut Vec<u8>, name: &str) {
    let _ = rmp::encode::write_str(out, name);
}

fn field<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    name: &str,
    value: &T,
) -> Result<(), TraceError> {
    key(out, name);
    rmp_serde::encode::write_named(out, value)?;
    Ok(())
}
