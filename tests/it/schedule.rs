//! The durable scheduler: two daemons on one store file, catch-up after downtime, a crash
//! mid-run resumed with the same run id, `schedule::` from a real script, `btw schedule` from
//! the real binary, and a real recipe run by the loop against the sandbox.

use crate::common::*;
use btw::jobs::{Job, JobState};
use btw::runner::{self, Script};
use btw::schedule::{
    self, BoxFuture, JobExecutor, JobOutcome, ManualClock, SchedulerConfig, SystemClock,
};
use btw::serve::scheduler;
use btw::store::Store;
use chrono::{DateTime, Duration as CDuration, Utc};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;
use tokio::sync::watch;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A recipe file in `dir`.
fn recipe(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// Records every execution; runs take `delay`; with `hang_first`, the first never finishes
/// (a daemon that dies mid-run).
#[derive(Default)]
struct FakeExecutor {
    calls: Mutex<Vec<(String, String, bool)>>,
    delay: Duration,
    hang_first: bool,
}

impl FakeExecutor {
    fn calls(&self) -> Vec<(String, String, bool)> {
        self.calls.lock().unwrap().clone()
    }
}

impl JobExecutor for FakeExecutor {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        run_id: &'a str,
        resume: bool,
    ) -> BoxFuture<'a, JobOutcome> {
        Box::pin(async move {
            let first = {
                let mut c = self.calls.lock().unwrap();
                c.push((job.id.clone(), run_id.to_string(), resume));
                c.len() == 1
            };
            if self.hang_first && first {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(self.delay).await;
            JobOutcome::Ok {
                summary: format!("ran {}", job.id),
            }
        })
    }
}

fn config(owner: &str) -> SchedulerConfig {
    SchedulerConfig {
        owner: owner.into(),
        tick: Duration::from_millis(20),
        lease: Duration::from_secs(30),
        grace: Duration::from_secs(5),
        ..SchedulerConfig::default()
    }
}

async fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn two_claimers_on_one_store_file_take_a_due_job_once_in_100_races() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("btw.db");
    let r = recipe(dir.path(), "r.rhai", "1");
    // Separate connections to the same file, as two daemons have.
    let a = Store::open(&db).unwrap();
    let b = Store::open(&db).unwrap();
    let cfg = SchedulerConfig::default();
    let now = utc("2026-12-01T10:00:00Z");
    for round in 0..100 {
        let job = schedule::add_at(
            &a,
            now,
            &r,
            json!({"round": round}),
            &Default::default(),
            now,
        )
        .unwrap();
        let barrier = Barrier::new(2);
        let claim = |store: &Store, owner: &str| {
            barrier.wait();
            let mut n = 0;
            // Each hammers a few times: a later claim must not take it again either.
            for _ in 0..3 {
                n += schedule::claim_due(store, owner, now, 10, &cfg)
                    .unwrap()
                    .claimed
                    .len();
            }
            n
        };
        let (claim, ra, rb) = (&claim, &a, &b);
        let (na, nb) = std::thread::scope(|s| {
            let ta = s.spawn(move || claim(ra, "daemon-a"));
            let tb = s.spawn(move || claim(rb, "daemon-b"));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert_eq!(na + nb, 1, "round {round}: claimed {na} + {nb} times");
        let j = a.job_get(&job.id).unwrap().unwrap();
        assert_eq!(j.state, JobState::Running);
        // Finish it so the next round starts with nothing due.
        let claimed = btw::jobs::ClaimedJob {
            run_id: j.run_id.clone().unwrap(),
            resume: false,
            job: j.clone(),
        };
        let owner = j.lease_owner.clone().unwrap();
        let done = schedule::complete(
            &a,
            &claimed,
            &owner,
            &JobOutcome::Ok {
                summary: "ok".into(),
            },
            now,
        )
        .unwrap()
        .unwrap();
        assert_eq!(done.state, JobState::Done);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_scheduler_loops_on_one_store_run_each_of_100_jobs_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("btw.db");
    let r = recipe(dir.path(), "r.rhai", "1");
    let setup = Store::open(&db).unwrap();
    let now = utc("2026-12-01T10:00:00Z");
    let mut ids = Vec::new();
    for i in 0..100 {
        let when = now - CDuration::seconds(i % 7);
        ids.push(
            schedule::add_at(&setup, when, &r, json!({"i": i}), &Default::default(), now)
                .unwrap()
                .id,
        );
    }
    let clock = Arc::new(ManualClock::new(now));
    let exec = Arc::new(FakeExecutor {
        delay: Duration::from_millis(3),
        ..Default::default()
    });
    let (tx, rx) = watch::channel(false);
    let loops: Vec<_> = ["daemon-a", "daemon-b"]
        .into_iter()
        .map(|owner| {
            tokio::spawn(scheduler::run(
                Store::open(&db).unwrap(),
                clock.clone(),
                config(owner),
                exec.clone(),
                rx.clone(),
            ))
        })
        .collect();
    wait_until("all 100 jobs done", 60, || {
        setup.job_list(&[JobState::Done]).unwrap().len() == 100
    })
    .await;
    tx.send(true).unwrap();
    for l in loops {
        tokio::time::timeout(Duration::from_secs(10), l)
            .await
            .expect("the loop stops on shutdown")
            .unwrap();
    }
    let calls = exec.calls();
    assert_eq!(calls.len(), 100, "every job ran exactly once in all");
    let mut ran: Vec<_> = calls.iter().map(|c| c.0.clone()).collect();
    ran.sort();
    ran.dedup();
    assert_eq!(ran.len(), 100);
    assert!(calls.iter().all(|c| !c.2), "no resumes without a crash");
}

#[tokio::test]
async fn after_downtime_a_late_job_runs_once_a_very_late_one_is_missed_and_cron_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), "r.rhai", "1");
    let store = Store::open(&dir.path().join("btw.db")).unwrap();
    let now = utc("2026-12-01T12:00:00Z");
    let created = now - CDuration::hours(3);
    let opts = Default::default();
    let late = schedule::add_at(
        &store,
        now - CDuration::minutes(10),
        &r,
        json!({}),
        &opts,
        created,
    )
    .unwrap();
    let too_late = schedule::add_at(
        &store,
        now - CDuration::hours(2),
        &r,
        json!({}),
        &opts,
        created,
    )
    .unwrap();
    // Every 5 minutes since 09:00: 36 occurrences passed while the daemon was down.
    let cron = schedule::add_cron(&store, "*/5 * * * *", &r, json!({}), &opts, created).unwrap();
    let hourly_job = schedule::add_cron(
        &store,
        "30 * * * *",
        &r,
        json!({}),
        &schedule::JobOptions {
            catch_up_secs: Some(60),
            ..Default::default()
        },
        created,
    )
    .unwrap();

    let clock = Arc::new(ManualClock::new(now));
    let exec = Arc::new(FakeExecutor::default());
    let (tx, rx) = watch::channel(false);
    let l = tokio::spawn(scheduler::run(
        store.clone(),
        clock.clone(),
        config("d"),
        exec.clone(),
        rx,
    ));
    wait_until("the catch-up runs", 20, || {
        let j = store.job_get(&cron.id).unwrap().unwrap();
        store.job_get(&late.id).unwrap().unwrap().state == JobState::Done
            && j.state == JobState::Scheduled
            && j.last_run_id.is_some()
    })
    .await;
    // A few more ticks at the same time: nothing else fires.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(true).unwrap();
    l.await.unwrap();

    let calls = exec.calls();
    let count = |id: &str| calls.iter().filter(|c| c.0 == id).count();
    assert_eq!(
        count(&late.id),
        1,
        "10 minutes late within a 1 h window: runs once"
    );
    assert_eq!(count(&too_late.id), 0, "2 hours late: not run");
    assert_eq!(count(&cron.id), 1, "cron: one catch-up run, not a burst");
    assert_eq!(
        count(&hourly_job.id),
        0,
        "11:30 was 30 min ago, beyond its own 60 s window"
    );
    let h = store.job_get(&hourly_job.id).unwrap().unwrap();
    assert_eq!(h.state, JobState::Scheduled);
    assert_eq!(h.next_run_at, Some(utc("2026-12-01T12:30:00Z")));
    assert!(h
        .last_outcome
        .unwrap()
        .starts_with("missed: due at 2026-12-01T11:30:00Z"));
    let missed = store.job_get(&too_late.id).unwrap().unwrap();
    assert_eq!(missed.state, JobState::Missed);
    assert!(missed
        .last_outcome
        .unwrap()
        .contains("beyond its catch-up window"));
    let c = store.job_get(&cron.id).unwrap().unwrap();
    assert_eq!(c.next_run_at, Some(utc("2026-12-01T12:05:00Z")));
    assert!(c.next_run_at.unwrap() > now);
}

