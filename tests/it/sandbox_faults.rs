//! Fault injection in the embedded sandbox: status faults, Retry-After, latency, lost responses,
//! error rates and the admin endpoints, checked over real HTTP with reqwest.

use crate::common::{journal, orders_created};
use crate::raw::{sandbox_with, Reply, Sb, BASIC, TOKEN};
use btw_sandbox::faults::{parse_fault, Drop, FaultRule};
use btw_sandbox::{start, SandboxConfig};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const VERIFY: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers/CUG5019851064";
const ORDER: &str = "/bt-wholesale/v1/order/productOrder";
const CUG: &str = "CUG5019851064";

async fn sandbox() -> Sb {
    sandbox_with(SandboxConfig::default()).await
}

impl Sb {
    /// An authorised API call; `Err` when the connection gave no (complete) answer.
    async fn try_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<Reply> {
        let mut req = self.authed(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        // A response lost mid-body must count as lost too, so read it all here.
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        Ok(Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// Like `try_call`, but `send()` alone must fail: no status line may reach the client.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.authed(method, path).json(&body).send().await
    }

    async fn add_faults(&self, rules: Value) -> Value {
        let r = self
            .admin(Method::POST, "/__sandbox/faults", Some(rules))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    async fn faults(&self) -> Vec<Value> {
        let r = self.admin(Method::GET, "/__sandbox/faults", None).await;
        assert_eq!(r.status, 200);
        r.body["faults"].as_array().unwrap().clone()
    }
}

/// A follow-on order for the seeded Acme company adding one site (unique per `n`).
fn order_body(n: u32) -> Value {
    let chars = |pairs: &[(&str, &str)]| {
        json!({"productCharacteristic": pairs.iter()
            .map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>()})
    };
    json!({
        "externalId": format!("faults-{n}"),
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOrderItem": [
            {"id": "1", "action": "noChange", "productOffering": {"id": "WHCCompany"},
             "product": chars(&[("serviceId", "WHHCBTWKN1000")])},
            {"id": "2", "action": "add", "productOffering": {"id": "WHCSite"},
             "relatedPlace": [{"id": "R00000010002", "role": "installationAddress",
                               "@referredType": "GeographicAddress"}],
             "product": chars(&[("siteName", &format!("Fault Site {n}")),
                                ("siteLocationCode", &format!("FAULT{n:03}"))])},
        ]
    })
}

#[tokio::test]
async fn status_503_three_times_then_success() {
    let sb = sandbox().await;
    let list = sb
        .add_faults(json!({"method": "GET", "path_prefix": "/bt-wholesale/v1/whc", "status": 503, "count": 3}))
        .await;
    assert_eq!(list["faults"][0]["remaining"], 3);
    for _ in 0..3 {
        let r = sb.try_call(Method::GET, VERIFY, None).await.unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.body["code"], "05");
        assert!(r.body["reason"].is_string() && r.body["message"].is_string());
    }
    let r = sb.try_call(Method::GET, VERIFY, None).await.unwrap();
    assert_eq!(r.status, 200);
    let faults = sb.faults().await;
    assert_eq!(faults[0]["remaining"], 0);
    assert_eq!(faults[0]["applied"], 3);
    assert_eq!(faults[0]["fired"], 3);
    // The faulted requests are journaled with their status.
    let statuses: Vec<u64> = journal(&sb.base).await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == VERIFY)
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![503, 503, 503, 200]);
}

#[tokio::test]
async fn too_many_requests_with_retry_after() {
    let sb = sandbox().await;
    sb.add_faults(
        json!([{"status": 429, "retry_after_secs": 7, "count": 1}, {"status": 429, "count": 1}]),
    )
    .await;
    let r = sb.try_call(Method::GET, VERIFY, None).await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(r.body["code"], "80");
    // Without retry_after_secs there is no header.
    let r = sb.try_call(Method::GET, VERIFY, None).await.unwrap();
    assert_eq!(r.status, 429);
    assert!(r.headers.get("retry-after").is_none());
}

