//! Shared gather for the wiring ops (Transpose, Slice, Pad, Resize) and for broadcasting.
//!
//! An output element's input position is a sum of per-axis contributions: `tables[k][i]` is
//! the input offset contributed by output index `i` along axis `k`, or `None` when that index
//! reads padding (the element is then 0).

/// Gathers `input` into a tensor of `out_shape` (row-major).
///
/// Contract: `tables.len() == out_shape.len()`, `tables[k].len() == out_shape[k]`, and every
/// sum of `Some` contributions is a valid index into `input`; the volume of `out_shape` does
/// not overflow.
pub(crate) fn gather(
    input: &[i32],
    out_shape: &[usize],
    tables: &[Vec<Option<usize>>],
) -> Vec<i32> {
    let volume: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(volume);
    if volume == 0 {
        return out;
    }
    let Some((last, outer)) = tables.split_last() else {
        // Rank 0: a single element.
        out.push(input[0]);
        return out;
    };
    // When the last axis reads a contiguous run (the common case: slices and transposes that
    // keep the innermost axis), each row is one copy.
    let run = match last.first() {
        Some(&Some(first)) if last.iter().enumerate().all(|(i, &o)| o == Some(first + i)) => {
            Some(first)
        }
        _ => None,
    };
    let mut idx = vec![0usize; outer.len()];
    loop {
        let base = outer
            .iter()
            .zip(&idx)
            .try_fold(0usize, |acc, (table, &i)| table[i].map(|o| acc + o));
        match base {
            None => out.extend(std::iter::repeat_n(0, last.len())),
            Some(base) => match run {
                Some(first) => {
                    out.extend_from_slice(&input[base + first..base + first + last.len()]);
                }
                None => out.extend(last.iter().map(|o| o.map_or(0, |o| input[base + o]))),
            },
        }
        // Odometer over the outer axes.
        let mut k = idx.len();
        loop {
            if k == 0 {
                return out;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < out_shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
}

/// Numpy broadcast of two shapes, `None` when incompatible.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|k| {
            let da = dim_from_right(a, rank - 1 - k);
            let db = dim_from_right(b, rank - 1 - k);
            match (da, db) {
                (x, y) if x == y => Some(x),
                (1, y) => Some(y),
                (x, 1) => Some(x),
                _ => None,
            }
        })
        .collect()
}

fn dim_from_right(shape: &[usize], from_right: usize) -> usize {
    if from_right < shape.len() {
        shape[shape.len() - 1 - from_right]
    } else {
        1
    }
}

/// `input` (of `in_shape`, broadcast-compatible with `out_shape`) expanded to `out_shape`,
/// borrowed when the shapes are equal.
pub(crate) fn broadcast_to<'a>(
    input: &'a [i32],
    in_shape: &[usize],
    out_shape: &[usize],
) -> std::borrow::Cow<'a, [i32]> {
    if in_shape == out_shape {
        return std::borrow::Cow::Borrowed(input);
    }
    let strides = super::strides(in_shape);
    let lead = out_shape.len() - in_shape.len();
    let tables: Vec<Vec<Option<usize>>> = out_shape
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            if k < lead || in_shape[k - lead] == 1 {
                vec![Some(0); d]
            } else {
                (0..d).map(|i| Some(i * strides[k - lead])).collect()
            }
        })
        .collect();
    std::borrow::Cow::Owned(gather(input, out_shape, &tables))
}
