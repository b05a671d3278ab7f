//! Calibration: run the float graph over sample inputs and collect per-node statistics
//! (maximum magnitude and a histogram of magnitudes), then turn them into clipping thresholds.

use std::io::IsTerminal;

use ndarray::Axis;
use tk_ir::ops::Op;
use tk_ir::{Graph, Tensor};

use crate::{QuantError, QuantResult};

/// Number of histogram bins over `[0, range)`.
pub const BINS: usize = 2048;

/// How a clipping threshold is chosen from a node's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Calibration {
    /// The largest magnitude seen: nothing is clipped.
    #[default]
    MaxAbs,
    /// The given percentile (in `(0, 100]`) of magnitudes, e.g. `99.99`.
    Percentile(f64),
    /// The threshold minimising the KL divergence between the magnitude histogram and its
    /// quantized version (TensorRT's entropy calibration).
    Entropy,
}

impl Calibration {
    /// Whether the method needs histograms (every method but [`Calibration::MaxAbs`]).
    pub fn needs_histogram(&self) -> bool {
        !matches!(self, Calibration::MaxAbs)
    }
}

/// A histogram of magnitudes `|x|` over `[0, range)` in [`BINS`] equal bins. The range grows
/// by powers of two as larger values arrive, merging bins, so one pass suffices. Exact zeros
/// (half of every tensor after a `Relu`) are counted apart: any scale represents them
/// exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper edge of the last bin (0 while only zeros were seen).
    pub range: f32,
    /// Counts of non-zero magnitudes, [`BINS`] entries.
    pub bins: Vec<u64>,
    /// Number of exact zeros.
    pub zeros: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            range: 0.0,
            bins: vec![0; BINS],
            zeros: 0,
        }
    }
}

impl Histogram {
    /// Adds the magnitudes of `values` (non-finite values are ignored).
    pub fn add(&mut self, values: impl Iterator<Item = f32> + Clone) {
        let max = values
            .clone()
            .filter(|v| v.is_finite())
            .fold(0f32, |m, v| m.max(v.abs()));
        self.grow(max);
        for v in values.filter(|v| v.is_finite()) {
            let a = v.abs();
            if a == 0.0 {
                self.zeros += 1;
                continue;
            }
            let bin = if self.range > 0.0 {
                ((a / self.range) * BINS as f32) as usize
            } else {
                0
            };
            self.bins[bin.min(BINS - 1)] += 1;
        }
    }

    fn grow(&mut self, max: f32) {
        if max <= self.range {
            return;
        }
        if self.range == 0.0 {
            // Nothing but zeros (counted apart) so far.
            self.range = max;
            return;
        }
        let mut factor = 1usize;
        while self.range * (factor as f32) < max && factor < BINS {
            factor *= 2;
        }
        let mut merged = vec![0; BINS];
        for (i, &c) in self.bins.iter().enumerate() {
            merged[i / factor] += c;
        }
        self.bins = merged;
        self.range *= factor as f32;
        if self.range < max {
            // Only reached for a growth above 2^11 in one step: one bin holds everything seen.
            self.range = max;
        }
    }

    /// Total count, zeros included.
    pub fn total(&self) -> u64 {
        self.zeros + self.bins.iter().sum::<u64>()
    }

    /// Width of one bin.
    pub fn bin_width(&self) -> f32 {
        self.range / BINS as f32
    }
}

/// Statistics of one node's output over the calibration set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeStats {
    /// Largest finite magnitude seen.
    pub max_abs: f32,
    /// Magnitude histogram (only when the method needs one).
    pub histogram: Option<Histogram>,
}

impl NodeStats {
    /// The clipping threshold for `method` with `bits`-bit signed activations, or `None` when
    /// the node only ever held zeros.
    pub fn threshold(&self, method: Calibration, bits: u8) -> Option<f32> {
        if self.max_abs <= 0.0 {
            return None;
        }
        let t = match (method, &self.histogram) {
            (Calibration::MaxAbs, _) | (_, None) => self.max_abs,
            (Calibration::Percentile(p), Some(h)) => percentile(h, p),
            (Calibration::Entropy, Some(h)) => entropy(h, bits),
        };
        Some(if t > 0.0 {
            t.min(self.max_abs)
        } else {
            self.max_abs
        })
    }
}

/// Per-node statistics of a graph over a calibration set, indexed by node id (`None` for
/// constants and non-float nodes).
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationStats {
    /// One entry per graph node.
    pub nodes: Vec<Option<NodeStats>>,
    /// Number of samples evaluated.
    pub samples: usize,
}

