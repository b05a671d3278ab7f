//! `MaxPool`: window maximum.

use serde::{Deserialize, Serialize};

use super::PoolGeometry;

/// Spec: max over each window; padded positions are never selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPool {
    /// Window geometry.
    pub geometry: PoolGeometry,
}
