//! The two sides of the comparison: the provide journey as a btw recipe (through `runner::run`),
//! and the same HTTP calls made by plain reqwest + serde_json, at a bounded concurrency.

use crate::api::{BtClient, ClientOptions, Credentials, Secret};
use crate::config::Profile;
use crate::engine::{LogLevel, Output};
use crate::runner::{self, RunContext, Script};
use crate::store::Store;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub const CUG: &str = "CUG5019851064";
pub const BILLING: &str = "GB01234567";
/// BT calls in one journey, the token excluded (it is fetched once per client).
pub const CALLS_PER_JOURNEY: u64 = 9;

/// What one measured batch of journeys did.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    pub journeys: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub wall: Duration,
    pub calls: u64,
    /// Per-call latencies, sorted.
    pub latencies: Vec<Duration>,
}

impl Measured {
    /// `n` journeys: their wall time, failures and first error, calls, and per-call latencies.
    pub fn new(
        n: usize,
        (wall, failed, first_error): (Duration, usize, Option<String>),
        calls: u64,
        mut latencies: Vec<Duration>,
    ) -> Measured {
        latencies.sort_unstable();
        Measured {
            journeys: n,
            failed,
            first_error,
            wall,
            calls,
            latencies,
        }
    }

    pub fn journeys_per_s(&self) -> f64 {
        (self.journeys - self.failed) as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    pub fn calls_per_s(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    /// The `q` quantile (0..=1) of the per-call latency.
    pub fn latency(&self, q: f64) -> Duration {
        quantile(&self.latencies, q)
    }
}

/// The `q` quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Script output that goes nowhere (the bench measures the work, not a terminal).
pub struct Discard;

impl Output for Discard {
    fn print(&self, _line: &str) {}
    fn log(&self, _level: LogLevel, _msg: &str) {}
}

/// Runs `n` copies of `job` with at most `c` in flight; returns the wall time and failures.
async fn bounded<F, Fut>(n: usize, c: usize, job: F) -> (Duration, usize, Option<String>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(c.max(1)));
    let started = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break;
        };
        let fut = job(i);
        set.spawn(async move {
            let r = fut.await;
            drop(permit);
            r
        });
    }
    let (mut failed, mut first_error) = (0, None);
    while let Some(r) = set.join_next().await {
        let r = r.unwrap_or_else(|e| Err(format!("task failed: {e}")));
        if let Err(e) = r {
            failed += 1;
            first_error.get_or_insert(e);
        }
    }
    (started.elapsed(), failed, first_error)
}

/// A BT client for the bench sandbox, as `btw run` builds it.
pub fn bt_client(url: &str) -> BtClient {
    let opts = ClientOptions::new(
        url,
        Credentials {
            client_key: "bench-key".into(),
            client_secret: Secret::new("bench-secret"),
        },
    );
    BtClient::new(opts).expect("a BT client")
}

/// The context `btw run` gives a script, with or without its SQLite store.
pub fn run_context(client: BtClient, store: Option<Store>) -> RunContext {
    RunContext::new(client, Profile::Sandbox, Arc::new(Discard))
        .with_account(CUG, BILLING)
        .with_store(store)
        .with_deferred_start(true)
}

/// `n` journeys of the recipe through `runner::run`, `c` at a time.
pub async fn btw_journeys(ctx: &RunContext, script: &Script, n: usize, c: usize) -> Measured {
    let client = ctx.client.clone();
    client.take_latencies();
    client.record_latencies(true);
    let calls_before = client.calls_made();
    let timed = bounded(n, c, |_| {
        let (ctx, script) = (ctx.clone(), script.clone());
        async move {
            let outcome = runner::run(ctx, script, Map::new()).await;
            outcome.result.map(|_| ()).map_err(|f| f.render())
        }
    })
    .await;
    client.record_latencies(false);
    let calls = client.calls_made() - calls_before;
    Measured::new(n, timed, calls, client.take_latencies())
}