/// Runs `graph` over the samples in `data` and collects statistics.
///
/// `data` holds one tensor per graph input, all with the same number `N >= 1` of samples.
/// Usually axis 0 indexes samples and each sample is reshaped to the input's shape, so
/// `[N, C, H, W]` data feeds an input of shape `[1, C, H, W]`; for an input whose first
/// dimension `B` is not 1, data of shape `[N * B, ...rest of the input shape]` holds `N`
/// samples of `B` rows (a single input value is one sample).
/// Histograms are collected when `histograms` is set. A progress bar is drawn on stderr when
/// it is a terminal.
pub fn collect(graph: &Graph, data: &[Tensor], histograms: bool) -> QuantResult<CalibrationStats> {
    let samples = sample_count(graph, data)?;
    let mut stats: Vec<Option<NodeStats>> = graph
        .nodes()
        .iter()
        .map(|n| {
            let float = n.fact.dtype == tk_ir::DType::F32 && !matches!(n.op, Op::Const(_));
            float.then(|| NodeStats {
                histogram: histograms.then(Histogram::default),
                ..NodeStats::default()
            })
        })
        .collect();
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(samples as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_message("calibrating");
    for i in 0..samples {
        let inputs = sample(graph, data, i)?;
        tk_ir::eval::eval_observed(graph, &inputs, |node, value| {
            if let (Some(s), Tensor::F32(a)) = (&mut stats[node.id], value) {
                let m = a
                    .iter()
                    .filter(|v| v.is_finite())
                    .fold(0f32, |m, v| m.max(v.abs()));
                s.max_abs = s.max_abs.max(m);
                if let Some(h) = &mut s.histogram {
                    h.add(a.iter().copied());
                }
            }
        })?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(CalibrationStats {
        nodes: stats,
        samples,
    })
}

fn calib_err(reason: String) -> QuantError {
    QuantError::Calibration { reason }
}

/// How one data tensor splits into samples of an input of shape `input`: `(count, rows)` where
/// sample `i` is rows `i * rows .. (i + 1) * rows` of axis 0. Either axis 0 indexes samples
/// (`data.shape[1..]` holds one input's worth of elements, `rows = 1`), or the data stacks
/// whole inputs along axis 0 (`data.shape[1..] == input[1..]`, `rows = input[0]`).
fn split(data: &[usize], input: &[usize]) -> Option<(usize, usize)> {
    let n = *data.first()?;
    let per_row = tk_ir::checked_volume(&data[1..]).ok()?;
    if Some(per_row) == tk_ir::checked_volume(input).ok() {
        return Some((n, 1));
    }
    let rows = *input.first()?;
    (rows > 0 && data[1..] == input[1..] && n % rows == 0).then(|| (n / rows, rows))
}

/// Checks the data against the graph inputs and returns the number of samples.
fn sample_count(graph: &Graph, data: &[Tensor]) -> QuantResult<usize> {
    if data.len() != graph.inputs().len() {
        return Err(calib_err(format!(
            "{} data tensors for {} graph inputs",
            data.len(),
            graph.inputs().len()
        )));
    }
    let mut count = None;
    for (outlet, t) in graph.inputs().iter().zip(data) {
        let fact = &graph.nodes()[outlet.node].fact;
        let n = match split(t.shape(), &fact.shape) {
            Some((n, _)) if t.dtype() == fact.dtype => n,
            _ => {
                return Err(calib_err(format!(
                    "data {:?}{:?} does not hold samples of input {fact}",
                    t.dtype(),
                    t.shape()
                )));
            }
        };
        if count.is_some_and(|c| c != n) {
            return Err(calib_err(
                "data tensors hold different numbers of samples".into(),
            ));
        }
        count = Some(n);
    }
    match count {
        Some(n) if n > 0 => Ok(n),
        _ => Err(calib_err("no calibration samples".into())),
    }
}

/// Sample `i` of every data tensor, shaped like the graph inputs (see [`collect`] for the
/// layouts accepted).
pub fn sample(graph: &Graph, data: &[Tensor], i: usize) -> QuantResult<Vec<Tensor>> {
    graph
        .inputs()
        .iter()
        .zip(data)
        .map(|(outlet, t)| {
            let shape = graph.nodes()[outlet.node].fact.shape.clone();
            let (_, rows) = split(t.shape(), &shape)
                .filter(|&(count, _)| i < count)
                .ok_or_else(|| {
                    calib_err(format!("no sample {i} in data of shape {:?}", t.shape()))
                })?;
            let range = ndarray::Slice::from(i * rows..(i + 1) * rows);
            let err = |e: ndarray::ShapeError| calib_err(format!("sample {i}: {e}"));
            Ok(match t {
                Tensor::F32(a) => Tensor::F32(
                    a.slice_axis(Axis(0), range)
                        .to_shape(shape)
                        .map_err(err)?
                        .to_owned(),
                ),
                Tensor::I64(a) => Tensor::I64(
                    a.slice_axis(Axis(0), range)
                        .to_shape(shape)
                        .map_err(err)?
                        .to_owned(),
                ),
            })
        })
        .collect()
}

/// Upper edge of the first bin at which the cumulative count reaches `p` percent.
fn percentile(h: &Histogram, p: f64) -> f32 {
    let target = (p.clamp(0.0, 100.0) / 100.0) * h.total() as f64;
    let mut cum = h.zeros;
    for (i, &c) in h.bins.iter().enumerate() {
        cum += c;
        if cum as f64 >= target {
            return (i + 1) as f32 * h.bin_width();
        }
    }
    h.range
}

/// TensorRT's entropy calibration on a magnitude histogram: the cut `i` (in bins) whose
/// clipped distribution `P` (outliers folded into the last bin) is closest in KL divergence to
/// `Q`, `P` merged into `2^(bits-1)` levels and expanded back. Exact zeros are left out: they
/// are represented exactly whatever the cut, and a spike of zeros in the first bin (after a
/// `Relu`) would otherwise make every merge look costly and push the cut to its minimum.
fn entropy(h: &Histogram, bits: u8) -> f32 {
    let levels = 1usize << (bits.clamp(2, 16) - 1);
    if levels >= BINS || h.bins.iter().all(|&c| c == 0) {
        return h.range;
    }
    let counts: Vec<f64> = h.bins.iter().map(|&c| c as f64).collect();
    let mut best = (f64::INFINITY, BINS);
    let mut outliers: f64 = counts[levels..].iter().sum();
    for i in levels..=BINS {
        let mut p = counts[..i].to_vec();
        p[i - 1] += outliers;
        if i < BINS {
            outliers -= counts[i];
        }
        let mut q = vec![0f64; i];
        for j in 0..levels {
            let (start, end) = (
                j * i / levels,
                ((j + 1) * i / levels).max(j * i / levels + 1),
            );
            let chunk = &counts[start..end.min(i)];
            let nonzero = chunk.iter().filter(|&&c| c > 0.0).count();
            if nonzero > 0 {
                let avg = chunk.iter().sum::<f64>() / nonzero as f64;
                for (k, &c) in chunk.iter().enumerate() {
                    if c > 0.0 {
                        q[start + k] = avg;
                    }
                }
            }
        }
        let (sp, sq) = (p.iter().sum::<f64>(), q.iter().sum::<f64>());
        if sp == 0.0 || sq == 0.0 {
            continue;
        }
        let kl: f64 = p
            .iter()
            .zip(&q)
            .filter(|&(&pk, _)| pk > 0.0)
            .map(|(&pk, &qk)| {
                let (pn, qn) = (pk / sp, (qk / sq).max(1e-12));
                pn * (pn / qn).ln()
            })
            .sum();
        if kl < best.0 {
            best = (kl, i);
        }
    }
    best.1 as f32 * h.bin_width()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_samples() {
        assert_eq!(split(&[10, 1, 8, 8], &[1, 1, 8, 8]), Some((10, 1)));
        assert_eq!(split(&[10, 64], &[1, 64]), Some((10, 1)));
        assert_eq!(split(&[2, 16], &[2, 16]), Some((1, 2)));
        assert_eq!(split(&[6, 16], &[2, 16]), Some((3, 2)));
        assert_eq!(split(&[5, 16], &[2, 16]), None);
        assert_eq!(split(&[5, 15], &[1, 16]), None);
    }

    #[test]
    fn histogram_grows_by_merging() {
        let mut h = Histogram::default();
        h.add([0.0f32, 0.5, 1.0].into_iter());
        assert_eq!(h.range, 1.0);
        assert_eq!(h.total(), 3);
        h.add([-3.0f32].into_iter());
        assert_eq!(h.range, 4.0);
        assert_eq!(h.total(), 4);
        assert_eq!(h.bins[BINS * 3 / 4], 1);
        assert_eq!(h.bins[(BINS - 1) / 4], 1);
        h.add([f32::NAN, f32::INFINITY].into_iter());
        assert_eq!(h.total(), 4);
    }

    #[test]
    fn thresholds() {
        let mut h = Histogram::default();
        let values: Vec<f32> = (0..10_000)
            .map(|i| i as f32 / 10_000.0)
            .chain([100.0])
            .collect();
        h.add(values.iter().copied());
        let stats = NodeStats {
            max_abs: 100.0,
            histogram: Some(h),
        };
        assert_eq!(stats.threshold(Calibration::MaxAbs, 8), Some(100.0));
        let p = stats.threshold(Calibration::Percentile(99.9), 8).unwrap();
        assert!(p < 1.1 && p > 0.9, "{p}");
        let e = stats.threshold(Calibration::Entropy, 8).unwrap();
        // The histogram spans [0, 100): the smallest cut (128 bins, 6.25) wins.
        assert!(e < 10.0, "{e}");
        assert_eq!(NodeStats::default().threshold(Calibration::MaxAbs, 8), None);
    }
}
