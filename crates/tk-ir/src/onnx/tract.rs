//! tract's own execution of an ONNX file: the float baseline for accuracy and latency.

use std::path::Path;

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::{IrError, IrResult};

type Tensor = crate::Tensor;

/// An optimized tract plan for one ONNX file with fixed input shapes.
pub struct TractPlan {
    plan: Arc<TypedRunnableModel>,
}

impl TractPlan {
    /// Loads `path` with the given input facts (dtype and shape of each graph input) and lets
    /// tract optimize it.
    pub fn load(path: &Path, inputs: &[crate::Fact]) -> IrResult<TractPlan> {
        let malformed = |e: tract_onnx::prelude::TractError| IrError::Malformed {
            path: path.display().to_string(),
            reason: format!("tract: {e:#}"),
        };
        let mut model = tract_onnx::onnx().model_for_path(path).map_err(malformed)?;
        for (i, fact) in inputs.iter().enumerate() {
            let dt = match fact.dtype {
                crate::DType::F32 => f32::datum_type(),
                crate::DType::I64 => i64::datum_type(),
            };
            model = model
                .with_input_fact(i, InferenceFact::dt_shape(dt, &fact.shape))
                .map_err(malformed)?;
        }
        let plan = model
            .into_optimized()
            .map_err(malformed)?
            .into_runnable()
            .map_err(malformed)?;
        Ok(TractPlan { plan })
    }

    /// Runs the plan; outputs are converted to F32.
    pub fn run(&self, inputs: &[Tensor]) -> IrResult<Vec<Tensor>> {
        let failed = |e: tract_onnx::prelude::TractError| IrError::Malformed {
            path: "<tract run>".into(),
            reason: format!("{e:#}"),
        };
        let feed: TVec<TValue> = inputs
            .iter()
            .map(|t| match t {
                Tensor::F32(a) => tract_onnx::prelude::Tensor::from(a.clone()).into_tvalue(),
                Tensor::I64(a) => tract_onnx::prelude::Tensor::from(a.clone()).into_tvalue(),
            })
            .collect();
        let outputs = self.plan.run(feed).map_err(failed)?;
        outputs
            .iter()
            .map(|o| {
                let o = o.cast_to::<f32>().map_err(failed)?;
                Ok(Tensor::F32(
                    o.to_plain_array_view::<f32>().map_err(failed)?.to_owned(),
                ))
            })
            .collect()
    }
}
