//! AvgPool: `sum = Σ window` (padding reads 0), `y = requant(sum; M[count], s, lo, hi)`.
//!
//! The sum is a [`dot`](super::dot) product with unit weights over the in-bounds positions
//! of the window (the verifying key fixes the weights to 1); the division is a
//! [`requant`](super::requant) slot with `m1 = M[count]`, where `count` is the number of
//! in-bounds positions (or the full window with `count_include_pad`). Uniqueness: as for the
//! two chips.

use super::dot::DotSpec;
use super::max_pool::pool_windows;
use super::requant::RequantParams;

/// For every output element: the unit-weight sum over its window, its input positions and its
/// requant parameters (`None` when the multiplier for its count is missing).
pub fn lower(
    x_shape: &[usize],
    out_shape: &[usize],
    op: &tk_quant::ops::AvgPool,
    lo: i64,
    hi: i64,
) -> Option<Vec<(DotSpec, Vec<usize>, RequantParams)>> {
    let g = &op.geometry;
    pool_windows(x_shape, out_shape, g)
        .into_iter()
        .map(|window| {
            let count = if op.count_include_pad {
                g.kernel[0] * g.kernel[1]
            } else {
                window.len()
            };
            let m = *op.multipliers.get(count)?;
            let spec = DotSpec {
                weights: vec![1; window.len()],
                bias: 0,
            };
            let params = RequantParams {
                m1: m.into(),
                m2: 0,
                m3: 0,
                shift: op.shift,
                lo,
                hi,
            };
            Some((spec, window, params))
        })
        .collect()
}
