//! The executor: observer contract, determinism across thread counts, validation errors.

mod common;

use common::{cnn, input, model, node, pseudo, tensor};
use tk_quant::ops::{Clip, Const, QOp};
use tk_quant::{QModel, QTensor};
use tk_runtime::{Observer, ObserverError, OpEvent, Runtime, RuntimeError, execute_node};

fn cnn_input(model: &QModel, seed: u64) -> QTensor {
    let shape = model.graph.nodes[0].shape.clone();
    let len = shape.iter().product();
    tensor(shape, pseudo(seed, len, -128, 127))
}

/// Records every event.
#[derive(Default)]
struct Recorder {
    events: Vec<(usize, Vec<QTensor>, QTensor)>,
}

impl Observer for Recorder {
    fn on_op(&mut self, e: &OpEvent<'_>) -> Result<(), ObserverError> {
        self.events.push((
            e.node.id,
            e.inputs.iter().map(|&t| t.clone()).collect(),
            e.output.clone(),
        ));
        Ok(())
    }
}

#[test]
fn observer_sees_every_node_in_order_with_its_producers_outputs() {
    let m = cnn(2, 8, 4, 1);
    let rt = Runtime::new(&m).unwrap();
    let x = cnn_input(&m, 7);
    let mut rec = Recorder::default();
    let out = rt.run_observed(std::slice::from_ref(&x), &mut rec).unwrap();
    let ids: Vec<usize> = rec.events.iter().map(|e| e.0).collect();
    assert_eq!(ids, (0..m.graph.nodes.len()).collect::<Vec<_>>());
    assert_eq!(rec.events[0].2, x);
    for (id, inputs, output) in &rec.events {
        let n = &m.graph.nodes[*id];
        assert_eq!(inputs.len(), n.inputs.len());
        for (value, &p) in inputs.iter().zip(&n.inputs) {
            assert_eq!(value, &rec.events[p].2, "node {id} input from {p}");
        }
        if !matches!(n.op, QOp::Input(_)) {
            let refs: Vec<&QTensor> = inputs.iter().collect();
            assert_eq!(
                &execute_node(n, &refs).unwrap(),
                output,
                "execute_node agrees at node {id}"
            );
        }
    }
    assert_eq!(out, vec![rec.events[8].2.clone(), rec.events[5].2.clone()]);
    assert_eq!(rt.run(&[x]).unwrap(), out);
    // Softmax outputs are probabilities at 2^14: they sum to about 2^14.
    let total: i32 = out[0].data.iter().sum();
    assert!((total - (1 << 14)).abs() <= 10, "{total}");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let m = cnn(8, 32, 16, 3);
    let rt = Runtime::new(&m).unwrap();
    let x = cnn_input(&m, 11);
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1)
        .install(|| rt.run(std::slice::from_ref(&x)))
        .unwrap();
    let four = pool(4)
        .install(|| rt.run(std::slice::from_ref(&x)))
        .unwrap();
    assert_eq!(one, four);
    let mut a = Recorder::default();
    let mut b = Recorder::default();
    pool(1)
        .install(|| rt.run_observed(std::slice::from_ref(&x), &mut a))
        .unwrap();
    pool(3)
        .install(|| rt.run_observed(std::slice::from_ref(&x), &mut b))
        .unwrap();
    assert!(a.events == b.events, "every intermediate value agrees");
}

/// Records on which rayon worker (if any) each event was reported.
#[derive(Default)]
struct Workers(Vec<Option<usize>>);

impl Observer for Workers {
    fn on_op(&mut self, _: &OpEvent<'_>) -> Result<(), ObserverError> {
        self.0.push(rayon::current_thread_index());
        Ok(())
    }
}

#[test]
fn large_models_run_on_a_pool_worker_and_small_ones_on_the_caller() {
    // 16 x 32 x 32 outputs of 72 products each: parallel work.
    let large = cnn(8, 32, 16, 3);
    let rt = Runtime::new(&large).unwrap();
    assert!(rt.moves_to_pool());
    let x = cnn_input(&large, 5);
    let mut workers = Workers::default();
    let mut here = Recorder::default();
    let out = rt
        .run_observed(std::slice::from_ref(&x), &mut workers)
        .unwrap();
    assert!(workers.0.iter().all(Option::is_some), "{:?}", workers.0);
    assert_eq!(workers.0.len(), large.graph.nodes.len());
    // The same values as a run that stays on a one-thread pool's worker.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let in_place = pool
        .install(|| rt.run_observed(std::slice::from_ref(&x), &mut here))
        .unwrap();
    assert_eq!(out, in_place);

    // 4 x 8 x 8 outputs of 18 products: handing it to the pool would cost more than the run.
    let small = cnn(2, 8, 4, 1);
    let rt = Runtime::new(&small).unwrap();
    assert!(!rt.moves_to_pool());
    let mut workers = Workers::default();
    rt.run_observed(&[cnn_input(&small, 2)], &mut workers)
        .unwrap();
    assert!(workers.0.iter().all(Option::is_none), "{:?}", workers.0);
}