/// The journey in plain Rust: reqwest, serde_json, one token for all, the same headers and bodies.
#[derive(Clone)]
pub struct Baseline {
    http: reqwest::Client,
    base: Arc<str>,
    token: Arc<str>,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

const INVENTORY: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers";

impl Baseline {
    /// A client built like btw's (same pool and timeouts), with a token fetched once.
    pub async fn connect(url: &str) -> Result<Baseline, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| e.to_string())?;
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode("bench-key:bench-secret");
        let v: Value = http
            .get(format!("{url}/oauth/accesstoken"))
            .query(&[("grant_type", "client_credentials")])
            .header("Authorization", format!("Basic {basic}"))
            .header("APIGW-Tracking-Header", uuid::Uuid::new_v4().to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let token = v["accessToken"].as_str().ok_or("no accessToken")?;
        Ok(Baseline {
            http,
            base: url.into(),
            token: token.into(),
            latencies: Arc::default(),
        })
    }

    /// One call: status and JSON body (`Null` when empty), its latency kept.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let mut b = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("APIGW-Tracking-Header", uuid::Uuid::new_v4().to_string())
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Accept", "application/json")
            .timeout(Duration::from_secs(30));
        if !query.is_empty() {
            b = b.query(query);
        }
        if let Some(body) = body {
            b = b.json(body);
        }
        let started = Instant::now();
        let resp = b.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| format!("{path}: {e}"))?;
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(started.elapsed());
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?
        };
        Ok((status, v))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, String> {
        match self.call(method, path, &[], Some(body)).await? {
            (s, v) if (200..300).contains(&s) => Ok(v),
            (s, v) => Err(format!("{path}: {s} {v}")),
        }
    }

    /// A verify call that must find nothing (404).
    async fn free(&self, path: &str, query: &[(&str, &str)]) -> Result<(), String> {
        match self.call(reqwest::Method::GET, path, query, None).await? {
            (404, _) => Ok(()),
            (s, v) => Err(format!("{path}: {s} {v}")),
        }
    }

    /// The provide journey up to the submit: the same 9 calls as `scripts/bench_provide.rhai`.
    pub async fn journey(self) -> Result<(), String> {
        use reqwest::Method;
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10].to_ascii_uppercase();
        let name = format!("Bench Co {suffix}");
        let domain = format!("benchco{}.co.uk", suffix.to_ascii_lowercase());
        let username = format!("ada1@{domain}");
        let inv = format!("{INVENTORY}/{CUG}");
        let (_, me) = self.call(Method::GET, &inv, &[], None).await?;
        let group = me["customerGroups"][0]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.free(&format!("{inv}/company"), &[("companyName", &name)])
            .await?;
        self.free(&format!("{inv}/companyDomain"), &[("value", &domain)])
            .await?;
        self.free(&format!("{inv}/username"), &[("value", &username)])
            .await?;
        let company = Company {
            name,
            domain,
            group,
            username,
            suffix: suffix.to_string(),
        };
        let (qid, service_id) = self.qualify(&company).await?;
        let area = AREAS[suffix.bytes().map(usize::from).sum::<usize>() % AREAS.len()];
        let (start, end) = self.ringfence(&service_id, &qid, area).await?;
        let (_, found) = self
            .call(
                Method::GET,
                "/common/geographicAddressManagement/v1/geographicAddress",
                &[("postcode", "IP5 3RE"), ("addressSource", "ROBT")],
                None,
            )
            .await?;
        let nad = found[0]["id"].as_str().ok_or("no address")?.to_string();
        let body = order_body(&company, &service_id, &qid, &nad, (&start, &end));
        let order = self
            .ok(Method::POST, "/bt-wholesale/v1/order/productOrder", &body)
            .await?;
        let id = order["id"].as_str().ok_or("no order id")?.to_string();
        self.ok(
            Method::POST,
            "/bt-wholesale/v1/order/submit-product-order",
            &json!({"productOrder": {"id": id, "@referredType": "ProductOrder"}}),
        )
        .await?;
        Ok(())
    }

    /// Qualifies the company: (qualification id, service id).
    async fn qualify(&self, c: &Company) -> Result<(String, String), String> {
        let q = self
            .ok(
                reqwest::Method::POST,
                "/bt-wholesale/v1/whc/productOfferingQualification",
                &json!({
                    "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
                    "billingAccount": {"id": BILLING},
                    "productOfferingQualificationItem": [{
                        "id": "1",
                        "productOffering": {"id": "WHCCompany"},
                        "product": {"productCharacteristic": [
                            ch("customerName", &c.name), ch("customerDomain", &c.domain),
                            ch("customerGroup", &c.group)]}
                    }]
                }),
            )
            .await?;
        let qid = q["id"].as_str().unwrap_or_default().to_string();
        let item = &q["productOfferingQualificationItem"][0];
        if item["qualificationItemResult"] != "Qualified" {
            return Err(format!("not qualified: {q}"));
        }
        let service_id = item
            .pointer("/product/serviceId/value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok((qid, service_id))
    }

    /// Ringfences one number in `area`: (start, end).
    async fn ringfence(
        &self,
        service_id: &str,
        qid: &str,
        area: &str,
    ) -> Result<(String, String), String> {
        let rf = self
            .ok(
                reqwest::Method::POST,
                "/v1/resourceManagement/directoryNumbers/ringFence",
                &json!({
                    "customer": {"id": CUG, "type": "BUSINESS"},
                    "numbers": {"quantity": 1, "characteristics": {"numberString": area}},
                    "product": {"name": "WHC"},
                    "action": "RingFence",
                    "ringFenceId": service_id,
                    "qualifierId": qid,
                }),
            )
            .await?;
        let start = rf
            .pointer("/numberRange/startNumber")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let end = rf
            .pointer("/numberRange/endNumber")
            .and_then(Value::as_str)
            .unwrap_or(&start)
            .to_string();
        Ok((start, end))
    }
}

