//! Real key generation, proving and verification (KZG, SHPLONK, Blake2b) per chip family,
//! key and proof serialization, and rejection of wrong public values.

mod common;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tk_circuit::CircuitError;
use tk_circuit::keys::{self, ModelPk, ModelVk};
use tk_circuit::prelude::*;
use tk_quant::ops::{Add, Gemm, Lut, MaxPool, PoolGeometry, QOp, Requant};

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(42)
}

struct Proven {
    params: Params,
    pk: ModelPk,
    circuit: ModelCircuit,
    proof: Vec<u8>,
}

fn prove_and_verify(name: &str, m: &tk_quant::QModel, x: &[tk_quant::QTensor]) -> Proven {
    let c = circuit(m, x);
    let params = time(&format!("{name}: params k={}", c.k()), || {
        setup_params(c.k(), 1)
    });
    let pk = time(&format!("{name}: keygen"), || keygen(&params, &c)).expect("keygen");
    let proof = time(&format!("{name}: prove"), || prove(&params, &pk, &c, rng())).expect("prove");
    time(&format!("{name}: verify"), || {
        verify(&params, &pk.vk(), c.instance(), &proof)
    })
    .expect("verify");
    let p = c.params();
    eprintln!(
        "[cost] {name}: k={} width={} lanes={} R={} main_rows={} proof={} B chips={:?}",
        p.k,
        p.width,
        p.lanes,
        p.range_bits,
        c.report().main_rows,
        proof.len(),
        c.report()
            .chips
            .iter()
            .map(|r| (r.chip.as_str(), r.rows))
            .collect::<Vec<_>>()
    );
    Proven {
        params,
        pk,
        circuit: c,
        proof,
    }
}

fn gemm_model() -> (tk_quant::QModel, Vec<tk_quant::QTensor>) {
    let mut b = Builder::default();
    let x = b.input(&[1, 32], 8);
    let op = Gemm {
        weight: tensor(&[8, 32], values(256, -127, 127, 11)),
        bias: values(8, -5000, 5000, 12),
        requant: Requant {
            multipliers: vec![1_300_000_000],
            shifts: vec![39],
            clamp: None,
        },
    };
    let y = b.op("gemm", QOp::Gemm(op), &[x], &[1, 8], 8);
    b.output(y);
    (b.build(), vec![tensor(&[1, 32], values(32, -128, 127, 13))])
}

#[test]
fn dot_and_requant_prove_and_verify() {
    let (m, x) = gemm_model();
    let Proven {
        params,
        pk,
        circuit: c,
        proof,
    } = prove_and_verify("gemm", &m, &x);
    let vk = pk.vk();

    // A different public input or output does not verify.
    let mut wrong = c.instance().to_vec();
    wrong[0] += Fr::one();
    assert!(matches!(
        verify(&params, &vk, &wrong, &proof),
        Err(CircuitError::Verification(_))
    ));
    let mut wrong = c.instance().to_vec();
    *wrong.last_mut().unwrap() += Fr::one();
    assert!(matches!(
        verify(&params, &vk, &wrong, &proof),
        Err(CircuitError::Verification(_))
    ));

    // A corrupted proof does not verify; a foreign blob is rejected as malformed.
    let mut bad = proof.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(verify(&params, &vk, c.instance(), &bad).is_err());
    assert!(matches!(
        verify(&params, &vk, c.instance(), b"nope"),
        Err(CircuitError::Malformed { .. })
    ));

    // Keys survive serialization, and the verifying key depends on the model only.
    let vk_bytes = vk.to_bytes().unwrap();
    let vk2 = ModelVk::from_bytes(&vk_bytes).unwrap();
    verify(&params, &vk2, c.instance(), &proof).unwrap();
    let pk2 = ModelPk::from_bytes(&pk.to_bytes().unwrap()).unwrap();
    let proof2 = prove(&params, &pk2, &c, rng()).unwrap();
    verify(&params, &vk, c.instance(), &proof2).unwrap();
    let blank = ModelCircuit::for_keygen(&m, &PlanOptions::default()).unwrap();
    let vk3 = keygen(&params, &blank).unwrap().vk();
    assert_eq!(
        vk3.to_bytes().unwrap(),
        vk_bytes,
        "verifying key depends on witness values"
    );
    eprintln!(
        "[size] gemm: vk {} B, pk {} B, proof {} B",
        vk_bytes.len(),
        pk.to_bytes().unwrap().len(),
        proof.len()
    );
    assert!(matches!(
        ModelVk::from_bytes(&vk_bytes[..20]),
        Err(CircuitError::Malformed { .. }) | Err(CircuitError::Decode(_))
    ));
    let mut bad_version = vk_bytes.clone();
    bad_version[4] = 9;
    assert!(matches!(
        ModelVk::from_bytes(&bad_version),
        Err(CircuitError::Malformed { .. })
    ));
}

