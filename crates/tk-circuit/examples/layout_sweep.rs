//! Measures real keygen and prove times of alternative layouts of one model, to check the
//! planner's cost estimate against the prover.
//!
//! `cargo run --release -p tk-circuit --example layout_sweep -- MODEL.tkq TRACE.tkt [REPEAT]`
//!
//! For every `k` from the planner's choice up to three more, and every row width the planner
//! considers, it plans with that `k` and width forced, generates keys, proves `REPEAT` times
//! (default 3) and prints one line: the planner's cost estimate, columns, keygen seconds and
//! the median prove seconds. Locally generated KZG parameters: for measurement only.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::TraceValues;
use tk_circuit::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: layout_sweep MODEL.tkq TRACE.tkt [REPEAT]".into());
    }
    let repeat: usize = args.get(3).map_or(Ok(3), |r| r.parse())?;
    let bytes = std::fs::read(&args[1])?;
    let model = tk_quant::file::from_bytes(&bytes)?;
    let digest = tk_trace::ModelDigest::of_bytes(&bytes);
    let reader =
        tk_trace::TraceReader::new(std::io::BufReader::new(std::fs::File::open(&args[2])?))?;
    let values = TraceValues::read(reader, &model, &digest)?;
    let witnesses = values.op_witnesses(&model);
    let chosen = ModelCircuit::new(&model, &witnesses, &PlanOptions::default())?;
    let k0 = chosen.k();
    println!(
        "planner: k = {k0}, W = {}, mdot {:?}, lanes = {}, cost {}",
        chosen.params().width,
        chosen.params().mdot,
        chosen.params().lanes,
        chosen.report().cost
    );
    println!("k  W   lanes advice fixed lookups degree cost      keygen_s prove_s layout");
    for k in k0..=k0 + 3 {
        let params = setup_params(k, 1);
        for width in [8, 12, 16, 24, 32, 48, 64, 96] {
            let opts = PlanOptions {
                min_k: k,
                max_k: k,
                width: Some(width),
                ..PlanOptions::default()
            };
            let Ok(circuit) = ModelCircuit::new(&model, &witnesses, &opts) else {
                continue;
            };
            let start = Instant::now();
            let pk = keygen(&params, &circuit)?;
            let keygen_s = start.elapsed().as_secs_f64();
            let cs = pk.pk.get_vk().cs();
            let mut times = Vec::with_capacity(repeat);
            for seed in 0..repeat {
                let start = Instant::now();
                let proof = prove(
                    &params,
                    &pk,
                    &circuit,
                    ChaCha20Rng::seed_from_u64(seed as u64),
                )?;
                times.push(start.elapsed().as_secs_f64());
                verify(&params, &pk.vk(), circuit.instance(), &proof)?;
            }
            times.sort_by(f64::total_cmp);
            let report = circuit.report();
            println!(
                "{k:<2} {width:<3} {:<5} {:<6} {:<5} {:<7} {:<6} {:<9} {keygen_s:<8.3} {:.3} {}",
                circuit.params().lanes,
                report.advice_columns,
                cs.num_fixed_columns(),
                report.lookups,
                cs.degree(),
                report.cost,
                times[times.len() / 2],
                circuit
                    .params()
                    .mdot
                    .map_or("-".into(), |s| format!("mdot {}x{}", s.inputs, s.outputs))
            );
        }
    }
    Ok(())
}
