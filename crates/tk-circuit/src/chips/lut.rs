//! Lut: `y = table[x - x_lo]`, element-wise functions by table lookup.
//!
//! # Columns
//! Slot `k` of a row uses `a[2k]` (`x`, a copy of the producer's cell), `a[2k+1]` (`y`) and
//! the fixed `f[2k]` (the table's tag). The table columns `(tag, x, y)` hold, for every Lut
//! table of the model (tag `1..`), one row `(tag, x_lo + i, table[i])` per entry, plus the
//! row `(0, 0, 0)` that unused slots match.
//!
//! # Constraints
//! - lookup `lut slot k: (tag, x, y) in lut table`:
//!   `(q * f[2k], q * a[2k], q * a[2k+1])` is a table row (`q` a complex selector);
//! - copy: `x` equals the producer's cell.
//!
//! # Uniqueness
//! Within a tag every `x` appears once, so the table is a function and `y` is determined by
//! `x`; `x` outside the table's domain has no row. Outputs lie in `[lo, hi]` because every
//! table entry does (the tables are fixed columns: the verifying key commits to them).

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{ConstraintSystem, Error, Selector, TableColumn};
use halo2_axiom::poly::Rotation;

use super::MainColumns;
use crate::field::{Fr, fe};
use crate::mutation::{constraint, enabled};

/// Columns and lookups of the lut chip.
#[derive(Debug, Clone)]
pub struct LutConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Slots (lookup arguments) per row.
    pub slots: usize,
    /// Enables the lookups of a row.
    pub q: Selector,
    /// Table column of tags.
    pub table_tag: TableColumn,
    /// Table column of inputs.
    pub table_x: TableColumn,
    /// Table column of outputs.
    pub table_y: TableColumn,
}

impl LutConfig {
    /// One lookup per slot.
    ///
    /// Side effects: one complex selector, three table columns, `slots` lookup arguments of
    /// degree 5.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, main: &MainColumns, slots: usize) -> Self {
        assert!(2 * slots <= main.width(), "lut slots do not fit the row");
        let q = meta.complex_selector();
        let table_tag = meta.lookup_table_column();
        let table_x = meta.lookup_table_column();
        let table_y = meta.lookup_table_column();
        for k in 0..slots {
            meta.lookup(format!("lut slot {k}: (tag, x, y) in lut table"), |m| {
                let q = constraint("lut: (tag, x, y) in lut table", m.query_selector(q));
                let tag = m.query_fixed(main.f[2 * k], Rotation::cur());
                let x = m.query_advice(main.a[2 * k], Rotation::cur());
                let y = m.query_advice(main.a[2 * k + 1], Rotation::cur());
                vec![
                    (q.clone() * tag, table_tag),
                    (q.clone() * x, table_x),
                    (q * y, table_y),
                ]
            });
        }
        LutConfig {
            main: main.clone(),
            slots,
            q,
            table_tag,
            table_x,
            table_y,
        }
    }

    /// Rows `count` slots take.
    pub fn rows(&self, count: usize) -> usize {
        count.div_ceil(self.slots)
    }
}

/// One table of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LutTable {
    /// Tag, `1..`.
    pub tag: u64,
    /// Smallest input.
    pub in_lo: i64,
    /// Output for inputs `in_lo, in_lo + 1, ...`.
    pub values: Vec<i64>,
}

impl LutTable {
    /// The table's output for `x`, if `x` is in its domain.
    pub fn get(&self, x: i64) -> Option<i64> {
        usize::try_from(x - self.in_lo)
            .ok()
            .and_then(|i| self.values.get(i))
            .copied()
    }
}

/// Rows of the lut table for `tables`: one per entry plus the zero row.
pub fn table_rows(tables: &[LutTable]) -> usize {
    1 + tables.iter().map(|t| t.values.len()).sum::<usize>()
}

/// Advice values of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LutWitness {
    /// Input.
    pub x: Fr,
    /// Output.
    pub y: Fr,
}

/// One slot to lay out.
#[derive(Debug, Clone, Copy)]
pub struct LutAssign<'a> {
    /// Producer cell of `x`.
    pub input: Cell,
    /// Tag of the table.
    pub tag: u64,
    /// Advice values.
    pub witness: &'a LutWitness,
}

/// Lays out lut slots and the lut table.
#[derive(Debug, Clone)]
pub struct LutChip {
    config: LutConfig,
}

impl LutChip {
    /// The chip for `config`.
    pub fn construct(config: LutConfig) -> Self {
        LutChip { config }
    }

    /// Fills the table with the zero row and every entry of `tables`.
    pub fn load_table(
        &self,
        layouter: &mut impl Layouter<Fr>,
        tables: &[LutTable],
    ) -> Result<(), Error> {
        let c = &self.config;
        layouter.assign_table(
            || "lut table",
            |mut table| {
                let rows = std::iter::once((0u64, 0i64, 0i64)).chain(tables.iter().flat_map(|t| {
                    t.values
                        .iter()
                        .enumerate()
                        .map(|(i, &y)| (t.tag, t.in_lo + i as i64, y))
                }));
                for (row, (tag, x, y)) in rows.enumerate() {
                    table.assign_cell(
                        || "tag",
                        c.table_tag,
                        row,
                        || Value::known(Fr::from(tag)),
                    )?;
                    table.assign_cell(|| "x", c.table_x, row, || Value::known(fe(x.into())))?;
                    table.assign_cell(|| "y", c.table_y, row, || Value::known(fe(y.into())))?;
                }
                Ok(())
            },
        )
    }

    /// Lays out `items` from absolute row `row0`; returns the output cell of each.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        items: &[LutAssign<'_>],
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                let mut out = Vec::with_capacity(items.len());
                for (idx, item) in items.iter().enumerate() {
                    let row = row0 + idx / c.slots;
                    let k = idx % c.slots;
                    if k == 0 {
                        c.q.enable(&mut region, row)?;
                    }
                    region.assign_fixed(c.main.f[2 * k], row, Fr::from(item.tag));
                    let x =
                        region.assign_advice(c.main.a[2 * k], row, Value::known(item.witness.x));
                    if enabled("lut: x copy") {
                        region.constrain_equal(x.cell(), item.input);
                    }
                    let y = region.assign_advice(
                        c.main.a[2 * k + 1],
                        row,
                        Value::known(item.witness.y),
                    );
                    out.push(y.cell());
                }
                Ok(out)
            },
        )
    }
}