#[tokio::test]
async fn a_crash_mid_run_is_resumed_with_the_same_run_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("btw.db");
    let r = recipe(dir.path(), "r.rhai", "1");
    let store = Store::open(&db).unwrap();
    let now = Utc::now();
    let job = schedule::add_at(&store, now, &r, json!({}), &Default::default(), now).unwrap();
    let exec = Arc::new(FakeExecutor {
        hang_first: true,
        ..Default::default()
    });
    let short = |owner: &str| SchedulerConfig {
        lease: Duration::from_millis(900),
        grace: Duration::ZERO,
        ..config(owner)
    };

    // Daemon A claims and starts the job, then stops dead (no grace): it keeps its lease.
    let (tx_a, rx_a) = watch::channel(false);
    let a = tokio::spawn(scheduler::run(
        Store::open(&db).unwrap(),
        Arc::new(SystemClock),
        short("daemon-a"),
        exec.clone(),
        rx_a,
    ));
    wait_until("daemon A starts the job", 10, || exec.calls().len() == 1).await;
    // Its lease is renewed while it runs: still running past the first lease period.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    tx_a.send(true).unwrap();
    a.await.unwrap();
    let j = store.job_get(&job.id).unwrap().unwrap();
    assert_eq!(
        (j.state, j.lease_owner.as_deref()),
        (JobState::Running, Some("daemon-a"))
    );
    assert_eq!(
        exec.calls().len(),
        1,
        "not claimed twice while A held its lease"
    );

    // Daemon B waits for the lease to expire, then resumes the same run.
    let (tx_b, rx_b) = watch::channel(false);
    let b = tokio::spawn(scheduler::run(
        Store::open(&db).unwrap(),
        Arc::new(SystemClock),
        short("daemon-b"),
        exec.clone(),
        rx_b,
    ));
    wait_until("daemon B finishes it", 10, || {
        store.job_get(&job.id).unwrap().unwrap().state == JobState::Done
    })
    .await;
    tx_b.send(true).unwrap();
    b.await.unwrap();
    let calls = exec.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].1, calls[1].1, "the same run id");
    assert_eq!(
        (calls[0].2, calls[1].2),
        (false, true),
        "the second is a resume"
    );
    let j = store.job_get(&job.id).unwrap().unwrap();
    assert_eq!(j.last_run_id.as_deref(), Some(calls[0].1.as_str()));
    assert_eq!(j.attempts, 2, "the firing took two attempts");
}

/// Runs script text with a store and a folder for relative recipes.
async fn run_with_store(
    url: &str,
    store: &Store,
    dir: &Path,
    src: &str,
    resume: Option<&str>,
) -> runner::RunOutcome {
    let (mut ctx, _out) = context(client(url));
    ctx.store = Some(store.clone());
    ctx.resume = resume.map(str::to_string);
    let mut script = Script::inline("plan.rhai", src);
    script.dir = Some(dir.to_path_buf());
    runner::run(ctx, script, Map::new()).await
}

