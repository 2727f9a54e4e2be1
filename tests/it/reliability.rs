//! Reliability and security: token sharing, redirects, hostile scripts, secrets, the ledger.

use crate::common::*;
use btw::runner::{self, Script};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn fifty_concurrent_calls_share_one_token() {
    let sb = sandbox().await;
    let c = client(&sb.base_url());
    let calls = (0..50).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.reseller(CUG).await })
    });
    for r in futures_join(calls).await {
        r.unwrap();
    }
    assert_eq!(
        c.token_requests(),
        1,
        "no token yet: one request for all fifty"
    );

    // Now every cached token is expired at the sandbox: fifty calls, one refresh.
    reqwest::Client::new()
        .post(format!("{}/__sandbox/expire-tokens", sb.base_url()))
        .send()
        .await
        .unwrap();
    let calls = (0..50).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.reseller(CUG).await })
    });
    for r in futures_join(calls).await {
        r.unwrap();
    }
    assert_eq!(
        c.token_requests(),
        2,
        "an expired token: exactly one more token request"
    );
}

async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// A token endpoint answering 302 must not be followed: the Basic credentials stay home.
#[tokio::test]
async fn token_redirects_are_not_followed() {
    use axum::{response::Redirect, routing::get, Router};
    let followed = Arc::new(AtomicUsize::new(0));
    let f = followed.clone();
    let app = Router::new()
        .route(
            "/oauth/accesstoken",
            get(|| async { Redirect::temporary("/elsewhere") }),
        )
        .route(
            "/elsewhere",
            get(move || {
                f.fetch_add(1, Ordering::SeqCst);
                async { "{\"accessToken\":\"stolen\",\"expiresIn\":899}" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = client(&url);
    let err = c.token().await.unwrap_err().to_string();
    assert!(err.contains("307") && err.contains("not followed"), "{err}");
    assert_eq!(followed.load(Ordering::SeqCst), 0);
}

async fn run_limited(
    src: &str,
    tweak: impl FnOnce(&mut btw::config::Limits),
) -> btw::runner::RunOutcome {
    let sb = sandbox().await;
    let (mut ctx, _) = context(client(&sb.base_url()));
    tweak(&mut ctx.limits);
    let mut script = Script::inline("hostile.rhai", src);
    script.dir = Some(repo().join("scripts"));
    runner::run(ctx, script, Map::new()).await
}

/// Each hostile script stops with its own error, quickly, and the process carries on.
#[tokio::test]
async fn hostile_scripts_stop_with_specific_errors() {
    let started = Instant::now();
    let cases: Vec<(&str, &str, &str)> = vec![
        ("loop { }", "limit", "operations limit"),
        ("fn f(n) { f(n + 1) } f(0)", "limit", "call depth limit"),
        ("let s = \"x\"; loop { s += s; }", "limit", "size limit"),
        ("let a = []; loop { a.push(1); }", "limit", "size limit"),
        ("import \"../x\" as x;", "script", "refused"),
        ("import \"/etc/passwd\" as x;", "script", "refused"),
        ("eval(\"1 + 1\")", "compile", "eval"),
        ("open(\"/etc/passwd\")", "script", "no function open"),
    ];
    for (src, kind, needle) in cases {
        let outcome = run_limited(src, |l| {
            l.max_operations = 2_000_000;
            l.max_string_size = 1 << 20;
            l.max_array_size = 10_000;
        })
        .await;
        let f = outcome.result.expect_err(src);
        assert_eq!(f.kind(), kind, "{src}: {}", f.render());
        assert!(f.message().contains(needle), "{src}: {}", f.message());
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "limits act quickly: {:?}",
        started.elapsed()
    );

    // The run time limit stops a script even while it is blocked in a wait.
    let t = Instant::now();
    let outcome = run_limited("time::sleep(30); 1", |l| l.timeout_secs = 1).await;
    let f = outcome.result.unwrap_err();
    assert_eq!(f.kind(), "limit");
    assert!(f.message().contains("run timed out"), "{}", f.message());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // And the process still serves: an ordinary script runs fine afterwards.
    let ok = run_limited("whc::reseller().reseller_id", |_| {}).await;
    assert_eq!(ok.result.unwrap(), json!("RES100234"));
}

/// A store-backed run records every mutating step; re-running the same run id repeats none.
#[tokio::test]
async fn resuming_a_finished_run_repeats_no_call() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let store = btw::store::Store::open(&dir.path().join("btw.db")).unwrap();
    let (mut ctx, _) = context(client(&url));
    ctx.store = Some(store.clone());
    let first = runner::run(ctx, recipe("whc_provide.rhai"), Map::new()).await;
    let result = first.result.unwrap();
    let steps = store.ledger_steps(&first.run_id).unwrap();
    let mutating: Vec<&str> = steps
        .iter()
        .map(|s| s.operation.as_str())
        .filter(|op| {
            [
                "qualify company",
                "ringfence numbers",
                "create order",
                "submit order",
            ]
            .contains(op)
        })
        .collect();
    assert_eq!(
        mutating,
        [
            "qualify company",
            "ringfence numbers",
            "create order",
            "submit order"
        ]
    );
    assert!(steps.iter().all(|s| s.state == btw::store::StepState::Done));
    assert_eq!(
        steps[0].operation, "get reseller data",
        "reads are recorded too, for replay"
    );

    // Same run id, the recorded params: every step replays, nothing is sent again.
    let record = store.run_get(&first.run_id).unwrap().unwrap();
    let params: Map<String, Value> = record.params.as_object().cloned().unwrap();
    let c = client(&url);
    let (mut ctx, out) = context(c.clone());
    ctx.store = Some(store.clone());
    ctx.resume = Some(first.run_id.clone());
    let again = runner::run(ctx, recipe("whc_provide.rhai"), params).await;
    let again_result = again.result.unwrap_or_else(|f| panic!("{}", f.render()));
    assert_eq!(
        again_result, result,
        "the replay ends exactly as the run did"
    );
    assert_eq!(
        c.calls_made(),
        0,
        "a replay of a finished run calls BT not once"
    );
    let lines = out.take();
    assert!(
        lines.iter().any(|l| l.contains("reusing its result")),
        "{lines:#?}"
    );
    assert_eq!(orders_created(&url).await.len(), 1);
}
