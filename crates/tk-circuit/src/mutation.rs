//! Constraint mutation hook, for mutation testing only (cargo feature `mutation`).
//!
//! Every gate constraint, lookup and copy constraint of the chips is created through
//! [`constraint`] (gates, lookup selectors) or guarded by [`enabled`] (copies), under a
//! *family* name shared by all slots and lanes, e.g. `requant: d1 = y - lo` or
//! `range: lane copy`. A test disables families on its own thread (`disable`, `clear`) and then
//! configures and lays out a circuit: a disabled gate constraint becomes the constant 0, a
//! disabled lookup sees only the table's all-zero row, a disabled copy is not made. The test
//! then checks that some negative test notices (`tests/mutation.rs`).
//!
//! **Invariant:** without the `mutation` feature (and outside unit tests) [`enabled`] is the
//! constant `true`, so the hook compiles away and cannot change a release circuit.

use halo2_axiom::plonk::Expression;

use crate::field::Fr;

#[cfg(any(test, feature = "mutation"))]
mod hook {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    thread_local! {
        static DISABLED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
        static SEEN: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
    }

    pub(super) fn enabled(name: &str) -> bool {
        SEEN.with(|s| {
            if !s.borrow().contains(name) {
                s.borrow_mut().insert(name.to_string());
            }
        });
        !DISABLED.with(|d| d.borrow().contains(name))
    }

    /// Disables exactly the constraint families `names` on this thread (replacing any earlier
    /// choice) for every circuit configured or laid out afterwards.
    pub fn disable<S: Into<String>>(names: impl IntoIterator<Item = S>) {
        DISABLED.with(|d| *d.borrow_mut() = names.into_iter().map(Into::into).collect());
    }

    /// Enables every constraint again on this thread.
    pub fn clear() {
        DISABLED.with(|d| d.borrow_mut().clear());
    }

    /// Every family name the chips have asked about on this thread so far.
    pub fn seen() -> Vec<String> {
        SEEN.with(|s| s.borrow().iter().cloned().collect())
    }
}

#[cfg(any(test, feature = "mutation"))]
pub use hook::{clear, disable, seen};

/// Whether the constraint family `name` is enabled (always, without the `mutation` feature).
#[inline(always)]
pub(crate) fn enabled(name: &str) -> bool {
    #[cfg(any(test, feature = "mutation"))]
    {
        hook::enabled(name)
    }
    #[cfg(not(any(test, feature = "mutation")))]
    {
        let _ = name;
        true
    }
}

/// `poly`, or the constant 0 when the family `name` is disabled.
#[inline(always)]
pub(crate) fn constraint(name: &str, poly: Expression<Fr>) -> Expression<Fr> {
    if enabled(name) {
        poly
    } else {
        Expression::Constant(Fr::zero())
    }
}
