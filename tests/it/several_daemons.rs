//! Three `btw serve` on one store, as a reseller runs them behind a load balancer: 300 jobs
//! falling due within a minute, 200 notifications posted round-robin to the three listeners, and
//! one daemon SIGKILLed midway. Every job fires once, every event's trigger runs once, nothing is
//! lost, and the sandbox's journal shows no order placed twice for one external id.
//!
//! The store is one parameter: a SQLite file shared by the three, or a PostgreSQL database made
//! for the test and dropped after it (`BTW_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; skipped with a note when no server answers, unless
//! `BTW_TEST_POSTGRES=required`).

use crate::common::*;
use crate::daemon_support::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const JOBS: usize = 300;
const EVENTS: usize = 200;
const DAEMONS: usize = 3;
/// The daemon killed midway: the only one whose folder has the job recipe and whose inbox
/// took the jobs, so the others can only run them from the versions pinned in the store.
const VICTIM: usize = 0;

const ORDER: &str = "//! name: place order\n//! trigger: manual\n\
let o = ethernet::order(#{quote_id: params.quote});\n#{job: params.n, order: o.id}\n";
/// A second long, as a trigger making its own BT calls would be: the kill finds some running.
const ON_NOTE: &str = "//! name: on note\n//! trigger: on event=orderNote\n\
print(`note ${params.event_id}`);\ntime::sleep(1.0);\n#{event: params.event_id}\n";

/// One daemon's own folders (data, recipes with their inbox and runs).
struct Node {
    data: PathBuf,
    recipes: PathBuf,
}

fn nodes(root: &Path) -> Vec<Node> {
    (0..DAEMONS)
        .map(|i| {
            let recipes = root.join(format!("d{i}/recipes"));
            std::fs::create_dir_all(recipes.join("inbox")).unwrap();
            std::fs::write(recipes.join("on_note.rhai"), ON_NOTE).unwrap();
            if i == VICTIM {
                std::fs::write(recipes.join("order.rhai"), ORDER).unwrap();
            }
            Node {
                data: root.join(format!("d{i}/data")),
                recipes,
            }
        })
        .collect()
}

/// Every report the daemons wrote, all folders together.
fn all_reports(nodes: &[Node]) -> Vec<Value> {
    nodes.iter().flat_map(|n| reports(&n.recipes)).collect()
}

/// Reports whose result names `key`, counted per value.
fn count_by(reports: &[Value], key: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in reports {
        let v = &r["result"][key];
        let k = v
            .as_str()
            .map(str::to_string)
            .or(v.as_u64().map(|n| n.to_string()));
        if let Some(k) = k {
            *out.entry(k).or_insert(0) += 1;
        }
    }
    out
}

/// 300 quotes made before the daemons start: each job then places one order, the one mutating
/// call whose repeat the journal would show.
async fn quotes(url: &str) -> Vec<String> {
    let src = format!(
        "let ids = []; for i in 0..{JOBS} {{ ids.push(ethernet::quote(#{{product: \"EtherflowInternet\", bandwidth: 100, term: 12, a_end: \"LS1 5HD\"}}).id); }} ids"
    );
    let (outcome, lines) = run_text(client(url), &src).await;
    let ids = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()));
    ids.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Drops one inbox job per quote into `inbox`, due from 15 s to 45 s from the sandbox's now.
async fn drop_jobs(url: &str, inbox: &Path, quotes: &[String]) {
    let start = sandbox_now(url).await + chrono::Duration::seconds(15);
    for (n, quote) in quotes.iter().enumerate() {
        let at = start + chrono::Duration::milliseconds(100 * n as i64);
        let job = json!({"recipe": "order.rhai", "params": {"quote": quote, "n": n}, "at": at.to_rfc3339()});
        let tmp = inbox.join(format!(".{n}.tmp"));
        std::fs::write(&tmp, job.to_string()).unwrap();
        std::fs::rename(&tmp, inbox.join(format!("job-{n:03}.json"))).unwrap();
    }
}

