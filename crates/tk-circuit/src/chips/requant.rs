//! Rounding shift and clamp: `y = clamp(round_shift(v, s), lo, hi)` with
//! `v = m1*u1 + m2*u2 + m3*u1*u2`, the one gate behind Requant (after Conv, Gemm, AvgPool),
//! Rescale, Add, Mul and Clip.
//!
//! # Slot
//! Advice cells (offsets in the slot): `u1, u2, q, y, b_lo, b_hi`, then the limbs
//! `r[0..n_r]`, `t[0..n_t]`, `d1[0..n_d]`, `d2[0..n_d]`. Fixed cells: `m1, m2, m3, h, p, lo, hi,
//! d2_on` with `p = 2^s`, `h = 2^(s-1)` (0 when `s = 0`) and `d2_on = 0` when `hi - lo + 1` is a
//! power of two (then `0 <= y - lo < 2^c` alone gives `y <= hi`, and the `d2` limbs are copies
//! of the zero cell), 1 otherwise. `u1` and `u2` are copies of the operands' cells (`u2` is
//! copied from the zero cell when unused).
//!
//! # Gate `requant slot k`
//! - `m1*u1 + m2*u2 + m3*u1*u2 + h = q*2^s + r` with `r = sum r_i 2^(R i)`;
//! - `b_lo * (1 - b_lo) = 0`, `b_hi * (1 - b_hi) = 0`;
//! - `b_lo * (y - lo) = 0`, `b_hi * (y - hi) = 0`, `(1 - b_lo - b_hi) * (y - q) = 0`;
//! - `t = b_lo*(lo - 1 - q) + b_hi*(q - hi - 1)` with `t = sum t_i 2^(R i)`;
//! - `d1 = y - lo`, `d2_on * (d2 - (hi - y)) = 0` (limb sums).
//!
//! Range checks (lanes): `r_i` with tags of `s` bits (so `0 <= r < 2^s`), every `t_i` with
//! tag `R` (so `0 <= t < 2^(n_t R)`), `d1_i` and (when `d2_on`) `d2_i` with tags of
//! `c = bitlen(hi - lo)` bits.
//!
//! # Soundness and uniqueness
//! `v + h` is determined by the operands, and `|v + h| < 2^73` (spec: `|v| < 2^72`; `s <= 62`).
//! Whatever case the booleans select, `q` is a small integer: `q = y` in `[lo, hi]` (middle
//! case, from `d1` and `d2`), or `q = lo - 1 - t`, or `q = hi + 1 + t`, with
//! `0 <= t < 2^(n_t R)` and the planner keeping `n_t R <= MAX_T_BITS` (180). Then
//! `|q 2^s + r| < 2^(181 + 62) < p / 2`, so the first constraint, which holds modulo `p`,
//! holds over the integers: `q = floor((v + h) / 2^s)` and `r` is the remainder, both unique
//! (this rules out `q - 1` with `r + 2^s`, and any `q` that only satisfies the equation
//! modulo `p`). The cases are exclusive (`q < lo`, `q > hi`, `lo <= q <= hi`) and the range
//! of `t` forces the right one (`b_lo = b_hi = 1` would need `lo = hi = q` and `t = -2`), so
//! `b_lo`, `b_hi`, `y`, `t`, `d1`, `d2` and all limbs are unique.

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{ConstraintSystem, Error, Expression, Selector};
use serde::{Deserialize, Serialize};

use super::range::RangeCollector;
use super::{MainColumns, SlotQuery, decompose, limb_tags, named_constraints};
use crate::field::{Fr, bit_len, fe, pow2};
use crate::mutation::enabled;

/// Limb counts of a requant slot, fixed per circuit (maxima over the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequantShape {
    /// Limbs of the remainder `r` (`n_r R >= s` for every `s` in the model).
    pub n_r: usize,
    /// Limbs of the clamp excess `t`.
    pub n_t: usize,
    /// Limbs of each of `y - lo` and `hi - y`.
    pub n_d: usize,
}

impl RequantShape {
    /// Advice cells of a slot.
    pub fn width(&self) -> usize {
        6 + self.n_r + self.n_t + 2 * self.n_d
    }
}

/// Largest `n_t * R` the planner allows (see the soundness note above).
pub const MAX_T_BITS: usize = 180;

/// Number of fixed cells a slot uses.
pub const FIXED_WIDTH: usize = 8;

