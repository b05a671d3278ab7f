//! Softmax along one axis (spec section 4): for each softmax row `x_1..x_n`,
//! `d_i = max_j x_j - x_i` clamped to the exponential table, `e_i = exp[d_i]`, `S = Σ e_i`,
//! `y_i = min(div_round(e_i 2^F, S), hi)` with `div_round(v, d) = floor((2v + d) / (2d))`.
//!
//! # Table
//! The exponential table is loaded into the [`lut`](super::lut) table columns under its own
//! tag, *padded* to the whole range of differences: for an input of `b` bits, `m - x` lies in
//! `[0, 2^b - 1]`, and the loaded table holds `(tag, D, exp[min(D, len - 1)])` for every `D` in
//! that range. The clamp of the spec is therefore the table itself (fixed, committed by the
//! verifying key), and the lookup also proves `0 <= m - x < 2^b`.
//!
//! # Slot (one per element)
//! Advice cells (offsets in the slot): `x, m, p_prev, p, s_prev, s, e, S, q, y, b`, then the
//! limbs `y[0..n_y]`, `t[0..n_t]`, `r[0..n_r]`, `r2[0..n_r]`. Fixed cells: `tag, first, hi, 2^F`
//! (`first = 1` on the first element of a softmax row).
//!
//! Copies: `x` is a copy of the producer's cell; `m` of every element is a copy of the first
//! element's `m`; `p_prev` and `s_prev` are copies of the previous element's `p` and `s` (of the
//! zero cell on the first element); the last element's `p` is a copy of the zero cell; every
//! element's `S` is a copy of the last element's `s`.
//!
//! # Constraints of slot `k`
//! - lookup `softmax slot k: (tag, m - x, e) in lut table`;
//! - `p = (p_prev + first) * (m - x)` (running product of the differences);
//! - `s = s_prev + e` (running sum);
//! - `2*e*2^F + S = q*2*S + r` with `r = sum r_i 2^(R i)`;
//! - `r2 = 2*S - 1 - r` with `r2 = sum r2_i 2^(R i)`;
//! - `b * (1 - b) = 0`, `b * (y - hi) = 0`, `(1 - b) * (y - q) = 0`;
//! - `t = b*(q - hi - 1) + (1 - b)*(hi - q)` with `t = sum t_i 2^(R i)`;
//! - `y = sum y_i 2^(R i)`.
//!
//! Range checks (lanes): `y_i` to `bitlen(hi)` bits, `t_i` to `bitlen(max(hi, 2^F - hi - 1))`
//! bits, `r_i` and `r2_i` to `bitlen(2 n max(exp) - 1)` bits.
//!
//! # Soundness and uniqueness
//! The lookup gives `0 <= m - x_i < 2^b` for every `i` and the running product ends at zero, so
//! `m` is a maximum of the row and equal to one of its elements: `m` is the maximum (ties need
//! no choice, as in [`max_pool`](super::max_pool)). Each `e_i` is then the table's value at
//! `d_i` (the table is a function within a tag), so `e_i = exp[min(m - x_i, len - 1)]`, and
//! `S = Σ e_i` by the running sum; `S >= exp[0] >= 1` because the maximum's difference is 0.
//! `y >= 0` (its limbs) and either `b = 0`, `y = q`, `q <= hi` (from `t >= 0`), or `b = 1`,
//! `y = hi`, `hi < q <= hi + 2^(n_t R)`: in both cases `0 <= q < 2^(n_t R + 17)`. With
//! `0 <= r < 2^(n_r R)`, `e <= 2^30`, `F <= 30` and `S <= n 2^30`, both sides of the division
//! constraint are far below `p / 2`, so it holds over the integers; with `0 <= r < 2S` (from
//! `r` and `r2`), `q = floor((2 e 2^F + S) / (2S))` and `r` are unique (this rules out `q - 1`
//! with `r + 2S` and `q + 1` with `r - 2S`). The booleans select exclusive cases and a wrong
//! `b` makes `t` negative, so `b`, `y`, `t` and every limb are unique; `p` and `s` are
//! functions of the rest.
//!
//! Unused slots of a last row hold zeros (and `r2 = -1` in its first limb), which satisfy the
//! gate and match the lut table's zero row; they are connected to nothing.

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{ConstraintSystem, Error, Expression, Selector, VirtualCells};
use halo2_axiom::poly::Rotation;
use serde::{Deserialize, Serialize};

