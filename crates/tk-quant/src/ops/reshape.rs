//! `Reshape`: wiring to a new shape (also Flatten, Squeeze, Unsqueeze).

use serde::{Deserialize, Serialize};

/// Spec: same elements in row-major order, new shape (the node's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape {}
