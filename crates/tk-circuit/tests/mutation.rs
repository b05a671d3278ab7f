//! Constraint mutation testing: every gate constraint, lookup and copy constraint of every chip
//! is disabled in turn (through the `mutation` hook, `src/mutation.rs`), and the catalogue of
//! adversarial witnesses below is run against the mutant. A mutant is *killed* when at least
//! one witness that the full circuit rejects is accepted without the constraint; a surviving
//! mutant would mean a missing negative test or a redundant constraint.
//!
//! Each adversarial witness is a consistent cheat that breaks exactly one constraint family
//! (most of them claim a wrong public output), so a kill shows that the family is what stops
//! that cheat. The report (`cargo test -p tk-circuit --test mutation -- --nocapture`) prints
//! the kill rate per chip.

mod common;

use std::collections::BTreeMap;

use common::*;
use halo2_axiom::plonk::{Circuit, ConstraintSystem};
use tk_circuit::chips::lut::LutTable;
use tk_circuit::chips::max_pool::MaxPoolWitness;
use tk_circuit::chips::requant::RequantWitness;
use tk_circuit::chips::softmax::{SoftmaxElem, SoftmaxParams, SoftmaxShape, padded_table};
use tk_circuit::field::{Fr, fe, to_i128};
use tk_circuit::{ModelCircuit, OpKind, PlanOptions, mutation};
use tk_quant::ops::{Add, Clip, Concat, Const, Gemm, Lut, MaxPool, Mul, PoolGeometry, QOp};
use tk_quant::ops::{Requant, Rescale, Reshape, Softmax};
use tk_quant::{QModel, QTensor};

// ---------------------------------------------------------------------------------------
// Models.

/// x [1, 8] -> Clip[-20, 30] (an interval that is not a power of two: `hi - y` is checked).
fn clip_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 8], 8);
    let y = b.op(
        "clip",
        QOp::Clip(Clip { lo: -20, hi: 30 }),
        &[x],
        &[1, 8],
        8,
    );
    b.output(y);
    let x = vec![-128, -20, 0, 30, 127, 5, -21, 31];
    (b.build(), vec![tensor(&[1, 8], x)])
}
const CLIP: usize = 1;

/// x [1, 8] -> Rescale(3, s=4) and Rescale(4097, s=12) (several remainder limbs).
fn rescale_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 8], 8);
    let rq = |m, s| {
        QOp::Rescale(Rescale {
            requant: Requant {
                multipliers: vec![m],
                shifts: vec![s],
                clamp: None,
            },
        })
    };
    let y = b.op("small", rq(3, 4), &[x], &[1, 8], 8);
    let z = b.op("wide", rq(4097, 12), &[x], &[1, 8], 8);
    b.output(y);
    b.output(z);
    let x = vec![-128, -37, -5, 0, 7, 21, 90, 127];
    (b.build(), vec![tensor(&[1, 8], x)])
}
const SMALL: usize = 1;

fn rescale_circuit() -> (QModel, ModelCircuit) {
    let (m, x) = rescale_model();
    let opts = PlanOptions {
        min_k: 8,
        ..Default::default()
    };
    let c = circuit_with(&m, &x, &opts);
    (m, c)
}

/// a [1, 3, 2, 2] + b [1, 3, 1, 1] (broadcast) and a * b.
fn elementwise_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 3, 2, 2], 8);
    let y = b.input(&[1, 3, 1, 1], 6);
    let shape = [1, 3, 2, 2];
    let add = Add {
        ma: 1 << 29,
        mb: 3 << 28,
        shift: 30,
        clamp: None,
    };
    let s = b.op("add", QOp::Add(add), &[x, y], &shape, 8);
    let mul = Mul {
        m: 1 << 27,
        shift: 32,
    };
    let p = b.op("mul", QOp::Mul(mul), &[x, y], &shape, 8);
    b.output(s);
    b.output(p);
    let a = vec![-128, -1, 0, 127, 100, -100, 50, 3, 7, -7, 64, -64];
    (
        b.build(),
        vec![tensor(&shape, a), tensor(&[1, 3, 1, 1], vec![-32, 31, 5])],
    )
}
const ADD: usize = 2;
const MUL: usize = 3;

/// x [2, 40] -> Gemm 40 -> 4 on rows of 24 columns (two dot rows per product).
fn gemm_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[2, 40], 8);
    let w: Vec<i32> = values(160, -127, 127, 7)
        .into_iter()
        .map(|v| if v == 0 { 1 } else { v })
        .collect();
    let op = Gemm {
        weight: tensor(&[4, 40], w),
        bias: vec![1000, -2000, 0, 77],
        requant: Requant {
            multipliers: vec![1 << 30, 1_500_000_000, 1_100_000_000, 1 << 30],
            shifts: vec![36, 37, 38, 36],
            clamp: None,
        },
    };
    let y = b.op("gemm", QOp::Gemm(op), &[x], &[2, 4], 16);
    b.output(y);
    (b.build(), vec![tensor(&[2, 40], values(80, -128, 127, 1))])
}
const GEMM: usize = 1;

fn gemm_circuit() -> (QModel, ModelCircuit) {
    let (m, x) = gemm_model();
    let opts = PlanOptions {
        width: Some(24),
        mdot: Some(None),
        ..Default::default()
    };
    let c = circuit_with(&m, &x, &opts);
    (m, c)
}

