//! The integer dot-product core shared by `Conv` (after im2col) and `Gemm`.
//!
//! Every output is `bias + Σ_k a[k] * b[k]` for a row `a` and a column `b` of `K` values, then
//! requantized. Two implementations compute the same exact integers:
//!
//! - the fast path, when every operand fits an `i16` (always true for activations and weights
//!   of at most 16 bits): rows and columns are stored as [`Lane`]s of 8 `i16`, zero-padded to
//!   a multiple of 8; products are summed in `i32` lanes over chunks of at most
//!   [`Fast::chunk`] terms, chosen from `max |a| * max |b|` so that no `i32` partial sum can
//!   wrap, and chunks are added in `i64`. A register-blocked micro-kernel computes 4 rows x 2
//!   columns at a time with 16-bit multiply-adds (`vpmaddwd` when the CPU has AVX2, detected
//!   at run time, through the safe wrappers of `pulp`; a portable loop otherwise);
//! - the generic path for anything else, with the accumulator type chosen per layer from a
//!   worst-case bound (`max |x| * Σ |w| + |bias|`): `i64` below `2^63`, otherwise `i128`.
//!
//! Integer addition is associative, so the order of the sums never changes a result: outputs
//! are exact and independent of how work is split between threads.

use std::ops::{Add, Mul};

use crate::arith::{acc_in_bound, requant};

/// Eight consecutive `i16` operands: the unit of the fast path.
pub(crate) type Lane = [i16; 8];

/// Number of lanes holding `k` values (zero-padded).
pub(crate) fn lanes(k: usize) -> usize {
    k.div_ceil(8)
}

/// Requantization of one output row or column.
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

impl RowParams {
    /// `requant(acc)`, or `Err(acc)` when the accumulator breaks the `2^40` bound.
    #[inline]
    pub fn apply(&self, acc: i64) -> Result<i32, i128> {
        if acc_in_bound(i128::from(acc)) {
            Ok(requant(acc, self.m, self.s, self.lo, self.hi))
        } else {
            Err(i128::from(acc))
        }
    }
}

impl RowParams {
    /// `out[q] = requant(bias + sums[q])` for every `q` (`out.len() == sums.len()`), or the
    /// position and value of the first accumulator that breaks the `2^40` bound (`out` then
    /// partly written). When every accumulator fits an `i32` (the common case) the loop is
    /// branch-free, so that it vectorises.
    #[inline(always)]
    pub fn apply_all(&self, sums: &[i64], out: &mut [i32]) -> Result<(), (usize, i128)> {
        let bias = i64::from(self.bias);
        let small = sums
            .iter()
            .fold(true, |ok, &v| ok & ((v + bias).unsigned_abs() < 1 << 31));
        if small {
            // |acc * M| < 2^62 and the rounding term is at most 2^61: exact in i64, and the
            // same value as `requant`'s.
            let (m, s) = (i64::from(self.m), u32::from(self.s));
            let half = (1i64 << s) >> 1;
            let (lo, hi) = (i64::from(self.lo), i64::from(self.hi));
            for (y, &v) in out.iter_mut().zip(sums) {
                *y = (((v + bias) * m + half) >> s).clamp(lo, hi) as i32;
            }
            return Ok(());
        }
        for (q, (y, &v)) in out.iter_mut().zip(sums).enumerate() {
            *y = self.apply(bias + v).map_err(|acc| (q, acc))?;
        }
        Ok(())
    }
}

pub(crate) use crate::simd::{Kernel, vectorized};

/// `out = requant(x)` element-wise with one requantization (no accumulator can break the
/// bound: every `|x| <= 2^31`).
pub(crate) struct Requant<'a> {
    /// Inputs.
    pub x: &'a [i32],
    /// Requantization (`bias` is added first).
    pub p: RowParams,
    /// Outputs, as many as inputs.
    pub out: &'a mut [i32],
}

impl Kernel for Requant<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        const BLOCK: usize = 256;
        let mut wide = [0i64; BLOCK];
        for (x, out) in self.x.chunks(BLOCK).zip(self.out.chunks_mut(BLOCK)) {
            for (w, &v) in wide.iter_mut().zip(x) {
                *w = i64::from(v);
            }
            // |x + bias| < 2^33 < 2^40: never an error.
            let _ = self.p.apply_all(&wide[..x.len()], out);
        }
    }
}

/// The smallest and largest values of a slice (both 0 when it is empty, and `min <= 0 <= max`).
pub(crate) struct MinMax<'a>(pub &'a [i32]);

