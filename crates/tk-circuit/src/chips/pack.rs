//! Packing of a committed tensor's values into field elements ([`crate::commit`], step 1).
//!
//! # Slot
//! 16 advice cells: `v_0 .. v_14` (copies of the tensor's cells; past the tensor's end, of
//! the zero cell) and `e`; fixed `f[base]` is 1 on a used slot, 0 on an unused one.
//!
//! # Gate `pack slot k`
//! `on * (e - sum_i (v_i + 2^15) * 2^(16 i)) = 0`, degree 3 with the selector.
//!
//! # Uniqueness
//! `e` is a function of the `v_i`. The map is injective only on values in `[-2^15, 2^15)`:
//! producers' values are range-checked by their chips, and a circuit committing to a tensor it
//! reads range-checks those values itself (signed range checks of the input cells).

use std::collections::BTreeMap;

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{ConstraintSystem, Error, Expression, Selector};

use super::{MainColumns, SlotQuery};
use crate::commit::{SLOT_BITS, VALUES_PER_ELEMENT};
use crate::field::{Fr, pow2};
use crate::mutation::constraint;

/// Advice cells of a slot: the values and the element.
pub const SLOT_WIDTH: usize = VALUES_PER_ELEMENT + 1;

/// The pack gate on the main columns.
#[derive(Debug, Clone)]
pub struct PackConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Enables the slot gates on a row.
    pub q_pack: Selector,
}

impl PackConfig {
    /// One gate per slot position (`width / 16` slots per row; needs `width >= 16`).
    ///
    /// Side effects: one selector, one gate with a constraint per slot.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, main: &MainColumns) -> Self {
        let q_pack = meta.selector();
        let slots = main.width() / SLOT_WIDTH;
        meta.create_gate("pack", |m| {
            let q = m.query_selector(q_pack);
            (0..slots)
                .map(|k| {
                    let s = SlotQuery::new(main, k * SLOT_WIDTH, 0, 1);
                    let on = s.fixed(m, 0);
                    let packed =
                        (0..VALUES_PER_ELEMENT).fold(Expression::Constant(Fr::zero()), |acc, i| {
                            acc + (s.advice(m, i) + Expression::Constant(pow2(SLOT_BITS - 1)))
                                * Expression::Constant(pow2(SLOT_BITS * i as u32))
                        });
                    let e = s.advice(m, VALUES_PER_ELEMENT);
                    let p = constraint("pack: e = sum (v_i + 2^15) 2^(16 i)", e - packed);
                    (format!("pack slot {k}"), q.clone() * on * p)
                })
                .collect::<Vec<_>>()
        });
        PackConfig {
            main: main.clone(),
            q_pack,
        }
    }

    /// Slots per row.
    pub fn slots(&self) -> usize {
        self.main.width() / SLOT_WIDTH
    }

    /// Rows for `elements` packed elements.
    pub fn rows(&self, elements: usize) -> usize {
        elements.div_ceil(self.slots().max(1))
    }
}

/// Lays out packing slots.
#[derive(Debug, Clone)]
pub struct PackChip {
    config: PackConfig,
}

impl PackChip {
    /// The chip for `config`.
    pub fn construct(config: PackConfig) -> Self {
        PackChip { config }
    }

    /// Lays out one slot per element from absolute row `row0`; `elements[j]` holds up to 15
    /// value cells with their values, `zero` fills the rest. Returns each element's cell and
    /// value. `overrides` (adversarial tests only; honest callers pass an empty map) replaces
    /// the value written into cell `i` of slot `first + j`.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        elements: &[Vec<(Cell, i64)>],
        zero: Cell,
        (first, overrides): (usize, &BTreeMap<(usize, usize), Fr>),
    ) -> Result<Vec<(Cell, Fr)>, Error> {
        let c = &self.config;
        let slots = c.slots();
        if slots == 0 || elements.iter().any(|e| e.len() > VALUES_PER_ELEMENT) {
            return Err(Error::Synthesis);
        }
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                let mut out = Vec::with_capacity(elements.len());
                for (j, values) in elements.iter().enumerate() {
                    let row = row0 + j / slots;
                    let base = (j % slots) * SLOT_WIDTH;
                    if j % slots == 0 {
                        c.q_pack.enable(&mut region, row)?;
                    }
                    region.assign_fixed(c.main.f[base], row, Fr::one());
                    let mut e = Fr::zero();
                    for i in 0..VALUES_PER_ELEMENT {
                        let (source, v) = values.get(i).copied().unwrap_or((zero, 0));
                        let fv = crate::field::fe(v.into());
                        let written = overrides.get(&(first + j, i)).copied().unwrap_or(fv);
                        let cell =
                            region.assign_advice(c.main.a[base + i], row, Value::known(written));
                        if crate::mutation::enabled("pack: value copy") {
                            region.constrain_equal(cell.cell(), source);
                        }
                        e += (fv + pow2(SLOT_BITS - 1)) * pow2(SLOT_BITS * i as u32);
                    }
                    let written = overrides
                        .get(&(first + j, VALUES_PER_ELEMENT))
                        .copied()
                        .unwrap_or(e);
                    let cell = region.assign_advice(
                        c.main.a[base + VALUES_PER_ELEMENT],
                        row,
                        Value::known(written),
                    );
                    out.push((cell.cell(), e));
                }
                // Unused slots of the last row: zeros with `on = 0`.
                let used = elements.len();
                let rows = used.div_ceil(slots);
                for j in used..rows * slots {
                    let row = row0 + j / slots;
                    let base = (j % slots) * SLOT_WIDTH;
                    for i in 0..SLOT_WIDTH {
                        region.assign_advice(c.main.a[base + i], row, Value::known(Fr::zero()));
                    }
                }
                Ok(out)
            },
        )
    }
}