/// Posts the events as a load balancer would: round-robin over the listeners, the next one when
/// a listener does not answer 200, until each event is acknowledged.
async fn post_round_robin(listeners: Vec<String>, acked: Arc<Mutex<HashSet<String>>>) {
    let client = reqwest::Client::new();
    for i in 0..EVENTS {
        let event = format!("note-{i:03}");
        let order = format!("LB-{i:03}");
        for attempt in 0.. {
            let l = &listeners[(i + attempt) % listeners.len()];
            if post_event(&client, l, &event, &order, "orderNote", "inProgress").await == 200 {
                acked.lock().unwrap().insert(event.clone());
                break;
            }
            assert!(attempt < 60, "no listener took {event}");
            if attempt % listeners.len() == listeners.len() - 1 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // Spread over ~30 s, so the kill falls in the middle of the notifications too.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The jobs as `btw schedule list --all --json` shows them: through the binary, whatever the
/// store is.
async fn jobs(url: &str, data: &Path, store: &str) -> Vec<Value> {
    let o = output(btw(url, data).args(["schedule", "list", "--all", "--json", "--store", store]))
        .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

/// How many jobs have run to the end, from their reports.
fn jobs_done(nodes: &[Node]) -> usize {
    count_by(&all_reports(nodes), "job").len()
}

async fn three_daemons(store: &str) {
    let sb = sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let nodes = nodes(root.path());
    let quotes = quotes(&url).await;
    let mut daemons: Vec<Option<Serve>> = Vec::new();
    for n in &nodes {
        let r = n.recipes.display().to_string();
        let args = [
            "--recipes",
            &r,
            "--store",
            store,
            "--job-lease",
            "5",
            "--max-runs",
            "8",
        ];
        daemons.push(Some(serve_listening(&url, &n.data, &args)));
    }
    let mut listeners = Vec::new();
    for d in daemons.iter().flatten() {
        d.wait_log("on_note.rhai: loaded", 1).await;
        listeners.push(d.listener_url().await);
    }
    status_shows_every_daemon(&url, &nodes[1].data, store).await;
    // Each daemon its own durable sandbox subscription: none displaces another's.
    let subs: Value = reqwest::get(format!("{url}/__sandbox/subscriptions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subscribed: HashSet<&str> = subs["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "durable")
        .filter_map(|s| s["url"].as_str())
        .collect();
    assert_eq!(
        subscribed,
        listeners.iter().map(String::as_str).collect(),
        "{subs:#}"
    );
    let victim_dir = &nodes[VICTIM].recipes;
    drop_jobs(&url, &victim_dir.join("inbox"), &quotes).await;
    let filed = |sub: &str| {
        std::fs::read_dir(victim_dir.join("inbox").join(sub))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    };
    wait_for("every job scheduled", 60, || filed("done") == JOBS)
        .await
        .unwrap_or_else(|e| {
            let log = daemons[VICTIM].as_ref().unwrap().log();
            panic!(
                "{e}: {} done, {} failed\n{log}",
                filed("done"),
                filed("failed")
            )
        });
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let poster = tokio::spawn(post_round_robin(listeners, acked.clone()));
    // Killed with jobs fired and others still due, notifications half posted.
    wait_for("a third of the jobs run", 90, || {
        jobs_done(&nodes) >= JOBS / 3
    })
    .await
    .unwrap();
    let victim_log = daemons[VICTIM].take().unwrap().kill9().await;
    assert!(!victim_log.contains("panicked"), "{victim_log}");
    assert!(
        jobs_done(&nodes) < JOBS,
        "killed after every job ran: not midway"
    );
    poster.await.unwrap();
    assert_eq!(acked.lock().unwrap().len(), EVENTS);
    let settled = wait_for("every job and every trigger run", 120, || {
        let all = all_reports(&nodes);
        count_by(&all, "job").len() == JOBS && count_by(&all, "event").len() == EVENTS
    })
    .await;
    let survivors: Vec<Serve> = daemons.into_iter().flatten().collect();
    let mut logs = String::new();
    for d in survivors {
        logs.push_str(&d.stop().await);
    }
    settled.unwrap_or_else(|e| {
        let all = all_reports(&nodes);
        let (jobs, events) = (count_by(&all, "job"), count_by(&all, "event"));
        let missing: Vec<String> = (0..EVENTS)
            .map(|i| format!("note-{i:03}"))
            .filter(|n| !events.contains_key(n))
            .collect();
        let notable: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        panic!(
            "{e}: {} jobs and {} events reported; events missing: {missing:?}\n{}",
            jobs.len(),
            events.len(),
            notable.join("\n")
        )
    });
    assert!(!logs.contains("panicked"), "{logs}");
    // The victim's trigger runs in flight when it was killed were resumed by a survivor, not
    // left for it to come back.
    let reported: HashSet<String> = all_reports(&nodes)
        .iter()
        .filter_map(|r| r["run_id"].as_str().map(str::to_string))
        .collect();
    for run_id in in_flight(&victim_log, "on_note.rhai") {
        // Killed between finishing the run and logging it: nothing left to take over.
        let finished_unlogged = reported.contains(&run_id) && !logs.contains(&run_id);
        assert!(
            finished_unlogged || logs.contains(&format!("resuming run {run_id} ")),
            "run {run_id} of the killed daemon was not taken over\n{logs}"
        );
    }
    assert!(
        !logs.contains(CALLBACK_PASSWORD) && !victim_log.contains(CALLBACK_PASSWORD),
        "the callback secret never reaches a log"
    );
    check_jobs(&url, &nodes, store).await;
    check_events(&nodes);
    check_journal(&url).await;
}

/// Each job done, once: one report of its run, one order per quote.
async fn check_jobs(url: &str, nodes: &[Node], store: &str) {
    let all = all_reports(nodes);
    let jobs = jobs(url, &nodes[1].data, store).await;
    assert_eq!(jobs.len(), JOBS);
    let not_done: Vec<_> = jobs.iter().filter(|j| j["state"] != "done").collect();
    assert!(not_done.is_empty(), "{not_done:#?}");
    let runs: HashMap<&str, Vec<&Value>> = all.iter().fold(HashMap::new(), |mut m, r| {
        m.entry(r["run_id"].as_str().unwrap()).or_default().push(r);
        m
    });
    for j in &jobs {
        let id = j["last_run_id"].as_str().unwrap();
        let reps = runs.get(id).cloned().unwrap_or_default();
        assert_eq!(reps.len(), 1, "job {j:#}: its run reported {reps:#?}");
        assert_eq!(reps[0]["outcome"], "ok", "{:#}", reps[0]);
    }
    let per_job = count_by(&all, "job");
    let twice: Vec<_> = per_job.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    // The work was shared: the survivors ran jobs they have no file for.
    let ran_by = |n: &Node| count_by(&reports(&n.recipes), "job").len();
    for (i, n) in nodes.iter().enumerate().filter(|(i, _)| *i != VICTIM) {
        assert!(ran_by(n) > 0, "daemon {i} ran no job");
    }
}

/// Each event's trigger ran once, in whichever daemon dispatched it.
fn check_events(nodes: &[Node]) {
    let per_event = count_by(&all_reports(nodes), "event");
    let wrong: Vec<_> = per_event.iter().filter(|(_, n)| **n != 1).collect();
    assert!(wrong.is_empty(), "triggers run more than once: {wrong:?}");
    for i in 0..EVENTS {
        let e = format!("note-{i:03}");
        assert!(per_event.contains_key(&e), "{e}'s trigger never ran");
    }
}

/// No order placed twice for one external id, and one order per job.
async fn check_journal(url: &str) {
    let j = journal(url).await;
    let orders: Vec<&str> = j["created"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "ethernetOrder")
        .map(|c| c["externalId"].as_str().unwrap_or(""))
        .collect();
    let distinct: HashSet<&str> = orders.iter().copied().collect();
    assert_eq!(distinct.len(), orders.len(), "an external id ordered twice");
    assert_eq!(orders.len(), JOBS);
    let refused: Vec<_> = j["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"].as_str().unwrap().ends_with("/productOrder"))
        .filter(|r| r["status"] != 201)
        .collect();
    assert!(
        refused.is_empty(),
        "orders refused (sent again?): {refused:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_on_one_sqlite_file_fire_every_job_and_trigger_once_through_a_kill() {
    let root = tempfile::tempdir().unwrap();
    let store = root.path().join("shared.db");
    three_daemons(&store.display().to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_daemons_on_one_postgres_database_fire_every_job_and_trigger_once_through_a_kill() {
    // Skipped (said once) without a server, unless BTW_TEST_POSTGRES=required.
    let Some(db) = btw::store::postgres::testing::TestDb::create() else {
        return;
    };
    three_daemons(&db.url).await;
}

/// The runs of `recipe` a daemon's log shows started and not ended (`ok` or `failed`).
fn in_flight(log: &str, recipe: &str) -> Vec<String> {
    let prefix = format!("{recipe}: run ");
    let mut started = Vec::new();
    let mut ended = HashSet::new();
    for line in log.lines() {
        let Some(rest) = line.split_once(&prefix).map(|(_, r)| r) else {
            continue;
        };
        let mut words = rest.split_whitespace();
        match (words.next(), words.next()) {
            (Some(id), Some("started")) => started.push(id.to_string()),
            (Some(id), Some(_)) => {
                ended.insert(id.to_string());
            }
            _ => {}
        }
    }
    started.retain(|id| !ended.contains(id));
    started
}

/// `btw status` on the shared store names every daemon serving it, each its own process.
async fn status_shows_every_daemon(url: &str, data: &Path, store: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let o = output(btw(url, data).args(["status", "--json", "--store", store])).await;
        let v: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
        let pids: HashSet<u64> = v["daemons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["serving"] == true)
            .filter_map(|d| d["pid"].as_u64())
            .collect();
        if pids.len() == DAEMONS {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "btw status never showed {DAEMONS} daemons serving: {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
