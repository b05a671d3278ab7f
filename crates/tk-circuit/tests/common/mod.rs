//! Shared test support: a model builder, an integer executor written directly from
//! `docs/spec/integer-ops.md` (independent of the crate's own reference code), and helpers
//! that assert exactly which constraints fail.
#![allow(dead_code)]

use tk_circuit::chips::mdot::MultiDotShape;
use tk_circuit::prelude::*;
use tk_quant::ops::QOp;
use tk_quant::{QGraph, QModel, QNode, QTensor};

/// Builds small models node by node.
#[derive(Default)]
pub struct Builder {
    nodes: Vec<QNode>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
}

impl Builder {
    pub fn input(&mut self, shape: &[usize], bits: u8) -> usize {
        let id = self.op("x", QOp::Input(tk_quant::ops::Input {}), &[], shape, bits);
        self.inputs.push(id);
        id
    }

    pub fn op(
        &mut self,
        name: &str,
        op: QOp,
        inputs: &[usize],
        shape: &[usize],
        bits: u8,
    ) -> usize {
        let id = self.nodes.len();
        self.nodes.push(QNode {
            id,
            name: name.to_string(),
            ir_node: None,
            op,
            inputs: inputs.to_vec(),
            shape: shape.to_vec(),
            bits,
        });
        id
    }

    pub fn output(&mut self, id: usize) {
        self.outputs.push(id);
    }

    pub fn build(self) -> QModel {
        QModel {
            spec_version: tk_quant::INTEGER_SPEC_VERSION,
            producer: "tk-circuit tests".into(),
            source_digest: String::new(),
            graph: QGraph {
                nodes: self.nodes,
                inputs: self.inputs,
                outputs: self.outputs,
            },
            scales: Vec::new(),
        }
    }
}

pub fn tensor(shape: &[usize], data: Vec<i32>) -> QTensor {
    QTensor::new(shape.to_vec(), data).expect("shape matches data")
}

/// A deterministic pseudo-random vector in `[lo, hi]`.
pub fn values(n: usize, lo: i32, hi: i32, seed: u64) -> Vec<i32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + ((s >> 33) % (hi - lo + 1) as u64) as i32
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Integer executor, straight from the spec.

fn round_shift(v: i128, s: u8) -> i128 {
    if s == 0 {
        v
    } else {
        (v + (1i128 << (s - 1))) >> s
    }
}

fn requant(acc: i128, m: i32, s: u8, lo: i32, hi: i32) -> i32 {
    round_shift(acc * i128::from(m), s).clamp(lo.into(), hi.into()) as i32
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for k in (0..shape.len()).rev() {
        idx[k] = i % shape[k];
        i /= shape[k];
    }
    idx
}

fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

fn bcast(out: &[usize], t: &QTensor) -> i32 {
    let lead = out.len() - t.shape.len();
    let idx: Vec<usize> = t
        .shape
        .iter()
        .enumerate()
        .map(|(k, &d)| if d == 1 { 0 } else { out[lead + k] })
        .collect();
    t.data[ravel(&idx, &t.shape)]
}

/// A Gemm `[n, k]` with seeded weights in `[-90, 90]`, biases in `[-2000, 2000]` and one
/// requantization pair `(1.5e9, shift)`.
pub fn gemm_op(k: usize, n: usize, seed: u64, shift: u8) -> QOp {
    QOp::Gemm(tk_quant::ops::Gemm {
        weight: tensor(&[n, k], values(n * k, -90, 90, seed)),
        bias: values(n, -2000, 2000, seed + 1),
        requant: tk_quant::ops::Requant {
            multipliers: vec![1_500_000_000],
            shifts: vec![shift],
            clamp: None,
        },
    })
}

