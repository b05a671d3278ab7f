//! Constants of the file layout and the reader's hard limits.

/// The 8 bytes every trace starts with.
pub const MAGIC: [u8; 8] = *b"TKTRACE\0";

/// Major format version written after the magic (`u32` little-endian). Readers reject any
/// other major version.
pub const FORMAT_MAJOR: u32 = 1;

/// Minor format version (header field `format_minor`): additions that older readers of the
/// same major may ignore. Minor 1 added the fused clamp bounds `lo`, `hi` to the params of
/// Conv, Gemm, Rescale and Add (integer standard version 2).
pub const FORMAT_MINOR: u32 = 1;

/// Hard limits a [`crate::TraceReader`] enforces before allocating or trusting anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame (MessagePack map) in bytes.
    pub max_frame_bytes: u32,
    /// Largest tensor element count (checked with `checked_mul` over the shape).
    pub max_tensor_elements: u64,
    /// Largest tensor rank.
    pub max_rank: usize,
    /// Largest number of records.
    pub max_records: u64,
    /// Largest number of graph nodes in the header.
    pub max_nodes: usize,
    /// Longest string (names, op names, producer) in bytes.
    pub max_string_len: usize,
}

impl Default for Limits {
    /// 256 MiB frames, 2^28-element tensors of rank at most 8, 2^24 records and nodes,
    /// 4 KiB strings.
    fn default() -> Limits {
        Limits {
            max_frame_bytes: 256 << 20,
            max_tensor_elements: 1 << 28,
            max_rank: 8,
            max_records: 1 << 24,
            max_nodes: 1 << 24,
            max_string_len: 4096,
        }
    }
}
