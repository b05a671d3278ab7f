//! The graph executor.

use std::borrow::Cow;

use tk_quant::ops::QOp;
use tk_quant::{QModel, QNode, QTensor};

use rayon::prelude::*;

use crate::kernels::{self, Prepared, check_range, well_formed};
use crate::observer::{NoopObserver, Observer, OpEvent};
use crate::{RuntimeError, validate};

/// An integer-only executor for one validated [`QModel`].
///
/// Nodes run in graph order (ascending id, which is topological). Each intermediate value is
/// dropped after its last reader, so peak memory is the live set, not the whole graph.
/// Weights are packed once, in [`Runtime::new`], for the kernels' fast paths.
/// Results are bit-identical whatever the rayon thread count.
#[derive(Debug, Clone)]
pub struct Runtime<'m> {
    model: &'m QModel,
    /// Id of the last node reading each node (its own id when nothing reads it).
    last_use: Vec<usize>,
    /// Whether each node is a graph output (never dropped).
    is_output: Vec<bool>,
    /// Position in `graph.inputs` of each `Input` node.
    input_position: Vec<Option<usize>>,
    /// Kernel data derived once from each node's constants (packed weights).
    prepared: Vec<Prepared>,
    /// Whether any op may hand work to rayon (see [`Runtime::run_observed`]).
    parallel: bool,
}

impl<'m> Runtime<'m> {
    /// Checks the model (spec version, ids, edges, arities, bit widths, input and output
    /// lists, constants, then `QModel::validate` for op shapes, parameters and worst-case
    /// accumulator bounds) and prepares execution.
    pub fn new(model: &'m QModel) -> Result<Runtime<'m>, RuntimeError> {
        validate::validate(model)?;
        let nodes = &model.graph.nodes;
        let mut last_use: Vec<usize> = (0..nodes.len()).collect();
        for node in nodes {
            for &i in &node.inputs {
                last_use[i] = last_use[i].max(node.id);
            }
        }
        let mut is_output = vec![false; nodes.len()];
        for &o in &model.graph.outputs {
            is_output[o] = true;
        }
        let mut input_position = vec![None; nodes.len()];
        for (position, &id) in model.graph.inputs.iter().enumerate() {
            input_position[id] = Some(position);
        }
        let prepared = nodes.par_iter().map(kernels::prepare).collect();
        let parallel = nodes.iter().any(kernels::may_run_parallel);
        Ok(Runtime {
            model,
            last_use,
            is_output,
            input_position,
            prepared,
            parallel,
        })
    }

    /// Whether some op of the model is large enough to run in parallel, in which case runs
    /// started outside a rayon pool move to a worker of the global pool (see
    /// [`Runtime::run_observed`]).
    pub fn moves_to_pool(&self) -> bool {
        self.parallel
    }

    /// The model this runtime executes.
    pub fn model(&self) -> &'m QModel {
        self.model
    }

    /// Runs the model: `inputs[i]` feeds `graph.inputs[i]` and must have that node's shape and
    /// fit its bit width. Returns the values of `graph.outputs`, in order.
    pub fn run(&self, inputs: &[QTensor]) -> Result<Vec<QTensor>, RuntimeError> {
        self.run_observed(inputs, &mut NoopObserver)
    }

    /// Like [`Runtime::run`], reporting every node (`Input` and `Const` included) to
    /// `observer` in execution order, right after its output is computed and checked.
    ///
    /// When some op is large enough to run in parallel and the caller is outside a rayon
    /// pool, the run (observer calls included) moves to a worker of the global pool: the
    /// caller then waits once for the whole model instead of once per parallel op (each such
    /// wait costs a thread wake-up). Otherwise it runs on the calling thread (on its pool, if
    /// it is a worker of one).
    pub fn run_observed<O: Observer + Send>(
        &self,
        inputs: &[QTensor],
        observer: &mut O,
    ) -> Result<Vec<QTensor>, RuntimeError> {
        if !self.parallel || rayon::current_thread_index().is_some() {
            self.run_here(inputs, observer)
        } else {
            rayon::scope(|_| self.run_here(inputs, observer))
        }
    }

    /// [`Runtime::run_observed`] on the calling thread.
    fn run_here<O: Observer>(
        &self,
        inputs: &[QTensor],
        observer: &mut O,
    ) -> Result<Vec<QTensor>, RuntimeError> {
        let graph = &self.model.graph;
        if inputs.len() != graph.inputs.len() {
            return Err(RuntimeError::InputCount {
                expected: graph.inputs.len(),
                got: inputs.len(),
            });
        }
        let mut values: Vec<Option<Cow<'_, QTensor>>> = vec![None; graph.nodes.len()];
        for node in &graph.nodes {
            let output = {
                // Validation guarantees producers precede readers and live until their last
                // reader, so a missing value is a bug in this file, reported not panicked.
                let args = node
                    .inputs
                    .iter()
                    .map(|&i| {
                        values[i].as_deref().ok_or(RuntimeError::ForwardEdge {
                            node: node.id,
                            input: i,
                        })
                    })
                    .collect::<Result<Vec<&QTensor>, _>>()?;
                let output: Cow<'_, QTensor> = match &node.op {
                    QOp::Input(_) => Cow::Borrowed(self.bind_input(node, inputs)?),
                    // Validated by `Runtime::new`.
                    QOp::Const(c) => Cow::Borrowed(&c.value),
                    _ => Cow::Owned(kernels::execute_prepared(
                        node,
                        &args,
                        &self.prepared[node.id],
                    )?),
                };
                observer
                    .on_op(&OpEvent {
                        node,
                        inputs: &args,
                        output: &output,
                    })
                    .map_err(|source| RuntimeError::Observer {
                        node: node.id,
                        source,
                    })?;
                output
            };
            values[node.id] = Some(output);
            for &i in &node.inputs {
                if self.last_use[i] == node.id && !self.is_output[i] {
                    values[i] = None;
                }
            }
            if self.last_use[node.id] == node.id && !self.is_output[node.id] {
                values[node.id] = None;
            }
        }
        graph
            .outputs
            .iter()
            .map(|&o| {
                values[o]
                    .as_deref()
                    .cloned()
                    .ok_or(RuntimeError::GraphOutput {
                        position: o,
                        node: o,
                    })
            })
            .collect()
    }

    /// The caller's tensor for an `Input` node, checked against the node's shape and bits.
    fn bind_input<'a>(
        &self,
        node: &QNode,
        inputs: &'a [QTensor],
    ) -> Result<&'a QTensor, RuntimeError> {
        let position =
            self.input_position[node.id].ok_or(RuntimeError::GraphInput { node: node.id })?;
        let tensor = &inputs[position];
        well_formed(node.id, tensor)?;
        if tensor.shape != node.shape {
            return Err(RuntimeError::OutputShape {
                node: node.id,
                op: node.op.name(),
                computed: tensor.shape.clone(),
                declared: node.shape.clone(),
            });
        }
        check_range(node.id, &tensor.data, node.bits)?;
        Ok(tensor)
    }
}
