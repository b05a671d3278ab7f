//! Position-major integer matrix product `Y[M, P] = W[M, K] · X[K, P]`, the core of the
//! convolution fast path.
//!
//! `X` is consumed as panels of [`NR`] consecutive positions: for every pair of rows
//! `(2t, 2t + 1)` of `X`, the panel holds `x[2t][p], x[2t + 1][p]` for each of its positions
//! (zero past `K` and past `P`). Weights are packed once per model in blocks of [`MR`] rows:
//! for every pair `t`, the `MR` pairs `(w[m][2t], w[m][2t + 1])`, each as one `i32`
//! (little-endian halves). A micro-kernel computes `MR x NR` outputs with every position in
//! its own vector lane: a 16-bit multiply-add of a panel vector with a broadcast weight pair
//! adds two products to each lane, so no horizontal sum and no transposition is ever needed.
//!
//! Operands fit an `i16` (see [`Fast`]); partial sums are summed in `i32` over chunks of at
//! most [`Fast::chunk`] terms, so no lane can wrap, and chunks are added in `i64`. Integer
//! addition is associative: results are exact and independent of the blocking.

use std::ops::Range;

use super::dot::Fast;

/// Output rows per micro-kernel call.
pub(crate) const MR: usize = 4;

/// Positions per micro-kernel call (two vectors of eight `i32` lanes).
pub(crate) const NR: usize = 16;

/// One pair of `X` rows for [`NR`] positions: `[x[2t][p], x[2t + 1][p]]` for each position.
pub(crate) type Panel = [i16; 2 * NR];

/// Weight pairs of one block of [`MR`] rows for one pair index `t`.
type Pairs = [i32; MR];

/// A weight matrix `[M, K]` packed for [`Rows::product`], with its largest magnitude.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    /// `pairs(K)` entries per block of [`MR`] rows (zero past `K` and past `M`).
    packed: Vec<Pairs>,
    /// `M`.
    rows: usize,
    /// `K`.
    k: usize,
}

/// Number of row pairs of a `K`-row matrix.
pub(crate) fn pairs(k: usize) -> usize {
    k.div_ceil(2)
}

/// Two `i16` as the `i32` a 16-bit multiply-add reads as `(lo, hi)`.
#[inline(always)]
fn pair(lo: i16, hi: i16) -> i32 {
    i32::from(lo as u16) | (i32::from(hi) << 16)
}

impl Rows {
    /// Packs the row-major `[rows, k]` matrix `w`, or `None` when a value does not fit an
    /// `i16` or `w.len() != rows * k`.
    pub fn pack(w: &[i32], rows: usize, k: usize) -> Option<Rows> {
        if rows.checked_mul(k) != Some(w.len()) {
            return None;
        }
        let kp = pairs(k);
        let blocks = rows.div_ceil(MR);
        let mut packed = vec![[0i32; MR]; blocks * kp];
        let at = |m: usize, c: usize| -> Option<i16> {
            if m < rows && c < k {
                i16::try_from(w[m * k + c]).ok()
            } else {
                Some(0)
            }
        };
        for (i, entry) in packed.iter_mut().enumerate() {
            let (b, t) = (i / kp, i % kp);
            for (r, slot) in entry.iter_mut().enumerate() {
                let m = b * MR + r;
                *slot = pair(at(m, 2 * t)?, at(m, 2 * t + 1)?);
            }
        }
        Some(Rows { packed, rows, k })
    }

    /// Calls `emit(m, tile, sums)` with `sums[q] = Σ_c w[m][c] * x[c][tile * NR + q]` for
    /// every row `m` and every panel tile of `panels` (`pairs(K)` panels per tile, tile
    /// after tile). Lanes past the last position hold sums of the zero padding.
    pub fn product(&self, fast: Fast, panels: &[Panel], emit: &mut impl Emit) {
        self.product_blocks(fast, panels, 0..self.rows.div_ceil(MR), emit);
    }

