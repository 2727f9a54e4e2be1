//! Hostile scripts and settings through the real binary: each ends in a clear error with its
//! exit code, quickly, never a panic, a hang or exit 0.

use crate::common::*;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs `cmd` with a time limit, so a regression fails instead of hanging the suite.
async fn limited(cmd: &mut tokio::process::Command, limit: Duration) -> Output {
    let o = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("btw did not finish in {limit:?}"))
        .unwrap();
    Output {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `btw` like [`btw`], but under a 4 GB address-space cap: a regression that reads or grows
/// without bound fails the test (the child aborts) instead of exhausting the machine.
fn capped_btw(url: &str, data_dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", data_dir)
        .env("BTW_BASE_URL", url)
        .env("BTW_DATA_DIR", data_dir)
        .current_dir(repo())
        .kill_on_drop(true)
        .args(["-c", "ulimit -v 4000000 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_btw"));
    cmd
}

/// The id of the run a child process started in `data_dir`, once it is recorded.
async fn started_run(data_dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = btw::store::Store::open(&data_dir.join("btw.db"))
            .ok()
            .and_then(|s| s.latest_run_id().ok().flatten());
        if let Some(id) = found {
            return id;
        }
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A failure that is not a panic (exit 101) and says `needle`.
fn assert_fails(o: &Output, code: i32, needle: &str) {
    assert_eq!(o.code, code, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
    assert!(o.stderr.contains(needle), "{needle:?} not in: {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
}

#[tokio::test]
async fn index_writes_cannot_grow_a_map_or_array_past_the_limits() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing reads the value after the loop: the write itself must be refused. Each write is a 256 KB string (within max_string_size); 64 of them would be 16 MB.
    let grow = "let s = \"x\"; for i in 0..18 { s += s; }\n";
    for (name, body) in [
        (
            "map.rhai",
            "let m = #{}; for k in 0..64 { m[`k${k}`] = s; }\n0",
        ),
        (
            "array.rhai",
            "let a = []; a.pad(64, 0); for k in 0..64 { a[k] = s; }\n0",
        ),
        (
            "nested.rhai",
            "let m = #{inner: []}; m.inner.pad(64, 0); for k in 0..64 { m.inner[k] = s; }\n0",
        ),
    ] {
        let script = write(dir.path(), name, &format!("{grow}{body}\n"));
        let started = Instant::now();
        let o = limited(
            capped_btw(&sb.base_url(), dir.path())
                .arg("run")
                .arg(&script),
            Duration::from_secs(30),
        )
        .await;
        assert_fails(&o, 3, "size limit reached");
        assert!(o.stderr.contains(&format!("{name}:2:")), "{}", o.stderr);
        assert!(started.elapsed() < Duration::from_secs(20), "{name}");
    }
}

#[tokio::test]
async fn parameters_get_the_same_size_limits() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "btw.toml",
        "[limits]\nmax_string_size = 1000\nmax_array_size = 50\n",
    );
    // The script never touches its parameters: they must be refused before it runs.
    let script = write(dir.path(), "p.rhai", "1\n");
    let long = format!("s={}", "x".repeat(2000));
    let o = limited(
        btw(&sb.base_url(), dir.path())
            .arg("--config")
            .arg(&config)
            .arg("run")
            .arg(&script)
            .args(["--param", &long]),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 3, "max_string_size");
    let file = write(
        dir.path(),
        "params.json",
        &serde_json::json!({"items": (0..100).collect::<Vec<_>>()}).to_string(),
    );
    let o = limited(
        btw(&sb.base_url(), dir.path())
            .arg("--config")
            .arg(&config)
            .arg("run")
            .arg(&script)
            .arg("--params")
            .arg(&file),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 3, "max_array_size");
    // Not recorded: nothing of it reaches the store.
    let store = btw::store::Store::open(&dir.path().join("btw.db")).unwrap();
    assert_eq!(store.latest_run_id().unwrap(), None);
}

#[tokio::test]
async fn a_recipe_running_itself_through_batch_stops_at_the_nesting_limit() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "again.rhai",
        "let r = batch::run(\"again\", [#{}, #{}, #{}, #{}], 4);\nr\n",
    );
    let o = limited(
        btw(&sb.base_url(), dir.path())
            .current_dir(dir.path())
            .args(["run", "again.rhai"]),
        Duration::from_secs(60),
    )
    .await;
    assert_fails(&o, 3, "nested more than");
}

