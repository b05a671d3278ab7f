//! Streaming trace reader with hard limits.

use std::io::{ErrorKind, Read};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::TraceError;
use crate::digest::{hex, is_sha256_hex};
use crate::format::{FORMAT_MAJOR, Limits, MAGIC};
use crate::frames::{Footer, Frame, Header, InputFrame, InputRef, Kind, Probe, Record};
use crate::tensor::check_shape;

/// Deepest MessagePack nesting accepted in a frame. Frames nest about 6 deep; values under
/// unknown keys are skipped recursively, so without this bound a hostile frame could exhaust
/// the stack.
const MAX_NESTING: usize = 64;

/// Reads a `.tkt` trace frame by frame.
///
/// [`TraceReader::new`] reads and validates the magic, version and header. Iterating yields
/// the input frames and records in file order; the iterator ends after the footer has been
/// read and verified (counts, digest, nothing after it). Every structural rule of the format
/// is checked here: record indices are consecutive, references point to earlier records,
/// to input frames already read or to `Const` nodes of the header's graph, tensors have
/// consistent lengths, and all sizes respect [`Limits`]. After the first error the iterator
/// yields nothing more. Nothing panics on any input.
pub struct TraceReader<R: Read> {
    r: R,
    limits: Limits,
    header: Header,
    hasher: Sha256,
    frame: u64,
    records: u64,
    inputs_seen: Vec<bool>,
    input_count: u64,
    footer: Option<Footer>,
    done: bool,
    buf: Vec<u8>,
}

impl<R: Read> TraceReader<R> {
    /// Opens a trace with the default [`Limits`].
    pub fn new(r: R) -> Result<Self, TraceError> {
        Self::with_limits(r, Limits::default())
    }

    /// Opens a trace with explicit limits.
    pub fn with_limits(mut r: R, limits: Limits) -> Result<Self, TraceError> {
        let mut preamble = [0u8; 12];
        read_exact(&mut r, &mut preamble, "magic and version")?;
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&preamble[..8]);
        if magic != MAGIC {
            return Err(TraceError::BadMagic { found: magic });
        }
        let major = u32::from_le_bytes([preamble[8], preamble[9], preamble[10], preamble[11]]);
        if major != FORMAT_MAJOR {
            return Err(TraceError::UnsupportedVersion {
                found: major,
                supported: FORMAT_MAJOR,
            });
        }
        let mut hasher = Sha256::new();
        hasher.update(preamble);
        let mut reader = TraceReader {
            r,
            limits,
            header: placeholder_header(),
            hasher,
            frame: 0,
            records: 0,
            inputs_seen: Vec::new(),
            input_count: 0,
            footer: None,
            done: false,
            buf: Vec::new(),
        };
        let kind = reader.read_frame("header")?;
        if kind != Kind::Header {
            return Err(TraceError::UnexpectedKind {
                frame: 0,
                expected: "header",
                found: kind,
            });
        }
        let header: Header = reader.decode()?;
        validate_header(&header, &limits)?;
        reader
            .hasher
            .update((reader.buf.len() as u32).to_le_bytes());
        reader.hasher.update(&reader.buf);
        reader.inputs_seen = vec![false; header.graph.inputs.len()];
        reader.header = header;
        reader.frame = 1;
        Ok(reader)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The footer, once the iterator has reached and verified it.
    pub fn footer(&self) -> Option<&Footer> {
        self.footer.as_ref()
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Number of records read so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// The next input frame or record, `Ok(None)` after a verified footer.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_next();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn read_next(&mut self) -> Result<Option<Frame>, TraceError> {
        let kind = self.read_frame("a frame or the footer")?;
        let frame = match kind {
            Kind::Input => Frame::Input(self.input()?),
            Kind::Record => Frame::Record(Box::new(self.record()?)),
            Kind::Footer => {
                self.read_footer()?;
                return Ok(None);
            }
            Kind::Header => {
                return Err(TraceError::UnexpectedKind {
                    frame: self.frame,
                    expected: "input, record or footer",
                    found: kind,
                });
            }
        };
        self.hasher.update((self.buf.len() as u32).to_le_bytes());
        self.hasher.update(&self.buf);
        self.frame += 1;
        Ok(Some(frame))
    }

