//! `Resize`: nearest-neighbour upsampling by integer factors (wiring).

use serde::{Deserialize, Serialize};

/// Spec: `y[.., i, ..] = x[.., i / scale, ..]` per axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resize {
    /// Integer factor per axis (1 for unchanged axes).
    pub scales: Vec<usize>,
}
