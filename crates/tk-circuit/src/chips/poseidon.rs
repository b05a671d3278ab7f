//! Poseidon sponge lanes: the digests of [`crate::commit`] computed in the circuit, one
//! round per row, several chunks side by side.
//!
//! # Columns
//! - per lane `l`: advice `s0, s1, s2` (the state before the row's round; `s0` equality
//!   enabled for the digest) and `x0, x1, x2` (on round rows the squares `(s_j + c_j)^2` of the
//!   S-box inputs; on absorb rows the two absorbed elements in `x0, x1`, equality enabled);
//! - shared fixed `c0, c1, c2` (the round's constants); per lane fixed `cap` (the capacity
//!   word of its chunk on init rows);
//! - shared selectors `q_init`, `q_absorb`, `q_full`, `q_partial`.
//!
//! # Layout of a band
//! The chunks of all committed tensors, in order, are cut into bands of `L` (one per lane).
//! A band whose longest chunk needs `P` permutations takes `66 P + 1` rows from its first row
//! `b`: row `b` is the initial state and absorbs elements 0 and 1; permutation `p` runs its
//! 65 rounds on rows `b + 66p + 1 ..= b + 66p + 65`; row `b + 66(p + 1)` holds the state after
//! it and absorbs elements `2p + 2, 2p + 3`. A chunk of `P_l` permutations has its digest in
//! `s0` of row `b + 66 P_l`; below it (and in a lane without a chunk) the lane keeps
//! permuting free values, which no copy reads.
//!
//! # Gates (`'` is the next row, `c_j` the row's constants, `M` the MDS matrix)
//! - `poseidon init`: `s0 = 0`, `s1 = 0`, `s2 = cap`;
//! - `poseidon absorb`: `s0' = s0 + x0`, `s1' = s1 + x1`, `s2' = s2`;
//! - `poseidon full round`: `x_j = (s_j + c_j)^2` and `s_i' = sum_j M_ij x_j^2 (s_j + c_j)`;
//! - `poseidon partial round`: `x_0 = (s_0 + c_0)^2` and
//!   `s_i' = M_i0 x_0^2 (s_0 + c_0) + M_i1 (s_1 + c_1) + M_i2 (s_2 + c_2)`.
//!
//! Degree 4 (selector, two squares, one linear factor). Copies: `x0, x1` of absorb rows to the
//! packed elements' cells (padding elements to the zero cell), the final `s0` to the instance.
//!
//! # Uniqueness
//! Every state and square cell is a function of the row above and the absorbed elements, so
//! the digest is exactly the sponge's output on the copied elements.