    /// [`Rows::product`] for the rows of blocks `blocks` only (block `b` is rows
    /// `b * MR..(b + 1) * MR`): `emit` receives row numbers relative to the first of them.
    pub fn product_blocks(
        &self,
        fast: Fast,
        panels: &[Panel],
        blocks: Range<usize>,
        emit: &mut impl Emit,
    ) {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V4::try_new() {
            // The AVX2 micro-kernel, with everything around it (the epilogue) compiled for
            // AVX-512.
            return avx2::product(simd, *simd, self, fast, panels, blocks, emit);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V3::try_new() {
            return avx2::product(simd, simd, self, fast, panels, blocks, emit);
        }
        self.product_with(Portable, fast, panels, blocks, emit);
    }

    /// [`Rows::product_blocks`] with micro-kernel `micro`.
    #[inline(always)]
    fn product_with<K: Micro>(
        &self,
        micro: K,
        fast: Fast,
        panels: &[Panel],
        blocks: Range<usize>,
        emit: &mut impl Emit,
    ) {
        let kp = pairs(self.k);
        if kp == 0 {
            return;
        }
        let step = (fast.chunk / 2).max(1);
        let first = blocks.start;
        let packed = self.packed.chunks_exact(kp).enumerate();
        for (b, w) in packed.skip(first).take(blocks.len()) {
            for (tile, x) in panels.chunks_exact(kp).enumerate() {
                let mut sums = [[0i64; NR]; MR];
                let mut start = 0;
                while start < kp {
                    let end = (start + step).min(kp);
                    let part = micro.tile(&w[start..end], &x[start..end]);
                    for (s, p) in sums.iter_mut().zip(part) {
                        for (s, p) in s.iter_mut().zip(p) {
                            *s += i64::from(p);
                        }
                    }
                    start = end;
                }
                for (r, s) in sums.iter().enumerate() {
                    if b * MR + r < self.rows {
                        emit.emit((b - first) * MR + r, tile, s);
                    }
                }
            }
        }
    }
}

/// Receives the sums of [`Rows::product`]; `emit` is `#[inline(always)]` so that it is
/// compiled inside the product's vectorised loop.
pub(crate) trait Emit {
    /// The sums of row `m` for the positions of panel tile `tile`.
    fn emit(&mut self, m: usize, tile: usize, sums: &[i64; NR]);
}

/// A micro-kernel: the `MR x NR` sums of one chunk (weight pairs `w`, panels `x`, equal
/// lengths) in wrapping `i32`; the caller bounds the chunk so that the sums are exact.
trait Micro: Copy {
    fn tile(self, w: &[Pairs], x: &[Panel]) -> [[i32; NR]; MR];
}

/// The portable micro-kernel.
#[derive(Debug, Clone, Copy)]
struct Portable;

impl Micro for Portable {
    #[inline(always)]
    fn tile(self, w: &[Pairs], x: &[Panel]) -> [[i32; NR]; MR] {
        let mut acc = [[0i32; NR]; MR];
        for (w, x) in w.iter().zip(x) {
            for (acc, &wp) in acc.iter_mut().zip(w) {
                let (w0, w1) = (i32::from(wp as i16), wp >> 16);
                for (q, a) in acc.iter_mut().enumerate() {
                    let p = i32::from(x[2 * q]) * w0 + i32::from(x[2 * q + 1]) * w1;
                    *a = a.wrapping_add(p);
                }
            }
        }
        acc
    }
}

/// The AVX2 micro-kernel (`vpmaddwd`, through `pulp`'s safe wrappers; the `V3` token proves
/// at run time that the CPU has AVX2).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::ops::Range;

    use pulp::bytemuck::cast;
    use pulp::x86::V3;
    use pulp::{Simd, WithSimd, i16x16, i32x8};

    use super::{Emit, Fast, MR, Micro, NR, Pairs, Panel, Rows};

    #[derive(Debug, Clone, Copy)]
    struct Avx2(V3);

    impl Micro for Avx2 {
        #[inline(always)]
        fn tile(self, w: &[Pairs], x: &[Panel]) -> [[i32; NR]; MR] {
            let simd = self.0;
            let mut acc = [[simd.splat_i32x8(0); 2]; MR];
            for (w, x) in w.iter().zip(x) {
                let halves: [[i16; 16]; 2] = cast(*x);
                let xv: [i16x16; 2] = [cast(halves[0]), cast(halves[1])];
                for (acc, &wp) in acc.iter_mut().zip(w) {
                    let wv: i16x16 = cast(simd.splat_i32x8(wp));
                    for (a, &xv) in acc.iter_mut().zip(&xv) {
                        let p = simd.multiply_wrapping_add_adjacent_i16x16(xv, wv);
                        *a = simd.wrapping_add_i32x8(*a, p);
                    }
                }
            }
            acc.map(|row: [i32x8; 2]| cast::<[[i32; 8]; 2], [i32; NR]>(row.map(cast)))
        }
    }

