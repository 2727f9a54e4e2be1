//! Run clocks over real HTTP: advancing one run's clock moves only what was made on it, tokens
//! and qualifications are judged by their own clock, a bad clock header is refused, and run
//! clocks survive a restart on the state file.

use btw_sandbox::{SandboxConfig, SandboxHandle, CLOCK_HEADER};
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Instant;

const TOKEN: &str = "/oauth/accesstoken?grant_type=client_credentials";
const BASIC: &str = "Basic a2V5OnNlY3JldA=="; // key:secret
const QUALIFY: &str = "/bt-wholesale/v1/whc/productOfferingQualification";
const RINGFENCE: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
const ORDERS: &str = "/bt-wholesale/v1/order/productOrder";
const SUBMIT: &str = "/bt-wholesale/v1/order/submit-product-order";
const IMPORTS: &str = "/bt-wholesale/v1/order/numberImportOrder";
const ACTIVATE: &str = "/bt-wholesale/v1/order/activatePort";
const CUG: &str = "CUG5019851064";
const BILLING: &str = "GB01234567";
const NAD: &str = "R00000020001";
const DAY: i64 = 86_400;

async fn start(config: SandboxConfig) -> SandboxHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    btw_sandbox::start(listener, config).await.unwrap()
}

/// A client of one sandbox, on one clock (`None`: no header, the shared clock).
#[derive(Clone)]
struct Client {
    base: String,
    http: reqwest::Client,
    clock: Option<String>,
    token: String,
}

impl Client {
    async fn new(base: &str, clock: Option<&str>) -> Client {
        let mut c = Client {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap(),
            clock: clock.map(str::to_string),
            token: String::new(),
        };
        c.token = c.fetch_token().await;
        c
    }

    async fn fetch_token(&self) -> String {
        let mut req = self
            .http
            .get(format!("{}{TOKEN}", self.base))
            .header("Authorization", BASIC);
        if let Some(c) = &self.clock {
            req = req.header(CLOCK_HEADER, c);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "token");
        let body: Value = r.json().await.unwrap();
        body["accessToken"].as_str().unwrap().to_string()
    }

