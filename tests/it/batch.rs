//! `batch::run`: one recipe over many parameter maps, bounded concurrency, results in order.

use crate::common::*;
use btw::runner::{self, Script};
use btw::store::Store;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// A script run from `dir`, where its batch recipes are.
async fn run_in(dir: &std::path::Path, src: &str, client: btw::api::BtClient) -> Value {
    let (ctx, _out) = context(client);
    let mut script = Script::inline("batch_test.rhai", src);
    script.dir = Some(dir.to_path_buf());
    let outcome = runner::run(ctx, script, Map::new()).await;
    outcome.result.unwrap_or_else(|f| panic!("{}", f.render()))
}

#[tokio::test]
async fn results_come_in_order_and_a_failure_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("item.rhai"),
        "if params.fail ?? false { throw `item ${params.i} failed`; }\nparams.i * 10\n",
    )
    .unwrap();
    let v = run_in(
        dir.path(),
        r#"batch::run("item", [#{i: 0}, #{i: 1, fail: true}, #{i: 2}, #{i: 3}], 2)"#,
        client("http://127.0.0.1:9"),
    )
    .await;
    let r = v.as_array().unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!(r[0], json!({"ok": true, "result": 0}));
    assert_eq!(r[1]["ok"], json!(false));
    assert!(
        r[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("item 1 failed"),
        "{v}"
    );
    assert_eq!(r[2], json!({"ok": true, "result": 20}));
    assert_eq!(r[3], json!({"ok": true, "result": 30}));
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nap.rhai"), "time::sleep(0.3);\nparams.i\n").unwrap();
    // Six naps of 0.3 s two at a time take at least three rounds.
    let started = Instant::now();
    let v = run_in(
        dir.path(),
        "batch::run(\"nap\", [#{i: 1}, #{i: 2}, #{i: 3}, #{i: 4}, #{i: 5}, #{i: 6}], 2).map(|r| r.result)",
        client("http://127.0.0.1:9"),
    )
    .await;
    assert!(
        started.elapsed().as_secs_f64() >= 0.9,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(v, json!([1, 2, 3, 4, 5, 6]));
    // All six at once overlap: far less than the 1.8 s they take one after another.
    let started = Instant::now();
    run_in(
        dir.path(),
        "batch::run(\"nap.rhai\", [#{i: 1}, #{i: 2}, #{i: 3}, #{i: 4}, #{i: 5}, #{i: 6}], 6)",
        client("http://127.0.0.1:9"),
    )
    .await;
    assert!(
        started.elapsed().as_secs_f64() < 1.5,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn items_share_the_client_and_keep_their_own_ledger() {
    let sb = sandbox().await;
    let c = client(&sb.base_url());
    let (mut ctx, _out) = context(c.clone());
    let store = Store::in_memory();
    ctx.store = Some(store.clone());
    let mut script = Script::inline(
        "batch_test.rhai",
        r#"batch::run("bench_provide", [#{}, #{}, #{}], 3)"#,
    );
    script.dir = Some(repo().join("scripts"));
    let outcome = runner::run(ctx, script, Map::new()).await;
    let v = outcome.result.unwrap_or_else(|f| panic!("{}", f.render()));
    let r = v.as_array().unwrap();
    assert_eq!(r.len(), 3);
    let mut orders: Vec<&str> = r
        .iter()
        .map(|i| {
            assert_eq!(i["ok"], json!(true), "{i}");
            i["result"]["order_id"].as_str().unwrap()
        })
        .collect();
    orders.dedup();
    assert_eq!(orders.len(), 3);
    assert_eq!(c.token_requests(), 1, "one token for every item");
    for n in 1..=3 {
        let steps = store
            .ledger_steps(&format!("{}-{n}", outcome.run_id))
            .unwrap();
        assert!(
            steps.iter().any(|s| s.operation == "create order"),
            "item {n}: {steps:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_or_escaping_recipe_is_a_script_error() {
    let dir = tempfile::tempdir().unwrap();
    for src in [
        r#"batch::run("nothing_here", [#{}], 2)"#,
        r#"batch::run("../etc/passwd", [#{}], 2)"#,
        r#"batch::run("x", [1], 2)"#,
        r#"batch::run("x", [#{}], 0)"#,
    ] {
        let (ctx, _out) = context(client("http://127.0.0.1:9"));
        let mut script = Script::inline("batch_test.rhai", src);
        script.dir = Some(dir.path().to_path_buf());
        let outcome = runner::run(ctx, script, Map::new()).await;
        let f = outcome.result.unwrap_err();
        assert_eq!(f.kind(), "script", "{src}: {}", f.render());
    }
}
