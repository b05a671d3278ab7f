//! `Gemm` canonicalization and `MatMul` by a constant matrix to `Gemm`.

use ndarray::{ArrayD, IxDyn};
use tk_ir::Tensor;
use tk_ir::ops::binary::BinaryKind;
use tk_ir::ops::{Binary, Gemm, Op, Reshape};

use super::{Draft, op_err, per_channel};
use crate::QuantResult;

impl Draft {
    /// Makes a Gemm with constant `B` canonical; returns whether it changed anything.
    pub(super) fn canonical_gemm(&mut self, id: usize, g: &Gemm) -> QuantResult<bool> {
        let n = &self.nodes[id];
        let (name, origin, inputs) = (n.name.clone(), n.origin, n.inputs.clone());
        let Some(b) = self.konst(inputs[1]).cloned() else {
            return Ok(false);
        };
        let c = match inputs.get(2) {
            Some(&c) => match self.konst(c) {
                Some(c) => Some(c.clone()),
                None => return Ok(false),
            },
            None => None,
        };
        let canonical = g.alpha == 1.0
            && g.beta == 1.0
            && g.trans_b
            && !g.trans_a
            && c.as_ref().is_some_and(|c| c.shape() == [b.shape()[0]]);
        if canonical || g.trans_a {
            return Ok(false);
        }
        let w = if g.trans_b {
            b
        } else {
            b.reversed_axes().as_standard_layout().into_owned()
        };
        let w = w.mapv(|v| v * g.alpha);
        let cols = w.shape()[0];
        let mut add_after = None;
        let bias = match c {
            None => ArrayD::zeros(IxDyn(&[cols])),
            Some(c) => match per_channel(&Tensor::F32(c.clone()), &[1, cols]) {
                Some(v) if c.ndim() <= 2 && (c.ndim() < 2 || c.shape()[0] == 1) => {
                    ArrayD::from_shape_vec(IxDyn(&[cols]), v.iter().map(|x| x * g.beta).collect())
                        .map_err(op_err)?
                }
                _ => {
                    add_after = Some(c.mapv(|v| v * g.beta));
                    ArrayD::zeros(IxDyn(&[cols]))
                }
            },
        };
        let w_id = self.add_const(format!("{name}/weight"), w, origin);
        let b_id = self.add_const(format!("{name}/bias"), bias, origin);
        self.nodes[id].op = Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        });
        self.nodes[id].inputs = vec![inputs[0], w_id, b_id];
        if let Some(c) = add_after {
            let c_id = self.add_const(format!("{name}/c"), c, origin);
            let add = self.add(
                format!("{name}/add_c"),
                Op::Binary(Binary {
                    kind: BinaryKind::Add,
                }),
                vec![id, c_id],
                origin,
            );
            self.replace_uses(id, add);
            self.nodes[add].inputs[0] = id;
        }
        Ok(true)
    }

    /// `MatMul(x, W)` with constant 2-D `W [K, N]` becomes a canonical Gemm (with reshapes
    /// to and from 2-D when `x` has rank above 2).
    pub(super) fn matmul_to_gemm(&mut self, id: usize) -> QuantResult<bool> {
        let n = &self.nodes[id];
        let (name, origin, x, w_in) = (n.name.clone(), n.origin, n.inputs[0], n.inputs[1]);
        let Some(w) = self.konst(w_in).cloned() else {
            return Ok(false);
        };
        let xs = self.shape(x)?;
        if w.ndim() != 2 || xs.len() < 2 {
            return Ok(false);
        }
        let (k, cols) = (w.shape()[0], w.shape()[1]);
        let rows = tk_ir::checked_volume(&xs[..xs.len() - 1])?;
        let wt = w.reversed_axes().as_standard_layout().into_owned();
        let w_id = self.add_const(format!("{name}/weight"), wt, origin);
        let b_id = self.add_const(
            format!("{name}/bias"),
            ArrayD::zeros(IxDyn(&[cols])),
            origin,
        );
        let gemm_op = Op::Gemm(Gemm {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b: true,
        });
        if xs.len() == 2 {
            self.nodes[id].op = gemm_op;
            self.nodes[id].inputs = vec![x, w_id, b_id];
            return Ok(true);
        }
        let flat = self.add(
            format!("{name}/flatten"),
            Op::Reshape(Reshape {
                shape: vec![rows, k],
            }),
            vec![x],
            origin,
        );
        let gemm = self.add(name.clone(), gemm_op, vec![flat, w_id, b_id], origin);
        let mut out_shape = xs[..xs.len() - 1].to_vec();
        out_shape.push(cols);
        self.nodes[id].op = Op::Reshape(Reshape { shape: out_shape });
        self.nodes[id].inputs = vec![gemm];
        self.nodes[id].name = format!("{name}/unflatten");
        Ok(true)
    }
}
