//! Float-to-float graph simplification before calibration and conversion.
//!
//! Passes, repeated until nothing changes:
//! - `Identity` (and so inference-mode `Dropout`) is removed;
//! - a `QuantizeLinear -> DequantizeLinear` pair on an activation is removed and its scale
//!   recorded as a [`ActScale`] of the quantized tensor (pre-quantized QDQ models); once
//!   nothing else changes, a scale recorded after a wiring or clamping op is moved to the op
//!   that computes the values (see `qdq.rs`);
//! - `DynamicQuantizeLinear` in the patterns `quantize_dynamic` emits is removed: its tensor
//!   gets a calibrated static scale like any other, and its name is listed in
//!   [`Folded::dynamic`];
//! - `Gemm` with constant weights becomes *canonical* (`alpha = beta = 1`, `trans_b`, weight
//!   `[N, K]`, bias `[N]`); a bias that is not per column is split off into an `Add`;
//!   `MatMul` by a constant 2-D matrix becomes a canonical `Gemm` (with reshapes around it
//!   for inputs of rank above 2); `Conv` always gets a bias;
//! - `BatchNormalization` after a canonical `Conv`/`Gemm` whose output has no other consumer
//!   is folded into its weights; any other one becomes `Mul` and `Add` by per-channel constants;
//! - `Mul`/`Div`/`Add`/`Sub` by a per-channel constant after such a `Conv`/`Gemm` is folded
//!   into its weights and bias;
//! - nodes whose inputs are all constant are evaluated.
//!
//! Every node of the result remembers the id of the node of the original graph it comes from
//! (for names and `QNode::ir_node`).

mod affine;
mod dynamic;
mod gemm;
mod qdq;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use ndarray::{ArrayD, IxDyn};
use tk_ir::ops::{Const, Op};
use tk_ir::{Graph, OutletId, Tensor};

use crate::{ActScale, QuantError, QuantResult};

/// The result of [`fold`].
#[derive(Debug, Clone)]
pub struct Folded {
    /// The simplified graph.
    pub graph: Graph,
    /// For each node of `graph`, the id of the original node it implements.
    pub origin: Vec<usize>,
    /// For each node of `graph`, the scale a QDQ pair fixed for its output, if any (`bits` is
    /// the smallest symmetric width holding the original integer type minus its zero point).
    pub overrides: Vec<Option<ActScale>>,
    /// Names of the removed `DynamicQuantizeLinear` nodes (run-time scales that calibration
    /// must replace).
    pub dynamic: Vec<String>,
}

struct DNode {
    name: String,
    op: Op,
    inputs: Vec<usize>,
    origin: usize,
}

/// A mutable copy of a graph: nodes may be rewired and appended in any order; [`Draft::build`]
/// restores a topological order.
struct Draft {
    nodes: Vec<DNode>,
    inputs: Vec<usize>,
    outputs: Vec<(usize, String)>,
    overrides: BTreeMap<usize, ActScale>,
    dynamic: Vec<String>,
}

/// Simplifies `graph` (see the module docs).
pub fn fold(graph: &Graph) -> QuantResult<Folded> {
    let mut d = Draft::from_graph(graph)?;
    for _ in 0..64 {
        let mut changed = false;
        for id in 0..d.nodes.len() {
            changed |= d.rewrite(id)?;
        }
        if !changed {
            break;
        }
    }
    d.finish_qdq()?;
    d.build()
}

/// The per-channel values of a constant `c` applied by broadcasting to a tensor of shape
/// `out` whose channel axis is 1: `c` must broadcast without growing `out` and vary at most
/// along axis 1. Returns `out[1]` values.
pub fn per_channel(c: &Tensor, out: &[usize]) -> Option<Vec<f32>> {
    let a = c.as_f32().ok()?;
    let cs = a.shape();
    let channels = *out.get(1)?;
    if cs.len() > out.len() {
        return None;
    }
    let skip = out.len() - cs.len();
    let mut along = None;
    for (k, &d) in cs.iter().enumerate() {
        let axis = k + skip;
        if d == 1 {
            continue;
        }
        if axis != 1 || d != channels {
            return None;
        }
        along = Some(k);
    }
    let flat: Vec<f32> = a.iter().copied().collect();
    if flat.is_empty() {
        return None;
    }
    Some(match along {
        None => vec![flat[0]; channels],
        Some(_) => flat,
    })
}

