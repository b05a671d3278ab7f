//! Per-channel affine maps after a `Conv`/`Gemm`: `BatchNormalization` and `Mul`/`Div`/`Add`/
//! `Sub` by a per-channel constant, folded into the layer's weights and bias; a
//! `BatchNormalization` that cannot be folded becomes `Mul` and `Add` by constants.

use ndarray::{ArrayD, Axis, IxDyn};
use tk_ir::Tensor;
use tk_ir::ops::binary::BinaryKind;
use tk_ir::ops::{Binary, Op};

use super::{Draft, op_err, per_channel, unsupported};
use crate::QuantResult;

impl Draft {
    /// The canonical Conv/Gemm producing `id`'s input `x`, when `id` is its only consumer:
    /// `(producer, weight, bias)`.
    fn foldable_producer(&self, x: usize) -> Option<(usize, ArrayD<f32>, ArrayD<f32>)> {
        let p = &self.nodes[x];
        let canonical = match &p.op {
            Op::Conv(_) => p.inputs.len() == 3,
            Op::Gemm(g) => {
                g.alpha == 1.0 && g.beta == 1.0 && g.trans_b && !g.trans_a && p.inputs.len() == 3
            }
            _ => false,
        };
        if !canonical || !self.sole_consumer(x) {
            return None;
        }
        let w = self.konst(p.inputs[1])?.clone();
        let b = self.konst(p.inputs[2])?.clone();
        (b.ndim() == 1 && b.len() == w.shape()[0]).then_some((x, w, b))
    }

    /// Rewrites the producer's weights to `w[c] * m[c]`, bias to `b[c] * m[c] + o[c]`.
    fn scale_producer(
        &mut self,
        p: usize,
        mut w: ArrayD<f32>,
        mut b: ArrayD<f32>,
        m: &[f32],
        o: &[f32],
    ) -> QuantResult<()> {
        for (c, mut row) in w.axis_iter_mut(Axis(0)).enumerate() {
            row.mapv_inplace(|v| v * m[c]);
        }
        for (c, v) in b.iter_mut().enumerate() {
            *v = *v * m[c] + o[c];
        }
        let (name, origin) = (self.nodes[p].name.clone(), self.nodes[p].origin);
        let w_id = self.add_const(format!("{name}/weight"), w, origin);
        let b_id = self.add_const(format!("{name}/bias"), b, origin);
        self.nodes[p].inputs[1] = w_id;
        self.nodes[p].inputs[2] = b_id;
        Ok(())
    }

    pub(super) fn fold_batch_norm(
        &mut self,
        id: usize,
        bn: tk_ir::ops::BatchNormalization,
    ) -> QuantResult<bool> {
        let n = &self.nodes[id];
        let (name, origin, inputs) = (n.name.clone(), n.origin, n.inputs.clone());
        let params: Vec<Vec<f32>> = inputs[1..]
            .iter()
            .map(|&i| self.konst(i).map(|a| a.iter().copied().collect()))
            .collect::<Option<_>>()
            .ok_or_else(|| unsupported(&name, "BatchNormalization", "non-constant parameters"))?;
        let (m, o): (Vec<f32>, Vec<f32>) = (0..params[0].len())
            .map(|c| bn.fold(params[0][c], params[1][c], params[2][c], params[3][c]))
            .unzip();
        if let Some((p, w, b)) = self.foldable_producer(inputs[0]) {
            self.scale_producer(p, w, b, &m, &o)?;
            self.replace_uses(id, p);
            return Ok(true);
        }
        let rank = self.shape(inputs[0])?.len();
        let mut shape = vec![1; rank];
        shape[1] = m.len();
        let to_array = |v: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(op_err);
        let m_id = self.add_const(format!("{name}/scale"), to_array(m)?, origin);
        let o_id = self.add_const(format!("{name}/shift"), to_array(o)?, origin);
        let mul = self.add(
            format!("{name}/mul"),
            Op::Binary(Binary {
                kind: BinaryKind::Mul,
            }),
            vec![inputs[0], m_id],
            origin,
        );
        self.nodes[id].op = Op::Binary(Binary {
            kind: BinaryKind::Add,
        });
        self.nodes[id].inputs = vec![mul, o_id];
        self.nodes[id].name = format!("{name}/add");
        Ok(true)
    }

    /// Folds `p op c` (per-channel constant `c`) into a canonical producer `p`.
    pub(super) fn fold_binary(&mut self, id: usize, kind: BinaryKind) -> QuantResult<bool> {
        if self.fold_constant(id)? {
            return Ok(true);
        }
        let inputs = self.nodes[id].inputs.clone();
        let sides: &[(usize, usize)] = match kind {
            BinaryKind::Add | BinaryKind::Mul => &[(0, 1), (1, 0)],
            BinaryKind::Sub | BinaryKind::Div => &[(0, 1)],
        };
        for &(xi, ci) in sides {
            let Some(c) = self.konst(inputs[ci]).cloned() else {
                continue;
            };
            let Some((p, w, b)) = self.foldable_producer(inputs[xi]) else {
                continue;
            };
            let out = self.shape(p)?;
            let Some(v) = per_channel(&Tensor::F32(c), &out) else {
                continue;
            };
            let ones = vec![1.0; v.len()];
            let zeros = vec![0.0; v.len()];
            match kind {
                BinaryKind::Mul => self.scale_producer(p, w, b, &v, &zeros)?,
                BinaryKind::Div => {
                    if v.contains(&0.0) {
                        continue;
                    }
                    let inv: Vec<f32> = v.iter().map(|x| 1.0 / x).collect();
                    self.scale_producer(p, w, b, &inv, &zeros)?
                }
                BinaryKind::Add => self.scale_producer(p, w, b, &ones, &v)?,
                BinaryKind::Sub => {
                    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
                    self.scale_producer(p, w, b, &ones, &neg)?
                }
            }
            self.replace_uses(id, p);
            return Ok(true);
        }
        Ok(false)
    }
}
