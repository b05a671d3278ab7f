//! Wiring ops (Reshape, Flatten, Transpose, Concat, Slice, Pad, Resize): no cells, no gates.
//!
//! A wiring op's output elements *are* cells of its inputs (or the zero cell, for Pad), so the
//! circuit just hands the chosen cells on to the consumers, whose copy constraints then tie
//! them to the producers. Each function here computes, for every output element in row-major
//! order, its source: `Some((input, flat index))` or `None` for a padding zero.
//!
//! Uniqueness: nothing to witness.

/// A wiring map: the source of every output element.
pub type WireMap = Vec<Option<(usize, usize)>>;

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

fn volume(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Calls `f` with every multi-index of `shape` in row-major order.
fn for_each_index(
    shape: &[usize],
    mut f: impl FnMut(&[usize]) -> Result<(), String>,
) -> Result<(), String> {
    if shape.contains(&0) {
        return Ok(());
    }
    let mut idx = vec![0; shape.len()];
    loop {
        f(&idx)?;
        let mut k = shape.len();
        loop {
            if k == 0 {
                return Ok(());
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
}

fn check_len(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got} elements, shape needs {want}"))
    }
}

/// Reshape (and Flatten, Squeeze, Unsqueeze): the identity on the flat element list.
pub fn reshape(in_shape: &[usize], out_shape: &[usize]) -> Result<WireMap, String> {
    check_len("reshape", volume(in_shape), volume(out_shape))?;
    Ok((0..volume(out_shape)).map(|i| Some((0, i))).collect())
}

/// Transpose: output dimension `k` is input dimension `perm[k]`.
pub fn transpose(in_shape: &[usize], perm: &[usize]) -> Result<WireMap, String> {
    if perm.len() != in_shape.len() || perm.iter().any(|&p| p >= in_shape.len()) {
        return Err(format!(
            "transpose: bad permutation {perm:?} for rank {}",
            in_shape.len()
        ));
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| in_shape[p]).collect();
    let st = strides(in_shape);
    let mut map = Vec::with_capacity(volume(&out_shape));
    for_each_index(&out_shape, |o| {
        map.push(Some((
            0,
            o.iter().zip(perm).map(|(&i, &p)| i * st[p]).sum(),
        )));
        Ok(())
    })?;
    Ok(map)
}

/// Concat of inputs with shapes `in_shapes` along `axis`.
pub fn concat(
    in_shapes: &[Vec<usize>],
    axis: usize,
    out_shape: &[usize],
) -> Result<WireMap, String> {
    let mut offsets = Vec::with_capacity(in_shapes.len());
    let mut total = 0;
    for s in in_shapes {
        if s.len() != out_shape.len() || axis >= s.len() {
            return Err("concat: rank mismatch".into());
        }
        offsets.push(total);
        total += s[axis];
    }
    if total != out_shape[axis] {
        return Err(format!(
            "concat: axis sums to {total}, output has {}",
            out_shape[axis]
        ));
    }
    let mut map = Vec::with_capacity(volume(out_shape));
    for_each_index(out_shape, |o| {
        let j = offsets.iter().rposition(|&off| off <= o[axis]).unwrap_or(0);
        let mut idx = o.to_vec();
        idx[axis] -= offsets[j];
        let st = strides(&in_shapes[j]);
        map.push(Some((j, idx.iter().zip(&st).map(|(i, s)| i * s).sum())));
        Ok(())
    })?;
    Ok(map)
}

/// Slice: output index `i` on axis `k` reads input index `starts[k] + i * steps[k]`.
pub fn slice(
    in_shape: &[usize],
    starts: &[usize],
    steps: &[i64],
    out_shape: &[usize],
) -> Result<WireMap, String> {
    if starts.len() != in_shape.len()
        || steps.len() != in_shape.len()
        || out_shape.len() != in_shape.len()
    {
        return Err("slice: rank mismatch".into());
    }
    let st = strides(in_shape);
    let mut map = Vec::with_capacity(volume(out_shape));
    for_each_index(out_shape, |o| {
        let mut flat = 0;
        for k in 0..o.len() {
            let i = starts[k] as i64 + o[k] as i64 * steps[k];
            if i < 0 || i as usize >= in_shape[k] {
                return Err(format!("slice: index {i} out of bounds on axis {k}"));
            }
            flat += i as usize * st[k];
        }
        map.push(Some((0, flat)));
        Ok(())
    })?;
    Ok(map)
}

/// Pad with zeros: `pads` is `[begin_0.., end_0..]`.
pub fn pad(in_shape: &[usize], pads: &[usize], out_shape: &[usize]) -> Result<WireMap, String> {
    let r = in_shape.len();
    if pads.len() != 2 * r || out_shape.len() != r {
        return Err("pad: rank mismatch".into());
    }
    for k in 0..r {
        check_len(
            "pad axis",
            in_shape[k] + pads[k] + pads[r + k],
            out_shape[k],
        )?;
    }
    let st = strides(in_shape);
    let mut map = Vec::with_capacity(volume(out_shape));
    for_each_index(out_shape, |o| {
        let mut flat = Some(0);
        for k in 0..r {
            let i = o[k] as isize - pads[k] as isize;
            if i < 0 || i as usize >= in_shape[k] {
                flat = None;
                break;
            }
            flat = flat.map(|f| f + i as usize * st[k]);
        }
        map.push(flat.map(|f| (0, f)));
        Ok(())
    })?;
    Ok(map)
}

/// Nearest-neighbour Resize by integer factors: `y[.., i, ..] = x[.., i / scale, ..]`.
pub fn resize(
    in_shape: &[usize],
    scales: &[usize],
    out_shape: &[usize],
) -> Result<WireMap, String> {
    if scales.len() != in_shape.len() || out_shape.len() != in_shape.len() {
        return Err("resize: rank mismatch".into());
    }
    for k in 0..in_shape.len() {
        check_len("resize axis", in_shape[k] * scales[k], out_shape[k])?;
    }
    let st = strides(in_shape);
    let mut map = Vec::with_capacity(volume(out_shape));
    for_each_index(out_shape, |o| {
        map.push(Some((
            0,
            o.iter()
                .zip(scales)
                .zip(&st)
                .map(|((i, s), t)| i / s * t)
                .sum(),
        )));
        Ok(())
    })?;
    Ok(map)
}

/// Flat index into an input of shape `in_shape` read by output element `out_flat` under
/// numpy broadcasting (shapes right-aligned, size-1 axes repeated).
pub fn broadcast_index(out_flat: usize, out_shape: &[usize], in_shape: &[usize]) -> usize {
    let out_st = strides(out_shape);
    let in_st = strides(in_shape);
    let lead = out_shape.len() - in_shape.len();
    in_shape
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            let o = out_flat / out_st[lead + k] % out_shape[lead + k];
            if d == 1 { 0 } else { o * in_st[k] }
        })
        .sum()
}

