//! Window geometry shared by `MaxPool` and `AveragePool` (2-D, NCHW).

use ndarray::{ArrayD, ArrayViewD, Ix4, IxDyn};

use crate::{OpError, op_bail};

/// Where the pooling windows of a 2-D pool lie. Window `o` along an axis covers input
/// positions `o * stride - pad_begin + i * dilation` for `i` in `0..kernel`; positions outside
/// `0..input` are padding.
///
/// Output size per axis, with `span = dilation * (kernel - 1) + 1` and
/// `padded = input + pad_begin + pad_end`:
/// - floor mode: `(padded - span) / stride + 1`;
/// - ceil mode: `ceil((padded - span) / stride) + 1`, minus one if the last window would start
///   at or after `input + pad_begin` (inside the end padding), as in ONNX and PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    /// `[kh, kw]`, each at least 1.
    pub kernel: [usize; 2],
    /// `[stride_h, stride_w]`, each at least 1.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]` padding (ONNX order); each smaller than its kernel span.
    pub pads: [usize; 4],
    /// `[dil_h, dil_w]`, each at least 1.
    pub dilations: [usize; 2],
    /// Whether the output size rounds up (see the type docs).
    pub ceil_mode: bool,
}

/// The positions one window covers along one axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowAxis {
    /// Input positions inside `0..input`, in increasing order.
    pub valid: Vec<usize>,
    /// Number of window positions inside the padded extent `-pad_begin..input + pad_end`
    /// (the divisor of `AveragePool` with `count_include_pad`).
    pub padded_count: usize,
}

impl PoolGeometry {
    /// Geometry with the given kernel, unit strides and dilations, no padding, floor mode.
    pub fn with_kernel(kernel: [usize; 2]) -> PoolGeometry {
        PoolGeometry {
            kernel,
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            ceil_mode: false,
        }
    }

    fn axis_params(&self, axis: usize) -> (usize, usize, usize, usize, usize) {
        (
            self.kernel[axis],
            self.strides[axis],
            self.dilations[axis],
            self.pads[axis],
            self.pads[axis + 2],
        )
    }

    /// Output size along `axis` (0 = height, 1 = width) for an input of size `input`.
    pub fn output_dim(&self, axis: usize, input: usize) -> Result<usize, OpError> {
        if axis > 1 {
            op_bail!("pool axis {axis} out of range");
        }
        let (k, s, d, pb, pe) = self.axis_params(axis);
        if k == 0 || s == 0 || d == 0 {
            op_bail!("kernel, strides and dilations must be positive: {self:?}");
        }
        let span = d
            .checked_mul(k - 1)
            .and_then(|v| v.checked_add(1))
            .ok_or_else(|| OpError::new("kernel span overflows"))?;
        if pb >= span || pe >= span {
            op_bail!("padding {pb}/{pe} must be smaller than the kernel span {span}");
        }
        let padded = input
            .checked_add(pb)
            .and_then(|v| v.checked_add(pe))
            .ok_or_else(|| OpError::new("padded size overflows"))?;
        if span > padded {
            op_bail!("kernel span {span} does not fit padded input {padded}");
        }
        let room = padded - span;
        if !self.ceil_mode {
            return Ok(room / s + 1);
        }
        let mut out = room.div_ceil(s) + 1;
        if (out - 1) * s >= input + pb {
            out -= 1;
        }
        Ok(out)
    }

    /// Output shape `[N, C, OH, OW]` for an input `[N, C, H, W]`.
    pub fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>, OpError> {
        let &[n, c, h, w] = x else {
            op_bail!("only 2-D pooling on NCHW input is supported, got shape {x:?}");
        };
        Ok(vec![n, c, self.output_dim(0, h)?, self.output_dim(1, w)?])
    }