    /// The same client on another clock (or none), with the same token.
    fn on(&self, clock: Option<&str>) -> Client {
        Client {
            clock: clock.map(str::to_string),
            ..self.clone()
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("APIGW-Tracking-Header", uuid::Uuid::new_v4().to_string())
            .bearer_auth(&self.token);
        if let Some(c) = &self.clock {
            req = req.header(CLOCK_HEADER, c);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Qualifies a new company; its qualification id and service id.
    async fn qualify(&self, name: &str) -> (String, String) {
        let body = json!({
            "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
            "billingAccount": {"id": BILLING},
            "productOfferingQualificationItem": [{"id": "1", "productOffering": {"id": "WHCCompany"},
                "product": chars(&[("customerName", &format!("{name} Ltd")),
                    ("customerDomain", &format!("{}.co.uk", name.to_lowercase())),
                    ("customerGroup", "SWAINsTelecom")])}]
        });
        let (status, q) = self.call(Method::POST, QUALIFY, Some(body)).await;
        assert_eq!(status, 201, "qualify: {q}");
        assert!(q.get("clock").is_none(), "{q}");
        let svc = q["productOfferingQualificationItem"][0]["product"]["serviceId"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        (q["id"].as_str().unwrap().to_string(), svc)
    }

    /// Ringfences one number under a qualification: the status and answer.
    async fn ringfence(&self, qid: &str, svc: &str) -> (u16, Value) {
        let body = json!({
            "customer": {"id": CUG, "type": "BUSINESS"},
            "numbers": {"quantity": 1, "characteristics": {"numberString": "0121"}},
            "product": {"name": "WHC"}, "action": "RingFence", "ringFenceId": svc, "qualifierId": qid,
        });
        self.call(Method::POST, RINGFENCE, Some(body)).await
    }

    /// Qualifies, ringfences and orders a new company, and submits the order; its id.
    async fn provide(&self, name: &str) -> String {
        let (qid, svc) = self.qualify(name).await;
        let (status, r) = self.ringfence(&qid, &svc).await;
        assert_eq!(status, 201, "ringfence: {r}");
        let (start, end) = (
            r["numberRange"]["startNumber"].as_str().unwrap(),
            r["numberRange"]["endNumber"].as_str().unwrap(),
        );
        let order = json!({
            "externalId": format!("clocks-{name}"),
            "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
            "billingAccount": {"id": BILLING},
            "productOrderItem": [
                {"id": "1", "action": "add", "productOffering": {"id": "WHCCompany"},
                    "product": chars(&[("customerName", &format!("{name} Ltd")),
                        ("customerDomain", &format!("{}.co.uk", name.to_lowercase())),
                        ("customerGroup", "SWAINsTelecom"), ("serviceId", &svc), ("qualifierId", &qid)])},
                {"id": "2", "action": "add", "productOffering": {"id": "WHCSite"},
                    "relatedPlace": [{"id": NAD, "role": "installationAddress", "@referredType": "GeographicAddress"}],
                    "product": chars(&[("siteName", &format!("{name} HQ")),
                        ("siteLocationCode", &format!("{}01", &svc[svc.len() - 4..]))])},
                {"id": "3", "action": "add", "productOffering": {"id": "WHCNumberBlock"},
                    "product": chars(&[("startNumber", start), ("endNumber", end)])},
            ],
        });
        let (status, o) = self.call(Method::POST, ORDERS, Some(order)).await;
        assert_eq!(status, 201, "create order: {o}");
        let id = o["id"].as_str().unwrap().to_string();
        let (status, s) = self
            .call(
                Method::POST,
                SUBMIT,
                Some(json!({"productOrder": {"id": id}})),
            )
            .await;
        assert_eq!(status, 201, "submit: {s}");
        id
    }

    async fn order(&self, id: &str) -> Value {
        let (status, o) = self
            .call(Method::GET, &format!("{ORDERS}/{id}"), None)
            .await;
        assert_eq!(status, 200, "{o}");
        assert!(o.get("clock").is_none(), "{o}");
        o
    }

    /// Any call the gateway checks the bearer token of: its status.
    async fn authorised(&self) -> u16 {
        self.call(Method::GET, &format!("{ORDERS}?limit=1"), None)
            .await
            .0
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn chars(pairs: &[(&str, &str)]) -> Value {
    json!({"productCharacteristic": pairs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()})
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Seconds between `t` and real time now.
fn off_real_time(t: DateTime<Utc>) -> i64 {
    (t - Utc::now()).num_seconds().abs()
}

/// Polls `check` until it holds, up to 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_a_run_clock_moves_only_what_was_made_on_it() {
    let sandbox = start(SandboxConfig {
        // An hour between order states: only a clock that moves days completes an order.
        order_step_secs: 3600.0,
        ..SandboxConfig::default()
    })
    .await;
    let base = sandbox.base_url();
    let shared = Client::new(&base, None).await;
    let a = Client::new(&base, Some("run-a")).await;
    let b = Client::new(&base, Some("run-b")).await;

    let (q_shared, svc_shared) = shared.qualify("Shared").await;
    let (q_b, svc_b) = b.qualify("Bravo").await;
    let order_a = a.provide("Alpha").await;
    let order_b = b.provide("Beta").await;
    // A port order on A, for the earliest date A allows.
    let (status, e) = a
        .call(
            Method::GET,
            &format!("{IMPORTS}/earliestPortDate?importType=SingleLine&numbers=01914980100"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{e}");
    let port_date = e["earliestPortDate"].as_str().unwrap().to_string();
    let (status, port) = a
        .call(
            Method::POST,
            IMPORTS,
            Some(json!({
                "importType": "SingleLine", "numbers": ["01914980100"], "portDate": port_date,
                "installationPostcode": "NE1 4ST", "companyServiceId": "WHHCBTWKN1000",
                "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
            })),
        )
        .await;
    assert_eq!(status, 201, "import order: {port}");
    assert!(port.get("clock").is_none(), "{port}");
    let port_id = port["id"].as_str().unwrap().to_string();

    // Four days on A (the port date is at most four working days, six calendar days, away:
    // then move A to noon on it).
    let (status, c) = shared
        .admin(
            Method::POST,
            "/__sandbox/clocks/run-a",
            Some(json!({"advance_secs": 4 * DAY})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert!(
        (time(&c["now"]) - Utc::now()).num_seconds() >= 4 * DAY - 10,
        "{c}"
    );
    let (status, c) = shared
        .admin(
            Method::POST,
            "/__sandbox/clocks/run-a",
            Some(json!({"to": format!("{port_date}T12:00:00Z")})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let a_now = time(&c["now"]);
    assert!((a_now - Utc::now()).num_seconds() >= 4 * DAY - 10, "{c}");

    // The shared clock and B have not moved.
    let (_, clock) = shared.admin(Method::GET, "/__sandbox/clock", None).await;
    assert!(off_real_time(time(&clock["now"])) < 5, "{clock}");
    let (_, clock_b) = shared
        .admin(Method::GET, "/__sandbox/clocks/run-b", None)
        .await;
    assert!(off_real_time(time(&clock_b["now"])) < 5, "{clock_b}");

    // A token fetched on A purges what expired over a day ago on each token's own clock: the
    // shared and B tokens live on.
    a.fetch_token().await;
    assert_eq!(shared.authorised().await, 200);
    assert_eq!(b.authorised().await, 200);
    // So do the qualifications, whichever clock asks.
    let (status, r) = shared.ringfence(&q_shared, &svc_shared).await;
    assert_eq!(status, 201, "shared qualification: {r}");
    let (status, r) = b.on(Some("run-a")).ringfence(&q_b, &svc_b).await;
    assert_eq!(status, 201, "B's qualification asked on A: {r}");

    // A's order completes (read with no header: A's times); B's waits for real time.
    eventually("A's order completes", || async {
        shared.order(&order_a).await["state"] == "completed"
    })
    .await;
    // Completed two steps (two hours) after its submission on A: a time the shared clock has
    // not reached.
    let done = shared.order(&order_a).await;
    assert!(
        time(&done["completionDate"]) > Utc::now() + Duration::minutes(90),
        "{done}"
    );
    let waiting = shared.order(&order_b).await;
    assert_eq!(waiting["state"], "acknowledged", "{waiting}");
    assert!(off_real_time(time(&waiting["orderDate"])) < 60, "{waiting}");

    // A's port order reached its port date on A: activated with no header.
    let (status, activated) = shared
        .call(
            Method::POST,
            ACTIVATE,
            Some(json!({"importOrderId": port_id})),
        )
        .await;
    assert_eq!(status, 201, "activate: {activated}");
    assert_eq!(activated["state"], "completed", "{activated}");
    let activation = time(&activated["activationDate"]);
    assert!((activation - a_now).num_seconds().abs() < 60, "{activated}");

    // The clocks as the admin API lists them.
    let (status, all) = shared.admin(Method::GET, "/__sandbox/clocks", None).await;
    assert_eq!(status, 200, "{all}");
    assert!(off_real_time(time(&all["shared"]["now"])) < 5, "{all}");
    let listed = |id: &str| {
        all["clocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {all}"))
    };
    assert!(listed("run-a")["aheadSecs"].as_f64().unwrap() >= (4 * DAY) as f64);
    assert_eq!(listed("run-b")["aheadSecs"].as_f64().unwrap(), 0.0);
    // B's open order and its live qualification.
    assert!(
        listed("run-b")["openObjects"].as_u64().unwrap() >= 1,
        "{all}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_token_purge_judges_each_token_by_its_own_clock() {
    let sandbox = start(SandboxConfig::default()).await;
    let base = sandbox.base_url();
    let shared = Client::new(&base, None).await;
    let a = Client::new(&base, Some("purge-a")).await;
    assert_eq!(a.authorised().await, 200);
    // Two days on A: A's token expired over a day ago there, the shared one did not.
    let (status, _) = shared
        .admin(
            Method::POST,
            "/__sandbox/clocks/purge-a",
            Some(json!({"advance_secs": 2 * DAY})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(a.authorised().await, 401, "expired on its own clock");
    assert_eq!(a.on(None).authorised().await, 401, "whatever clock asks");
    // A token request on the shared clock purges A's token, and keeps the shared one.
    shared.fetch_token().await;
    let (status, e) = a
        .call(Method::GET, &format!("{ORDERS}?limit=1"), None)
        .await;
    assert_eq!((status, e["code"].as_str()), (401, Some("41")), "{e}");
    assert_eq!(shared.authorised().await, 200);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_clock_names_are_refused() {
    let sandbox = start(SandboxConfig::default()).await;
    let base = sandbox.base_url();
    let shared = Client::new(&base, None).await;
    for bad in ["has space", "a/b", &"x".repeat(65)] {
        let (status, e) = shared.on(Some(bad)).call(Method::GET, ORDERS, None).await;
        assert_eq!(
            (status, e["code"].as_str()),
            (400, Some("29")),
            "{bad}: {e}"
        );
        assert!(
            e.to_string().contains("X-Sandbox-Clock"),
            "the message names the header: {e}"
        );
    }
    let (status, e) = shared
        .admin(Method::GET, "/__sandbox/clocks/a%2Fb", None)
        .await;
    assert_eq!((status, e["code"].as_str()), (400, Some("29")), "{e}");
    for body in [
        json!({"advance_secs": -1}),
        json!({"advance_secs": "soon"}),
        json!({"to": "tomorrow"}),
        json!([1]),
    ] {
        let (status, e) = shared
            .admin(Method::POST, "/__sandbox/clocks/ok", Some(body.clone()))
            .await;
        assert_eq!(
            (status, e["code"].as_str()),
            (400, Some("29")),
            "{body}: {e}"
        );
    }
    // An unknown clock reads the shared now and is not created by reading it; `to` in the past
    // moves nothing; DELETE says whether there was one.
    let (_, c) = shared
        .admin(Method::GET, "/__sandbox/clocks/fresh", None)
        .await;
    assert!(off_real_time(time(&c["now"])) < 5, "{c}");
    let (_, all) = shared.admin(Method::GET, "/__sandbox/clocks", None).await;
    assert!(all["clocks"].as_array().unwrap().is_empty(), "{all}");
    let (status, c) = shared
        .admin(
            Method::POST,
            "/__sandbox/clocks/fresh",
            Some(json!({"to": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert!(off_real_time(time(&c["now"])) < 5, "never backwards: {c}");
    let (_, d) = shared
        .admin(Method::DELETE, "/__sandbox/clocks/fresh", None)
        .await;
    assert_eq!(d, json!({"dropped": true}));
    let (_, d) = shared
        .admin(Method::DELETE, "/__sandbox/clocks/fresh", None)
        .await;
    assert_eq!(d, json!({"dropped": false}));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_clocks_are_in_the_state_file_once_answered() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        state_file: Some(dir.path().join("state.db")),
        ..SandboxConfig::default()
    };
    let first = start(config.clone()).await;
    let client = Client::new(&first.base_url(), Some("kept")).await;
    let (status, c) = client
        .admin(
            Method::POST,
            "/__sandbox/clocks/kept",
            Some(json!({"advance_secs": 3 * DAY})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    // Read by a second sandbox on the same file while the first still runs (no save on
    // stopping helps): the answered advance is committed.
    let second = start(config.clone()).await;
    let reader = Client::new(&second.base_url(), None).await;
    let (_, all) = reader.admin(Method::GET, "/__sandbox/clocks", None).await;
    let kept = all["clocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "kept")
        .cloned()
        .unwrap_or_else(|| panic!("not kept: {all}"));
    let ahead = kept["aheadSecs"].as_f64().unwrap();
    assert!((ahead - (3 * DAY) as f64).abs() < 1.0, "{kept}");
    let now = time(&kept["now"]);
    assert!(
        ((now - Utc::now()) - Duration::days(3)).num_seconds().abs() < 5,
        "{kept}"
    );
    second.shutdown().await;
    first.shutdown().await;
}