/// Runs the model; returns every node's output.
pub fn execute(model: &QModel, inputs: &[QTensor]) -> Vec<QTensor> {
    let g = &model.graph;
    let mut out: Vec<QTensor> = Vec::new();
    for node in &g.nodes {
        let x = |i: usize| &out[node.inputs[i]];
        // The final clamp: the output range, or a fused clamp.
        let (lo, hi) = node.clamp_bounds();
        let n_out: usize = node.shape.iter().product();
        let data: Vec<i32> = match &node.op {
            QOp::Input(_) => {
                let k = g.inputs.iter().position(|&i| i == node.id).unwrap();
                inputs[k].data.clone()
            }
            QOp::Const(c) => c.value.data.clone(),
            QOp::Conv(op) => {
                let xs = &x(0).shape;
                let ws = &op.weight.shape;
                let (c, h, w) = (xs[1], xs[2], xs[3]);
                let (m, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
                (0..n_out)
                    .map(|e| {
                        let o = unravel(e, &node.shape);
                        let (b, oc, oy, ox) = (o[0], o[1], o[2], o[3]);
                        let g0 = oc / (m / op.group) * cg;
                        let mut acc = i128::from(op.bias[oc]);
                        for ci in 0..cg {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy * op.strides[0] + i * op.dilations[0]) as isize
                                        - op.pads[0] as isize;
                                    let ix = (ox * op.strides[1] + j * op.dilations[1]) as isize
                                        - op.pads[1] as isize;
                                    if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                                        continue;
                                    }
                                    let xv = x(0).data[ravel(
                                        &[b, g0 + ci, iy as usize, ix as usize],
                                        &[xs[0], c, h, w],
                                    )];
                                    let wv = op.weight.data[ravel(&[oc, ci, i, j], ws)];
                                    acc += i128::from(xv) * i128::from(wv);
                                }
                            }
                        }
                        let (mm, s) = op.requant.for_channel(oc);
                        requant(acc, mm, s, lo, hi)
                    })
                    .collect()
            }
            QOp::Gemm(op) => {
                let k = x(0).shape[1];
                let n = op.weight.shape[0];
                (0..n_out)
                    .map(|e| {
                        let (r, col) = (e / n, e % n);
                        let acc = (0..k).fold(i128::from(op.bias[col]), |a, i| {
                            a + i128::from(x(0).data[r * k + i])
                                * i128::from(op.weight.data[col * k + i])
                        });
                        let (m, s) = op.requant.for_channel(col);
                        requant(acc, m, s, lo, hi)
                    })
                    .collect()
            }
            QOp::Add(op) => (0..n_out)
                .map(|e| {
                    let o = unravel(e, &node.shape);
                    let (a, b) = (bcast(&o, x(0)), bcast(&o, x(1)));
                    let v = i128::from(a) * i128::from(op.ma) + i128::from(b) * i128::from(op.mb);
                    round_shift(v, op.shift).clamp(lo.into(), hi.into()) as i32
                })
                .collect(),
            QOp::Mul(op) => (0..n_out)
                .map(|e| {
                    let o = unravel(e, &node.shape);
                    let (a, b) = (bcast(&o, x(0)), bcast(&o, x(1)));
                    requant(i128::from(a) * i128::from(b), op.m, op.shift, lo, hi)
                })
                .collect(),
            QOp::Rescale(op) => (0..n_out)
                .map(|e| {
                    let c = if node.shape.len() >= 2 {
                        unravel(e, &node.shape)[1]
                    } else {
                        0
                    };
                    let (m, s) = op.requant.for_channel(c);
                    requant(x(0).data[e].into(), m, s, lo, hi)
                })
                .collect(),
            QOp::Clip(op) => x(0).data.iter().map(|&v| v.clamp(op.lo, op.hi)).collect(),
            QOp::Lut(op) => x(0)
                .data
                .iter()
                .map(|&v| op.table[(v - op.in_lo) as usize])
                .collect(),
            QOp::MaxPool(op) => pool(x(0), &node.shape, &op.geometry, |w, _| {
                *w.iter().max().unwrap()
            }),
            QOp::AvgPool(op) => pool(x(0), &node.shape, &op.geometry, |w, _| {
                let count = if op.count_include_pad {
                    op.geometry.kernel[0] * op.geometry.kernel[1]
                } else {
                    w.len()
                };
                let sum: i128 = w.iter().map(|&v| i128::from(v)).sum();
                requant(sum, op.multipliers[count], op.shift, lo, hi)
            }),
            QOp::Reshape(_) => x(0).data.clone(),
            QOp::Transpose(op) => (0..n_out)
                .map(|e| {
                    let o = unravel(e, &node.shape);
                    let mut i = vec![0; o.len()];
                    for (k, &p) in op.perm.iter().enumerate() {
                        i[p] = o[k];
                    }
                    x(0).data[ravel(&i, &x(0).shape)]
                })
                .collect(),
            QOp::Pad(op) => {
                let r = x(0).shape.len();
                (0..n_out)
                    .map(|e| {
                        let o = unravel(e, &node.shape);
                        let mut i = Vec::with_capacity(r);
                        for (k, &ok) in o.iter().enumerate() {
                            let v = ok as isize - op.pads[k] as isize;
                            if v < 0 || v as usize >= x(0).shape[k] {
                                return 0;
                            }
                            i.push(v as usize);
                        }
                        x(0).data[ravel(&i, &x(0).shape)]
                    })
                    .collect()
            }
            QOp::Concat(op) => (0..n_out)
                .map(|e| {
                    let mut o = unravel(e, &node.shape);
                    let mut j = 0;
                    while o[op.axis] >= x(j).shape[op.axis] {
                        o[op.axis] -= x(j).shape[op.axis];
                        j += 1;
                    }
                    x(j).data[ravel(&o, &x(j).shape)]
                })
                .collect(),
            QOp::Slice(op) => (0..n_out)
                .map(|e| {
                    let o = unravel(e, &node.shape);
                    let i: Vec<usize> = o
                        .iter()
                        .enumerate()
                        .map(|(k, &v)| (op.starts[k] as i64 + v as i64 * op.steps[k]) as usize)
                        .collect();
                    x(0).data[ravel(&i, &x(0).shape)]
                })
                .collect(),
            QOp::Resize(op) => (0..n_out)
                .map(|e| {
                    let o = unravel(e, &node.shape);
                    let i: Vec<usize> = o.iter().zip(&op.scales).map(|(&v, &s)| v / s).collect();
                    x(0).data[ravel(&i, &x(0).shape)]
                })
                .collect(),
            QOp::Softmax(op) => {
                let xs = &x(0).shape;
                let len = xs[op.axis];
                let inner: usize = xs[op.axis + 1..].iter().product();
                let last = op.exp_table.len() - 1;
                (0..n_out)
                    .map(|e| {
                        let (o, i) = (e / (len * inner), e % inner);
                        let row: Vec<i64> = (0..len)
                            .map(|j| i64::from(x(0).data[(o * len + j) * inner + i]))
                            .collect();
                        let max = *row.iter().max().unwrap();
                        let exp = |v: i64| i128::from(op.exp_table[((max - v) as usize).min(last)]);
                        let sum: i128 = row.iter().map(|&v| exp(v)).sum();
                        let v = exp(i64::from(x(0).data[e])) << op.frac_bits;
                        // div_round(v, S) = floor((2v + S) / (2S)), then min(., hi).
                        ((2 * v + sum).div_euclid(2 * sum)).min(hi.into()) as i32
                    })
                    .collect()
            }
        };
        out.push(tensor(&node.shape, data));
    }
    out
}