#[tokio::test]
async fn token_call_can_be_faulted() {
    let sb = sandbox().await;
    sb.add_faults(json!({"path_prefix": "/oauth", "status": 500, "count": 1}))
        .await;
    // The first token call is faulted, the next one is not.
    for status in [500, 200] {
        let r = sb
            .raw(Method::GET, TOKEN)
            .header("Authorization", BASIC)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
    }
}

#[tokio::test]
async fn latency_delays_the_answer_after_processing() {
    let sb = sandbox().await;
    sb.add_faults(json!({"method": "POST", "path_prefix": ORDER, "latency_ms": 1500, "count": 1}))
        .await;
    let t0 = Instant::now();
    // Sent from a task so that the test can look at the journal while the client waits.
    let call = tokio::spawn({
        let http = sb.http.clone();
        let base = sb.base.clone();
        let token = sb.token.clone();
        async move {
            http.post(format!("{base}{ORDER}"))
                .header("APIGW-Tracking-Header", "latency-1")
                .bearer_auth(token)
                .json(&order_body(1))
                .send()
                .await
        }
    });
    // While the client is still waiting, the order already exists.
    while orders_created(&sb.base).await.is_empty() {
        assert!(t0.elapsed() < Duration::from_millis(1400), "not processed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!call.is_finished(), "the answer came before the latency");
    let r = call.await.unwrap().unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    // The rule is used up: the next call is quick.
    let t1 = Instant::now();
    sb.try_call(Method::GET, VERIFY, None).await.unwrap();
    assert!(t1.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn client_timeout_during_latency_still_processed() {
    let sb = sandbox().await;
    sb.add_faults(json!({"method": "POST", "latency_ms": 2000, "count": 1}))
        .await;
    let r = sb
        .http
        .post(format!("{}{ORDER}", sb.base))
        .header("APIGW-Tracking-Header", "timeout-1")
        .bearer_auth(&sb.token)
        .timeout(Duration::from_millis(300))
        .json(&order_body(2))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(orders_created(&sb.base).await.len(), 1);
}

#[tokio::test]
async fn drop_after_processes_then_loses_the_answer() {
    let sb = sandbox().await;
    sb.add_faults(json!({"method": "POST", "path_prefix": ORDER, "drop": "after", "count": 1}))
        .await;
    let err = sb
        .send(Method::POST, ORDER, order_body(3))
        .await
        .unwrap_err();
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    let created = orders_created(&sb.base).await;
    assert_eq!(created.len(), 1, "the order was created");
    // The client's retry is answered normally: the id is taken.
    let r = sb
        .try_call(Method::POST, ORDER, Some(order_body(3)))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.body["reason"], "DuplicateExternalId", "{}", r.body);
    assert_eq!(sb.faults().await[0]["fired"], 1);
}

#[tokio::test]
async fn drop_before_loses_the_request() {
    let sb = sandbox().await;
    sb.add_faults(json!({"method": "POST", "drop": "before", "count": 1}))
        .await;
    let err = sb
        .send(Method::POST, ORDER, order_body(4))
        .await
        .unwrap_err();
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert!(orders_created(&sb.base).await.is_empty());
    let journal = journal(&sb.base).await;
    let dropped: Vec<&Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == ORDER)
        .collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0]["status"], 0);
    // The same request again goes through.
    let r = sb
        .try_call(Method::POST, ORDER, Some(order_body(4)))
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn error_rate_zero_never_fires() {
    let sb = sandbox().await;
    sb.add_faults(json!([{"status": 503, "error_rate": 0.0, "count": 20, "method": "GET"}]))
        .await;
    for _ in 0..20 {
        let r = sb.try_call(Method::GET, VERIFY, None).await.unwrap();
        assert_eq!(r.status, 200);
    }
    let faults = sb.faults().await;
    assert_eq!(faults[0]["applied"], 20);
    assert_eq!(faults[0]["fired"], 0);
}

#[tokio::test]
async fn admin_paths_are_never_faulted() {
    let sb = sandbox().await;
    sb.add_faults(json!({"drop": "before"})).await;
    let Reply { status, .. } = sb.admin(Method::GET, "/__sandbox/health", None).await;
    assert_eq!(status, 200);
    assert!(sb.try_call(Method::GET, VERIFY, None).await.is_err());
}

#[tokio::test]
async fn delete_and_reset_clear_the_rules() {
    let sb = sandbox().await;
    sb.add_faults(json!({"status": 503})).await;
    sb.add_faults(json!([{"latency_ms": 1}, {"drop": "after", "count": 2}]))
        .await;
    assert_eq!(sb.faults().await.len(), 3);
    let Reply { status, body, .. } = sb.admin(Method::DELETE, "/__sandbox/faults", None).await;
    assert_eq!((status.as_u16(), body), (200, json!({"faults": []})));
    assert_eq!(
        sb.try_call(Method::GET, VERIFY, None).await.unwrap().status,
        200
    );

    sb.add_faults(json!({"status": 503})).await;
    assert_eq!(
        sb.try_call(Method::GET, VERIFY, None).await.unwrap().status,
        503
    );
    let Reply { status, .. } = sb.admin(Method::POST, "/__sandbox/reset", None).await;
    assert_eq!(status, 200);
    assert!(sb.faults().await.is_empty());
}

#[tokio::test]
async fn invalid_rules_are_400_29() {
    let sb = sandbox().await;
    let Reply { status, body, .. } = sb
        .admin(
            Method::POST,
            "/__sandbox/faults",
            Some(json!([{"status": 503}, {"status": 200, "colour": "red"}])),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "29");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"[1].colour"), "{body}");
    // All or nothing: the good rule was not added either.
    assert!(sb.faults().await.is_empty());
    let Reply { status, body, .. } = sb
        .admin(
            Method::POST,
            "/__sandbox/faults",
            Some(json!({"status": 503, "drop": "before"})),
        )
        .await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (400, Some("29")));
    let r = sb
        .http
        .post(format!("{}/__sandbox/faults", sb.base))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "22");
}

