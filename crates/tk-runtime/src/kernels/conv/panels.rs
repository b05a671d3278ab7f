//! Panels of the convolution fast path: the column matrix (`im2col`) of a tile of output
//! positions, gathered from the NCHW input and interleaved for [`matmul`].

use super::super::dot;
use super::super::matmul::{self, NR, Panel};
use super::Geometry;

/// Fills the panels of output positions `p0..p0 + width` (tile after tile of [`NR`]
/// positions, `pairs(K)` panels per tile) with row `(c * KH + i) * KW + j` of the column
/// matrix: input channel `c` of `input` (`[C/g, H, W]`) under kernel tap `(i, j)`, 0 in the
/// padding, past `K` and past the last position. `panels` must be zeroed.
pub(super) fn gather(g: &Geometry, input: &[i32], p0: usize, width: usize, panels: &mut [Panel]) {
    if g.is_pointwise() {
        // The input channels are the rows: interleaved straight into the panels.
        dot::vectorized(PointwisePanels {
            input,
            plane: g.h * g.w,
            p0,
            width,
            panels,
        });
        return;
    }
    let padded = width.next_multiple_of(NR);
    let mut rows = vec![0i16; g.k.next_multiple_of(2) * padded];
    dot::vectorized(Im2colRows {
        g,
        input,
        p0,
        width,
        padded,
        rows: &mut rows,
    });
    dot::vectorized(Interleave {
        rows: &rows,
        padded,
        panels,
    });
}

/// Fills the panels of all `OH * wp` wide positions of a stride-1 convolution (see
/// `wide_conv`, `wp = OW + (KW - 1) * dw`): input channel `c` is narrowed once into a
/// zero-padded `i16` plane `wp` columns wide, and row `(c * KH + i) * KW + j` of the column
/// matrix is its run of `OH * wp` values from `(i * dh, j * dw)` on. Every panel is written.
pub(super) fn gather_wide(g: &Geometry, input: &[i32], panels: &mut [Panel]) {
    let [dh, dw] = g.dilations;
    let hp = g.oh + (g.kh - 1) * dh;
    let wp = g.ow + (g.kw - 1) * dw;
    let run = g.oh * wp;
    let padded = run.next_multiple_of(NR);
    let mut rows = vec![0i16; g.k.next_multiple_of(2) * padded];
    // Room for the last tap's run past the last padded row. Padded column `c` holds input
    // column `c - pl` (the same for rows); the border stays zero for every channel.
    let mut plane = vec![0i16; hp * wp + (g.kw - 1) * dw];
    let cols = g.pad[1].min(wp)..(g.pad[1] + g.w).min(wp);
    for (c, channel) in input
        .chunks_exact((g.h * g.w).max(1))
        .take(g.cg)
        .enumerate()
    {
        for (r, row) in plane.chunks_exact_mut(wp.max(1)).take(hp).enumerate() {
            let Some(iy) = r.checked_sub(g.pad[0]).filter(|&v| v < g.h) else {
                continue;
            };
            let line = &channel[iy * g.w..(iy + 1) * g.w];
            for (d, &v) in row[cols.clone()].iter_mut().zip(line) {
                *d = v as i16;
            }
        }
        for i in 0..g.kh {
            for j in 0..g.kw {
                let r = (c * g.kh + i) * g.kw + j;
                let at = i * dh * wp + j * dw;
                rows[r * padded..r * padded + run].copy_from_slice(&plane[at..at + run]);
            }
        }
    }
    dot::vectorized(Interleave {
        rows: &rows,
        padded,
        panels,
    });
}

/// [`im2col_rows`], compiled for wide vectors (the copies narrow `i32` to `i16`).
struct Im2colRows<'a> {
    g: &'a Geometry,
    input: &'a [i32],
    p0: usize,
    width: usize,
    padded: usize,
    rows: &'a mut [i16],
}

impl dot::Kernel for Im2colRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        im2col_rows(
            self.g,
            self.input,
            self.p0,
            self.width,
            self.padded,
            self.rows,
        );
    }
}