#[test]
fn lut_proves_and_verifies() {
    let mut b = Builder::default();
    let x = b.input(&[2, 8], 5);
    let table: Vec<i32> = (-16..16).map(|v: i32| (v * v) / 3 - 40).collect();
    let y = b.op(
        "lut",
        QOp::Lut(Lut {
            function: "sq".into(),
            in_lo: -16,
            table,
        }),
        &[x],
        &[2, 8],
        8,
    );
    b.output(y);
    let m = b.build();
    prove_and_verify("lut", &m, &[tensor(&[2, 8], values(16, -16, 15, 3))]);
}

#[test]
fn max_pool_proves_and_verifies() {
    let mut b = Builder::default();
    let x = b.input(&[1, 3, 6, 6], 8);
    let g = PoolGeometry {
        kernel: [3, 3],
        strides: [2, 2],
        pads: [1, 1, 0, 0],
    };
    let y = b.op(
        "pool",
        QOp::MaxPool(MaxPool { geometry: g }),
        &[x],
        &[1, 3, 3, 3],
        8,
    );
    b.output(y);
    let m = b.build();
    prove_and_verify(
        "max_pool",
        &m,
        &[tensor(&[1, 3, 6, 6], values(108, -128, 127, 4))],
    );
}

#[test]
fn add_proves_and_verifies() {
    let mut b = Builder::default();
    let x = b.input(&[1, 4, 3, 3], 8);
    let y = b.input(&[1, 4, 1, 1], 8);
    let s = b.op(
        "add",
        QOp::Add(Add {
            ma: 1_000_000_000,
            mb: -700_000_000,
            shift: 30,
            clamp: None,
        }),
        &[x, y],
        &[1, 4, 3, 3],
        8,
    );
    b.output(s);
    let m = b.build();
    let p = prove_and_verify(
        "add",
        &m,
        &[
            tensor(&[1, 4, 3, 3], values(36, -128, 127, 5)),
            tensor(&[1, 4, 1, 1], values(4, -128, 127, 6)),
        ],
    );
    // The second public input is part of the statement too.
    let mut wrong = p.circuit.instance().to_vec();
    wrong[36] += Fr::one();
    assert!(verify(&p.params, &p.pk.vk(), &wrong, &p.proof).is_err());
}

#[test]
fn params_are_cached_and_downsized() {
    let dir = std::env::temp_dir().join(format!("tk-circuit-params-{}", std::process::id()));
    let p7 = keys::load_or_setup_params(&dir, 7).unwrap();
    assert!(keys::params_path(&dir, 7).exists());
    let again = keys::load_or_setup_params(&dir, 7).unwrap();
    let bytes = |p: &Params| {
        use halo2_axiom::poly::commitment::Params as _;
        let mut v = Vec::new();
        p.write(&mut v).unwrap();
        v
    };
    assert_eq!(bytes(&p7), bytes(&again));
    // k = 6 is cut from the cached k = 7 file and equals a fresh setup with the same seed.
    let p6 = keys::load_or_setup_params(&dir, 6).unwrap();
    assert_eq!(bytes(&p6), bytes(&setup_params(6, keys::DEV_SEED)));
    std::fs::remove_dir_all(&dir).unwrap();
}
