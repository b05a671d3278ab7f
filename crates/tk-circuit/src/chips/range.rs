//! Range checks by lookup: every limb of a range-checked value is copied into a *lane* and
//! looked up, together with its bit width (the *tag*), in a fixed table.
//!
//! # Columns
//! - `lanes[0..L]`: advice, equality enabled; each lane row holds up to `L` limbs.
//! - `tags[0..L]`: fixed; the bit width `t` each lane cell must fit in.
//! - `q_lane`: complex selector, on for every lane row.
//! - table `(table_tag, table_value)`: every pair `(t, v)` with `0 <= t <= R`, `0 <= v < 2^t`
//!   (`2^(R+1) - 1` rows); with signed checks of widths `S` also every `(SIGNED_TAG + t, v)`
//!   with `t` in `S`, `-2^(t-1) <= v < 2^(t-1)` (`2^t` more rows each).
//!
//! # Constraints
//! - lookup `range lane j: (tag, limb) in range table`, for each lane `j`:
//!   `(q_lane * tags[j], q_lane * lanes[j])` is a table row, so `0 <= lanes[j] < 2^tags[j]`.
//! - copy: each lane cell equals the limb cell it checks (in the calling chip's slot).
//!
//! A value of `b` bits is split into `ceil(b / R)` limbs with tags `R, R, ..., b mod R`; the
//! calling chip's gate recombines the limbs (`v = sum limb_i * 2^(R*i)`), which with the tags
//! proves `0 <= v < 2^b`. Limbs whose tag is 0 must be zero: they are copied to the circuit's
//! zero cell instead of taking a lane.
//!
//! # Uniqueness
//! A lane cell is copy-constrained to its limb, so it holds exactly the limb's value; limb
//! values are unique because base-`2^R` digits of a number below `2^b` are unique. The unused
//! cells of the last lane row hold 0 with tag 0.

use std::collections::BTreeMap;

use halo2_axiom::circuit::{Cell, Layouter, Region, Value};
use halo2_axiom::plonk::{Advice, Column, ConstraintSystem, Error, Fixed, Selector, TableColumn};
use halo2_axiom::poly::Rotation;

use crate::field::Fr;
use crate::mutation::{constraint, enabled};

/// Tag offset of signed checks: tag `SIGNED_TAG + t` requires `-2^(t-1) <= v < 2^(t-1)`.
pub const SIGNED_TAG: u32 = 32;

/// Columns and lookups of the range checker.
#[derive(Debug, Clone)]
pub struct RangeConfig {
    /// Limb width `R` in bits; the table covers `0..2^R`.
    pub bits: u32,
    /// Lane advice columns.
    pub lanes: Vec<Column<Advice>>,
    /// Fixed tag column of each lane.
    pub tags: Vec<Column<Fixed>>,
    /// Enables the lane lookups on a row.
    pub q_lane: Selector,
    /// Table column of bit widths.
    pub table_tag: TableColumn,
    /// Table column of values.
    pub table_value: TableColumn,
    /// Bit widths whose signed rows the table holds (each `1..=R`).
    pub signed: Vec<u32>,
}

impl RangeConfig {
    /// Creates `lanes` lane and tag columns, the selector, the two table columns and one lookup
    /// per lane (`lanes = 0` for a circuit without range checks).
    ///
    /// Side effects: enables equality on every lane column; adds `lanes` lookup arguments of
    /// degree 5.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        lanes: usize,
        bits: u32,
        signed: &[u32],
    ) -> Self {
        assert!(
            (1..=16).contains(&bits),
            "range limb width must be 1..=16 bits"
        );
        let lane_cols: Vec<_> = (0..lanes).map(|_| meta.advice_column()).collect();
        let tags: Vec<_> = (0..lanes).map(|_| meta.fixed_column()).collect();
        let q_lane = meta.complex_selector();
        let table_tag = meta.lookup_table_column();
        let table_value = meta.lookup_table_column();
        for (j, (&lane, &tag)) in lane_cols.iter().zip(&tags).enumerate() {
            meta.enable_equality(lane);
            meta.lookup(format!("range lane {j}: (tag, limb) in range table"), |m| {
                let q = constraint(
                    "range: (tag, limb) in range table",
                    m.query_selector(q_lane),
                );
                let t = m.query_fixed(tag, Rotation::cur());
                let v = m.query_advice(lane, Rotation::cur());
                vec![(q.clone() * t, table_tag), (q * v, table_value)]
            });
        }
        RangeConfig {
            bits,
            lanes: lane_cols,
            tags,
            q_lane,
            table_tag,
            table_value,
            signed: signed.to_vec(),
        }
    }

    /// Rows of the range table.
    pub fn table_rows(&self) -> usize {
        table_rows(self.bits, &self.signed)
    }
}

/// Rows of the range table for limbs of `bits` bits: `2^(bits+1) - 1`, plus `2^t` signed rows
/// for each width `t` of `signed`.
pub fn table_rows(bits: u32, signed: &[u32]) -> usize {
    (1usize << (bits + 1)) - 1 + signed.iter().map(|&t| 1usize << t).sum::<usize>()
}

