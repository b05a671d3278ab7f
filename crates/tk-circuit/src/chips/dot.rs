//! Dot products for Conv, Gemm and the window sums of AvgPool.
//!
//! # Columns
//! Uses the [`MainColumns`]: activations in `a[0..W]` (copied from the
//! producers' output cells), weights in the fixed columns `f[0..W]` (so the verifying key
//! commits to the model's weights), the bias in `fb` and the running sum in `z`.
//!
//! # Gates
//! A dot product of length `n` takes `ceil(n / W)` rows; row `j` multiplies `W` activations by
//! `W` weights:
//! - `dot first row: z[1] = bias + sum a*w` (selector `q_first`, row 0 of a product);
//! - `dot next row: z[1] = z + sum a*w` (selector `q_next`, rows `1..`).
//!
//! The product's value (the accumulator `acc`) is `z` on the row after its last row, which is
//! also the first row of the next product (whose first-row gate does not read `z`), so `k`
//! products of `n_i` rows take `sum n_i + 1` rows. Weights that are zero are skipped when the
//! products are built (they contribute nothing whatever the activation), and unused cells of a
//! last row have weight 0.
//!
//! # Packed short products
//! When the planner chooses a segment width `g` (`CircuitParams::dot_pack`), an op whose
//! products all have at most `g - 1` weights and that fits at least two segments in a row
//! ([`packed_segments`]) is laid out `W / g` products per row instead of one: segment `k` of a
//! row holds the activations in `a[k g .. k g + g - 1]` with their weights in the same `f`
//! columns, and the accumulator in `a[k g + g - 1]` with the bias in `f[k g + g - 1]`:
//! - `dot packed segment k: acc = bias + sum a*w` (selector `q_pack`).
//!
//! The accumulator is then an advice cell of the segment (equality enabled like every `a`).
//! Unused segments of a last row hold zeros with zero weights and bias.
//!
//! # Uniqueness
//! Activations are copies of producer cells; each `z` on a later row is an affine function of
//! the row above, so every `z` (and the accumulator) is determined by the activations and the
//! fixed weights; a packed accumulator is such an affine function of its segment. `|acc| <
//! 2^40` (spec), far from wrapping.

use halo2_axiom::circuit::{Cell, Layouter, Value};
use halo2_axiom::plonk::{ConstraintSystem, Error, Expression, Selector};
use halo2_axiom::poly::Rotation;

use super::MainColumns;
use crate::field::{Fr, fe};
use crate::mutation::{constraint, enabled};

/// Gates of the dot-product chip.
#[derive(Debug, Clone)]
pub struct DotConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// First row of a product.
    pub q_first: Selector,
    /// Continuation rows.
    pub q_next: Selector,
    /// Packed short products: segment width and selector.
    pub pack: Option<(usize, Selector)>,
}

/// How an op's dot products are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotLayout {
    /// One product after another, `ceil(n / W)` rows each ([`DotChip::assign`]).
    Rows,
    /// Short products side by side ([`DotChip::assign_packed`]).
    Packed,
    /// Outputs sharing their activations, `G` per row ([`super::mdot`]).
    Grouped,
}

/// The layout of an op's products and its rows, from the op's product lengths `lens`, its
/// groups `(activations, outputs)` (empty when no outputs share activations) and the circuit's
/// width, packing segment and multi-output shape. The op is grouped when the circuit has a
/// multi-output shape, the op has groups, and grouping takes no more rows than the other
/// layout. The planner and the layout both decide through this function.
pub fn layout(
    lens: &[usize],
    groups: &[(usize, usize)],
    width: usize,
    pack: Option<usize>,
    mdot: Option<super::mdot::MultiDotShape>,
) -> (DotLayout, usize) {
    let longest = lens.iter().copied().max().unwrap_or(0);
    let (plain, rows) = match packed_segments(longest, pack, width) {
        Some(segments) => (DotLayout::Packed, lens.len().div_ceil(segments)),
        None => (
            DotLayout::Rows,
            DotChip::rows(lens.iter().map(|&n| n.div_ceil(width).max(1))),
        ),
    };
    match mdot {
        Some(shape) if !groups.is_empty() => {
            let grouped = shape.rows(groups.iter().copied());
            if grouped <= rows {
                (DotLayout::Grouped, grouped)
            } else {
                (plain, rows)
            }
        }
        _ => (plain, rows),
    }
}

