//! The planner: rows per chip, the circuit's shape, and the smallest `k` it fits in.
//!
//! The planner sees only the model (never witness values). It tries every `k` from
//! [`PlanOptions::min_k`] up, with the range limb width `R = min(16, k - 2)` (the range table
//! has `2^(R+1) - 1` rows), every row width `W` (dot columns) from a candidate list, every lane
//! count `L` and every lut slot count `P`, keeps the layouts that fit in the usable rows
//! (`2^k - 6`: halo2 reserves 5 blinding rows and one more), and picks the cheapest by an
//! estimate of prover work (columns times `2^k`, a lookup counting as 3.5 advice columns).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::chips::dot::{DotLayout, layout as dot_layout, packed_segments};
use crate::chips::max_pool::MaxPoolShape;
use crate::chips::mdot::MultiDotShape;
use crate::chips::pack::SLOT_WIDTH as PACK_SLOT_WIDTH;
use crate::chips::poseidon::{LANE_COLUMNS, bands};
use crate::chips::range::{lane_rows, table_rows as range_table_rows};
use crate::chips::requant::{MAX_T_BITS, RequantShape};
use crate::chips::softmax::{self, SoftmaxShape};
use crate::chips::{limb_count, requant};
use crate::error::CircuitError;

/// Largest row width `W` a circuit may have (key files with more are refused).
pub const MAX_WIDTH: usize = 1024;

/// Everything `configure` needs: the circuit's shape. Stored in key files; the verifying key
/// is a function of these parameters and the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitParams {
    /// `2^k` rows.
    pub k: u32,
    /// Advice (and fixed) columns per row `W`: the dot-product width.
    pub width: usize,
    /// Range lanes `L` (one lookup each).
    pub lanes: usize,
    /// Range limb width `R` in bits.
    pub range_bits: u32,
    /// Requant slot shape, if the model has any requantization.
    pub requant: Option<RequantShape>,
    /// Max-pool slot shapes, one per window size.
    pub max_pool: Vec<MaxPoolShape>,
    /// Lut slots per row (0 without Lut ops).
    pub lut_slots: usize,
    /// Length of the public instance column (inputs then outputs).
    pub instance_len: usize,
    /// Softmax slot shape and slots per row, if the model has Softmax ops.
    #[serde(default)]
    pub softmax: Option<SoftmaxShape>,
    /// Segment width of packed short dot products, if any op packs them.
    #[serde(default)]
    pub dot_pack: Option<usize>,
    /// Boundary commitments, if the circuit commits to any input or output.
    #[serde(default)]
    pub commit: Option<CommitShape>,
    /// Shape of the multi-output dot rows, if some op's outputs share their activations.
    #[serde(default)]
    pub mdot: Option<MultiDotShape>,
}

/// The shape of the commitment chips ([`crate::chips::pack`], [`crate::chips::poseidon`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitShape {
    /// Poseidon lanes side by side.
    pub lanes: usize,
    /// Bit widths of the committed inputs: the range table has their signed rows.
    pub signed: Vec<u32>,
}

impl Default for CircuitParams {
    fn default() -> Self {
        CircuitParams {
            k: 6,
            width: 8,
            lanes: 1,
            range_bits: 4,
            requant: None,
            max_pool: Vec::new(),
            lut_slots: 0,
            instance_len: 0,
            softmax: None,
            dot_pack: None,
            commit: None,
            mdot: None,
        }
    }
}

impl CircuitParams {
    /// Bit widths whose signed rows the range table holds.
    pub fn signed_range(&self) -> &[u32] {
        self.commit.as_ref().map_or(&[], |c| c.signed.as_slice())
    }