#[tokio::test]
async fn the_time_limit_and_ctrl_c_stop_batch_items() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    // A BT call first: a run is recorded (and so found below) from its first call.
    write(
        dir.path(),
        "spin.rhai",
        "whc::reseller();\nloop { time::sleep(1); }\n",
    );
    write(
        dir.path(),
        "outer.rhai",
        "let r = batch::run(\"spin\", [#{}, #{}]);\nr\n",
    );
    let started = Instant::now();
    let o = limited(
        btw(&sb.base_url(), dir.path())
            .current_dir(dir.path())
            .env("BTW_TIMEOUT_SECS", "2")
            .args(["run", "outer.rhai"]),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 3, "run timed out");
    assert!(started.elapsed() < Duration::from_secs(20));

    let data = tempfile::tempdir().unwrap();
    let mut child = btw(&sb.base_url(), data.path())
        .current_dir(dir.path())
        .args(["run", "outer.rhai"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the run is recorded (Ctrl-C is handled from before then).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = btw::store::Store::open(&data.path().join("btw.db"))
            .ok()
            .and_then(|s| s.latest_run_id().ok().flatten());
        if found.is_some() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().await.unwrap();
            panic!(
                "ended before it was interrupted ({status}): {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let o = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("Ctrl-C did not stop the batch")
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test]
async fn settings_out_of_range_are_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "one.rhai", "1\n");
    let url = "http://127.0.0.1:9";
    for (var, value) in [
        ("BTW_CALL_TIMEOUT_SECS", "1e30"),
        ("BTW_CALL_TIMEOUT_SECS", "NaN"),
        ("BTW_TIMEOUT_SECS", "18446744073709551615"),
        ("BTW_TIMEOUT_SECS", "0"),
        ("BTW_MAX_OPERATIONS", "0"),
        ("BTW_SANDBOX_PORT", "99999"),
    ] {
        let o = limited(
            // No base URL: the embedded sandbox's port is a setting too (refused before any start).
            btw(url, dir.path())
                .env_remove("BTW_BASE_URL")
                .env(var, value)
                .arg("run")
                .arg(&script),
            Duration::from_secs(30),
        )
        .await;
        assert_fails(&o, 2, var);
    }
    for (key, value) in [
        ("max_operations", "0"),
        ("timeout_secs", "0"),
        ("max_string_size", "0"),
        ("max_call_depth", "100000"),
    ] {
        let config = write(
            dir.path(),
            "btw.toml",
            &format!("[limits]\n{key} = {value}\n"),
        );
        let o = limited(
            btw(url, dir.path())
                .arg("--config")
                .arg(&config)
                .arg("run")
                .arg(&script),
            Duration::from_secs(30),
        )
        .await;
        assert_fails(&o, 2, key);
    }
    let config = write(
        dir.path(),
        "btw.toml",
        "[profiles.sandbox]\ncall_timeout_secs = -1\n",
    );
    let o = limited(
        btw(url, dir.path())
            .arg("--config")
            .arg(&config)
            .arg("run")
            .arg(&script),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 2, "call_timeout_secs");
    for args in [
        &["serve", "--recipes", "r", "--grace", "18446744073709551615"][..],
        &["sandbox", "--port", "0", "--speed", "1e300"][..],
        &["sandbox", "--port", "0", "--lcp-delay", "1e9"][..],
    ] {
        let o = limited(
            btw(url, dir.path()).current_dir(dir.path()).args(args),
            Duration::from_secs(30),
        )
        .await;
        assert_fails(&o, 2, args[args.len() - 2]);
    }
}