#[tokio::test]
async fn scripts_schedule_list_and_cancel_jobs() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), "activate.rhai", "params.port_id");
    let store = Store::open(&dir.path().join("btw.db")).unwrap();
    let src = r#"
        let a = schedule::at("2099-12-01 10:00", "activate.rhai", #{port_id: "PO1"});
        let s = schedule::at("2099-07-01T10:00", "activate.rhai", #{}, #{catch_up_secs: 600});
        let c = schedule::cron("0 10 * * 1-5", "activate.rhai", #{});
        let before = schedule::list().len();
        let gone = schedule::cancel(c);
        let summer = schedule::list().filter(|j| j.id == s)[0];
        #{a: a, c: c, before: before, after: schedule::list().len(), gone: gone.state,
          all: schedule::list("all").len(), local: summer.next_run_local, utc: summer.next_run_at,
          catch_up: summer.catch_up_secs}
    "#;
    let o = run_with_store(&sb.base_url(), &store, dir.path(), src, None).await;
    let v = o.result.unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(v["before"], 3);
    assert_eq!(v["after"], 2);
    assert_eq!(v["all"], 3);
    assert_eq!(v["gone"], "cancelled");
    assert_eq!(v["local"], "2099-07-01 10:00 BST");
    assert_eq!(v["utc"], "2099-07-01T09:00:00Z");
    assert_eq!(v["catch_up"], 600);
    let a = store.job_get(v["a"].as_str().unwrap()).unwrap().unwrap();
    assert_eq!(a.next_run_at, Some(utc("2099-12-01T10:00:00Z")));
    assert_eq!(a.params, json!({"port_id": "PO1"}));
    assert_eq!(Path::new(&a.recipe), r.canonicalize().unwrap());
    let c = store.job_get(v["c"].as_str().unwrap()).unwrap().unwrap();
    assert_eq!(c.cron.as_deref(), Some("0 10 * * 1-5"));
    assert_eq!(c.tz, "Europe/London");

    // Run again under the same run id (a resume): the jobs it added are not added again.
    let once = r#"schedule::at("2099-12-01 10:00", "activate.rhai", #{port_id: "PO9"})"#;
    let first = run_with_store(&sb.base_url(), &store, dir.path(), once, Some("run-resume")).await;
    let again = run_with_store(&sb.base_url(), &store, dir.path(), once, Some("run-resume")).await;
    assert_eq!(
        first.result.as_ref().unwrap(),
        again.result.as_ref().unwrap()
    );
    assert_eq!(store.job_list(&[]).unwrap().len(), 4);
}

#[tokio::test]
async fn scheduling_mistakes_are_clear_script_errors() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    recipe(dir.path(), "activate.rhai", "1");
    let store = Store::open(&dir.path().join("btw.db")).unwrap();
    let cases = [
        (
            r#"schedule::at("2099-12-01 10:00", "nope.rhai", #{})"#,
            "nope.rhai",
        ),
        (
            r#"schedule::at("2001-12-01 10:00", "activate.rhai", #{})"#,
            "is in the past",
        ),
        (
            r#"schedule::at("someday", "activate.rhai", #{})"#,
            "cannot read \"someday\"",
        ),
        (
            r#"schedule::cron("0 25 * * *", "activate.rhai", #{})"#,
            "cron expression",
        ),
        (
            r#"schedule::cron("0 10 * * *", "activate.rhai", #{}, #{tz: "Mars/Base"})"#,
            "unknown time zone",
        ),
        (
            r#"schedule::at("2099-12-01 10:00", "activate.rhai", #{}, #{colour: 1})"#,
            "colour",
        ),
        (r#"schedule::cancel("job-nope")"#, "no job job-nope"),
        (r#"schedule::list("sleeping")"#, "not a job state"),
    ];
    for (src, want) in cases {
        let o = run_with_store(&sb.base_url(), &store, dir.path(), src, None).await;
        let e = o.result.expect_err(src);
        assert!(e.render().contains(want), "{src}: {}", e.render());
    }
    assert!(store.job_list(&[]).unwrap().is_empty());

    // Without a store there is nowhere to keep a job.
    let (o, _) = run_text(client(&sb.base_url()), "schedule::list()").await;
    let e = o.result.unwrap_err().render();
    assert!(e.contains("no job store"), "{e}");
}

#[tokio::test]
async fn the_daemon_runs_a_scheduled_recipe_against_the_sandbox() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(
        dir.path(),
        "double.rhai",
        "let r = whc::reseller();\nif r.reseller_id == () { throw \"no reseller\"; }\nparams.x * 2\n",
    );
    let bad = recipe(dir.path(), "bad.rhai", "throw \"no such port\";\n");
    let db = dir.path().join("btw.db");
    let store = Store::open(&db).unwrap();
    // Due a moment ago: the daemon reads the sandbox's clock, which the test sandbox keeps ahead.
    let now = Utc::now() - CDuration::seconds(5);
    let ok = schedule::add_at(&store, now, &r, json!({"x": 21}), &Default::default(), now).unwrap();
    let fails = schedule::add_at(&store, now, &bad, json!({}), &Default::default(), now).unwrap();
    let mut daemon = btw(&sb.base_url(), &dir.path().join("data"))
        .args(["serve", "--recipes"])
        .arg(dir.path().join("recipes"))
        .arg("--state")
        .arg(&db)
        .args(["--catch-up", "604800"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("both jobs end", 30, || {
        [&ok.id, &fails.id]
            .iter()
            .all(|id| !store.job_get(id).unwrap().unwrap().state.is_live())
    })
    .await;
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let done = store.job_get(&ok.id).unwrap().unwrap();
    assert_eq!(done.state, JobState::Done);
    assert!(
        done.last_outcome.as_deref().unwrap().ends_with(": 42"),
        "{:?}",
        done.last_outcome
    );
    let run = store
        .run_get(done.last_run_id.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, "ok");
    assert_eq!(run.params, json!({"x": 21}));
    let failed = store.job_get(&fails.id).unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert!(failed.last_outcome.unwrap().contains("no such port"));
}

#[tokio::test]
async fn btw_schedule_adds_lists_and_cancels_on_the_shared_store() {
    let dir = tempfile::tempdir().unwrap();
    let r = recipe(dir.path(), "activate.rhai", "1");
    let url = &closed_port_url();
    let json_of = |o: &Output| -> Value {
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
    };
    let o = output(btw(url, dir.path()).args([
        "schedule",
        "add",
        "--at",
        "2099-03-30 10:00",
        r.to_str().unwrap(),
        "--param",
        "port_id=PO123",
        "--param",
        "attempt=2",
        "--json",
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let at = json_of(&o);
    assert_eq!(at["next_run_at"], "2099-03-30T09:00:00Z");
    assert_eq!(at["params"], json!({"port_id": "PO123", "attempt": 2}));
    let o = output(btw(url, dir.path()).args([
        "schedule",
        "add",
        "--cron",
        "0 10 * * 1-5",
        r.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("scheduled job-"), "{}", o.stdout);
    assert!(o.stdout.contains("next: "), "{}", o.stdout);

    // The store the library sees is the same file.
    let store = Store::open(&dir.path().join("btw.db")).unwrap();
    assert_eq!(store.job_list(&[]).unwrap().len(), 2);

    let o = output(btw(url, dir.path()).args(["schedule", "list"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("2099-03-30 10:00 BST"), "{}", o.stdout);
    assert!(o.stdout.contains("cron \"0 10 * * 1-5\""), "{}", o.stdout);

    let id = at["id"].as_str().unwrap();
    let o = output(btw(url, dir.path()).args(["schedule", "cancel", id])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = output(btw(url, dir.path()).args(["schedule", "list", "--json"])).await;
    assert_eq!(json_of(&o).as_array().unwrap().len(), 1);
    let o = output(btw(url, dir.path()).args(["schedule", "list", "--all", "--json"])).await;
    let all = json_of(&o);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["state"] == "cancelled"));

    // --state names the store file directly (as `btw serve --state` does).
    let other = dir.path().join("other.db");
    let o = output(btw(url, dir.path()).args([
        "schedule",
        "add",
        "--state",
        other.to_str().unwrap(),
        "--cron",
        "@daily",
        r.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("--state is now --store"), "{}", o.stderr);
    assert_eq!(Store::open(&other).unwrap().job_list(&[]).unwrap().len(), 1);

    // A time the clocks skip (29 March 2099, 01:00 → 02:00) runs when the gap ends, and says so.
    let o = output(btw(url, dir.path()).args([
        "schedule",
        "add",
        "--store",
        other.to_str().unwrap(),
        "--at",
        "2099-03-29 01:30",
        r.to_str().unwrap(),
        "--json",
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(json_of(&o)["next_run_at"], "2099-03-29T01:00:00Z");
    assert!(
        o.stderr.contains("warning:") && o.stderr.contains("2099-03-29 02:00 BST"),
        "{}",
        o.stderr
    );

    // Mistakes: exit code 2 and a plain message.
    for (args, want) in [
        (
            vec![
                "schedule",
                "add",
                "--at",
                "2099-01-01 10:00",
                "missing.rhai",
            ],
            "missing.rhai",
        ),
        (
            vec!["schedule", "add", "--cron", "0 10 * *", r.to_str().unwrap()],
            "cron expression",
        ),
        (
            vec![
                "schedule",
                "add",
                "--at",
                "2001-01-01 10:00",
                r.to_str().unwrap(),
            ],
            "in the past",
        ),
        (
            vec!["schedule", "add", "--at", "soon", r.to_str().unwrap()],
            "cannot read",
        ),
        (
            vec![
                "schedule",
                "add",
                "--at",
                "2099-01-01",
                r.to_str().unwrap(),
                "-p",
                "bad",
            ],
            "key=value",
        ),
        (vec!["schedule", "cancel", "job-nope"], "no job job-nope"),
        (vec!["schedule", "cancel", id], ""),
    ] {
        let o = output(btw(url, dir.path()).args(&args)).await;
        if want.is_empty() {
            assert_eq!(o.code, 0, "cancelling twice is fine: {}", o.stderr);
            continue;
        }
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{args:?}: {}", o.stderr);
    }
}

#[tokio::test]
async fn a_script_scheduling_into_the_spring_gap_is_told_when_it_runs() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    recipe(dir.path(), "activate.rhai", "1");
    let store = Store::open(&dir.path().join("btw.db")).unwrap();
    let (mut ctx, out) = context(client(&sb.base_url()));
    ctx.store = Some(store.clone());
    let mut script = Script::inline(
        "plan.rhai",
        r#"schedule::at("2099-03-29 01:30", "activate.rhai", #{})"#,
    );
    script.dir = Some(dir.path().to_path_buf());
    let o = runner::run(ctx, script, Map::new()).await;
    let id = o.result.unwrap();
    let job = store.job_get(id.as_str().unwrap()).unwrap().unwrap();
    // 01:30 does not exist on 29 March 2099 in London: the job runs at 02:00 BST, 01:00Z.
    assert_eq!(
        job.next_run_at.unwrap().to_rfc3339(),
        "2099-03-29T01:00:00+00:00"
    );
    let said = format!("{:?}", out.take());
    assert!(said.contains("does not exist"), "{said}");
}
