//! Jobs on one clock (the sandbox's), misses one can act on, and a list one can read.

use crate::common::*;
use crate::daemon_support::*;
use btw::jobs::JobState;
use btw::store::Store;
use chrono::Duration as Span;
use serde_json::Value;

#[tokio::test]
async fn btw_schedule_add_judges_past_by_the_sandbox_clock_and_stamps_jobs_with_it() {
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let r = root.path().join("job.rhai");
    std::fs::write(&r, "1\n").unwrap();
    advance(&url, 2.0 * 86_400.0).await;
    let sandbox = sandbox_now(&url).await;
    // An hour from now by the machine's clock is two days ago by the daemon's.
    let machine_soon = (chrono::Utc::now() + Span::hours(1)).to_rfc3339();
    let o = output(btw(&url, &data).args([
        "schedule",
        "add",
        "--at",
        &machine_soon,
        r.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("in the past"), "{}", o.stderr);

    let soon = (sandbox + Span::hours(1)).to_rfc3339();
    let o = output(btw(&url, &data).args([
        "schedule",
        "add",
        "--json",
        "--at",
        &soon,
        r.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("no btw serve has run on the store"),
        "{}",
        o.stderr
    );
    let job: Value = serde_json::from_str(&o.stdout).unwrap();
    let created: chrono::DateTime<chrono::Utc> =
        job["created_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (created - sandbox).num_seconds().abs() < 60,
        "{created} vs sandbox {sandbox}"
    );

    // Cancelled: updated on the same clock.
    let id = job["id"].as_str().unwrap();
    let o = output(btw(&url, &data).args(["schedule", "cancel", "--json", id])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let job: Value = serde_json::from_str(&o.stdout).unwrap();
    let updated: chrono::DateTime<chrono::Utc> =
        job["updated_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (updated - sandbox).num_seconds().abs() < 60,
        "{updated} vs sandbox {sandbox}"
    );
}

#[tokio::test]
async fn a_missed_job_is_reported_listed_and_retried() {
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let r = root.path().join("job.rhai");
    std::fs::write(&r, "#{ran: params.port_id}\n").unwrap();
    let when = (sandbox_now(&url).await + Span::seconds(60)).to_rfc3339();
    let o = output(btw(&url, &data).args([
        "schedule",
        "add",
        "--json",
        "--at",
        &when,
        "--catch-up",
        "10",
        "-p",
        "port_id=PO1",
        r.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let id = serde_json::from_str::<Value>(&o.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The recipe is edited after the job was scheduled: the job keeps the version it was
    // scheduled with.
    std::fs::write(&r, "#{ran: \"edited\"}\n").unwrap();
    // The daemon was down an hour past the job's time, beyond its 10 s window.
    advance(&url, 3600.0).await;
    let d = serve(&url, &data, &[]);
    let recipes = data.join("recipes");
    wait_for("the missed report", 30, || {
        reports(&recipes).iter().any(|r| r["outcome"] == "missed")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let missed = reports(&recipes)
        .into_iter()
        .find(|r| r["outcome"] == "missed")
        .unwrap();
    assert_eq!(missed["job_id"], id.as_str());
    assert!(
        missed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("late"),
        "{missed:#}"
    );

    let o = output(btw(&url, &data).args(["schedule", "list"])).await;
    assert!(
        o.stdout.contains(&id) && o.stdout.contains("MISSED"),
        "listed by default: {}",
        o.stdout
    );
    assert!(o.stdout.contains("btw schedule retry"), "{}", o.stdout);

    let o = output(btw(&url, &data).args(["schedule", "retry", &id])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let store = Store::open(&data.join("btw.db")).unwrap();
    wait_for("the retried job to run", 30, || {
        store.job_get(&id).unwrap().unwrap().state == JobState::Done
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert!(reports(&recipes)
        .iter()
        .any(|r| r["result"]["ran"] == "PO1"));

    // run-now fires an ended job again; retry refuses a job that did not miss.
    let o = output(btw(&url, &data).args(["schedule", "retry", &id])).await;
    assert_eq!(o.code, 2, "{}", o.stdout);
    // Repinned, it runs the edited recipe.
    let o = output(btw(&url, &data).args(["schedule", "repin", &id])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = output(btw(&url, &data).args(["schedule", "run-now", &id])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    wait_for("the run-now run", 30, || {
        reports(&recipes)
            .iter()
            .any(|r| r["result"]["ran"] == "edited")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.stop().await;
}

#[tokio::test]
async fn the_list_aligns_long_ids_shows_params_hides_secrets_and_marks_changed_recipes() {
    let url = closed_port_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let r = root.path().join("activate.rhai");
    std::fs::write(&r, "1\n").unwrap();
    let db = data.join("btw.db");
    let store = Store::open(&db).unwrap();
    // A recipe header's job has a longer id than `btw schedule add`'s.
    let opts = btw::schedule::JobOptions {
        id: Some("recipe-0123456789abcdef".into()),
        ..Default::default()
    };
    let at = chrono::Utc::now() + Span::days(30);
    btw::schedule::add_at(
        &store,
        at,
        &r,
        serde_json::json!({}),
        &opts,
        chrono::Utc::now(),
    )
    .unwrap();
    let o = output(btw(&url, &data).args([
        "schedule",
        "add",
        "--at",
        "2099-03-30 10:00",
        r.to_str().unwrap(),
        "-p",
        "port_id=PO123",
        "-p",
        "client_secret=hush",
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);

    let o = output(btw(&url, &data).args(["schedule", "list"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("port_id=PO123"), "{}", o.stdout);
    assert!(!o.stdout.contains("hush"), "{}", o.stdout);
    let lines: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| !l.trim_start().starts_with("last:"))
        .collect();
    let col = lines[0].find("STATE").unwrap();
    for l in &lines[1..3] {
        assert_eq!(
            &l[col..col + 9],
            "scheduled",
            "aligned columns:\n{}",
            o.stdout
        );
    }
    let o = output(btw(&url, &data).args(["schedule", "list", "--json"])).await;
    assert!(!o.stdout.contains("hush"), "{}", o.stdout);

    // The recipe changed since: marked, until repinned.
    std::fs::write(&r, "2\n").unwrap();
    let o = output(btw(&url, &data).args(["schedule", "list"])).await;
    assert_eq!(
        o.stdout.matches("[changed since scheduled]").count(),
        2,
        "{}",
        o.stdout
    );
    let o = output(btw(&url, &data).args(["schedule", "repin", "recipe-0123456789abcdef"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = output(btw(&url, &data).args(["schedule", "list"])).await;
    assert_eq!(
        o.stdout.matches("[changed since scheduled]").count(),
        1,
        "{}",
        o.stdout
    );
}

#[tokio::test]
async fn a_sandbox_clock_jump_is_handled_like_downtime() {
    let sb = frozen_sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let r = root.path().join("job.rhai");
    std::fs::write(&r, "#{ran: params.n}\n").unwrap();
    let d = serve(&url, &data, &[]);
    d.wait_log("scheduler started", 1).await;
    let now = sandbox_now(&url).await;
    let mut ids = Vec::new();
    for (n, after, window) in [(1, 60, "3600"), (2, 120, "10"), (3, 180, "3600")] {
        let at = (now + Span::seconds(after)).to_rfc3339();
        let o = output(btw(&url, &data).args([
            "schedule",
            "add",
            "--json",
            "--at",
            &at,
            "--catch-up",
            window,
            "-p",
            &format!("n={n}"),
            r.to_str().unwrap(),
        ]))
        .await;
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(
            !o.stderr.contains("no btw serve"),
            "a daemon is serving: {}",
            o.stderr
        );
        ids.push(
            serde_json::from_str::<Value>(&o.stdout).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // The sandbox clock jumps 1000 s: the skipped jobs run within their windows, the rest miss.
    advance(&url, 1000.0).await;
    let store = Store::open(&data.join("btw.db")).unwrap();
    wait_for("all three jobs to end", 30, || {
        ids.iter()
            .all(|id| !store.job_get(id).unwrap().unwrap().state.is_live())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let states: Vec<JobState> = ids
        .iter()
        .map(|id| store.job_get(id).unwrap().unwrap().state)
        .collect();
    assert_eq!(
        states,
        [JobState::Done, JobState::Missed, JobState::Done],
        "{}",
        d.log()
    );
    let recipes = data.join("recipes");
    wait_for("the missed report", 10, || {
        reports(&recipes).iter().any(|r| r["outcome"] == "missed")
    })
    .await
    .unwrap();
    d.stop().await;
}