    /// Reads the next length-prefixed frame into `buf` and returns its kind.
    fn read_frame(&mut self, what: &'static str) -> Result<Kind, TraceError> {
        let mut len = [0u8; 4];
        read_exact(&mut self.r, &mut len, what)?;
        let len = u32::from_le_bytes(len);
        if len > self.limits.max_frame_bytes {
            return Err(TraceError::FrameTooLarge {
                frame: self.frame,
                len: u64::from(len),
                max: u64::from(self.limits.max_frame_bytes),
            });
        }
        self.buf.clear();
        // `take` + `read_to_end` grows the buffer only as bytes arrive, so a lying length
        // prefix on a short file costs nothing.
        (&mut self.r)
            .take(u64::from(len))
            .read_to_end(&mut self.buf)?;
        if self.buf.len() != len as usize {
            return Err(TraceError::Truncated { what });
        }
        let probe: Probe = self.decode()?;
        Ok(probe.kind)
    }

    /// Decodes `buf` as one MessagePack value of type `T`, with nothing after it.
    fn decode<T: DeserializeOwned>(&self) -> Result<T, TraceError> {
        let mut slice = self.buf.as_slice();
        let mut de = rmp_serde::Deserializer::new(&mut slice);
        de.set_max_depth(MAX_NESTING);
        let value =
            serde::Deserialize::deserialize(&mut de).map_err(|source| TraceError::Decode {
                frame: self.frame,
                source,
            })?;
        if !slice.is_empty() {
            return Err(TraceError::FrameTrailingBytes {
                frame: self.frame,
                extra: slice.len() as u64,
            });
        }
        Ok(value)
    }

    fn input(&mut self) -> Result<InputFrame, TraceError> {
        let f: InputFrame = self.decode()?;
        let err = |field: &str, reason| TraceError::Input {
            input: f.input,
            field: field.to_string(),
            reason,
        };
        let position = usize::try_from(f.input)
            .ok()
            .filter(|&i| i < self.inputs_seen.len());
        let Some(position) = position else {
            return Err(err("input", "is not a graph input position"));
        };
        if self.inputs_seen[position] {
            return Err(err("input", "appears twice"));
        }
        if self.header.graph.inputs[position] != f.node {
            return Err(err("node", "is not the node of this graph input"));
        }
        if let Err(fault) = f.tensor.validate(&self.limits) {
            let (field, reason) = fault.describe();
            return Err(err(&format!("tensor.{field}"), reason));
        }
        self.inputs_seen[position] = true;
        self.input_count += 1;
        Ok(f)
    }

