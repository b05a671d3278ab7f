//! Constants: the zero cell and the model's Const tensors as advice cells pinned to fixed
//! values.
//!
//! # Gate `constant: a_j = f_j`
//! On a constant row every advice cell `a[j]` equals the fixed cell `f[j]` (one constraint
//! `a_j = f_j` per column). The first cell of the first constant row is the circuit's zero
//! cell: limbs that must be zero, unused operands and Pad's padding are copies of it. Unused
//! cells of the last row have `a = f = 0`.
//!
//! # Uniqueness
//! Each cell equals a fixed value the verifying key commits to.

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{ConstraintSystem, Error, Selector};
use halo2_axiom::poly::Rotation;

use super::MainColumns;
use crate::field::{Fr, fe};
use crate::mutation::constraint;

/// Gate of the constant chip.
#[derive(Debug, Clone)]
pub struct ConstConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Enables the gate on a row.
    pub q: Selector,
}

impl ConstConfig {
    /// The `a_j = f_j` gate.
    ///
    /// Side effects: one simple selector, one gate of degree 2 with `width` constraints.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, main: &MainColumns) -> Self {
        let q = meta.selector();
        meta.create_gate("constant: a_j = f_j", |m| {
            let sel = m.query_selector(q);
            main.a
                .iter()
                .zip(&main.f)
                .enumerate()
                .map(|(j, (&a, &f))| {
                    let a = m.query_advice(a, Rotation::cur());
                    let f = m.query_fixed(f, Rotation::cur());
                    (
                        format!("a_{j} = f_{j}"),
                        sel.clone() * constraint("constant: a_j = f_j", a - f),
                    )
                })
                .collect::<Vec<_>>()
        });
        ConstConfig {
            main: main.clone(),
            q,
        }
    }

    /// Rows `count` constants take.
    pub fn rows(&self, count: usize) -> usize {
        count.div_ceil(self.main.width())
    }
}

/// Lays out constant rows.
#[derive(Debug, Clone)]
pub struct ConstChip {
    config: ConstConfig,
}

impl ConstChip {
    /// The chip for `config`.
    pub fn construct(config: ConstConfig) -> Self {
        ConstChip { config }
    }

    /// Lays out `values` (fixed) with advice `witness` (equal to them when honest) from
    /// absolute row `row0`; returns one cell per value.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        row0: usize,
        values: &[i64],
        witness: &[Fr],
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        let width = c.main.width();
        layouter.assign_region(
            || "constants",
            |mut region| {
                let mut out = Vec::with_capacity(values.len());
                for (i, &v) in values.iter().enumerate() {
                    let row = row0 + i / width;
                    let j = i % width;
                    if j == 0 {
                        c.q.enable(&mut region, row)?;
                    }
                    region.assign_fixed(c.main.f[j], row, fe(v.into()));
                    let w = witness.get(i).copied().unwrap_or_default();
                    out.push(
                        region
                            .assign_advice(c.main.a[j], row, Value::known(w))
                            .cell(),
                    );
                }
                // The rest of the last row holds a = f = 0.
                for i in values.len()..values.len().next_multiple_of(width) {
                    let row = row0 + i / width;
                    region.assign_fixed(c.main.f[i % width], row, fe(0));
                    region.assign_advice(c.main.a[i % width], row, Value::known(fe(0)));
                }
                Ok(out)
            },
        )
    }
}