/// The sandbox's number pools (1000 numbers each): journeys spread over them, so a long history
/// does not use one up.
const AREAS: [&str; 12] = [
    "020", "0113", "0114", "0115", "0116", "0117", "0118", "0121", "0131", "0141", "0151", "0161",
];

/// The new company a baseline journey orders.
struct Company {
    name: String,
    domain: String,
    group: String,
    username: String,
    suffix: String,
}

/// A TMF characteristic.
fn ch(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// The provide order: the company, a site, the number block and one user.
fn order_body(c: &Company, service_id: &str, qid: &str, nad: &str, block: (&str, &str)) -> Value {
    let (start, end) = block;
    json!({
        "externalId": format!("bench-{}", uuid::Uuid::new_v4().simple()),
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": BILLING},
        "productOrderItem": [
            {"id": "1", "action": "add", "productOffering": {"id": "WHCCompany"},
             "product": {"productCharacteristic": [
                ch("customerName", &c.name), ch("customerDomain", &c.domain),
                ch("customerGroup", &c.group), ch("serviceId", service_id),
                ch("qualifierId", qid)]}},
            {"id": "2", "action": "add", "productOffering": {"id": "WHCSite"},
             "product": {"productCharacteristic": [
                ch("siteName", &format!("{} HQ", c.name)),
                ch("siteLocationCode", &format!("BENC{}", c.suffix))]},
             "relatedPlace": [{"id": nad, "role": "installationAddress",
                               "@referredType": "GeographicAddress"}]},
            {"id": "3", "action": "add", "productOffering": {"id": "WHCNumberBlock"},
             "product": {"productCharacteristic": [
                ch("startNumber", start), ch("endNumber", end)]}},
            {"id": "4", "action": "add", "productOffering": {"id": "WHCUser"},
             "product": {"productCharacteristic": [
                ch("firstName", "Ada"), ch("lastName", "Tester"),
                ch("username", &c.username), ch("extension", "2001"),
                ch("directoryNumber", start)]}},
        ],
    })
}

/// `n` plain-Rust journeys, `c` at a time.
pub async fn baseline_journeys(base: &Baseline, n: usize, c: usize) -> Measured {
    base.latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    let timed = bounded(n, c, |_| base.clone().journey()).await;
    let latencies = std::mem::take(&mut *base.latencies.lock().unwrap_or_else(|p| p.into_inner()));
    let calls = latencies.len() as u64;
    Measured::new(n, timed, calls, latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
