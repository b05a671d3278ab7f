//! `Pad`: wiring with zero padding.

use serde::{Deserialize, Serialize};

/// Spec: constant padding with 0 (the quantized zero). `pads` is `[begin_0.., end_0..]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pad {
    /// Begin pads for every axis, then end pads.
    pub pads: Vec<usize>,
}
