//! Window geometry shared by `MaxPool` and `AvgPool` (2-D, NCHW).

use tk_quant::QTensor;
use tk_quant::ops::PoolGeometry;

use super::Ctx;
use crate::RuntimeError;

/// A validated pooling problem.
pub(crate) struct Windows {
    /// `[N, C, H, W]` of the input.
    pub input: [usize; 4],
    /// `[OH, OW]`.
    pub out: [usize; 2],
    /// The geometry.
    pub kernel: [usize; 2],
    /// Strides.
    pub strides: [usize; 2],
    /// `[top, left]` padding.
    pub pad: [usize; 2],
}

impl Windows {
    /// Validates the geometry against the input and the node's declared shape.
    pub fn new(ctx: &Ctx<'_>, g: &PoolGeometry, x: &QTensor) -> Result<Windows, RuntimeError> {
        let [n, c, h, w] = dims4(ctx, x)?;
        if g.kernel.contains(&0) {
            return Err(ctx.param("geometry.kernel", "must be positive"));
        }
        if g.strides.contains(&0) {
            return Err(ctx.param("geometry.strides", "must be positive"));
        }
        let oh = out_dim(ctx, x, h, g.pads[0], g.pads[2], g.kernel[0], g.strides[0])?;
        let ow = out_dim(ctx, x, w, g.pads[1], g.pads[3], g.kernel[1], g.strides[1])?;
        ctx.expect_shape(&[n, c, oh, ow])?;
        Ok(Windows {
            input: [n, c, h, w],
            out: [oh, ow],
            kernel: g.kernel,
            strides: g.strides,
            pad: [g.pads[0], g.pads[1]],
        })
    }

    /// In-bounds input rows `[start, end)` of output row `oy`, and the same for columns.
    #[inline]
    pub fn window(&self, oy: usize, ox: usize) -> ([usize; 2], [usize; 2]) {
        let rows = span(
            oy * self.strides[0],
            self.kernel[0],
            self.pad[0],
            self.input[2],
        );
        let cols = span(
            ox * self.strides[1],
            self.kernel[1],
            self.pad[1],
            self.input[3],
        );
        (rows, cols)
    }
}

/// In-bounds part `[start, end)` of the padded window starting at padded coordinate `origin`.
#[inline]
fn span(origin: usize, k: usize, pad: usize, len: usize) -> [usize; 2] {
    let start = origin.saturating_sub(pad).min(len);
    let end = (origin + k).saturating_sub(pad).min(len);
    [start, end.max(start)]
}

/// `[N, C, H, W]` of a rank-4 input.
pub(crate) fn dims4(ctx: &Ctx<'_>, x: &QTensor) -> Result<[usize; 4], RuntimeError> {
    <[usize; 4]>::try_from(x.shape.as_slice())
        .map_err(|_| ctx.input_shape(0, &x.shape, "must be rank 4 (NCHW)"))
}

/// `(len + pad_a + pad_b - k) / stride + 1`, or an error when the window does not fit.
pub(crate) fn out_dim(
    ctx: &Ctx<'_>,
    x: &QTensor,
    len: usize,
    pad_a: usize,
    pad_b: usize,
    k: usize,
    stride: usize,
) -> Result<usize, RuntimeError> {
    let padded = len
        .checked_add(pad_a)
        .and_then(|v| v.checked_add(pad_b))
        .ok_or_else(|| ctx.param("pads", "overflow"))?;
    if padded < k {
        return Err(ctx.input_shape(0, &x.shape, "is smaller than the window"));
    }
    Ok((padded - k) / stride + 1)
}
