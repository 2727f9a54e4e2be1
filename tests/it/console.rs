//! The operator's console (`btw serve --http`): its pages in headless Chromium, `/metrics`,
//! `/healthz`, and the signed webhook alerts of failed runs, across a dead receiver and a restart.

use crate::common::*;
use crate::daemon_support::*;
use chrono::Duration as Span;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OK_RECIPE: &str = "//! name: quote\n//! trigger: on-drop\nlet q = ethernet::quote(#{product: \"EtherflowInternet\", bandwidth: 100, term: 12, a_end: \"LS1 5HD\"});\n#{quote: q.id}\n";
pub(crate) const FAILING_RECIPE: &str =
    "//! name: order\n//! trigger: on-drop\nethernet::order(#{quote_id: \"Q-DOES-NOT-EXIST\"})\n";

/// `btw serve --http 127.0.0.1:0` with extra environment; its console's base URL.
async fn serve_console(
    url: &str,
    data: &Path,
    env: &[(&str, String)],
    args: &[&str],
) -> (Serve, String) {
    std::fs::create_dir_all(data).unwrap();
    let n = std::fs::read_dir(data).map(|d| d.count()).unwrap_or(0);
    let log = data.join(format!("console-{n}.log"));
    let mut cmd = btw(url, data);
    let http = if args.contains(&"--http") {
        &[][..]
    } else {
        &["--http", "127.0.0.1:0"][..]
    };
    cmd.args(["serve", "--debounce-ms", "150"])
        .args(http)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.clone())))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let d = Serve {
        child: cmd.spawn().unwrap(),
        log,
    };
    d.wait_log("console on http://", 1).await;
    let text = d.log();
    let at = text.find("console on http://").unwrap() + "console on ".len();
    let base: String = text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    (d, base)
}

fn chromium() -> Option<PathBuf> {
    let required = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("BTW_TEST_BROWSER").is_ok_and(|v| v == "required");
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !required,
            "the browser test needs chromium (apt-get install chromium)"
        );
        // Straight to stderr, past the test harness's capture, so `cargo test` shows it.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED the console's browser test: chromium is not installed\n",
        );
    }
    found
}