use std::collections::BTreeMap;

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{Advice, Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_axiom::poly::Rotation;

use crate::commit::{self, FULL_ROUNDS, PARTIAL_ROUNDS, WIDTH, capacity, is_full_round};
use crate::field::Fr;
use crate::mutation::{constraint, enabled};

/// Rows of one permutation's rounds plus its output row.
pub const PERMUTATION_ROWS: usize = FULL_ROUNDS + PARTIAL_ROUNDS + 1;

/// Advice columns of one lane: `s0, s1, s2, x0, x1, x2`.
pub const LANE_COLUMNS: usize = 2 * WIDTH;

/// Columns and gates of the Poseidon lanes.
#[derive(Debug, Clone)]
pub struct PoseidonConfig {
    /// Per lane `[s0, s1, s2, x0, x1, x2]`.
    pub lanes: Vec<[Column<Advice>; LANE_COLUMNS]>,
    /// Round constants.
    pub rc: [Column<Fixed>; WIDTH],
    /// Per lane: the capacity word on init rows.
    pub cap: Vec<Column<Fixed>>,
    /// Init rows.
    pub q_init: Selector,
    /// Absorb rows.
    pub q_absorb: Selector,
    /// Full-round rows.
    pub q_full: Selector,
    /// Partial-round rows.
    pub q_partial: Selector,
}

/// Rows of a band whose longest chunk has `chunk` elements.
pub fn band_rows(chunk: usize) -> usize {
    PERMUTATION_ROWS * commit::permutations(chunk) + 1
}

/// The bands of chunks of lengths `chunks` (in order) on `lanes` lanes: each band's chunk
/// positions and rows.
pub fn bands(chunks: &[usize], lanes: usize) -> Vec<(std::ops::Range<usize>, usize)> {
    let lanes = lanes.max(1);
    (0..chunks.len())
        .step_by(lanes)
        .map(|start| {
            let end = (start + lanes).min(chunks.len());
            let longest = chunks[start..end].iter().copied().max().unwrap_or(1);
            (start..end, band_rows(longest))
        })
        .collect()
}

impl PoseidonConfig {
    /// Creates `lanes` lanes and the four gates.
    ///
    /// Side effects: `6 lanes` advice columns (equality on `s0, x0, x1`), `3 + lanes` fixed
    /// columns, 4 selectors, four gates of degree at most 4.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, lanes: usize) -> Self {
        let lanes: Vec<[Column<Advice>; LANE_COLUMNS]> = (0..lanes)
            .map(|_| std::array::from_fn(|_| meta.advice_column()))
            .collect();
        for lane in &lanes {
            for &c in &[lane[0], lane[3], lane[4]] {
                meta.enable_equality(c);
            }
        }
        let rc = std::array::from_fn(|_| meta.fixed_column());
        let cap: Vec<Column<Fixed>> = lanes.iter().map(|_| meta.fixed_column()).collect();
        let q_init = meta.selector();
        let q_absorb = meta.selector();
        let q_full = meta.selector();
        let q_partial = meta.selector();
        let mds = commit::constants().mds;
        let lanes_q = lanes.clone();
        let cap_q = cap.clone();
        meta.create_gate("poseidon init", |m| {
            let q = m.query_selector(q_init);
            let mut out = Vec::new();
            for (l, lane) in lanes_q.iter().enumerate() {
                let cap = m.query_fixed(cap_q[l], Rotation::cur());
                let s: Vec<_> = (0..WIDTH)
                    .map(|j| m.query_advice(lane[j], Rotation::cur()))
                    .collect();
                let polys = [s[0].clone(), s[1].clone(), s[2].clone() - cap.clone()];
                for (j, p) in polys.into_iter().enumerate() {
                    let p = constraint("poseidon: initial state", p);
                    out.push((format!("lane {l}: initial s{j}"), q.clone() * p));
                }
            }
            out
        });
        let lanes_q = lanes.clone();
        meta.create_gate("poseidon absorb", |m| {
            let q = m.query_selector(q_absorb);
            let mut out = Vec::new();
            for (l, lane) in lanes_q.iter().enumerate() {
                for j in 0..WIDTH {
                    let s = m.query_advice(lane[j], Rotation::cur());
                    let next = m.query_advice(lane[j], Rotation::next());
                    let added = if j < 2 {
                        s + m.query_advice(lane[WIDTH + j], Rotation::cur())
                    } else {
                        s
                    };
                    let p = constraint("poseidon: absorb", next - added);
                    out.push((format!("lane {l}: s{j}' = s{j} + x{j}"), q.clone() * p));
                }
            }
            out
        });
        for full in [true, false] {
            let sel = if full { q_full } else { q_partial };
            let (gate, family) = if full {
                ("poseidon full round", "poseidon: full round")
            } else {
                ("poseidon partial round", "poseidon: partial round")
            };
            let lanes_q = lanes.clone();
            meta.create_gate(gate, |m| {
                let q = m.query_selector(sel);
                let c: Vec<_> = rc
                    .iter()
                    .map(|&col| m.query_fixed(col, Rotation::cur()))
                    .collect();
                let mut out = Vec::new();
                for (l, lane) in lanes_q.iter().enumerate() {
                    let inputs: Vec<Expression<Fr>> = (0..WIDTH)
                        .map(|j| m.query_advice(lane[j], Rotation::cur()) + c[j].clone())
                        .collect();
                    let sq: Vec<_> = (0..WIDTH)
                        .map(|j| m.query_advice(lane[WIDTH + j], Rotation::cur()))
                        .collect();
                    let boxed = |j: usize| {
                        if full || j == 0 {
                            sq[j].clone() * sq[j].clone() * inputs[j].clone()
                        } else {
                            inputs[j].clone()
                        }
                    };
                    for j in 0..WIDTH {
                        if full || j == 0 {
                            let p = constraint(
                                &format!("{family} square"),
                                sq[j].clone() - inputs[j].clone() * inputs[j].clone(),
                            );
                            out.push((format!("lane {l}: x{j} = (s{j} + c{j})^2"), q.clone() * p));
                        }
                    }
                    for (i, row) in mds.iter().enumerate() {
                        let next = m.query_advice(lane[i], Rotation::next());
                        let mixed = (0..WIDTH).fold(Expression::Constant(Fr::zero()), |acc, j| {
                            acc + boxed(j) * Expression::Constant(row[j])
                        });
                        let p = constraint(&format!("{family} mix"), next - mixed);
                        out.push((format!("lane {l}: s{i}' = M S(s + c)"), q.clone() * p));
                    }
                }
                out
            });
        }
        PoseidonConfig {
            lanes,
            rc,
            cap,
            q_init,
            q_absorb,
            q_full,
            q_partial,
        }
    }
}

