//! Accuracy and fidelity metrics used to compare stages (float, sim, clip, round, integer).
//!
//! Logits are given as flat row-major slices of `[samples, classes]`.

/// Index of the largest value (the first one on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

/// Whether `label` is among the `k` largest values of `row` (ties resolved towards lower
/// indices, like [`argmax`]).
pub fn in_top_k(row: &[f32], label: usize, k: usize) -> bool {
    let Some(&target) = row.get(label) else {
        return false;
    };
    if target.is_nan() {
        return false;
    }
    let better = row
        .iter()
        .enumerate()
        .filter(|&(i, &v)| v > target || (v == target && i < label))
        .count();
    better < k
}

/// Fraction of samples whose label is among the top `k` logits. `logits` is
/// `[labels.len(), classes]`; returns 0 for no samples.
///
/// ```
/// let logits = [0.1, 0.9, 0.0, 0.8, 0.2, 0.0];
/// assert_eq!(tk_quant::metrics::top_k_accuracy(&logits, 3, &[1, 1], 1), 0.5);
/// assert_eq!(tk_quant::metrics::top_k_accuracy(&logits, 3, &[1, 1], 2), 1.0);
/// ```
pub fn top_k_accuracy(logits: &[f32], classes: usize, labels: &[usize], k: usize) -> f64 {
    if labels.is_empty() || classes == 0 {
        return 0.0;
    }
    let hits = logits
        .chunks(classes)
        .zip(labels)
        .filter(|(row, l)| in_top_k(row, **l, k))
        .count();
    hits as f64 / labels.len() as f64
}

/// Top-1 accuracy (see [`top_k_accuracy`]).
pub fn top1(logits: &[f32], classes: usize, labels: &[usize]) -> f64 {
    top_k_accuracy(logits, classes, labels, 1)
}

/// Top-5 accuracy (see [`top_k_accuracy`]).
pub fn top5(logits: &[f32], classes: usize, labels: &[usize]) -> f64 {
    top_k_accuracy(logits, classes, labels, 5)
}

/// Fraction of samples on which two output sets (both `[samples, classes]`) pick the same
/// top-1 class; 0 for no samples.
pub fn top1_agreement(a: &[f32], b: &[f32], classes: usize) -> f64 {
    if classes == 0 {
        return 0.0;
    }
    let rows = a.len().min(b.len()) / classes;
    if rows == 0 {
        return 0.0;
    }
    let same = a
        .chunks(classes)
        .zip(b.chunks(classes))
        .take(rows)
        .filter(|(x, y)| argmax(x) == argmax(y))
        .count();
    same as f64 / rows as f64
}

/// Signal-to-quantization-noise ratio `10 log10(Σ ref² / Σ (ref - test)²)` in dB, over the
/// common prefix of the two slices. `+inf` when they are identical, `-inf`/NaN-free otherwise
/// (a zero reference with non-zero noise gives `-inf`).
pub fn sqnr_db(reference: &[f32], test: &[f32]) -> f64 {
    let (mut signal, mut noise) = (0f64, 0f64);
    for (&r, &t) in reference.iter().zip(test) {
        let (r, t) = (f64::from(r), f64::from(t));
        signal += r * r;
        noise += (r - t) * (r - t);
    }
    if noise == 0.0 {
        return f64::INFINITY;
    }
    if signal == 0.0 {
        return f64::NEG_INFINITY;
    }
    10.0 * (signal / noise).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_agreement() {
        let logits = [1.0, 3.0, 2.0, 5.0, 4.0, 0.0];
        assert_eq!(top1(&logits, 3, &[1, 0]), 1.0);
        assert_eq!(top_k_accuracy(&logits, 3, &[2, 1], 1), 0.0);
        assert_eq!(top_k_accuracy(&logits, 3, &[2, 1], 2), 1.0);
        assert_eq!(top5(&logits, 3, &[0, 2]), 1.0);
        assert_eq!(argmax(&[1.0, 1.0]), 0);
        assert!(in_top_k(&[1.0, 1.0], 0, 1) && !in_top_k(&[1.0, 1.0], 1, 1));
        assert_eq!(
            top1_agreement(&logits, &[0.0, 1.0, 0.0, 0.0, 1.0, 0.0], 3),
            0.5
        );
        assert_eq!(top1(&[], 3, &[]), 0.0);
    }

    #[test]
    fn sqnr() {
        assert_eq!(sqnr_db(&[1.0, 2.0], &[1.0, 2.0]), f64::INFINITY);
        let db = sqnr_db(&[10.0, 0.0], &[9.0, 0.0]);
        assert!((db - 20.0).abs() < 1e-9);
        assert_eq!(sqnr_db(&[0.0], &[1.0]), f64::NEG_INFINITY);
    }
}