impl Kernel for MinMax<'_> {
    type Output = (i32, i32);

    #[inline(always)]
    fn run(self) -> (i32, i32) {
        self.0
            .iter()
            .fold((0, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    }
}

/// Largest `|v|` of a slice.
pub(crate) fn max_abs(data: &[i32]) -> u64 {
    data.iter()
        .map(|&v| u64::from(v.unsigned_abs()))
        .max()
        .unwrap_or(0)
}

/// Rows of `k` values as rows of [`lanes`]`(k)` lanes, zero-padded; `None` when a value does
/// not fit an `i16`.
pub(crate) fn pack_rows(data: &[i32], k: usize) -> Option<Vec<Lane>> {
    let kl = lanes(k);
    let rows = data.len().checked_div(k).unwrap_or(0);
    let mut out = vec![[0i16; 8]; rows * kl];
    for (row, dst) in data
        .chunks_exact(k.max(1))
        .zip(out.chunks_exact_mut(kl.max(1)))
    {
        for (d, &v) in dst.as_flattened_mut().iter_mut().zip(row) {
            *d = i16::try_from(v).ok()?;
        }
    }
    Some(out)
}

/// Parameters of the fast path for one layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fast {
    /// Number of consecutive terms summed in `i32` before the partial sum goes to `i64`
    /// (a multiple of 8).
    pub chunk: usize,
}

impl Fast {
    /// The fast path for operands bounded by `max_a` and `max_b` (both at most `2^15`) and
    /// dot length `k`, or `None` when even a chunk of 8 terms could wrap an `i32`.
    pub fn new(max_a: u64, max_b: u64, k: usize) -> Option<Fast> {
        let product = max_a.saturating_mul(max_b);
        // A partial sum of `chunk` terms is at most `chunk * product < 2^31`; with a zero
        // operand every sum is 0 and one chunk covers the whole dot.
        let chunk = match ((1u64 << 31) - 1).checked_div(product) {
            Some(terms) => usize::try_from(terms).unwrap_or(usize::MAX) / 8 * 8,
            None => k.next_multiple_of(8).max(8),
        };
        (chunk >= 8).then_some(Fast { chunk })
    }

    /// `out[r * nb + j] = a_r . b_j` for the `a.len() / kl` rows of `a` and the
    /// `nb = b.len() / kl` columns of `b`, each `kl` lanes long.
    pub fn dots(&self, a: &[Lane], b: &[Lane], kl: usize, out: &mut [i64]) {
        #[cfg(target_arch = "x86_64")]
        if avx2::dots(self, a, b, kl, out) {
            return;
        }
        self.dots_with(Portable, a, b, kl, out);
    }

    /// [`Fast::dots`] with micro-kernel `micro`.
    #[inline(always)]
    fn dots_with<K: Micro>(&self, micro: K, a: &[Lane], b: &[Lane], kl: usize, out: &mut [i64]) {
        if kl == 0 {
            out.fill(0);
            return;
        }
        let (ra, nb) = (a.len() / kl, b.len() / kl);
        let row = |r: usize| &a[r * kl..(r + 1) * kl];
        let col = |j: usize| &b[j * kl..(j + 1) * kl];
        let mut r = 0;
        while r < ra {
            if r + 4 <= ra {
                let rows = [row(r), row(r + 1), row(r + 2), row(r + 3)];
                let mut j = 0;
                while j < nb {
                    if j + 2 <= nb {
                        let s = self.block::<4, 2, K>(micro, rows, [col(j), col(j + 1)]);
                        for (i, s) in s.iter().enumerate() {
                            out[(r + i) * nb + j..(r + i) * nb + j + 2].copy_from_slice(s);
                        }
                        j += 2;
                    } else {
                        let s = self.block::<4, 1, K>(micro, rows, [col(j)]);
                        for (i, s) in s.iter().enumerate() {
                            out[(r + i) * nb + j] = s[0];
                        }
                        j += 1;
                    }
                }
                r += 4;
            } else {
                for j in 0..nb {
                    out[r * nb + j] = self.block::<1, 1, K>(micro, [row(r)], [col(j)])[0][0];
                }
                r += 1;
            }
        }
    }

