//! The per-op hook: what the runtime reports after every node.

use std::error::Error;
use std::fmt;

use tk_quant::{QNode, QTensor};

/// One executed node: the node, the tensors it read and the tensor it produced.
///
/// `inputs[j]` is the value of `node.inputs[j]`. For `Input` nodes `inputs` is empty and
/// `output` is the caller's tensor; for `Const` nodes `inputs` is empty and `output` is the
/// constant stored in the model.
#[derive(Debug, Clone, Copy)]
pub struct OpEvent<'a> {
    /// The node that ran.
    pub node: &'a QNode,
    /// Its input values, in `node.inputs` order.
    pub inputs: &'a [&'a QTensor],
    /// Its output value (already range-checked against `node.bits`).
    pub output: &'a QTensor,
}

/// Receives one [`OpEvent`] per node, in execution order (ascending node id).
///
/// **Every** node is reported, `Input` and `Const` nodes included, so an observer sees the
/// whole dataflow; observers that only want computations skip those two ops. Returning an
/// error stops the run with [`RuntimeError::Observer`](crate::RuntimeError::Observer).
pub trait Observer {
    /// Called once per node after its output has been computed and checked.
    fn on_op(&mut self, event: &OpEvent<'_>) -> Result<(), ObserverError>;
}

/// An observer that does nothing; [`Runtime::run`](crate::Runtime::run) uses it, and since
/// runs are generic over the observer this compiles to no code at all.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    #[inline(always)]
    fn on_op(&mut self, _event: &OpEvent<'_>) -> Result<(), ObserverError> {
        Ok(())
    }
}

impl<O: Observer + ?Sized> Observer for &mut O {
    #[inline(always)]
    fn on_op(&mut self, event: &OpEvent<'_>) -> Result<(), ObserverError> {
        (**self).on_op(event)
    }
}

/// An observer's failure, carrying the observer's own error as its source.
pub struct ObserverError(Box<dyn Error + Send + Sync + 'static>);

impl ObserverError {
    /// Wraps any error.
    pub fn new(error: impl Error + Send + Sync + 'static) -> ObserverError {
        ObserverError(Box::new(error))
    }

    /// The wrapped error.
    pub fn inner(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The wrapped error, owned.
    pub fn into_inner(self) -> Box<dyn Error + Send + Sync + 'static> {
        self.0
    }
}

impl fmt::Debug for ObserverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ObserverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Error for ObserverError {
    // Display already shows the wrapped error, so the chain continues with its source.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}