/// Segments per row of an op whose longest product has `max_len` weights, when packing with
/// segment width `seg` on rows of `width` columns applies (`max_len < seg`, two segments or
/// more per row).
pub fn packed_segments(max_len: usize, seg: Option<usize>, width: usize) -> Option<usize> {
    let seg = seg?;
    (max_len < seg && seg >= 2 && width / seg >= 2).then_some(width / seg)
}

impl DotConfig {
    /// Creates the two dot gates over `main`, and the packed-segment gate when `pack` (a
    /// segment width) is given.
    ///
    /// Side effects: two simple selectors, two gates of degree 3; queries `z` at the current
    /// and the next row. With `pack`: one more simple selector and one gate of degree 3 with
    /// `W / pack` constraints.
    pub fn configure(
        meta: &mut ConstraintSystem<Fr>,
        main: &MainColumns,
        pack: Option<usize>,
    ) -> Self {
        let q_first = meta.selector();
        let q_next = meta.selector();
        let sum = |m: &mut halo2_axiom::plonk::VirtualCells<'_, Fr>| {
            main.a
                .iter()
                .zip(&main.f)
                .fold(Expression::Constant(fe(0)), |acc, (&a, &f)| {
                    acc + m.query_advice(a, Rotation::cur()) * m.query_fixed(f, Rotation::cur())
                })
        };
        meta.create_gate("dot first row: z[1] = bias + sum a*w", |m| {
            let q = m.query_selector(q_first);
            let z_next = m.query_advice(main.z, Rotation::next());
            let bias = m.query_fixed(main.fb, Rotation::cur());
            let s = sum(m);
            vec![(
                "z[1] = bias + sum a*w",
                q * constraint("dot: z[1] = bias + sum a*w", z_next - bias - s),
            )]
        });
        meta.create_gate("dot next row: z[1] = z + sum a*w", |m| {
            let q = m.query_selector(q_next);
            let z_next = m.query_advice(main.z, Rotation::next());
            let z = m.query_advice(main.z, Rotation::cur());
            let s = sum(m);
            vec![(
                "z[1] = z + sum a*w",
                q * constraint("dot: z[1] = z + sum a*w", z_next - z - s),
            )]
        });
        let pack = pack.filter(|&g| g >= 2 && g <= main.width()).map(|g| {
            let q = meta.selector();
            meta.create_gate("dot packed segments: acc = bias + sum a*w", |m| {
                let sel = m.query_selector(q);
                (0..main.width() / g)
                    .map(|k| {
                        let base = k * g;
                        let acc = m.query_advice(main.a[base + g - 1], Rotation::cur());
                        let bias = m.query_fixed(main.f[base + g - 1], Rotation::cur());
                        let s = (base..base + g - 1).fold(Expression::Constant(fe(0)), |s, i| {
                            s + m.query_advice(main.a[i], Rotation::cur())
                                * m.query_fixed(main.f[i], Rotation::cur())
                        });
                        (
                            format!("segment {k}: acc = bias + sum a*w"),
                            sel.clone()
                                * constraint("dot: packed acc = bias + sum a*w", acc - bias - s),
                        )
                    })
                    .collect::<Vec<_>>()
            });
            (g, q)
        });
        DotConfig {
            main: main.clone(),
            q_first,
            q_next,
            pack,
        }
    }
}

/// The fixed part of one dot product: `acc = bias + sum weights[i] * x[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DotSpec {
    /// Weights, one per activation.
    pub weights: Vec<i64>,
    /// Bias.
    pub bias: i64,
}

impl DotSpec {
    /// Rows this product takes on a `width`-column row (at least one).
    pub fn rows(&self, width: usize) -> usize {
        self.weights.len().div_ceil(width).max(1)
    }

    /// `bias + sum weights[i] * x[i]`.
    pub fn eval(&self, x: &[i64]) -> i128 {
        self.weights
            .iter()
            .zip(x)
            .fold(i128::from(self.bias), |acc, (&w, &x)| {
                acc + i128::from(w) * i128::from(x)
            })
    }

    /// Largest `|acc|` over inputs with `|x| <= x_max`.
    pub fn bound(&self, x_max: u128) -> u128 {
        self.weights
            .iter()
            .fold(u128::from(self.bias.unsigned_abs()), |acc, &w| {
                acc + u128::from(w.unsigned_abs()) * x_max
            })
    }
}