/// Whether `in_shape` broadcasts to `out_shape`.
pub fn broadcasts_to(in_shape: &[usize], out_shape: &[usize]) -> bool {
    in_shape.len() <= out_shape.len()
        && in_shape
            .iter()
            .rev()
            .zip(out_shape.iter().rev())
            .all(|(&i, &o)| i == o || i == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(map: &WireMap) -> Vec<Option<usize>> {
        map.iter().map(|s| s.map(|(_, i)| i)).collect()
    }

    #[test]
    fn transpose_2x3() {
        let m = transpose(&[2, 3], &[1, 0]).unwrap();
        assert_eq!(flat(&m), [0, 3, 1, 4, 2, 5].map(Some));
    }

    #[test]
    fn pad_and_slice() {
        let m = pad(&[2], &[1, 2], &[5]).unwrap();
        assert_eq!(flat(&m), vec![None, Some(0), Some(1), None, None]);
        let m = slice(&[5], &[4], &[-2], &[3]).unwrap();
        assert_eq!(flat(&m), [4, 2, 0].map(Some));
    }

    #[test]
    fn concat_and_resize() {
        let m = concat(&[vec![1, 2], vec![1, 1]], 1, &[1, 3]).unwrap();
        assert_eq!(m, vec![Some((0, 0)), Some((0, 1)), Some((1, 0))]);
        let m = resize(&[1, 2], &[1, 2], &[1, 4]).unwrap();
        assert_eq!(flat(&m), [0, 0, 1, 1].map(Some));
    }

    #[test]
    fn broadcast() {
        assert_eq!(broadcast_index(5, &[2, 3], &[3]), 2);
        assert_eq!(broadcast_index(5, &[2, 3], &[2, 1]), 1);
        assert!(broadcasts_to(&[1, 3], &[4, 2, 3]));
        assert!(!broadcasts_to(&[2], &[2, 3]));
    }
}