fn unsupported(name: &str, op: &'static str, reason: impl Into<String>) -> QuantError {
    QuantError::Unsupported {
        node: name.to_string(),
        op,
        reason: reason.into(),
    }
}

impl Draft {
    fn from_graph(g: &Graph) -> QuantResult<Draft> {
        let slot0 = |o: &OutletId| {
            if o.slot == 0 {
                Ok(o.node)
            } else {
                Err(unsupported("?", "graph", "multi-output node"))
            }
        };
        let nodes = g
            .nodes()
            .iter()
            .map(|n| {
                Ok(DNode {
                    name: n.name.clone(),
                    op: n.op.clone(),
                    inputs: n.inputs.iter().map(slot0).collect::<QuantResult<_>>()?,
                    origin: n.id,
                })
            })
            .collect::<QuantResult<_>>()?;
        Ok(Draft {
            nodes,
            inputs: g.inputs().iter().map(slot0).collect::<QuantResult<_>>()?,
            outputs: g
                .outputs()
                .iter()
                .zip(g.output_names())
                .map(|(o, n)| Ok((slot0(o)?, n.clone())))
                .collect::<QuantResult<_>>()?,
            overrides: BTreeMap::new(),
            dynamic: Vec::new(),
        })
    }

    fn add(&mut self, name: String, op: Op, inputs: Vec<usize>, origin: usize) -> usize {
        self.nodes.push(DNode {
            name,
            op,
            inputs,
            origin,
        });
        self.nodes.len() - 1
    }

    fn add_const(&mut self, name: String, value: ArrayD<f32>, origin: usize) -> usize {
        self.add(
            name,
            Op::Const(Const {
                value: Tensor::F32(value),
            }),
            vec![],
            origin,
        )
    }

    fn konst(&self, id: usize) -> Option<&ArrayD<f32>> {
        match &self.nodes[id].op {
            Op::Const(Const {
                value: Tensor::F32(a),
            }) => Some(a),
            _ => None,
        }
    }

    fn is_output(&self, id: usize) -> bool {
        self.outputs.iter().any(|(o, _)| *o == id)
    }

    /// Consumers of `id` among live nodes (a node consuming twice counts twice).
    fn consumers(&self, id: usize) -> Vec<usize> {
        let live = self.live();
        let mut out = Vec::new();
        for (j, n) in self.nodes.iter().enumerate() {
            if live[j] {
                out.extend(n.inputs.iter().filter(|&&i| i == id).map(|_| j));
            }
        }
        out
    }

    /// Whether `id` feeds exactly one node and is not a graph output.
    fn sole_consumer(&self, id: usize) -> bool {
        !self.is_output(id) && self.consumers(id).len() == 1
    }