/// Advice values of one dot product.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DotWitness {
    /// Activations, one per weight.
    pub activations: Vec<Fr>,
    /// `z` after each row (`partial[j]` sits on row `j + 1`); the last is the accumulator.
    pub partial: Vec<Fr>,
}

impl DotWitness {
    /// The honest witness for activations `x` on rows of `width` columns.
    pub fn compute(spec: &DotSpec, x: &[i64], width: usize) -> DotWitness {
        let mut partial = Vec::with_capacity(spec.rows(width));
        let mut acc = i128::from(spec.bias);
        for j in 0..spec.rows(width) {
            let lo = (j * width).min(x.len());
            let hi = ((j + 1) * width).min(x.len());
            for (w, x) in spec.weights[lo..hi].iter().zip(&x[lo..hi]) {
                acc += i128::from(*w) * i128::from(*x);
            }
            partial.push(fe(acc));
        }
        DotWitness {
            activations: x.iter().map(|&v| fe(i128::from(v))).collect(),
            partial,
        }
    }
}

/// One product to lay out: activation source cells, weights and witness.
#[derive(Debug, Clone, Copy)]
pub struct DotAssign<'a> {
    /// Producer cells of the activations, one per weight.
    pub inputs: &'a [Cell],
    /// Weights and bias.
    pub spec: &'a DotSpec,
    /// Advice values.
    pub witness: &'a DotWitness,
}

/// Lays out dot products.
#[derive(Debug, Clone)]
pub struct DotChip {
    config: DotConfig,
}

impl DotChip {
    /// The chip for `config`.
    pub fn construct(config: DotConfig) -> Self {
        DotChip { config }
    }

    /// Rows `items` take: `sum rows + 1`.
    pub fn rows(specs: impl IntoIterator<Item = usize>) -> usize {
        specs.into_iter().sum::<usize>() + 1
    }

    /// Lays out `items`, `segments` per row, as packed short products from absolute row
    /// `row0`; returns the accumulator cell of each. Every product must have fewer weights than
    /// the segment width.
    pub fn assign_packed(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        items: &[DotAssign<'_>],
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        let (g, q) = c.pack.ok_or(Error::Synthesis)?;
        let segments = c.main.width() / g;
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                let mut out = Vec::with_capacity(items.len());
                for (idx, item) in items.iter().enumerate() {
                    let row = row0 + idx / segments;
                    let base = (idx % segments) * g;
                    if idx % segments == 0 {
                        q.enable(&mut region, row)?;
                    }
                    if item.spec.weights.len() >= g {
                        return Err(Error::Synthesis);
                    }
                    for i in 0..g - 1 {
                        // Cells past the product's end hold 0 with weight 0.
                        let w = item.spec.weights.get(i).copied().unwrap_or(0);
                        let x = item.witness.activations.get(i).copied().unwrap_or_default();
                        let cell = region.assign_advice(c.main.a[base + i], row, Value::known(x));
                        region.assign_fixed(c.main.f[base + i], row, fe(i128::from(w)));
                        if let Some(&src) = item.inputs.get(i)
                            && enabled("dot: activation copy")
                        {
                            region.constrain_equal(cell.cell(), src);
                        }
                    }
                    let acc = item.witness.partial.last().copied().unwrap_or_default();
                    region.assign_fixed(
                        c.main.f[base + g - 1],
                        row,
                        fe(i128::from(item.spec.bias)),
                    );
                    let cell = region.assign_advice(c.main.a[base + g - 1], row, Value::known(acc));
                    out.push(cell.cell());
                }
                // Unused segments of the last row hold zeros.
                for idx in items.len()..items.len().next_multiple_of(segments) {
                    let row = row0 + idx / segments;
                    let base = (idx % segments) * g;
                    for i in base..base + g {
                        region.assign_advice(c.main.a[i], row, Value::known(fe(0)));
                        region.assign_fixed(c.main.f[i], row, fe(0));
                    }
                }
                Ok(out)
            },
        )
    }

    /// Lays out `items` from absolute row `row0` in a region named `name`; returns the
    /// accumulator cell of each product.
    pub fn assign(
        &self,
        layouter: &mut impl Layouter<Fr>,
        name: &str,
        row0: usize,
        items: &[DotAssign<'_>],
    ) -> Result<Vec<Cell>, Error> {
        let c = &self.config;
        let width = c.main.width();
        layouter.assign_region(
            || name.to_string(),
            |mut region| {
                let mut out = Vec::with_capacity(items.len());
                let mut row = row0;
                region.assign_advice(c.main.z, row, Value::known(fe(0)));
                for item in items {
                    let n = item.spec.rows(width);
                    for j in 0..n {
                        if j == 0 {
                            c.q_first.enable(&mut region, row)?;
                            region.assign_fixed(c.main.fb, row, fe(i128::from(item.spec.bias)));
                        } else {
                            c.q_next.enable(&mut region, row)?;
                        }
                        for i in 0..width {
                            let k = j * width + i;
                            // Cells past the product's end hold 0 with weight 0.
                            let w = item.spec.weights.get(k).copied().unwrap_or(0);
                            let x = item.witness.activations.get(k).copied().unwrap_or_default();
                            let cell = region.assign_advice(c.main.a[i], row, Value::known(x));
                            region.assign_fixed(c.main.f[i], row, fe(i128::from(w)));
                            if let Some(&src) = item.inputs.get(k)
                                && enabled("dot: activation copy")
                            {
                                region.constrain_equal(cell.cell(), src);
                            }
                        }
                        let z = item.witness.partial.get(j).copied().unwrap_or_default();
                        let cell = region.assign_advice(c.main.z, row + 1, Value::known(z));
                        if j + 1 == n {
                            out.push(cell.cell());
                        }
                        row += 1;
                    }
                }
                Ok(out)
            },
        )
    }
}