/// x [1, 1, 4, 4] -> MaxPool 2x2 stride 2; window 0 is [5, 4, 1, 0].
fn max_pool_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 1, 4, 4], 8);
    let g = PoolGeometry {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [0; 4],
    };
    let y = b.op(
        "pool",
        QOp::MaxPool(MaxPool { geometry: g }),
        &[x],
        &[1, 1, 2, 2],
        8,
    );
    b.output(y);
    #[rustfmt::skip]
    let x = vec![
        5, 4, 7, 7,
        1, 0, 3, 7,
        -128, -128, 2, -3,
        -128, -128, -5, 9,
    ];
    (b.build(), vec![tensor(&[1, 1, 4, 4], x)])
}
const POOL: usize = 1;

/// x [1, 16] (4 bits) -> Lut.
fn lut_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 16], 4);
    let lut = Lut {
        function: "test".into(),
        in_lo: -8,
        table: (0..16).map(|i| 100 - 3 * i).collect(),
    };
    let y = b.op("lut", QOp::Lut(lut), &[x], &[1, 16], 8);
    b.output(y);
    (b.build(), vec![tensor(&[1, 16], (-8..8).collect())])
}
const LUT: usize = 1;

/// x [1, 4] -> Concat with a Const -> Reshape -> Add with a Const.
fn const_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 4], 8);
    let k1 = QOp::Const(Const {
        value: tensor(&[1, 2], vec![-7, 9]),
    });
    let k = b.op("k", k1, &[], &[1, 2], 8);
    let c = b.op(
        "concat",
        QOp::Concat(Concat { axis: 1 }),
        &[x, k],
        &[1, 6],
        8,
    );
    let f = b.op("flat", QOp::Reshape(Reshape {}), &[c], &[6], 8);
    let k2 = QOp::Const(Const {
        value: tensor(&[6], values(6, -50, 50, 2)),
    });
    let k2 = b.op("k2", k2, &[], &[6], 8);
    let add = Add {
        ma: 1 << 30,
        mb: 1 << 30,
        shift: 30,
        clamp: None,
    };
    let a = b.op("add", QOp::Add(add), &[f, k2], &[6], 8);
    b.output(a);
    (b.build(), vec![tensor(&[1, 4], vec![1, -2, 3, 100])])
}
const K2: usize = 4;
const CONST_ADD: usize = 5;

/// `exp[d] = floor(2^15 (7/8)^d)`, step by step, down to its first 0 (71 entries).
fn exp_table() -> Vec<i32> {
    let mut t = vec![1 << 15];
    while *t.last().unwrap() > 0 {
        let v = *t.last().unwrap();
        t.push(v * 7 / 8);
    }
    t
}

/// x [3, 4] (8 bits) -> Softmax along axis 1, `F = 7`, 8-bit output. Row 0 is clamped
/// (`q = 2^F > hi`), row 1 has `q = hi` on element 0, row 2 = [5, 30, 30, -7] has a tie.
fn softmax_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[3, 4], 8);
    let op = QOp::Softmax(Softmax {
        axis: 1,
        exp_table: exp_table(),
        frac_bits: 7,
    });
    let y = b.op("softmax", op, &[x], &[3, 4], 8);
    b.output(y);
    let t = exp_table();
    let d = (0..t.len())
        .find(|&d| {
            let (e, s) = (1i128 << 15, (1i128 << 15) + i128::from(t[d]));
            (2 * (e << 7) + s).div_euclid(2 * s) == 127
        })
        .unwrap() as i32;
    #[rustfmt::skip]
    let x = vec![
        127, -128, -128, -128,
        0, -d, -128, -128,
        5, 30, 30, -7,
    ];
    (b.build(), vec![tensor(&[3, 4], x)])
}
const SOFTMAX: usize = 1;

// ---------------------------------------------------------------------------------------
// Tampering helpers.

fn int(v: Fr) -> i64 {
    to_i128(v).expect("small value") as i64
}

/// Replaces requant slot `e` of `node` by the honest witness for operands shifted by
/// `(du1, du2)`; returns the slot's new output.
fn rewrite_requant(c: &mut ModelCircuit, node: usize, e: usize, du1: i64, du2: i64) -> i64 {
    let shape = c.params().requant.expect("requant slots");
    let bits = c.params().range_bits;
    let j = requant_job(c, node, e);
    let (u1, u2) = (int(j.witness.u1) + du1, int(j.witness.u2) + du2);
    j.witness = RequantWitness::compute(&j.params, u1, u2, None, &shape, bits).expect("fits");
    j.params.eval(u1, u2)
}

fn set_limbs(c: &ModelCircuit, v: i128, n: usize) -> Vec<Fr> {
    limbs(c, u128::try_from(v).expect("non-negative"), n)
}

/// Clip slot `e`: claim output `y` in case `(b_lo, b_hi)` with clamp excess `t`; `d1`, `d2`
/// are `y - lo`, `hi - y` unless given.
#[allow(clippy::too_many_arguments)]
fn clip_claim(
    c: &mut ModelCircuit,
    e: usize,
    y: i64,
    b: (i64, i64),
    t: i128,
    d1: Option<i128>,
    d2: Option<i128>,
) {
    let shape = c.params().requant.unwrap();
    let (lo, hi) = (-20i128, 30i128);
    let d1 = set_limbs(c, d1.unwrap_or(i128::from(y) - lo), shape.n_d);
    let d2 = set_limbs(c, d2.unwrap_or(hi - i128::from(y)), shape.n_d);
    let t = set_limbs(c, t, shape.n_t);
    let j = requant_job(c, CLIP, e);
    j.witness.y = fe(y.into());
    j.witness.b_lo = fe(b.0.into());
    j.witness.b_hi = fe(b.1.into());
    j.witness.t = t;
    j.witness.d1 = d1;
    j.witness.d2 = d2;
}

fn dot_job(c: &mut ModelCircuit, node: usize, e: usize) -> &mut tk_circuit::DotJob {
    match &mut c.ops_mut()[node].kind {
        OpKind::Dot { dots, .. } => &mut dots[e],
        other => panic!("node {node} is not a dot op: {other:?}"),
    }
}