/// The integer parameters of one requantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequantParams {
    /// Multiplier of `u1`.
    pub m1: i64,
    /// Multiplier of `u2`.
    pub m2: i64,
    /// Multiplier of `u1 * u2`.
    pub m3: i64,
    /// Shift `s`, `0..=62`.
    pub shift: u8,
    /// Lower clamp bound.
    pub lo: i64,
    /// Upper clamp bound, `>= lo`.
    pub hi: i64,
}

impl RequantParams {
    /// `v + h`: the value whose floor division by `2^s` is `q`.
    pub fn shifted_value(&self, u1: i64, u2: i64) -> i128 {
        let (u1, u2) = (i128::from(u1), i128::from(u2));
        let v = i128::from(self.m1) * u1 + i128::from(self.m2) * u2 + i128::from(self.m3) * u1 * u2;
        v + self.half()
    }

    fn half(&self) -> i128 {
        if self.shift == 0 {
            0
        } else {
            1i128 << (self.shift - 1)
        }
    }

    /// `q = round_shift(v, s)` before the clamp.
    pub fn quotient(&self, u1: i64, u2: i64) -> i128 {
        self.shifted_value(u1, u2).div_euclid(1i128 << self.shift)
    }

    /// The integer standard's result `clamp(round_shift(v, s), lo, hi)`.
    pub fn eval(&self, u1: i64, u2: i64) -> i64 {
        let q = self.quotient(u1, u2);
        q.clamp(i128::from(self.lo), i128::from(self.hi)) as i64
    }

    /// Bits of the clamp excess `t` for operands bounded by `|u1| <= b1`, `|u2| <= b2`.
    pub fn t_bits(&self, b1: u128, b2: u128) -> u32 {
        let v = u128::from(self.m1.unsigned_abs()) * b1
            + u128::from(self.m2.unsigned_abs()) * b2
            + u128::from(self.m3.unsigned_abs()) * b1 * b2
            + self.half() as u128;
        let q = (v >> self.shift) + 1;
        let edge = u128::from(self.lo.unsigned_abs().max(self.hi.unsigned_abs()));
        bit_len(q + edge + 1)
    }

    /// Bits `c` of the output interval: `hi - lo < 2^c`.
    pub fn interval_bits(&self) -> u32 {
        bit_len((i128::from(self.hi) - i128::from(self.lo)) as u128)
    }

    /// Whether `hi - y` needs its own range check: the interval's size is not a power of two.
    pub fn checks_upper(&self) -> bool {
        !((i128::from(self.hi) - i128::from(self.lo) + 1) as u128).is_power_of_two()
    }
}

/// Advice values of one slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequantWitness {
    /// First operand.
    pub u1: Fr,
    /// Second operand.
    pub u2: Fr,
    /// `round_shift(v, s)` before the clamp.
    pub q: Fr,
    /// Output.
    pub y: Fr,
    /// `q < lo`.
    pub b_lo: Fr,
    /// `q > hi`.
    pub b_hi: Fr,
    /// Limbs of the remainder.
    pub r: Vec<Fr>,
    /// Limbs of the clamp excess.
    pub t: Vec<Fr>,
    /// Limbs of `y - lo`.
    pub d1: Vec<Fr>,
    /// Limbs of `hi - y`.
    pub d2: Vec<Fr>,
}

/// Limbs of `value`, or (when it is negative or too wide) the raw value in limb 0 so that the
/// witness is complete but fails the range check.
pub(crate) fn limbs_or_raw(value: i128, n: usize, r: u32) -> Vec<Fr> {
    u128::try_from(value)
        .ok()
        .and_then(|v| decompose(v, n, r))
        .unwrap_or_else(|| {
            let mut limbs = vec![Fr::zero(); n.max(1)];
            limbs[0] = fe(value);
            limbs.truncate(n);
            limbs
        })
}