fn pool(
    x: &QTensor,
    out_shape: &[usize],
    g: &tk_quant::ops::PoolGeometry,
    f: impl Fn(&[i32], usize) -> i32,
) -> Vec<i32> {
    let n_out: usize = out_shape.iter().product();
    let (h, w) = (x.shape[2], x.shape[3]);
    (0..n_out)
        .map(|e| {
            let o = unravel(e, out_shape);
            let mut window = Vec::new();
            for i in 0..g.kernel[0] {
                for j in 0..g.kernel[1] {
                    let iy = (o[2] * g.strides[0] + i) as isize - g.pads[0] as isize;
                    let ix = (o[3] * g.strides[1] + j) as isize - g.pads[1] as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                        window
                            .push(x.data[ravel(&[o[0], o[1], iy as usize, ix as usize], &x.shape)]);
                    }
                }
            }
            f(&window, e)
        })
        .collect()
}

/// One witness per node from an execution.
pub fn witnesses<'a>(model: &'a QModel, values: &[QTensor]) -> Vec<OpWitness<'a>> {
    model
        .graph
        .nodes
        .iter()
        .map(|node| OpWitness {
            node,
            inputs: node.inputs.iter().map(|&p| values[p].clone()).collect(),
            output: values[node.id].clone(),
        })
        .collect()
}

/// Executes the model on `inputs` and builds its (checked) circuit.
pub fn circuit(model: &QModel, inputs: &[QTensor]) -> ModelCircuit {
    circuit_with(model, inputs, &PlanOptions::default())
}

pub fn circuit_with(model: &QModel, inputs: &[QTensor], opts: &PlanOptions) -> ModelCircuit {
    let values = execute(model, inputs);
    ModelCircuit::new(model, &witnesses(model, &values), opts).expect("circuit builds")
}

// ---------------------------------------------------------------------------------------
// Failure assertions.