/// Row `(c * KH + i) * KW + j` of the column matrix for positions `p0..p0 + width` into
/// `rows[row * padded..]` (left untouched, so zero, in the padding).
#[inline(always)]
fn im2col_rows(
    g: &Geometry,
    input: &[i32],
    p0: usize,
    width: usize,
    padded: usize,
    rows: &mut [i16],
) {
    let plane = g.h * g.w;
    let [sh, sw] = g.strides;
    // Runs of this task's positions within one output row: `(q, oy, ox0, len)`.
    let mut segments = Vec::new();
    let mut q = 0;
    while q < width {
        let (oy, ox0) = ((p0 + q) / g.ow, (p0 + q) % g.ow);
        let len = (g.ow - ox0).min(width - q);
        segments.push((q, oy, ox0, len));
        q += len;
    }
    // Per kernel column `j`: the output columns `first..end` whose input column
    // `ox * sw + j * dw - pl` lies in `0..W`.
    let columns: Vec<(usize, usize)> = (0..g.kw)
        .map(|j| {
            let offset = j * g.dilations[1];
            let first = g.pad[1].saturating_sub(offset).div_ceil(sw);
            let end = (g.w + g.pad[1])
                .checked_sub(offset)
                .map_or(0, |v| v.div_ceil(sw))
                .min(g.ow);
            (first, end)
        })
        .collect();
    for (c, channel) in input.chunks_exact(plane.max(1)).take(g.cg).enumerate() {
        for i in 0..g.kh {
            let first_row = (c * g.kh + i) * g.kw;
            for &(q, oy, ox0, len) in &segments {
                let Some(iy) = (oy * sh + i * g.dilations[0])
                    .checked_sub(g.pad[0])
                    .filter(|&v| v < g.h)
                else {
                    continue;
                };
                let src = &channel[iy * g.w..(iy + 1) * g.w];
                for (j, &(first, end)) in columns.iter().enumerate() {
                    let (lo, hi) = (first.max(ox0), end.min(ox0 + len));
                    if lo >= hi {
                        continue;
                    }
                    // `lo >= ox0`: the run starts `lo - ox0` positions into the segment.
                    let at = (first_row + j) * padded + q;
                    let dst = &mut rows[at + lo - ox0..at + hi - ox0];
                    let ix0 = lo * sw + j * g.dilations[1] - g.pad[1];
                    if sw == 1 {
                        for (d, &v) in dst.iter_mut().zip(&src[ix0..]) {
                            *d = v as i16;
                        }
                    } else if sw == 2 {
                        // Exact pairs vectorise; then the last value alone when the row ends
                        // half-way through a pair.
                        let src = &src[ix0..];
                        let (pairs, last) = dst.split_at_mut(dst.len().min(src.len() / 2));
                        for (d, pair) in pairs.iter_mut().zip(src.chunks_exact(2)) {
                            *d = pair[0] as i16;
                        }
                        if let Some(d) = last.first_mut() {
                            *d = src[2 * pairs.len()] as i16;
                        }
                    } else {
                        for (d, &v) in dst.iter_mut().zip(src[ix0..].iter().step_by(sw)) {
                            *d = v as i16;
                        }
                    }
                }
            }
        }
    }
}

/// Panels of a 1x1 convolution: rows `2t` and `2t + 1` are input channels `2t` and `2t + 1`
/// (`plane` values each) at positions `p0..p0 + width`.
struct PointwisePanels<'a> {
    input: &'a [i32],
    plane: usize,
    p0: usize,
    width: usize,
    panels: &'a mut [Panel],
}

impl dot::Kernel for PointwisePanels<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let channels = self.input.len() / self.plane.max(1);
        let kp = matmul::pairs(channels);
        let row = |c: usize| -> &[i32] {
            if c < channels {
                &self.input[c * self.plane + self.p0..c * self.plane + self.p0 + self.width]
            } else {
                &[]
            }
        };
        for t in 0..kp {
            let (even, odd) = (row(2 * t), row(2 * t + 1));
            for (tile, panel) in self
                .panels
                .iter_mut()
                .skip(t)
                .step_by(kp.max(1))
                .enumerate()
            {
                let q0 = tile * NR;
                let count = NR.min(self.width - q0);
                if odd.is_empty() {
                    for (q, &v) in even[q0..q0 + count].iter().enumerate() {
                        panel[2 * q] = v as i16;
                    }
                } else {
                    for (q, (&e, &o)) in even[q0..q0 + count]
                        .iter()
                        .zip(&odd[q0..q0 + count])
                        .enumerate()
                    {
                        panel[2 * q] = e as i16;
                        panel[2 * q + 1] = o as i16;
                    }
                }
            }
        }
    }
}

/// Panels from rows of `padded` positions: panel `(tile, t)` holds rows `2t` and `2t + 1`
/// of positions `tile * NR..`, interleaved.
struct Interleave<'a> {
    rows: &'a [i16],
    padded: usize,
    panels: &'a mut [Panel],
}

impl dot::Kernel for Interleave<'_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let kp = self.rows.len() / (2 * self.padded).max(1);
        for (t, pair) in self.rows.chunks_exact(2 * self.padded).enumerate() {
            let (even, odd) = pair.split_at(self.padded);
            for (tile, (e, o)) in even.chunks_exact(NR).zip(odd.chunks_exact(NR)).enumerate() {
                let panel = &mut self.panels[tile * kp + t];
                for q in 0..NR {
                    panel[2 * q] = e[q];
                    panel[2 * q + 1] = o[q];
                }
            }
        }
    }
}