use super::lut::{LutConfig, LutTable};
use super::range::RangeCollector;
use super::requant::limbs_or_raw;
use super::{MainColumns, SlotQuery, limb_tags, named_constraints};
use crate::field::{Fr, bit_len, fe, pow2};
use crate::mutation::{constraint, enabled};

/// Advice cells of a slot before the limbs.
const HEAD: usize = 11;

/// Fixed cells a slot uses (`tag, first, hi, 2^F`).
pub const FIXED_WIDTH: usize = 4;

/// Largest output fraction bits `F` and table entry exponent the chip accepts (the bounds of
/// `tk_quant::ops::Softmax`).
pub const MAX_FRAC_BITS: u8 = 30;

/// Largest exponential table entry: `2^30`.
pub const MAX_EXP: i64 = 1 << 30;

/// Largest bit width of the remainder `r` (rows of up to `2^40` elements): it keeps the
/// division constraint far from wrapping (see the soundness note above).
pub const MAX_R_BITS: u32 = 72;

/// Limb counts and slots per row of the softmax chip, fixed per circuit (maxima over the
/// model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftmaxShape {
    /// Limbs of `y`.
    pub n_y: usize,
    /// Limbs of the clamp excess `t`.
    pub n_t: usize,
    /// Limbs of each of `r` and `r2 = 2S - 1 - r`.
    pub n_r: usize,
    /// Slots (lookup arguments) per row.
    pub slots: usize,
}

impl SoftmaxShape {
    /// Advice cells of a slot.
    pub fn width(&self) -> usize {
        HEAD + self.n_y + self.n_t + 2 * self.n_r
    }
}

/// The fixed parameters of one Softmax op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SoftmaxParams {
    /// Output fraction bits `F` (`y = 2^F` is probability 1), at most 30.
    pub frac_bits: u8,
    /// Upper bound of the output range.
    pub hi: i64,
    /// Bits of `y`: `bitlen(hi)`.
    pub y_bits: u32,
    /// Bits of the clamp excess `t`.
    pub t_bits: u32,
    /// Bits of `r` and `r2`: `bitlen(2 n max(exp) - 1)`.
    pub r_bits: u32,
}

impl SoftmaxParams {
    /// Parameters for rows of `n` elements, output fraction bits `frac_bits`, output upper bound
    /// `hi >= 1` and largest table entry `max_exp >= 1`.
    pub fn new(frac_bits: u8, hi: i64, n: usize, max_exp: i64) -> SoftmaxParams {
        let one = 1i128 << frac_bits;
        let hi128 = i128::from(hi);
        let above = (one - hi128 - 1).max(0);
        let sum_bound = 2 * n as u128 * max_exp.max(1) as u128;
        SoftmaxParams {
            frac_bits,
            hi,
            y_bits: bit_len(hi.max(0) as u128),
            t_bits: bit_len(hi128.max(above) as u128),
            r_bits: bit_len(sum_bound - 1),
        }
    }

    /// The integer standard's outputs for one softmax row `x` with the padded table `exp`
    /// (`exp.get(d)` for `d = max - x_i`); `None` if a difference falls outside the table.
    pub fn eval(&self, exp: &LutTable, x: &[i64]) -> Option<Vec<i64>> {
        let m = x.iter().copied().max()?;
        let e: Vec<i128> = x
            .iter()
            .map(|&v| exp.get(m - v).map(i128::from))
            .collect::<Option<_>>()?;
        let sum: i128 = e.iter().sum();
        if sum < 1 {
            return None;
        }
        Some(
            e.iter()
                .map(|&e| {
                    ((2 * (e << self.frac_bits) + sum).div_euclid(2 * sum)).min(self.hi.into())
                        as i64
                })
                .collect(),
        )
    }
}

/// The exponential table as loaded: `(D, exp[min(D, len - 1)])` for `D` in `[0, 2^bits)`.
pub fn padded_table(exp: &[i32], input_bits: u8) -> Vec<i64> {
    let last = exp.len().saturating_sub(1);
    (0..1usize << input_bits)
        .map(|d| exp.get(d.min(last)).map_or(0, |&v| i64::from(v)))
        .collect()
}