    /// Checks that `configure` can build these parameters (they may come from a key file).
    pub fn validate(&self) -> Result<(), String> {
        let usable = if (4..=26).contains(&self.k) {
            usable_rows(self.k)
        } else {
            0
        };
        if usable == 0 {
            return Err(format!("k = {} outside 4..=26", self.k));
        }
        if !(1..=MAX_WIDTH).contains(&self.width) || self.lanes > 1024 {
            return Err(format!("{} columns and {} lanes", self.width, self.lanes));
        }
        if !(1..=16).contains(&self.range_bits)
            || self.lanes > 0 && range_table_rows(self.range_bits, self.signed_range()) > usable
            || self
                .signed_range()
                .iter()
                .any(|&t| t == 0 || t > self.range_bits)
        {
            return Err(format!(
                "range limbs of {} bits at k = {}",
                self.range_bits, self.k
            ));
        }
        if let Some(s) = self.requant {
            let bits = self.range_bits as usize;
            if s.n_r.max(s.n_t).max(s.n_d) > 64
                || s.n_t * bits > MAX_T_BITS
                || s.width().max(requant::FIXED_WIDTH) > self.width
            {
                return Err(format!("requant shape {s:?} does not fit"));
            }
        }
        for s in &self.max_pool {
            if s.window == 0 || s.window > 1024 || s.n_d > 64 || s.width() > self.width {
                return Err(format!("max-pool shape {s:?} does not fit"));
            }
        }
        if let Some(c) = &self.commit
            && (!(1..=64).contains(&c.lanes)
                || self.width < PACK_SLOT_WIDTH
                || !c.signed.is_empty() && self.lanes == 0)
        {
            return Err(format!("commitment shape {c:?} on {} columns", self.width));
        }
        if self.dot_pack.is_some_and(|g| g < 2 || g > self.width) {
            return Err(format!("dot segments of {:?} columns", self.dot_pack));
        }
        if let Some(s) = self.mdot {
            s.validate(self.width)?;
        }
        if let Some(s) = self.softmax
            && (s.slots == 0
                || [s.n_y, s.n_t, s.n_r].iter().any(|&n| n == 0 || n > 64)
                || s.slots.saturating_mul(s.width().max(softmax::FIXED_WIDTH)) > self.width)
        {
            return Err(format!("softmax shape {s:?} does not fit"));
        }
        if self.lut_slots > self.width / 2 || self.instance_len > usable {
            return Err("lut slots or instance do not fit".into());
        }
        Ok(())
    }
}

/// Limits and overrides for the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Smallest `k` tried.
    pub min_k: u32,
    /// Largest `k` tried.
    pub max_k: u32,
    /// Force the row width `W`.
    pub width: Option<usize>,
    /// Force the number of range lanes.
    pub lanes: Option<usize>,
    /// Force the number of lut slots per row.
    pub lut_slots: Option<usize>,
    /// Force the number of softmax slots per row.
    pub softmax_slots: Option<usize>,
    /// Graph inputs and outputs bound by commitments ([`crate::commit`]) instead of their
    /// values (segment boundaries).
    pub commit: BTreeSet<usize>,
    /// Force the multi-output dot shape: `Some(None)` turns multi-output rows off,
    /// `Some(Some(shape))` forces that shape; `None` lets the planner choose.
    pub mdot: Option<Option<MultiDotShape>>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            min_k: 6,
            max_k: 24,
            width: None,
            lanes: None,
            lut_slots: None,
            softmax_slots: None,
            commit: BTreeSet::new(),
            mdot: None,
        }
    }
}

/// Rows one chip takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipRows {
    /// Chip name.
    pub chip: String,
    /// Items (products, slots, limbs, table entries).
    pub items: usize,
    /// Rows.
    pub rows: usize,
}

/// What the planner chose and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanReport {
    /// The chosen shape.
    pub params: CircuitParams,
    /// Rows available below the blinding rows.
    pub usable_rows: usize,
    /// Rows of the main columns (constants, inputs, dot, requant, max-pool, lut).
    pub main_rows: usize,
    /// Rows per chip.
    pub chips: Vec<ChipRows>,
    /// Advice columns (main, `z`, lanes).
    pub advice_columns: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// The planner's cost estimate (arbitrary units).
    pub cost: u64,
}

/// Usable rows of a circuit with `2^k` rows (5 blinding rows plus one).
pub fn usable_rows(k: u32) -> usize {
    (1usize << k) - 6
}

/// One requantization as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RqDemand {
    pub shift: u32,
    pub interval_bits: u32,
    pub t_bits: u32,
    /// Whether `hi - y` is range-checked too (interval not a power of two).
    pub checks_upper: bool,
}

/// What one op asks of the chips (independent of the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpDemand {
    Dot {
        lens: Vec<usize>,
        requant: Vec<RqDemand>,
        /// `(activations, outputs)` of each group of outputs sharing their activations.
        groups: Vec<(usize, usize)>,
    },
    Requant(Vec<RqDemand>),
    MaxPool {
        window: usize,
        input_bits: u32,
        count: usize,
    },
    Lut {
        count: usize,
    },
    Softmax {
        /// Elements.
        count: usize,
        y_bits: u32,
        t_bits: u32,
        r_bits: u32,
    },
    None,
}

