//! What only PostgreSQL does (every operation runs on both backends in its own file's tests): several handles (daemons) on one database, migrations racing,
//! wakeups, and errors that name what to check without the password.

use super::testing::TestDb;
use crate::jobs::{ClaimRequest, DueDecision, Job, JobKind, NewJob};
use crate::store::{Notification, Store};
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn at_job(i: usize) -> NewJob {
    let when = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    NewJob {
        id: Some(format!("job-{i:04}")),
        kind: JobKind::At,
        at: Some(when),
        cron: None,
        tz: "Europe/London".into(),
        recipe: "/r/activate.rhai".into(),
        params: json!({"i": i}),
        next_run_at: when,
        catch_up_secs: None,
        recipe_hash: None,
        owner_recipe: None,
        clock: None,
    }
}

fn run_all(j: &Job) -> DueDecision {
    DueDecision::Run {
        occurrence: j.next_run_at.unwrap(),
    }
}

#[test]
fn two_handles_claiming_from_several_threads_take_each_job_once() {
    let Some(db) = TestDb::create() else { return };
    let (a, b) = (db.open(), db.open());
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    for i in 0..200 {
        a.job_add(&at_job(i), now).unwrap();
    }
    let claimers: Vec<_> = (0..6)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                let owner = format!("daemon-{t}");
                let mut mine = Vec::new();
                loop {
                    let req = ClaimRequest {
                        owner: &owner,
                        now,
                        wall_now: Utc::now(),
                        lease: Duration::from_secs(300),
                        limit: 7,
                        max_attempts: 3,
                        own_clocks_due: false,
                    };
                    let batch = store.job_claim_due(&req, &mut run_all).unwrap();
                    if batch.claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.claimed.into_iter().map(|c| c.job.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut busy = 0;
    for c in claimers {
        let mine = c.join().unwrap();
        busy += usize::from(!mine.is_empty());
        all.extend(mine);
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 200, "every job claimed exactly once");
    assert_eq!(distinct.len(), 200);
    assert!(busy >= 2, "the claimers shared the work");
}

#[test]
fn handles_opening_a_new_database_at_once_migrate_it_once() {
    let Some(db) = TestDb::create() else { return };
    let url = db.url.clone();
    let openers: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Store::open(Path::new(&url)).map(|_| ()))
        })
        .collect();
    for o in openers {
        o.join().unwrap().unwrap();
    }
    let s = db.open();
    s.run_started("r", "/r/a.rhai", "h", &json!({}), "sandbox")
        .unwrap();
    assert_eq!(s.latest_run_id().unwrap().as_deref(), Some("r"));
}

#[test]
fn an_event_posted_to_two_daemons_is_stored_and_dispatched_once() {
    let Some(db) = TestDb::create() else { return };
    let (a, b) = (db.open(), db.open());
    let n = Notification::from_envelope(json!({"eventId": "e1", "eventTime": "2026-11-22T10:00:00Z",
        "eventType": "orderComplete", "event": {"productOrder": {"id": "O1", "state": "completed"}}}))
    .unwrap();
    let stored: Vec<bool> = [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            let n = n.clone();
            std::thread::spawn(move || s.record_notification(&n).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(stored.iter().filter(|new| **new).count(), 1);
    let run = crate::store::TriggerRun {
        recipe: "/r/t.rhai".into(),
        name: "t.rhai".into(),
        key: "event:e1".into(),
        run_id: "r1".into(),
        params: json!({"event_id": "e1"}),
        origin: "event:orderComplete".into(),
        owner: "d1".into(),
    };
    let queued: usize = [a.clone(), b.clone()]
        .into_iter()
        .map(|s| {
            let run = run.clone();
            std::thread::spawn(move || s.dispatch_event("e1", &[run]).unwrap().len())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(queued, 1);
    assert_eq!(a.events_recent(5).unwrap()[0].runs, ["r1"]);
}

#[test]
fn a_job_added_by_one_handle_wakes_the_other() {
    let Some(db) = TestDb::create() else { return };
    let (a, b) = (db.open(), db.open());
    let mut wake = b.wakeups().expect("PostgreSQL wakes");
    assert!(a.wakeups().is_some());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The first wake says the listener is up; from then on, nothing until a job comes.
        tokio::time::timeout(Duration::from_secs(10), wake.jobs.changed())
            .await
            .expect("listening")
            .unwrap();
        wake.jobs.borrow_and_update();
        let started = Instant::now();
        a.job_add(&at_job(1), Utc::now()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), wake.jobs.changed())
            .await
            .expect("woken by the new job")
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        a.record_notification(
            &Notification::from_envelope(json!({"eventId": "e9", "eventTime": "t",
                "eventType": "x", "event": {"productOrder": {"id": "O9"}}}))
            .unwrap(),
        )
        .unwrap();
        tokio::time::timeout(Duration::from_secs(10), wake.events.changed())
            .await
            .expect("woken by the new event")
            .unwrap();
    });
    assert!(Store::in_memory().wakeups().is_none());
}

#[test]
fn connection_errors_say_what_to_check_and_never_the_password() {
    let Some(db) = TestDb::create() else { return };
    // A database that does not exist, with a password in the URL.
    let missing = super::testing::with_database(&db.url, "btw_no_such_db")
        .replacen("://", "://postgres:Sup3rS3cret@", 1)
        .replacen("postgres@", "", 1);
    let e = Store::open(Path::new(&missing)).unwrap_err().to_string();
    assert!(!e.contains("Sup3rS3cret"), "{e}");
    assert!(
        e.contains("does not exist") && e.contains("createdb"),
        "{e}"
    );
    // Nothing listens on port 1.
    let refused = "postgres://postgres:Sup3rS3cret@127.0.0.1:1/x";
    let e = Store::open(Path::new(refused)).unwrap_err().to_string();
    assert!(!e.contains("Sup3rS3cret"), "{e}");
    assert!(e.contains("refused") && e.contains("127.0.0.1:1"), "{e}");
    let e = Store::open(Path::new(
        "postgres://u:Sup3rS3cret@127.0.0.1:5432/x?port=nope",
    ))
    .unwrap_err()
    .to_string();
    assert!(!e.contains("Sup3rS3cret"), "{e}");
}

#[test]
fn a_pg_store_is_named_without_its_password() {
    let Some(db) = TestDb::create() else { return };
    let with_pw = db.url.replacen("postgres@", "postgres:pw123456@", 1);
    // Trust authentication takes any password: the store opens, and shows none.
    let s = Store::open(Path::new(&with_pw)).unwrap();
    assert!(!s.path().display().to_string().contains("pw123456"));
    assert!(s.is_shared());
    s.probe_writable(Duration::from_secs(5)).unwrap();
}

#[test]
fn many_calls_from_one_task_of_another_runtime_do_not_stall() {
    let Some(db) = TestDb::create() else { return };
    let s = db.open();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Far beyond tokio's per-poll budget (128), all without yielding to that runtime.
    rt.block_on(async {
        for i in 0..400 {
            s.value_or_insert(&format!("k{i}"), || "v".into()).unwrap();
        }
    });
    assert_eq!(s.value("k399").unwrap().as_deref(), Some("v"));
}