/// Advice values of one element's slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoftmaxElem {
    /// Input.
    pub x: Fr,
    /// Row maximum.
    pub m: Fr,
    /// Previous element's running product (0 on the first element).
    pub p_prev: Fr,
    /// Running product of `m - x`.
    pub p: Fr,
    /// Previous element's running sum (0 on the first element).
    pub s_prev: Fr,
    /// Running sum of `e`.
    pub s: Fr,
    /// `exp[min(m - x, len - 1)]`.
    pub e: Fr,
    /// The row's sum `S`.
    pub sum: Fr,
    /// `div_round(e 2^F, S)` before the clamp.
    pub q: Fr,
    /// Output.
    pub y: Fr,
    /// `q > hi`.
    pub b: Fr,
    /// Limbs of `y`.
    pub y_limbs: Vec<Fr>,
    /// Limbs of the clamp excess `t`.
    pub t: Vec<Fr>,
    /// Limbs of the remainder `r`.
    pub r: Vec<Fr>,
    /// Limbs of `2S - 1 - r`.
    pub r2: Vec<Fr>,
}

/// Advice values of one softmax row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoftmaxWitness {
    /// One per element, in row order.
    pub elems: Vec<SoftmaxElem>,
}

impl SoftmaxWitness {
    /// The witness for row `x` and outputs `y` (`None`: the standard's outputs), with limbs of
    /// `bits` bits. Values that do not fit (a dishonest `y`, a difference outside the table)
    /// are still written, so that the circuit is complete but unsatisfied.
    pub fn compute(
        params: &SoftmaxParams,
        exp: &LutTable,
        x: &[i64],
        y: Option<&[i64]>,
        shape: &SoftmaxShape,
        bits: u32,
    ) -> SoftmaxWitness {
        let m = x.iter().copied().max().unwrap_or(0);
        Self::compute_with_max(params, exp, x, m, y, shape, bits)
    }

    /// Like [`SoftmaxWitness::compute`] with the row maximum claimed to be `m` (adversarial
    /// tests: every other value is computed consistently from it).
    pub fn compute_with_max(
        params: &SoftmaxParams,
        exp: &LutTable,
        x: &[i64],
        m: i64,
        y: Option<&[i64]>,
        shape: &SoftmaxShape,
        bits: u32,
    ) -> SoftmaxWitness {
        let e: Vec<i128> = x
            .iter()
            .map(|&v| i128::from(exp.get(m - v).unwrap_or(0)))
            .collect();
        let sum: i128 = e.iter().sum();
        let hi = i128::from(params.hi);
        let (mut p, mut s) = (Fr::zero(), 0i128);
        let elems = x
            .iter()
            .zip(&e)
            .enumerate()
            .map(|(j, (&xv, &ev))| {
                let d = fe(i128::from(m) - i128::from(xv));
                let p_prev = p;
                p = if j == 0 { d } else { p_prev * d };
                let s_prev = s;
                s += ev;
                let num = 2 * (ev << params.frac_bits) + sum;
                let q = if sum > 0 { num.div_euclid(2 * sum) } else { 0 };
                let r = num - q * 2 * sum;
                let yv = y
                    .and_then(|y| y.get(j))
                    .map_or(q.min(hi), |&v| i128::from(v));
                let b = q > hi;
                let t = if b { q - hi - 1 } else { hi - q };
                SoftmaxElem {
                    x: fe(xv.into()),
                    m: fe(m.into()),
                    p_prev,
                    p,
                    s_prev: fe(s_prev),
                    s: fe(s),
                    e: fe(ev),
                    sum: fe(sum),
                    q: fe(q),
                    y: fe(yv),
                    b: fe(b.into()),
                    y_limbs: limbs_or_raw(yv, shape.n_y, bits),
                    t: limbs_or_raw(t, shape.n_t, bits),
                    r: limbs_or_raw(r, shape.n_r, bits),
                    r2: limbs_or_raw(2 * sum - 1 - r, shape.n_r, bits),
                }
            })
            .collect();
        SoftmaxWitness { elems }
    }
}

/// Gates and lookups of the softmax chip.
#[derive(Debug, Clone)]
pub struct SoftmaxConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Limb counts and slots.
    pub shape: SoftmaxShape,
    /// Range limb width `R`.
    pub bits: u32,
    /// Enables every slot gate and lookup of a row.
    pub q: Selector,
}

/// The gate constraints, in gate order (slot `k`'s constraint is named
/// `softmax slot {k}: {name}`; the mutation family is `softmax: {name}`).
pub const CONSTRAINTS: [&str; 9] = [
    "p = (p_prev + first) * (m - x)",
    "s = s_prev + e",
    "2*e*2^F + S = q*2*S + r",
    "r2 = 2*S - 1 - r",
    "b * (1 - b) = 0",
    "b * (y - hi) = 0",
    "(1 - b) * (y - q) = 0",
    "t = b*(q - hi - 1) + (1 - b)*(hi - q)",
    "y = sum y_i 2^(R i)",
];