const MDOT: usize = 1;

fn mdot_group(c: &mut ModelCircuit, g: usize) -> &mut tk_circuit::GroupJob {
    match &mut c.ops_mut()[MDOT].kind {
        OpKind::Dot { groups, .. } => &mut groups[g],
        _ => unreachable!(),
    }
}

fn max_pool_job(c: &mut ModelCircuit, e: usize) -> &mut tk_circuit::MaxPoolJob {
    match &mut c.ops_mut()[POOL].kind {
        OpKind::MaxPool { items, .. } => &mut items[e],
        _ => unreachable!(),
    }
}

fn max_pool_claim(c: &mut ModelCircuit, x: &[i64], y: i64) {
    let shape = c.params().max_pool[0];
    let bits = c.params().range_bits;
    max_pool_job(c, 0).witness = MaxPoolWitness::compute(x, Some(y), &shape, bits);
}

fn lut_job(c: &mut ModelCircuit, e: usize) -> &mut tk_circuit::LutJob {
    match &mut c.ops_mut()[LUT].kind {
        OpKind::Lut { items, .. } => &mut items[e],
        _ => unreachable!(),
    }
}

/// What the softmax helpers need from the circuit.
struct Sm {
    params: SoftmaxParams,
    shape: SoftmaxShape,
    bits: u32,
    table: LutTable,
}

impl Sm {
    fn of(c: &ModelCircuit) -> Sm {
        let OpKind::Softmax { tag, params, .. } = &c.ops()[SOFTMAX].kind else {
            panic!("node {SOFTMAX} is not a softmax")
        };
        Sm {
            params: *params,
            shape: c.params().softmax.expect("softmax slots"),
            bits: c.params().range_bits,
            table: LutTable {
                tag: *tag,
                in_lo: 0,
                values: padded_table(&exp_table(), 8),
            },
        }
    }

    fn limbs(&self, v: i128, n: usize) -> Vec<Fr> {
        tk_circuit::chips::decompose(u128::try_from(v).expect("non-negative"), n, self.bits)
            .expect("fits")
    }

    /// Sets `S = sum` and the division and clamp of `el` from its `e`.
    fn divide(&self, el: &mut SoftmaxElem, sum: i128) {
        let (e, hi) = (i128::from(int(el.e)), i128::from(self.params.hi));
        let num = 2 * (e << self.params.frac_bits) + sum;
        let q = num.div_euclid(2 * sum);
        let r = num - 2 * q * sum;
        let y = q.min(hi);
        let t = if q > hi { q - hi - 1 } else { hi - q };
        el.sum = fe(sum);
        el.q = fe(q);
        el.y = fe(y);
        el.b = fe((q > hi).into());
        el.t = self.limbs(t, self.shape.n_t);
        el.y_limbs = self.limbs(y, self.shape.n_y);
        el.r = self.limbs(r, self.shape.n_r);
        el.r2 = self.limbs(2 * sum - 1 - r, self.shape.n_r);
    }

    /// A consistent row for inputs `x` where element `j` claims the maximum `m[j]`, with
    /// exponentials from `table`.
    fn row(&self, x: &[i64], m: &[i64], table: &LutTable) -> Vec<SoftmaxElem> {
        let e: Vec<i128> = x
            .iter()
            .zip(m)
            .map(|(&x, &m)| table.get(m - x).unwrap_or(0).into())
            .collect();
        let sum: i128 = e.iter().sum();
        let (mut p, mut s) = (Fr::zero(), 0i128);
        let mut out = Vec::new();
        for j in 0..x.len() {
            let d = fe(i128::from(m[j] - x[j]));
            let mut el = SoftmaxElem {
                x: fe(x[j].into()),
                m: fe(m[j].into()),
                p_prev: p,
                s_prev: fe(s),
                e: fe(e[j]),
                ..Default::default()
            };
            p = if j == 0 { d } else { p * d };
            s += e[j];
            el.p = p;
            el.s = fe(s);
            self.divide(&mut el, sum);
            out.push(el);
        }
        out
    }
}

fn sm_elems(c: &mut ModelCircuit, row: usize) -> &mut Vec<SoftmaxElem> {
    match &mut c.ops_mut()[SOFTMAX].kind {
        OpKind::Softmax { rows, .. } => &mut rows[row].witness.elems,
        _ => unreachable!(),
    }
}

/// The instance with softmax row `row`'s outputs set to its witness's `y`.
fn sm_instance(c: &ModelCircuit, row: usize) -> Vec<Fr> {
    let OpKind::Softmax { rows, .. } = &c.ops()[SOFTMAX].kind else {
        unreachable!()
    };
    let mut inst = c.instance().to_vec();
    for (&at, el) in rows[row].outputs.iter().zip(&rows[row].witness.elems) {
        inst[12 + at] = el.y;
    }
    inst
}

/// Rescale `small[5]` (x = 21: v + h = 71, q = 4, r = 7) claimed as `q - k` with remainder
/// `r + 16 k` (the `d2` limbs stay zero: [-128, 127] spans a power of two).
fn small_shifted(c: &mut ModelCircuit, k: i128) -> i64 {
    let shape = c.params().requant.unwrap();
    let y = 4 - k;
    let r = set_limbs(c, 7 + 16 * k, shape.n_r);
    let d1 = set_limbs(c, y + 128, shape.n_d);
    let j = requant_job(c, SMALL, 5);
    assert_eq!((j.witness.q, j.witness.y), (fe(4), fe(4)));
    j.witness.q = fe(y);
    j.witness.y = fe(y);
    j.witness.r = r;
    j.witness.d1 = d1;
    y as i64
}