impl RequantWitness {
    /// The witness for operands `u1`, `u2` and output `y` (`None`: the standard's output).
    /// Fails when a value does not fit the slot shape (a planner bug or a wrong bound).
    pub fn compute(
        p: &RequantParams,
        u1: i64,
        u2: i64,
        y: Option<i64>,
        shape: &RequantShape,
        bits: u32,
    ) -> Result<RequantWitness, String> {
        let vh = p.shifted_value(u1, u2);
        let q = vh.div_euclid(1i128 << p.shift);
        let r = vh - (q << p.shift);
        let (lo, hi) = (i128::from(p.lo), i128::from(p.hi));
        let y = y.map_or_else(|| q.clamp(lo, hi), i128::from);
        let (b_lo, b_hi) = (q < lo, q > hi);
        let t = if b_lo {
            lo - 1 - q
        } else if b_hi {
            q - hi - 1
        } else {
            0
        };
        let wide = |v: i128, n: usize| u128::try_from(v).ok().and_then(|v| decompose(v, n, bits));
        if usize::from(p.shift) > shape.n_r * bits as usize {
            return Err(format!(
                "shift {} exceeds {} remainder limbs",
                p.shift, shape.n_r
            ));
        }
        if p.interval_bits() as usize > shape.n_d * bits as usize {
            return Err(format!("interval [{lo}, {hi}] exceeds {} limbs", shape.n_d));
        }
        let t = wide(t, shape.n_t)
            .ok_or_else(|| format!("clamp excess {t} exceeds {} limbs", shape.n_t))?;
        Ok(RequantWitness {
            u1: fe(i128::from(u1)),
            u2: fe(i128::from(u2)),
            q: fe(q),
            y: fe(y),
            b_lo: fe(i128::from(b_lo)),
            b_hi: fe(i128::from(b_hi)),
            r: wide(r, shape.n_r).ok_or("remainder exceeds its limbs")?,
            t,
            d1: limbs_or_raw(y - lo, shape.n_d, bits),
            d2: if p.checks_upper() {
                limbs_or_raw(hi - y, shape.n_d, bits)
            } else {
                vec![Fr::zero(); shape.n_d]
            },
        })
    }
}

/// Gates of the requant chip.
#[derive(Debug, Clone)]
pub struct RequantConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Limb counts.
    pub shape: RequantShape,
    /// Range limb width `R`.
    pub bits: u32,
    /// Slots per row.
    pub slots: usize,
    /// Enables every slot gate of a row.
    pub q: Selector,
}

/// The constraints of a slot, in gate order.
pub const CONSTRAINTS: [&str; 9] = [
    "m1*u1 + m2*u2 + m3*u1*u2 + h = q*2^s + r",
    "b_lo * (1 - b_lo) = 0",
    "b_hi * (1 - b_hi) = 0",
    "b_lo * (y - lo) = 0",
    "b_hi * (y - hi) = 0",
    "(1 - b_lo - b_hi) * (y - q) = 0",
    "t = b_lo*(lo - 1 - q) + b_hi*(q - hi - 1)",
    "d1 = y - lo",
    "d2_on * (d2 - (hi - y)) = 0",
];

/// Names of the constraints of slot `k`, in gate order.
pub fn constraint_names(k: usize) -> [String; 9] {
    CONSTRAINTS.map(|s| format!("slot {k}: {s}"))
}

impl RequantConfig {
    /// One gate per slot position (`width / shape.width()` slots per row).
    ///
    /// Side effects: one simple selector; gates of degree 4.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        main: &MainColumns,
        shape: RequantShape,
        bits: u32,
    ) -> Self {
        let w = shape.width();
        let slots = main.width() / w;
        assert!(
            slots >= 1,
            "requant slot of {w} cells does not fit {} columns",
            main.width()
        );
        let q = meta.selector();
        for k in 0..slots {
            let base = k * w;
            let names = constraint_names(k);
            meta.create_gate(
                format!("requant slot {k}: y = clamp(round_shift(v, s), lo, hi)"),
                |m| {
                    let sel = m.query_selector(q);
                    let mut slot = SlotQuery::new(main, base, 6, bits);
                    let [u1, u2, qv, y, b_lo, b_hi] = std::array::from_fn(|i| slot.advice(m, i));
                    let [m1, m2, m3, h, p, lo, hi, d2_on] =
                        std::array::from_fn(|i| slot.fixed(m, i));
                    let r = slot.limbs(m, shape.n_r);
                    let t = slot.limbs(m, shape.n_t);
                    let d1 = slot.limbs(m, shape.n_d);
                    let d2 = slot.limbs(m, shape.n_d);
                    let one = Expression::Constant(fe(1));
                    let polys = [
                        m1 * u1.clone() + m2 * u2.clone() + m3 * u1.clone() * u2 + h
                            - qv.clone() * p
                            - r,
                        b_lo.clone() * (one.clone() - b_lo.clone()),
                        b_hi.clone() * (one.clone() - b_hi.clone()),
                        b_lo.clone() * (y.clone() - lo.clone()),
                        b_hi.clone() * (y.clone() - hi.clone()),
                        (one.clone() - b_lo.clone() - b_hi.clone()) * (y.clone() - qv.clone()),
                        t - b_lo * (lo.clone() - one.clone() - qv.clone())
                            - b_hi * (qv - hi.clone() - one),
                        d1 - (y.clone() - lo),
                        d2_on * (d2 - (hi - y)),
                    ];
                    named_constraints("requant", &names, CONSTRAINTS, polys, &sel)
                },
            );
        }
        RequantConfig {
            main: main.clone(),
            shape,
            bits,
            slots,
            q,
        }
    }

    /// Rows `count` slots take.
    pub fn rows(&self, count: usize) -> usize {
        count.div_ceil(self.slots)
    }
}

