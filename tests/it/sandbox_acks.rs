//! An answered change survives the sandbox being killed: a `btw sandbox` process on a state file
//! is sent SIGKILL the moment it answers an order's creation, started again on the same file, and
//! must still have every order it ever answered. Twenty times in a row, through the binary.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const TOKEN: &str = "/oauth/accesstoken?grant_type=client_credentials";
const BASIC: &str = "Basic a2V5OnNlY3JldA=="; // key:secret
const QUALIFY: &str = "/bt-wholesale/v1/whc/productOfferingQualification";
const RINGFENCE: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
const ORDERS: &str = "/bt-wholesale/v1/order/productOrder";
const NAD: &str = "R00000020001";
const ROUNDS: usize = 20;

/// A `btw sandbox` process on a state file, and a client holding a token for it.
struct Sandbox {
    child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
    token: String,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Sandbox {
    /// Starts the sandbox on `state` and waits (polling, up to 20 s) until it answers.
    async fn start(state: &Path, data: &Path) -> Sandbox {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let child = btw(&base, data)
            .args(["sandbox", "--port", &port.to_string(), "--state"])
            .arg(state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let token = loop {
            let answer = http
                .get(format!("{base}{TOKEN}"))
                .header("Authorization", BASIC)
                .send()
                .await;
            if let Ok(r) = answer {
                assert_eq!(r.status(), 200, "token");
                let body: Value = r.json().await.unwrap();
                break body["accessToken"].as_str().unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the sandbox did not answer in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Sandbox {
            child,
            base,
            http,
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("APIGW-Tracking-Header", uuid::Uuid::new_v4().to_string())
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Qualifies a new company, ringfences a number and creates its order; the order's id.
    async fn create_order(&self, round: usize) -> String {
        let (name, domain) = (format!("Kill {round} Ltd"), format!("kill{round}.co.uk"));
        let qualify = json!({
            "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
            "billingAccount": {"id": BILLING},
            "productOfferingQualificationItem": [{"id": "1", "productOffering": {"id": "WHCCompany"},
                "product": chars(&[("customerName", &name), ("customerDomain", &domain),
                    ("customerGroup", "SWAINsTelecom")])}]
        });
        let (status, q) = self.call(Method::POST, QUALIFY, Some(qualify)).await;
        assert_eq!(status, 201, "qualify: {q}");
        let qid = q["id"].as_str().unwrap().to_string();
        let svc = q["productOfferingQualificationItem"][0]["product"]["serviceId"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        let ringfence = json!({
            "customer": {"id": CUG, "type": "BUSINESS"},
            "numbers": {"quantity": 1, "characteristics": {"numberString": "0121"}},
            "product": {"name": "WHC"}, "action": "RingFence", "ringFenceId": svc, "qualifierId": qid,
        });
        let (status, r) = self.call(Method::POST, RINGFENCE, Some(ringfence)).await;
        assert_eq!(status, 201, "ringfence: {r}");
        let range = &r["numberRange"];
        let (start, end) = (
            range["startNumber"].as_str().unwrap(),
            range["endNumber"].as_str().unwrap(),
        );
        let order = json!({
            "externalId": format!("kill-{round}"),
            "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
            "billingAccount": {"id": BILLING},
            "productOrderItem": [
                {"id": "1", "action": "add", "productOffering": {"id": "WHCCompany"},
                    "product": chars(&[("customerName", &name), ("customerDomain", &domain),
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
        o["id"].as_str().unwrap().to_string()
    }

    /// SIGKILL, and waits for the process to be gone.
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the killed sandbox did not exit")
            .unwrap();
    }
}

fn chars(pairs: &[(&str, &str)]) -> Value {
    json!({"productCharacteristic": pairs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn an_order_answered_just_before_a_kill_9_is_there_after_the_restart() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state").join("sandbox-state.db");
    let data = root.path().join("data");
    let mut answered: Vec<String> = Vec::new();
    for round in 0..=ROUNDS {
        let began = Instant::now();
        let sb = Sandbox::start(&state, &data).await;
        for (n, id) in answered.iter().enumerate() {
            let (status, o) = sb.call(Method::GET, &format!("{ORDERS}/{id}"), None).await;
            assert_eq!(
                status,
                200,
                "after {round} kills, order {id} (answered before kill {}) is gone: {o}",
                n + 1
            );
            assert_eq!(o["externalId"], format!("kill-{n}"), "{o}");
        }
        if round == ROUNDS {
            sb.kill().await;
            break;
        }
        let id = sb.create_order(round).await;
        // Answered: killed at once, with no time for a save that was still to come.
        sb.kill().await;
        answered.push(id);
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "round {round} took {:?}",
            began.elapsed()
        );
    }
    assert_eq!(answered.len(), ROUNDS);
}