// ---------------------------------------------------------------------------------------
// The catalogue of adversarial witnesses.

/// A tampered circuit and the public instance it is checked against.
struct Case {
    name: &'static str,
    circuit: ModelCircuit,
    instance: Vec<Fr>,
    /// Whether the instance differs from the honest one: the witness supports a false public
    /// statement, not just another witness for the true one.
    false_statement: bool,
}

fn case(name: &'static str, circuit: ModelCircuit, instance: Vec<Fr>) -> Case {
    Case {
        name,
        false_statement: instance != circuit.instance(),
        circuit,
        instance,
    }
}

/// The honest circuits (they must stay satisfied under every mutant).
fn honest() -> Vec<(&'static str, ModelCircuit)> {
    let (m, x) = clip_model();
    let clip = circuit(&m, &x);
    let (_, rescale) = rescale_circuit();
    let (m, x) = elementwise_model();
    let elementwise = circuit(&m, &x);
    let (_, gemm) = gemm_circuit();
    let (m, x) = max_pool_model();
    let pool = circuit(&m, &x);
    let (m, x) = lut_model();
    let lut = circuit(&m, &x);
    let (m, x) = const_model();
    let konst = circuit(&m, &x);
    let (m, x) = softmax_model();
    let softmax = circuit(&m, &x);
    let (m, x, opts) = committed_clip_model();
    let committed = circuit_with(&m, &x, &opts);
    let (m, x) = mdot_conv_model();
    let mdot = circuit_with(&m, &x, &mdot_options());
    vec![
        ("committed", committed),
        ("mdot", mdot),
        ("softmax", softmax),
        ("clip", clip),
        ("rescale", rescale),
        ("elementwise", elementwise),
        ("gemm", gemm),
        ("max_pool", pool),
        ("lut", lut),
        ("const", konst),
    ]
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    // Requant through Clip [-20, 30]: x = [-128, -20, 0, 30, 127, 5, -21, 31].
    let (m, x) = clip_model();
    let base = circuit(&m, &x);
    let with = |e: usize, y: i64, f: &dyn Fn(&mut ModelCircuit)| {
        let mut c = base.clone();
        f(&mut c);
        let inst = instance_with_output(&c, &m, e, y);
        (c, inst)
    };
    let (c, i) = with(1, -20, &|c| {
        // q = y = lo in the middle case, with b_lo = -5 and t = 5.
        clip_claim(c, 1, -20, (-5, 0), 5, None, None)
    });
    out.push(case("requant: non-boolean b_lo", c, i));
    let (c, i) = with(3, 30, &|c| clip_claim(c, 3, 30, (0, -5), 5, None, None));
    out.push(case("requant: non-boolean b_hi", c, i));
    let (c, i) = with(0, -19, &|c| clip_claim(c, 0, -19, (1, 0), 107, None, None));
    out.push(case("requant: clamped low, y = lo + 1", c, i));
    let (c, i) = with(4, 29, &|c| clip_claim(c, 4, 29, (0, 1), 96, None, None));
    out.push(case("requant: clamped high, y = hi - 1", c, i));
    let (c, i) = with(5, 6, &|c| clip_claim(c, 5, 6, (0, 0), 0, None, None));
    out.push(case("requant: middle case, y = q + 1", c, i));
    let (c, i) = with(2, -20, &|c| clip_claim(c, 2, -20, (1, 0), 0, None, None));
    out.push(case("requant: clamp an in-range value to lo", c, i));
    let (c, i) = with(6, -21, &|c| clip_claim(c, 6, -21, (0, 0), 0, Some(0), None));
    out.push(case("requant: y below lo unclamped", c, i));
    let (c, i) = with(7, 31, &|c| clip_claim(c, 7, 31, (0, 0), 0, None, Some(0)));
    out.push(case("requant: y above hi unclamped", c, i));
    let c = base.clone();
    let i = instance_with_output(&c, &m, 2, 1);
    out.push(case("circuit: claim another public output", c, i));
    let c = base.clone();
    let mut i = c.instance().to_vec();
    i[0] = fe(-127);
    out.push(case("circuit: claim another public input", c, i));

    // Requant through Rescale(3, s=4): remainder, range lanes, zero limbs.
    let (m, base) = rescale_circuit();
    let mut c = base.clone();
    let shape = c.params().requant.unwrap();
    let d1 = set_limbs(&c, 5 + 128, shape.n_d);
    let j = requant_job(&mut c, SMALL, 5);
    j.witness.q = fe(5);
    j.witness.y = fe(5);
    j.witness.d1 = d1;
    let i = instance_with_output(&c, &m, 5, 5);
    out.push(case("requant: round up with the honest remainder", c, i));
    let mut c = base.clone();
    let y = small_shifted(&mut c, 1);
    let i = instance_with_output(&c, &m, 5, y);
    out.push(case("range: q - 1 with remainder r + 2^s", c, i));
    let mut c = base.clone();
    let y = small_shifted(&mut c, 1);
    for lane in 0..(c.params().lanes << c.k()) {
        c.tamper_lane(lane, fe(0));
    }
    let i = instance_with_output(&c, &m, 5, y);
    out.push(case("range: q - 1, r + 2^s, every lane holds 0", c, i));
    let mut c = base.clone();
    let k = 1i128 << (c.params().range_bits + 1 - 4);
    let y = small_shifted(&mut c, k);
    let i = instance_with_output(&c, &m, 5, y);
    out.push(case("range: remainder spills into a zero limb", c, i));

    // Operand copies through Add and Mul.
    let (m, x) = elementwise_model();
    let base = circuit(&m, &x);
    let mut c = base.clone();
    let y = rewrite_requant(&mut c, ADD, 3, 4, 0);
    let i = instance_with_output(&c, &m, 3, y);
    out.push(case("requant: add on u1 + 4", c, i));
    let mut c = base.clone();
    let y = rewrite_requant(&mut c, MUL, 5, 0, 1);
    let i = instance_with_output(&c, &m, 12 + 5, y);
    out.push(case("requant: mul on u2 + 1", c, i));

    // Dot products: Gemm with two rows per product.
    let (m, base) = gemm_circuit();
    let delta = 1 << 12;
    let mut c = base.clone();
    let job = dot_job(&mut c, GEMM, 1);
    job.witness.partial[0] += fe(delta);
    job.witness.partial[1] += fe(delta);
    let y = rewrite_requant(&mut c, GEMM, 1, delta as i64, 0);
    let i = instance_with_output(&c, &m, 1, y);
    out.push(case("dot: first row sum off by 2^12", c, i));
    let mut c = base.clone();
    dot_job(&mut c, GEMM, 2).witness.partial[1] += fe(delta);
    let y = rewrite_requant(&mut c, GEMM, 2, delta as i64, 0);
    let i = instance_with_output(&c, &m, 2, y);
    out.push(case("dot: next row sum off by 2^12", c, i));
    let mut c = base.clone();
    let job = dot_job(&mut c, GEMM, 0);
    let w = i128::from(job.spec.weights[30]) * 100;
    job.witness.activations[30] += fe(100);
    job.witness.partial[1] += fe(w);
    let y = rewrite_requant(&mut c, GEMM, 0, w as i64, 0);
    let i = instance_with_output(&c, &m, 0, y);
    out.push(case("dot: product over another activation", c, i));

    // Multi-output dot rows: the centre group of a 3x3 conv, 3 rows of 10 activations, two
    // chunks of 4 outputs.
    let (m, x) = mdot_conv_model();
    let base = circuit_with(&m, &x, &mdot_options());
    let mut c = base.clone();
    let e = mdot_group(&mut c, 12).outputs[6];
    for row in &mut mdot_group(&mut c, 12).witness.partial[1][1..] {
        row[2] += fe(delta);
    }
    let y = rewrite_requant(&mut c, MDOT, e, delta as i64, 0);
    let i = instance_with_output(&c, &m, e, y);
    out.push(case("mdot: middle row sum off by 2^12", c, i));
    let mut c = base.clone();
    let (mut i, k) = (c.instance().to_vec(), 13);
    let g = match &c.ops()[MDOT].kind {
        OpKind::Dot { groups, dots, .. } => groups[12].group(dots).unwrap(),
        _ => unreachable!(),
    };
    mdot_group(&mut c, 12).witness.activations[k] += fe(100);
    let row = k / MDOT_SHAPE.inputs;
    for (m_idx, &e) in g.outputs.iter().enumerate() {
        let d = i128::from(g.weights[m_idx][k]) * 100;
        let (chunk, slot) = (m_idx / MDOT_SHAPE.outputs, m_idx % MDOT_SHAPE.outputs);
        for sums in &mut mdot_group(&mut c, 12).witness.partial[chunk][row..] {
            sums[slot] += fe(d);
        }
        let y = rewrite_requant(&mut c, MDOT, e, d as i64, 0);
        // The instance holds the 75 input values, then the outputs.
        i[75 + e] = fe(y.into());
    }
    out.push(case("mdot: products over another activation", c, i));

    // Max-pool window [5, 4, 1, 0].
    let (m, x) = max_pool_model();
    let base = circuit(&m, &x);
    let mut c = base.clone();
    max_pool_claim(&mut c, &[5, 4, 1, 0], 4);
    let n_d = c.params().max_pool[0].n_d;
    max_pool_job(&mut c, 0).witness.d[0] = vec![fe(0); n_d];
    let i = instance_with_output(&c, &m, 0, 4);
    out.push(case("max_pool: y = 4 below the maximum, d_0 = 0", c, i));
    let mut c = base.clone();
    max_pool_claim(&mut c, &[5, 4, 1, 0], 6);
    max_pool_job(&mut c, 0).witness.p[1] = fe(0);
    let i = instance_with_output(&c, &m, 0, 6);
    out.push(case("max_pool: y = 6 with a zero running product", c, i));
    let mut c = base.clone();
    max_pool_claim(&mut c, &[5, 4, 1, 0], 6);
    let i = instance_with_output(&c, &m, 0, 6);
    out.push(case("max_pool: y = 6 above every element", c, i));
    let mut c = base.clone();
    max_pool_claim(&mut c, &[6, 4, 1, 0], 6);
    let i = instance_with_output(&c, &m, 0, 6);
    out.push(case("max_pool: maximum of another window", c, i));

    // Lut.
    let (m, x) = lut_model();
    let base = circuit(&m, &x);
    let mut c = base.clone();
    lut_job(&mut c, 5).witness.y += Fr::one();
    let i = instance_with_output(&c, &m, 5, 100 - 15 + 1);
    out.push(case("lut: y = table[x] + 1", c, i));
    let mut c = base.clone();
    let j = lut_job(&mut c, 5);
    j.witness.x += Fr::one();
    j.witness.y = fe(100 - 18);
    let i = instance_with_output(&c, &m, 5, 100 - 18);
    out.push(case("lut: table[x + 1]", c, i));

    // Constants.
    let (m, x) = const_model();
    let mut c = circuit(&m, &x);
    if let OpKind::Const { witness, .. } = &mut c.ops_mut()[K2].kind {
        witness[3] -= fe(40);
    }
    let y = rewrite_requant(&mut c, CONST_ADD, 3, 0, -40);
    let i = instance_with_output(&c, &m, 3, y);
    out.push(case("constant: another constant value", c, i));

    out.extend(softmax_cases());
    out.extend(commit_cases());
    out
}

