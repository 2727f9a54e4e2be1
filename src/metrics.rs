//! Process metrics in Prometheus text format (`GET /metrics` of `btw serve --http`): counters
//! since the process started, and gauges the console reads from the store when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    recipe: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecipeLabel {
    recipe: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

type HistogramFamily = Family<OperationLabel, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    calls: Family<CallLabels, Counter>,
    latency: HistogramFamily,
    events: Counter,
    duplicates: Counter,
    alerts_sent: Counter,
    jobs_due: Gauge,
    jobs_missed: Gauge,
    jobs_failed: Gauge,
    alerts_pending: Gauge,
    alert_queue_age: Gauge<f64, AtomicU64>,
    runs_in_flight: Gauge,
    inbox_backlog: Gauge,
    broken_recipes: Gauge,
    refused_jobs: Gauge,
    heartbeat_age: Gauge<f64, AtomicU64>,
    last_success: Family<RecipeLabel, Gauge<f64, AtomicU64>>,
    rate_limit: Gauge<f64, AtomicU64>,
    rate_share: Gauge,
    rate_delayed: Counter,
    rate_wait: Counter<f64, AtomicU64>,
    rate_limited: Counter,
    runs_waiting: Gauge,
    runs_working: Gauge,
    run_slots: Gauge,
}

fn latency_histogram() -> Histogram {
    // 5 ms to about 20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("btw");
        let m = Metrics {
            runs: Family::default(),
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            events: Counter::default(),
            duplicates: Counter::default(),
            alerts_sent: Counter::default(),
            jobs_due: Gauge::default(),
            jobs_missed: Gauge::default(),
            jobs_failed: Gauge::default(),
            alerts_pending: Gauge::default(),
            alert_queue_age: Gauge::default(),
            runs_in_flight: Gauge::default(),
            inbox_backlog: Gauge::default(),
            broken_recipes: Gauge::default(),
            refused_jobs: Gauge::default(),
            heartbeat_age: Gauge::default(),
            last_success: Family::default(),
            rate_limit: Gauge::default(),
            rate_share: Gauge::default(),
            rate_delayed: Counter::default(),
            rate_wait: Counter::default(),
            rate_limited: Counter::default(),
            runs_waiting: Gauge::default(),
            runs_working: Gauge::default(),
            run_slots: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "runs",
            "Runs finished, by recipe and outcome",
            m.runs.clone(),
        );
        registry.register(
            "bt_calls",
            "BT calls, by operation and HTTP status",
            m.calls.clone(),
        );
        registry.register(
            "bt_call_duration_seconds",
            "BT call latency",
            m.latency.clone(),
        );
        registry.register(
            "events_received",
            "Order notifications received",
            m.events.clone(),
        );
        registry.register(
            "events_duplicate",
            "Order notifications dropped as duplicates",
            m.duplicates.clone(),
        );
        registry.register(
            "alerts_delivered",
            "Alerts posted to the webhook",
            m.alerts_sent.clone(),
        );
        registry.register("jobs_due", "Scheduled jobs due now", m.jobs_due.clone());
        registry.register(
            "jobs_missed",
            "Scheduled jobs missed",
            m.jobs_missed.clone(),
        );
        registry.register(
            "jobs_failed",
            "Scheduled jobs whose run failed (retry them)",
            m.jobs_failed.clone(),
        );
        registry.register(
            "alerts_pending",
            "Alerts not delivered yet",
            m.alerts_pending.clone(),
        );
        registry.register(
            "alert_queue_age_seconds",
            "How long the oldest undelivered alert has waited (0: none waits)",
            m.alert_queue_age.clone(),
        );
        registry.register(
            "runs_in_flight",
            "Runs holding a live lease on the store now, in any process",
            m.runs_in_flight.clone(),
        );
        registry.register(
            "inbox_backlog",
            "Job files waiting in the inbox",
            m.inbox_backlog.clone(),
        );
        registry.register(
            "broken_recipes",
            "Recipes in the folder that do not compile (or lead out of it)",
            m.broken_recipes.clone(),
        );
        registry.register(
            "inbox_refused",
            "Inbox jobs refused lately (kept in inbox/failed/)",
            m.refused_jobs.clone(),
        );
        registry.register(
            "heartbeat_age_seconds",
            "Time since this daemon's last heartbeat in the store",
            m.heartbeat_age.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When each recipe last ended ok (Unix time)",
            m.last_success.clone(),
        );
        registry.register(
            "bt_rate_limit_per_second",
            "BT calls a second this process may make (its share of the credential's limit; 0: no limit)",
            m.rate_limit.clone(),
        );
        registry.register(
            "bt_rate_share_daemons",
            "Daemons sharing the credential's rate limit, this one included",
            m.rate_share.clone(),
        );
        registry.register(
            "bt_calls_delayed",
            "BT calls held back by the rate limiter",
            m.rate_delayed.clone(),
        );
        registry.register(
            "bt_rate_wait_seconds",
            "Time BT calls spent held back by the rate limiter",
            m.rate_wait.clone(),
        );
        registry.register(
            "bt_rate_limited",
            "429 answers from BT (each pauses every call for its Retry-After)",
            m.rate_limited.clone(),
        );
        registry.register(
            "runs_waiting",
            "Runs waiting (for an order, an event or a time) without a run slot",
            m.runs_waiting.clone(),
        );
        registry.register(
            "runs_working",
            "Runs doing script work now (each holds a run slot)",
            m.runs_working.clone(),
        );
        registry.register(
            "run_slots",
            "Runs that may do script work at once (--max-runs)",
            m.run_slots.clone(),
        );
        Metrics { registry, ..m }
    })
}

