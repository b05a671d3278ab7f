//! `MatMul`: matrix product with numpy semantics.

use ndarray::{Array3, ArrayD, Axis, Ix2, IxDyn, s};

use super::{OpDef, broadcast::broadcast_shapes, checked_fact, expect_f32, expect_inputs};
use crate::{Fact, OpError, Tensor, op_bail};

/// `numpy.matmul(a, b)` on F32 inputs:
/// - `a [..., M, K]`, `b [..., K, N]` give `[broadcast(...), M, N]`, batch dims broadcasting
///   numpy-style;
/// - a 1-D `a [K]` acts as `[1, K]` and a 1-D `b [K]` as `[K, 1]`, and the added axis is
///   removed from the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatMul;

/// The operand shapes viewed as batched matrices: `(batch, m, k, n)` plus the output shape.
struct Dims {
    batch: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
    out: Vec<usize>,
}

impl MatMul {
    fn dims(a: &[usize], b: &[usize]) -> Result<Dims, OpError> {
        if a.is_empty() || b.is_empty() {
            op_bail!("operands must have rank at least 1: {a:?} x {b:?}");
        }
        let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
        let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
        let (ra, rb) = (a2.len(), b2.len());
        let (m, k) = (a2[ra - 2], a2[ra - 1]);
        let (kb, n) = (b2[rb - 2], b2[rb - 1]);
        if k != kb {
            op_bail!("inner dimensions differ: {a:?} x {b:?}");
        }
        let a_batch = a2[..ra - 2].to_vec();
        let b_batch = b2[..rb - 2].to_vec();
        let batch = broadcast_shapes(&a_batch, &b_batch)?;
        let mut out = batch.clone();
        if a.len() > 1 {
            out.push(m);
        }
        if b.len() > 1 {
            out.push(n);
        }
        Ok(Dims { batch, m, k, n, a_batch, b_batch, out })
    }
}

/// Broadcasts `x` (viewed as `[x_batch..., rows, cols]`) to `[batch..., rows, cols]` and
/// flattens the batch dims.
fn batched(x: &ArrayD<f32>, x_batch: &[usize], batch: &[usize], rows: usize, cols: usize) -> Result<Array3<f32>, OpError> {
    let err = |e: ndarray::ShapeError| OpError::new(format!("matmul: {e}"));
    let mut own: Vec<usize> = x_batch.to_vec();
    own.extend([rows, cols]);
    let x = x.to_shape(IxDyn(&own)).map_err(err)?;
    let mut full: Vec<usize> = batch.to_vec();
    full.extend([rows, cols]);
    let view = x.broadcast(IxDyn(&full)).ok_or_else(|| OpError::new("matmul operand does not broadcast"))?;
    let count = crate::checked_volume(batch)?;
    view.to_shape((count, rows, cols)).map(|v| v.to_owned()).map_err(err)
}

impl OpDef for MatMul {
    fn name(&self) -> &'static str {
        "MatMul"
    }

    fn output_fact(&self, inputs: &[&Fact]) -> Result<Fact, OpError> {
        expect_inputs(inputs, 2, 2)?;
        expect_f32(inputs[0], "a")?;
        expect_f32(inputs[1], "b")?;
        Ok(Fact::f32(Self::dims(&inputs[0].shape, &inputs[1].shape)?.out))
    }

    fn eval(&self, inputs: &[&Tensor]) -> Result<Tensor, OpError> {
        checked_fact(self, inputs)?;
        let (a, b) = (inputs[0].as_f32()?, inputs[1].as_f32()?);
        let err = |e: ndarray::ShapeError| OpError::new(format!("matmul: {e}"));
        if a.ndim() == 2 && b.ndim() == 2 {
            let a2 = a.view().into_dimensionality::<Ix2>().map_err(err)?;
            let b2 = b.view().into_dimensionality::<Ix2>().map_err(err)?;
            return Ok(Tensor::F32(a2.dot(&b2).into_dyn()));
        }
        let d = Self::dims(a.shape(), b.shape())?;
        let a3 = batched(a, &d.a_batch, &d.batch, d.m, d.k)?;
        let b3 = batched(b, &d.b_batch, &d.batch, d.k, d.n)?;
        let mut out = Array3::<f32>::zeros((a3.len_of(Axis(0)), d.m, d.n));
        for (i, mut o) in out.outer_iter_mut().enumerate() {
            o.assign(&a3.slice(s![i, .., ..]).dot(&b3.slice(s![i, .., ..])));
        }
        out.into_shape_with_order(IxDyn(&d.out)).map(Tensor::F32).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize]) -> Tensor {
        let n = shape.iter().product::<usize>();
        Tensor::from_f32(shape, (0..n).map(|v| v as f32).collect()).unwrap()
    }

    #[test]
    fn shapes_follow_numpy() {
        let shape = |a: &[usize], b: &[usize]| MatMul.output_fact(&[&Fact::f32(a), &Fact::f32(b)]).map(|f| f.shape);
        assert_eq!(shape(&[2, 3], &[3, 4]).unwrap(), vec![2, 4]);
        assert_eq!(shape(&[3], &[3, 4]).unwrap(), vec![4]);
        assert_eq!(shape(&[2, 3], &[3]).unwrap(), vec![2]);
        assert_eq!(shape(&[3], &[3]).unwrap(), Vec::<usize>::new());
        assert_eq!(shape(&[5, 1, 2, 3], &[4, 3, 6]).unwrap(), vec![5, 4, 2, 6]);
        assert!(shape(&[2, 3], &[4, 5]).is_err());
        assert!(shape(&[2, 2, 3], &[3, 3, 4]).is_err());
    }

    #[test]
    fn batched_matches_per_batch_dot() {
        let a = t(&[2, 2, 3]);
        let b = t(&[3, 2]);
        let y = MatMul.eval(&[&a, &b]).unwrap();
        let y = y.as_f32().unwrap();
        assert_eq!(y.shape(), &[2, 2, 2]);
        // Second batch, first row: [6, 7, 8] . [[0, 1], [2, 3], [4, 5]] = [46, 67].
        assert_eq!(y[[1, 0, 0]], 46.0);
        assert_eq!(y[[1, 0, 1]], 67.0);
        let v = t(&[3]);
        let y = MatMul.eval(&[&v, &v]).unwrap();
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(y.as_f32().unwrap().iter().next().copied(), Some(5.0));
    }
}
