//! One module per subcommand.

pub mod check;
pub mod eval;
pub mod inspect;
pub mod keys_dir;
pub mod profile;
pub mod prove;
pub mod quantize;
pub mod run;
pub mod setup;
pub mod verify;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Parses `--input-shape name=1,3,224,224` values.
pub fn parse_input_shapes(specs: &[String]) -> Result<BTreeMap<String, Vec<usize>>> {
    let mut shapes = BTreeMap::new();
    for spec in specs {
        let Some((name, dims)) = spec.split_once('=') else {
            bail!("--input-shape {spec:?} must look like name=1,3,224,224");
        };
        let dims = dims
            .split(',')
            .map(|d| d.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--input-shape {spec:?}: dimensions must be integers"))?;
        shapes.insert(name.to_string(), dims);
    }
    Ok(shapes)
}

/// Imports an ONNX model with the given input shapes.
pub fn import(path: &Path, input_shapes: &[String]) -> Result<tk_ir::onnx::Model> {
    let options = tk_ir::onnx::ImportOptions {
        input_shapes: parse_input_shapes(input_shapes)?,
        ..Default::default()
    };
    tk_ir::onnx::import_onnx(path, &options)
        .with_context(|| format!("cannot import {}", path.display()))
}