#[tokio::test]
async fn only_regular_files_under_the_cap_are_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = "http://127.0.0.1:9";
    for path in ["/dev/zero", "/dev/urandom"] {
        let o = limited(
            capped_btw(url, dir.path()).args(["run", path]),
            Duration::from_secs(30),
        )
        .await;
        assert_fails(&o, 2, "not a regular file");
    }
    let o = limited(
        btw(url, dir.path()).arg("run").arg(dir.path()),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 2, "not a regular file");
    let big = write(dir.path(), "big.rhai", &"// padding\n".repeat(500_000));
    let o = limited(
        btw(url, dir.path()).arg("run").arg(&big),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 2, "allowed");
    let o = limited(
        capped_btw(url, dir.path()).args([
            "run",
            "scripts/whc_provide.rhai",
            "--params",
            "/dev/zero",
        ]),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 2, "not a regular file");
}

#[tokio::test]
async fn a_run_id_runs_once_at_a_time() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    // A BT call first: a run is recorded, and so resumable, from its first call.
    let script = write(
        dir.path(),
        "slow.rhai",
        "whc::reseller();\ntime::sleep(30);\n1\n",
    );
    let mut first = btw(&sb.base_url(), dir.path())
        .arg("run")
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run_id = started_run(dir.path()).await;
    let o = limited(
        btw(&sb.base_url(), dir.path()).args(["run", "--resume", &run_id]),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 2, "already running");
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    // Killed, its lease is taken over at once on this host.
    let script2 = write(dir.path(), "slow.rhai", "1\n");
    let o = limited(
        btw(&sb.base_url(), dir.path())
            .args(["run", "--resume", &run_id, "--json"])
            .arg(&script2),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[tokio::test]
async fn a_wait_running_out_of_time_has_its_own_kind() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "wait.rhai",
        r#"let q = whc::qualify_company(#{name: "Hostile Wait Ltd", domain: "hostilewait.co.uk"});
let o = order::create(#{company: #{name: "Hostile Wait Ltd", domain: "hostilewait.co.uk", group: "SWAINsTelecom", service_id: q.service_id, qualification_id: q.id}});
let kind = "";
try { order::wait(o.id, "completed", 1); } catch (e) { kind = e.kind; }
let huge = "";
try { order::wait(o.id, "completed", 9223372036854775807); } catch (e) { huge = "never"; }
kind
"#,
    );
    // The huge wait is cut short by the run's time limit, not by a clock overflow.
    let o = limited(
        btw(&sb.base_url(), dir.path())
            .env("BTW_TIMEOUT_SECS", "4")
            .arg("run")
            .arg(&script),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 3, "run timed out");
    let script = write(
        dir.path(),
        "wait.rhai",
        r#"let q = whc::qualify_company(#{name: "Hostile Wait Two Ltd", domain: "hostilewait2.co.uk"});
let o = order::create(#{company: #{name: "Hostile Wait Two Ltd", domain: "hostilewait2.co.uk", group: "SWAINsTelecom", service_id: q.service_id, qualification_id: q.id}});
order::wait(o.id, "completed", 1)
"#,
    );
    let o = limited(
        btw(&sb.base_url(), dir.path())
            .args(["run", "--json"])
            .arg(&script),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    let last: serde_json::Value = serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["thrown"]["kind"], "wait_timeout", "{last}");
}

#[tokio::test]
async fn a_refused_import_names_the_importing_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "imp.rhai",
        "let x = 1;\nimport \"/etc/passwd\" as p;\nx\n",
    );
    let o = limited(
        btw("http://127.0.0.1:9", dir.path())
            .arg("run")
            .arg(&script),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 3, "refused");
    assert!(o.stderr.contains("imp.rhai:2:"), "{}", o.stderr);
    assert!(!o.stderr.contains("module /etc/passwd"), "{}", o.stderr);
}

