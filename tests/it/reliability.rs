//! Reliability and security: token sharing, redirects, hostile scripts, secrets, the ledger.

use crate::common::*;
use btw::runner::{self, Script};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn fifty_concurrent_calls_share_one_token() {
    let sb = sandbox().await;
    let c = client(&sb.base_url());
    fifty_calls(&c).await;
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
    fifty_calls(&c).await;
    assert_eq!(
        c.token_requests(),
        2,
        "an expired token: exactly one more token request"
    );
}

/// Fifty concurrent calls on one client, each of which must succeed.
async fn fifty_calls(c: &btw::api::BtClient) {
    let calls = (0..50).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.reseller(CUG).await })
    });
    for r in futures_join(calls).await {
        r.unwrap();
    }
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
    use axum::{http::header::LOCATION, http::StatusCode, routing::get, Router};
    let followed = Arc::new(AtomicUsize::new(0));
    let f = followed.clone();
    let app = Router::new()
        .route(
            "/oauth/accesstoken",
            get(|| async { (StatusCode::FOUND, [(LOCATION, "/elsewhere")]) }),
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
    assert!(err.contains("302") && err.contains("not followed"), "{err}");
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

async fn add_fault(url: &str, rule: Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/__sandbox/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

/// Arrival times (ms since the first) of journaled requests to a path.
async fn arrivals(url: &str, path_prefix: &str) -> Vec<(i64, u64)> {
    let j = journal(url).await;
    let reqs: Vec<(chrono::DateTime<chrono::Utc>, u64)> = j["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().starts_with(path_prefix))
        .map(|r| {
            (
                r["at"].as_str().unwrap().parse().unwrap(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let t0 = reqs[0].0;
    reqs.iter()
        .map(|(t, s)| ((*t - t0).num_milliseconds(), *s))
        .collect()
}

#[tokio::test]
async fn a_get_retries_three_503s_with_growing_gaps() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let path = "/bt-wholesale/v1/whc/resourceInventory/resellers";
    add_fault(
        &url,
        json!({"method": "GET", "path_prefix": path, "status": 503, "count": 3}),
    )
    .await;
    let c = client(&url);
    let me = c.reseller(CUG).await.expect("succeeds after the 503s");
    assert_eq!(me["resellerId"], "RES100234");
    assert_eq!(c.retries_made(), 3);
    let seen = arrivals(&url, path).await;
    let statuses: Vec<u64> = seen.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [503, 503, 503, 200]);
    let gaps: Vec<i64> = seen.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "gaps grow: {gaps:?}"
    );
}

#[tokio::test]
async fn a_400_is_never_retried() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let path = "/bt-wholesale/v1/whc/resourceInventory/resellers";
    add_fault(
        &url,
        json!({"method": "GET", "path_prefix": path, "status": 400, "count": 1}),
    )
    .await;
    let c = client(&url);
    let err = c.reseller(CUG).await.unwrap_err();
    assert_eq!(err.bt().unwrap().status, 400);
    assert_eq!(c.retries_made(), 0);
    assert_eq!(arrivals(&url, path).await.len(), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let path = "/bt-wholesale/v1/whc/resourceInventory/resellers";
    add_fault(&url, json!({"method": "GET", "path_prefix": path, "status": 429, "retry_after_secs": 2, "count": 1})).await;
    let c = client(&url);
    c.reseller(CUG).await.unwrap();
    let seen = arrivals(&url, path).await;
    assert_eq!(seen.iter().map(|(_, s)| *s).collect::<Vec<_>>(), [429, 200]);
    assert!(
        seen[1].0 >= 2000,
        "waited {} ms after a Retry-After of 2 s",
        seen[1].0
    );
}

/// The create's answer is lost after BT made the order: the client finds it by externalId
/// instead of ordering again, and the recipe completes.
#[tokio::test]
async fn a_lost_create_response_still_makes_exactly_one_order() {
    let sb = sandbox().await;
    let url = sb.base_url();
    add_fault(&url, json!({"method": "POST", "path_prefix": "/bt-wholesale/v1/order/productOrder", "drop": "after", "count": 1})).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut ctx, _) = context(client(&url));
    ctx.store = Some(btw::store::Store::open(&dir.path().join("btw.db")).unwrap());
    let outcome = runner::run(ctx, recipe("whc_provide.rhai"), Map::new()).await;
    let result = outcome.result.unwrap_or_else(|f| panic!("{}", f.render()));
    assert_eq!(result["state"], "completed");
    assert_eq!(
        orders_created(&url).await,
        vec![result["order_id"].as_str().unwrap().to_string()]
    );
}

/// The process dies (SIGKILL) after sending the create and before recording its result;
/// `--resume` settles the step by asking BT, and the journey ends with one order.
#[tokio::test]
async fn killed_mid_create_then_resumed_makes_one_order() {
    let sb = sandbox().await;
    let url = sb.base_url();
    // The create is processed at once but its answer held back for 20 s: time to kill the process.
    add_fault(&url, json!({"method": "POST", "path_prefix": "/bt-wholesale/v1/order/productOrder", "latency_ms": 20000, "count": 1})).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = btw(&url, dir.path())
        .args(["run", "scripts/whc_provide.rhai", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = Instant::now();
    while orders_created(&url).await.is_empty() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the create never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    let run_id = killed_run_with_its_create_started(dir.path());

    resumed_to_one_order(&url, dir.path(), &run_id).await;
}

/// The process dies (SIGKILL) after the create's ledger record is committed and before the
/// create is sent: the record is there for another process to read, no order was made, and
/// `--resume` asks BT, finds nothing, sends the create once, and the journey ends with one order.
#[tokio::test]
async fn killed_between_the_create_record_and_its_send_then_resumed_makes_one_order() {
    use tokio::io::AsyncBufReadExt;
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let mut child = btw(&url, dir.path())
        .args(["run", "scripts/whc_provide.rhai", "--json"])
        .env("BTW_TEST_STALL_BEFORE_SEND", "create order")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let stalled = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("stalled before sending create order") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(stalled, Ok(true), "the run never reached the create");
    assert!(orders_created(&url).await.is_empty(), "the create was sent");
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    let run_id = killed_run_with_its_create_started(dir.path());
    let store = btw::store::Store::open(&dir.path().join("btw.db")).unwrap();
    assert_eq!(store.run_get(&run_id).unwrap().unwrap().outcome, "running");
    drop(store);

    resumed_to_one_order(&url, dir.path(), &run_id).await;
}

/// The killed run in data folder `data`: its id, once checked that its create's ledger record
/// is there, `started` (committed before the send; no result recorded).
fn killed_run_with_its_create_started(data: &Path) -> String {
    let store = btw::store::Store::open(&data.join("btw.db")).unwrap();
    let run_id = store
        .latest_run_id()
        .unwrap()
        .expect("the run was recorded");
    let steps = store.ledger_steps(&run_id).unwrap();
    let create = steps
        .iter()
        .find(|s| s.operation == "create order")
        .expect("the create's record was committed before its send");
    assert_eq!(
        create.state,
        btw::store::StepState::Started,
        "killed before the result was recorded"
    );
    run_id
}

/// `btw run --resume` of the killed run: it asks BT whether the create took effect and ends
/// the journey with exactly one order.
async fn resumed_to_one_order(url: &str, data: &Path, run_id: &str) {
    let o = output(btw(url, data).args(["run", "--resume", run_id, "--json"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["state"], "completed");
    assert_eq!(v["run_id"], run_id);
    assert_eq!(
        orders_created(url).await,
        vec![v["order_id"].as_str().unwrap().to_string()],
        "exactly one order"
    );
    assert!(
        o.stderr.contains("asking BT whether it took effect"),
        "{}",
        o.stderr
    );
}

/// The whole journey at TRACE log level prints neither the client secret, nor its Basic form,
/// nor any bearer token, in the logs, the errors or the output.
#[tokio::test]
async fn trace_logs_never_show_secrets_or_tokens() {
    let secret = "s3cr3t-never-print-me";
    let sb = sandbox_with(btw_sandbox::SandboxConfig {
        credentials: Some(("trace-key".into(), secret.into())),
        order_step_secs: 0.2,
        ..Default::default()
    })
    .await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let o = output(
        btw(&url, dir.path())
            .args(["-vvv", "run", "scripts/whc_provide.rhai", "--json"])
            .env("BTW_LOG", "trace")
            .env("BTW_CLIENT_KEY", "trace-key")
            .env("BTW_CLIENT_SECRET", secret),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.lines().count() > 50,
        "trace logging is on: {} lines",
        o.stderr.lines().count()
    );
    // The tokens the sandbox issued, read from a fresh client, look like this: 28 letters/digits.
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("trace-key:{secret}"))
    };
    for text in [&o.stdout, &o.stderr] {
        assert!(!text.contains(secret), "the secret was printed");
        assert!(!text.contains(&basic), "the Basic credentials were printed");
        assert!(
            !text.to_ascii_lowercase().contains("bearer "),
            "an Authorization header was printed"
        );
    }
    // And a wrong secret in an error message is not echoed either.
    let bad = output(
        btw(&url, dir.path())
            .args(["-vvv", "run", "scripts/whc_provide.rhai"])
            .env("BTW_LOG", "trace")
            .env("BTW_CLIENT_KEY", "trace-key")
            .env("BTW_CLIENT_SECRET", "wrong-secret-xyz"),
    )
    .await;
    assert_eq!(bad.code, 4);
    assert!(!bad.stderr.contains("wrong-secret-xyz") && !bad.stdout.contains("wrong-secret-xyz"));
}

/// A token the gateway refuses with 401/41 (another client's token request purged it after the
/// shared clock jumped two days) is fetched again once, and the call repeated: the journey goes
/// on instead of failing with "Invalid credentials".
#[tokio::test]
async fn a_token_refused_mid_run_is_fetched_again_once() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let mine = client(&url);
    mine.reseller(CUG).await.unwrap();
    advance(&url, 2.0 * 86_400.0 + 3_600.0).await;
    // Someone else's token request forgets tokens that expired over a day ago: mine among them.
    client(&url).reseller(CUG).await.unwrap();
    let before = mine.calls_made();
    mine.reseller(CUG)
        .await
        .expect("the refused token is replaced and the call repeated");
    // The refused call, the token, the repeat.
    assert_eq!(mine.calls_made() - before, 3);
}

/// Through the binary: a run whose token an operator's action purges mid-run (the shared clock
/// moved two days, then someone's token request) gets 401/41 on its next call, fetches a token
/// once, and goes on to a mutating call that succeeds.
#[tokio::test]
async fn a_run_survives_its_token_purged_by_an_operator_mid_run() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("purged.rhai");
    std::fs::write(
        &recipe,
        r#"//! name: a token purged mid-run
let start = time::now();
whc::reseller();
print("first call made");
let waited = 0;
while time::diff_secs(start, time::now()) < 86400 && waited < 600 { time::sleep(0.05); waited += 1; }
if waited >= 600 { throw "nobody moved the clock"; }
let q = whc::qualify_company(#{name: "Purged Token Ltd", domain: "purged-token.co.uk", group: "SWAINsTelecom"});
q.result
"#,
    )
    .unwrap();
    let mut cmd = btw(&url, dir.path());
    cmd.args(["run", recipe.to_str().unwrap(), "--json"]);
    let run = tokio::spawn(async move { output(&mut cmd).await });
    // Once the run has its token (its first call is in the journal), the operator acts.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j = journal(&url).await;
        if requests_where(&j, |r| {
            r["path"].as_str().is_some_and(|p| p.contains("reseller"))
        }) > 0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never made its first call"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    advance(&url, 2.0 * 86_400.0 + 3_600.0).await;
    client(&url).reseller(CUG).await.unwrap();
    let o = run.await.unwrap();
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("Qualified"), "{}", o.stdout);
    let j = journal(&url).await;
    let refused = requests_where(&j, |r| r["status"] == 401);
    assert_eq!(refused, 1, "one call refused, then a fresh token: {j:#}");
}

/// How many requests in the sandbox journal `j` match `keep`.
fn requests_where(j: &Value, keep: impl Fn(&Value) -> bool) -> usize {
    j["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| keep(r))
        .count()
}