/// A committed tensor as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommitDemand {
    pub values: usize,
    pub bits: u32,
    /// Read by the circuit (a committed input): its values are range-checked.
    pub read: bool,
}

impl CommitDemand {
    fn elements(&self) -> usize {
        crate::commit::element_count(self.values)
    }

    /// Lengths of its chunks.
    fn chunks(&self) -> impl Iterator<Item = usize> {
        let c = crate::commit::chunk_len(self.elements());
        std::iter::repeat_n(c, crate::commit::digest_count(self.values))
    }
}

/// The whole model's demand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Demand {
    /// Constants including the zero cell.
    pub consts: usize,
    /// Model input elements.
    pub inputs: usize,
    /// Instance length.
    pub instance_len: usize,
    /// Per op.
    pub ops: Vec<OpDemand>,
    /// Lut tables' total entries.
    pub lut_entries: Option<usize>,
    /// Committed inputs, then committed outputs.
    pub commits: Vec<CommitDemand>,
}

struct Shapes {
    requant: Option<RequantShape>,
    max_pool: Vec<MaxPoolShape>,
    /// With one slot per row; the planner chooses the slots.
    softmax: Option<SoftmaxShape>,
    min_width: usize,
}

impl Demand {
    fn has_lut_ops(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, OpDemand::Lut { .. }))
    }

    fn requants(&self) -> impl Iterator<Item = &RqDemand> {
        self.ops.iter().flat_map(|op| match op {
            OpDemand::Dot { requant, .. } | OpDemand::Requant(requant) => requant.as_slice(),
            _ => &[],
        })
    }

    fn shapes(&self, r: u32) -> Result<Shapes, CircuitError> {
        let mut rq: Option<RequantShape> = None;
        for d in self.requants() {
            let s = rq.get_or_insert(RequantShape {
                n_r: 1,
                n_t: 1,
                n_d: 1,
            });
            s.n_r = s.n_r.max(limb_count(d.shift, r));
            s.n_t = s.n_t.max(limb_count(d.t_bits, r));
            s.n_d = s.n_d.max(limb_count(d.interval_bits, r));
        }
        if let Some(s) = rq
            && s.n_t * r as usize > MAX_T_BITS
        {
            // Lowering already bounds every t_bits far below this.
            return Err(CircuitError::Internal(format!(
                "a clamp excess needs {} bits, above {MAX_T_BITS}",
                s.n_t * r as usize
            )));
        }
        let mut max_pool: Vec<MaxPoolShape> = Vec::new();
        for op in &self.ops {
            if let OpDemand::MaxPool {
                window, input_bits, ..
            } = op
            {
                let n_d = limb_count(*input_bits, r).max(1);
                match max_pool.iter_mut().find(|s| s.window == *window) {
                    Some(s) => s.n_d = s.n_d.max(n_d),
                    None => max_pool.push(MaxPoolShape {
                        window: *window,
                        n_d,
                    }),
                }
            }
        }
        max_pool.sort_by_key(|s| s.window);
        let mut sm: Option<SoftmaxShape> = None;
        for op in &self.ops {
            if let OpDemand::Softmax {
                y_bits,
                t_bits,
                r_bits,
                ..
            } = *op
            {
                let s = sm.get_or_insert(SoftmaxShape {
                    n_y: 1,
                    n_t: 1,
                    n_r: 1,
                    slots: 1,
                });
                s.n_y = s.n_y.max(limb_count(y_bits, r));
                s.n_t = s.n_t.max(limb_count(t_bits, r));
                s.n_r = s.n_r.max(limb_count(r_bits, r));
            }
        }
        let min_width = rq
            .map(|s| s.width().max(requant::FIXED_WIDTH))
            .into_iter()
            .chain(max_pool.iter().map(|s| s.width()))
            .chain(self.has_lut_ops().then_some(2))
            .chain(sm.map(|s| s.width()))
            .chain((!self.commits.is_empty()).then_some(PACK_SLOT_WIDTH))
            .max()
            .unwrap_or(1);
        Ok(Shapes {
            requant: rq,
            max_pool,
            softmax: sm,
            min_width,
        })
    }

    /// Rows of every chip and the lane limbs, for one layout.
    fn rows(
        &self,
        r: u32,
        width: usize,
        (lut_slots, sm_slots, pack, mdot): (usize, usize, Option<usize>, Option<MultiDotShape>),
        sh: &Shapes,
    ) -> (Vec<ChipRows>, usize) {
        let mut dot = (0, 0);
        let mut mdot_rows = (0, 0);
        let mut rq = (0, 0);
        let mut mp = (0, 0);
        let mut lut = (0, 0);
        let mut sm = (0, 0);
        let mut limbs = 0;
        let rq_slots = sh.requant.map_or(1, |s| width / s.width());
        let rq_limbs = |dd: &RqDemand| {
            let n_t = sh.requant.map_or(0, |s| s.n_t);
            let d = limb_count(dd.interval_bits, r);
            limb_count(dd.shift, r) + n_t + d + if dd.checks_upper { d } else { 0 }
        };
        for op in &self.ops {
            match op {
                OpDemand::Dot {
                    lens,
                    requant,
                    groups,
                } => {
                    let (layout, rows) = dot_layout(lens, groups, width, pack, mdot);
                    if layout == DotLayout::Grouped {
                        mdot_rows.0 += lens.len();
                        mdot_rows.1 += rows;
                    } else {
                        dot.0 += lens.len();
                        dot.1 += rows;
                    }
                    rq.0 += requant.len();
                    rq.1 += requant.len().div_ceil(rq_slots);
                    limbs += requant.iter().map(rq_limbs).sum::<usize>();
                }
                OpDemand::Requant(requant) => {
                    rq.0 += requant.len();
                    rq.1 += requant.len().div_ceil(rq_slots);
                    limbs += requant.iter().map(rq_limbs).sum::<usize>();
                }
                OpDemand::MaxPool {
                    window,
                    input_bits,
                    count,
                } => {
                    let shape = sh.max_pool.iter().find(|s| s.window == *window);
                    let slots = shape.map_or(1, |s| width / s.width());
                    mp.0 += count;
                    mp.1 += count.div_ceil(slots);
                    limbs += count * window * limb_count(*input_bits, r);
                }
                OpDemand::Lut { count } => {
                    lut.0 += count;
                    lut.1 += count.div_ceil(lut_slots.max(1));
                }
                OpDemand::Softmax {
                    count,
                    y_bits,
                    t_bits,
                    r_bits,
                } => {
                    sm.0 += count;
                    sm.1 += count.div_ceil(sm_slots.max(1));
                    limbs += count
                        * (limb_count(*y_bits, r)
                            + limb_count(*t_bits, r)
                            + 2 * limb_count(*r_bits, r));
                }
                OpDemand::None => {}
            }
        }
        let pack_slots = (width / PACK_SLOT_WIDTH).max(1);
        let packing = self.commits.iter().fold((0, 0), |(items, rows), c| {
            (
                items + c.elements(),
                rows + c.elements().div_ceil(pack_slots),
            )
        });
        limbs += self
            .commits
            .iter()
            .filter(|c| c.read)
            .map(|c| c.values)
            .sum::<usize>();
        let chips = vec![
            ChipRows {
                chip: "constant".into(),
                items: self.consts,
                rows: self.consts.div_ceil(width),
            },
            ChipRows {
                chip: "input".into(),
                items: self.inputs,
                rows: self.inputs.div_ceil(width),
            },
            ChipRows {
                chip: "dot".into(),
                items: dot.0,
                rows: dot.1,
            },
            ChipRows {
                chip: "mdot".into(),
                items: mdot_rows.0,
                rows: mdot_rows.1,
            },
            ChipRows {
                chip: "requant".into(),
                items: rq.0,
                rows: rq.1,
            },
            ChipRows {
                chip: "max_pool".into(),
                items: mp.0,
                rows: mp.1,
            },
            ChipRows {
                chip: "lut".into(),
                items: lut.0,
                rows: lut.1,
            },
            ChipRows {
                chip: "softmax".into(),
                items: sm.0,
                rows: sm.1,
            },
            ChipRows {
                chip: "pack".into(),
                items: packing.0,
                rows: packing.1,
            },
        ];
        (chips, limbs)
    }

    /// Candidate segment widths for packed short dot products: one past each op's longest
    /// product.
    fn pack_widths(&self) -> Vec<usize> {
        let mut g: Vec<usize> = self
            .ops
            .iter()
            .filter_map(|op| match op {
                OpDemand::Dot { lens, .. } => lens.iter().copied().max().map(|n| n + 1),
                _ => None,
            })
            .collect();
        g.sort_unstable();
        g.dedup();
        g
    }

    /// Multi-output dot shapes to try on rows of `width` columns: none, and unless `forced`
    /// says otherwise, `G` outputs per row for `G` in 2, 4, 8, 16, 32 (up to the largest group)
    /// with the rest of the row (at most the longest group's activations) for activations.
    fn mdot_shapes(
        &self,
        width: usize,
        forced: Option<Option<MultiDotShape>>,
    ) -> Vec<Option<MultiDotShape>> {
        if let Some(shape) = forced {
            return vec![shape.filter(|s| s.validate(width).is_ok())];
        }
        let (mut len, mut outputs) = (0, 0);
        for op in &self.ops {
            if let OpDemand::Dot { groups, .. } = op {
                for &(l, o) in groups {
                    len = len.max(l);
                    outputs = outputs.max(o);
                }
            }
        }
        let mut shapes = vec![None];
        for g in [2, 4, 8, 16, 32] {
            if g > outputs.next_power_of_two() || g >= width {
                break;
            }
            let shape = MultiDotShape {
                inputs: (width - g).min(len),
                outputs: g,
            };
            if shape.validate(width).is_ok() {
                shapes.push(Some(shape));
            }
        }
        shapes
    }

    /// Whether some op packs its products with segment width `pack` on `width` columns.
    fn packs(&self, pack: Option<usize>, width: usize) -> bool {
        self.ops.iter().any(|op| match op {
            OpDemand::Dot { lens, .. } => {
                let longest = lens.iter().copied().max().unwrap_or(0);
                packed_segments(longest, pack, width).is_some()
            }
            _ => false,
        })
    }

    /// Chooses the cheapest layout that fits.
    pub fn plan(&self, opts: &PlanOptions) -> Result<PlanReport, CircuitError> {
        let pack_widths = self.pack_widths();
        let mut best: Option<PlanReport> = None;
        let mut smallest_rows = usize::MAX;
        for k in opts.min_k.max(5)..=opts.max_k {
            if best.as_ref().is_some_and(|b| k > b.params.k + 2) {
                break;
            }
            let usable = usable_rows(k);
            let r = (k - 2).min(16);
            // Committed inputs are checked with one signed limb each.
            let signed: Vec<u32> = self
                .commits
                .iter()
                .filter(|c| c.read)
                .map(|c| c.bits)
                .collect::<BTreeSet<u32>>()
                .into_iter()
                .collect();
            if signed.iter().any(|&b| b > r) {
                continue;
            }
            let hash_opts: Vec<usize> = if self.commits.is_empty() {
                vec![0]
            } else {
                vec![1, 2, 3, 4, 6, 8, 12, 16]
            };
            let sh = self.shapes(r)?;
            let widths: Vec<usize> = match opts.width {
                Some(w) => vec![w],
                None => {
                    let mut w: Vec<usize> = [4, 6, 8, 12, 16, 20, 24, 32, 40, 48, 64]
                        .into_iter()
                        .chain([sh.min_width, 2 * sh.min_width])
                        .chain(pack_widths.iter().flat_map(|&g| [2 * g, 3 * g]))
                        .filter(|&w| w >= sh.min_width && w <= MAX_WIDTH)
                        .collect();
                    w.sort_unstable();
                    w.dedup();
                    w
                }
            };
            let lane_opts: Vec<usize> = opts
                .lanes
                .map_or_else(|| vec![1, 2, 3, 4, 6, 8, 12, 16, 24, 32], |l| vec![l]);
            let lut_opts: Vec<usize> = match (self.has_lut_ops(), opts.lut_slots) {
                (false, _) => vec![0],
                (true, Some(p)) => vec![p],
                (true, None) => vec![1, 2, 4, 8],
            };
            let sm_opts: Vec<usize> = match (sh.softmax, opts.softmax_slots) {
                (None, _) => vec![0],
                (Some(_), Some(n)) => vec![n.max(1)],
                (Some(_), None) => vec![1, 2, 4],
            };
            let other_rows = self
                .lut_entries
                .map_or(0, lut_table_rows_count)
                .max(self.instance_len);
            for &width in &widths {
                if width < sh.min_width {
                    continue;
                }
                let packs = &std::iter::once(None)
                    .chain(
                        pack_widths
                            .iter()
                            .map(|&g| Some(g))
                            .filter(|&g| self.packs(g, width)),
                    )
                    .collect::<Vec<Option<usize>>>();
                let mdots = &self.mdot_shapes(width, opts.mdot);
                for (&p, &sm, &pack, &mdot) in lut_opts.iter().flat_map(|p| {
                    sm_opts.iter().flat_map(move |s| {
                        packs
                            .iter()
                            .flat_map(move |g| mdots.iter().map(move |d| (p, s, g, d)))
                    })
                }) {
                    if 2 * p > width || sh.softmax.is_some_and(|s| sm * s.width() > width) {
                        continue;
                    }
                    let (chips, limbs) = self.rows(r, width, (p, sm, pack, mdot), &sh);
                    let main: usize = chips.iter().map(|c| c.rows).sum();
                    // Without range checks there are no lanes and no range table.
                    let (lane_opts, fixed_rows) = if limbs == 0 {
                        (vec![0], other_rows)
                    } else {
                        (
                            lane_opts.clone(),
                            other_rows.max(range_table_rows(r, &signed)),
                        )
                    };
                    for (&lanes, &hash) in lane_opts
                        .iter()
                        .flat_map(|l| hash_opts.iter().map(move |h| (l, h)))
                    {
                        let lanes_rows = if lanes == 0 {
                            0
                        } else {
                            lane_rows(limbs, lanes)
                        };
                        let hash_rows: usize = if hash == 0 {
                            0
                        } else {
                            let lens: Vec<usize> =
                                self.commits.iter().flat_map(CommitDemand::chunks).collect();
                            bands(&lens, hash).iter().map(|b| b.1).sum()
                        };
                        let rows = main.max(lanes_rows).max(fixed_rows).max(hash_rows);
                        smallest_rows = smallest_rows.min(rows);
                        if rows > usable {
                            continue;
                        }
                        let advice = width + 1 + lanes + LANE_COLUMNS * hash;
                        let lookups = lanes + p + sm;
                        let perm_cols = width + 1 + lanes + 1 + 3 * hash;
                        let hash_fixed = if hash > 0 { 3 + hash + 5 } else { 0 };
                        let selectors = 4
                            + sh.max_pool.len()
                            + usize::from(p > 0)
                            + usize::from(sm > 0)
                            + usize::from(pack.is_some())
                            + usize::from(mdot.is_some());
                        let mdot_fixed = mdot.map_or(0, |s| s.extra_fixed(width));
                        let fixed = width + 1 + lanes + selectors + hash_fixed + mdot_fixed;
                        let units = 4 * advice + 14 * lookups + 4 * perm_cols.div_ceil(3) + fixed;
                        let cost = (units as u64) << k;
                        if best.as_ref().is_some_and(|b| b.cost <= cost) {
                            continue;
                        }
                        let mut chips = chips.clone();
                        chips.push(ChipRows {
                            chip: "range lanes".into(),
                            items: limbs,
                            rows: lanes_rows,
                        });
                        if lanes > 0 {
                            chips.push(ChipRows {
                                chip: "range table".into(),
                                items: range_table_rows(r, &signed),
                                rows: range_table_rows(r, &signed),
                            });
                        }
                        if hash > 0 {
                            chips.push(ChipRows {
                                chip: "poseidon".into(),
                                items: self
                                    .commits
                                    .iter()
                                    .map(|c| crate::commit::digest_count(c.values))
                                    .sum(),
                                rows: hash_rows,
                            });
                        }
                        if let Some(e) = self.lut_entries {
                            chips.push(ChipRows {
                                chip: "lut table".into(),
                                items: e,
                                rows: lut_table_rows_count(e),
                            });
                        }
                        best = Some(PlanReport {
                            params: CircuitParams {
                                k,
                                width,
                                lanes,
                                range_bits: r,
                                requant: sh.requant,
                                max_pool: sh.max_pool.clone(),
                                lut_slots: p,
                                instance_len: self.instance_len,
                                softmax: sh.softmax.map(|s| SoftmaxShape { slots: sm, ..s }),
                                dot_pack: pack,
                                mdot,
                                commit: (hash > 0).then(|| CommitShape {
                                    lanes: hash,
                                    signed: signed.clone(),
                                }),
                            },
                            usable_rows: usable,
                            main_rows: main,
                            chips,
                            advice_columns: advice,
                            lookups,
                            cost,
                        });
                    }
                }
            }
        }
        let best = best.ok_or(CircuitError::TooLarge {
            rows: smallest_rows,
            max_k: opts.max_k,
        })?;
        // The planner only builds shapes that `configure` accepts and key files can carry.
        best.params
            .validate()
            .map_err(|e| CircuitError::Internal(format!("planned an invalid shape: {e}")))?;
        Ok(best)
    }
}

/// Rows of the lut table: the zero row plus every entry (see [`crate::chips::lut::table_rows`]).
fn lut_table_rows_count(entries: usize) -> usize {
    entries + 1
}
