//! A model of the prover's peak memory, to turn a memory budget into circuit limits.
//!
//! halo2 keeps every column as polynomials of `2^k` field elements (32 bytes), in Lagrange,
//! coefficient and extended (coset) form, for advice, fixed, permutation and lookup columns.
//! The planner's cost (`units << k`, with `units` a weighted column count, see
//! [`crate::plan`]) is therefore proportional to that memory; on top come the circuit's own
//! witness (about [`BYTES_PER_MAC`] per multiply-accumulate: operands, weights and the
//! activation copies) and a fixed base.
//!
//! The constants were calibrated on resnet18 segments (release build, 2 threads; see
//! `docs/segmented-proving.md` for the measured points) against the larger of the peaks of
//! `tk setup` (key generation, the higher one) and `tk prove` for one segment.

use crate::plan::PlanReport;

/// Bytes of peak memory per unit of planner cost.
pub const BYTES_PER_COST: u64 = 50;
/// Witness bytes per multiply-accumulate.
pub const BYTES_PER_MAC: u64 = 120;
/// Fixed base (binary, parameters, trace values).
pub const BASE_BYTES: u64 = 200 << 20;

/// Bytes per row of a fixed column of the multi-output dot chip beyond what its planner cost
/// accounts for: the proving key holds its values, coefficients and extended coset, about six
/// field elements per row (the calibration above had no such columns).
pub const BYTES_PER_EXTRA_FIXED_ROW: u64 = 150;

/// Estimated peak memory of proving a circuit with this plan and `macs`
/// multiply-accumulates.
pub fn estimate_bytes(report: &PlanReport, macs: usize) -> u64 {
    let p = &report.params;
    let extra_fixed = p.mdot.map_or(0, |s| s.extra_fixed(p.width)) as u64;
    report
        .cost
        .saturating_mul(BYTES_PER_COST)
        .saturating_add((extra_fixed << p.k).saturating_mul(BYTES_PER_EXTRA_FIXED_ROW))
        .saturating_add((macs as u64).saturating_mul(BYTES_PER_MAC))
        .saturating_add(BASE_BYTES)
}

/// The largest `k` (at most 26) whose smallest plausible circuit, about 60 cost units per
/// row, fits in `bytes`: caps the planner's search under a memory budget.
pub fn max_k_for(bytes: u64) -> u32 {
    let mut k = 6;
    while k < 26 && (60u64 << (k + 1)) * BYTES_PER_COST + BASE_BYTES <= bytes {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn larger_budgets_allow_larger_circuits() {
        assert!(max_k_for(1 << 30) < max_k_for(16 << 30));
    }
}
