//! tk-trace