    /// The `MR x NR` dots of rows `a` with columns `b` (all the same number of lanes), summed
    /// in `i32` lanes over chunks of [`Fast::chunk`] terms and in `i64` across chunks.
    #[inline(always)]
    fn block<const MR: usize, const NR: usize, K: Micro>(
        &self,
        micro: K,
        a: [&[Lane]; MR],
        b: [&[Lane]; NR],
    ) -> [[i64; NR]; MR] {
        let n = a[0].len();
        let step = self.chunk / 8;
        let mut acc = [[0i64; NR]; MR];
        let mut start = 0;
        while start < n {
            let end = (start + step).min(n);
            let s = micro.block::<MR, NR>(
                std::array::from_fn(|r| &a[r][start..end]),
                std::array::from_fn(|c| &b[c][start..end]),
            );
            for (acc, s) in acc.iter_mut().zip(s) {
                for (acc, s) in acc.iter_mut().zip(s) {
                    *acc += i64::from(s);
                }
            }
            start = end;
        }
        acc
    }
}

/// A micro-kernel: the `MR x NR` dot products of rows `a` with columns `b` (lane slices of
/// equal length), each summed in wrapping `i32`; the caller guarantees that the exact sums
/// fit an `i32`, so the wrapped result is exact.
trait Micro: Copy {
    fn block<const MR: usize, const NR: usize>(
        self,
        a: [&[Lane]; MR],
        b: [&[Lane]; NR],
    ) -> [[i32; NR]; MR];
}

/// The portable micro-kernel (LLVM vectorises it for the baseline target).
#[derive(Debug, Clone, Copy)]
struct Portable;

impl Micro for Portable {
    #[inline(always)]
    fn block<const MR: usize, const NR: usize>(
        self,
        a: [&[Lane]; MR],
        b: [&[Lane]; NR],
    ) -> [[i32; NR]; MR] {
        let mut acc = [[0i32; NR]; MR];
        for r in 0..MR {
            for c in 0..NR {
                for (x, y) in a[r].iter().zip(b[c]) {
                    for l in 0..8 {
                        acc[r][c] = acc[r][c].wrapping_add(i32::from(x[l]) * i32::from(y[l]));
                    }
                }
            }
        }
        acc
    }
}

/// The AVX2 micro-kernel: 16 products per `vpmaddwd`, through `pulp`'s safe wrappers (the
/// `V3` token proves at run time that the CPU has AVX2).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use pulp::bytemuck::cast;
    use pulp::x86::V3;
    use pulp::{Simd, WithSimd, i16x16, i32x8};

    use super::{Fast, Lane, Micro};

    #[derive(Debug, Clone, Copy)]
    pub(super) struct Avx2(V3);

    impl Micro for Avx2 {
        #[inline(always)]
        fn block<const MR: usize, const NR: usize>(
            self,
            a: [&[Lane]; MR],
            b: [&[Lane]; NR],
        ) -> [[i32; NR]; MR] {
            let simd = self.0;
            let n = a[0].len();
            let pairs = n / 2;
            let a: [&[Lane]; MR] = std::array::from_fn(|r| &a[r][..n]);
            let b: [&[Lane]; NR] = std::array::from_fn(|c| &b[c][..n]);
            let pair = |s: &[Lane], i: usize| -> i16x16 { cast([s[2 * i], s[2 * i + 1]]) };
            let mut acc = [[simd.splat_i32x8(0); NR]; MR];
            for i in 0..pairs {
                let bv: [i16x16; NR] = std::array::from_fn(|c| pair(b[c], i));
                for r in 0..MR {
                    let av = pair(a[r], i);
                    for c in 0..NR {
                        // Eight i32 lanes, each the sum of two adjacent products.
                        let p = simd.multiply_wrapping_add_adjacent_i16x16(av, bv[c]);
                        acc[r][c] = simd.wrapping_add_i32x8(acc[r][c], p);
                    }
                }
            }
            if n % 2 == 1 {
                let last = |s: &[Lane]| -> i16x16 { cast([s[n - 1], [0i16; 8]]) };
                let bv: [i16x16; NR] = std::array::from_fn(|c| last(b[c]));
                for r in 0..MR {
                    let av = last(a[r]);
                    for c in 0..NR {
                        let p = simd.multiply_wrapping_add_adjacent_i16x16(av, bv[c]);
                        acc[r][c] = simd.wrapping_add_i32x8(acc[r][c], p);
                    }
                }
            }
            acc.map(|row| {
                row.map(|v: i32x8| {
                    let l: [i32; 8] = cast(v);
                    l.iter().fold(0i32, |s, &x| s.wrapping_add(x))
                })
            })
        }
    }

    /// [`Fast::dots`] with the AVX2 micro-kernel; `false` (and nothing done) without AVX2.
    pub(super) fn dots(fast: &Fast, a: &[Lane], b: &[Lane], kl: usize, out: &mut [i64]) -> bool {
        struct Op<'a> {
            fast: &'a Fast,
            simd: V3,
            a: &'a [Lane],
            b: &'a [Lane],
            kl: usize,
            out: &'a mut [i64],
        }
        impl WithSimd for Op<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _: S) {
                let micro = Avx2(self.simd);
                self.fast
                    .dots_with(micro, self.a, self.b, self.kl, self.out);
            }
        }
        match V3::try_new() {
            Some(simd) => {
                <V3 as Simd>::vectorize(
                    simd,
                    Op {
                        fast,
                        simd,
                        a,
                        b,
                        kl,
                        out,
                    },
                );
                true
            }
            None => false,
        }
    }
}

