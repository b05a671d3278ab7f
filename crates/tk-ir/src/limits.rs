//! Hard limits that protect every loader and builder from hostile inputs.

/// Most nodes a graph may hold.
pub const MAX_NODES: usize = 1 << 20;
/// Most elements one tensor may hold (2^31, 8 GiB of f32).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 31;
/// Most elements of a constant the ONNX importer computes itself (folded ops,
/// `ConstantOfShape`, `Range`, ...): 2^27, 512 MiB of f32. Stored initializers are bounded by
/// the file size instead.
pub const MAX_FOLDED_ELEMENTS: usize = 1 << 27;
/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = 8;
/// Largest model file accepted, in bytes (2 GiB, the protobuf limit).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;
/// Longest name or string attribute accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 4096;
