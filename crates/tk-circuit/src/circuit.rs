//! The model circuit: a sequence of op witnesses laid out by the chips and chained by copy
//! constraints.
//!
//! # Layout
//! Main columns (`a`, `f`, `z`, `fb`), from row 0 down, each part starting on a fresh row:
//! 1. constants: the zero cell, then every Const op's values ([`constant`](crate::chips::constant));
//! 2. model inputs: one advice cell per element, each copy-constrained to its instance row;
//! 3. every op in execution order: Conv/Gemm/AvgPool as dot rows then requant rows;
//!    Add/Mul/Rescale/Clip as requant rows; MaxPool and Lut as their slot rows; wiring ops take
//!    no rows (their outputs are their inputs' cells, or the zero cell for padding).
//!
//! The range lanes occupy their own columns from row 0; the range and lut tables their own
//! fixed columns. An op's inputs are always copies of the producing op's output cells.
//!
//! 4. committed inputs, then committed outputs: their [`pack`](crate::chips::pack) slots.
//!
//! The Poseidon lanes of committed tensors occupy their own columns from row 0, one band of
//! chunks after another in commitment order.
//!
//! # Public instance
//! One instance column: the model inputs (in `graph.inputs` order, each flattened
//! row-major), then the model outputs (in `graph.outputs` order, flattened). A committed input
//! or output ([`PlanOptions::commit`]) takes the rows of its digests ([`crate::commit`])
//! instead of its values. The verifier must check that public inputs lie in their nodes'
//! ranges (see [`public_instance`]); the circuit relies on it as it relies on every producer's
//! range. Committed inputs are range-checked in the circuit.

use std::collections::BTreeMap;

use halo2_axiom::circuit::{Cell, Layouter, SimpleFloorPlanner, Value};
use halo2_axiom::dev::MockProver;
use halo2_axiom::plonk::{Circuit, Column, ConstraintSystem, Error, Instance};
use tk_quant::{QModel, QTensor};

use crate::chips::constant::{ConstChip, ConstConfig};
use crate::chips::dot::{DotAssign, DotChip, DotConfig, DotLayout};
use crate::chips::lut::{LutAssign, LutChip, LutConfig, LutTable};
use crate::chips::max_pool::{MaxPoolAssign, MaxPoolChip, MaxPoolConfig};
use crate::chips::mdot::{GroupAssign, MultiDotChip, MultiDotConfig};
use crate::chips::pack::{PackChip, PackConfig};
use crate::chips::poseidon::{ChunkCells, PoseidonChip, PoseidonConfig, bands};
use crate::chips::requant::{RequantAssign, RequantChip, RequantConfig};
use crate::chips::softmax::{SoftmaxAssign, SoftmaxChip, SoftmaxConfig};
use crate::chips::{MainColumns, RangeChip, RangeCollector, RangeConfig};
use crate::error::CircuitError;
use crate::field::{Fr, fe};
use crate::jobs::{OpCircuit, OpKind, Operand, dot_layout};
use crate::lower::{CommitJob, Lowered, lower, volume};
use crate::mutation::enabled;
use crate::plan::{CircuitParams, PlanOptions, PlanReport};
use crate::witness::{OpWitness, check_witnesses, fill_witness, index_witnesses};

/// Columns and chips of the model circuit.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Shared columns.
    pub main: MainColumns,
    /// Range checker.
    pub range: RangeConfig,
    /// Dot products.
    pub dot: DotConfig,
    /// Multi-output dot products, when the plan has a shape for them.
    pub mdot: Option<MultiDotConfig>,
    /// Requantization, when the model has any.
    pub requant: Option<RequantConfig>,
    /// Max-pool, one per window size.
    pub max_pool: Vec<MaxPoolConfig>,
    /// Lookup tables, when the model has Lut or Softmax ops.
    pub lut: Option<LutConfig>,
    /// Softmax, when the model has any.
    pub softmax: Option<SoftmaxConfig>,
    /// Constants.
    pub constant: ConstConfig,
    /// Packing of committed tensors, when the circuit commits to any.
    pub pack: Option<PackConfig>,
    /// Poseidon lanes of committed tensors.
    pub poseidon: Option<PoseidonConfig>,
    /// Public inputs and outputs.
    pub instance: Column<Instance>,
}