    fn record(&mut self) -> Result<Record, TraceError> {
        let index = self.records;
        let err = |field: &str, reason| TraceError::Record {
            record: index,
            field: field.to_string(),
            reason,
        };
        if index >= self.limits.max_records {
            return Err(err("index", "more records than the reader limit"));
        }
        let r: Record = self.decode()?;
        if r.index != index {
            return Err(err(
                "index",
                "records must be numbered 0, 1, 2, ... in file order",
            ));
        }
        let nodes = &self.header.graph.nodes;
        let Some(node) = usize::try_from(r.node).ok().and_then(|n| nodes.get(n)) else {
            return Err(err("node", "is not a node of the header's graph"));
        };
        if r.onnx_name.len() > self.limits.max_string_len
            || r.op.len() > self.limits.max_string_len
            || r.params.longest_string() > self.limits.max_string_len
        {
            return Err(err("onnx_name", "string longer than the reader limit"));
        }
        if node.op != r.op || node.name != r.onnx_name {
            return Err(err("op", "does not match the header's node"));
        }
        if r.inputs.len() != node.inputs.len() {
            return Err(err("inputs", "count differs from the header's node"));
        }
        for (j, input) in r.inputs.iter().enumerate() {
            let ok = match *input {
                InputRef::Record(k) => k < index,
                InputRef::Input(i) => {
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| self.inputs_seen.get(i))
                        == Some(&true)
                }
                InputRef::Const(id) => usize::try_from(id)
                    .ok()
                    .and_then(|id| nodes.get(id))
                    .is_some_and(|n| n.op == "Const"),
            };
            if !ok {
                return Err(err(
                    &format!("inputs[{j}]"),
                    "references a missing or later value",
                ));
            }
        }
        if let Err(fault) = r.output.validate(&self.limits) {
            let (field, reason) = fault.describe();
            return Err(err(&format!("output.{field}"), reason));
        }
        self.records += 1;
        Ok(r)
    }

    fn read_footer(&mut self) -> Result<(), TraceError> {
        let f: Footer = self.decode()?;
        if f.record_count != self.records {
            return Err(TraceError::Footer {
                field: "record_count",
                reason: "differs from the number of records",
            });
        }
        if f.input_count != self.input_count {
            return Err(TraceError::Footer {
                field: "input_count",
                reason: "differs from the number of input frames",
            });
        }
        if f.digest != hex(&self.hasher.clone().finalize()) {
            return Err(TraceError::Footer {
                field: "digest",
                reason: "does not match the bytes before the footer",
            });
        }
        let mut extra = [0u8; 1];
        loop {
            match self.r.read(&mut extra) {
                Ok(0) => break,
                Ok(_) => return Err(TraceError::TrailingData),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.footer = Some(f);
        Ok(())
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<Frame, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

impl<R: Read> std::iter::FusedIterator for TraceReader<R> {}

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8], what: &'static str) -> Result<(), TraceError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            TraceError::Truncated { what }
        } else {
            e.into()
        }
    })
}

fn placeholder_header() -> Header {
    Header {
        kind: Kind::Header,
        format_version: FORMAT_MAJOR,
        format_minor: 0,
        producer: String::new(),
        model_digest: String::new(),
        spec_version: 0,
        graph: crate::GraphSummary {
            inputs: vec![],
            outputs: vec![],
            nodes: vec![],
        },
    }
}

/// Structural rules of the header (see the format spec, section "Header").
fn validate_header(h: &Header, limits: &Limits) -> Result<(), TraceError> {
    let err = |field: String, reason| Err(TraceError::Header { field, reason });
    if h.format_version != FORMAT_MAJOR {
        return err(
            "format_version".into(),
            "differs from the version after the magic",
        );
    }
    if h.producer.len() > limits.max_string_len {
        return err("producer".into(), "string longer than the reader limit");
    }
    if !is_sha256_hex(&h.model_digest) {
        return err("model_digest".into(), "must be 64 lowercase hex digits");
    }
    let nodes = &h.graph.nodes;
    if nodes.len() > limits.max_nodes {
        return err("graph.nodes".into(), "more nodes than the reader limit");
    }
    for (i, n) in nodes.iter().enumerate() {
        let field = |f: &str| format!("graph.nodes[{i}].{f}");
        if n.id != i as u64 {
            return err(field("id"), "must equal the node's position");
        }
        if n.name.len() > limits.max_string_len
            || n.op.len() > limits.max_string_len
            || n.params.longest_string() > limits.max_string_len
        {
            return err(field("name"), "string longer than the reader limit");
        }
        if n.inputs.iter().any(|&p| p >= n.id) {
            return err(field("inputs"), "must reference earlier nodes");
        }
        if check_shape(&n.shape, limits).is_err() {
            return err(
                field("shape"),
                "rank or element count exceeds the reader limit",
            );
        }
    }
    for (i, &id) in h.graph.inputs.iter().enumerate() {
        if usize::try_from(id)
            .ok()
            .and_then(|id| nodes.get(id))
            .is_none_or(|n| n.op != "Input")
        {
            return err(format!("graph.inputs[{i}]"), "must name an Input node");
        }
    }
    for (i, &id) in h.graph.outputs.iter().enumerate() {
        if id >= nodes.len() as u64 {
            return err(format!("graph.outputs[{i}]"), "must name a node");
        }
    }
    Ok(())
}