/// Accumulator width of the generic path for one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
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
    if worst < 1 << 63 {
        Width::I64
    } else {
        Width::I128
    }
}

/// Generic path: fills `out[j]` for every column `j` of `cols` (`out.len()` columns of
/// `w.len()` values).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[i32], b: &[i32]) -> i64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| i64::from(x) * i64::from(y))
            .sum()
    }

    #[test]
    fn chunked_sums_are_exact_at_the_extremes() {
        // Two 16-bit operands: even 8 terms could wrap an i32.
        assert!(Fast::new(1 << 15, 1 << 15, 100).is_none());
        let fast = Fast::new(1 << 15, 1 << 7, 1000).expect("a chunk of at least 8");
        assert_eq!(fast.chunk, 504);
        // 6 rows (one 4-row block and two single rows) by 5 columns (2 + 2 + 1), K = 1001.
        let k = 1001;
        let a: Vec<i32> = (0..6 * k)
            .map(|i| if i % 3 == 0 { 127 } else { -128 })
            .collect();
        let b: Vec<i32> = (0..5 * k)
            .map(|i| if i % 7 == 0 { 32767 } else { -32768 })
            .collect();
        let (pa, pb) = (pack_rows(&a, k).unwrap(), pack_rows(&b, k).unwrap());
        let mut out = vec![0i64; 30];
        let mut portable = vec![0i64; 30];
        fast.dots(&pa, &pb, lanes(k), &mut out);
        fast.dots_with(Portable, &pa, &pb, lanes(k), &mut portable);
        for r in 0..6 {
            for j in 0..5 {
                let want = naive(&a[r * k..(r + 1) * k], &b[j * k..(j + 1) * k]);
                assert_eq!(out[r * 5 + j], want, "row {r} column {j}");
                assert_eq!(portable[r * 5 + j], want, "portable: row {r} column {j}");
            }
        }
        assert!(pack_rows(&[1 << 15], 1).is_none());
    }

    #[test]
    fn both_micro_kernels_match_naive_sums() {
        // 16-bit times 13-bit operands: chunks of 8 terms, so one lane per chunk.
        let fast = Fast::new(1 << 15, 1 << 12, 0).expect("a chunk of 8");
        assert_eq!(fast.chunk, 8);
        let mut state = 7u64;
        let mut next = |lo: i32, hi: i32| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let span = u64::try_from(hi - lo + 1).expect("positive span");
            lo + i32::try_from((state >> 33) % span).expect("fits")
        };
        for k in [1, 7, 8, 9, 15, 16, 17, 33, 100] {
            let (ra, nb) = (5, 3);
            let a: Vec<i32> = (0..ra * k).map(|_| next(-32768, 32767)).collect();
            let b: Vec<i32> = (0..nb * k).map(|_| next(-4096, 4096)).collect();
            let (pa, pb) = (pack_rows(&a, k).unwrap(), pack_rows(&b, k).unwrap());
            let mut out = vec![0i64; ra * nb];
            let mut portable = vec![0i64; ra * nb];
            fast.dots(&pa, &pb, lanes(k), &mut out);
            fast.dots_with(Portable, &pa, &pb, lanes(k), &mut portable);
            for r in 0..ra {
                for j in 0..nb {
                    let want = naive(&a[r * k..(r + 1) * k], &b[j * k..(j + 1) * k]);
                    assert_eq!(out[r * nb + j], want, "k {k} row {r} column {j}");
                    assert_eq!(
                        portable[r * nb + j],
                        want,
                        "portable: k {k} row {r} column {j}"
                    );
                }
            }
        }
    }
}
