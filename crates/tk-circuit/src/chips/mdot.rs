//! Multi-output dot products: one row multiplies `A` shared activations by the weights of `G`
//! outputs at once. Used for the outputs of a Conv at one position and conv group (every
//! output channel of the group reads the same input patch) and for the columns of one Gemm row.
//!
//! Where the [`dot`](super::dot) chip copies a patch once per output, this chip copies it once
//! per `G` outputs: a layer with `C_out` channels needs about `C_out / G` times fewer activation
//! cells. The price is fixed columns: `A * G` weights per row.
//!
//! # Columns
//! Uses the [`MainColumns`]: activations in `a[0..A]` (copied from the producers' output
//! cells), the running sums `z_g` of the `G` outputs in `a[A..A+G]` (equality enabled: the
//! accumulators are copied into the requant slots). Fixed cells, by *fixed index*: the weight
//! of output `g` for activation `i` at `g * A + i`, the bias of output `g` at `A * G + g`, the
//! continuation flag `c` at `A * G + G`. Fixed index `j` is the main column `f[j]` when
//! `j < W`, and the chip's own fixed column `extra[j - W]` otherwise.
//!
//! # Gate
//! `mdot: z_g[1] = c * z_g + b_g + sum_i a_i * w_{g,i}` for every `g < G` (one selector):
//! - a *group* (outputs sharing one activation list of length `L`) is cut into chunks of `G`
//!   outputs; a chunk takes `ceil(L / A)` rows: on its first row `c = 0` and `b_g` is the bias,
//!   on the others `c = 1` and `b_g = 0`;
//! - the sums after a chunk's last row sit on the next row, which is also the first row of the
//!   next chunk (its gate has `c = 0`, so it does not read them); one more row ends the op;
//! - cells past the end of the activation list hold 0 with weight 0; outputs past the end of a
//!   chunk have weight and bias 0, so their sums are 0.
//!
//! # Uniqueness
//! Activations are copies of producer cells; every `z_g` on a later row is an affine function
//! of the row above with fixed coefficients, so every running sum and every accumulator is
//! determined by the activations and the fixed weights. `|acc| < 2^40` (spec), far from
//! wrapping.

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{Column, ConstraintSystem, Error, Expression, Fixed, Selector};
use halo2_axiom::poly::Rotation;
use serde::{Deserialize, Serialize};

use super::MainColumns;
use crate::field::{Fr, fe};
use crate::mutation::{constraint, enabled};

/// Shape of the multi-output dot rows: `A` activations and `G` outputs per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiDotShape {
    /// Activations per row `A`.
    pub inputs: usize,
    /// Outputs per row `G`.
    pub outputs: usize,
}

impl MultiDotShape {
    /// Advice columns a row uses: `A + G`.
    pub fn width(&self) -> usize {
        self.inputs + self.outputs
    }

    /// Fixed cells a row uses: `A * G` weights, `G` biases and the flag.
    pub fn fixed(&self) -> usize {
        self.inputs * self.outputs + self.outputs + 1
    }

    /// Fixed columns of its own on rows of `width` columns (the first `width` fixed indices
    /// are the main `f` columns).
    pub fn extra_fixed(&self, width: usize) -> usize {
        self.fixed().saturating_sub(width)
    }

    /// Rows of one op whose groups have `(activations, outputs)` each: one per chunk row plus
    /// the trailing row.
    pub fn rows(&self, groups: impl IntoIterator<Item = (usize, usize)>) -> usize {
        groups
            .into_iter()
            .map(|(len, outputs)| outputs.div_ceil(self.outputs) * len.div_ceil(self.inputs).max(1))
            .sum::<usize>()
            + 1
    }

    /// Checks the shape against rows of `width` columns.
    pub fn validate(&self, width: usize) -> Result<(), String> {
        if self.inputs == 0 || self.outputs == 0 || self.width() > width || self.fixed() > 8192 {
            return Err(format!(
                "multi-output dot shape {self:?} on {width} columns"
            ));
        }
        Ok(())
    }
}