/// MockProver failures as text (`Constraint .. in gate .. in Region ..`, `Lookup ..`,
/// `Equality constraint ..`).
pub fn failures(c: &ModelCircuit) -> Vec<String> {
    failures_with(c, c.instance().to_vec())
}

pub fn failures_with(c: &ModelCircuit, instance: Vec<Fr>) -> Vec<String> {
    match c
        .mock_prover_with(instance)
        .expect("mock prover runs")
        .verify()
    {
        Ok(()) => Vec::new(),
        Err(f) => f.iter().map(|f| annotate(c, &f.to_string())).collect(),
    }
}

fn number_after(text: &str, key: &str) -> Option<usize> {
    let rest = &text[text.find(key)? + key.len()..];
    let digits: String = rest.chars().take_while(|ch| ch.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// halo2-axiom's MockProver names a failure's region only when the failing expression reads
/// a fixed column; otherwise it prints `outside any region, on row N`. This appends
/// `[in <region>]` from the circuit's own row map (main columns) or `[in range lanes]` /
/// `[in instance]` from the column.
fn annotate(c: &ModelCircuit, text: &str) -> String {
    let Some(row) = number_after(text, "outside any region, on row ") else {
        return text.to_string();
    };
    let p = c.params();
    let zone = if text.contains("Column('Instance'") {
        Some("instance".to_string())
    } else {
        number_after(text, "Column('Advice', ").and_then(|col| {
            if col <= p.width {
                c.regions()
                    .iter()
                    .find(|r| r.rows.contains(&row))
                    .map(|r| r.name.clone())
            } else if col <= p.width + p.lanes {
                Some("range lanes".to_string())
            } else {
                None
            }
        })
    };
    match zone {
        Some(z) => format!("{text} [in {z}]"),
        None => text.to_string(),
    }
}

pub fn assert_satisfied(c: &ModelCircuit) {
    let f = failures(c);
    assert!(f.is_empty(), "expected no failure, got:\n{}", f.join("\n"));
}

/// Every pattern (all its substrings in one failure) matches some failure, and every failure
/// matches some pattern: exactly these constraints fail.
pub fn assert_fails_exactly(fails: &[String], patterns: &[&[&str]]) {
    assert!(
        !fails.is_empty(),
        "expected failures matching {patterns:?}, the circuit is satisfied"
    );
    let matches = |f: &String, p: &[&str]| p.iter().all(|s| f.contains(s));
    for p in patterns {
        assert!(
            fails.iter().any(|f| matches(f, p)),
            "no failure matches {p:?}; failures:\n{}",
            fails.join("\n")
        );
    }
    for f in fails {
        assert!(
            patterns.iter().any(|p| matches(f, p)),
            "unexpected failure:\n{f}\n(expected only {patterns:?})"
        );
    }
}

/// The instance of `c` with output element `index` (flat, over all outputs) set to `value`.
pub fn instance_with_output(c: &ModelCircuit, model: &QModel, index: usize, value: i64) -> Vec<Fr> {
    let mut inst = c.instance().to_vec();
    let inputs: usize = model
        .graph
        .inputs
        .iter()
        .map(|&i| model.graph.nodes[i].shape.iter().product::<usize>())
        .sum();
    inst[inputs + index] = fe(value.into());
    inst
}

pub fn time<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let (t, cpu) = (std::time::Instant::now(), cpu_seconds());
    let out = f();
    let used = cpu_seconds()
        .zip(cpu)
        .map_or(String::new(), |(b, a)| format!(" (cpu {:.2} s)", b - a));
    eprintln!("[timing] {label}: {:.3} s{used}", t.elapsed().as_secs_f64());
    out
}

/// CPU time (user + system, all threads) of this process so far, where `/proc` has it: a
/// cost measure that a busy machine disturbs less than wall-clock time.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Clock ticks of 1/100 s (USER_HZ on Linux).
    Some(ticks as f64 / 100.0)
}

// ---------------------------------------------------------------------------------------
// Witness access for tampering.

use tk_circuit::{OpKind, RequantJob};

/// The requant job for output element `e` of node `node`.
pub fn requant_job(c: &mut ModelCircuit, node: usize, e: usize) -> &mut RequantJob {
    match &mut c.ops_mut()[node].kind {
        OpKind::Dot { requant, .. } => &mut requant[e],
        OpKind::Requant { items } => &mut items[e],
        other => panic!("node {node} has no requant job: {other:?}"),
    }
}

