//! The N-sample rule shared by every command that takes `.npy` inputs.
//!
//! A model input of shape `[1, d1, ..]` accepts a file of shape `[1, d1, ..]`, `[d1, ..]`
//! (batch axis omitted) or `[N, d1, ..]` (N samples, run one by one, outputs stacked on axis 0).

use anyhow::{Result, bail};
use ndarray::{ArrayD, Axis, IxDyn};
use tk_ir::{Fact, Tensor};

/// Splits `data` into samples of the model input `fact`.
pub fn split_samples(fact: &Fact, data: &Tensor) -> Result<Vec<Tensor>> {
    if data.dtype() != fact.dtype {
        bail!(
            "input has dtype {:?}, model expects {:?}",
            data.dtype(),
            fact.dtype
        );
    }
    let shape = data.shape();
    if shape == fact.shape.as_slice() {
        return Ok(vec![data.clone()]);
    }
    let batched = fact.shape.first() == Some(&1);
    if batched && shape == &fact.shape[1..] {
        let mut one = fact.shape.clone();
        one[0] = 1;
        return Ok(vec![reshape(data, &one)?]);
    }
    if batched && shape.len() == fact.shape.len() && shape[1..] == fact.shape[1..] {
        let mut out = Vec::with_capacity(shape[0]);
        for i in 0..shape[0] {
            out.push(match data {
                Tensor::F32(a) => {
                    Tensor::F32(a.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned())
                }
                Tensor::I64(a) => {
                    Tensor::I64(a.index_axis(Axis(0), i).insert_axis(Axis(0)).to_owned())
                }
            });
        }
        return Ok(out);
    }
    bail!(
        "input has shape {shape:?}, model expects {:?} (or [N, ..] with the same trailing dims)",
        fact.shape
    )
}

fn reshape(data: &Tensor, shape: &[usize]) -> Result<Tensor> {
    Ok(match data {
        Tensor::F32(a) => Tensor::F32(a.to_shape(IxDyn(shape))?.to_owned()),
        Tensor::I64(a) => Tensor::I64(a.to_shape(IxDyn(shape))?.to_owned()),
    })
}

/// Stacks per-sample float outputs `[1, ..]` along axis 0 into `[N, ..]`.
pub fn stack_f32(outputs: &[ArrayD<f32>]) -> Result<ArrayD<f32>> {
    let views: Vec<_> = outputs.iter().map(|a| a.view()).collect();
    if views.len() == 1 {
        return Ok(outputs[0].clone());
    }
    Ok(ndarray::concatenate(Axis(0), &views)?)
}