#[tokio::test]
async fn starting_rules_from_config() {
    let sb = sandbox_with(SandboxConfig {
        faults: vec![
            // The token call in `sandbox_with` uses the first, untouched rule.
            parse_fault("path=/oauth,count=1").unwrap(),
            parse_fault("status=503,count=1,path=/bt-wholesale/v1/whc").unwrap(),
        ],
        ..SandboxConfig::default()
    })
    .await;
    assert_eq!(
        sb.try_call(Method::GET, VERIFY, None).await.unwrap().status,
        503
    );
    assert_eq!(
        sb.try_call(Method::GET, VERIFY, None).await.unwrap().status,
        200
    );

    let bad = SandboxConfig {
        faults: vec![FaultRule {
            drop: Some(Drop::Before),
            status: Some(503),
            ..FaultRule::default()
        }],
        ..SandboxConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = start(listener, bad).await.err().expect("an invalid rule");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn parse_fault_forms() {
    let r = parse_fault("path=/bt-wholesale/v1/order/productOrder,method=POST,drop=after,count=1")
        .unwrap();
    assert_eq!(r.drop, Some(Drop::After));
    assert_eq!(r.method.as_deref(), Some("POST"));
    let r = parse_fault("status=503,count=3,path=/bt-wholesale/v1/whc").unwrap();
    assert_eq!((r.status, r.count), (Some(503), Some(3)));
    assert_eq!(parse_fault("latency=200").unwrap().latency_ms, 200);
    let e = parse_fault("latency=soon").unwrap_err();
    assert!(e.contains("latency=soon"), "{e}");
    let e = parse_fault("speed=3").unwrap_err();
    assert!(e.contains("speed"), "{e}");
    let e = parse_fault("status=42").unwrap_err();
    assert!(e.contains("status"), "{e}");
}

#[tokio::test]
async fn count_is_exact_under_concurrency() {
    let sb = std::sync::Arc::new(sandbox().await);
    sb.add_faults(json!({"status": 503, "count": 10})).await;
    let calls: Vec<_> = (0..40)
        .map(|_| {
            let sb = sb.clone();
            tokio::spawn(
                async move { sb.try_call(Method::GET, VERIFY, None).await.unwrap().status },
            )
        })
        .collect();
    let mut failed = 0;
    for c in calls {
        if c.await.unwrap() == 503 {
            failed += 1;
        }
    }
    assert_eq!(failed, 10);
    assert_eq!(sb.faults().await[0]["remaining"], 0);
}
