//! Contract tests for number porting and outbound notifications in the embedded sandbox
//! (CONTRACT.md "Number porting" and "Order notifications"), over real HTTP on port 0.

use crate::raw::{sandbox_with, Reply, Sb};
use axum::http::{HeaderMap as AxHeaders, StatusCode as AxStatus};
use base64::Engine;
use btw_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

const CUG: &str = "CUG5019851064";
const CHECK: &str = "/bt-wholesale/v1/whc/numberPortability";
const IMPORT: &str = "/bt-wholesale/v1/order/numberImportOrder";
const ACTIVATE: &str = "/bt-wholesale/v1/order/activatePort";
const RINGFENCE: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
const NUMBERS: &str = "/v1/resourceManagement/directoryNumbers";
const ACME: &str = "WHHCBTWKN1000";

/// A sandbox whose LCP decides after `lcp_secs` sandbox seconds.
async fn sandbox(lcp_secs: f64) -> Sb {
    sandbox_with(SandboxConfig {
        lcp_decision_secs: lcp_secs,
        order_step_secs: 0.2,
        ..SandboxConfig::default()
    })
    .await
}

impl Sb {
    async fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let r = self.admin(Method::GET, "/__sandbox/clock", None).await;
        chrono::DateTime::parse_from_rfc3339(r.s("now"))
            .unwrap()
            .to_utc()
    }

    /// Freezes the sandbox clock at `at` (RFC 3339, in the future).
    async fn freeze_at(&mut self, at: &str) {
        let r = self
            .admin(Method::POST, "/__sandbox/clock", Some(json!({"speed": 0})))
            .await;
        assert_eq!(r.status, 200);
        let target = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc();
        let secs = (target - self.now().await).num_milliseconds() as f64 / 1000.0;
        assert!(secs >= 0.0, "{at} is in the past");
        self.advance(secs).await;
        assert_eq!(self.now().await, target);
    }

    async fn check(&self, query: &str) -> Reply {
        self.get(&format!("{CHECK}?{query}")).await
    }

    /// The earliest port date the sandbox allows for these numbers today.
    async fn earliest(&self, import_type: &str, numbers: &[&str]) -> String {
        let r = self
            .get(&format!(
                "{IMPORT}/earliestPortDate?importType={import_type}&numbers={}",
                numbers.join(",")
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.s("earliestPortDate").to_string()
    }

    async fn import(&self, body: Value) -> Reply {
        self.post(IMPORT, body).await
    }

    async fn import_order(&self, id: &str) -> Reply {
        self.get(&format!("{IMPORT}/{id}")).await
    }

    async fn activate(&self, id: &str) -> Reply {
        self.post(ACTIVATE, json!({"importOrderId": id})).await
    }

    async fn ringfence_port(&self, id: &str, company: &str) -> Reply {
        self.post(
            RINGFENCE,
            json!({
                "customer": {"id": CUG, "type": "BUSINESS"},
                "numbers": {"characteristics": {"portOrderId": id}},
                "product": {"name": "WHC"},
                "action": "RingFence",
                "ringFenceId": company,
            }),
        )
        .await
    }
}

fn import_body(
    external_id: &str,
    import_type: &str,
    numbers: &[&str],
    port_date: &str,
    postcode: &str,
) -> Value {
    json!({
        "externalId": external_id,
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "importType": import_type,
        "numbers": numbers,
        "portDate": port_date,
        "installationPostcode": postcode,
    })
}

fn assert_rule(r: &Reply, reason: &str) {
    r.rejects(reason);
}

#[tokio::test]
async fn portability_states() {
    let sb = sandbox(30.0).await;
    let cases = [
        ("01914980100", "portable", None, "BT"),
        ("0191 498 0101", "portable", None, "BT"),
        (
            "01632960042",
            "notPortable",
            Some("rangeHolderNotSupported"),
            "KCOM",
        ),
        ("02920180500", "alreadyPortedIn", None, "BT"),
        ("02920180600", "portInProgress", None, "BT"),
        (
            "02079460003",
            "notPortable",
            Some("numberOnWhc"),
            "Openreach",
        ),
        (
            "08001234567",
            "notPortable",
            Some("notGeographic"),
            "Openreach",
        ),
        ("01134960777", "portable", None, "Openreach"),
    ];
    for (number, state, reason, holder) in cases {
        let r = sb
            .check(&format!("number={}", number.replace(' ', "%20")))
            .await;
        assert_eq!(r.status, 200, "{number}: {}", r.body);
        assert_eq!(r.s("portState"), state, "{number}: {}", r.body);
        assert_eq!(r.body["portable"], json!(state == "portable"));
        assert_eq!(r.body["reason"].as_str(), reason, "{number}");
        assert_eq!(r.s("rangeHolder"), holder, "{number}");
        assert_eq!(r.s("product"), "WHC");
        assert_eq!(
            r.body.get("earliestPortDate").is_some(),
            state == "portable"
        );
    }
    let r = sb.check("number=01914980101").await;
    assert_eq!(r.s("losingProvider"), "TalkTalk");
    assert_eq!(r.body["lcpIsRangeHolder"], false);
    assert_eq!(r.s("number"), "01914980101");
    // A DDI range: WHC yes, WHC Express no.
    let r = sb
        .check("rangeStart=01914980200&rangeEnd=01914980299")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.s("portState"), "portable");
    assert_eq!(r.body["quantity"], 100);
    assert_eq!(r.s("rangeHolder"), "Virgin Media");
    assert_eq!(r.s("lineType"), "isdn30");
    let r = sb
        .check("rangeStart=01914980200&rangeEnd=01914980299&product=WHCExpress")
        .await;
    assert_eq!(r.reason(), "RangeNotSupported", "{}", r.body);
    assert_eq!(r.status, 400);
    let r = sb.check("number=01914980100&product=WHCExpress").await;
    assert_eq!(r.s("product"), "WHCExpress");
    assert_eq!(r.s("portState"), "portable");
    // A range's state is its worst number's; mixed holders are not portable.
    let r = sb
        .check("rangeStart=02079460008&rangeEnd=02079460011")
        .await;
    assert_eq!(r.s("portState"), "notPortable", "{}", r.body);
    assert_eq!(r.s("reason"), "numberOnWhc", "{}", r.body);
    assert_eq!(r.s("rangeHolder"), "Openreach");
    let r = sb
        .check("rangeStart=01914980199&rangeEnd=01914980200")
        .await;
    assert_eq!(r.s("reason"), "mixedRangeHolders", "{}", r.body);
    // Query errors.
    for (q, code) in [
        ("", "27"),
        ("rangeStart=01914980200", "27"),
        ("number=12", "28"),
        (
            "number=01914980100&rangeStart=01914980100&rangeEnd=01914980101",
            "28",
        ),
        ("number=01914980100&product=Broadband", "28"),
    ] {
        let r = sb.check(q).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.code(), code, "{q}: {}", r.body);
    }
}

