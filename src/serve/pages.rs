//! The console's pages: the front page (the overview `btw status` prints, and this daemon's
//! health), runs (filtered, paginated), one run with its way back, schedules with their buttons
//! and history, recipes and events, rendered from the templates in `templates/`. They work
//! without JavaScript; with it, each page swaps in its fresh tables every few seconds without
//! touching a form being typed.

use super::blocking;
use super::console::Console;
use crate::jobs::JobState;
use crate::store::RunFilter;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

const PER_PAGE: usize = 50;

const TEMPLATES: [(&str, &str); 8] = [
    ("base.html", include_str!("templates/base.html")),
    ("confirm.html", include_str!("templates/confirm.html")),
    ("front.html", include_str!("templates/front.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    ("recipes.html", include_str!("templates/recipes.html")),
    ("events.html", include_str!("templates/events.html")),
];

/// The pages' templates (HTML-escaped output).
pub(super) fn templates() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("console template {name}: {e}");
        }
    }
    env
}

fn render(c: &Console, name: &str, mut ctx: Value) -> Response {
    ctx["now_uk"] = json!(uk(Some(Utc::now())));
    ctx["csrf"] = json!(c.csrf);
    match c.templates.get_template(name).and_then(|t| t.render(&ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("console page {name}: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn\n",
            )
                .into_response()
        }
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("cannot read {what}: {e}\n"),
    )
        .into_response()
}

/// An instant as UK time to the second (the runs list's "since" reads it back), or empty.
fn uk(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono_tz::Europe::London)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    })
    .unwrap_or_default()
}

