//! `btw serve --http [ADDR]`: the operator's console. Server-rendered pages (see `pages`), job
//! actions posted from forms (with a CSRF token), `/healthz` and `/metrics`. Off unless asked;
//! an address other than loopback needs a token (`BTW_HTTP_TOKEN` or `[http] token`).

use super::console::Console;
use super::{blocking, pages, Daemon};
use crate::api::Secret;
use crate::jobs::Again;
use crate::schedule::Clock;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

/// The console's settings.
pub(super) struct HttpOptions {
    pub addr: SocketAddr,
    pub token: Option<Secret>,
    pub listener: super::listener_health::ListenerHealth,
    pub alert_limit: Duration,
}

/// Binds the console and serves it until `stop`; the address it listens on.
pub(super) async fn start(
    daemon: Arc<Daemon>,
    clock: Arc<dyn Clock>,
    opts: HttpOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<(tokio::task::JoinHandle<()>, SocketAddr), String> {
    let token = opts.token.filter(|t| !t.is_empty());
    if !opts.addr.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "the console on {} would be open to the network: set BTW_HTTP_TOKEN (or [http] token in btw.toml), or use a loopback address",
            opts.addr
        ));
    }
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let console = Arc::new(Console {
        daemon,
        clock,
        templates: pages::templates(),
        csrf: uuid::Uuid::new_v4().simple().to_string(),
        token,
        listener: opts.listener,
        alert_limit: opts.alert_limit,
    });
    let app = router(console);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!("the console stopped: {e}");
        }
    });
    Ok((task, addr))
}

fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(pages::front))
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/again", post(run_again))
        .route("/inbox/failed/{file}/retry", post(inbox_retry))
        .route("/schedules", get(pages::schedules))
        .route("/recipes", get(pages::recipes))
        .route("/events", get(pages::events))
        .route("/jobs/{id}/{action}", post(job_action))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(console.clone(), authorize))
        .with_state(console)
}

/// With a token set, every request shows it: `Authorization: Bearer`, the `btw_token` cookie,
/// or `?token=` once (which sets the cookie, so a browser needs it only in the first address).
async fn authorize(State(c): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let Some(token) = &c.token else {
        return next.run(req).await;
    };
    let matches = |given: &str| bool::from(given.as_bytes().ct_eq(token.expose().as_bytes()));
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer.is_some_and(matches) || cookie(headers, "btw_token").is_some_and(matches) {
        return next.run(req).await;
    }
    let from_query = req
        .uri()
        .query()
        .and_then(|_| Query::<HashMap<String, String>>::try_from_uri(req.uri()).ok())
        .and_then(|Query(mut q)| q.remove("token"))
        .filter(|v| matches(v));
    match from_query {
        Some(v) => {
            let mut resp = next.run(req).await;
            if let Ok(value) = format!("btw_token={v}; HttpOnly; SameSite=Strict; Path=/").parse() {
                resp.headers_mut().insert(header::SET_COOKIE, value);
            }
            resp
        }
        None => (
            StatusCode::UNAUTHORIZED,
            "a token is needed: Authorization: Bearer …\n",
        )
            .into_response(),
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `None` when the form carries this process's token; else the answer that refuses it.
fn forged(c: &Console, form: &HashMap<String, String>) -> Option<Response> {
    let given = form.get("csrf").map(String::as_str).unwrap_or("");
    (!bool::from(given.as_bytes().ct_eq(c.csrf.as_bytes()))).then(|| {
        (
            StatusCode::FORBIDDEN,
            "stale or missing form token: reload the page\n",
        )
            .into_response()
    })
}

/// Whether the form says its press was confirmed (in the browser, or on the confirmation page).
fn confirmed(form: &HashMap<String, String>) -> bool {
    form.get("confirmed").is_some_and(|v| v == "yes")
}

/// Resumes or re-runs a failed run, from its page; back to the page with what happened.
async fn run_again(
    State(c): State<Arc<Console>>,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = forged(&c, &form) {
        return refused;
    }
    if !pages::plain_id(&id) {
        return (StatusCode::NOT_FOUND, "no such run\n").into_response();
    }
    if !confirmed(&form) {
        return pages::confirm(
            &c,
            "Run again?",
            &format!("Resume run {id} if its ledger has completed steps (they are replayed, not sent again), else run its recipe again as a new run with the same version and params."),
            &format!("/runs/{id}/again"),
            "Yes, run it again",
            &format!("/runs/{id}"),
        );
    }
    let (daemon, rid) = (c.daemon.clone(), id.clone());
    match blocking(move || daemon.run_again(&rid)).await {
        Some(Ok(super::again::Again::Resumed)) => {
            Redirect::to(&format!("/runs/{id}?resumed=1")).into_response()
        }
        Some(Ok(super::again::Again::Rerun(new))) => {
            Redirect::to(&format!("/runs/{id}?again={new}")).into_response()
        }
        Some(Err(e)) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "the task failed\n").into_response(),
    }
}

/// Puts a refused inbox job, fixed in `inbox/failed/`, back into the inbox.
async fn inbox_retry(
    State(c): State<Arc<Console>>,
    UrlPath(file): UrlPath<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = forged(&c, &form) {
        return refused;
    }
    let (daemon, name) = (c.daemon.clone(), file.clone());
    match blocking(move || daemon.retry_refused(&name)).await {
        Some(Ok(())) => {
            let q = pages::query(&[("retried", &file)]);
            Redirect::to(&format!("/?{q}")).into_response()
        }
        Some(Err(e)) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "the task failed\n").into_response(),
    }
}

