//! `Slice`: wiring of a strided sub-range.

use serde::{Deserialize, Serialize};

/// Spec: along each axis `k`, output index `i` reads input index `starts[k] + i * steps[k]`.
/// One entry per input axis (full axes have start 0, step 1); steps may be negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slice {
    /// First input index per axis.
    pub starts: Vec<usize>,
    /// Step per axis, non-zero.
    pub steps: Vec<i64>,
}