/// What headless Chromium shows at `url` (its DOM after loading).
async fn browse(chrome: &Path, profile: &Path, url: &str) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(chrome)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--dump-dom", url])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium answered in time")
    .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Headless Chromium driven over its DevTools pipe (`--remote-debugging-pipe`: fds 3 and 4,
/// here named pipes), with one page open. Blocking: use it on a blocking thread.
struct Cdp {
    child: std::process::Child,
    w: std::fs::File,
    r: std::fs::File,
    buf: Vec<u8>,
    next_id: u64,
    session: String,
    _dir: tempfile::TempDir,
}

impl Cdp {
    /// Chromium with a fresh profile under `dir`, showing `url`.
    fn open(chrome: &Path, dir: &Path, url: &str) -> Cdp {
        let tmp = tempfile::tempdir_in(dir).unwrap();
        let (inp, out) = (tmp.path().join("cdp-in"), tmp.path().join("cdp-out"));
        for f in [&inp, &out] {
            assert!(std::process::Command::new("mkfifo")
                .arg(f)
                .status()
                .unwrap()
                .success());
        }
        let script = "exec \"$0\" --headless --no-sandbox --disable-gpu --no-first-run \
            --hide-scrollbars --user-data-dir=\"$1\" --remote-debugging-pipe about:blank \
            3<\"$2\" 4>\"$3\" 2>/dev/null";
        let child = std::process::Command::new("sh")
            .args(["-c", script])
            .arg(chrome)
            .arg(tmp.path().join("profile"))
            .args([&inp, &out])
            .spawn()
            .unwrap();
        let w = std::fs::OpenOptions::new().write(true).open(&inp).unwrap();
        let r = std::fs::File::open(&out).unwrap();
        let mut cdp = Cdp {
            child,
            w,
            r,
            buf: Vec::new(),
            next_id: 0,
            session: String::new(),
            _dir: tmp,
        };
        let target = cdp.call(
            "Target.createTarget",
            serde_json::json!({"url": "about:blank"}),
            false,
        );
        let attached = cdp.call(
            "Target.attachToTarget",
            serde_json::json!({"targetId": target["targetId"], "flatten": true}),
            false,
        );
        cdp.session = attached["sessionId"].as_str().unwrap().to_string();
        cdp.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
            true,
        );
        cdp.call("Page.navigate", serde_json::json!({"url": url}), true);
        cdp
    }

    fn call(&mut self, method: &str, params: Value, in_page: bool) -> Value {
        use std::io::{Read, Write};
        self.next_id += 1;
        let mut msg = serde_json::json!({"id": self.next_id, "method": method, "params": params});
        if in_page {
            msg["sessionId"] = self.session.clone().into();
        }
        self.w.write_all(format!("{msg}\0").as_bytes()).unwrap();
        loop {
            while let Some(end) = self.buf.iter().position(|b| *b == 0) {
                let reply: Value = serde_json::from_slice(&self.buf[..end]).unwrap();
                self.buf.drain(..=end);
                if reply["id"] == self.next_id {
                    return reply["result"].clone();
                }
            }
            let mut chunk = [0u8; 65536];
            let n = self.r.read(&mut chunk).unwrap();
            assert!(n > 0, "chromium closed its DevTools pipe");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expr: &str) -> Value {
        self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expr, "returnByValue": true}),
            true,
        )["result"]["value"]
            .clone()
    }

    /// Waits until `expr` is true in the page, polling against a deadline.
    fn wait(&mut self, expr: &str, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.eval(expr) != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {secs} s\n{}",
                self.html()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `selector` on a loaded page.
    fn wait_for(&mut self, selector: &str) {
        let found =
            format!("document.readyState == 'complete' && !!document.querySelector({selector:?})");
        self.wait(&found, &format!("{selector} on the page"), 40);
    }

    /// Presses `selector` (saying yes to any confirmation) and waits for the page it leads to.
    fn press(&mut self, selector: &str) -> String {
        self.wait_for(selector);
        self.eval(&format!(
            "window.__before = true; window.confirm = function () {{ sessionStorage.asked = 'yes'; return true; }}; document.querySelector({selector:?}).click(); 1"
        ));
        // The press posts the form; the answer is a new document (without the marker).
        self.wait(
            "window.__before !== true && document.readyState == 'complete'",
            "the press led to a page",
            40,
        );
        self.html()
    }

    fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The whole page as a PNG at `to`.
    fn screenshot(&mut self, to: &Path) {
        use base64::Engine as _;
        let shot = self.call(
            "Page.captureScreenshot",
            serde_json::json!({"format": "png", "captureBeyondViewport": true}),
            true,
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .unwrap();
        std::fs::write(to, png).unwrap();
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Presses `selector` on the page at `url` in headless Chromium; the HTML of the page the press
/// leads to.
fn click(chrome: &Path, dir: &Path, url: &str, selector: &str) -> String {
    Cdp::open(chrome, dir, url).press(selector)
}

#[tokio::test]
async fn the_console_shows_runs_and_errors_retries_missed_jobs_and_reports_metrics_and_health() {
    let Some(chrome) = chromium() else { return };
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("ok.rhai"), OK_RECIPE).unwrap();
    std::fs::write(recipes.join("fail.rhai"), FAILING_RECIPE).unwrap();
    let job_recipe = root.path().join("job.rhai");
    std::fs::write(&job_recipe, "#{ran: params.port_id}\n").unwrap();
    let when = (sandbox_now(&url).await + Span::seconds(60)).to_rfc3339();
    let o = output(
        btw(&url, &data)
            .args(["schedule", "add", "--json", "--at", &when])
            .args([
                "--catch-up",
                "10",
                "-p",
                "port_id=PO1",
                job_recipe.to_str().unwrap(),
            ]),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let job: Value = serde_json::from_str(&o.stdout).unwrap();
    let job_id = job["id"].as_str().unwrap().to_string();
    advance(&url, 3600.0).await;

    let (d, base) = serve_console(&url, &data, &[], &[]).await;
    wait_for("two runs and the miss", 60, || {
        let r = reports(&recipes);
        r.iter().any(|r| r["outcome"] == "missed")
            && r.iter().filter(|r| r["outcome"] != "missed").count() >= 2
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let failed = reports(&recipes)
        .into_iter()
        .find(|r| r["outcome"] == "bt")
        .expect("a failed run");
    let failed_id = failed["run_id"].as_str().unwrap().to_string();

    let profile = root.path().join("chromium");
    let page = browse(&chrome, &profile, &format!("{base}/runs")).await;
    assert!(
        page.contains("ok.rhai") && page.contains("fail.rhai"),
        "{page}"
    );
    assert!(
        page.contains(r#"data-outcome="ok""#) && page.contains(r#"data-outcome="bt""#),
        "{page}"
    );
    assert!(page.contains(&failed_id), "{page}");

    let page = browse(&chrome, &profile, &format!("{base}/runs/{failed_id}")).await;
    let cell = |id: &str| -> String {
        let from = page
            .find(&format!("id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no {id} in {page}"));
        page[from + id.len() + 6..]
            .split('<')
            .next()
            .unwrap()
            .trim()
            .to_string()
    };
    assert!(!cell("bt-code").is_empty(), "{page}");
    let tracking_id = cell("tracking-id");
    assert!(
        uuid::Uuid::parse_str(&tracking_id).is_ok(),
        "a tracking id: {tracking_id:?}\n{page}"
    );
    assert_eq!(failed["error"]["bt"]["tracking_id"], tracking_id.as_str());
    assert!(page.contains("Q-DOES-NOT-EXIST"), "the params: {page}");

    // The missed job's Retry button, pressed in Chromium; a forged form is refused.
    let page = browse(&chrome, &profile, &format!("{base}/schedules")).await;
    let form = format!("action=\"/jobs/{job_id}/retry\"");
    assert!(page.contains(&form), "{page}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged = http
        .post(format!("{base}/jobs/{job_id}/retry"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (c, dir, at) = (
        chrome.clone(),
        root.path().to_path_buf(),
        format!("{base}/schedules"),
    );
    let button = format!("form[{form}] button");
    let after = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::task::spawn_blocking(move || click(&c, &dir, &at, &button)),
    )
    .await
    .expect("chromium pressed the button in time")
    .unwrap();
    assert!(
        after.contains("Schedules"),
        "back on the schedules page: {after}"
    );
    wait_for("the retried job's run", 30, || {
        reports(&recipes)
            .iter()
            .any(|r| r["result"]["ran"] == "PO1")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let retried = reports(&recipes)
        .into_iter()
        .find(|r| r["result"]["ran"] == "PO1")
        .unwrap();
    let page = browse(&chrome, &profile, &format!("{base}/runs")).await;
    assert!(
        page.contains(retried["run_id"].as_str().unwrap()) && page.contains("job.rhai"),
        "{page}"
    );
    // The job's history keeps the miss beside the run that followed, with its params.
    let page = browse(&chrome, &profile, &format!("{base}/schedules")).await;
    let row = &page[page
        .find(&format!("id=\"job-{job_id}\""))
        .unwrap_or_else(|| panic!("{page}"))..];
    let row = &row[..row.find("</tr>").unwrap()];
    let history = &row[row.find("class=\"history\"").unwrap()..];
    assert!(
        history.contains(">ok</a>") && history.contains(">missed</a>"),
        "{row}"
    );
    assert!(row.contains("PO1"), "the params: {row}");
    if let Some(shot) = std::env::var_os("BTW_CONSOLE_SCREENSHOT") {
        let _ = tokio::process::Command::new(&chrome)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1280,720",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--screenshot={}", PathBuf::from(shot).display()))
            .arg(format!("{base}/runs"))
            .output()
            .await;
    }

    check_metrics(&base).await;
    check_health(&base, &data.join("btw.db")).await;
    d.stop().await;
}

/// `/metrics` is Prometheus text whose run counters match the runs made.
async fn check_metrics(base: &str) {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut samples = std::collections::HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let bare = name.split('{').next().unwrap();
        assert!(
            bare.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(!name.contains('{') || name.ends_with('}'), "{line}");
        samples.insert(name.to_string(), value);
    }
    for (sample, want) in [
        (r#"btw_runs_total{recipe="ok.rhai",outcome="ok"}"#, 1.0),
        (r#"btw_runs_total{recipe="fail.rhai",outcome="bt"}"#, 1.0),
        (r#"btw_runs_total{recipe="job.rhai",outcome="ok"}"#, 1.0),
        ("btw_jobs_missed", 0.0),
    ] {
        assert_eq!(samples.get(sample), Some(&want), "{sample}\n{text}");
    }
    assert!(
        samples
            .get(r#"btw_last_success_timestamp_seconds{recipe="job.rhai"}"#)
            .is_some_and(|t| *t > 1.7e9),
        "{text}"
    );
    assert_eq!(samples.get("btw_jobs_failed"), Some(&0.0), "{text}");
    assert!(text.contains("btw_bt_calls_total{operation="), "{text}");
    assert!(
        text.contains("btw_bt_call_duration_seconds_bucket{"),
        "{text}"
    );
}

/// `/healthz` answers 200, then 503 with the reason while another process holds the store's
/// write lock.
async fn check_health(base: &str, store: &Path) {
    let ok = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let bad = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(bad.status(), 503);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("store is not writable"),
        "{body}"
    );
    conn.execute_batch("ROLLBACK").unwrap();
}

/// What the test receiver got: headers and body of each POST.
pub(crate) type Received = Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>;

pub(crate) async fn receiver(addr: &str) -> (Received, tokio::task::JoinHandle<()>) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    (
        got,
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() }),
    )
}

/// A `btw.toml` in `root` whose alerts go to `{hook}/hook` (`extra`: more `[alerts]` lines).
pub(crate) fn alerts_config(root: &Path, hook: &str, extra: &str) -> PathBuf {
    let config = root.join("btw.toml");
    std::fs::write(
        &config,
        format!("[alerts]\nwebhook_url = \"{hook}/hook\"\n{extra}"),
    )
    .unwrap();
    config
}

/// Verifies a Standard Webhooks signature independently of btw.
pub(crate) fn verify(secret: &str, headers: &axum::http::HeaderMap, body: &str) -> bool {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{body}", h("webhook-id"), h("webhook-timestamp")).as_bytes());
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let ts: i64 = h("webhook-timestamp").parse().unwrap_or(0);
    (chrono::Utc::now().timestamp() - ts).abs() < 300
        && h("webhook-signature")
            .split(' ')
            .any(|s| s == format!("v1,{want}"))
}

#[tokio::test]
async fn a_failed_run_posts_one_signed_webhook_even_when_the_receiver_was_down_across_a_restart() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    let hook = closed_port_url();
    let config = alerts_config(root.path(), &hook, "");
    let env = [
        ("BTW_CONFIG", config.display().to_string()),
        ("BTW_ALERT_SECRET", SECRET.to_string()),
    ];

    // The receiver is down: the run is not held up, its alert waits in the store.
    let (d, _) = serve_console(&url, &data, &env, &[]).await;
    let started = Instant::now();
    std::fs::write(recipes.join("fail.rhai"), FAILING_RECIPE).unwrap();
    wait_for("the failed run", 30, || {
        reports(&recipes).iter().any(|r| r["outcome"] == "bt")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let report = reports(&recipes)
        .into_iter()
        .find(|r| r["outcome"] == "bt")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "{}", d.log());
    assert!(report["elapsed_ms"].as_u64().unwrap() < 5_000, "{report}");
    assert!(report["recipe_hash"].is_string(), "{report}");
    assert!(report["error"]["bt"]["tracking_id"].is_string(), "{report}");
    d.wait_log("not delivered", 1).await;
    let log = d.stop().await;
    assert!(!log.contains(SECRET), "{log}");
    let o = output(btw(&url, &data).args(["status"])).await;
    assert!(
        o.stdout.contains("alerts waiting for the webhook: 1"),
        "{}",
        o.stdout
    );

    // The receiver comes back, then the daemon: the alert arrives, once, signed.
    let (got, server) = receiver(hook.trim_start_matches("http://")).await;
    let (d, _) = serve_console(&url, &data, &env, &["--log-format", "json"]).await;
    wait_for("the alert", 30, || !got.lock().unwrap().is_empty())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.wait_log(") delivered", 1).await;
    let (headers, body) = got.lock().unwrap()[0].clone();
    assert!(verify(SECRET, &headers, &body), "{headers:?} {body}");
    let alert: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alert["type"], "run.failed");
    assert_eq!(alert["data"]["run_id"], report["run_id"]);
    assert!(
        alert["data"]["error"]["bt"]["tracking_id"].is_string(),
        "{alert}"
    );
    let log = d.stop().await;
    assert_eq!(got.lock().unwrap().len(), 1);
    // --log-format json: one object per line, each with its time.
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["timestamp"].is_string(), "{line}");
    }
    assert!(!log.contains(SECRET), "{log}");
    server.abort();
}

#[tokio::test]
async fn a_console_open_to_the_network_needs_a_token_and_asks_for_it() {
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let o = output(btw(&url, &data).args(["serve", "--http", "0.0.0.0:0"])).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("BTW_HTTP_TOKEN"), "{}", o.stderr);

    const TOKEN: &str = "console-token-never-print-me";
    let env = [("BTW_HTTP_TOKEN", TOKEN.to_string())];
    let (d, base) = serve_console(&url, &data, &env, &["--http", "0.0.0.0:0"]).await;
    let base = base.replace("0.0.0.0", "127.0.0.1");
    let http = reqwest::Client::new();
    let denied = http.get(format!("{base}/runs")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let wrong = http
        .get(format!("{base}/metrics"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = http
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let first = http
        .get(format!("{base}/runs?token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("HttpOnly"));
    let page = first.text().await.unwrap();
    assert!(!page.contains(TOKEN), "{page}");
    let log = d.stop().await;
    assert!(!log.contains(TOKEN), "{log}");
}

#[tokio::test]
async fn the_recipes_page_shows_when_each_version_loaded_and_a_broken_recipes_error() {
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("good.rhai"), "//! trigger: manual\n1\n").unwrap();
    std::fs::write(recipes.join("bad.rhai"), "//! trigger: manual\nlet = ;\n").unwrap();
    let (d, base) = serve_console(&url, &data, &[], &[]).await;
    d.wait_log("good.rhai: loaded", 1).await;
    d.wait_log("bad.rhai: broken edit", 1).await;
    let page = reqwest::get(format!("{base}/recipes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    let status = health.status();
    let body: Value = health.json().await.unwrap();
    let log = d.stop().await;
    assert!(page.contains("Loaded at (UK)"), "{page}");
    let broken = &page[page
        .find("id=\"broken\"")
        .unwrap_or_else(|| panic!("{page}"))..];
    assert!(broken.contains("bad.rhai"), "{broken}");
    // The compiler's error, with its line, as the log has it.
    assert!(broken.contains("bad.rhai:2"), "{broken}\n{log}");
    // The sandbox profile's listener is up.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["listener"], true, "{body}");
}

/// A recipe for inbox jobs that BT refuses (no such quote).
const INBOX_FAILING: &str =
    "//! trigger: manual\n//! param quote_id: text\nethernet::order(#{quote_id: params.quote_id})\n";

/// The text of the element with `id` in `page`, trimmed.
fn text_of(page: &str, id: &str) -> String {
    let from = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {page}"));
    let rest = &page[from..];
    let open = rest.find('>').unwrap() + 1;
    rest[open..].split('<').next().unwrap().trim().to_string()
}

#[tokio::test]
async fn an_operators_morning_the_front_page_counts_a_failed_inbox_run_run_again_refused_jobs_and_a_filter_kept_live(
) {
    let Some(chrome) = chromium() else { return };
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(recipes.join("inbox")).unwrap();
    std::fs::write(recipes.join("ok.rhai"), OK_RECIPE).unwrap();
    std::fs::write(recipes.join("order.rhai"), INBOX_FAILING).unwrap();
    let (d, base) = serve_console(&url, &data, &[], &[]).await;
    d.wait_log("order.rhai: loaded", 1).await;
    std::fs::write(
        recipes.join("inbox").join("order-1.json"),
        r#"{"recipe": "order.rhai", "params": {"quote_id": "Q-NOPE-1"}}"#,
    )
    .unwrap();
    std::fs::write(
        recipes.join("inbox").join("bad.json"),
        r#"{"recipe": "order.rhai", "priority": "high"}"#,
    )
    .unwrap();
    wait_for(
        "the on-drop run, the failed inbox run and the refusal",
        30,
        || {
            let r = reports(&recipes);
            r.iter().any(|r| r["outcome"] == "ok")
                && r.iter().any(|r| r["origin"] == "inbox:order-1.json")
                && recipes.join("inbox/failed/bad.json").exists()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let failed = reports(&recipes)
        .into_iter()
        .find(|r| r["origin"] == "inbox:order-1.json")
        .unwrap();
    assert_eq!(failed["outcome"], "bt", "{failed}");
    let failed_id = failed["run_id"].as_str().unwrap().to_string();

    // The front page counts what the store holds (here, the reports the runs wrote).
    let page = browse(&chrome, &root.path().join("p1"), &format!("{base}/")).await;
    let all = reports(&recipes);
    let count = |o: &str| all.iter().filter(|r| r["outcome"] == o).count().to_string();
    assert_eq!(text_of(&page, "count-day-ok"), count("ok"), "{page}");
    assert_eq!(text_of(&page, "count-hour-ok"), count("ok"), "{page}");
    assert_eq!(
        text_of(&page, "count-day-bt_refused"),
        count("bt"),
        "{page}"
    );
    assert_eq!(text_of(&page, "failed-day"), count("bt"), "{page}");
    assert_eq!(text_of(&page, "health"), "healthy", "{page}");
    // Each count links to the runs it counts.
    let link = &page[page.find("id=\"counts\"").unwrap()..];
    let from = link.find("href=\"/runs?outcome=bt_refused").unwrap() + 6;
    let href = link[from..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let listed = reqwest::get(format!("{base}{href}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        listed.matches("class=\"run\"").count().to_string(),
        count("bt"),
        "{href}: {listed}"
    );
    // The refused inbox job, with its reason.
    assert_eq!(text_of(&page, "refused-count"), "1", "{page}");
    let refused = &page[page.find("id=\"refused\"").unwrap()..];
    assert!(refused.contains("bad.json"), "{refused}");
    assert!(refused.contains("unknown key"), "{refused}");
    // Fixed in inbox/failed/, the refused job is retried from the front page and runs.
    std::fs::write(
        recipes.join("inbox/failed/bad.json"),
        r#"{"recipe": "ok.rhai"}"#,
    )
    .unwrap();
    let (c, dir, at) = (
        chrome.clone(),
        root.path().to_path_buf(),
        format!("{base}/"),
    );
    let after = tokio::task::spawn_blocking(move || {
        click(&c, &dir, &at, "tr[data-file=\"bad.json\"] button")
    })
    .await
    .unwrap();
    assert!(
        after.contains("inbox/bad.json is back in the inbox"),
        "{after}"
    );
    wait_for("the retried job's run", 30, || {
        reports(&recipes)
            .iter()
            .any(|r| r["origin"] == "inbox:bad.json" && r["outcome"] == "ok")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert!(!recipes.join("inbox/failed/bad.json.error.txt").exists());
    // `btw status` says the same as the front page (one function reads both).
    let o = output(btw(&url, &data).args(["status", "--json"])).await;
    let status: Value = serde_json::from_str(&o.stdout).unwrap();
    let all = reports(&recipes);
    let count = |o: &str| all.iter().filter(|r| r["outcome"] == o).count().to_string();
    assert_eq!(
        status["last_day"]["ok"].to_string(),
        count("ok"),
        "{status}"
    );
    assert_eq!(
        status["last_day"]["bt_refused"].to_string(),
        count("bt"),
        "{status}"
    );
    assert_eq!(status["refused_jobs"], 0, "{status}");

    // The failed inbox run, run again from its page: a new run of it appears.
    let (c, dir, at) = (
        chrome.clone(),
        root.path().to_path_buf(),
        format!("{base}/runs/{failed_id}"),
    );
    let after = tokio::task::spawn_blocking(move || click(&c, &dir, &at, "#again button"))
        .await
        .unwrap();
    assert!(after.contains("Started again as run"), "{after}");
    // Without JavaScript, the press asks on a page of its own first.
    let csrf: String = after[after.find("name=\"csrf\" value=\"").unwrap() + 19..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let ask = reqwest::Client::new()
        .post(format!("{base}/runs/{failed_id}/again"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ask.status(), 200);
    let ask = ask.text().await.unwrap();
    assert!(
        ask.contains("name=\"confirmed\" value=\"yes\"") && ask.contains("Run again?"),
        "{ask}"
    );
    let from = after.find("Started again as run <a href=\"/runs/").unwrap() + 36;
    let new_id: String = after[from..].chars().take_while(|c| *c != '"').collect();
    assert_ne!(new_id, failed_id);
    wait_for("the re-run's report", 30, || {
        reports(&recipes)
            .iter()
            .any(|r| r["run_id"] == new_id.as_str())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let rerun = reports(&recipes)
        .into_iter()
        .find(|r| r["run_id"] == new_id.as_str())
        .unwrap();
    // The same params, from the store.
    assert_eq!(rerun["params"]["quote_id"], "Q-NOPE-1", "{rerun}");
    assert_eq!(rerun["recipe_hash"], failed["recipe_hash"], "{rerun}");

    // A filter being typed survives the runs list's live updates, which bring in a new run.
    let (c, dir, at, r2) = (
        chrome.clone(),
        root.path().to_path_buf(),
        format!("{base}/runs"),
        recipes.clone(),
    );
    let new_id2 = new_id.clone();
    let shots = std::env::var_os("BTW_CONSOLE_SCREENSHOTS").map(PathBuf::from);
    let (front_url, run_url) = (format!("{base}/"), format!("{base}/runs/{failed_id}"));
    tokio::task::spawn_blocking(move || {
        let mut b = Cdp::open(&c, &dir, &at);
        b.wait_for(&format!("tr[data-run=\"{new_id2}\"]"));
        b.eval("var i = document.querySelector('input[name=recipe]'); i.focus(); i.value = 'typed-not-sent'; 1");
        std::fs::write(r2.join("later.rhai"), OK_RECIPE.replace("name: quote", "name: later"))
            .unwrap();
        b.wait(
            "(+document.body.dataset.swaps || 0) >= 1 && document.querySelector('#runs').textContent.includes('later.rhai')",
            "a live update with the new run",
            40,
        );
        assert_eq!(
            b.eval("document.querySelector('input[name=recipe]').value"),
            "typed-not-sent"
        );
        assert_eq!(
            b.eval("document.activeElement && document.activeElement.name"),
            "recipe"
        );
        if let Some(to) = shots {
            for (page, file) in [(front_url, "console-overview.png"), (run_url, "console-run.png")] {
                let mut s = Cdp::open(&c, &dir, &page);
                s.wait_for("main h1");
                s.screenshot(&to.join(file));
            }
        }
    })
    .await
    .unwrap();
    d.stop().await;
}

#[tokio::test]
async fn healthz_is_503_while_alerts_cannot_be_delivered_past_the_limit_and_200_once_they_are() {
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    let hook = closed_port_url();
    let config = alerts_config(root.path(), &hook, "unhealthy_after_secs = 2\n");
    let env = [("BTW_CONFIG", config.display().to_string())];
    let (d, base) = serve_console(&url, &data, &env, &[]).await;
    let health = || async {
        let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };
    assert_eq!(health().await.0, 200);
    std::fs::write(recipes.join("fail.rhai"), FAILING_RECIPE).unwrap();
    d.wait_log("not delivered", 1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let (status, body) = health().await;
        if status == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "still {status}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let problem = body["problems"][0].as_str().unwrap();
    assert!(problem.contains("alerts undeliverable"), "{body}");
    assert!(problem.contains("limit 2 s"), "{body}");
    assert!(!problem.contains(&hook), "no address in the reason: {body}");
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sample = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(sample("btw_alerts_pending"), 1.0, "{text}");
    assert!(sample("btw_alert_queue_age_seconds") > 0.0, "{text}");
    assert_eq!(sample("btw_runs_in_flight"), 0.0, "{text}");
    assert!(sample("btw_heartbeat_age_seconds") < 60.0, "{text}");
    for gauge in ["btw_jobs_failed", "btw_inbox_backlog", "btw_broken_recipes"] {
        assert_eq!(sample(gauge), 0.0, "{gauge}: {text}");
    }

    // The receiver comes up: the alert goes through and the daemon is healthy again.
    let (got, server) = receiver(hook.trim_start_matches("http://")).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (status, body) = health().await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status}: {body}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(got.lock().unwrap().len(), 1);
    d.stop().await;
    server.abort();
}

#[tokio::test]
async fn a_failed_run_with_completed_steps_is_resumed_from_its_page_under_its_own_id() {
    let Some(chrome) = chromium() else { return };
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    std::fs::create_dir_all(recipes.join("inbox")).unwrap();
    // A quote (a step the ledger completes), then an order BT refuses.
    std::fs::write(
        recipes.join("two.rhai"),
        "//! trigger: on-drop\nlet q = ethernet::quote(#{product: \"EtherflowInternet\", bandwidth: 100, term: 12, a_end: \"LS1 5HD\"});\nethernet::order(#{quote_id: \"Q-DOES-NOT-EXIST\"})\n",
    )
    .unwrap();
    let (d, base) = serve_console(&url, &data, &[], &[]).await;
    wait_for("the failed run", 30, || {
        reports(&recipes).iter().any(|r| r["outcome"] == "bt")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let failed = reports(&recipes).into_iter().next().unwrap();
    let id = failed["run_id"].as_str().unwrap().to_string();
    let (c, dir, at) = (
        chrome.clone(),
        root.path().to_path_buf(),
        format!("{base}/runs/{id}"),
    );
    let after = tokio::task::spawn_blocking(move || {
        let mut b = Cdp::open(&c, &dir, &at);
        let html = b.press("#again button");
        assert_eq!(
            b.eval("sessionStorage.asked"),
            "yes",
            "the press asked first"
        );
        html
    })
    .await
    .unwrap();
    assert!(after.contains("Resumed under the same run id"), "{after}");
    wait_for("the resumed run's report", 30, || {
        reports(&recipes)
            .iter()
            .any(|r| r["run_id"] == id.as_str() && r["attempts"] == 2)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.stop().await;
    let resumed = reports(&recipes)
        .into_iter()
        .find(|r| r["run_id"] == id.as_str())
        .unwrap();
    assert_eq!(resumed["resumed"], true, "{resumed}");
    // The quote was replayed from the ledger, not asked for again.
    assert!(
        resumed["http_calls"].as_u64() < failed["http_calls"].as_u64(),
        "{failed}\n{resumed}"
    );
    assert_eq!(reports(&recipes).len(), 1, "no new run");
}