// ---------------------------------------------------------------------------------------
// Commitments: a committed input and output (`y = clip(x, -20, 30)` on 40 values).

/// Where a forged lane-0 hash departs from the honest one.
#[derive(Clone, Copy)]
enum Forge {
    /// Pack slot 0: `v_0 + 1` and its element (`value copy` breaks).
    PackValue,
    /// Pack slot 0: element `+ 1` (`pack` gate breaks).
    PackElement,
    /// The first absorbed element `+ 1` (`element copy` breaks).
    Absorbed,
    /// The capacity word `+ 1` (`initial state` breaks).
    Capacity,
    /// The state after absorbing `+ 1` (`absorb` breaks).
    AfterAbsorb,
    /// The square of round `r`, word 0, `+ 1` (that round's square constraint breaks).
    Square(usize),
    /// The state after round `r`, word 1, `+ 1` (that round's mix breaks).
    Mix(usize),
}

/// The committed circuit with lane 0's chunk (the input's first chunk) hashed from a forged
/// point on, every later cell consistent, and the forged digest claimed in the instance.
fn forged_commit(forge: Forge) -> (ModelCircuit, Vec<Fr>) {
    use tk_circuit::chips::poseidon::PERMUTATION_ROWS;
    use tk_circuit::commit::{self, FULL_ROUNDS, PARTIAL_ROUNDS, WIDTH};
    let (m, x, opts) = committed_clip_model();
    let mut c = circuit_with(&m, &x, &opts);
    let mut elements = commit::pack(&x[0].data).unwrap();
    let chunk = commit::chunk_len(elements.len());
    let mut o = tk_circuit::CommitOverrides::default();
    match forge {
        Forge::PackValue => {
            o.pack.insert((0, 0), fe(i128::from(x[0].data[0]) + 1));
            o.pack.insert((0, 15), elements[0] + Fr::one());
            elements[0] += Fr::one();
        }
        Forge::PackElement => {
            o.pack.insert((0, 15), elements[0] + Fr::one());
            elements[0] += Fr::one();
        }
        _ => {}
    }
    if matches!(forge, Forge::Absorbed) {
        elements[0] += Fr::one();
    }
    let consts = commit::constants();
    let mut put = |row: usize, col: usize, v: Fr| {
        o.hash.insert((row, 0, col), v);
    };
    let mut state = [Fr::zero(), Fr::zero(), commit::capacity(chunk)];
    if matches!(forge, Forge::Capacity) {
        state[2] += Fr::one();
    }
    let perms = commit::permutations(chunk);
    for p in 0..perms {
        let base = PERMUTATION_ROWS * p;
        for (j, &w) in state.iter().enumerate() {
            put(base, j, w);
        }
        let pair = [
            elements[2 * p],
            *elements.get(2 * p + 1).unwrap_or(&Fr::zero()),
        ];
        put(base, 3, pair[0]);
        put(base, 4, pair[1]);
        state[0] += pair[0];
        state[1] += pair[1];
        if p == 0 && matches!(forge, Forge::AfterAbsorb) {
            state[0] += Fr::one();
        }
        for r in 0..FULL_ROUNDS + PARTIAL_ROUNDS {
            let row = base + 1 + r;
            for (j, &w) in state.iter().enumerate() {
                put(row, j, w);
            }
            let full = commit::is_full_round(r);
            let mut sq = [Fr::zero(); WIDTH];
            let mut t = [Fr::zero(); WIDTH];
            for j in 0..WIDTH {
                let xj = state[j] + consts.round[r][j];
                if full || j == 0 {
                    sq[j] = xj * xj;
                    if p == 0 && j == 0 && matches!(forge, Forge::Square(fr) if fr == r) {
                        sq[j] += Fr::one();
                    }
                    t[j] = sq[j] * sq[j] * xj;
                } else {
                    t[j] = xj;
                }
                put(row, 3 + j, sq[j]);
            }
            for (i, word) in state.iter_mut().enumerate() {
                *word = (0..WIDTH).map(|j| consts.mds[i][j] * t[j]).sum();
            }
            if p == 0 && matches!(forge, Forge::Mix(fr) if fr == r) {
                state[1] += Fr::one();
            }
        }
    }
    put(PERMUTATION_ROWS * perms, 0, state[0]);
    put(PERMUTATION_ROWS * perms, 1, state[1]);
    put(PERMUTATION_ROWS * perms, 2, state[2]);
    c.tamper_commitment(o);
    let mut inst = c.instance().to_vec();
    inst[0] = state[0];
    (c, inst)
}