    fn live(&self) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = self
            .outputs
            .iter()
            .map(|(o, _)| *o)
            .chain(self.inputs.iter().copied())
            .collect();
        while let Some(i) = stack.pop() {
            if !live[i] {
                live[i] = true;
                stack.extend(self.nodes[i].inputs.iter().copied());
            }
        }
        live
    }

    fn replace_uses(&mut self, old: usize, new: usize) {
        for n in &mut self.nodes {
            for i in &mut n.inputs {
                if *i == old {
                    *i = new;
                }
            }
        }
        for (o, _) in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
        if let Some(s) = self.overrides.remove(&old) {
            self.overrides.entry(new).or_insert(s);
        }
    }

    /// Shape of node `id`'s output, by re-inferring facts along the draft (small graphs of
    /// constants and a few rewritten nodes; full re-inference happens in `build`).
    fn shape(&self, id: usize) -> QuantResult<Vec<usize>> {
        Ok(self.fact(id)?.shape)
    }

    fn fact(&self, id: usize) -> QuantResult<tk_ir::Fact> {
        let mut memo: BTreeMap<usize, tk_ir::Fact> = BTreeMap::new();
        let mut stack = vec![id];
        while let Some(&i) = stack.last() {
            if memo.contains_key(&i) {
                stack.pop();
                continue;
            }
            let pending: Vec<usize> = self.nodes[i]
                .inputs
                .iter()
                .copied()
                .filter(|j| !memo.contains_key(j))
                .collect();
            if pending.is_empty() {
                let facts: Vec<&tk_ir::Fact> =
                    self.nodes[i].inputs.iter().map(|j| &memo[j]).collect();
                let fact = tk_ir::ops::OpDef::output_fact(&self.nodes[i].op, &facts)
                    .map_err(QuantError::Op)?;
                memo.insert(i, fact);
                stack.pop();
            } else {
                stack.extend(pending);
            }
        }
        Ok(memo.remove(&id).expect("computed above"))
    }

    /// Applies the first rewrite that matches node `id`; returns whether one did.
    fn rewrite(&mut self, id: usize) -> QuantResult<bool> {
        if !self.live()[id] {
            return Ok(false);
        }
        let op = self.nodes[id].op.clone();
        match op {
            Op::Identity(_) => {
                let x = self.nodes[id].inputs[0];
                self.replace_uses(id, x);
                Ok(true)
            }
            Op::DequantizeLinear(dq) => self.fold_qdq(id, dq.axis),
            Op::Gemm(g) => self.canonical_gemm(id, &g),
            Op::MatMul(_) => self.matmul_to_gemm(id),
            Op::Conv(_) if self.nodes[id].inputs.len() == 2 => {
                let m = self.shape(self.nodes[id].inputs[1])?[0];
                let b = self.add_const(
                    format!("{}/bias", self.nodes[id].name),
                    ArrayD::zeros(IxDyn(&[m])),
                    self.nodes[id].origin,
                );
                self.nodes[id].inputs.push(b);
                Ok(true)
            }
            Op::BatchNormalization(bn) => self.fold_batch_norm(id, bn),
            Op::Binary(b) => self.fold_binary(id, b.kind),
            Op::Input(_) | Op::Const(_) => Ok(false),
            _ => self.fold_constant(id),
        }
    }

    fn fold_constant(&mut self, id: usize) -> QuantResult<bool> {
        let n = &self.nodes[id];
        if n.inputs.is_empty()
            || !n
                .inputs
                .iter()
                .all(|&i| matches!(self.nodes[i].op, Op::Const(_)))
        {
            return Ok(false);
        }
        let args: Vec<&Tensor> = n
            .inputs
            .iter()
            .map(|&i| match &self.nodes[i].op {
                Op::Const(c) => &c.value,
                _ => unreachable!("checked above"),
            })
            .collect();
        let value = tk_ir::ops::OpDef::eval(&n.op, &args)?;
        self.nodes[id].op = Op::Const(Const { value });
        self.nodes[id].inputs.clear();
        Ok(true)
    }

    /// Rebuilds a graph of the live nodes in a topological order (ready nodes by increasing
    /// draft index, graph inputs first in their order).
    fn build(self) -> QuantResult<Folded> {
        let live = self.live();
        let count = self.nodes.len();
        let mut pending: Vec<usize> = self.nodes.iter().map(|n| n.inputs.len()).collect();
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (j, n) in self.nodes.iter().enumerate() {
            if live[j] {
                for &i in &n.inputs {
                    users[i].push(j);
                }
            }
        }
        let mut map: Vec<Option<usize>> = vec![None; count];
        let mut graph = Graph::new();
        let mut origin = Vec::new();
        let mut overrides = Vec::new();
        let mut emit =
            |graph: &mut Graph, j: usize, map: &mut Vec<Option<usize>>| -> QuantResult<()> {
                let n = &self.nodes[j];
                let outlet = match &n.op {
                    Op::Input(input) => graph.add_input(n.name.clone(), input.fact.clone())?,
                    op => {
                        let inputs: Vec<OutletId> = n
                            .inputs
                            .iter()
                            .map(|&i| OutletId::new(map[i].expect("inputs emitted first")))
                            .collect();
                        graph.add_node(n.name.clone(), op.clone(), &inputs)?
                    }
                };
                map[j] = Some(outlet.node);
                origin.push(n.origin);
                overrides.push(self.overrides.get(&j).copied());
                Ok(())
            };
        for &i in &self.inputs {
            emit(&mut graph, i, &mut map)?;
        }
        let mut ready: BinaryHeap<Reverse<usize>> = (0..count)
            .filter(|&j| live[j] && pending[j] == 0 && map[j].is_none())
            .map(Reverse)
            .collect();
        for &i in &self.inputs {
            for &u in &users[i] {
                pending[u] -= 1;
                if pending[u] == 0 {
                    ready.push(Reverse(u));
                }
            }
        }
        while let Some(Reverse(j)) = ready.pop() {
            if map[j].is_some() {
                continue;
            }
            emit(&mut graph, j, &mut map)?;
            for &u in &users[j] {
                pending[u] -= 1;
                if pending[u] == 0 {
                    ready.push(Reverse(u));
                }
            }
        }
        for (o, name) in &self.outputs {
            let node = map[*o]
                .ok_or_else(|| unsupported(name, "graph", "output not reachable (cycle?)"))?;
            graph.add_output(name.clone(), OutletId::new(node))?;
        }
        Ok(Folded {
            graph,
            origin,
            overrides,
            dynamic: self.dynamic,
        })
    }
}