/// The circuit proving one execution of a quantized model.
#[derive(Debug, Clone)]
pub struct ModelCircuit {
    report: PlanReport,
    ops: Vec<OpCircuit>,
    luts: Vec<LutTable>,
    outputs: Vec<(usize, usize)>,
    commits: Vec<(CommitJob, Vec<i64>)>,
    instance: Vec<Fr>,
    lane_overrides: BTreeMap<usize, Fr>,
    commit_overrides: CommitOverrides,
    regions: Vec<RegionRows>,
}

/// Values written instead of the honest ones into commitment cells (adversarial tests only).
#[derive(Debug, Clone, Default)]
pub struct CommitOverrides {
    /// `(pack slot index over all committed tensors, cell 0..16)` to value.
    pub pack: BTreeMap<(usize, usize), Fr>,
    /// `(row, lane, column 0..6)` of the Poseidon lanes to value.
    pub hash: BTreeMap<(usize, usize, usize), Fr>,
}

/// Rows of one region of the main columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionRows {
    /// Region name: `constants`, `inputs`, or `<node name>: <chip>`.
    pub name: String,
    /// Absolute rows.
    pub rows: std::ops::Range<usize>,
}

/// The requant chip's view of `jobs`, their operands resolved to cells by `resolve`.
fn requant_items(
    jobs: &[crate::jobs::RequantJob],
    resolve: impl Fn(Operand) -> Cell,
) -> Vec<RequantAssign<'_>> {
    jobs.iter()
        .map(|r| RequantAssign {
            u1: resolve(r.u1),
            u2: resolve(r.u2),
            params: &r.params,
            witness: &r.witness,
        })
        .collect()
}

/// The regions of the main columns, in layout order (the arithmetic `synthesize` follows).
fn main_regions(
    ops: &[OpCircuit],
    commits: &[(CommitJob, Vec<i64>)],
    p: &CircuitParams,
) -> Vec<RegionRows> {
    let width = p.width;
    let rq_slots = p.requant.map_or(1, |s| width / s.width());
    let mut out = Vec::new();
    let mut row = 0;
    let mut push = |name: String, rows: usize, row: &mut usize| {
        out.push(RegionRows {
            name,
            rows: *row..*row + rows,
        });
        *row += rows;
    };
    let consts = 1 + ops
        .iter()
        .map(|op| match &op.kind {
            OpKind::Const { values, .. } => values.len(),
            _ => 0,
        })
        .sum::<usize>();
    push("constants".into(), consts.div_ceil(width), &mut row);
    let inputs: usize = ops
        .iter()
        .map(|op| match &op.kind {
            OpKind::Input { witness, .. } => witness.len(),
            _ => 0,
        })
        .sum();
    push("inputs".into(), inputs.div_ceil(width), &mut row);
    for op in ops {
        match &op.kind {
            OpKind::Dot {
                dots,
                requant,
                groups,
            } => {
                push(
                    format!("{}: dot", op.name),
                    dot_layout(dots, groups, p).1,
                    &mut row,
                );
                push(
                    format!("{}: requant", op.name),
                    requant.len().div_ceil(rq_slots),
                    &mut row,
                );
            }
            OpKind::Requant { items } => {
                push(
                    format!("{}: requant", op.name),
                    items.len().div_ceil(rq_slots),
                    &mut row,
                );
            }
            OpKind::MaxPool { window, items, .. } => {
                let slots = p
                    .max_pool
                    .iter()
                    .find(|s| s.window == *window)
                    .map_or(1, |s| width / s.width());
                push(
                    format!("{}: max_pool", op.name),
                    items.len().div_ceil(slots),
                    &mut row,
                );
            }
            OpKind::Lut { items, .. } => {
                push(
                    format!("{}: lut", op.name),
                    items.len().div_ceil(p.lut_slots.max(1)),
                    &mut row,
                );
            }
            OpKind::Softmax { rows, .. } => {
                let count: usize = rows.iter().map(|r| r.outputs.len()).sum();
                push(
                    format!("{}: softmax", op.name),
                    count.div_ceil(p.softmax.map_or(1, |s| s.slots)),
                    &mut row,
                );
            }
            OpKind::Input { .. }
            | OpKind::Const { .. }
            | OpKind::Wiring { .. }
            | OpKind::FoldedClip { .. } => {}
        }
    }
    for (job, values) in commits {
        let slots = (width / crate::chips::pack::SLOT_WIDTH).max(1);
        let elements = crate::commit::element_count(values.len());
        push(
            format!("node {}: pack", job.node),
            elements.div_ceil(slots),
            &mut row,
        );
    }
    out
}

