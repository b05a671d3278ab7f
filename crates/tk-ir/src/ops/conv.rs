//! `Conv`: 2-D grouped convolution (ONNX `Conv`, NCHW).

use ndarray::{Array2, ArrayD, Axis, IxDyn, s};

use super::{OpDef, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// 2-D convolution. Inputs: `x [N, C, H, W]`, `w [M, C / group, KH, KW]`, optional `b [M]`.
/// Output `[N, M, OH, OW]` with `OH = (H + pad_top + pad_bottom - dil_h * (KH - 1) - 1) / stride_h + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv {
    /// `[stride_h, stride_w]`, each at least 1.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]` zero padding (ONNX order).
    pub pads: [usize; 4],
    /// `[dil_h, dil_w]`, each at least 1.
    pub dilations: [usize; 2],
    /// Number of groups; divides both `C` and `M`. `group == C == M` is depthwise.
    pub group: usize,
}

impl Conv {
    /// Output spatial size along one axis, or an error when the window does not fit.
    pub fn output_dim(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        pad_begin: usize,
        pad_end: usize,
    ) -> Result<usize, OpError> {
        let padded = input
            .checked_add(pad_begin)
            .and_then(|v| v.checked_add(pad_end))
            .ok_or_else(|| OpError::new("padded size overflows"))?;
        let span = dilation
            .checked_mul(kernel.saturating_sub(1))
            .and_then(|v| v.checked_add(1))
            .ok_or_else(|| OpError::new("kernel span overflows"))?;
        if kernel == 0 || span > padded {
            op_bail!("kernel span {span} does not fit padded input {padded}");
        }
        Ok((padded - span) / stride + 1)
    }

    /// Output shape `[N, M, OH, OW]` for input and weight shapes.
    pub fn output_shape(&self, x: &[usize], w: &[usize]) -> Result<Vec<usize>, OpError> {
        if x.len() != 4 || w.len() != 4 {
            op_bail!("only 2-D convolution is supported: x {x:?}, w {w:?}");
        }
        if self.strides.contains(&0) || self.dilations.contains(&0) || self.group == 0 {
            op_bail!("strides, dilations and group must be positive");
        }
        let (c, m) = (x[1], w[0]);
        if c % self.group != 0 || m % self.group != 0 {
            op_bail!("group {} must divide input channels {c} and output channels {m}", self.group);
        }
        if w[1] * self.group != c {
            op_bail!("weight {w:?} expects {} input channels, x {x:?} has {c}", w[1] * self.group);
        }
        let oh = Self::output_dim(x[2], w[2], self.strides[0], self.dilations[0], self.pads[0], self.pads[2])?;
        let ow = Self::output_dim(x[3], w[3], self.strides[1], self.dilations[1], self.pads[1], self.pads[3])?;
        Ok(vec![x[0], m, oh, ow])
    }
}

impl OpDef for Conv {
    fn name(&self) -> &'static str {
        "Conv"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 2, 3)?;
        for (fact, what) in inputs.iter().zip(["x", "w", "b"]) {
            expect_f32(fact, what)?;
        }
        let shape = self.output_shape(&inputs[0].shape, &inputs[1].shape)?;
        if let Some(b) = inputs.get(2)
            && b.shape != [shape[1]]
        {
            op_bail!("bias shape {:?} must be [{}]", b.shape, shape[1]);
        }
        Ok(Fact::f32(shape))
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        let x = inputs[0].as_f32()?;
        let w = inputs[1].as_f32()?;
        let bias = inputs.get(2).map(|b| b.as_f32()).transpose()?;
        let out_shape = self.output_shape(x.shape(), w.shape())?;
        let (n, m, oh, ow) = (out_shape[0], out_shape[1], out_shape[2], out_shape[3]);
        let (cg, kh, kw) = (w.shape()[1], w.shape()[2], w.shape()[3]);
        let mg = m / self.group;
        let k = cg * kh * kw;
        let w2 = w
            .to_shape((m, k))
            .map_err(|e| OpError::new(format!("weight reshape: {e}")))?
            .to_owned();
        let mut out = ArrayD::<f32>::zeros(IxDyn(&out_shape));
        let mut cols = Array2::<f32>::zeros((k, oh * ow));
        for batch in 0..n {
            for g in 0..self.group {
                im2col(x, batch, g * cg, cg, [kh, kw], self, [oh, ow], &mut cols);
                let wg = w2.slice(s![g * mg..(g + 1) * mg, ..]);
                let prod = wg.dot(&cols);
                for (j, row) in prod.axis_iter(Axis(0)).enumerate() {
                    let oc = g * mg + j;
                    let b = bias.map_or(0.0, |b| b[[oc]]);
                    let mut dst = out.slice_mut(s![batch, oc, .., ..]);
                    for (d, v) in dst.iter_mut().zip(row.iter()) {
                        *d = v + b;
                    }
                }
            }
        }
        Ok(Tensor::F32(out))
    }
}

/// Fills `cols [cg * kh * kw, oh * ow]` with the receptive fields of channels
/// `c0..c0 + cg` of sample `batch`; padded positions are zero.
#[allow(clippy::too_many_arguments)]
fn im2col(
    x: &ArrayD<f32>,
    batch: usize,
    c0: usize,
    cg: usize,
    kernel: [usize; 2],
    conv: &Conv,
    out: [usize; 2],
    cols: &mut Array2<f32>,
) {
    let (h, w) = (x.shape()[2] as isize, x.shape()[3] as isize);
    let [kh, kw] = kernel;
    for c in 0..cg {
        for i in 0..kh {
            for j in 0..kw {
                let row = (c * kh + i) * kw + j;
                for oy in 0..out[0] {
                    let y = (oy * conv.strides[0] + i * conv.dilations[0]) as isize - conv.pads[0] as isize;
                    for ox in 0..out[1] {
                        let xx = (ox * conv.strides[1] + j * conv.dilations[1]) as isize
                            - conv.pads[1] as isize;
                        cols[[row, oy * out[1] + ox]] = if y >= 0 && y < h && xx >= 0 && xx < w {
                            x[[batch, c0 + c, y as usize, xx as usize]]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}
