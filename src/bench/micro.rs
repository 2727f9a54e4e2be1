//! Per-run costs, old way against new, measured in this process: what each optimisation moved.

use crate::engine::{self, bindings, compile_cached, Cancel, EngineOptions};
use crate::store::Store;
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
        out.push(ledger_reads(&store));
        store.close();
    }
    out
}

/// A journey's ledger writes (7 reads, then a mutating call's record, which waits), with the
/// reads waited for one by one against queued: the wall time the script thread spends.
fn ledger_reads(store: &Store) -> Micro {
    use crate::api::Operation;
    let req = json!({"name": "Bench Co ABC123"});
    let val = json!({"customerGroups": ["SWAINsTelecom"], "resellerId": "R1", "salesTag": "T"});
    // Interleaved, so WAL growth and checkpoints fall on both alike.
    let (mut old_t, mut new_t) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let journeys = 300u64;
    for j in 0..journeys {
        let t = Instant::now();
        for s in 1..=7 {
            let _ = store.ledger_record_done(
                "micro-old",
                j * 8 + s,
                Operation::WhcReseller,
                &req,
                &val,
                None,
            );
        }
        let _ = store.ledger_begin("micro-old", j * 8 + 8, Operation::OrderSubmit, &req, None);
        old_t += t.elapsed();
        let t = Instant::now();
        for s in 1..=7 {
            let _ = store.ledger_queue_done(
                "micro-new",
                j * 8 + s,
                Operation::WhcReseller,
                &req,
                &val,
                None,
            );
        }
        let _ = store.ledger_begin("micro-new", j * 8 + 8, Operation::OrderSubmit, &req, None);
        new_t += t.elapsed();
    }
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / journeys as f64;
    Micro {
        what: "ledger: 7 reads then a mutating call's record (one journey, script thread)".into(),
        old: "each read's record waits for its commit (8 commits waited for)".into(),
        old_us: per(old_t),
        new: "reads queued, committed with the mutating call's record (1 waited for)".into(),
        new_us: per(new_t),
    }
}

/// What every `btw run` paid at start before, even a read-only one: the notification listener
/// started, subscribed to the sandbox at `url`, then unsubscribed and stopped at exit. Now it
/// is registered on the first mutating call or wait: a read-only run pays nothing.
pub async fn listener(url: &str) -> Option<Micro> {
    use crate::callbacks::{self, CallbackConfig, OnDemand};
    let client = super::journeys::bt_client(url);
    let store = Store::in_memory();
    let reps = 20;
    let started = Instant::now();
    for _ in 0..reps {
        let config = CallbackConfig::for_sandbox();
        let (user, password) = (config.username.clone(), config.password.clone());
        let listener = callbacks::start(config, crate::store::EventHub::new(store.clone()))
            .await
            .ok()?;
        let url = listener.url();
        let me = crate::api::SandboxListener {
            url: &url,
            username: &user,
            password: password.expose(),
        };
        let id = client.sandbox_subscribe(&me, false, None).await.ok()?;
        client.sandbox_unsubscribe(&id).await.ok()?;
        listener.shutdown().await;
    }
    let old_us = started.elapsed().as_secs_f64() * 1e6 / reps as f64;
    let new_us = per_call(1000, || {
        let lazy = OnDemand::new(Box::pin(async { None }));
        drop(lazy.take());
    });
    Some(Micro {
        what: "notification listener of a read-only `btw run`".into(),
        old: "started, subscribed, unsubscribed and stopped on every run".into(),
        old_us,
        new: "registered on the first mutating call or wait: never, here".into(),
        new_us,
    })
}