/// One chunk to hash: its elements, each with the cell it is copied from, padded to an even
/// length with the zero cell.
pub type ChunkCells = Vec<(Cell, Fr)>;

/// Lays out bands of Poseidon chunks.
#[derive(Debug, Clone)]
pub struct PoseidonChip {
    config: PoseidonConfig,
}

impl PoseidonChip {
    /// The chip for `config`.
    pub fn construct(config: PoseidonConfig) -> Self {
        PoseidonChip { config }
    }

    /// Lays out one band from row `row0`: `chunks` (at most one per lane; each its length `c`
    /// and its elements padded to `2 ceil(c / 2)` with zero cells) hashed side by side.
    /// Returns each chunk's digest cell. `overrides` (adversarial tests only; honest callers
    /// pass an empty map) replaces the value written at `(row, lane, column)`.
    pub fn assign_band(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        chunks: &[(usize, ChunkCells)],
        overrides: &BTreeMap<(usize, usize, usize), Fr>,
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        let longest = chunks.iter().map(|ch| ch.0).max().unwrap_or(1);
        let perms = commit::permutations(longest);
        if chunks.len() > c.lanes.len()
            || chunks
                .iter()
                .any(|(len, cells)| cells.len() != 2 * commit::permutations(*len))
        {
            return Err(Error::Synthesis);
        }
        let consts = commit::constants();
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                c.q_init.enable(&mut region, row0)?;
                for p in 0..perms {
                    let base = row0 + PERMUTATION_ROWS * p;
                    c.q_absorb.enable(&mut region, base)?;
                    for r in 0..FULL_ROUNDS + PARTIAL_ROUNDS {
                        let row = base + 1 + r;
                        if is_full_round(r) {
                            c.q_full.enable(&mut region, row)?;
                        } else {
                            c.q_partial.enable(&mut region, row)?;
                        }
                        for j in 0..WIDTH {
                            region.assign_fixed(c.rc[j], row, consts.round[r][j]);
                        }
                    }
                }
                let mut digests = Vec::with_capacity(chunks.len());
                for (l, lane) in c.lanes.iter().enumerate() {
                    let chunk = chunks.get(l);
                    let elements = chunk.map(|ch| &ch.1);
                    let own = chunk.map_or(0, |ch| commit::permutations(ch.0));
                    let cap = capacity(chunk.map_or(0, |ch| ch.0));
                    region.assign_fixed(c.cap[l], row0, cap);
                    let mut state = [Fr::zero(), Fr::zero(), cap];
                    let mut digest = None;
                    let put = |row: usize, col: usize, v: Fr| {
                        Value::known(overrides.get(&(row, l, col)).copied().unwrap_or(v))
                    };
                    for p in 0..=perms {
                        let base = row0 + PERMUTATION_ROWS * p;
                        // The state row (initial, or after permutation p - 1) and its absorbed pair.
                        for j in 0..WIDTH {
                            let cell = region.assign_advice(lane[j], base, put(base, j, state[j]));
                            if j == 0 && p == own {
                                digest = Some(cell.cell());
                            }
                        }
                        let mut absorbed = [Fr::zero(); WIDTH];
                        if p < perms {
                            for (j, slot) in absorbed.iter_mut().take(2).enumerate() {
                                let element = elements.and_then(|e| e.get(2 * p + j));
                                *slot = element.map_or(Fr::zero(), |e| e.1);
                                let cell = region.assign_advice(
                                    lane[WIDTH + j],
                                    base,
                                    put(base, WIDTH + j, *slot),
                                );
                                if let Some(&(source, _)) = element
                                    && enabled("poseidon: element copy")
                                {
                                    region.constrain_equal(cell.cell(), source);
                                }
                            }
                        }
                        region.assign_advice(
                            lane[WIDTH + 2],
                            base,
                            put(base, WIDTH + 2, Fr::zero()),
                        );
                        if p == perms {
                            break;
                        }
                        for (word, a) in state.iter_mut().zip(absorbed) {
                            *word += a;
                        }
                        for r in 0..FULL_ROUNDS + PARTIAL_ROUNDS {
                            let row = base + 1 + r;
                            for j in 0..WIDTH {
                                region.assign_advice(lane[j], row, put(row, j, state[j]));
                            }
                            let squares = commit::round(&mut state, r);
                            for j in 0..WIDTH {
                                region.assign_advice(
                                    lane[WIDTH + j],
                                    row,
                                    put(row, WIDTH + j, squares[j]),
                                );
                            }
                        }
                    }
                    if l < chunks.len() {
                        digests.push(digest.ok_or(Error::Synthesis)?);
                    }
                }
                Ok(digests)
            },
        )
    }
}