fn commit_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (name, forge) in [
        ("commit: another value in a pack slot", Forge::PackValue),
        ("commit: another packed element", Forge::PackElement),
        ("commit: another absorbed element", Forge::Absorbed),
        ("commit: another capacity", Forge::Capacity),
        ("commit: another state after absorbing", Forge::AfterAbsorb),
        ("commit: another square in a full round", Forge::Square(0)),
        ("commit: another state after a full round", Forge::Mix(0)),
        (
            "commit: another square in a partial round",
            Forge::Square(10),
        ),
        (
            "commit: another state after a partial round",
            Forge::Mix(10),
        ),
    ] {
        let (c, i) = forged_commit(forge);
        out.push(case(name, c, i));
    }
    let (m, x, opts) = committed_clip_model();
    let c = circuit_with(&m, &x, &opts);
    let mut i = c.instance().to_vec();
    let last = i.len() - 1;
    i[last] += Fr::one();
    out.push(case("commit: claim another output digest", c, i));
    out
}

/// Softmax row 2 = [5, 30, 30, -7] (maximum 30, a tie), unless noted.
fn softmax_cases() -> Vec<Case> {
    let (m, x) = softmax_model();
    let base = circuit(&m, &x);
    let sm = Sm::of(&base);
    let row2 = [5i64, 30, 30, -7];
    let mut out = Vec::new();
    let mut with_row = |name, row: usize, f: &dyn Fn(&mut Vec<SoftmaxElem>)| {
        let mut c = base.clone();
        f(sm_elems(&mut c, row));
        let i = sm_instance(&c, row);
        out.push(case(name, c, i));
    };
    // A claimed maximum of 90 pushes the small elements into the table's clamped tail.
    let above = sm.row(&row2, &[90; 4], &sm.table);
    with_row(
        "softmax: maximum 90, last running product set to 0",
        2,
        &|r| {
            *r = above.clone();
            r[3].p = Fr::zero();
        },
    );
    with_row("softmax: maximum 90 above every element", 2, &|r| {
        *r = above.clone();
    });
    with_row("softmax: maximum 90, last p_prev and p set to 0", 2, &|r| {
        *r = above.clone();
        r[3].p_prev = Fr::zero();
        r[3].p = Fr::zero();
    });
    let other_m = sm.row(&row2, &[90, 30, 30, 30], &sm.table);
    with_row("softmax: another maximum on the first element", 2, &|r| {
        *r = other_m.clone();
    });
    let other_x = sm.row(&[5, 30, 29, -7], &[30; 4], &sm.table);
    with_row("softmax: softmax of another row", 2, &|r| {
        *r = other_x.clone()
    });
    let mut fake = sm.table.clone();
    fake.values[25] += 1000;
    let fake_row = sm.row(&row2, &[30; 4], &fake);
    with_row("softmax: exponential off the table", 2, &|r| {
        *r = fake_row.clone()
    });
    let delta = 60000;
    let sm = &sm;
    let shifted_sum = |from: usize, into_s_prev: bool| {
        move |r: &mut Vec<SoftmaxElem>| {
            let sum = i128::from(int(r[0].sum)) + delta;
            for (j, el) in r.iter_mut().enumerate() {
                if j >= from {
                    el.s += fe(delta);
                    if j > from || into_s_prev {
                        el.s_prev += fe(delta);
                    }
                }
                sm.divide(el, sum);
            }
        }
    };
    with_row(
        "softmax: running sum off by 60000 at element 0",
        2,
        &shifted_sum(0, false),
    );
    with_row(
        "softmax: running sum restarted at element 1",
        2,
        &shifted_sum(1, true),
    );
    with_row("softmax: element 0 divided by another sum", 2, &|r| {
        let sum = i128::from(int(r[0].sum)) + delta;
        sm.divide(&mut r[0], sum);
    });
    with_row("softmax: quotient + 1 with the honest remainder", 2, &|r| {
        let q = i128::from(int(r[1].q)) + 1;
        r[1].q = fe(q);
        r[1].y = fe(q);
        r[1].y_limbs = sm.limbs(q, sm.shape.n_y);
        r[1].t = sm.limbs(i128::from(sm.params.hi) - q, sm.shape.n_t);
    });
    with_row("softmax: quotient - 1 with remainder r + 2S", 2, &|r| {
        let (q, sum) = (i128::from(int(r[1].q)) - 1, i128::from(int(r[1].sum)));
        let rem = r[1]
            .r
            .iter()
            .rev()
            .fold(0i128, |a, &l| (a << sm.bits) + i128::from(int(l)));
        r[1].q = fe(q);
        r[1].y = fe(q);
        r[1].y_limbs = sm.limbs(q, sm.shape.n_y);
        r[1].t = sm.limbs(i128::from(sm.params.hi) - q, sm.shape.n_t);
        r[1].r = sm.limbs(rem + 2 * sum, sm.shape.n_r);
        r[1].r2 = vec![Fr::zero(); sm.shape.n_r];
    });
    with_row("softmax: non-boolean clamp flag", 1, &|r| {
        // Element 0 of row 1 has q = hi: b = -5 with t = 5 satisfies the other constraints.
        r[0].b = fe(-5);
        r[0].t = sm.limbs(5, sm.shape.n_t);
    });
    with_row("softmax: clamped output hi - 1", 0, &|r| {
        r[0].y = fe(126);
        r[0].y_limbs = sm.limbs(126, sm.shape.n_y);
    });
    with_row("softmax: unclamped output q + 1", 2, &|r| {
        let y = i128::from(int(r[1].y)) + 1;
        r[1].y = fe(y);
        r[1].y_limbs = sm.limbs(y, sm.shape.n_y);
    });
    with_row("softmax: clamp an unclamped output to hi", 2, &|r| {
        r[1].b = fe(1);
        r[1].y = fe(sm.params.hi.into());
        r[1].y_limbs = sm.limbs(sm.params.hi.into(), sm.shape.n_y);
        r[1].t = vec![Fr::zero(); sm.shape.n_t];
    });
    with_row("softmax: output limbs off by one", 2, &|r| {
        let y = i128::from(int(r[0].y)) + 1;
        r[0].y_limbs = sm.limbs(y, sm.shape.n_y);
    });
    out
}