/// A run ended: `outcome` is `ok` or the failure's kind.
pub fn run_finished(recipe: &str, outcome: &str) {
    metrics()
        .runs
        .get_or_create(&RunLabels {
            recipe: recipe.to_string(),
            outcome: outcome.to_string(),
        })
        .inc();
}

/// A BT call answered with `status` (0: no answer) after `took`.
pub fn bt_call(operation: &str, status: u16, took: Duration) {
    let m = metrics();
    let status = if status == 0 {
        "none".to_string()
    } else {
        status.to_string()
    };
    m.calls
        .get_or_create(&CallLabels {
            operation: operation.to_string(),
            status,
        })
        .inc();
    m.latency
        .get_or_create(&OperationLabel {
            operation: operation.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// An order notification arrived; `duplicate`: it was dropped as already seen.
pub fn event_received(duplicate: bool) {
    metrics().events.inc();
    if duplicate {
        metrics().duplicates.inc();
    }
}

/// The rate limit in force: `per_sec` calls a second, the credential's limit shared by `share`
/// daemons.
pub fn rate_limit(per_sec: f64, share: u32) {
    metrics().rate_limit.set(per_sec);
    metrics().rate_share.set(share as i64);
}

/// A BT call waited `took` for its turn under the rate limit.
pub fn rate_waited(took: Duration) {
    metrics().rate_delayed.inc();
    metrics().rate_wait.inc_by(took.as_secs_f64());
}

/// BT answered 429.
pub fn rate_limited() {
    metrics().rate_limited.inc();
}

/// The daemon's run slots: `working` taken of `max`, set before a scrape.
pub fn run_slots(working: usize, max: usize) {
    metrics().runs_working.set(working as i64);
    metrics().run_slots.set(max as i64);
}

/// A run started (`1`) or ended (`-1`) a wait without its slot.
pub fn run_waits(delta: i64) {
    metrics().runs_waiting.inc_by(delta);
}

pub fn alert_delivered() {
    metrics().alerts_sent.inc();
}

/// What the store says now, set just before a scrape.
pub struct StoreGauges {
    pub jobs_due: u64,
    pub jobs_missed: u64,
    pub jobs_failed: u64,
    pub alerts_pending: u64,
    /// The oldest undelivered alert's wait; `None`: none waits.
    pub alert_queue_age: Option<Duration>,
    pub runs_in_flight: u64,
    pub inbox_backlog: u64,
    pub broken_recipes: u64,
    pub refused_jobs: u64,
    pub heartbeat_age: Option<Duration>,
    /// Recipe name and Unix time of its last successful run's end.
    pub last_success: Vec<(String, f64)>,
}

/// The metrics as Prometheus text.
pub fn render(gauges: Option<StoreGauges>) -> String {
    let m = metrics();
    if let Some(g) = gauges {
        m.jobs_due.set(g.jobs_due as i64);
        m.jobs_missed.set(g.jobs_missed as i64);
        m.jobs_failed.set(g.jobs_failed as i64);
        m.alerts_pending.set(g.alerts_pending as i64);
        m.alert_queue_age
            .set(g.alert_queue_age.map(|d| d.as_secs_f64()).unwrap_or(0.0));
        m.runs_in_flight.set(g.runs_in_flight as i64);
        m.inbox_backlog.set(g.inbox_backlog as i64);
        m.broken_recipes.set(g.broken_recipes as i64);
        m.refused_jobs.set(g.refused_jobs as i64);
        m.heartbeat_age
            .set(g.heartbeat_age.map(|d| d.as_secs_f64()).unwrap_or(0.0));
        m.last_success.clear();
        for (recipe, at) in g.last_success {
            m.last_success
                .get_or_create(&RecipeLabel { recipe })
                .set(at);
        }
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &m.registry).is_err() {
        out.clear();
    }
    out
}