fn instant(t: Option<&str>) -> Option<DateTime<Utc>> {
    t.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

fn uk_text(t: Option<&str>) -> String {
    uk(instant(t))
}

/// How long ago, as an operator says it: `12 s ago`, `3 min ago`, `2 h ago`, `4 days ago`.
fn ago(t: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(t) = instant(t) else {
        return String::new();
    };
    let s = (now - t).num_seconds();
    match s {
        i64::MIN..=-1 => "in the future".into(),
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// A span as `850 ms`, `12.3 s`, `4 min 5 s`.
fn span(from: Option<&str>, to: Option<&str>) -> String {
    let (Some(a), Some(b)) = (instant(from), instant(to)) else {
        return String::new();
    };
    let ms = (b - a).num_milliseconds().max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// A query string of `pairs`, encoded.
pub(super) fn query(pairs: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params("http://console/", pairs)
        .ok()
        .and_then(|u| u.query().map(str::to_string))
        .unwrap_or_default()
}

/// The address that puts `inbox/failed/NAME` back into the inbox, the name encoded.
fn retry_path(name: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse("http://console/inbox/failed/") else {
        return String::new();
    };
    if let Ok(mut path) = u.path_segments_mut() {
        path.pop_if_empty().push(name).push("retry");
    }
    u.path().to_string()
}

/// Where a daemon run came from, as the runs list says it.
fn origin_label(origin: Option<&str>) -> String {
    let Some(o) = origin else {
        return "command".into();
    };
    if let Some(run) = o.strip_prefix(super::RERUN_ORIGIN) {
        return format!("re-run of {run}");
    }
    o.to_string()
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
        .to_string()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct FrontQuery {
    /// The refused job just put back into the inbox (a flash).
    retried: Option<String>,
}

/// The front page: what `btw status` prints (`crate::status`), with this daemon's health.
pub(super) async fn front(State(c): State<Arc<Console>>, Query(q): Query<FrontQuery>) -> Response {
    let now = Utc::now();
    let daemon = c.daemon.clone();
    let found = blocking(move || {
        let overview = crate::status::read(&daemon.store, now)?;
        Ok::<_, crate::store::StoreError>((overview, daemon.inbox_backlog()))
    })
    .await;
    let (o, backlog) = match found {
        Some(Ok(v)) => v,
        Some(Err(e)) => return failed("the store", e),
        None => return failed("the store", "the task failed"),
    };
    let health = super::health::check(&c).await;
    let classes: Vec<Value> = crate::status::CLASSES
        .iter()
        .map(|(key, label, outcome)| {
            json!({"key": key, "label": label, "outcome": outcome,
                   "hour": o.last_hour.get(key), "day": o.last_day.get(key)})
        })
        .collect();
    let me = c.daemon.dir.display().to_string();
    let mut broken = Vec::new();
    let mut refused = Vec::new();
    for f in &o.problems {
        for p in &f.problems {
            let reason = p["reason"].as_str().unwrap_or_default();
            let file = p["file"].as_str().unwrap_or_default();
            let row = json!({
                "folder": f.recipes, "file": file,
                "reason": reason.lines().next().unwrap_or_default(),
                "at_uk": uk_text(p["at"].as_str()),
                "name": file.strip_prefix("inbox/").unwrap_or(file),
                "retry": retry_path(file.strip_prefix("inbox/").unwrap_or(file)),
                "mine": f.recipes == me,
            });
            if p["kind"] == "job" {
                refused.push(row);
            } else {
                broken.push(row);
            }
        }
    }
    refused.reverse();
    let job = |j: &crate::jobs::Job| {
        json!({"id": j.id, "recipe_name": file_name(&j.recipe), "state": j.state.as_str(),
               "next_uk": uk(j.next_run_at), "last_outcome": j.last_outcome.clone().unwrap_or_default(),
               "last_run_id": j.last_run_id})
    };
    let daemons: Vec<Value> = o
        .daemons
        .iter()
        .map(|d| {
            json!({"host": d.host, "pid": d.pid, "recipes": d.recipes, "age_secs": d.age_secs,
                        "serving": d.serving, "me": d.owner == c.daemon.owner})
        })
        .collect();
    let ctx = json!({
        "refresh": 5,
        "classes": classes,
        "failed_hour": o.last_hour.failed(), "failed_day": o.last_day.failed(),
        "in_flight": o.in_flight, "backlog": backlog,
        "next_jobs": o.next_jobs.iter().take(5).map(job).collect::<Vec<_>>(),
        "bad_jobs": o.missed_or_failed_jobs.iter().map(job).collect::<Vec<_>>(),
        "failures": o.recent_failures.iter().map(|r| run_row(r, now)).collect::<Vec<_>>(),
        "broken": broken, "refused": refused,
        "daemons": daemons,
        "health": {"ok": health.ok(), "problems": health.problems, "listener": health.listener,
                   "store_writable": health.store_writable, "heartbeat_age": health.heartbeat_age_secs},
        "alerts": {"pending": o.alerts.pending, "oldest_ago": ago(o.alerts.oldest_queued_at.as_deref(), now),
                   "last_error": o.alerts.last_error, "webhook": c.daemon.alerts},
        "store": c.daemon.store.path().display().to_string(),
        "retried": q.retried,
    });
    render(&c, "front.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RunsQuery {
    #[serde(default)]
    recipe: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    origin: String,
    #[serde(default)]
    since: String,
    page: Option<usize>,
}

/// One run as the runs list and the schedules' history show it.
fn run_row(r: &crate::store::RunSummary, now: DateTime<Utc>) -> Value {
    json!({
        "run_id": r.run_id, "recipe_name": file_name(&r.recipe), "outcome": r.outcome,
        "script_hash": r.script_hash, "started_uk": uk_text(Some(&r.started_at)),
        "started_ago": ago(Some(&r.started_at), now),
        "finished_uk": uk_text(r.finished_at.as_deref()),
        "duration": span(Some(&r.started_at), r.finished_at.as_deref()),
        "origin": origin_label(r.origin.as_deref()),
        "attempts": r.attempts.filter(|n| *n > 1),
        "error": r.error.as_ref().map(crate::status::error_line).unwrap_or_default(),
    })
}

pub(super) async fn runs(State(c): State<Arc<Console>>, Query(q): Query<RunsQuery>) -> Response {
    let page = q.page.unwrap_or(1).max(1);
    let now = Utc::now();
    let since = Some(q.since.trim())
        .filter(|s| !s.is_empty())
        .map(|s| super::since::parse(s, now));
    let since_error = match &since {
        Some(Err(e)) => Some(e.clone()),
        _ => None,
    };
    let filter = RunFilter {
        recipe: Some(q.recipe.trim().to_string()).filter(|s| !s.is_empty()),
        outcome: Some(q.outcome.trim().to_string()).filter(|s| !s.is_empty()),
        origin: Some(q.origin.trim().to_string()).filter(|s| !s.is_empty()),
        since: since.and_then(Result::ok).map(crate::time::rfc3339_millis),
        limit: PER_PAGE + 1,
        offset: (page - 1) * PER_PAGE,
    };
    let list = if since_error.is_some() {
        Vec::new()
    } else {
        let store = c.daemon.store.clone();
        match blocking(move || store.runs_list(&filter)).await {
            Some(Ok(l)) => l,
            Some(Err(e)) => return failed("the runs", e),
            None => return failed("the runs", "the task failed"),
        }
    };
    let more = list.len() > PER_PAGE;
    let rows: Vec<Value> = list
        .iter()
        .take(PER_PAGE)
        .map(|r| run_row(r, now))
        .collect();
    let query = query(&[
        ("recipe", &q.recipe),
        ("outcome", &q.outcome),
        ("origin", &q.origin),
        ("since", &q.since),
    ]);
    let ctx = json!({
        "refresh": 5,
        "runs": rows, "page": page, "more": more, "query": query,
        "since_error": since_error,
        "filter": {"recipe": q.recipe, "outcome": q.outcome, "origin": q.origin, "since": q.since},
    });
    render(&c, "runs.html", ctx)
}

/// A page asking to confirm a press made without JavaScript (which asks in the browser): the
/// same form again, confirmed.
pub(super) fn confirm(
    c: &Console,
    title: &str,
    question: &str,
    action: &str,
    yes: &str,
    back: &str,
) -> Response {
    let ctx = json!({
        "refresh": 300, "title": title, "question": question, "action": action, "yes": yes,
        "back": back,
    });
    render(c, "confirm.html", ctx)
}

/// A run id as the daemon makes them; anything else never reaches the file system.
pub(super) fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() < 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RunQuery {
    /// The run started again from this one (a flash after the press).
    again: Option<String>,
    /// This run was resumed (a flash after the press).
    resumed: Option<String>,
}

pub(super) async fn run(
    State(c): State<Arc<Console>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<RunQuery>,
) -> Response {
    if !plain_id(&id) {
        return (StatusCode::NOT_FOUND, "no such run\n").into_response();
    }
    let (store, dir, rid) = (c.daemon.store.clone(), c.daemon.dir.clone(), id.clone());
    let found = blocking(move || {
        let record = store.run_get(&rid)?;
        let steps = store.ledger_steps(&rid).unwrap_or_default();
        let origin = store.run_origin(&rid).unwrap_or_default();
        let file: Option<Value> =
            std::fs::read_to_string(dir.join("runs").join(format!("{rid}.json")))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
        Ok::<_, crate::store::StoreError>((record, steps, origin, file))
    })
    .await;
    let (record, steps, origin, file) = match found {
        Some(Ok(v)) => v,
        Some(Err(e)) => return failed("the run", e),
        None => return failed("the run", "the task failed"),
    };
    let Some(run) = record else {
        return (StatusCode::NOT_FOUND, "no such run\n").into_response();
    };
    let report = run.report.clone().unwrap_or(Value::Null);
    let steps: Vec<Value> = steps
        .into_iter()
        .map(|s| {
            let err = s.error.clone().unwrap_or(Value::Null);
            // Empty, not `None`, where a step has nothing to show.
            let pick = |k: &str| {
                err.get(k)
                    .or_else(|| err.get("bt").and_then(|b| b.get(k)))
                    .filter(|v| !v.is_null())
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default()
            };
            json!({
                "step": s.step, "operation": s.operation,
                "state": format!("{:?}", s.state).to_lowercase(),
                "code": pick("code"), "tracking_id": pick("tracking_id"),
            })
        })
        .collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let replayable = steps.iter().any(|s| s["state"] == "done");
    let again = match run.outcome.as_str() {
        "ok" | "running" | "missed" => None,
        _ if run.script.starts_with("stdin:") => None,
        _ if replayable => Some("resume"),
        _ => Some("rerun"),
    };
    let flash = match (&q.again, &q.resumed) {
        (Some(new), _) if plain_id(new) => json!({"rerun": new}),
        (_, Some(_)) => json!({"resumed": true}),
        _ => Value::Null,
    };
    let ctx = json!({
        "refresh": if run.outcome == "running" { 3 } else { 30 },
        "again": again, "flash": flash,
        "attempts": report.get("attempts"),
        "run": {"run_id": run.run_id, "script": run.script, "script_hash": run.script_hash, "outcome": run.outcome},
        "started_uk": uk_text(Some(&run.started_at)),
        "finished_uk": uk_text(run.finished_at.as_deref()),
        "origin": origin,
        "params": pretty(&crate::runner::shown_params(&run)),
        "error": report.get("error"),
        "result": report.get("result").map(pretty),
        "steps": steps,
        "log": file.as_ref().and_then(|f| f.get("output")).cloned().unwrap_or(json!([])),
    });
    render(&c, "run.html", ctx)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SchedulesQuery {
    /// What was just done (`retry`, `run-now`, `cancel`) and to which job: a flash.
    done: Option<String>,
    job: Option<String>,
}

/// Runs of each job kept on the schedules page.
const HISTORY: usize = 5;

pub(super) async fn schedules(
    State(c): State<Arc<Console>>,
    Query(q): Query<SchedulesQuery>,
) -> Response {
    let store = c.daemon.store.clone();
    let found = blocking(move || {
        let jobs = store.job_list(&JobState::ALL)?;
        // The latest scheduled runs and misses in two reads, shared out among the jobs.
        let recent = |origin: Option<&str>, outcome: Option<&str>| {
            store.runs_list(&RunFilter {
                origin: origin.map(str::to_string),
                outcome: outcome.map(str::to_string),
                limit: 1000,
                ..RunFilter::default()
            })
        };
        let mut runs = recent(Some("schedule"), None)?;
        runs.extend(recent(None, Some("missed"))?);
        runs.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        let params: Vec<Value> = jobs
            .iter()
            .map(|j| crate::runner::shown_job_params(&store, j))
            .collect();
        Ok::<_, crate::store::StoreError>((jobs, runs, params))
    })
    .await;
    let (jobs, runs, params) = match found {
        Some(Ok(j)) => j,
        Some(Err(e)) => return failed("the jobs", e),
        None => return failed("the jobs", "the task failed"),
    };
    let now = Utc::now();
    let rows: Vec<Value> = jobs
        .iter()
        .zip(params)
        .rev()
        .take(500)
        .map(|(j, params)| {
            let when = match (&j.cron, j.at) {
                (Some(cron), _) => format!("cron {cron} ({})", j.tz),
                (None, Some(at)) => format!("at {}", uk(Some(at))),
                _ => String::new(),
            };
            let origin = format!("schedule:{}", j.id);
            let missed = format!("{}-missed-", j.id);
            let history: Vec<Value> = runs
                .iter()
                .filter(|r| r.origin.as_deref() == Some(origin.as_str()) || r.run_id.starts_with(&missed))
                .take(HISTORY)
                .map(|r| run_row(r, now))
                .collect();
            let params = match &params {
                Value::Object(m) if m.is_empty() => String::new(),
                Value::Null => String::new(),
                p => p.to_string(),
            };
            json!({
                "id": j.id, "recipe_name": file_name(&j.recipe), "when": when,
                "next_uk": if j.state.is_live() { uk(j.next_run_at) } else { String::new() },
                "state": j.state.as_str(), "last_outcome": j.last_outcome.clone().unwrap_or_default(),
                "last_run_id": j.last_run_id, "params": params, "history": history,
            })
        })
        .collect();
    let flash = match (&q.done, &q.job) {
        (Some(done), Some(job)) => json!({"done": done, "job": job}),
        _ => Value::Null,
    };
    render(&c, "schedules.html", json!({"jobs": rows, "flash": flash}))
}

pub(super) async fn recipes(State(c): State<Arc<Console>>) -> Response {
    let loaded: Vec<(String, String, String, Option<String>)> = c
        .daemon
        .recipes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(p, l)| {
            let at = uk_text(Some(&l.loaded_at));
            let key = super::owned::trigger_key(&l.trigger);
            (p.display().to_string(), l.trigger.describe(), at, key)
        })
        .collect();
    let mut broken: Vec<Value> = c
        .daemon
        .broken
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(p, b)| json!({"name": file_name(&p.display().to_string()), "error": b.error}))
        .collect();
    broken.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let refused: Vec<Value> = c
        .daemon
        .refused
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .rev()
        .map(|r| json!({"file": r.file, "reason": r.reason, "at_uk": uk_text(Some(&r.at))}))
        .collect();
    let store = c.daemon.store.clone();
    let rows = blocking(move || {
        let mut rows: Vec<Value> = loaded
            .into_iter()
            .map(|(path, trigger, loaded_uk, key)| {
                let name = file_name(&path);
                let hash = store.recipe_head(&path).ok().flatten().map(|(h, _)| h);
                // The job as the store has it (what `btw schedule list` shows), not as this
                // daemon last left it.
                let job = key.map(|k| {
                    let id = crate::store::recipe_job_id(&name, &k);
                    match store.job_get(&id) {
                        Ok(Some(j)) => format!("{id} ({})", j.state.as_str()),
                        Ok(None) => format!("{id} (not in the store)"),
                        Err(e) => format!("{id} ({e})"),
                    }
                });
                json!({"name": name, "hash": hash, "trigger": trigger, "loaded_uk": loaded_uk, "job": job})
            })
            .collect();
        rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        rows
    })
    .await
    .unwrap_or_default();
    render(
        &c,
        "recipes.html",
        json!({"loaded": rows, "broken": broken, "refused": refused}),
    )
}

pub(super) async fn events(State(c): State<Arc<Console>>) -> Response {
    let store = c.daemon.store.clone();
    let events = match blocking(move || store.events_recent(200)).await {
        Some(Ok(e)) => e,
        Some(Err(e)) => return failed("the events", e),
        None => return failed("the events", "the task failed"),
    };
    let rows: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let mut v = json!(e);
            v["received_uk"] = json!(uk_text(Some(&e.received_at)));
            v
        })
        .collect();
    render(&c, "events.html", json!({"events": rows}))
}
