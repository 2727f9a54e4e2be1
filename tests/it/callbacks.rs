//! The notification listener: authentication, size limit, replay window, de-duplication, order.

use btw::api::Secret;
use btw::callbacks::{self, CallbackConfig};
use btw::store::{EventHub, Store};
use serde_json::{json, Value};
use std::time::Duration;

fn envelope(id: &str, order: &str, ty: &str, state: &str, time: &str) -> Value {
    json!({"eventId": id, "eventTime": time, "eventType": ty,
           "event": {"productOrder": {"id": order, "externalId": "x", "state": state, "productOrderItem": []}}})
}

async fn listener(window: Option<Duration>) -> (callbacks::CallbackListener, EventHub) {
    let hub = EventHub::new(Store::in_memory());
    let config = CallbackConfig {
        bind: "127.0.0.1:0".into(),
        username: "bt".into(),
        password: Secret::new("callback-pass"),
        max_body_bytes: 4096,
        replay_window: window,
    };
    (callbacks::start(config, hub.clone()).await.unwrap(), hub)
}

/// A post to the listener with the right credentials.
fn authed(http: &reqwest::Client, l: &callbacks::CallbackListener) -> reqwest::RequestBuilder {
    http.post(l.url()).basic_auth("bt", Some("callback-pass"))
}

#[tokio::test]
async fn unauthenticated_and_oversized_posts_are_refused_and_not_stored() {
    let (l, hub) = listener(None).await;
    let http = reqwest::Client::new();
    let body = envelope(
        "e1",
        "BTWKN1",
        "orderAcknowledged",
        "acknowledged",
        "2026-11-22T10:00:00Z",
    );
    let r = http.post(l.url()).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(l.url())
        .basic_auth("bt", Some("wrong"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut big = body.clone();
    big["padding"] = json!("x".repeat(10_000));
    let r = authed(&http, &l).json(&big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let r = authed(&http, &l).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        hub.store.notification_count("BTWKN1").unwrap(),
        0,
        "nothing refused was stored"
    );

    let r = authed(&http, &l).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hub.store.notification_count("BTWKN1").unwrap(), 1);
}

#[tokio::test]
async fn duplicated_and_reordered_deliveries_store_one_event_each_and_never_go_back() {
    let (l, hub) = listener(None).await;
    let http = reqwest::Client::new();
    let (e1, e2, e3) = (
        envelope(
            "e1",
            "BTWKN7",
            "orderAcknowledged",
            "acknowledged",
            "2026-11-22T10:00:00Z",
        ),
        envelope(
            "e2",
            "BTWKN7",
            "orderInProgress",
            "inProgress",
            "2026-11-22T10:00:02Z",
        ),
        envelope(
            "e3",
            "BTWKN7",
            "orderComplete",
            "completed",
            "2026-11-22T10:00:04Z",
        ),
    );
    let events = [&e3, &e1, &e3, &e2, &e1, &e2];
    let mut duplicates = 0;
    for e in events {
        let r = authed(&http, &l).json(e).send().await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "a duplicate is acknowledged too, so BT stops resending"
        );
        let v: Value = r.json().await.unwrap();
        if v["duplicate"] == true {
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 3);
    assert_eq!(hub.store.notification_count("BTWKN7").unwrap(), 3);
    assert_eq!(
        hub.store.order_state("BTWKN7").unwrap().as_deref(),
        Some("completed"),
        "late events never move it back"
    );
}

#[tokio::test]
async fn events_outside_the_replay_window_are_refused() {
    let (l, hub) = listener(Some(Duration::from_secs(300))).await;
    let http = reqwest::Client::new();
    let old = envelope(
        "old",
        "BTWKN9",
        "orderComplete",
        "completed",
        "2020-01-01T00:00:00Z",
    );
    let r = authed(&http, &l).json(&old).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let now = chrono::Utc::now().to_rfc3339();
    let fresh = envelope("fresh", "BTWKN9", "orderComplete", "completed", &now);
    let r = authed(&http, &l).json(&fresh).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hub.store.notification_count("BTWKN9").unwrap(), 1);
}