impl ModelCircuit {
    /// Builds the circuit for one execution: one witness per node (any order). Fails if a
    /// witness disagrees with the integer standard or with its producers (see
    /// [`ModelCircuit::new_unchecked`] to skip that check).
    pub fn new(
        model: &QModel,
        witnesses: &[OpWitness<'_>],
        options: &PlanOptions,
    ) -> Result<ModelCircuit, CircuitError> {
        Self::build(model, witnesses, options, true)
    }

    /// Like [`ModelCircuit::new`] without checking the witness values: a wrong value then makes
    /// the circuit unsatisfied (for adversarial tests and diagnostics).
    pub fn new_unchecked(
        model: &QModel,
        witnesses: &[OpWitness<'_>],
        options: &PlanOptions,
    ) -> Result<ModelCircuit, CircuitError> {
        Self::build(model, witnesses, options, false)
    }

    /// The circuit for key generation: the model's layout with all-zero witness values.
    pub fn for_keygen(model: &QModel, options: &PlanOptions) -> Result<ModelCircuit, CircuitError> {
        let g = &model.graph;
        let zeros = |shape: &[usize]| QTensor {
            shape: shape.to_vec(),
            data: vec![0; volume(shape)],
        };
        let witnesses: Vec<OpWitness<'_>> = g
            .nodes
            .iter()
            .map(|node| OpWitness {
                node,
                inputs: node
                    .inputs
                    .iter()
                    .map(|&p| zeros(&g.nodes[p].shape))
                    .collect(),
                output: zeros(&node.shape),
            })
            .collect();
        Self::build(model, &witnesses, options, false)
    }

    fn build(
        model: &QModel,
        witnesses: &[OpWitness<'_>],
        options: &PlanOptions,
        check: bool,
    ) -> Result<ModelCircuit, CircuitError> {
        let Lowered {
            mut ops,
            luts,
            demand,
            outputs,
            commits,
        } = lower(model, &options.commit, options.mdot != Some(None))?;
        let wits = index_witnesses(model, witnesses)?;
        if check {
            check_witnesses(model, &ops, &luts, &wits)?;
        }
        let report = demand.plan(options)?;
        let p = &report.params;
        for op in &mut ops {
            let out = &wits[op.fold.map_or(op.node, |f| f.clip)].output;
            fill_witness(op, wits[op.node], out, &luts, p)?;
        }
        let mut instance = vec![fe(0); demand.instance_len];
        for op in &ops {
            if let OpKind::Input {
                instance_offset,
                witness,
            } = &op.kind
                && let Some(offset) = *instance_offset
            {
                let rows = instance
                    .get_mut(offset..offset + witness.len())
                    .ok_or_else(|| CircuitError::Internal("input outside the instance".into()))?;
                rows.copy_from_slice(witness);
            }
        }
        let commits: Vec<(CommitJob, Vec<i64>)> = commits
            .into_iter()
            .map(|job| {
                let values = wits[job.node]
                    .output
                    .data
                    .iter()
                    .map(|&v| v.into())
                    .collect();
                (job, values)
            })
            .collect();
        for (job, values) in &commits {
            let digests = crate::commit::commit(&wits[job.node].output.data).map_err(|e| {
                CircuitError::InvalidWitness {
                    node: job.node,
                    reason: format!("cannot commit: {e}"),
                }
            })?;
            debug_assert_eq!(digests.len(), crate::commit::digest_count(values.len()));
            instance[job.instance_offset..job.instance_offset + digests.len()]
                .copy_from_slice(&digests);
        }
        for &(node, offset) in &outputs {
            for (i, &v) in wits[node].output.data.iter().enumerate() {
                instance[offset + i] = fe(v.into());
            }
        }
        let regions = main_regions(&ops, &commits, &report.params);
        let end = regions.last().map_or(0, |r| r.rows.end);
        if end != report.main_rows {
            return Err(CircuitError::Internal(format!(
                "planned {} main rows, laid out {end}",
                report.main_rows
            )));
        }
        Ok(ModelCircuit {
            report,
            ops,
            luts,
            outputs,
            commits,
            instance,
            lane_overrides: BTreeMap::new(),
            commit_overrides: CommitOverrides::default(),
            regions,
        })
    }

    /// The circuit's shape.
    pub fn params(&self) -> &CircuitParams {
        &self.report.params
    }

    /// The planner's report: `k`, rows per chip, columns.
    pub fn report(&self) -> &PlanReport {
        &self.report
    }

    /// `log2` of the number of rows.
    pub fn k(&self) -> u32 {
        self.report.params.k
    }

    /// The public instance column: inputs, then outputs.
    pub fn instance(&self) -> &[Fr] {
        &self.instance
    }

    /// The regions of the main columns with their rows (to locate a failing row).
    pub fn regions(&self) -> &[RegionRows] {
        &self.regions
    }

    /// The ops with their chip jobs and witness values.
    pub fn ops(&self) -> &[OpCircuit] {
        &self.ops
    }

    /// Mutable ops, to tamper with witness values in adversarial tests. Changing anything but
    /// witness values changes the layout and breaks the link with the verifying key.
    pub fn ops_mut(&mut self) -> &mut [OpCircuit] {
        &mut self.ops
    }

    /// Writes `value` into range-lane cell `index` instead of the limb it copies (adversarial
    /// tests only).
    pub fn tamper_lane(&mut self, index: usize, value: Fr) {
        self.lane_overrides.insert(index, value);
    }

    /// Writes other values into commitment cells (adversarial tests only).
    pub fn tamper_commitment(&mut self, overrides: CommitOverrides) {
        self.commit_overrides = overrides;
    }

    /// Runs halo2's `MockProver` on the circuit with its own public instance; call `verify()`
    /// on the result to list unsatisfied constraints. (halo2-axiom's `verify_par` reports
    /// every advice cell of a gate as unassigned, and its failure locations name a region only
    /// when the failing expression reads a fixed column; [`ModelCircuit::regions`] maps rows to
    /// regions.)
    pub fn mock_prover(&self) -> Result<MockProver<Fr>, CircuitError> {
        self.mock_prover_with(self.instance.clone())
    }

    /// Runs halo2's `MockProver` with the public instance `instance`.
    pub fn mock_prover_with(&self, instance: Vec<Fr>) -> Result<MockProver<Fr>, CircuitError> {
        Ok(MockProver::run(self.k(), self, vec![instance])?)
    }
}

impl ModelCircuit {
    /// Main rows of the pack slots.
    fn commit_rows(&self, config: &ModelConfig) -> usize {
        config.pack.as_ref().map_or(0, |pack| {
            self.commits
                .iter()
                .map(|(_, v)| pack.rows(crate::commit::element_count(v.len())))
                .sum()
        })
    }

    /// Packs every committed tensor from main row `row`, hashes its chunks in the Poseidon
    /// lanes and binds the digests to the instance.
    fn assign_commitments(
        &self,
        config: &ModelConfig,
        layouter: &mut impl Layouter<Fr>,
        cells: &[Vec<Cell>],
        zero: Cell,
        mut row: usize,
    ) -> Result<(), Error> {
        if self.commits.is_empty() {
            return Ok(());
        }
        let (Some(pack), Some(poseidon)) = (&config.pack, &config.poseidon) else {
            return Err(Error::Synthesis);
        };
        let pack_chip = PackChip::construct(pack.clone());
        let hash_chip = PoseidonChip::construct(poseidon.clone());
        // Every chunk of every committed tensor, with the instance row of its digest.
        let mut chunks: Vec<(usize, ChunkCells)> = Vec::new();
        let mut instance_rows = Vec::new();
        let mut slot_base = 0;
        for (job, values) in &self.commits {
            let node_cells = cells.get(job.node).ok_or(Error::Synthesis)?;
            if node_cells.len() != values.len() {
                return Err(Error::Synthesis);
            }
            let pairs: Vec<(Cell, i64)> = node_cells.iter().copied().zip(values.clone()).collect();
            let groups: Vec<Vec<(Cell, i64)>> = pairs
                .chunks(crate::commit::VALUES_PER_ELEMENT)
                .map(<[_]>::to_vec)
                .collect();
            let name = format!("node {}: pack", job.node);
            let first = slot_base;
            let elements = pack_chip.assign(
                layouter,
                &name,
                row,
                &groups,
                zero,
                (first, &self.commit_overrides.pack),
            )?;
            slot_base += elements.len();
            row += pack.rows(elements.len());
            let chunk = crate::commit::chunk_len(elements.len());
            let padded = 2 * crate::commit::permutations(chunk);
            for (j, c) in elements.chunks(chunk).enumerate() {
                let mut c = c.to_vec();
                c.resize(padded, (zero, Fr::zero()));
                chunks.push((chunk, c));
                instance_rows.push(job.instance_offset + j);
            }
        }
        let lens: Vec<usize> = chunks.iter().map(|c| c.0).collect();
        let mut hash_row = 0;
        let mut digests = Vec::with_capacity(chunks.len());
        for (items, rows) in bands(&lens, poseidon.lanes.len()) {
            let name = format!("poseidon band at row {hash_row}");
            digests.extend(hash_chip.assign_band(
                layouter,
                &name,
                hash_row,
                &chunks[items],
                &self.commit_overrides.hash,
            )?);
            hash_row += rows;
        }
        if enabled("circuit: commitment digest copy") {
            for (cell, r) in digests.into_iter().zip(instance_rows) {
                layouter.constrain_instance(cell, config.instance, r);
            }
        }
        Ok(())
    }
}

impl Circuit<Fr> for ModelCircuit {
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = CircuitParams;

    fn without_witnesses(&self) -> Self {
        // The layout does not depend on witness values; the values are simply ignored.
        self.clone()
    }

    fn params(&self) -> CircuitParams {
        self.report.params.clone()
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, p: CircuitParams) -> ModelConfig {
        let main = MainColumns::configure(meta, p.width);
        let range = RangeConfig::configure(meta, p.lanes, p.range_bits, p.signed_range());
        let dot = DotConfig::configure(meta, &main, p.dot_pack);
        let mdot = p.mdot.map(|s| MultiDotConfig::configure(meta, &main, s));
        let requant = p
            .requant
            .map(|s| RequantConfig::configure(meta, &main, s, p.range_bits));
        let max_pool = p
            .max_pool
            .iter()
            .map(|&s| MaxPoolConfig::configure(meta, &main, s, p.range_bits))
            .collect();
        let lut = (p.lut_slots > 0 || p.softmax.is_some())
            .then(|| LutConfig::configure(meta, &main, p.lut_slots));
        let softmax = p
            .softmax
            .zip(lut.as_ref())
            .map(|(s, lut)| SoftmaxConfig::configure(meta, &main, s, p.range_bits, lut));
        let constant = ConstConfig::configure(meta, &main);
        let pack = p
            .commit
            .as_ref()
            .map(|_| PackConfig::configure(meta, &main));
        let poseidon = p
            .commit
            .as_ref()
            .map(|c| PoseidonConfig::configure(meta, c.lanes));
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        ModelConfig {
            main,
            range,
            dot,
            mdot,
            requant,
            max_pool,
            lut,
            softmax,
            constant,
            pack,
            poseidon,
            instance,
        }
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ModelConfig {
        Self::configure_with_params(meta, CircuitParams::default())
    }

    fn synthesize(
        &self,
        config: ModelConfig,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), Error> {
        let mut row = 0;
        // Constants: the zero cell, then every Const op.
        let mut values = vec![0i64];
        let mut witness = vec![fe(0)];
        let mut const_at = BTreeMap::new();
        for op in &self.ops {
            if let OpKind::Const {
                values: v,
                witness: w,
            } = &op.kind
            {
                const_at.insert(op.node, values.len());
                values.extend_from_slice(v);
                witness.extend(
                    v.iter()
                        .enumerate()
                        .map(|(i, _)| w.get(i).copied().unwrap_or_default()),
                );
            }
        }
        let const_cells = ConstChip::construct(config.constant.clone()).assign(
            &mut layouter,
            row,
            &values,
            &witness,
        )?;
        row += config.constant.rows(values.len());
        let zero = const_cells[0];
        let mut cells: Vec<Vec<Cell>> = vec![Vec::new(); self.ops.len()];
        for op in &self.ops {
            if let OpKind::Const { values, .. } = &op.kind {
                let at = const_at[&op.node];
                cells[op.node] = const_cells[at..at + values.len()].to_vec();
            }
        }
        // Model inputs, bound to the instance (committed inputs: range-checked instead).
        let width = config.main.width();
        let mut bound = Vec::new();
        let mut range = RangeCollector::new(zero);
        let read_bits: BTreeMap<usize, u32> = self
            .commits
            .iter()
            .filter(|(job, _)| job.read)
            .map(|(job, _)| (job.node, job.bits))
            .collect();
        let input_rows = layouter.assign_region(
            || "inputs",
            |mut region| {
                let mut i = 0;
                for op in &self.ops {
                    if let OpKind::Input {
                        instance_offset,
                        witness,
                    } = &op.kind
                    {
                        let mut out = Vec::with_capacity(witness.len());
                        for (j, &v) in witness.iter().enumerate() {
                            let cell = region.assign_advice(
                                config.main.a[i % width],
                                row + i / width,
                                Value::known(v),
                            );
                            out.push(cell.cell());
                            match (read_bits.get(&op.node), instance_offset) {
                                (Some(&bits), _) => range.check_signed(cell.cell(), v, bits),
                                (None, Some(offset)) => bound.push((cell.cell(), offset + j)),
                                (None, None) => return Err(Error::Synthesis),
                            }
                            i += 1;
                        }
                        cells[op.node] = out;
                    }
                }
                Ok(i.div_ceil(width))
            },
        )?;
        row += input_rows;
        if enabled("circuit: public input copy") {
            for (cell, r) in bound {
                layouter.constrain_instance(cell, config.instance, r);
            }
        }

        let dot_chip = DotChip::construct(config.dot.clone());
        let requant_chip = config.requant.clone().map(RequantChip::construct);
        let lut_chip = config.lut.clone().map(LutChip::construct);
        let softmax_chip = config.softmax.clone().map(SoftmaxChip::construct);
        for op in &self.ops {
            let resolve = |o: Operand, accs: &[Cell]| -> Cell {
                match o {
                    Operand::Input { slot, index } => cells[op.inputs[slot]][index],
                    Operand::Zero => zero,
                    Operand::Acc(e) => accs[e],
                }
            };
            let out = match &op.kind {
                OpKind::Input { .. } | OpKind::Const { .. } => continue,
                OpKind::Dot {
                    dots,
                    requant,
                    groups,
                } => {
                    let (layout, rows) = dot_layout(dots, groups, &self.report.params);
                    let name = format!("{}: dot", op.name);
                    let accs = if layout == DotLayout::Grouped {
                        let chip = config.mdot.clone().ok_or(Error::Synthesis)?;
                        let inputs: Vec<Vec<Cell>> = groups
                            .iter()
                            .map(|g| g.inputs.iter().map(|&o| resolve(o, &[])).collect())
                            .collect();
                        let built: Vec<_> = groups
                            .iter()
                            .map(|g| g.group(dots).ok_or(Error::Synthesis))
                            .collect::<Result<_, _>>()?;
                        let items: Vec<GroupAssign<'_>> = groups
                            .iter()
                            .zip(&inputs)
                            .zip(&built)
                            .map(|((g, c), group)| GroupAssign {
                                inputs: c,
                                group,
                                witness: &g.witness,
                            })
                            .collect();
                        MultiDotChip::construct(chip).assign(
                            &mut layouter,
                            &name,
                            row,
                            &items,
                            dots.len(),
                        )?
                    } else {
                        let inputs: Vec<Vec<Cell>> = dots
                            .iter()
                            .map(|d| d.inputs.iter().map(|&o| resolve(o, &[])).collect())
                            .collect();
                        let items: Vec<DotAssign<'_>> = dots
                            .iter()
                            .zip(&inputs)
                            .map(|(d, c)| DotAssign {
                                inputs: c,
                                spec: &d.spec,
                                witness: &d.witness,
                            })
                            .collect();
                        if layout == DotLayout::Packed {
                            dot_chip.assign_packed(&mut layouter, &name, row, &items)?
                        } else {
                            dot_chip.assign(&mut layouter, &name, row, &items)?
                        }
                    };
                    row += rows;
                    let chip = requant_chip.as_ref().ok_or(Error::Synthesis)?;
                    let items = requant_items(requant, |o| resolve(o, &accs));
                    let name = format!("{}: requant", op.name);
                    let out = chip.assign(&mut layouter, &name, row, &items, &mut range)?;
                    row += chip.config().rows(items.len());
                    out
                }
                OpKind::Requant { items } => {
                    let chip = requant_chip.as_ref().ok_or(Error::Synthesis)?;
                    let items = requant_items(items, |o| resolve(o, &[]));
                    let name = format!("{}: requant", op.name);
                    let out = chip.assign(&mut layouter, &name, row, &items, &mut range)?;
                    row += chip.config().rows(items.len());
                    out
                }
                OpKind::MaxPool {
                    window,
                    input_bits,
                    items,
                } => {
                    let cfg = config
                        .max_pool
                        .iter()
                        .find(|c| c.shape.window == *window)
                        .ok_or(Error::Synthesis)?;
                    let inputs: Vec<Vec<Cell>> = items
                        .iter()
                        .map(|m| m.inputs.iter().map(|&o| resolve(o, &[])).collect())
                        .collect();
                    let assigns: Vec<MaxPoolAssign<'_>> = items
                        .iter()
                        .zip(&inputs)
                        .map(|(m, c)| MaxPoolAssign {
                            inputs: c,
                            input_bits: *input_bits,
                            witness: &m.witness,
                        })
                        .collect();
                    let out = MaxPoolChip::construct(cfg.clone()).assign(
                        &mut layouter,
                        &format!("{}: max_pool", op.name),
                        row,
                        &assigns,
                        &mut range,
                    )?;
                    row += cfg.rows(items.len());
                    out
                }
                OpKind::Lut { tag, items } => {
                    let chip = lut_chip.as_ref().ok_or(Error::Synthesis)?;
                    let assigns: Vec<LutAssign<'_>> = items
                        .iter()
                        .map(|l| LutAssign {
                            input: resolve(l.input, &[]),
                            tag: *tag,
                            witness: &l.witness,
                        })
                        .collect();
                    let out =
                        chip.assign(&mut layouter, &format!("{}: lut", op.name), row, &assigns)?;
                    row += config.lut.as_ref().map_or(0, |c| c.rows(items.len()));
                    out
                }
                OpKind::Softmax { tag, params, rows } => {
                    let chip = softmax_chip.as_ref().ok_or(Error::Synthesis)?;
                    let inputs: Vec<Vec<Cell>> = rows
                        .iter()
                        .map(|r| r.inputs.iter().map(|&o| resolve(o, &[])).collect())
                        .collect();
                    let assigns: Vec<SoftmaxAssign<'_>> = rows
                        .iter()
                        .zip(&inputs)
                        .map(|(r, c)| SoftmaxAssign {
                            inputs: c,
                            tag: *tag,
                            params,
                            witness: &r.witness,
                        })
                        .collect();
                    let ys = chip.assign(
                        &mut layouter,
                        &format!("{}: softmax", op.name),
                        row,
                        &assigns,
                        &mut range,
                    )?;
                    let count: usize = rows.iter().map(|r| r.outputs.len()).sum();
                    row += config.softmax.as_ref().map_or(0, |c| c.rows(count));
                    let mut out = vec![zero; count];
                    for (r, ys) in rows.iter().zip(ys) {
                        for (&at, y) in r.outputs.iter().zip(ys) {
                            out[at] = y;
                        }
                    }
                    out
                }
                OpKind::FoldedClip { .. } => cells[op.inputs[0]].clone(),
                OpKind::Wiring { map } => map
                    .iter()
                    .map(|s| s.map_or(zero, |(slot, index)| cells[op.inputs[slot]][index]))
                    .collect(),
            };
            cells[op.node] = out;
        }
        self.assign_commitments(&config, &mut layouter, &cells, zero, row)?;
        row += self.commit_rows(&config);
        debug_assert_eq!(
            row, self.report.main_rows,
            "planned and laid-out rows differ"
        );
        let range_chip = RangeChip::construct(config.range.clone());
        range_chip.assign_lanes(&mut layouter, range.pending(), &self.lane_overrides)?;
        if !config.range.lanes.is_empty() {
            range_chip.load_table(&mut layouter)?;
        }
        if let Some(chip) = &lut_chip {
            chip.load_table(&mut layouter, &self.luts)?;
        }
        if enabled("circuit: public output copy") {
            for &(node, offset) in &self.outputs {
                for (i, &cell) in cells[node].iter().enumerate() {
                    layouter.constrain_instance(cell, config.instance, offset + i);
                }
            }
        }
        Ok(())
    }
}