#[test]
fn an_observer_error_stops_the_run() {
    struct FailAt(usize);
    impl Observer for FailAt {
        fn on_op(&mut self, e: &OpEvent<'_>) -> Result<(), ObserverError> {
            if e.node.id == self.0 {
                Err(ObserverError::new(std::io::Error::other("disk full")))
            } else {
                Ok(())
            }
        }
    }
    let m = cnn(1, 4, 2, 5);
    let rt = Runtime::new(&m).unwrap();
    let err = rt
        .run_observed(&[cnn_input(&m, 1)], &mut FailAt(3))
        .unwrap_err();
    assert!(
        matches!(err, RuntimeError::Observer { node: 3, .. }),
        "{err}"
    );
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "disk full"
    );
}

#[test]
fn bad_inputs_are_rejected() {
    let m = cnn(1, 4, 2, 5);
    let rt = Runtime::new(&m).unwrap();
    assert!(matches!(
        rt.run(&[]),
        Err(RuntimeError::InputCount {
            expected: 1,
            got: 0
        })
    ));
    let wrong_shape = tensor(vec![1, 1, 4, 5], vec![0; 20]);
    assert!(matches!(
        rt.run(&[wrong_shape]),
        Err(RuntimeError::OutputShape { node: 0, .. })
    ));
    let out_of_range = tensor(vec![1, 1, 4, 4], vec![128; 16]);
    assert!(matches!(
        rt.run(&[out_of_range]),
        Err(RuntimeError::OutOfRange {
            node: 0,
            value: 128,
            ..
        })
    ));
    let malformed = QTensor {
        shape: vec![1, 1, 4, 4],
        data: vec![0; 3],
    };
    assert!(matches!(
        rt.run(&[malformed]),
        Err(RuntimeError::MalformedTensor { node: 0, .. })
    ));
}

#[test]
fn malformed_models_are_rejected_at_construction() {
    let clip = || QOp::Clip(Clip { lo: 0, hi: 1 });
    let good = || {
        model(
            vec![input(0, vec![2], 8), node(1, clip(), vec![0], vec![2], 8)],
            vec![1],
        )
    };
    assert!(Runtime::new(&good()).is_ok());
    let mut m = good();
    m.spec_version = 99;
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::SpecVersion { found: 99, .. })
    ));
    let mut m = good();
    m.graph.nodes[1].id = 5;
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::NodeId { position: 1, id: 5 })
    ));
    let mut m = good();
    m.graph.nodes[1].inputs = vec![1];
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::ForwardEdge { node: 1, input: 1 })
    ));
    for bits in [0, 1, 17, 255] {
        let mut m = good();
        m.graph.nodes[1].bits = bits;
        assert!(matches!(
            Runtime::new(&m),
            Err(RuntimeError::Bits { node: 1, .. })
        ));
    }
    let mut m = good();
    m.graph.inputs = vec![1];
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::GraphInput { .. })
    ));
    let mut m = good();
    m.graph.inputs = vec![];
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::GraphInput { node: 0 })
    ));
    let mut m = good();
    m.graph.inputs = vec![0, 0];
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::GraphInput { node: 0 })
    ));
    let mut m = good();
    m.graph.outputs = vec![9];
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::GraphOutput {
            position: 0,
            node: 9
        })
    ));
    let mut m = good();
    m.graph.nodes[1].inputs = vec![];
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::Arity { node: 1, .. })
    ));
    let mut m = good();
    m.graph.nodes[1] = node(
        1,
        QOp::Const(Const {
            value: tensor(vec![2], vec![0, 300]),
        }),
        vec![],
        vec![2],
        8,
    );
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::OutOfRange {
            node: 1,
            value: 300,
            ..
        })
    ));
    let mut m = good();
    m.graph.nodes[1] = node(
        1,
        QOp::Const(Const {
            value: QTensor {
                shape: vec![2],
                data: vec![],
            },
        }),
        vec![],
        vec![2],
        8,
    );
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::MalformedTensor { node: 1, .. })
    ));
    // Op-level problems are caught by `QModel::validate`.
    let mut m = good();
    m.graph.nodes[1].shape = vec![3];
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::InvalidModel(_))
    ));
    let mut m = good();
    m.scales.clear();
    assert!(matches!(
        Runtime::new(&m),
        Err(RuntimeError::InvalidModel(_))
    ));
}

#[test]
fn execute_node_rejects_input_nodes_and_returns_constants() {
    let n = input(0, vec![1], 8);
    assert!(matches!(
        execute_node(&n, &[]),
        Err(RuntimeError::NotExecutable { node: 0 })
    ));
    let c = node(
        0,
        QOp::Const(Const {
            value: tensor(vec![1], vec![3]),
        }),
        vec![],
        vec![1],
        8,
    );
    assert_eq!(execute_node(&c, &[]).unwrap().data, vec![3]);
    let clip = node(1, QOp::Clip(Clip { lo: 0, hi: 1 }), vec![0], vec![1], 8);
    assert!(matches!(
        execute_node(&clip, &[]),
        Err(RuntimeError::Arity { .. })
    ));
}