#[tokio::test]
async fn lead_times_skip_weekends_and_bank_holidays() {
    let mut sb = sandbox(30.0).await;
    // Friday 2027-11-19: 4 working days for a single line → Thursday 25th.
    sb.freeze_at("2027-11-19T09:00:00Z").await;
    assert_eq!(
        sb.earliest("SingleLine", &["01914980100"]).await,
        "2027-11-25"
    );
    let r = sb
        .import(import_body(
            "lt-1",
            "SingleLine",
            &["01914980100"],
            "2027-11-24",
            "NE1 4ST",
        ))
        .await;
    assert_rule(&r, "LeadTimeNotMet");
    assert!(r.message().contains("2027-11-25"), "{}", r.message());
    let r = sb
        .import(import_body(
            "lt-2",
            "SingleLine",
            &["01914980100"],
            "2027-11-27",
            "NE1 4ST",
        ))
        .await;
    assert_rule(&r, "PortDateNotWorkingDay");
    let r = sb
        .import(import_body(
            "lt-3",
            "SingleLine",
            &["01914980100"],
            "2027-11-25",
            "NE1 4ST",
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["leadTimeWorkingDays"], 4);

    // Thursday 2027-12-23: Christmas falls on the weekend, so 27th and 28th are holidays.
    sb.freeze_at("2027-12-23T09:00:00Z").await;
    assert_eq!(
        sb.earliest("SingleLine", &["01134960777"]).await,
        "2027-12-31"
    );
    let r = sb.check("number=01134960777").await;
    assert_eq!(r.s("earliestPortDate"), "2027-12-31");
    let r = sb
        .import(import_body(
            "lt-4",
            "SingleLine",
            &["01134960777"],
            "2027-12-28",
            "LS1 1AA",
        ))
        .await;
    assert_rule(&r, "PortDateNotWorkingDay");
    let r = sb
        .import(import_body(
            "lt-5",
            "SingleLine",
            &["01134960777"],
            "2027-12-30",
            "LS1 1AA",
        ))
        .await;
    assert_rule(&r, "LeadTimeNotMet");
    assert!(r.message().contains("2027-12-31"), "{}", r.message());
    // LCP not the range holder: 7 days, over New Year's substitute Monday 2028-01-03.
    assert_eq!(
        sb.earliest("SingleLine", &["01914980101"]).await,
        "2028-01-06"
    );
    // A DDI range: 10 days.
    let r = sb
        .get(&format!(
            "{IMPORT}/earliestPortDate?importType=MultiLine&rangeStart=01914980200&rangeEnd=01914980299"
        ))
        .await;
    assert_eq!(r.body["leadTimeWorkingDays"], 10, "{}", r.body);
    assert_eq!(r.s("today"), "2027-12-23");
    let r = sb
        .get(&format!(
            "{IMPORT}/earliestPortDate?importType=SingleLine&rangeStart=01914980200&rangeEnd=01914980299"
        ))
        .await;
    assert_rule(&r, "RangeNotSupported");
}

#[tokio::test]
async fn a_port_from_order_to_activation() {
    let mut sb = sandbox(30.0).await;
    sb.freeze_at("2027-11-15T09:00:00Z").await; // a Monday
    let date = sb.earliest("SingleLine", &["01914980100"]).await;
    assert_eq!(date, "2027-11-19");
    let r = sb
        .import(import_body(
            "life-1",
            "SingleLine",
            &["01914980100"],
            &date,
            "ne1 4st",
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.s("id").to_string();
    assert!(id.starts_with("BTWPI"), "{id}");
    assert_eq!(r.s("state"), "acknowledged");
    assert_eq!(r.s("lcpStatus"), "pending");
    assert_eq!(r.body["confirmedPortDate"], Value::Null);
    assert_eq!(r.body["productOrderItem"][0]["number"], "01914980100");
    // Findable by externalId (a client whose create answer was lost).
    let r = sb.get(&format!("{IMPORT}?externalId=life-1")).await;
    assert_eq!(r.headers["X-Total-Count"], "1");
    assert_eq!(r.body[0]["id"], json!(id));
    // Not allocatable before the LCP accepts.
    assert_rule(&sb.ringfence_port(&id, ACME).await, "PortNotAccepted");
    // The number is now in progress for anyone else.
    let r = sb.check("number=01914980100").await;
    assert_eq!(r.s("portState"), "portInProgress");

    sb.advance(31.0).await;
    let r = sb.import_order(&id).await;
    assert_eq!(r.s("state"), "inProgress", "{}", r.body);
    assert_eq!(r.s("lcpStatus"), "accepted");
    assert_eq!(r.s("confirmedPortDate"), date);

    assert_rule(
        &sb.ringfence_port(&id, "WHHCBTWKN9999").await,
        "UnknownCompany",
    );
    let r = sb.ringfence_port(&id, ACME).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.s("status"), "RINGFENCED");
    assert_eq!(r.body["numberRange"]["startNumber"], "01914980100");
    let r = sb.ringfence_port(&id, ACME).await;
    assert_eq!(r.status, 201, "again for the same company");
    let r = sb
        .get(&format!("{NUMBERS}?companyServiceId={ACME}&limit=100"))
        .await;
    let ported: Vec<&Value> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] == "ported")
        .collect();
    assert_eq!(ported.len(), 1, "{}", r.body);
    assert_eq!(ported[0]["number"], "01914980100");
    assert_eq!(ported[0]["status"], "RINGFENCED");

    let r = sb.activate(&id).await;
    assert_rule(&r, "PortDateNotReached");
    assert!(r.message().contains(&date), "{}", r.message());

    sb.advance(4.0 * 86_400.0).await; // Friday the 19th, 09:00
    let r = sb.activate(&id).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.s("state"), "completed");
    assert_eq!(r.s("allocatedTo"), ACME);
    assert!(r.body["activationDate"].is_string());
    assert_eq!(r.body["productOrderItem"][0]["state"], "completed");
    let r = sb
        .get(&format!("{NUMBERS}?companyServiceId={ACME}&limit=100"))
        .await;
    let n = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["number"] == "01914980100")
        .cloned()
        .unwrap();
    assert_eq!(n["type"], "ported");
    assert_eq!(n["status"], "ASSIGNED");
    assert_eq!(
        sb.check("number=01914980100").await.s("portState"),
        "alreadyPortedIn"
    );
    assert_rule(&sb.activate(&id).await, "PortAlreadyActivated");
    assert_rule(&sb.ringfence_port(&id, ACME).await, "PortAlreadyActivated");
    let r = sb.post(&format!("{IMPORT}/{id}/cancel"), json!({})).await;
    assert_rule(&r, "OrderNotCancellable");
    let r = sb.get(&format!("{IMPORT}?state=completed")).await;
    assert_eq!(r.headers["X-Total-Count"], "1");
    let r = sb.admin(Method::GET, "/__sandbox/journal", None).await;
    assert!(r.body["created"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["kind"] == "importOrder" && c["externalId"] == "life-1"));
    let r = sb.activate("BTWPI999999").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn lcp_rejects_for_each_reason() {
    let sb = sandbox(0.0).await;
    let cases = [
        (
            "SingleLine",
            "01914980102",
            "NE1 4ST",
            Some("numberInactive"),
        ),
        ("SingleLine", "01914980103", "NE1 4ST", Some("pendingOrder")),
        (
            "SingleLine",
            "01914980104",
            "NE1 4ST",
            Some("wrongLineType"),
        ),
        (
            "SingleLine",
            "01914980100",
            "NE1 7RU",
            Some("postcodeMismatch"),
        ),
        ("MultiLine", "01914980104", "NE1 4ST", None),
    ];
    for (i, (kind, number, postcode, reason)) in cases.into_iter().enumerate() {
        let date = sb.earliest(kind, &[number]).await;
        let r = sb
            .import(import_body(
                &format!("rej-{i}"),
                kind,
                &[number],
                &date,
                postcode,
            ))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.s("id").to_string();
        let r = sb.import_order(&id).await;
        match reason {
            Some(reason) => {
                assert_eq!(r.s("state"), "rejected", "{number}: {}", r.body);
                assert_eq!(r.s("lcpStatus"), "rejected");
                assert_eq!(r.s("rejectionReason"), reason);
                assert_rule(&sb.activate(&id).await, "PortNotAccepted");
                assert_rule(&sb.ringfence_port(&id, ACME).await, "PortNotAccepted");
                let r = sb
                    .call(
                        Method::PATCH,
                        &format!("{IMPORT}/{id}"),
                        Some(json!({"portDate": date})),
                    )
                    .await;
                assert_rule(&r, "OrderNotAmendable");
            }
            None => {
                assert_eq!(r.s("state"), "inProgress", "{}", r.body);
                assert_eq!(r.body["rejectionReason"], Value::Null);
            }
        }
    }
    let r = sb.get(&format!("{IMPORT}?state=rejected&limit=2")).await;
    assert_eq!(r.headers["X-Total-Count"], "4");
    assert_eq!(r.headers["X-Result-Count"], "2");
}

