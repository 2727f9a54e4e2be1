//! The console's pages: runs (filtered, paginated), one run, schedules with their buttons,
//! recipes and events, rendered from the templates in `templates/` (no JavaScript; each page
//! refreshes itself).

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

const TEMPLATES: [(&str, &str); 6] = [
    ("base.html", include_str!("templates/base.html")),
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

/// An instant as UK time, or empty.
fn uk(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| crate::time::fmt_local(t, chrono_tz::Europe::London))
        .unwrap_or_default()
}

fn uk_text(t: Option<&str>) -> String {
    uk(t.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc)))
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
        .to_string()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RunsQuery {
    #[serde(default)]
    recipe: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    since: String,
    page: Option<usize>,
}

pub(super) async fn runs(State(c): State<Arc<Console>>, Query(q): Query<RunsQuery>) -> Response {
    let page = q.page.unwrap_or(1).max(1);
    let filter = RunFilter {
        recipe: Some(q.recipe.trim().to_string()).filter(|s| !s.is_empty()),
        outcome: Some(q.outcome.trim().to_string()).filter(|s| !s.is_empty()),
        since: Some(q.since.trim().to_string()).filter(|s| !s.is_empty()),
        limit: PER_PAGE + 1,
        offset: (page - 1) * PER_PAGE,
    };
    let store = c.daemon.store.clone();
    let list = match blocking(move || store.runs_list(&filter)).await {
        Some(Ok(l)) => l,
        Some(Err(e)) => return failed("the runs", e),
        None => return failed("the runs", "the task failed"),
    };
    let more = list.len() > PER_PAGE;
    let rows: Vec<Value> = list
        .into_iter()
        .take(PER_PAGE)
        .map(|r| {
            json!({
                "run_id": r.run_id, "recipe_name": file_name(&r.recipe), "outcome": r.outcome,
                "script_hash": r.script_hash, "started_uk": uk_text(Some(&r.started_at)),
                "finished_uk": uk_text(r.finished_at.as_deref()),
            })
        })
        .collect();
    let query = reqwest::Url::parse_with_params(
        "http://console/",
        [
            ("recipe", &q.recipe),
            ("outcome", &q.outcome),
            ("since", &q.since),
        ],
    )
    .ok()
    .and_then(|u| u.query().map(str::to_string))
    .unwrap_or_default();
    let ctx = json!({
        "runs": rows, "page": page, "more": more, "query": query,
        "filter": {"recipe": q.recipe, "outcome": q.outcome, "since": q.since},
    });
    render(&c, "runs.html", ctx)
}

/// A run id as the daemon makes them; anything else never reaches the file system.
fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() < 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) async fn run(State(c): State<Arc<Console>>, UrlPath(id): UrlPath<String>) -> Response {
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
            let pick = |k: &str| {
                err.get(k)
                    .or_else(|| err.get("bt").and_then(|b| b.get(k)))
                    .cloned()
            };
            json!({
                "step": s.step, "operation": s.operation,
                "state": format!("{:?}", s.state).to_lowercase(),
                "code": pick("code"), "tracking_id": pick("tracking_id"),
            })
        })
        .collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let ctx = json!({
        "refresh": if run.outcome == "running" { 3 } else { 30 },
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

pub(super) async fn schedules(State(c): State<Arc<Console>>) -> Response {
    let store = c.daemon.store.clone();
    let jobs = match blocking(move || store.job_list(&JobState::ALL)).await {
        Some(Ok(j)) => j,
        Some(Err(e)) => return failed("the jobs", e),
        None => return failed("the jobs", "the task failed"),
    };
    let rows: Vec<Value> = jobs
        .iter()
        .rev()
        .take(500)
        .map(|j| {
            let when = match (&j.cron, j.at) {
                (Some(cron), _) => format!("cron {cron} ({})", j.tz),
                (None, Some(at)) => format!("at {}", uk(Some(at))),
                _ => String::new(),
            };
            json!({
                "id": j.id, "recipe_name": file_name(&j.recipe), "when": when,
                "next_uk": if j.state.is_live() { uk(j.next_run_at) } else { String::new() },
                "state": j.state.as_str(), "last_outcome": j.last_outcome,
                "last_run_id": j.last_run_id,
            })
        })
        .collect();
    render(&c, "schedules.html", json!({"jobs": rows, "csrf": c.csrf}))
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