/// Limbs of `v` for the circuit's limb width.
pub fn limbs(c: &ModelCircuit, v: u128, n: usize) -> Vec<Fr> {
    tk_circuit::chips::decompose(v, n, c.params().range_bits).expect("value fits")
}

/// Re-encodes decoded trace frames (header, then inputs and records in order) with a correct
/// footer: the counts and the digest of everything before it.
pub fn encode_trace(header: &tk_trace::Header, frames: &[tk_trace::Frame]) -> Vec<u8> {
    let mut out = tk_trace::MAGIC.to_vec();
    out.extend(tk_trace::FORMAT_MAJOR.to_le_bytes());
    let put = |out: &mut Vec<u8>, bytes: Vec<u8>| {
        out.extend((bytes.len() as u32).to_le_bytes());
        out.extend(bytes);
    };
    put(&mut out, rmp_serde::to_vec_named(header).unwrap());
    let (mut records, mut inputs) = (0, 0);
    for frame in frames {
        match frame {
            tk_trace::Frame::Input(i) => {
                inputs += 1;
                put(&mut out, rmp_serde::to_vec_named(i).unwrap());
            }
            tk_trace::Frame::Record(r) => {
                records += 1;
                put(&mut out, rmp_serde::to_vec_named(r).unwrap());
            }
        }
    }
    let footer = tk_trace::Footer {
        kind: tk_trace::Kind::Footer,
        record_count: records,
        input_count: inputs,
        digest: tk_trace::ModelDigest::of_bytes(&out).to_hex(),
    };
    put(&mut out, rmp_serde::to_vec_named(&footer).unwrap());
    out
}

/// `y = clip(x, -20, 30)` on 40 int8 values with its input and output committed (segment
/// boundaries), a sample input, and the planner options that commit them.
pub fn committed_clip_model() -> (QModel, Vec<QTensor>, PlanOptions) {
    let mut b = Builder::default();
    let x = b.input(&[1, 40], 8);
    let clip = tk_quant::ops::Clip { lo: -20, hi: 30 };
    let y = b.op("clip", QOp::Clip(clip), &[x], &[1, 40], 8);
    b.output(y);
    let opts = PlanOptions {
        commit: std::collections::BTreeSet::from([x, y]),
        ..PlanOptions::default()
    };
    (
        b.build(),
        vec![tensor(&[1, 40], values(40, -128, 127, 3))],
        opts,
    )
}

/// 10 activations and 4 outputs per row: a 3x3 conv over 3 channels (27 taps, 3 rows) with 8
/// output channels (2 chunks), and a Gemm of 20 (2 rows) with 6 outputs (2 chunks) per row of x.
pub const MDOT_SHAPE: MultiDotShape = MultiDotShape {
    inputs: 10,
    outputs: 4,
};

/// x [1, 3, 5, 5] -> Conv 3x3 pad 1 (8 channels, some zero weights), laid out with
/// [`MDOT_SHAPE`] by [`mdot_options`].
pub fn mdot_conv_model() -> (QModel, Vec<QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 3, 5, 5], 8);
    let mut w = values(8 * 27, -100, 100, 11);
    // Output channel 2 has no weight on input channel 0: its taps are a strict subset.
    for v in &mut w[2 * 27..2 * 27 + 9] {
        *v = 0;
    }
    // Every other channel weighs taps (0, 0) and (0, 1) of input channel 0 equally.
    for c in (0..8).filter(|&c| c != 2) {
        w[c * 27] = 7 + c as i32;
        w[c * 27 + 1] = 7 + c as i32;
    }
    let op = tk_quant::ops::Conv {
        strides: [1, 1],
        pads: [1, 1, 1, 1],
        dilations: [1, 1],
        group: 1,
        weight: tensor(&[8, 3, 3, 3], w),
        bias: values(8, -3000, 3000, 12),
        requant: tk_quant::ops::Requant {
            multipliers: vec![1_200_000_000],
            shifts: vec![38],
            clamp: None,
        },
    };
    let y = b.op("conv", QOp::Conv(op), &[x], &[1, 8, 5, 5], 8);
    b.output(y);
    (
        b.build(),
        vec![tensor(&[1, 3, 5, 5], values(75, -128, 127, 13))],
    )
}

/// Plans with rows of 24 columns and [`MDOT_SHAPE`].
pub fn mdot_options() -> PlanOptions {
    PlanOptions {
        width: Some(24),
        mdot: Some(Some(MDOT_SHAPE)),
        ..Default::default()
    }
}