/// An interrupted create whose `externalId` BT already has on an order of other content (as
/// another execution of the run would leave): the resumed run refuses to adopt it.
#[tokio::test]
async fn an_order_found_by_external_id_is_adopted_only_if_it_matches() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "create.rhai",
        r#"let q = whc::qualify_company(#{name: "Adopt Check Ltd", domain: "adoptcheck.co.uk"});
let o = order::create(#{company: #{name: "Adopt Check Ltd", domain: "adoptcheck.co.uk", group: "SWAINsTelecom", service_id: q.service_id, qualification_id: q.id}});
o.id
"#,
    );
    // The create is processed at once but its answer held back: time to kill the process.
    let rule = serde_json::json!({"method": "POST", "path_prefix": "/bt-wholesale/v1/order/productOrder", "latency_ms": 20000, "count": 1});
    let r = reqwest::Client::new()
        .post(format!("{url}/__sandbox/faults"))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut child = btw(&url, dir.path())
        .arg("run")
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while orders_created(&url).await.is_empty() {
        assert!(Instant::now() < deadline, "the create never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let run_id = started_run(dir.path()).await;
    // What this attempt asked for is not what BT has under its externalId.
    let db = rusqlite::Connection::open(dir.path().join("btw.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE ledger SET request = json_set(request,
               '$.productOrderItem[0].product.productCharacteristic[0].value', 'Other Ltd')
             WHERE run_id = ?1 AND operation = 'create order' AND state = 'started'",
            [&run_id],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    // The script asks for what the ledger now says was sent (a resumed step whose request
    // changed is refused before BT is asked anything).
    let source = std::fs::read_to_string(&script).unwrap().replacen(
        "order::create(#{company: #{name: \"Adopt Check Ltd\"",
        "order::create(#{company: #{name: \"Other Ltd\"",
        1,
    );
    std::fs::write(&script, source).unwrap();
    let o = limited(
        btw(&url, dir.path()).args(["run", "--resume", &run_id]),
        Duration::from_secs(30),
    )
    .await;
    assert_fails(&o, 3, "was not adopted");
    assert_eq!(orders_created(&url).await.len(), 1, "no second order");
}

/// A daemon job whose parameters are over the limits fails as a job (moved to `inbox/failed`
/// with the reason); it neither runs nor lands in a report or the store.
#[tokio::test]
async fn a_job_with_oversized_params_fails_without_running() {
    let sb = sandbox().await;
    let root = tempfile::tempdir().unwrap();
    let recipes = root.path().join("recipes");
    std::fs::create_dir_all(recipes.join("inbox")).unwrap();
    write(&recipes, "p.rhai", "//! trigger: manual\n1\n");
    let config = write(
        root.path(),
        "btw.toml",
        "[limits]\nmax_string_size = 1000\n",
    );
    let job = serde_json::json!({"recipe": "p.rhai", "params": {"s": "x".repeat(5000)}});
    let tmp = write(root.path(), "job.tmp", &job.to_string());
    let mut daemon = btw(&sb.base_url(), &root.path().join("data"))
        .arg("--config")
        .arg(&config)
        .args(["serve", "--recipes"])
        .arg(&recipes)
        .args(["--debounce-ms", "150"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::fs::rename(&tmp, recipes.join("inbox/big.json")).unwrap();
    let reason = recipes.join("inbox/failed/big.json.error.txt");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reason.exists() {
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon stopped");
        assert!(
            !recipes.join("inbox/done/big.json").exists(),
            "the job was taken"
        );
        assert!(Instant::now() < deadline, "the job was not refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(&reason).unwrap();
    assert!(text.contains("max_string_size"), "{text}");
    assert!(recipes.join("inbox/failed/big.json").exists());
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
}