/// Outputs of one op that read the same activations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DotGroup {
    /// Index (in the op's dot products) of each output.
    pub outputs: Vec<usize>,
    /// Weights of each output, one per activation of the group.
    pub weights: Vec<Vec<i64>>,
    /// Bias of each output.
    pub biases: Vec<i64>,
}

/// Advice values of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupWitness {
    /// Activations, one per weight of an output.
    pub activations: Vec<Fr>,
    /// `partial[chunk][j][g]`: the sum of output `g` of the chunk after row `j` (it sits on
    /// row `j + 1`); the last row's sums are the accumulators.
    pub partial: Vec<Vec<Vec<Fr>>>,
}

impl GroupWitness {
    /// The honest witness for activations `x`.
    pub fn compute(group: &DotGroup, x: &[i64], shape: MultiDotShape) -> GroupWitness {
        let rows = x.len().div_ceil(shape.inputs).max(1);
        let members: Vec<usize> = (0..group.outputs.len()).collect();
        let partial = members
            .chunks(shape.outputs)
            .map(|chunk| {
                let mut acc: Vec<i128> = (0..shape.outputs)
                    .map(|g| chunk.get(g).map_or(0, |&m| i128::from(group.biases[m])))
                    .collect();
                (0..rows)
                    .map(|j| {
                        let lo = (j * shape.inputs).min(x.len());
                        let hi = ((j + 1) * shape.inputs).min(x.len());
                        for (g, &m) in chunk.iter().enumerate() {
                            let w = &group.weights[m];
                            for i in lo..hi {
                                acc[g] += i128::from(w[i]) * i128::from(x[i]);
                            }
                        }
                        acc.iter().map(|&v| fe(v)).collect()
                    })
                    .collect()
            })
            .collect();
        GroupWitness {
            activations: x.iter().map(|&v| fe(i128::from(v))).collect(),
            partial,
        }
    }
}

/// The gate of the multi-output dot chip.
#[derive(Debug, Clone)]
pub struct MultiDotConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Fixed columns past the main `f` columns.
    pub extra: Vec<Column<Fixed>>,
    /// The shape.
    pub shape: MultiDotShape,
    /// Enables the gate on a row.
    pub q: Selector,
}

impl MultiDotConfig {
    /// Creates the gate over `main` for `shape` (which must fit: [`MultiDotShape::validate`]).
    ///
    /// Side effects: [`MultiDotShape::extra_fixed`] fixed columns, one simple selector, one
    /// gate of degree 3 with `G` constraints; queries `a[A..A+G]` at the current and the next
    /// row.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        main: &MainColumns,
        shape: MultiDotShape,
    ) -> Self {
        let extra: Vec<Column<Fixed>> = (0..shape.extra_fixed(main.width()))
            .map(|_| meta.fixed_column())
            .collect();
        let q = meta.selector();
        let config = MultiDotConfig {
            main: main.clone(),
            extra,
            shape,
            q,
        };
        let (a, g_count) = (shape.inputs, shape.outputs);
        meta.create_gate("mdot: z_g[1] = c z_g + b_g + sum a*w_g", |m| {
            let q = m.query_selector(q);
            let flag = m.query_fixed(config.fixed(a * g_count + g_count), Rotation::cur());
            let x: Vec<Expression<Fr>> = (0..a)
                .map(|i| m.query_advice(main.a[i], Rotation::cur()))
                .collect();
            (0..g_count)
                .map(|g| {
                    let z = m.query_advice(main.a[a + g], Rotation::cur());
                    let z_next = m.query_advice(main.a[a + g], Rotation::next());
                    let bias = m.query_fixed(config.fixed(a * g_count + g), Rotation::cur());
                    let sum =
                        x.iter()
                            .enumerate()
                            .fold(Expression::Constant(fe(0)), |s, (i, xi)| {
                                s + xi.clone()
                                    * m.query_fixed(config.fixed(g * a + i), Rotation::cur())
                            });
                    (
                        format!("output {g}: z[1] = c z + b + sum a*w"),
                        q.clone()
                            * constraint(
                                "mdot: z[1] = c z + b + sum a*w",
                                z_next - flag.clone() * z - bias - sum,
                            ),
                    )
                })
                .collect::<Vec<_>>()
        });
        config
    }

    /// The fixed column of fixed index `j`.
    fn fixed(&self, j: usize) -> Column<Fixed> {
        let w = self.main.width();
        if j < w {
            self.main.f[j]
        } else {
            self.extra[j - w]
        }
    }
}

