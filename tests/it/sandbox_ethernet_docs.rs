//! The sandbox against BT's Ethernet product page and the TM Forum specifications, over HTTP:
//! a GEA service goes live only after its engineer's visit, a visit can be rescheduled while
//! its order is open, and order prices follow the bandwidth asked for (CONTRACT.md, Ethernet).

use crate::raw::ethernet_paths::*;
use crate::raw::{frozen_sandbox as sandbox, Reply, Sb};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

type Seen = Arc<Mutex<Vec<Value>>>;

/// A callback receiver on port 0, registered with the sandbox; keeps every event body.
async fn listen(sb: &Sb) -> Seen {
    use axum::{extract::State, routing::post, Json, Router};
    let seen: Seen = Default::default();
    let app = Router::new()
        .route(
            "/events",
            post(|State(s): State<Seen>, Json(v): Json<Value>| async move {
                s.lock().unwrap().push(v);
                "ok"
            }),
        )
        .with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/callback",
            Some(json!({"url": url, "username": "bt", "password": "pw"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    seen
}

/// Polls `seen` against a deadline until an event of `event_type` for `order` arrives.
async fn wait_for_event(seen: &Seen, event_type: &str, order: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = seen
            .lock()
            .unwrap()
            .iter()
            .find(|e| e["eventType"] == event_type && e["event"]["productOrder"]["id"] == order)
            .cloned();
        if let Some(e) = found {
            return e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {event_type} for {order}: {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn quote_body(product: &str, places: Value, bandwidth: &str) -> Value {
    json!({
        "quoteItem": [{"id": "1", "action": "add", "product": {
            "@type": product,
            "place": places,
            "productCharacteristic": [
                {"name": "bandwidth", "value": bandwidth},
                {"name": "term", "value": "36"},
            ],
        }}],
    })
}

fn provide(external: &str, quote: &str, appointment: Option<&str>) -> Value {
    let mut item = json!({"id": "1", "action": "add", "quoteItem": {"quoteId": quote, "id": "1"}});
    if let Some(a) = appointment {
        item["appointment"] = json!({ "id": a });
    }
    json!({"externalId": external,
           "relatedParty": [{"role": "siteContact", "name": "Ann Other", "phone": "07700900123"}],
           "productOrderItem": [item]})
}

/// `(nonRecurring, recurring)` duty-free amounts of a price list.
fn amounts(prices: &Value) -> (f64, f64) {
    let list = prices
        .as_array()
        .unwrap_or_else(|| panic!("no prices: {prices}"));
    let get = |t: &str| {
        list.iter().find(|p| p["priceType"] == t).unwrap()["price"]["dutyFreeAmount"]["value"]
            .as_f64()
            .unwrap()
    };
    (get("nonRecurring"), get("recurring"))
}

impl Sb {
    async fn eth_now(&self) -> DateTime<Utc> {
        let r = self.admin(Method::GET, "/__sandbox/clock", None).await;
        r.s("now").parse().unwrap()
    }

    /// Advances the frozen clock to `secs` after `t`.
    async fn advance_past(&mut self, t: DateTime<Utc>, secs: f64) {
        let now = self.eth_now().await;
        self.advance((t - now).num_seconds() as f64 + secs).await;
    }

    async fn eth_quote(&self, product: &str, places: Value, bandwidth: &str) -> Reply {
        let r = self
            .post(QUOTE, quote_body(product, places, bandwidth))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r
    }

    /// Free slots at `postcode`: `(id, start, end)`.
    async fn eth_slots(&self, postcode: &str) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
        let r = self
            .post(SLOTS, json!({"relatedPlace": {"postcode": postcode}}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["availableTimeSlot"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let v = &s["validFor"];
                (
                    s["id"].as_str().unwrap().to_string(),
                    v["startDateTime"].as_str().unwrap().parse().unwrap(),
                    v["endDateTime"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    /// An FTTP provide at IP5 3RE with the first free visit: (order id, appointment id, visit end).
    async fn fttp_order(&self, external: &str) -> (String, String, DateTime<Utc>) {
        let q = self
            .eth_quote("EtherwayGEAFTTP", json!([{"postcode": "IP5 3RE"}]), "330")
            .await
            .id();
        let (slot, _, end) = self.eth_slots("IP5 3RE").await.remove(0);
        let r = self
            .post(
                APPOINTMENT,
                json!({"relatedPlace": {"postcode": "IP5 3RE"}, "timeSlot": {"id": slot}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let appt = r.id();
        let r = self.post(ORDER, provide(external, &q, Some(&appt))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        (r.id(), appt, end)
    }

    async fn eth_order(&self, id: &str) -> Value {
        self.get(&format!("{ORDER}/{id}")).await.body
    }
}

fn milestones(order: &Value) -> Vec<String> {
    order["milestone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_gea_service_goes_live_only_after_the_engineer_visit() {
    let mut sb = sandbox().await;
    let (order, appt, visit_end) = sb.fttp_order("gea-live-1").await;

    // Every step but the last: installation scheduled, not live, visit still to come.
    sb.advance(ALL_STEPS).await;
    let o = sb.eth_order(&order).await;
    assert_eq!(o["state"], "inProgress", "{o}");
    let reached = milestones(&o);
    assert!(
        reached.contains(&"installationScheduled".to_string()),
        "{reached:?}"
    );
    assert!(!reached.contains(&"serviceLive".to_string()), "{reached:?}");
    let a = sb.get(&format!("{APPOINTMENT}/{appt}")).await;
    assert_eq!(a.s("status"), "confirmed");

    // Just before the slot ends: still waiting.
    sb.advance_past(visit_end, -60.0).await;
    assert_eq!(sb.eth_order(&order).await["state"], "inProgress");

    // Once it has passed: live, at the visit's end, and the visit is completed.
    sb.advance(120.0).await;
    let o = sb.eth_order(&order).await;
    assert_eq!(o["state"], "completed", "{o}");
    let live: DateTime<Utc> = o["completionDate"].as_str().unwrap().parse().unwrap();
    assert!(
        live >= visit_end,
        "live {live} before the visit ended {visit_end}"
    );
    assert!(milestones(&o).contains(&"serviceLive".to_string()));
    let a = sb.get(&format!("{APPOINTMENT}/{appt}")).await;
    assert_eq!(a.s("status"), "completed");
    let service = o["productOrderItem"][0]["product"]["id"].as_str().unwrap();
    let s = sb.get(&format!("{INVENTORY}/{service}")).await;
    assert_eq!(s.s("status"), "active");
}

#[tokio::test]
async fn an_open_orders_visit_can_be_rescheduled() {
    let mut sb = sandbox().await;
    let seen = listen(&sb).await;
    let (order, appt, first_end) = sb.fttp_order("gea-move-1").await;
    let slots = sb.eth_slots("IP5 3RE").await;
    let (later, later_start, later_end) = slots.last().cloned().unwrap();
    assert!(later_start > first_end);

    let r = sb
        .patch(
            &format!("{APPOINTMENT}/{appt}"),
            json!({"timeSlot": {"id": later}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.s("status"), "confirmed");
    assert_eq!(r.body["timeSlot"]["id"], json!(later));
    let start: DateTime<Utc> = r.body["validFor"]["startDateTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(start, later_start);
    let e = wait_for_event(&seen, "appointmentRescheduled", &order).await;
    assert_eq!(e["event"]["productOrder"]["state"], "acknowledged");
    // Repeating it changes nothing.
    let r = sb
        .patch(
            &format!("{APPOINTMENT}/{appt}"),
            json!({"timeSlot": {"id": later}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The order follows the new visit: not live after the old slot, live after the new one.
    sb.advance_past(first_end, ALL_STEPS).await;
    assert_eq!(sb.eth_order(&order).await["state"], "inProgress");
    sb.advance_past(later_end, 60.0).await;
    let o = sb.eth_order(&order).await;
    assert_eq!(o["state"], "completed", "{o}");

    // A visit that has happened cannot move; nor can one onto a slot already taken.
    let r = sb
        .patch(
            &format!("{APPOINTMENT}/{appt}"),
            json!({"timeSlot": {"id": later}}),
        )
        .await;
    r.rejects("AppointmentNotReschedulable");
    let (_, other, _) = sb.fttp_order("gea-move-2").await;
    let taken = sb.get(&format!("{APPOINTMENT}/{other}")).await.body["timeSlot"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (third, _, _) = sb.fttp_order("gea-move-3").await;
    let third_appt = sb.eth_order(&third).await["productOrderItem"][0]["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.patch(
        &format!("{APPOINTMENT}/{third_appt}"),
        json!({"timeSlot": {"id": taken}}),
    )
    .await
    .rejects("SlotUnavailable");
}

#[tokio::test]
async fn prices_follow_amends_and_modifies() {
    let mut sb = sandbox().await;
    let ends = json!([{"postcode": "IP5 3RE"}, {"postcode": "B1 2HF"}]);
    let one = sb.eth_quote("EtherwayFibre", ends.clone(), "1000").await;
    let ten = sb.eth_quote("EtherwayFibre", ends.clone(), "10000").await;
    let price_1g = amounts(&one.body["quoteItem"][0]["quoteItemPrice"]);
    let price_10g = amounts(&ten.body["quoteItem"][0]["quoteItemPrice"]);
    assert_ne!(price_1g, price_10g);

    // A provide carries its quote's price.
    let r = sb.post(ORDER, provide("price-1", &one.id(), None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order = r.id();
    assert_eq!(
        amounts(&r.body["productOrderItem"][0]["itemPrice"]),
        price_1g
    );

    // Amended to 10 Gbit/s: re-priced from the table.
    let r = sb
        .patch(
            &format!("{ORDER}/{order}"),
            json!({"productOrderItem": [{"id": "1", "product": {"productCharacteristic": [
                {"name": "bandwidth", "value": "10000"}]}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        amounts(&r.body["productOrderItem"][0]["itemPrice"]),
        price_10g
    );

    // A modify back to 1 Gbit/s shows the price it will cost.
    sb.advance(ALL_STEPS).await;
    let o = sb.eth_order(&order).await;
    assert_eq!(o["state"], "completed", "{o}");
    let service = o["productOrderItem"][0]["product"]["id"].as_str().unwrap();
    let r = sb
        .post(
            ORDER,
            json!({"productOrderItem": [{"id": "1", "action": "modify", "product": {"id": service,
                "productCharacteristic": [{"name": "bandwidth", "value": "1000"}]}}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        amounts(&r.body["productOrderItem"][0]["itemPrice"]),
        price_1g
    );
    // A cease has no price.
    sb.advance(ALL_STEPS).await;
    let r = sb
        .post(
            ORDER,
            json!({"productOrderItem": [{"id": "1", "action": "delete", "product": {"id": service}}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["productOrderItem"][0].get("itemPrice").is_none());
}

const CANCEL: &str = "/tmf-api/productOrderingManagement/v4/cancelProductOrder";

#[tokio::test]
async fn cancel_is_a_tmf622_resource_with_a_point_of_no_return() {
    let mut sb = sandbox().await;
    let (order, appt, _) = sb.fttp_order("cancel-1").await;
    let r = sb
        .post(
            CANCEL,
            json!({"productOrder": {"id": order}, "cancellationReason": "Customer moved"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let cancel = r.id();
    assert!(cancel.starts_with("CPO"), "{}", r.body);
    assert_ne!(cancel, order);
    assert_eq!(r.s("@type"), "CancelProductOrder");
    assert_eq!(r.s("state"), "done");
    assert_eq!(r.s("cancellationReason"), "Customer moved");
    assert_eq!(r.body["productOrder"]["id"], json!(order));
    let again = sb.get(&format!("{CANCEL}/{cancel}")).await;
    assert_eq!(again.body, r.body);
    let o = sb.eth_order(&order).await;
    assert_eq!(o["state"], "cancelled");
    assert_eq!(o["cancellationReason"], "Customer moved");
    let a = sb.get(&format!("{APPOINTMENT}/{appt}")).await;
    assert_eq!(a.s("status"), "cancelled");

    // Within two working days of the visit: too late.
    let (order, _, visit_end) = sb.fttp_order("cancel-2").await;
    sb.advance_past(visit_end, -86_400.0).await;
    sb.post(CANCEL, json!({"productOrder": {"id": order}}))
        .await
        .rejects("PointOfNoReturn");
    // Without a visit: once installation is scheduled.
    let q = sb
        .eth_quote("EtherflowInternet", json!([{"postcode": "IP5 3RE"}]), "100")
        .await
        .id();
    let order = sb.post(ORDER, provide("cancel-3", &q, None)).await.id();
    sb.advance(ALL_STEPS).await;
    sb.post(CANCEL, json!({"productOrder": {"id": order}}))
        .await
        .rejects("OrderNotCancellable");
}

#[tokio::test]
async fn tmf_state_names_and_collections() {
    let mut sb = sandbox().await;
    let seen = listen(&sb).await;
    // Quotes: no `expired` state; validity is `validFor`.
    let q = sb
        .eth_quote("EtherflowInternet", json!([{"postcode": "IP5 3RE"}]), "100")
        .await;
    sb.advance(32.0 * 86_400.0).await;
    let r = sb.get(&format!("{QUOTE}/{}", q.id())).await;
    assert_eq!(r.s("state"), "approved");
    let until: DateTime<Utc> = r.body["validFor"]["endDateTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(until < sb.eth_now().await);
    for state in [
        "inProgress",
        "pending",
        "approved",
        "accepted",
        "cancelled",
        "rejected",
    ] {
        let r = sb.get(&format!("{QUOTE}?state={state}")).await;
        assert_eq!(r.status, 200, "{state}: {}", r.body);
    }
    assert_eq!(sb.get(&format!("{QUOTE}?state=expired")).await.code(), "28");

    // A ceased service is `terminated` (TMF637); every TMF637 status filters.
    let q = sb
        .eth_quote("EtherflowInternet", json!([{"postcode": "IP5 3RE"}]), "100")
        .await
        .id();
    let order = sb.post(ORDER, provide("names-1", &q, None)).await.id();
    sb.advance(ALL_STEPS).await;
    let live = sb.eth_order(&order).await;
    let service = live["productOrderItem"][0]["product"]["id"]
        .as_str()
        .unwrap();
    let cease = sb
        .post(
            ORDER,
            json!({"productOrderItem": [{"id": "1", "action": "delete", "product": {"id": service}}]}),
        )
        .await
        .id();
    sb.advance(ALL_STEPS).await;
    assert_eq!(sb.eth_order(&cease).await["state"], "completed");
    let s = sb.get(&format!("{INVENTORY}/{service}")).await;
    assert_eq!(s.s("status"), "terminated");
    let r = sb.get(&format!("{INVENTORY}?status=terminated")).await;
    assert_eq!(r.header("x-total-count"), "1");
    let r = sb.get(&format!("{INVENTORY}?status=suspended")).await;
    assert_eq!(r.header("x-total-count"), "0");

    // Order line complete, as for WHC.
    let e = wait_for_event(&seen, "orderLineComplete", &order).await;
    assert_eq!(e["event"]["productOrder"]["state"], "completed");

    // GET on the appointment collection.
    let (_, appt, _) = sb.fttp_order("names-2").await;
    let r = sb.get(&format!("{APPOINTMENT}?status=confirmed")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[0]["id"], json!(appt));
    assert_eq!(r.header("x-total-count"), "1");
}

#[tokio::test]
async fn quotes_price_a_modify_of_a_live_service() {
    let mut sb = sandbox().await;
    let ends = json!([{"postcode": "IP5 3RE"}, {"postcode": "B1 2HF"}]);
    let one = sb.eth_quote("EtherwayFibre", ends.clone(), "1000").await;
    let ten = sb.eth_quote("EtherwayFibre", ends, "10000").await;
    let order = sb.post(ORDER, provide("mq-1", &one.id(), None)).await.id();
    sb.advance(ALL_STEPS).await;
    let live = sb.eth_order(&order).await;
    let service = live["productOrderItem"][0]["product"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let modify_item = |svc: &str| {
        json!({"quoteItem": [{"id": "1", "action": "modify", "product": {"id": svc,
            "productCharacteristic": [{"name": "bandwidth", "value": "10000"}]}}]})
    };
    let r = sb.post(QUOTE, modify_item(&service)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let item = &r.body["quoteItem"][0];
    assert_eq!(item["action"], "modify");
    assert_eq!(item["product"]["id"], json!(service));
    assert_eq!(
        amounts(&item["quoteItemPrice"]),
        amounts(&ten.body["quoteItem"][0]["quoteItemPrice"])
    );
    // A modify quote item is not a provide.
    sb.post(ORDER, provide("mq-2", &r.id(), None))
        .await
        .rejects("QuoteItemNotAProvide");
    sb.post(QUOTE, modify_item("ETH999999"))
        .await
        .rejects("ServiceNotFound");
    let r = sb
        .post(
            QUOTE,
            json!({"quoteItem": [{"id": "1", "action": "delete", "product": {"id": service}}]}),
        )
        .await;
    assert_eq!(r.code(), "29", "{}", r.body);
}

#[tokio::test]
async fn a_slot_search_has_an_href_that_answers() {
    let sb = sandbox().await;
    let r = sb
        .post(SLOTS, json!({"relatedPlace": {"postcode": "IP5 3RE"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Answered at once with every free slot: the search is `done` (TMF646's status).
    assert_eq!(r.s("status"), "done");
    let href = r.s("href").to_string();
    assert_eq!(href, format!("{SLOTS}/{}", r.id()));
    let again = sb.get(&href).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, r.body);
}

#[tokio::test]
async fn qualification_speaks_tmf679_v4_only() {
    let sb = sandbox().await;
    let r = sb
        .post(POQ, json!({"place": {"postcode": "IP5 3RE"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.s("@type"), "ProductOfferingQualification");
    assert_eq!(r.s("state"), "done");
    let href = r.s("href").to_string();
    assert_eq!(href, format!("{POQ}/{}", r.id()));
    let again = sb.get(&href).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, r.body);
    // v5's task resources are not served under the v4 path.
    for v5 in [
        "checkProductOfferingQualification",
        "queryProductOfferingQualification",
    ] {
        let path = format!("/tmf-api/productOfferingQualificationManagement/v4/{v5}");
        let r = sb
            .post(&path, json!({"place": {"postcode": "IP5 3RE"}}))
            .await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
}