#[tokio::test]
async fn amend_and_cancel() {
    let mut sb = sandbox(30.0).await;
    let d4 = sb.earliest("SingleLine", &["01914980100"]).await;
    let d7 = sb.earliest("MultiLine", &["01914980100"]).await;
    assert!(d7 > d4);
    // Rules on create.
    let body = import_body("am-1", "SingleLine", &["01914980100"], &d4, "NE1 4ST");
    let mut bad = body.clone();
    bad["companyServiceId"] = json!("WHHCBTWKN9999");
    assert_rule(&sb.import(bad).await, "UnknownCompany");
    let mut bad = body.clone();
    bad.as_object_mut().unwrap().remove("numbers");
    bad["numberRange"] = json!({"startNumber": "01914980200", "endNumber": "01914980201"});
    assert_rule(&sb.import(bad).await, "RangeNotSupported");
    let mut bad = body.clone();
    bad.as_object_mut().unwrap().remove("portDate");
    let r = sb.import(bad).await;
    assert_eq!(r.code(), "29", "{}", r.body);
    assert_eq!(r.body["errors"][0]["field"], "portDate");
    let mut bad = body.clone();
    bad["relatedParty"][0]["id"] = json!("CUG0000000000");
    assert_eq!(sb.import(bad).await.status, 403);
    assert_rule(
        &sb.import(import_body(
            "am-x",
            "SingleLine",
            &["01632960001"],
            &d4,
            "HU1 1AA",
        ))
        .await,
        "NumberNotPortable",
    );
    assert_rule(
        &sb.import(import_body(
            "am-x",
            "SingleLine",
            &["02920180500"],
            &d7,
            "CF10 1EP",
        ))
        .await,
        "NumberAlreadyPortedIn",
    );

    let r = sb.import(body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.s("id").to_string();
    assert_rule(&sb.import(body.clone()).await, "DuplicateExternalId");
    assert_rule(
        &sb.import(import_body(
            "am-2",
            "SingleLine",
            &["01914980100"],
            &d4,
            "NE1 4ST",
        ))
        .await,
        "PortInProgress",
    );

    // Too early, on a weekend, or nothing to change.
    let today = sb.now().await.date_naive();
    assert_rule(
        &patch(&sb, &id, json!({"portDate": today.to_string()})).await,
        if calendar_working(today) {
            "LeadTimeNotMet"
        } else {
            "PortDateNotWorkingDay"
        },
    );
    let saturday = next_saturday(today);
    assert_rule(
        &patch(&sb, &id, json!({"portDate": saturday})).await,
        "PortDateNotWorkingDay",
    );
    assert_eq!(patch(&sb, &id, json!({})).await.code(), "29");

    sb.advance(31.0).await;
    assert_eq!(sb.import_order(&id).await.s("lcpStatus"), "accepted");
    assert_eq!(sb.ringfence_port(&id, ACME).await.status, 201);
    // A later port date on an accepted port is confirmed at once.
    let r = patch(&sb, &id, json!({"portDate": d7})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.s("portDate"), d7);
    assert_eq!(r.s("confirmedPortDate"), d7);
    assert_eq!(r.s("lcpStatus"), "accepted");
    // New numbers go back to the LCP; the state is not moved back; the allocation is released.
    assert_rule(
        &patch(&sb, &id, json!({"numbers": ["01914980100", "02920180500"]})).await,
        "NumberAlreadyPortedIn",
    );
    let r = patch(&sb, &id, json!({"numbers": ["01914980100", "01134960777"]})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.s("state"), "inProgress");
    assert_eq!(r.s("lcpStatus"), "pending");
    assert_eq!(r.body["confirmedPortDate"], Value::Null);
    assert_eq!(r.body["allocatedTo"], Value::Null);
    assert_eq!(r.body["productOrderItem"].as_array().unwrap().len(), 2);
    let r = sb
        .get(&format!("{NUMBERS}?companyServiceId={ACME}&limit=100"))
        .await;
    assert!(!r.body.to_string().contains("01914980100"), "released");
    sb.advance(31.0).await;
    let r = sb.import_order(&id).await;
    assert_eq!(r.s("lcpStatus"), "accepted", "{}", r.body);
    assert_eq!(r.s("confirmedPortDate"), d7);

    let r = sb
        .call(Method::POST, &format!("{IMPORT}/{id}/cancel"), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.s("state"), "cancelled");
    let r = sb
        .call(Method::POST, &format!("{IMPORT}/{id}/cancel"), None)
        .await;
    assert_rule(&r, "OrderNotCancellable");
    assert_rule(
        &patch(&sb, &id, json!({"portDate": d7})).await,
        "OrderNotAmendable",
    );
    assert_rule(&sb.activate(&id).await, "PortNotAccepted");
    // The number is free to port again.
    let r = sb
        .import(import_body(
            "am-3",
            "SingleLine",
            &["01914980100"],
            &d4,
            "NE1 4ST",
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = sb.get(&format!("{IMPORT}/BTWPI000001")).await;
    assert_eq!(r.status, 404);
}

async fn patch(sb: &Sb, id: &str, v: Value) -> Reply {
    sb.call(Method::PATCH, &format!("{IMPORT}/{id}"), Some(v))
        .await
}

fn calendar_working(d: chrono::NaiveDate) -> bool {
    btw_sandbox::calendar::is_working_day(d)
}

fn next_saturday(from: chrono::NaiveDate) -> String {
    let mut d = from;
    while chrono::Datelike::weekday(&d) != chrono::Weekday::Sat {
        d = d.succ_opt().unwrap();
    }
    d.to_string()
}

/// A callback receiver: checks Basic auth, answers 500 to the first `fail_first` requests.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
    bad_auth: Arc<AtomicUsize>,
}

async fn receiver(fail_first: usize) -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let bad_auth = Arc::new(AtomicUsize::new(0));
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bt-user:bt-pass")
    );
    let (g, h, b) = (got.clone(), hits.clone(), bad_auth.clone());
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: AxHeaders, body: String| {
            let (g, h, b, expected) = (g.clone(), h.clone(), b.clone(), expected.clone());
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if auth != expected {
                    b.fetch_add(1, Ordering::SeqCst);
                    return AxStatus::UNAUTHORIZED;
                }
                if h.fetch_add(1, Ordering::SeqCst) < fail_first {
                    return AxStatus::INTERNAL_SERVER_ERROR;
                }
                g.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::Null));
                AxStatus::NO_CONTENT
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url,
        got,
        hits,
        bad_auth,
    }
}

