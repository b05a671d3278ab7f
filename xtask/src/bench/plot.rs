//! SVG plots of a report: prove time and peak memory against model size, accuracy per stage.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use super::report::Report;

const STAGES: [&str; 5] = ["float", "sim", "clip", "round", "quantized"];

/// Writes every plot the report has data for.
pub fn write_all(report: &Report, dir: &Path) -> Result<()> {
    proving_plot(
        report,
        &dir.join("prove_time.svg"),
        "prove time (s)",
        |r, ours| {
            if ours {
                r.steps
                    .iter()
                    .find(|s| s.step == "prove" && s.is_ok())
                    .and_then(|s| s.wall_s)
            } else {
                r.ezkl
                    .as_ref()
                    .filter(|e| e["status"] == "ok")
                    .and_then(|e| e["prove_s"].as_f64())
            }
        },
    )?;
    proving_plot(
        report,
        &dir.join("prove_memory.svg"),
        "peak prove memory (MiB)",
        |r, ours| {
            if ours {
                r.steps
                    .iter()
                    .find(|s| s.step == "prove" && s.is_ok())
                    .and_then(|s| s.peak_rss_bytes)
                    .map(|b| b as f64 / 1048576.0)
            } else {
                r.ezkl
                    .as_ref()
                    .filter(|e| e["status"] == "ok")
                    .and_then(|e| e["peak_rss_mib"]["prove"].as_f64())
            }
        },
    )?;
    accuracy_plot(report, &dir.join("accuracy.svg"))
}

fn parameters(r: &super::ModelReport) -> Option<f64> {
    r.steps
        .iter()
        .find(|s| s.step == "quantize" && s.is_ok())
        .and_then(|s| s.details["parameters"].as_f64())
}

fn proving_plot(
    report: &Report,
    path: &Path,
    label: &str,
    value: impl Fn(&super::ModelReport, bool) -> Option<f64>,
) -> Result<()> {
    let series = |ours: bool| -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = report
            .models
            .iter()
            .filter_map(|r| Some((parameters(r)?, value(r, ours)?)))
            .filter(|(x, y)| *x > 0.0 && *y > 0.0)
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    };
    let (ours, ezkl) = (series(true), series(false));
    let all: Vec<&(f64, f64)> = ours.iter().chain(&ezkl).collect();
    if all.is_empty() {
        return Ok(());
    }
    let (xmin, xmax) = bounds(all.iter().map(|p| p.0));
    let (ymin, ymax) = bounds(all.iter().map(|p| p.1));
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE).context("plot")?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{label} vs model parameters"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((xmin..xmax).log_scale(), (ymin..ymax).log_scale())
        .context("plot axes")?;
    chart
        .configure_mesh()
        .x_desc("parameters")
        .y_desc(label)
        .draw()
        .context("plot mesh")?;
    for (points, name, color) in [(ours, "tachikoma", BLUE), (ezkl, "EZKL", RED)] {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .context("plot line")?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .context("plot points")?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .context("plot legend")?;
    root.present().context("write plot")?;
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo / 2.0, hi * 2.0)
}

fn accuracy_plot(report: &Report, path: &Path) -> Result<()> {
    let mut lines = Vec::new();
    for r in &report.models {
        let Some(stages) = r
            .steps
            .iter()
            .find(|s| s.step == "eval" && s.is_ok())
            .and_then(|s| s.details["stages"].as_array().cloned())
        else {
            continue;
        };
        let pts: Vec<(f64, f64)> = STAGES
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let s = stages.iter().find(|s| s["stage"] == *name)?;
                let v = s["top1"].as_f64().or(s["agreement"].as_f64())?;
                Some((i as f64, 100.0 * v))
            })
            .collect();
        if !pts.is_empty() {
            lines.push((r.name.clone(), pts));
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    let ymin = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(100.0, f64::min);
    let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
    root.fill(&WHITE).context("plot")?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "top-1 (or agreement with float) per stage, %",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.2f64..4.2, (ymin - 2.0).max(0.0)..100.5)
        .context("plot axes")?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| {
            STAGES
                .get(x.round() as usize)
                .copied()
                .unwrap_or("")
                .to_string()
        })
        .draw()
        .context("plot mesh")?;
    for (i, (name, pts)) in lines.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .context("plot line")?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .context("plot legend")?;
    root.present().context("write plot")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::report::{ModelReport, Report, StepResult};

    fn model(name: &str, params: f64, prove: f64) -> ModelReport {
        let mut r = ModelReport::new(name, std::path::Path::new("m.onnx"));
        r.steps.push(StepResult::ok(
            "quantize",
            &json!({"wall_s": 0.1, "details": {"parameters": params}}),
        ));
        r.steps.push(StepResult::ok(
            "eval",
            &json!({"details": {"stages": [{"stage": "float", "top1": 0.97}, {"stage": "quantized", "top1": 0.96}]}}),
        ));
        r.steps.push(StepResult::ok(
            "prove",
            &json!({"wall_s": prove, "peak_rss_bytes": 50_000_000}),
        ));
        r.ezkl = Some(
            json!({"status": "ok", "prove_s": prove * 10.0, "peak_rss_mib": {"prove": 300.0}}),
        );
        r
    }

    #[test]
    fn plots_are_written_as_svg() {
        let machine = super::super::machine::describe(std::path::Path::new("."));
        let report = Report::new(
            machine,
            true,
            "release",
            3,
            vec![model("a", 2000.0, 0.3), model("b", 60000.0, 1.5)],
        );
        let dir = std::env::temp_dir().join(format!("tk-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        super::write_all(&report, &dir).unwrap();
        for file in ["prove_time.svg", "prove_memory.svg"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(
                text.contains("tachikoma") && text.contains("EZKL"),
                "{file} lacks a legend"
            );
        }
        for file in ["prove_time.svg", "prove_memory.svg", "accuracy.svg"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(text.contains("<svg"), "{file} is not SVG");
            assert!(text.len() > 500, "{file} is nearly empty");
        }
        let md = report.markdown();
        assert!(
            md.contains("| a | tachikoma |") && md.contains("Ratios tachikoma / EZKL"),
            "{md}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
