//! MaxPool: `y = max(x_1, ..., x_n)` over each window; padded positions are never selected.
//!
//! # Slot (one gate per window size `n`)
//! Advice cells: `y`, `x_1..x_n` (copies of the producers' cells), the running products
//! `p_2..p_(n-1)`, and the limbs `d_i[0..n_d]` of each `y - x_i`. A window with fewer than `n`
//! in-bounds positions repeats its first position (a repeated element changes neither the
//! maximum nor the product below).
//!
//! # Gate `max_pool n={n} slot k`
//! - `y - x_i = d_i` for every `i` (limb sums; the limbs are range-checked to `c` bits, the
//!   input bit width, so `0 <= y - x_i < 2^c`);
//! - `p_2 = (y - x_1)(y - x_2)`, `p_i = p_(i-1) (y - x_i)`;
//! - `prod_i (y - x_i) = 0`, i.e. `p_(n-1) (y - x_n) = 0`.
//!
//! # Uniqueness
//! `y >= x_i` for every `i` (a non-negative small difference), and `y = x_j` for some `j` (a
//! product of field elements is zero only if a factor is), so `y` is the maximum. Ties do not
//! matter: no selector witness says *which* element is the maximum, so the witness is unique
//! even when several elements are equal. The products and the limbs are functions of `y` and
//! the inputs.

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_axiom::poly::Rotation;
use serde::{Deserialize, Serialize};

use super::range::RangeCollector;
use super::{MainColumns, decompose, limb_tags, recompose};
use crate::field::{Fr, fe};
use crate::mutation::{constraint, enabled};

/// Window size and limb count of a max-pool slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPoolShape {
    /// Elements per window (`kh * kw`).
    pub window: usize,
    /// Limbs of each difference `y - x_i`.
    pub n_d: usize,
}

impl MaxPoolShape {
    /// Advice cells of a slot.
    pub fn width(&self) -> usize {
        let n = self.window;
        1 + n + n.saturating_sub(2) + n * self.n_d
    }
}

/// Gates of the max-pool chip for one window size.
#[derive(Debug, Clone)]
pub struct MaxPoolConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Window size and limb count.
    pub shape: MaxPoolShape,
    /// Range limb width `R`.
    pub bits: u32,
    /// Slots per row.
    pub slots: usize,
    /// Enables every slot gate of a row.
    pub q: Selector,
}

impl MaxPoolConfig {
    /// One gate per slot position.
    ///
    /// Side effects: one simple selector; gates of degree 3.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        main: &MainColumns,
        shape: MaxPoolShape,
        bits: u32,
    ) -> Self {
        let n = shape.window;
        let w = shape.width();
        let slots = main.width() / w;
        assert!(
            n >= 1 && slots >= 1,
            "max-pool slot of {w} cells does not fit"
        );
        let q = meta.selector();
        for k in 0..slots {
            let base = k * w;
            meta.create_gate(format!("max_pool n={n} slot {k}: y = max(x_1..x_n)"), |m| {
                let sel = m.query_selector(q);
                let mut a = |i: usize| m.query_advice(main.a[base + i], Rotation::cur());
                let y = a(0);
                let diffs: Vec<Expression<Fr>> = (0..n).map(|i| y.clone() - a(1 + i)).collect();
                let prods: Vec<_> = (0..n.saturating_sub(2)).map(|i| a(1 + n + i)).collect();
                let limb_base = 1 + n + n.saturating_sub(2);
                let mut out = Vec::new();
                for (i, d) in diffs.iter().enumerate() {
                    let limbs: Vec<_> = (0..shape.n_d)
                        .map(|l| a(limb_base + i * shape.n_d + l))
                        .collect();
                    out.push((
                        format!("slot {k}: y - x_{i} = d_{i}"),
                        sel.clone()
                            * constraint(
                                "max_pool: y - x_i = d_i",
                                recompose(&limbs, bits) - d.clone(),
                            ),
                    ));
                }
                // prods[i - 1] = p_i = d_0 * ... * d_i for i in 1..n-1.
                for i in 1..n.saturating_sub(1) {
                    let prev = if i == 1 {
                        diffs[0].clone()
                    } else {
                        prods[i - 2].clone()
                    };
                    out.push((
                        format!("slot {k}: p_{i} = p_{} * (y - x_{i})", i - 1),
                        sel.clone()
                            * constraint(
                                "max_pool: p_i = p_(i-1) * (y - x_i)",
                                prods[i - 1].clone() - prev * diffs[i].clone(),
                            ),
                    ));
                }
                let last = match n {
                    1 => diffs[0].clone(),
                    2 => diffs[0].clone() * diffs[1].clone(),
                    _ => prods[n - 3].clone() * diffs[n - 1].clone(),
                };
                out.push((
                    format!("slot {k}: prod (y - x_i) = 0"),
                    sel.clone() * constraint("max_pool: prod (y - x_i) = 0", last),
                ));
                out
            });
        }
        MaxPoolConfig {
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

/// Advice values of one slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MaxPoolWitness {
    /// The maximum.
    pub y: Fr,
    /// The window's elements (`n` of them, padded by repetition).
    pub x: Vec<Fr>,
    /// Running products `p_1..p_(n-2)`.
    pub p: Vec<Fr>,
    /// Limbs of `y - x_i` for each `i`.
    pub d: Vec<Vec<Fr>>,
}

impl MaxPoolWitness {
    /// The witness for window `x` (already padded to the window size) and output `y`
    /// (`None`: the maximum), with differences split into `shape.n_d` limbs of `bits` bits.
    pub fn compute(x: &[i64], y: Option<i64>, shape: &MaxPoolShape, bits: u32) -> MaxPoolWitness {
        let y = y.unwrap_or_else(|| x.iter().copied().max().unwrap_or(0));
        let diffs: Vec<i128> = x.iter().map(|&v| i128::from(y) - i128::from(v)).collect();
        let mut p = Vec::new();
        let mut acc = fe(diffs.first().copied().unwrap_or(0));
        for d in diffs.iter().skip(1).take(x.len().saturating_sub(2)) {
            acc *= fe(*d);
            p.push(acc);
        }
        let d = diffs
            .iter()
            .map(|&v| {
                u128::try_from(v)
                    .ok()
                    .and_then(|v| decompose(v, shape.n_d, bits))
                    .unwrap_or_else(|| {
                        let mut limbs = vec![Fr::zero(); shape.n_d];
                        limbs[0] = fe(v);
                        limbs
                    })
            })
            .collect();
        MaxPoolWitness {
            y: fe(y.into()),
            x: x.iter().map(|&v| fe(v.into())).collect(),
            p,
            d,
        }
    }
}

/// One window to lay out.
#[derive(Debug, Clone, Copy)]
pub struct MaxPoolAssign<'a> {
    /// Producer cells of the window's elements (`n` of them).
    pub inputs: &'a [Cell],
    /// Input bit width `c`: differences are checked to `c` bits.
    pub input_bits: u32,
    /// Advice values.
    pub witness: &'a MaxPoolWitness,
}