    /// The positions covered by every window along `axis`, for `out` windows on an input of
    /// size `input` (as returned by [`PoolGeometry::output_dim`]).
    pub fn windows(&self, axis: usize, input: usize, out: usize) -> Vec<WindowAxis> {
        let (k, s, d, pb, pe) = self.axis_params(axis.min(1));
        let (lo, hi) = (-(pb as i64), input as i64 + pe as i64);
        (0..out)
            .map(|o| {
                let start = (o * s) as i64 - pb as i64;
                let mut valid = Vec::with_capacity(k);
                let mut padded_count = 0;
                for i in 0..k {
                    let p = start + (i * d) as i64;
                    if p >= lo && p < hi {
                        padded_count += 1;
                    }
                    if p >= 0 && p < input as i64 {
                        valid.push(p as usize);
                    }
                }
                WindowAxis {
                    valid,
                    padded_count,
                }
            })
            .collect()
    }
}

/// Evaluates a 2-D pool: for every output position `[n, c, oy, ox]` of `out_shape`, `reduce`
/// gets the row window, the column window and `at(y, x)`, the input value of image `n` and
/// channel `c` at an in-range position. `x` is `[N, C, H, W]`; the windows come from
/// `geometry` (see [`PoolGeometry::windows`]).
pub fn pool_2d(
    geometry: &PoolGeometry,
    x: &ArrayViewD<'_, f32>,
    out_shape: &[usize],
    reduce: impl Fn(&WindowAxis, &WindowAxis, &dyn Fn(usize, usize) -> f32) -> f32,
) -> Result<ArrayD<f32>, OpError> {
    let x = x
        .view()
        .into_dimensionality::<Ix4>()
        .map_err(|e| OpError::new(e.to_string()))?;
    let &[_, _, oh, ow] = out_shape else {
        op_bail!("pool output must be [N, C, OH, OW], got {out_shape:?}");
    };
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let rows = geometry.windows(0, h, oh);
    let cols = geometry.windows(1, w, ow);
    let mut out = ArrayD::<f32>::zeros(IxDyn(out_shape));
    for ((n, c, oy, ox), v) in out
        .view_mut()
        .into_dimensionality::<Ix4>()
        .map_err(|e| OpError::new(e.to_string()))?
        .indexed_iter_mut()
    {
        *v = reduce(&rows[oy], &cols[ox], &|y, xx| x[[n, c, y, xx]]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_ceil_sizes() {
        let mut g = PoolGeometry::with_kernel([3, 3]);
        g.strides = [2, 2];
        assert_eq!(g.output_dim(0, 4).unwrap(), 1);
        g.ceil_mode = true;
        assert_eq!(g.output_dim(0, 4).unwrap(), 2);
        // A window that would start in the end padding is dropped.
        let g = PoolGeometry {
            kernel: [2, 2],
            strides: [2, 2],
            pads: [0, 0, 1, 1],
            dilations: [1, 1],
            ceil_mode: true,
        };
        assert_eq!(g.output_dim(0, 4).unwrap(), 2);
        assert_eq!(g.output_dim(0, 5).unwrap(), 3);
    }

    #[test]
    fn windows_count_padding() {
        let g = PoolGeometry {
            kernel: [3, 3],
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
            ceil_mode: false,
        };
        let w = g.windows(0, 4, g.output_dim(0, 4).unwrap());
        assert_eq!(w.len(), 4);
        assert_eq!(
            w[0],
            WindowAxis {
                valid: vec![0, 1],
                padded_count: 3
            }
        );
        assert_eq!(
            w[3],
            WindowAxis {
                valid: vec![2, 3],
                padded_count: 3
            }
        );
    }

    #[test]
    fn rejects_bad_geometry() {
        assert!(PoolGeometry::with_kernel([0, 1]).output_dim(0, 4).is_err());
        assert!(PoolGeometry::with_kernel([5, 1]).output_dim(0, 4).is_err());
        assert!(
            PoolGeometry::with_kernel([2, 2])
                .output_shape(&[1, 2, 3])
                .is_err()
        );
    }
}
