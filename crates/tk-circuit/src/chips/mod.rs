//! The chips: one file per operator family, Config/Chip pattern.
//!
//! All chips except the range checker and the lookup tables share one block of columns, the
//! [`MainColumns`]: `width` advice columns `a[0..width]` (equality enabled), `width` fixed
//! columns `f[0..width]`, one advice accumulator column `z` (equality enabled) and one fixed
//! column `fb`. The dot-product chip uses every column of a row; the other chips pack
//! fixed-width *slots* side by side into a row (slot `k` of a chip with slot width `w` uses
//! `a[k*w..(k+1)*w]` and the same range of `f`), with one gate per slot position. An unused
//! slot is filled with zeros, which satisfy every slot gate.
//!
//! Values that need a range check are split into limbs of `R` bits (`R` = [`RangeConfig::bits`])
//! held in the chip's own slot; the chip's gate recombines them, and every limb is copied into
//! the range checker's lanes, where a lookup bounds it (see [`range`]). Layout positions and
//! copies depend only on the model, never on witness values, so the verifying key is a
//! function of the model alone.
//!
//! | op | chip |
//! |---|---|
//! | Conv, Gemm | [`mdot`] (outputs sharing a patch, `G` per row) or [`dot`] (multiply-accumulate rows) then [`requant`] |
//! | AvgPool | [`dot`] with unit weights then [`requant`] ([`avg_pool`]) |
//! | Add, Mul, Rescale, Clip | [`requant`] ([`add`], [`mul`], [`clip`]) |
//! | MaxPool | [`max_pool`] |
//! | Lut | [`lut`] |
//! | Softmax | [`softmax`] (its exponential table in the [`lut`] table) |
//! | Const, the zero cell | [`constant`] |
//! | Reshape, Transpose, Concat, Slice, Pad, Resize | [`wiring`] (copy constraints only) |
//! | committed inputs and outputs (segment boundaries) | [`pack`] then [`poseidon`] (own columns) |

pub mod add;
pub mod avg_pool;
pub mod clip;
pub mod constant;
pub mod dot;
pub mod lut;
pub mod max_pool;
pub mod mdot;
pub mod mul;
pub mod pack;
pub mod poseidon;
pub mod range;
pub mod requant;
pub mod softmax;
pub mod wiring;

use halo2_axiom::plonk::{Advice, Column, ConstraintSystem, Expression, Fixed, VirtualCells};
use halo2_axiom::poly::Rotation;

use crate::field::{Fr, pow2};
pub use range::{RangeChip, RangeCollector, RangeConfig};

/// The columns shared by the dot, requant, max-pool, lut and constant chips.
#[derive(Debug, Clone)]
pub struct MainColumns {
    /// Advice columns `a[0..width]`, equality enabled.
    pub a: Vec<Column<Advice>>,
    /// Fixed columns `f[0..width]`: weights of dot rows, per-slot constants of other chips.
    pub f: Vec<Column<Fixed>>,
    /// Accumulator advice column of the dot chip, equality enabled.
    pub z: Column<Advice>,
    /// Fixed column holding the bias on the first row of each dot product.
    pub fb: Column<Fixed>,
}

impl MainColumns {
    /// Creates `width` advice and `width` fixed columns plus `z` and `fb`.
    ///
    /// Side effects: enables equality on every `a` column and on `z`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, width: usize) -> Self {
        let a: Vec<_> = (0..width).map(|_| meta.advice_column()).collect();
        let f = (0..width).map(|_| meta.fixed_column()).collect();
        let z = meta.advice_column();
        let fb = meta.fixed_column();
        for &col in &a {
            meta.enable_equality(col);
        }
        meta.enable_equality(z);
        MainColumns { a, f, z, fb }
    }

    /// Number of advice (and fixed) columns in a row.
    pub fn width(&self) -> usize {
        self.a.len()
    }
}

/// Number of `r`-bit limbs that carry a value of `bits` bits.
pub fn limb_count(bits: u32, r: u32) -> usize {
    bits.div_ceil(r) as usize
}

/// Range tags of the `n` limbs of a value bounded by `2^bits`: `R` for full limbs, the
/// remaining bits for the top one, 0 (limb must be zero) above it.
pub fn limb_tags(bits: u32, n: usize, r: u32) -> Vec<u32> {
    (0..n as u32)
        .map(|i| bits.saturating_sub(i * r).min(r))
        .collect()
}

/// Splits a non-negative value into `n` limbs of `r` bits, least significant first; `None` if
/// it does not fit in `n * r` bits.
pub fn decompose(value: u128, n: usize, r: u32) -> Option<Vec<Fr>> {
    let mut rest = value;
    let mask = (1u128 << r) - 1;
    let mut limbs = Vec::with_capacity(n);
    for _ in 0..n {
        limbs.push(Fr::from((rest & mask) as u64));
        rest = rest.checked_shr(r).unwrap_or(0);
    }
    (rest == 0).then_some(limbs)
}

/// `sum_i limbs[i] * 2^(r*i)`.
pub fn recompose(limbs: &[Expression<Fr>], r: u32) -> Expression<Fr> {
    limbs
        .iter()
        .enumerate()
        .fold(Expression::Constant(Fr::zero()), |acc, (i, limb)| {
            acc + limb.clone() * Expression::Constant(pow2(r * i as u32))
        })
}

/// The cells of one slot of the [`MainColumns`] on a gate's current row: advice `a[base + i]`,
/// fixed `f[base + i]`, and groups of range limbs read left to right from a first offset.
pub struct SlotQuery<'a> {
    main: &'a MainColumns,
    base: usize,
    next_limb: usize,
    bits: u32,
}

impl<'a> SlotQuery<'a> {
    /// The slot starting at column `base`, its limbs (of `bits` bits) from offset `first_limb`.
    pub fn new(main: &'a MainColumns, base: usize, first_limb: usize, bits: u32) -> Self {
        SlotQuery {
            main,
            base,
            next_limb: first_limb,
            bits,
        }
    }

    /// Advice cell `i` of the slot.
    pub fn advice(&self, m: &mut VirtualCells<'_, Fr>, i: usize) -> Expression<Fr> {
        m.query_advice(self.main.a[self.base + i], Rotation::cur())
    }

    /// Fixed cell `i` of the slot.
    pub fn fixed(&self, m: &mut VirtualCells<'_, Fr>, i: usize) -> Expression<Fr> {
        m.query_fixed(self.main.f[self.base + i], Rotation::cur())
    }

    /// The next `n` limbs, recomposed ([`recompose`]).
    pub fn limbs(&mut self, m: &mut VirtualCells<'_, Fr>, n: usize) -> Expression<Fr> {
        let limbs: Vec<_> = (self.next_limb..self.next_limb + n)
            .map(|i| self.advice(m, i))
            .collect();
        self.next_limb += n;
        recompose(&limbs, self.bits)
    }
}

/// A gate's constraints as halo2 wants them: each polynomial behind the selector `sel` and
/// behind its constraint-mutation switch `"{chip}: {constraint}"` ([`crate::mutation`]), named
/// by `names`.
pub fn named_constraints<const N: usize>(
    chip: &str,
    names: &[String; N],
    constraints: [&str; N],
    polys: [Expression<Fr>; N],
    sel: &Expression<Fr>,
) -> Vec<(String, Expression<Fr>)> {
    names
        .iter()
        .zip(constraints)
        .zip(polys)
        .map(|((name, constraint), p)| {
            let p = crate::mutation::constraint(&format!("{chip}: {constraint}"), p);
            (name.clone(), sel.clone() * p)
        })
        .collect()
}