/// Lays out max-pool slots.
#[derive(Debug, Clone)]
pub struct MaxPoolChip {
    config: MaxPoolConfig,
}

impl MaxPoolChip {
    /// The chip for `config`.
    pub fn construct(config: MaxPoolConfig) -> Self {
        MaxPoolChip { config }
    }

    /// Lays out `items` from absolute row `row0`, queues their limbs in `range`, and returns
    /// the output cell of each.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        items: &[MaxPoolAssign<'_>],
        range: &mut RangeCollector,
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        let n = c.shape.window;
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
                    let wit = item.witness;
                    let mut put = |i: usize, v: Fr| {
                        region
                            .assign_advice(c.main.a[base + i], row, Value::known(v))
                            .cell()
                    };
                    let y = put(0, wit.y);
                    let xs: Vec<Cell> = (0..n)
                        .map(|i| put(1 + i, wit.x.get(i).copied().unwrap_or_default()))
                        .collect();
                    for i in 0..n.saturating_sub(2) {
                        put(1 + n + i, wit.p.get(i).copied().unwrap_or_default());
                    }
                    if enabled("max_pool: x copy") {
                        for (x, src) in xs.iter().zip(item.inputs) {
                            region.constrain_equal(*x, *src);
                        }
                    }
                    let tags = limb_tags(item.input_bits, c.shape.n_d, c.bits);
                    let limb_base = base + 1 + n + n.saturating_sub(2);
                    for i in 0..n {
                        for (l, &tag) in tags.iter().enumerate() {
                            let v = wit
                                .d
                                .get(i)
                                .and_then(|d| d.get(l))
                                .copied()
                                .unwrap_or_default();
                            let col = c.main.a[limb_base + i * c.shape.n_d + l];
                            let cell = region.assign_advice(col, row, Value::known(v));
                            range.check(&mut region, cell.cell(), v, tag);
                        }
                    }
                    out.push(y);
                }
                // Unused slots of the last row hold zeros, which satisfy the gate.
                for idx in items.len()..items.len().next_multiple_of(c.slots) {
                    let row = row0 + idx / c.slots;
                    let base = (idx % c.slots) * w;
                    for i in 0..w {
                        region.assign_advice(c.main.a[base + i], row, Value::known(fe(0)));
                    }
                }
                Ok(out)
            },
        )
    }
}

/// Flat input indices of every window of a 2-D pool over `x [N, C, H, W]` with output
/// `[N, C, OH, OW]`, in output order; padded positions are left out.
pub fn pool_windows(
    x_shape: &[usize],
    out_shape: &[usize],
    g: &tk_quant::ops::PoolGeometry,
) -> Vec<Vec<usize>> {
    let [n, c, h, w] = [x_shape[0], x_shape[1], x_shape[2], x_shape[3]];
    let [oh, ow] = [out_shape[2], out_shape[3]];
    let mut out = Vec::with_capacity(n * c * oh * ow);
    for b in 0..n {
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut window = Vec::with_capacity(g.kernel[0] * g.kernel[1]);
                    for i in 0..g.kernel[0] {
                        for j in 0..g.kernel[1] {
                            let iy = (oy * g.strides[0] + i) as isize - g.pads[0] as isize;
                            let ix = (ox * g.strides[1] + j) as isize - g.pads[1] as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                window.push(((b * c + ch) * h + iy as usize) * w + ix as usize);
                            }
                        }
                    }
                    out.push(window);
                }
            }
        }
    }
    out
}