fn rejected(c: &ModelCircuit, instance: &[Fr]) -> bool {
    let prover = c
        .mock_prover_with(instance.to_vec())
        .expect("mock prover runs");
    prover.verify().is_err()
}

/// Chip of a constraint family (`requant: d1 = y - lo` -> `requant`).
fn chip(family: &str) -> &str {
    family.split(':').next().unwrap_or(family)
}

#[test]
fn every_constraint_is_needed_by_some_negative_test() {
    let start = std::time::Instant::now();
    mutation::clear();
    let honest = honest();
    for (name, c) in &honest {
        let f = failures(c);
        assert!(
            f.is_empty(),
            "honest {name} circuit fails:\n{}",
            f.join("\n")
        );
    }
    let cases = cases();
    for c in &cases {
        assert!(
            rejected(&c.circuit, &c.instance),
            "the full circuit accepts the tampered witness {:?}",
            c.name
        );
    }
    let families = mutation::seen();
    assert!(
        families.len() >= 20,
        "few constraint families: {families:?}"
    );

    // Mutants in parallel, one thread each (the hook is per thread).
    type Outcome = (String, Vec<&'static Case>, Vec<&'static str>);
    let cases: &'static [Case] = Vec::leak(cases);
    let results: Vec<Outcome> = std::thread::scope(|s| {
        let jobs: Vec<_> = families
            .chunks(families.len().div_ceil(2))
            .map(|chunk| {
                let honest = &honest;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|family| {
                            mutation::disable([family.clone()]);
                            let broken: Vec<&'static str> = honest
                                .iter()
                                .filter(|(_, c)| rejected(c, c.instance()))
                                .map(|(n, _)| *n)
                                .collect();
                            let killers: Vec<&'static Case> = cases
                                .iter()
                                .filter(|c| !rejected(&c.circuit, &c.instance))
                                .collect();
                            mutation::clear();
                            (family.clone(), killers, broken)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        jobs.into_iter()
            .flat_map(|j| j.join().expect("mutant thread"))
            .collect()
    });

    let mut per_chip: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut survivors = Vec::new();
    let mut uniqueness_only = Vec::new();
    eprintln!(
        "constraint mutants ({} families, {} adversarial witnesses):",
        families.len(),
        cases.len()
    );
    for (family, killers, broken) in &results {
        assert!(
            broken.is_empty(),
            "disabling {family:?} makes honest circuits fail: {broken:?}"
        );
        let entry = per_chip.entry(chip(family)).or_default();
        entry.0 += 1;
        if killers.is_empty() {
            survivors.push(family.clone());
            eprintln!("  SURVIVES {family}");
        } else {
            entry.1 += 1;
            let names: Vec<&str> = killers.iter().map(|c| c.name).collect();
            eprintln!("  killed   {family:<48} by {names:?}");
            if !killers.iter().any(|c| c.false_statement) {
                uniqueness_only.push(family.clone());
            }
        }
    }
    let total = results.len();
    let killed = total - survivors.len();
    eprintln!("kill rate per chip:");
    for (chip, (n, k)) in &per_chip {
        eprintln!("  {chip:<10} {k}/{n}");
    }
    eprintln!(
        "kill rate: {killed}/{total} ({:.0}%), {:.1} s",
        100.0 * killed as f64 / total as f64,
        start.elapsed().as_secs_f64()
    );
    // Families whose absence lets through another witness for the *true* statement only (no
    // catalogue witness with a false public output gets through): not needed for the
    // soundness of the outputs, kept so that the witness is unique.
    eprintln!("killed only by witness-uniqueness tampering: {uniqueness_only:#?}");
    assert!(survivors.is_empty(), "surviving mutants: {survivors:?}");
}

/// Deterministic pseudo-random field element for a query (column kind, index, rotation).
fn point(kind: u64, index: usize, rotation: i32) -> Fr {
    let mut s = kind
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(index as u64)
        .wrapping_mul(0xbf58_476d_1ce4_e5b9)
        .wrapping_add(rotation as i64 as u64);
    s ^= s >> 31;
    Fr::from(s.wrapping_mul(0x94d0_49bb_1331_11eb)) * Fr::from(s | 1) + Fr::from(kind + 1)
}

fn eval(e: &halo2_axiom::plonk::Expression<Fr>) -> Fr {
    e.evaluate(
        &|c| c,
        &|s| point(1, s.index(), 0),
        &|q| point(2, q.column_index(), q.rotation().0),
        &|q| point(3, q.column_index(), q.rotation().0),
        &|q| point(4, q.column_index(), q.rotation().0),
        &|c| point(5, c.index(), 0),
        &|a| -a,
        &|a, b| a + b,
        &|a, b| a * b,
        &|a, f| a * f,
    )
}

/// With every family the hook knows disabled, every gate constraint is identically zero and
/// every lookup sees only zeros: no constraint of the chips bypasses the hook.
#[test]
fn every_gate_and_lookup_goes_through_the_hook() {
    mutation::clear();
    let honest = honest();
    for (_, c) in &honest {
        c.mock_prover().expect("mock prover runs");
    }
    let families = mutation::seen();
    mutation::disable(families.clone());
    let mut checked = (0, 0);
    for (name, c) in &honest {
        let mut cs = ConstraintSystem::<Fr>::default();
        let _ = ModelCircuit::configure_with_params(&mut cs, c.params().clone());
        for gate in cs.gates() {
            for (i, poly) in gate.polynomials().iter().enumerate() {
                assert_eq!(
                    eval(poly),
                    Fr::zero(),
                    "{name}: constraint {:?} of gate {:?} is not under the mutation hook",
                    gate.constraint_name(i),
                    gate.name()
                );
                checked.0 += 1;
            }
        }
        for lookup in cs.lookups() {
            for e in lookup.input_expressions() {
                assert_eq!(
                    eval(e),
                    Fr::zero(),
                    "{name}: lookup {:?} is not under the mutation hook",
                    lookup.name()
                );
            }
            checked.1 += 1;
        }
    }
    mutation::clear();
    eprintln!(
        "{} gate constraints and {} lookups checked; families: {families:#?}",
        checked.0, checked.1
    );
    assert!(checked.0 > 0 && checked.1 > 0);
}