/// Rows the lanes need for `checks` limbs on `lanes` lanes.
pub fn lane_rows(checks: usize, lanes: usize) -> usize {
    checks.div_ceil(lanes)
}

/// One limb waiting for its lane.
#[derive(Debug, Clone, Copy)]
pub struct LimbCheck {
    /// The limb's cell in the calling chip's slot.
    pub cell: Cell,
    /// The limb's value (copied into the lane).
    pub value: Fr,
    /// Bit width the limb must fit in, `1..=R`.
    pub tag: u32,
}

/// Collects the limbs chips want range-checked while they lay out their slots.
#[derive(Debug, Clone)]
pub struct RangeCollector {
    zero: Cell,
    pending: Vec<LimbCheck>,
}

impl RangeCollector {
    /// A collector that copies tag-0 limbs to `zero`, a cell constrained to hold 0.
    pub fn new(zero: Cell) -> Self {
        RangeCollector {
            zero,
            pending: Vec::new(),
        }
    }

    /// Requires `0 <= cell < 2^tag`: a tag-0 limb is copied to the zero cell (inside `region`),
    /// any other limb is queued for a lane.
    pub fn check(&mut self, region: &mut Region<'_, Fr>, cell: Cell, value: Fr, tag: u32) {
        if tag == 0 {
            if enabled("range: zero limb copy") {
                region.constrain_equal(cell, self.zero);
            }
        } else {
            self.pending.push(LimbCheck { cell, value, tag });
        }
    }

    /// Requires `-2^(bits-1) <= cell < 2^(bits-1)` (`1 <= bits <= R`; the table must have its
    /// signed rows).
    pub fn check_signed(&mut self, cell: Cell, value: Fr, bits: u32) {
        self.pending.push(LimbCheck {
            cell,
            value,
            tag: SIGNED_TAG + bits,
        });
    }

    /// The circuit's zero cell.
    pub fn zero(&self) -> Cell {
        self.zero
    }

    /// Limbs queued so far, in layout order.
    pub fn pending(&self) -> &[LimbCheck] {
        &self.pending
    }
}

/// Lays out the lanes and the range table.
#[derive(Debug, Clone)]
pub struct RangeChip {
    config: RangeConfig,
}

impl RangeChip {
    /// The chip for `config`.
    pub fn construct(config: RangeConfig) -> Self {
        RangeChip { config }
    }

    /// Fills the range table.
    pub fn load_table(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        let c = &self.config;
        layouter.assign_table(
            || "range table",
            |mut table| {
                let mut row = 0;
                for t in 0..=c.bits {
                    for v in 0..(1u64 << t) {
                        table.assign_cell(
                            || "tag",
                            c.table_tag,
                            row,
                            || Value::known(Fr::from(u64::from(t))),
                        )?;
                        table.assign_cell(
                            || "value",
                            c.table_value,
                            row,
                            || Value::known(Fr::from(v)),
                        )?;
                        row += 1;
                    }
                }
                {
                    for &t in &c.signed {
                        let half = 1i64 << (t - 1);
                        for v in -half..half {
                            table.assign_cell(
                                || "tag",
                                c.table_tag,
                                row,
                                || Value::known(Fr::from(u64::from(SIGNED_TAG + t))),
                            )?;
                            table.assign_cell(
                                || "value",
                                c.table_value,
                                row,
                                || Value::known(crate::field::fe(v.into())),
                            )?;
                            row += 1;
                        }
                    }
                }
                Ok(())
            },
        )
    }

    /// Lays out `checks` on lane rows `0..`, limb `i` in row `i / L`, lane `i % L`, each copied
    /// from its source cell. `overrides` replaces the value written into a lane (adversarial
    /// tests only; honest callers pass an empty map). Returns the number of rows used.
    pub fn assign_lanes(
        &self,
        layouter: &mut impl Layouter<Fr>,
        checks: &[LimbCheck],
        overrides: &BTreeMap<usize, Fr>,
    ) -> Result<usize, Error> {
        let c = &self.config;
        let width = c.lanes.len();
        if width == 0 {
            return if checks.is_empty() {
                Ok(0)
            } else {
                Err(Error::Synthesis)
            };
        }
        let rows = lane_rows(checks.len(), width);
        layouter.assign_region(
            || "range lanes",
            |mut region| {
                for row in 0..rows {
                    c.q_lane.enable(&mut region, row)?;
                    for j in 0..width {
                        let i = row * width + j;
                        let Some(check) = checks.get(i) else {
                            region.assign_advice(c.lanes[j], row, Value::known(Fr::zero()));
                            continue;
                        };
                        let value = overrides.get(&i).copied().unwrap_or(check.value);
                        let cell = region.assign_advice(c.lanes[j], row, Value::known(value));
                        region.assign_fixed(c.tags[j], row, Fr::from(u64::from(check.tag)));
                        if enabled("range: lane copy") {
                            region.constrain_equal(cell.cell(), check.cell);
                        }
                    }
                }
                Ok(rows)
            },
        )
    }
}
