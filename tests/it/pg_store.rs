//! Two `btw serve` sharing one PostgreSQL store: due jobs fire once between them, running the
//! recipe version pinned in the store; a notification posted to both listeners is stored once
//! and its trigger runs once. Skipped (said once) without a PostgreSQL server, unless
//! `BTW_TEST_POSTGRES=required`.

use crate::common::*;
use crate::daemon_support::*;
use btw::jobs::{JobKind, JobState, NewJob};
use btw::store::postgres::testing::TestDb;
use btw::store::Store;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;

const TRIGGER: &str =
    "//! name: on complete\n//! trigger: on event=orderComplete\n#{event: params.event_id}\n";
const ON_FILE: &str = "//! name: job\n//! trigger: manual\n\"from the file\"\n";
const PINNED: &str = "//! name: job\n//! trigger: manual\n\"pinned in the store\"\n";

fn trigger_runs(folders: &[&Folder]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in folders {
        for r in reports(&f.recipes) {
            if let Some(e) = r["result"]["event"].as_str() {
                *out.entry(e.to_string()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// `n` jobs due at `due`, running the recipe at `recipe` in its stored version `hash`.
fn add_jobs(store: &Store, recipe: &Path, hash: &str, due: DateTime<Utc>, n: usize) {
    for i in 0..n {
        let job = NewJob {
            id: Some(format!("job-pg-{i:02}")),
            kind: JobKind::At,
            at: Some(due),
            cron: None,
            tz: "Europe/London".into(),
            recipe: recipe.display().to_string(),
            params: serde_json::json!({ "i": i }),
            next_run_at: due,
            catch_up_secs: None,
            recipe_hash: Some(hash.to_string()),
            owner_recipe: None,
            clock: None,
        };
        store.job_add(&job, Utc::now()).unwrap();
    }
}

/// Each event to one listener, then again to the other (a load balancer's retry).
async fn post_twice(events: &[String], la: &str, lb: &str) {
    let client = reqwest::Client::new();
    for (i, e) in events.iter().enumerate() {
        let (first, second) = if i % 2 == 0 { (la, lb) } else { (lb, la) };
        for listener in [first, second] {
            let order = format!("ORD-{e}");
            let status =
                post_event(&client, listener, e, &order, "orderComplete", "completed").await;
            assert_eq!(status, 200, "{e} to {listener}");
        }
    }
}

#[tokio::test]
async fn two_daemons_on_one_postgres_store_fire_each_job_and_trigger_once() {
    let Some(db) = TestDb::create() else { return };
    let sb = sandbox().await;
    let url = sb.base_url();
    let (a, b) = (Folder::new(), Folder::new());
    for f in [&a, &b] {
        std::fs::write(f.recipes.join("on_complete.rhai"), TRIGGER).unwrap();
    }
    // The jobs name a's file, but run the version pinned in the store (b has no such file).
    let job_recipe = a.recipes.join("job.rhai");
    std::fs::write(&job_recipe, ON_FILE).unwrap();
    let store = Store::open(Path::new(&db.url)).unwrap();
    let hash = store
        .recipe_version_put(job_recipe.to_str().unwrap(), PINNED)
        .unwrap();
    let serve_on = |f: &Folder| {
        let args = [
            "--recipes",
            f.recipes.to_str().unwrap(),
            "--store",
            db.url.as_str(),
        ];
        serve_listening(&url, &f.data, &args)
    };
    let (da, db_) = (serve_on(&a), serve_on(&b));
    let (la, lb) = (da.listener_url().await, db_.listener_url().await);
    let due = sandbox_now(&url).await + chrono::Duration::seconds(2);
    add_jobs(&store, &job_recipe, &hash, due, 40);
    // Each event to one listener, then again to the other (a load balancer's retry).
    let events: Vec<String> = (0..20).map(|i| format!("pg-ev-{i:02}")).collect();
    post_twice(&events, &la, &lb).await;
    let done = || {
        let jobs = store.job_list(&[]).unwrap();
        jobs.len() == 40 && jobs.iter().all(|j| j.state == JobState::Done)
    };
    wait_for("every job done", 90, done)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", da.log(), db_.log()));
    wait_for("every trigger run", 60, || {
        trigger_runs(&[&a, &b]).len() == events.len()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", da.log(), db_.log()));
    for j in store.job_list(&[]).unwrap() {
        let out = j.last_outcome.unwrap_or_default();
        assert!(out.contains("pinned in the store"), "{}: {out}", j.id);
        assert_eq!(j.attempts, 1, "{}", j.id);
    }
    let (la, lb) = (da.stop().await, db_.stop().await);
    let fired =
        la.matches("running scheduled job").count() + lb.matches("running scheduled job").count();
    assert_eq!(fired, 40, "each job fired once between the two daemons");
    let runs = trigger_runs(&[&a, &b]);
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    for e in &events {
        assert_eq!(store.notification_count(&format!("ORD-{e}")).unwrap(), 1);
    }
    for log in [&la, &lb] {
        assert!(!log.contains("panicked"), "{log}");
        assert!(!log.contains(CALLBACK_PASSWORD));
    }
}

#[tokio::test]
async fn a_store_urls_password_never_reaches_help_errors_or_status() {
    let Some(db) = TestDb::create() else { return };
    let data = tempfile::tempdir().unwrap();
    let secret = "pw-never-print-me";
    // Trust authentication takes any password: the store opens with it.
    let with_pw = db
        .url
        .replacen("postgres@", &format!("postgres:{secret}@"), 1);
    let refused = format!("postgres://postgres:{secret}@127.0.0.1:1/x");
    let help = output(
        btw("http://127.0.0.1:9", data.path())
            .env("BTW_STORE", &with_pw)
            .args(["status", "--help"]),
    )
    .await;
    let status =
        output(btw("http://127.0.0.1:9", data.path()).args(["status", "--store", &with_pw])).await;
    let runs =
        output(btw("http://127.0.0.1:9", data.path()).args(["runs", "list", "--store", &refused]))
            .await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .contains("none has run on postgres://postgres@"),
        "{}",
        status.stdout
    );
    assert_ne!(runs.code, 0);
    assert!(
        runs.stderr.contains("connection refused"),
        "{}",
        runs.stderr
    );
    for o in [&help, &status, &runs] {
        assert!(
            !o.stdout.contains(secret) && !o.stderr.contains(secret),
            "{}{}",
            o.stdout,
            o.stderr
        );
    }
}

#[tokio::test]
async fn a_job_of_a_killed_daemon_is_resumed_by_the_other_after_its_lease() {
    let Some(db) = TestDb::create() else { return };
    let sb = sandbox().await;
    let url = sb.base_url();
    let slow = "//! trigger: manual\nprint(\"begun\");\ntime::sleep(2.0);\n#{n: 1}\n";
    let (a, b) = (Folder::new(), Folder::new());
    for f in [&a, &b] {
        std::fs::write(f.recipes.join("slow.rhai"), slow).unwrap();
    }
    let serve_on = |f: &Folder| {
        let args = [
            "--recipes",
            f.recipes.to_str().unwrap(),
            "--store",
            db.url.as_str(),
            "--job-lease",
            "3",
        ];
        serve(&url, &f.data, &args)
    };
    let da = serve_on(&a);
    da.wait_log("slow.rhai: loaded", 1).await;
    let store = Store::open(Path::new(&db.url)).unwrap();
    let recipe = a.recipes.join("slow.rhai");
    let hash = store
        .recipe_version_put(recipe.to_str().unwrap(), slow)
        .unwrap();
    add_jobs(&store, &recipe, &hash, sandbox_now(&url).await, 1);
    da.wait_log("begun", 1).await;
    let d_b = serve_on(&b);
    d_b.wait_log("slow.rhai: loaded", 1).await;
    da.kill9().await;
    wait_for("the job done", 60, || {
        store.job_list(&[]).unwrap()[0].state == JobState::Done
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d_b.log()));
    let job = &store.job_list(&[]).unwrap()[0];
    assert_eq!(job.attempts, 2, "{job:?}");
    let run_id = job.last_run_id.clone().unwrap();
    let log = d_b.stop().await;
    assert!(log.contains("resume=true"), "{log}");
    assert_eq!(
        log.matches(&format!("run {run_id} started")).count(),
        1,
        "{log}"
    );
}