/// Names of the gate constraints of slot `k`, in gate order.
pub fn constraint_names(k: usize) -> [String; 9] {
    CONSTRAINTS.map(|s| format!("softmax slot {k}: {s}"))
}

impl SoftmaxConfig {
    /// One gate and one lookup into the lut table per slot position.
    ///
    /// Side effects: one complex selector; gates of degree 3; `shape.slots` lookup arguments
    /// of degree 5 on `lut`'s table columns.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        main: &MainColumns,
        shape: SoftmaxShape,
        bits: u32,
        lut: &LutConfig,
    ) -> Self {
        let w = shape.width();
        assert!(
            shape.slots >= 1 && shape.slots * w <= main.width(),
            "{} softmax slots of {w} cells do not fit {} columns",
            shape.slots,
            main.width()
        );
        let q = meta.complex_selector();
        for k in 0..shape.slots {
            let base = k * w;
            let a = |m: &mut VirtualCells<'_, Fr>, i: usize| {
                m.query_advice(main.a[base + i], Rotation::cur())
            };
            let f = |m: &mut VirtualCells<'_, Fr>, i: usize| {
                m.query_fixed(main.f[base + i], Rotation::cur())
            };
            meta.lookup(
                format!("softmax slot {k}: (tag, m - x, e) in lut table"),
                |m| {
                    let sel =
                        constraint("softmax: (tag, m - x, e) in lut table", m.query_selector(q));
                    let (x, mx, e) = (a(m, 0), a(m, 1), a(m, 6));
                    let tag = f(m, 0);
                    vec![
                        (sel.clone() * tag, lut.table_tag),
                        (sel.clone() * (mx - x), lut.table_x),
                        (sel * e, lut.table_y),
                    ]
                },
            );
            let names = constraint_names(k);
            meta.create_gate(
                format!("softmax slot {k}: y = min(div_round(e*2^F, S), hi)"),
                |m| {
                    let sel = m.query_selector(q);
                    let mut slot = SlotQuery::new(main, base, HEAD, bits);
                    let [x, mx, p_prev, p, s_prev, s, e, sum, qv, y, b] =
                        std::array::from_fn(|i| slot.advice(m, i));
                    let (first, hi, one_f) = (slot.fixed(m, 1), slot.fixed(m, 2), slot.fixed(m, 3));
                    let y_limbs = slot.limbs(m, shape.n_y);
                    let t = slot.limbs(m, shape.n_t);
                    let r = slot.limbs(m, shape.n_r);
                    let r2 = slot.limbs(m, shape.n_r);
                    let one = Expression::Constant(fe(1));
                    let two = Expression::Constant(fe(2));
                    let polys = [
                        p - (p_prev + first) * (mx - x),
                        s - s_prev - e.clone(),
                        two.clone() * e * one_f + sum.clone()
                            - qv.clone() * two.clone() * sum.clone()
                            - r.clone(),
                        r2 - (two * sum - one.clone() - r),
                        b.clone() * (one.clone() - b.clone()),
                        b.clone() * (y.clone() - hi.clone()),
                        (one.clone() - b.clone()) * (y.clone() - qv.clone()),
                        t - b.clone() * (qv.clone() - hi.clone() - one.clone())
                            - (one - b) * (hi - qv),
                        y - y_limbs,
                    ];
                    named_constraints("softmax", &names, CONSTRAINTS, polys, &sel)
                },
            );
        }
        SoftmaxConfig {
            main: main.clone(),
            shape,
            bits,
            q,
        }
    }

    /// Rows `count` element slots take.
    pub fn rows(&self, count: usize) -> usize {
        count.div_ceil(self.shape.slots)
    }
}

/// One softmax row to lay out.
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxAssign<'a> {
    /// Producer cells of the row's elements.
    pub inputs: &'a [Cell],
    /// Tag of the op's padded exponential table.
    pub tag: u64,
    /// Fixed parameters.
    pub params: &'a SoftmaxParams,
    /// Advice values.
    pub witness: &'a SoftmaxWitness,
}

/// Lays out softmax rows.
#[derive(Debug, Clone)]
pub struct SoftmaxChip {
    config: SoftmaxConfig,
}

impl SoftmaxChip {
    /// The chip for `config`.
    pub fn construct(config: SoftmaxConfig) -> Self {
        SoftmaxChip { config }
    }

