//! tk-circuit