/// Input positions and weights of every output element of a convolution.
///
/// `x_shape = [N, C, H, W]`, `weight` is `[M, C/g, KH, KW]` row-major, output `[N, M, OH, OW]`.
/// Each element lists `(flat input index, weight)` for the in-bounds, non-zero-weight taps, in
/// `(c, i, j)` order, plus its output channel.
pub fn conv_taps(
    x_shape: &[usize],
    out_shape: &[usize],
    op: &tk_quant::ops::Conv,
) -> Vec<(Vec<(usize, i64)>, usize)> {
    let [n, c, h, w] = [x_shape[0], x_shape[1], x_shape[2], x_shape[3]];
    let [m, oh, ow] = [out_shape[1], out_shape[2], out_shape[3]];
    let ws = &op.weight.shape;
    let (cg, kh, kw) = (ws[1], ws[2], ws[3]);
    let mg = m / op.group.max(1);
    let mut out = Vec::with_capacity(n * m * oh * ow);
    for b in 0..n {
        for oc in 0..m {
            let g = oc / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut taps = Vec::new();
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let wv = op.weight.data[((oc * cg + ci) * kh + i) * kw + j];
                                let iy = (oy * op.strides[0] + i * op.dilations[0]) as isize
                                    - op.pads[0] as isize;
                                let ix = (ox * op.strides[1] + j * op.dilations[1]) as isize
                                    - op.pads[1] as isize;
                                if wv == 0
                                    || iy < 0
                                    || ix < 0
                                    || iy as usize >= h
                                    || ix as usize >= w
                                {
                                    continue;
                                }
                                let ch = g * cg + ci;
                                let idx = ((b * c + ch) * h + iy as usize) * w + ix as usize;
                                taps.push((idx, i64::from(wv)));
                            }
                        }
                    }
                    out.push((taps, oc));
                }
            }
        }
    }
    out
}

/// Input positions and weights of every output element of `y[r, n] = sum_k x[r, k] w[n, k]`
/// (zero weights skipped), plus its output column.
pub fn gemm_taps(x_shape: &[usize], op: &tk_quant::ops::Gemm) -> Vec<(Vec<(usize, i64)>, usize)> {
    let (rows, k) = (x_shape[0], x_shape[1]);
    let n = op.weight.shape[0];
    let mut out = Vec::with_capacity(rows * n);
    for r in 0..rows {
        for col in 0..n {
            let taps = (0..k)
                .filter_map(|i| {
                    let wv = op.weight.data[col * k + i];
                    (wv != 0).then_some((r * k + i, i64::from(wv)))
                })
                .collect();
            out.push((taps, col));
        }
    }
    out
}