/// One slot to lay out.
#[derive(Debug, Clone, Copy)]
pub struct RequantAssign<'a> {
    /// Cell `u1` is copied from.
    pub u1: Cell,
    /// Cell `u2` is copied from (the zero cell when unused).
    pub u2: Cell,
    /// Fixed parameters.
    pub params: &'a RequantParams,
    /// Advice values.
    pub witness: &'a RequantWitness,
}

/// Lays out requant slots.
#[derive(Debug, Clone)]
pub struct RequantChip {
    config: RequantConfig,
}

impl RequantChip {
    /// The chip for `config`.
    pub fn construct(config: RequantConfig) -> Self {
        RequantChip { config }
    }

    /// Its configuration.
    pub fn config(&self) -> &RequantConfig {
        &self.config
    }

    /// Lays out `items` from absolute row `row0`, queues their limbs in `range`, and returns
    /// the output cell `y` of each.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        items: &[RequantAssign<'_>],
        range: &mut RangeCollector,
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        let w = c.shape.width();
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                let mut out = Vec::with_capacity(items.len());
                for (idx, item) in items.iter().enumerate() {
                    let row = row0 + idx / c.slots;
                    let base = (idx % c.slots) * w;
                    if idx % c.slots == 0 {
                        c.q.enable(&mut region, row)?;
                    }
                    let p = item.params;
                    let wit = item.witness;
                    let h = if p.shift == 0 {
                        fe(0)
                    } else {
                        pow2(u32::from(p.shift) - 1)
                    };
                    let fixed = [
                        fe(p.m1.into()),
                        fe(p.m2.into()),
                        fe(p.m3.into()),
                        h,
                        pow2(u32::from(p.shift)),
                        fe(p.lo.into()),
                        fe(p.hi.into()),
                        fe(p.checks_upper().into()),
                    ];
                    for (i, v) in fixed.into_iter().enumerate() {
                        region.assign_fixed(c.main.f[base + i], row, v);
                    }
                    let mut put = |i: usize, v: Fr| {
                        region
                            .assign_advice(c.main.a[base + i], row, Value::known(v))
                            .cell()
                    };
                    let u1 = put(0, wit.u1);
                    let u2 = put(1, wit.u2);
                    put(2, wit.q);
                    let y = put(3, wit.y);
                    put(4, wit.b_lo);
                    put(5, wit.b_hi);
                    if enabled("requant: u1 copy") {
                        region.constrain_equal(u1, item.u1);
                    }
                    if enabled("requant: u2 copy") {
                        region.constrain_equal(u2, item.u2);
                    }
                    let cbits = p.interval_bits();
                    let groups: [(&[Fr], usize, Vec<u32>); 4] = [
                        (
                            &wit.r,
                            c.shape.n_r,
                            limb_tags(p.shift.into(), c.shape.n_r, c.bits),
                        ),
                        (&wit.t, c.shape.n_t, vec![c.bits; c.shape.n_t]),
                        (&wit.d1, c.shape.n_d, limb_tags(cbits, c.shape.n_d, c.bits)),
                        (
                            &wit.d2,
                            c.shape.n_d,
                            limb_tags(
                                if p.checks_upper() { cbits } else { 0 },
                                c.shape.n_d,
                                c.bits,
                            ),
                        ),
                    ];
                    let mut off = base + 6;
                    for (limbs, n, tags) in groups {
                        for (i, &tag) in tags.iter().enumerate() {
                            let v = limbs.get(i).copied().unwrap_or_default();
                            let cell =
                                region.assign_advice(c.main.a[off + i], row, Value::known(v));
                            range.check(&mut region, cell.cell(), v, tag);
                        }
                        off += n;
                    }
                    out.push(y);
                }
                // Unused slots of the last row hold zeros, which satisfy the gate.
                for idx in items.len()..items.len().next_multiple_of(c.slots) {
                    let row = row0 + idx / c.slots;
                    let base = (idx % c.slots) * w;
                    for i in 0..FIXED_WIDTH {
                        region.assign_fixed(c.main.f[base + i], row, fe(0));
                    }
                    for i in 0..w {
                        region.assign_advice(c.main.a[base + i], row, Value::known(fe(0)));
                    }
                }
                Ok(out)
            },
        )
    }
}