fn op_err(e: ndarray::ShapeError) -> QuantError {
    QuantError::Op(tk_ir::OpError::new(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tk_ir::ops::binary::BinaryKind;
    use tk_ir::ops::{BatchNormalization, Binary, Conv, Identity, Relu};
    use tk_ir::{Fact, eval::eval};

    fn t(shape: &[usize], data: Vec<f32>) -> Tensor {
        Tensor::from_f32(shape, data).unwrap()
    }

    #[test]
    fn per_channel_detection() {
        assert_eq!(
            per_channel(&t(&[1], vec![2.0]), &[1, 3, 4, 4]),
            Some(vec![2.0; 3])
        );
        assert_eq!(
            per_channel(&t(&[3, 1, 1], vec![1.0, 2.0, 3.0]), &[1, 3, 4, 4]),
            Some(vec![1.0, 2.0, 3.0])
        );
        assert_eq!(per_channel(&t(&[4], vec![0.0; 4]), &[1, 3, 4, 4]), None);
        assert_eq!(
            per_channel(&t(&[3], vec![1.0, 2.0, 3.0]), &[1, 3]),
            Some(vec![1.0, 2.0, 3.0])
        );
        assert_eq!(per_channel(&t(&[2, 3], vec![0.0; 6]), &[1, 3]), None);
    }

    #[test]
    fn conv_bn_mul_identity_fold_into_one_conv() {
        let mut g = Graph::new();
        let x = g.add_input("x", Fact::f32([1, 2, 4, 4])).unwrap();
        let w = g
            .add_const(
                "w",
                t(
                    &[3, 2, 3, 3],
                    (0..54).map(|i| (i as f32 * 0.37).sin()).collect(),
                ),
            )
            .unwrap();
        let conv = Conv {
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
            group: 1,
        };
        let y = g.add_node("conv", conv.into(), &[x, w]).unwrap();
        let p: Vec<_> = [
            [1.0, 0.5, 2.0],
            [0.1, -0.2, 0.3],
            [0.0, 0.1, -0.1],
            [1.0, 4.0, 0.25],
        ]
        .iter()
        .enumerate()
        .map(|(i, v)| g.add_const(format!("p{i}"), t(&[3], v.to_vec())).unwrap())
        .collect();
        let bn = g
            .add_node(
                "bn",
                BatchNormalization { epsilon: 1e-5 }.into(),
                &[y, p[0], p[1], p[2], p[3]],
            )
            .unwrap();
        let id = g.add_node("id", Identity.into(), &[bn]).unwrap();
        let c = g.add_const("c", t(&[], vec![0.5])).unwrap();
        let m = g
            .add_node(
                "mul",
                Binary {
                    kind: BinaryKind::Mul,
                }
                .into(),
                &[c, id],
            )
            .unwrap();
        let r = g.add_node("relu", Relu.into(), &[m]).unwrap();
        g.add_output("y", r).unwrap();
        let folded = fold(&g).unwrap();
        let ops: Vec<&str> = folded
            .graph
            .nodes()
            .iter()
            .map(|n| tk_ir::ops::OpDef::name(&n.op))
            .collect();
        assert_eq!(ops, ["Input", "Const", "Const", "Conv", "Relu"]);
        assert_eq!(folded.origin[3], 2);
        let input = t(
            &[1, 2, 4, 4],
            (0..32).map(|i| (i as f32 * 0.21).cos()).collect(),
        );
        let a = eval(&g, std::slice::from_ref(&input)).unwrap();
        let b = eval(&folded.graph, &[input]).unwrap();
        let (a, b) = (a[0].as_f32().unwrap(), b[0].as_f32().unwrap());
        assert!(a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-5));
    }
}
