//! `Const`: an integer constant tensor.

use serde::{Deserialize, Serialize};

use crate::QTensor;

/// A constant activation-like tensor (e.g. an added constant), at the node's scale and bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Const {
    /// The value.
    pub value: QTensor,
}