/// Retry, run now or cancel a job, from the schedules page.
async fn job_action(
    State(c): State<Arc<Console>>,
    UrlPath((id, action)): UrlPath<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = forged(&c, &form) {
        return refused;
    }
    if action == "cancel" && !confirmed(&form) {
        return pages::confirm(
            &c,
            "Cancel the job?",
            &format!("Cancel job {id}? It will not fire again (a run under way finishes)."),
            &format!("/jobs/{id}/cancel"),
            "Yes, cancel it",
            "/schedules",
        );
    }
    let now = match c.clock.now().await {
        Ok(t) => t,
        Err(e) => {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("no clock: {e}\n")).into_response()
        }
    };
    let store = c.daemon.store.clone();
    let (job, what) = (id.clone(), action.clone());
    let done = blocking(move || match action.as_str() {
        "retry" => store
            .job_again(&id, Again::Retry, now)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "run-now" => store
            .job_again(&id, Again::RunNow, now)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        "cancel" => store
            .job_cancel(&id, now)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        other => Err(format!("unknown action {other:?}")),
    })
    .await
    .unwrap_or_else(|| Err("the task failed".into()));
    match done {
        Ok(()) => {
            let q = pages::query(&[("done", &what), ("job", &job)]);
            Redirect::to(&format!("/schedules?{q}")).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

/// 200 when the daemon is healthy (see `health`); else 503 with why.
async fn healthz(State(c): State<Arc<Console>>) -> Response {
    let h = super::health::check(&c).await;
    let status = if h.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if h.ok() { "ok" } else { "unhealthy" },
        "problems": h.problems,
        "heartbeat": h.heartbeat,
        "listener": h.listener,
        "alerts_pending": h.alerts.pending,
    });
    (status, Json(body)).into_response()
}

/// Prometheus text: the process's counters and the store's gauges.
async fn metrics(State(c): State<Arc<Console>>) -> Response {
    crate::metrics::run_slots(c.daemon.runs.working(), c.daemon.runs.max());
    let daemon = c.daemon.clone();
    let gauges = blocking(move || {
        let store = &daemon.store;
        let now = chrono::Utc::now();
        let (due, missed, failed) = store.job_gauges(&crate::store::now_rfc3339()).ok()?;
        let alerts = store.alert_queue_state().ok()?;
        let backlog = daemon.inbox_backlog();
        let age = |t: Option<&str>| t.and_then(|t| crate::status::age(t, now));
        let beat_age = store
            .heartbeats()
            .ok()?
            .into_iter()
            .find(|h| h.owner == daemon.owner)
            .and_then(|h| (now - h.beat_at).to_std().ok());
        let last_success = store
            .last_success_by_recipe()
            .ok()?
            .into_iter()
            .filter_map(|(recipe, at)| {
                let t = chrono::DateTime::parse_from_rfc3339(&at).ok()?;
                Some((
                    super::file_name(std::path::Path::new(&recipe)),
                    t.timestamp_millis() as f64 / 1000.0,
                ))
            })
            .collect();
        Some(crate::metrics::StoreGauges {
            jobs_due: due,
            jobs_missed: missed,
            jobs_failed: failed,
            alerts_pending: alerts.pending,
            alert_queue_age: age(alerts.oldest_queued_at.as_deref()),
            runs_in_flight: store
                .runs_in_flight(&crate::time::rfc3339_millis(now))
                .ok()?,
            inbox_backlog: backlog.waiting,
            broken_recipes: daemon
                .broken
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len() as u64,
            refused_jobs: daemon
                .refused
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len() as u64,
            heartbeat_age: beat_age,
            last_success,
        })
    })
    .await
    .flatten();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(gauges),
    )
        .into_response()
}

/// The console and the alert sender, when configured; they stop with the daemon.
pub(super) struct Extras {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Extras {
    pub(super) async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts what the settings ask for: the alert sender (`[alerts] webhook_url`) and the console
/// (`--http`).
pub(super) async fn start_extras(
    daemon: Arc<Daemon>,
    clock: Arc<dyn Clock>,
    settings: &crate::config::ConsoleSettings,
    http: Option<SocketAddr>,
    listener: super::listener_health::ListenerHealth,
    stop: watch::Receiver<bool>,
) -> Result<Extras, String> {
    let mut tasks = Vec::new();
    if let Some(url) = &settings.webhook_url {
        if settings.alert_secret.is_none() {
            tracing::warn!("alerts go to the webhook unsigned: BTW_ALERT_SECRET is not set");
        }
        let sink = crate::alerts::AlertSink {
            url: url.clone(),
            secret: settings.alert_secret.clone(),
        };
        tasks.push(crate::alerts::start(
            daemon.store.clone(),
            sink,
            stop.clone(),
        ));
    }
    if let Some(addr) = http {
        let opts = HttpOptions {
            addr,
            token: settings.http_token.clone(),
            listener,
            alert_limit: settings.alert_unhealthy_after,
        };
        let (task, bound) = start(daemon, clock, opts, stop).await?;
        tracing::info!("console on http://{bound}");
        tasks.push(task);
    }
    Ok(Extras { tasks })
}
