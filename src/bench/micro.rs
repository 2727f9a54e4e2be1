//! Per-run costs, old way against new, measured in this process: what each optimisation moved.

use crate::engine::{self, bindings, compile_cached, Cancel, EngineOptions};
use crate::store::{StepState, Store};
use rhai::{Engine, Module, Scope};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

/// One old-against-new comparison, in µs per occurrence.
#[derive(Clone, Debug)]
pub struct Micro {
    pub what: String,
    pub old: String,
    pub old_us: f64,
    pub new: String,
    pub new_us: f64,
}

fn per_call(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let started = Instant::now();
    for _ in 0..reps {
        f();
    }
    started.elapsed().as_secs_f64() * 1e6 / reps as f64
}

/// The engine a run got before: `Engine::new()` (its standard library built anew) and every
/// script module built anew.
fn old_engine() -> Engine {
    let mut e = Engine::new();
    for (name, module) in bindings::modules() {
        e.register_static_module(name, module.into());
    }
    e
}

pub fn measure(recipe: &str, scratch: &std::path::Path) -> Vec<Micro> {
    let mut out = Vec::new();
    let opts = EngineOptions::default();
    let new_engine =
        || engine::build_engine(&opts, Arc::new(super::journeys::Discard), Cancel::default());
    out.push(Micro {
        what: "engine set-up, once per run".into(),
        old: "`Engine::new()` + every module built".into(),
        old_us: per_call(50, || drop(old_engine())),
        new: "standard library and modules built once, shared".into(),
        new_us: per_call(200, || drop(new_engine())),
    });
    let e = new_engine();
    out.push(Micro {
        what: "compile `bench_provide.rhai`, once per run".into(),
        old: "`engine.compile` every run".into(),
        old_us: per_call(100, || drop(e.compile(recipe))),
        new: "`compile_cached` (hit)".into(),
        new_us: per_call(1000, || drop(compile_cached(&e, recipe))),
    });
    let journey = include_str!("../../stdlib/journey.rhai");
    out.push(Micro {
        what: "`import \"journey\"`, once per run".into(),
        old: "compile + evaluate the module".into(),
        old_us: per_call(100, || {
            let ast = e.compile(journey).expect("journey compiles");
            drop(Module::eval_ast_as_new(Scope::new(), &ast, &e));
        }),
        new: "evaluated once, shared".into(),
        new_us: per_call(1000, || {
            let ast = e.compile(r#"import "journey" as j; 1"#).expect("compiles");
            drop(e.eval_ast::<i64>(&ast));
        }),
    });
    if let Ok(store) = Store::open(&scratch.join("micro.db")) {
        let req = json!({"name": "Bench Co ABC123"});
        let val = json!({"customerGroups": ["SWAINsTelecom"], "resellerId": "R1", "salesTag": "T"});
        // Interleaved, so WAL growth and checkpoints fall on both alike.
        let (mut old_t, mut new_t) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        let reps = 1000u64;
        for step in 1..=reps {
            let t = Instant::now();
            let _ = store.ledger_begin("micro-old", step, crate::api::Operation::WhcReseller, &req);
            let _ = store.ledger_finish("micro-old", step, StepState::Done, &val);
            old_t += t.elapsed();
            let t = Instant::now();
            let _ = store.ledger_record_done(
                "micro-new",
                step,
                crate::api::Operation::WhcReseller,
                &req,
                &val,
            );
            new_t += t.elapsed();
        }
        let old_us = old_t.as_secs_f64() * 1e6 / reps as f64;
        let new_us = new_t.as_secs_f64() * 1e6 / reps as f64;
        out.push(Micro {
            what: "ledger record of a read (7 per journey)".into(),
            old: "insert `started`, then update to `done`: 2 commits (statements cached here too)"
                .into(),
            old_us,
            new: "one upsert as `done`, prepared statement cached".into(),
            new_us,
        });
    }
    out
}
