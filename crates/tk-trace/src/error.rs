//! The trace crate's error type (writing and reading); the checker's is [`crate::CheckError`].

/// Everything that can go wrong while writing or reading a `.tkt` trace.
///
/// Reading never panics: every malformed input maps to one of these variants.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// An I/O error of the underlying reader or writer.
    #[error("i/o error")]
    Io(#[from] std::io::Error),
    /// The input ended inside a structure.
    #[error("trace truncated while reading {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// The first 8 bytes are not `TKTRACE\0`.
    #[error("bad magic {found:02x?}, expected TKTRACE\\0")]
    BadMagic {
        /// The bytes found.
        found: [u8; 8],
    },
    /// The major format version is not one this reader implements.
    #[error("trace format major version {found} is not supported (this reader: {supported})")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version implemented here.
        supported: u32,
    },
    /// A frame's declared length exceeds the reader's limit.
    #[error("frame {frame} declares {len} bytes, limit is {max}")]
    FrameTooLarge {
        /// Frame number (0 is the header).
        frame: u64,
        /// Declared length.
        len: u64,
        /// Limit.
        max: u64,
    },
    /// A frame is not a valid MessagePack map of the expected structure.
    #[error("frame {frame} does not decode")]
    Decode {
        /// Frame number.
        frame: u64,
        /// The decoder's error.
        #[source]
        source: rmp_serde::decode::Error,
    },
    /// A frame has bytes after its MessagePack value.
    #[error("frame {frame} has {extra} bytes after its map")]
    FrameTrailingBytes {
        /// Frame number.
        frame: u64,
        /// Number of unread bytes.
        extra: u64,
    },
    /// A frame could not be encoded.
    #[error("frame does not encode")]
    Encode(#[from] rmp_serde::encode::Error),
    /// A frame of an unexpected kind (e.g. a record before the header).
    #[error("frame {frame} is a {found:?} frame, expected {expected}")]
    UnexpectedKind {
        /// Frame number.
        frame: u64,
        /// What the reader expected.
        expected: &'static str,
        /// What it found.
        found: crate::Kind,
    },
    /// A field of the header is invalid.
    #[error("header field `{field}` is invalid: {reason}")]
    Header {
        /// Field path, e.g. `graph.nodes[3].inputs`.
        field: String,
        /// The violated rule.
        reason: &'static str,
    },
    /// A field of an input frame is invalid.
    #[error("input frame {input}: field `{field}` is invalid: {reason}")]
    Input {
        /// The frame's `input` position as far as known.
        input: u64,
        /// Field path.
        field: String,
        /// The violated rule.
        reason: &'static str,
    },
    /// A field of a record is invalid (bad index, reference to a missing or later record,
    /// malformed tensor, ...).
    #[error("record {record}: field `{field}` is invalid: {reason}")]
    Record {
        /// The record's position in the trace (its expected `index`).
        record: u64,
        /// Field path, e.g. `inputs[0]` or `output.data`.
        field: String,
        /// The violated rule.
        reason: &'static str,
    },
    /// A field of the footer is invalid (counts or digest disagree with the trace).
    #[error("footer field `{field}` is invalid: {reason}")]
    Footer {
        /// Field name.
        field: &'static str,
        /// The violated rule.
        reason: &'static str,
    },
    /// Bytes follow the footer.
    #[error("data after the footer")]
    TrailingData,
    /// The writer was given a node that is not part of its model, or out of order.
    #[error("writer: node {node} {reason}")]
    WriterNode {
        /// Node id of the event.
        node: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The writer was given a value that does not fit the node's dtype.
    #[error("writer: node {node} output element {index} = {value} does not fit {dtype:?}")]
    ValueTooWide {
        /// Node id.
        node: usize,
        /// Flat index.
        index: usize,
        /// The value.
        value: i32,
        /// The dtype chosen from the node's bits.
        dtype: crate::Dtype,
    },
}