    /// Lays out the elements of `rows` one slot each, row after row, from absolute row `row0`;
    /// queues their limbs in `range` and returns the output cells of each row.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        rows: &[SoftmaxAssign<'_>],
        range: &mut RangeCollector,
    ) -> Result<Vec<Vec<Cell>>, Error> {
        let c = &self.config;
        let w = c.shape.width();
        let slots = c.shape.slots;
        let zero = range.zero();
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                let mut out = Vec::with_capacity(rows.len());
                let mut idx = 0;
                for item in rows {
                    let p = item.params;
                    let (tag, hi, one) = (
                        Fr::from(item.tag),
                        fe(p.hi.into()),
                        pow2(p.frac_bits.into()),
                    );
                    let tags = [
                        limb_tags(p.y_bits, c.shape.n_y, c.bits),
                        limb_tags(p.t_bits, c.shape.n_t, c.bits),
                        limb_tags(p.r_bits, c.shape.n_r, c.bits),
                        limb_tags(p.r_bits, c.shape.n_r, c.bits),
                    ];
                    let mut ys = Vec::with_capacity(item.witness.elems.len());
                    let mut sums = Vec::with_capacity(item.witness.elems.len());
                    let mut first_m: Option<Cell> = None;
                    let mut prev: Option<(Cell, Cell)> = None;
                    for (j, (wit, &src)) in item.witness.elems.iter().zip(item.inputs).enumerate() {
                        let row = row0 + idx / slots;
                        let base = (idx % slots) * w;
                        if idx % slots == 0 {
                            c.q.enable(&mut region, row)?;
                        }
                        idx += 1;
                        let fixed = [tag, fe((j == 0).into()), hi, one];
                        for (i, v) in fixed.into_iter().enumerate() {
                            region.assign_fixed(c.main.f[base + i], row, v);
                        }
                        let mut put = |i: usize, v: Fr| {
                            region
                                .assign_advice(c.main.a[base + i], row, Value::known(v))
                                .cell()
                        };
                        let head = [
                            wit.x, wit.m, wit.p_prev, wit.p, wit.s_prev, wit.s, wit.e, wit.sum,
                            wit.q, wit.y, wit.b,
                        ];
                        let [x, m, p_prev, p_cell, s_prev, s, _, sum, _, y, _] =
                            std::array::from_fn(|i| put(i, head[i]));
                        if enabled("softmax: x copy") {
                            region.constrain_equal(x, src);
                        }
                        match first_m {
                            None => first_m = Some(m),
                            Some(m0) if enabled("softmax: m copy") => {
                                region.constrain_equal(m, m0);
                            }
                            Some(_) => {}
                        }
                        let (pp, sp) = prev.unwrap_or((zero, zero));
                        if enabled("softmax: p_prev copy") {
                            region.constrain_equal(p_prev, pp);
                        }
                        if enabled("softmax: s_prev copy") {
                            region.constrain_equal(s_prev, sp);
                        }
                        prev = Some((p_cell, s));
                        let mut off = base + HEAD;
                        let groups = [&wit.y_limbs, &wit.t, &wit.r, &wit.r2];
                        for (limbs, tags) in groups.into_iter().zip(&tags) {
                            for (i, &tag) in tags.iter().enumerate() {
                                let v = limbs.get(i).copied().unwrap_or_default();
                                let cell =
                                    region.assign_advice(c.main.a[off + i], row, Value::known(v));
                                range.check(&mut region, cell.cell(), v, tag);
                            }
                            off += tags.len();
                        }
                        ys.push(y);
                        sums.push(sum);
                    }
                    if let Some((p_last, s_last)) = prev {
                        if enabled("softmax: last p = 0 copy") {
                            region.constrain_equal(p_last, zero);
                        }
                        if enabled("softmax: S copy") {
                            for sum in sums {
                                region.constrain_equal(sum, s_last);
                            }
                        }
                    }
                    out.push(ys);
                }
                // Unused slots of the last row: zeros, except `r2 = -1` (with `S = r = 0`).
                for idx in idx..idx.next_multiple_of(slots) {
                    let row = row0 + idx / slots;
                    let base = (idx % slots) * w;
                    for i in 0..FIXED_WIDTH {
                        region.assign_fixed(c.main.f[base + i], row, Fr::zero());
                    }
                    let r2 = base + HEAD + c.shape.n_y + c.shape.n_t + c.shape.n_r;
                    for i in 0..w {
                        let v = if base + i == r2 {
                            -Fr::one()
                        } else {
                            Fr::zero()
                        };
                        region.assign_advice(c.main.a[base + i], row, Value::known(v));
                    }
                }
                Ok(out)
            },
        )
    }
}
