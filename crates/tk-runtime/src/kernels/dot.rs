//! The integer dot-product core shared by `Conv` (after im2col) and `Gemm`.
//!
//! `out[j] = requant(bias + Σ_k w[k] * cols[j * K + k])`. The accumulator type is chosen per
//! layer from a worst-case bound (`max |x| * Σ |w| + |bias|` over output channels): `i32`
//! when that bound is below `2^31`, `i64` below `2^63`, otherwise `i128`, so no sum can wrap
//! and the result is the exact integer the spec defines. Each output element is one sequential
//! sum, so results do not depend on how rayon splits the work.

use std::ops::{Add, Mul};

use crate::arith::{acc_in_bound, requant};

/// Accumulator width for one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    /// Fits `i32`.
    I32,
    /// Fits `i64`.
    I64,
    /// Needs `i128`.
    I128,
}

/// Width that holds every partial sum, given `max |x|`, the weight rows (`k` each) and biases.
pub(crate) fn width(max_abs_x: u64, weights: &[i32], k: usize, bias: &[i32]) -> Width {
    let mut worst = 0u128;
    for (row, &b) in weights.chunks(k.max(1)).zip(bias) {
        let sum_w: u128 = row.iter().map(|&w| u128::from(w.unsigned_abs())).sum();
        worst = worst.max(sum_w * u128::from(max_abs_x) + u128::from(b.unsigned_abs()));
    }
    if worst < 1 << 31 {
        Width::I32
    } else if worst < 1 << 63 {
        Width::I64
    } else {
        Width::I128
    }
}

/// Largest `|x|` of a slice.
pub(crate) fn max_abs(data: &[i32]) -> u64 {
    data.iter()
        .map(|&v| u64::from(v.unsigned_abs()))
        .max()
        .unwrap_or(0)
}

/// Requantization of one output row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowParams {
    /// Bias.
    pub bias: i32,
    /// Multiplier `M`.
    pub m: i32,
    /// Shift `s`.
    pub s: u8,
    /// Output range.
    pub lo: i32,
    /// Output range.
    pub hi: i32,
}

/// Fills `out[j]` for every column `j` of `cols` (`out.len()` columns of `w.len()` values).
///
/// Returns the first `(j, acc)` whose accumulator breaks the `2^40` bound; `out` is then
/// only partly written.
pub(crate) fn row(
    w: &[i32],
    cols: &[i32],
    p: RowParams,
    width: Width,
    out: &mut [i32],
) -> Option<(usize, i128)> {
    match width {
        Width::I32 => row_with::<i32>(w, cols, p, out),
        Width::I64 => row_with::<i64>(w, cols, p, out),
        Width::I128 => row_with::<i128>(w, cols, p, out),
    }
}

fn row_with<A>(w: &[i32], cols: &[i32], p: RowParams, out: &mut [i32]) -> Option<(usize, i128)>
where
    A: Copy + From<i32> + Into<i128> + Add<Output = A> + Mul<Output = A>,
{
    let k = w.len();
    for (j, y) in out.iter_mut().enumerate() {
        let col = &cols[j * k..(j + 1) * k];
        let dot = w
            .iter()
            .zip(col)
            .fold(A::from(p.bias), |s, (&a, &b)| s + A::from(a) * A::from(b));
        let acc: i128 = dot.into();
        if !acc_in_bound(acc) {
            return Some((j, acc));
        }
        // |acc| < 2^40, so it fits an i64.
        *y = requant(acc as i64, p.m, p.s, p.lo, p.hi);
    }
    None
}