/// One group to lay out: activation source cells, weights and witness.
#[derive(Debug, Clone, Copy)]
pub struct GroupAssign<'a> {
    /// Producer cells of the activations.
    pub inputs: &'a [Cell],
    /// Outputs, weights and biases.
    pub group: &'a DotGroup,
    /// Advice values.
    pub witness: &'a GroupWitness,
}

/// Lays out multi-output dot products.
#[derive(Debug, Clone)]
pub struct MultiDotChip {
    config: MultiDotConfig,
}

impl MultiDotChip {
    /// The chip for `config`.
    pub fn construct(config: MultiDotConfig) -> Self {
        MultiDotChip { config }
    }

    /// Lays out `groups` of an op with `outputs` dot products from absolute row `row0` in a
    /// region named `name`; returns the accumulator cell of every output. Every output must
    /// belong to exactly one group.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        groups: &[GroupAssign<'_>],
        outputs: usize,
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        let (a, g_count) = (c.shape.inputs, c.shape.outputs);
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                let mut out: Vec<Option<Cell>> = vec![None; outputs];
                let mut row = row0;
                for g in 0..g_count {
                    region.assign_advice(c.main.a[a + g], row, Value::known(fe(0)));
                }
                for item in groups {
                    let len = item.witness.activations.len();
                    let rows = len.div_ceil(a).max(1);
                    let chunks = item.group.outputs.chunks(g_count);
                    if item.witness.partial.len() != chunks.len() {
                        return Err(Error::Synthesis);
                    }
                    for (ci, chunk) in chunks.enumerate() {
                        let members = ci * g_count..ci * g_count + chunk.len();
                        for j in 0..rows {
                            c.q.enable(&mut region, row)?;
                            let first = j == 0;
                            region.assign_fixed(
                                c.fixed(a * g_count + g_count),
                                row,
                                fe(i128::from(!first)),
                            );
                            for i in 0..a {
                                let k = j * a + i;
                                let x = item.witness.activations.get(k).copied();
                                let cell = region.assign_advice(
                                    c.main.a[i],
                                    row,
                                    Value::known(x.unwrap_or_default()),
                                );
                                if let Some(&src) = item.inputs.get(k)
                                    && enabled("mdot: activation copy")
                                {
                                    region.constrain_equal(cell.cell(), src);
                                }
                                for g in 0..g_count {
                                    let w = members
                                        .clone()
                                        .nth(g)
                                        .and_then(|m| item.group.weights[m].get(k))
                                        .copied()
                                        .unwrap_or(0);
                                    region.assign_fixed(c.fixed(g * a + i), row, fe(i128::from(w)));
                                }
                            }
                            let sums = item.witness.partial[ci].get(j).ok_or(Error::Synthesis)?;
                            for g in 0..g_count {
                                let bias = match members.clone().nth(g) {
                                    Some(m) if first => item.group.biases[m],
                                    _ => 0,
                                };
                                region.assign_fixed(
                                    c.fixed(a * g_count + g),
                                    row,
                                    fe(i128::from(bias)),
                                );
                                let z = sums.get(g).copied().unwrap_or_default();
                                let cell =
                                    region.assign_advice(c.main.a[a + g], row + 1, Value::known(z));
                                if j + 1 == rows
                                    && let Some(&e) = chunk.get(g)
                                {
                                    *out.get_mut(e).ok_or(Error::Synthesis)? = Some(cell.cell());
                                }
                            }
                            row += 1;
                        }
                    }
                }
                out.into_iter()
                    .collect::<Option<Vec<Cell>>>()
                    .ok_or(Error::Synthesis)
            },
        )
    }
}
