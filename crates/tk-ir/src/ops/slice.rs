//! `Slice`: strided sub-ranges along some axes, steps of either sign.

use ndarray::{ArrayD, Axis};

use super::{OpDef, checked_fact, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// The resolved range of one sliced axis: indices `start, start + step, ...` while they stay
/// before `end` (after it, for negative steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SliceAxis {
    /// Input axis.
    pub axis: usize,
    /// First index. `0..=dim` for positive steps, `-1..dim` for negative steps.
    pub start: i64,
    /// Exclusive bound, in the same range as `start`.
    pub end: i64,
    /// Non-zero stride.
    pub step: i64,
}

impl SliceAxis {
    /// Resolves ONNX `starts`/`ends` (negative values count from the end, out-of-range values
    /// are clamped) for an axis of size `dim`.
    pub fn from_onnx(axis: usize, dim: usize, start: i64, end: i64, step: i64) -> Result<SliceAxis, OpError> {
        if step == 0 {
            op_bail!("slice step must not be zero");
        }
        let d = i64::try_from(dim).map_err(|_| OpError::new("dimension too large"))?;
        let wrap = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (start, end) = (wrap(start), wrap(end));
        let (start, end) = if step > 0 {
            (start.clamp(0, d), end.clamp(0, d))
        } else {
            (start.clamp(-1, d - 1), end.clamp(-1, d - 1))
        };
        Ok(SliceAxis { axis, start, end, step })
    }

    /// Number of selected indices.
    pub fn len(&self) -> usize {
        // Wide arithmetic: an unresolved range (any i64 values, zero step) must not panic.
        let (start, end, step) = (i128::from(self.start), i128::from(self.end), i128::from(self.step));
        let (span, stride) = if step > 0 { (end - start, step) } else { (start - end, -step) };
        if span <= 0 || stride == 0 {
            return 0;
        }
        usize::try_from((span - 1) / stride + 1).unwrap_or(usize::MAX)
    }

    /// Whether the range selects nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The selected indices, in output order. Call it only on resolved ranges (as
    /// [`SliceAxis::from_onnx`] returns and [`Slice`] accepts): an arbitrary range may select
    /// more indices than memory holds.
    pub fn indices(&self) -> Vec<usize> {
        let (start, step) = (i128::from(self.start), i128::from(self.step));
        (0..self.len() as i128).map(|i| (start + i * step).clamp(0, usize::MAX as i128) as usize).collect()
    }

    fn check(&self, dim: usize) -> Result<(), OpError> {
        let d = dim as i64;
        let ok = match self.step {
            0 => false,
            s if s > 0 => (0..=d).contains(&self.start) && (0..=d).contains(&self.end),
            _ => (-1..d).contains(&self.start) && (-1..d).contains(&self.end),
        };
        if !ok {
            op_bail!("unresolved slice {self:?} for dimension {dim}");
        }
        Ok(())
    }
}

/// Selects a sub-range along each listed axis; unlisted axes are kept whole. Any dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// One entry per sliced axis, each axis at most once, resolved against the input shape
    /// (see [`SliceAxis::from_onnx`]).
    pub axes: Vec<SliceAxis>,
}

fn select<T: Clone>(a: &ArrayD<T>, axes: &[SliceAxis]) -> ArrayD<T> {
    let mut out = a.clone();
    for s in axes {
        out = out.select(Axis(s.axis), &s.indices());
    }
    // `select` may return a non-standard layout; outputs are always row-major.
    out.as_standard_layout().into_owned()
}

impl OpDef for Slice {
    fn name(&self) -> &'static str {
        "Slice"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 1, 1)?;
        let mut shape = inputs[0].shape.clone();
        let mut seen = vec![false; shape.len()];
        for s in &self.axes {
            match seen.get_mut(s.axis) {
                Some(seen) if !*seen => *seen = true,
                _ => op_bail!("axis {} repeated or out of range for rank {}", s.axis, shape.len()),
            }
            s.check(shape[s.axis])?;
            shape[s.axis] = s.len();
        }
        Ok(Fact { dtype: inputs[0].dtype, shape })
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        Ok(match inputs[0] {
            Tensor::F32(a) => Tensor::F32(select(a, &self.axes)),
            Tensor::I64(a) => Tensor::I64(select(a, &self.axes)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onnx_clamping() {
        let s = SliceAxis::from_onnx(0, 10, 2, i64::MAX, 3).unwrap();
        assert_eq!(s.indices(), vec![2, 5, 8]);
        let s = SliceAxis::from_onnx(0, 10, -1, i64::MIN, -4).unwrap();
        assert_eq!(s.indices(), vec![9, 5, 1]);
        let s = SliceAxis::from_onnx(0, 10, 20, -20, -1).unwrap();
        assert_eq!(s.len(), 10);
        let s = SliceAxis::from_onnx(0, 10, 5, 5, 1).unwrap();
        assert!(s.is_empty());
        let s = SliceAxis::from_onnx(0, 0, 0, -1, -1).unwrap();
        assert!(s.is_empty());
        assert!(SliceAxis::from_onnx(0, 3, 0, 3, 0).is_err());
        let wild = SliceAxis { axis: 0, start: i64::MAX, end: i64::MIN, step: i64::MIN };
        assert_eq!(wild.len(), 2);
        assert_eq!(SliceAxis { axis: 0, start: 0, end: 5, step: 0 }.len(), 0);
    }

    #[test]
    fn slices_data() {
        let x = Tensor::from_f32(&[2, 4], (0..8).map(|v| v as f32).collect()).unwrap();
        let op = Slice { axes: vec![SliceAxis::from_onnx(1, 4, -1, -5, -2).unwrap()] };
        let y = op.eval(&[&x]).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.as_f32().unwrap().as_slice().unwrap(), &[3.0, 1.0, 7.0, 5.0]);
        let bad = Slice { axes: vec![SliceAxis { axis: 0, start: 0, end: 9, step: 1 }] };
        assert!(bad.output_fact(&[&x.fact()]).is_err());
    }
}
