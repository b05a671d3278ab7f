//! tk-quant