    /// [`Rows::product`] compiled for AVX2.
    pub(super) fn product<S: Simd, E: Emit>(
        arch: S,
        simd: V3,
        rows: &Rows,
        fast: Fast,
        panels: &[Panel],
        blocks: Range<usize>,
        emit: &mut E,
    ) {
        struct Op<'a, E> {
            simd: V3,
            rows: &'a Rows,
            fast: Fast,
            panels: &'a [Panel],
            blocks: Range<usize>,
            emit: &'a mut E,
        }
        impl<E: Emit> WithSimd for Op<'_, E> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: Simd>(self, _: S) {
                let micro = Avx2(self.simd);
                self.rows
                    .product_with(micro, self.fast, self.panels, self.blocks, self.emit);
            }
        }
        arch.vectorize(Op {
            simd,
            rows,
            fast,
            panels,
            blocks,
            emit,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panels of the row-major `[k, p]` matrix `x`.
    fn panels(x: &[i32], k: usize, p: usize) -> Vec<Panel> {
        let (kp, tiles) = (pairs(k), p.div_ceil(NR));
        let mut out = vec![[0i16; 2 * NR]; tiles * kp];
        for c in 0..k {
            for q in 0..p {
                out[(q / NR) * kp + c / 2][2 * (q % NR) + c % 2] = x[c * p + q] as i16;
            }
        }
        out
    }

    /// Sums of a `[M, P]` product, row-major.
    struct Collect(usize, Vec<Option<i64>>);

    impl Emit for Collect {
        fn emit(&mut self, m: usize, tile: usize, sums: &[i64; NR]) {
            for (q, &s) in sums.iter().enumerate() {
                if tile * NR + q < self.0 {
                    self.1[m * self.0 + tile * NR + q] = Some(s);
                }
            }
        }
    }

    #[test]
    fn products_match_naive_sums_at_the_extremes() {
        let mut state = 11u64;
        let mut next = |lo: i32, hi: i32| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let span = u64::try_from(hi - lo + 1).expect("positive span");
            lo + i32::try_from((state >> 33) % span).expect("fits")
        };
        // 16-bit activations and 13-bit weights (chunks of 8 terms), then 8-bit ones.
        for (xr, wr) in [(32767, 4096), (127, 127)] {
            for (m, k, p) in [(1, 1, 1), (5, 7, 17), (9, 33, 40), (4, 300, 16)] {
                let w: Vec<i32> = (0..m * k).map(|_| next(-wr, wr)).collect();
                let x: Vec<i32> = (0..k * p).map(|_| next(-xr - 1, xr)).collect();
                let rows = Rows::pack(&w, m, k).expect("fits i16");
                let fast = Fast::new(xr as u64 + 1, wr as u64, k).expect("a chunk");
                let mut got = Collect(p, vec![None; m * p]);
                rows.product(fast, &panels(&x, k, p), &mut got);
                let got = got.1;
                for r in 0..m {
                    for q in 0..p {
                        let want: i64 = (0..k)
                            .map(|c| i64::from(w[r * k + c]) * i64::from(x[c * p + q]))
                            .sum();
                        assert_eq!(got[r * p + q], Some(want), "m {m} k {k} row {r} pos {q}");
                    }
                }
                let all = 0..m.div_ceil(MR);
                let mut portable = Collect(p, vec![None; m * p]);
                rows.product_with(Portable, fast, &panels(&x, k, p), all, &mut portable);
                assert_eq!(portable.1, got, "portable kernel, m {m} k {k}");
                // Block by block, rows numbered from the block's first.
                for b in 0..m.div_ceil(MR) {
                    let mut part = Collect(p, vec![None; m * p]);
                    rows.product_blocks(fast, &panels(&x, k, p), b..b + 1, &mut part);
                    let len = MR.min(m - b * MR) * p;
                    let want = &got[b * MR * p..][..len];
                    assert_eq!(&part.1[..len], want, "block {b}, m {m} k {k}");
                    assert!(
                        part.1[len..].iter().all(Option::is_none),
                        "block {b}: extra rows"
                    );
                }
            }
        }
        assert!(Rows::pack(&[1 << 15], 1, 1).is_none());
        assert!(Rows::pack(&[1, 2, 3], 2, 2).is_none());
    }
}
