//! tk-runtime