impl Receiver {
    /// Waits (up to 15 s) until `n` events arrived, and returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.got.lock().unwrap().clone()
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap_or(""))
        .collect()
}

async fn register(sb: &Sb, url: &str) {
    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/callback",
            Some(json!({"url": url, "username": "bt-user", "password": "bt-pass"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.to_string().contains("bt-pass"));
}

#[tokio::test]
async fn notifications_are_delivered_and_retried() {
    let sb = sandbox(0.0).await;
    let rx = receiver(2).await;
    // Registration rules; the password never shows.
    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/callback",
            Some(json!({"url": "ftp://x", "username": ""})),
        )
        .await;
    assert_eq!(r.code(), "29");
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 3);
    register(&sb, &rx.url).await;
    let r = sb.admin(Method::GET, "/__sandbox/callback", None).await;
    assert_eq!(r.body["url"], json!(rx.url));
    assert_eq!(r.body["username"], "bt-user");
    assert!(!r.body.to_string().contains("bt-pass"));

    let date = sb.earliest("SingleLine", &["01914980100"]).await;
    let r = sb
        .import(import_body(
            "nt-1",
            "SingleLine",
            &["01914980100"],
            &date,
            "NE1 4ST",
        ))
        .await;
    let id = r.s("id").to_string();
    let events = rx.wait_for(3).await;
    assert_eq!(
        types(&events),
        ["orderAcknowledged", "portLcpAccepted", "portDateConfirmed"]
    );
    let e = &events[2];
    assert!(uuid::Uuid::parse_str(e["eventId"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(e["eventTime"].as_str().unwrap()).is_ok());
    let po = &e["event"]["productOrder"];
    assert_eq!(po["id"], json!(id));
    assert_eq!(po["externalId"], "nt-1");
    assert_eq!(po["state"], "inProgress");
    assert_eq!(po["importType"], "SingleLine");
    assert_eq!(po["lcpStatus"], "accepted");
    assert_eq!(po["confirmedPortDate"], json!(date));
    assert_eq!(
        po["productOrderItem"][0],
        json!({"id": "1", "action": "add", "state": "inProgress"})
    );
    assert_eq!(rx.bad_auth.load(Ordering::SeqCst), 0);
    assert_eq!(rx.hits.load(Ordering::SeqCst), 5, "two 500s, then three");
    let r = sb
        .admin(Method::GET, "/__sandbox/notifications", None)
        .await;
    let d = r.body["deliveries"].as_array().unwrap();
    assert_eq!(d.len(), 3, "{}", r.body);
    assert_eq!(d[0]["attempts"], 3);
    assert_eq!(d[0]["state"], "delivered");
    assert_eq!(d[0]["lastStatus"], 204);
    assert_eq!(d[0]["orderId"], json!(id));
    assert_eq!(d[1]["attempts"], 1);
    assert!(!r.body.to_string().contains("bt-pass"));

    // Cancel → orderCancelled.
    sb.call(Method::POST, &format!("{IMPORT}/{id}/cancel"), None)
        .await;
    let events = rx.wait_for(4).await;
    assert_eq!(types(&events)[3], "orderCancelled");
    assert_eq!(events[3]["event"]["productOrder"]["state"], "cancelled");

    // A WHC follow-on order for Acme: acknowledged, inProgress, a line complete per item, complete.
    let order = json!({
        "externalId": "whc-nt-1",
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOrderItem": [
            {"id": "1", "action": "noChange", "productOffering": {"id": "WHCCompany"},
             "product": {"productCharacteristic": [{"name": "serviceId", "value": ACME}]}},
            {"id": "2", "action": "add", "productOffering": {"id": "WHCSite"},
             "relatedPlace": [{"id": "R00000010001", "role": "installationAddress", "@referredType": "GeographicAddress"}],
             "product": {"productCharacteristic": [{"name": "siteName", "value": "Acme Leeds"},
                {"name": "siteLocationCode", "value": "ACMELS01"}]}},
        ],
    });
    let r = sb.post("/bt-wholesale/v1/order/productOrder", order).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let whc = r.s("id").to_string();
    let r = sb
        .post(
            "/bt-wholesale/v1/order/submit-product-order",
            json!({"productOrder": {"id": whc, "@referredType": "ProductOrder"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let events = rx.wait_for(9).await;
    assert_eq!(
        types(&events[4..]),
        [
            "orderAcknowledged",
            "orderInProgress",
            "orderLineComplete",
            "orderLineComplete",
            "orderComplete"
        ]
    );
    let line = &events[6]["event"]["productOrder"];
    assert_eq!(line["id"], json!(whc));
    assert_eq!(line["externalId"], "whc-nt-1");
    assert_eq!(
        line["productOrderItem"],
        json!([{"id": "1", "action": "noChange", "state": "completed"}])
    );
    assert_eq!(
        events[8]["event"]["productOrder"]["productOrderItem"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Unregistered: nothing more is sent; reset forgets the registration.
    let r = sb.admin(Method::DELETE, "/__sandbox/callback", None).await;
    assert_eq!(r.body, json!({"registered": false}));
    register(&sb, &rx.url).await;
    sb.admin(Method::POST, "/__sandbox/reset", None).await;
    let r = sb.admin(Method::GET, "/__sandbox/callback", None).await;
    assert_eq!(r.body, json!({"registered": false}));
}

#[tokio::test]
async fn duplicate_and_reorder_modes() {
    let sb = sandbox(0.0).await;
    let rx = receiver(0).await;
    register(&sb, &rx.url).await;
    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/notifications",
            Some(json!({"duplicate": true, "reorder": true})),
        )
        .await;
    assert_eq!(r.body, json!({"duplicate": true, "reorder": true}));
    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/notifications",
            Some(json!({"duplicate": "yes"})),
        )
        .await;
    assert_eq!(r.code(), "29");
    let date = sb.earliest("SingleLine", &["01914980100"]).await;
    let r = sb
        .import(import_body(
            "dup-1",
            "SingleLine",
            &["01914980100"],
            &date,
            "NE1 4ST",
        ))
        .await;
    assert_eq!(r.status, 201);
    let events = rx.wait_for(6).await;
    assert_eq!(
        types(&events),
        [
            "portDateConfirmed",
            "portLcpAccepted",
            "orderAcknowledged",
            "portDateConfirmed",
            "portLcpAccepted",
            "orderAcknowledged"
        ]
    );
    for i in 0..3 {
        assert_eq!(events[i]["eventId"], events[i + 3]["eventId"]);
    }
    let r = sb
        .admin(Method::GET, "/__sandbox/notifications", None)
        .await;
    let copies: Vec<i64> = r.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["copy"].as_i64().unwrap())
        .collect();
    assert_eq!(copies, [1, 1, 1, 2, 2, 2]);
    // Back to normal: once each, in order.
    sb.admin(
        Method::POST,
        "/__sandbox/notifications",
        Some(json!({"duplicate": false, "reorder": false})),
    )
    .await;
    let id = r.body["deliveries"][0]["orderId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = sb
        .call(Method::POST, &format!("{IMPORT}/{id}/cancel"), None)
        .await;
    assert_eq!(r.status, 201);
    let events = rx.wait_for(7).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.got.lock().unwrap().len(), 7);
    assert_eq!(types(&events)[6], "orderCancelled");
}
