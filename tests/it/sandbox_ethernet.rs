//! Ethernet contract tests: quotes and the price table, qualification, GEA appointments and
//! product orders (place, modify, amend, cease, cancel, track), each against its own sandbox on
//! port 0 over real HTTP, as CONTRACT.md's `## Ethernet` section describes.

use crate::raw::ethernet_paths::*;
use crate::raw::{frozen_sandbox as sandbox, Reply, Sb};
use chrono::{DateTime, Datelike, Utc, Weekday};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;

impl Sb {
    async fn quote(&self, product: &str, places: Value, bandwidth: &str, term: &str) -> Reply {
        self.post(QUOTE, quote_body(None, product, places, bandwidth, term))
            .await
    }

    /// A quote that must succeed; its id.
    async fn quoted(&self, product: &str, places: Value, bandwidth: &str) -> String {
        let r = self.quote(product, places, bandwidth, "12").await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.id()
    }

    async fn order(&self, body: Value) -> Reply {
        self.post(ORDER, body).await
    }

    /// The first free slot at `postcode`, as (start, end).
    async fn free_slot(&self, postcode: &str) -> (String, String) {
        let r = self
            .post(SLOTS, json!({"relatedPlace": {"postcode": postcode}}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let s = &r.body["availableTimeSlot"][0]["validFor"];
        (
            s["startDateTime"].as_str().unwrap().to_string(),
            s["endDateTime"].as_str().unwrap().to_string(),
        )
    }

    async fn book(&self, postcode: &str, start: &str, end: &str) -> Reply {
        self.post(
            APPOINTMENT,
            json!({"relatedPlace": {"postcode": postcode},
                   "validFor": {"startDateTime": start, "endDateTime": end}}),
        )
        .await
    }

    /// A provide of an Etherflow Internet circuit at IP5 3RE, completed; returns the service id.
    async fn live_service(&mut self, external: &str) -> String {
        let q = self
            .quoted("EtherflowInternet", json!([{"postcode": "IP5 3RE"}]), "100")
            .await;
        let r = self.order(provide(external, &q, None, true)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.id();
        self.advance(ALL_STEPS).await;
        let r = self.get(&format!("{ORDER}/{id}")).await;
        assert_eq!(r.body["state"], "completed", "{}", r.body);
        r.body["productOrderItem"][0]["product"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn quote_body(
    external: Option<&str>,
    product: &str,
    places: Value,
    bandwidth: &str,
    term: &str,
) -> Value {
    json!({
        "externalId": external,
        "quoteItem": [{"id": "1", "action": "add", "product": {
            "@type": product,
            "place": places,
            "productCharacteristic": [
                {"name": "bandwidth", "value": bandwidth},
                {"name": "term", "value": term},
            ],
        }}],
    })
}

fn provide(external: &str, quote: &str, appointment: Option<&str>, contact: bool) -> Value {
    let mut item = json!({"id": "1", "action": "add", "quoteItem": {"quoteId": quote, "id": "1"}});
    if let Some(a) = appointment {
        item["appointment"] = json!({ "id": a });
    }
    let party = if contact {
        json!([{"role": "siteContact", "name": "Ann Other", "phone": "07700900123"}])
    } else {
        json!([])
    };
    json!({"externalId": external, "relatedParty": party, "productOrderItem": [item]})
}

fn change(action: &str, service: &str, bandwidth: Option<&str>) -> Value {
    let mut product = json!({ "id": service });
    if let Some(b) = bandwidth {
        product["productCharacteristic"] = json!([{"name": "bandwidth", "value": b}]);
    }
    json!({"productOrderItem": [{"id": "1", "action": action, "product": product}]})
}

/// `(nonRecurring, recurring)` duty-free amounts of the first quote item.
fn item_prices(q: &Value) -> (f64, f64) {
    let prices = q["quoteItem"][0]["quoteItemPrice"].as_array().unwrap();
    let get = |t: &str| {
        prices.iter().find(|p| p["priceType"] == t).unwrap()["price"]["dutyFreeAmount"]["value"]
            .as_f64()
            .unwrap()
    };
    (get("nonRecurring"), get("recurring"))
}

fn characteristic(product: &Value, name: &str) -> String {
    product["productCharacteristic"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Why the first item of a qualification is unavailable (its first reason code).
fn unavailable(r: &Reply) -> &Value {
    &r.body["productOfferingQualificationItem"][0]["eligibilityUnavailabilityReason"][0]["code"]
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
async fn quote_pricing_follows_the_table() {
    let sb = sandbox().await;
    // (product, places, bandwidth, term, band, install, rental, rental with VAT)
    let cases = [
        (
            "EtherwayFibre",
            json!([{"postcode": "IP5 3RE"}, {"id": "R00000040001"}]),
            "1000",
            "36",
            "2",
            1250.0,
            506.25,
            607.5,
        ),
        (
            "EtherwayFibre",
            json!([{"postcode": "EC1A 7AJ"}, {"postcode": "E1 8EE"}]),
            "100",
            "12",
            "1",
            2500.0,
            300.0,
            360.0,
        ),
        (
            "EtherflowConnected",
            json!([{"postcode": "LS1 5HD"}, {"postcode": "EH2 3BU"}]),
            "0.2",
            "60",
            "3",
            0.0,
            24.0,
            28.8,
        ),
        (
            "EtherflowInternet",
            json!([{"postcode": "M1 2AP"}]),
            "10000",
            "36",
            "0",
            750.0,
            3150.0,
            3780.0,
        ),
        (
            "EtherwayGEAFTTP",
            json!([{"id": "R00000010001"}]),
            "330",
            "12",
            "0",
            92.0,
            85.0,
            102.0,
        ),
    ];
    for (product, places, bw, term, band, install, rental, rental_vat) in cases {
        let r = sb.quote(product, places, bw, term).await;
        assert_eq!(r.status, 201, "{product}: {}", r.body);
        assert_eq!(r.body["state"], "approved");
        assert!(r.id().starts_with("EQT"));
        let item = &r.body["quoteItem"][0];
        assert_eq!(characteristic(&item["product"], "distanceBand"), band);
        assert_eq!(item_prices(&r.body), (install, rental), "{product} {bw}");
        let rec = &item["quoteItemPrice"][1];
        assert_eq!(rec["recurringChargePeriod"], "month");
        assert_eq!(rec["price"]["taxIncludedAmount"]["value"], rental_vat);
        assert_eq!(rec["price"]["dutyFreeAmount"]["unit"], "GBP");
        assert_eq!(
            r.body["quoteTotalPrice"][1]["price"]["dutyFreeAmount"]["value"],
            rental
        );
        // Valid for one calendar month on the sandbox clock.
        let start: DateTime<Utc> = r.body["validFor"]["startDateTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let end: DateTime<Utc> = r.body["validFor"]["endDateTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let days = (end - start).num_days();
        assert!((28..=31).contains(&days), "{days}");
    }
    let one = json!([{"postcode": "IP5 3RE"}]);
    sb.quote("EtherwayGEASOGEA", one.clone(), "1000", "12")
        .await
        .rejects("InvalidBandwidth");
    sb.quote("EtherflowInternet", one.clone(), "100", "24")
        .await
        .rejects("InvalidTerm");
    sb.quote("EtherwayCopper", one.clone(), "100", "12")
        .await
        .rejects("UnknownProduct");
    sb.quote(
        "EtherflowInternet",
        json!([{"id": "R99999999999"}]),
        "100",
        "12",
    )
    .await
    .rejects("UnknownNadKey");
    // Two-ended product with one place, and a postcode that is not one → schema.
    let r = sb.quote("EtherwayFibre", one, "100", "12").await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "29"), "{}", r.body);
    let r = sb
        .quote(
            "EtherflowInternet",
            json!([{"postcode": "nowhere"}]),
            "100",
            "12",
        )
        .await;
    assert_eq!(r.code(), "29", "{}", r.body);
    let r = sb.get(&format!("{QUOTE}/EQT999999")).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "60"));
}

#[tokio::test]
async fn quote_list_paginates_with_counts() {
    let sb = sandbox().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let r = sb
            .post(
                QUOTE,
                quote_body(
                    Some(&format!("list-{n}")),
                    "EtherflowInternet",
                    json!([{"postcode": "B1 2HF"}]),
                    "50",
                    "12",
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.id());
    }
    let r = sb.get(&format!("{QUOTE}?offset=1&limit=2")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Total-Count"), "5");
    assert_eq!(r.header("X-Result-Count"), "2");
    let page: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(page, vec![ids[3].as_str(), ids[2].as_str()]);
    let r = sb.get(&format!("{QUOTE}?externalId=list-0")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
    assert_eq!(r.body[0]["id"], ids[0].as_str());
    let r = sb.get(&format!("{QUOTE}?offset=10")).await;
    assert_eq!(
        (r.header("X-Total-Count"), r.header("X-Result-Count")),
        ("5", "0")
    );
    let r = sb.get(&format!("{QUOTE}?limit=0")).await;
    assert_eq!(r.code(), "28");
    let r = sb.get(&format!("{QUOTE}?state=approved")).await;
    assert_eq!(r.header("X-Total-Count"), "5");
}

#[tokio::test]
async fn an_expired_quote_cannot_be_ordered() {
    let mut sb = sandbox().await;
    let q = sb
        .quoted("EtherflowInternet", json!([{"postcode": "IP5 3RE"}]), "100")
        .await;
    sb.order(provide("x-unknown", "EQT999999", None, true))
        .await
        .rejects("QuoteNotFound");
    sb.advance(32.0 * 86_400.0).await;
    let r = sb.get(&format!("{QUOTE}/{q}")).await;
    // TMF648 has no `expired` state: still approved, with its validity in the past.
    assert_eq!(r.body["state"], "approved", "{}", r.body);
    let r = sb.get(&format!("{QUOTE}?state=expired")).await;
    assert_eq!(r.code(), "28");
    sb.order(provide("x-expired", &q, None, true))
        .await
        .rejects("QuoteExpired");
}

#[tokio::test]
async fn qualification_says_where_products_are_available() {
    let sb = sandbox().await;
    let r = sb
        .post(POQ, json!({"place": {"postcode": "ip5 3re"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["qualificationResult"], "qualified");
    let items = r.body["productOfferingQualificationItem"]
        .as_array()
        .unwrap();
    // Every product the sandbox sells, ETH Network included.
    assert_eq!(items.len(), 6);
    assert!(items
        .iter()
        .all(|i| i["qualificationItemResult"] == "qualified"));
    assert_eq!(r.body["place"]["postcode"], "IP5 3RE");

    let r = sb.post(POQ, json!({"place": {"postcode": "G2 5HF"}})).await;
    assert_eq!(r.body["qualificationResult"], "partial");
    let fibre = r.body["productOfferingQualificationItem"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["productOffering"]["id"] == "EtherwayFibre")
        .unwrap()
        .clone();
    assert_eq!(fibre["qualificationItemResult"], "unqualified");
    assert_eq!(
        fibre["eligibilityUnavailabilityReason"][0]["code"],
        "EADOutOfReach"
    );

    let only = |code: &str, place: Value| {
        json!({"place": place, "productOfferingQualificationItem": [
            {"id": "1", "productOffering": {"id": code}}]})
    };
    let r = sb
        .post(POQ, only("EtherwayGEAFTTP", json!({"postcode": "EH2 3BU"})))
        .await;
    assert_eq!(r.body["qualificationResult"], "unqualified");
    assert_eq!(unavailable(&r), "NoFTTPAtExchange");
    let r = sb
        .post(
            POQ,
            only("EtherwayGEASOGEA", json!({"postcode": "BS1 1SE"})),
        )
        .await;
    assert_eq!(unavailable(&r), "NoSOGEAAtExchange");
    // Non-Gold premises: FTTP does not pass them; a Gold neighbour is fine.
    let r = sb
        .post(POQ, only("EtherwayGEAFTTP", json!({"id": "R00000020003"})))
        .await;
    assert_eq!(unavailable(&r), "PremisesNotPassed");
    let r = sb
        .post(POQ, only("EtherwayGEAFTTP", json!({"id": "R00000020001"})))
        .await;
    assert_eq!(r.body["qualificationResult"], "qualified");
    let got = sb.get(&format!("{POQ}/{}", r.id())).await;
    assert_eq!(got.body, r.body);
    sb.post(POQ, only("Nope", json!({"postcode": "BS1 1SE"})))
        .await
        .rejects("UnknownProduct");
    let r = sb.post(POQ, json!({})).await;
    assert_eq!(r.code(), "29");
}

#[tokio::test]
async fn appointment_slots_book_once_and_cancel_frees_them() {
    let sb = sandbox().await;
    let r = sb
        .post(SLOTS, json!({"relatedPlace": {"postcode": "M1 2AP"}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let slots = r.body["availableTimeSlot"].as_array().unwrap().clone();
    assert_eq!(slots.len(), 20);
    let now = Utc::now();
    for s in &slots {
        let start: DateTime<Utc> = s["validFor"]["startDateTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let end: DateTime<Utc> = s["validFor"]["endDateTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let local = start.with_timezone(&chrono_tz::Europe::London);
        assert!(
            !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
            "{s}"
        );
        assert!(
            local.format("%H:%M").to_string() == "08:00"
                || local.format("%H:%M").to_string() == "13:00"
        );
        assert_eq!((end - start).num_hours(), 5);
        assert!(
            start > now + chrono::Duration::days(2),
            "starts a few working days ahead"
        );
    }
    let (start, end) = (
        slots[1]["validFor"]["startDateTime"].as_str().unwrap(),
        slots[1]["validFor"]["endDateTime"].as_str().unwrap(),
    );
    let booked = sb.book("M1 2AP", start, end).await;
    assert_eq!(booked.status, 201, "{}", booked.body);
    assert_eq!(booked.body["status"], "confirmed");
    let id = booked.id();
    assert!(id.starts_with("APT"));
    sb.book("M1 2AP", start, end)
        .await
        .rejects("SlotUnavailable");
    // Another postcode has its own engineers.
    assert_eq!(sb.book("LS1 5HD", start, end).await.status, 201);
    // The search no longer offers the booked slot.
    let r = sb
        .post(SLOTS, json!({"relatedPlace": {"postcode": "M1 2AP"}}))
        .await;
    let offered = r.body["availableTimeSlot"].as_array().unwrap();
    assert_eq!(offered.len(), 19);
    assert!(offered
        .iter()
        .all(|s| s["validFor"]["startDateTime"] != start));
    // In the past, and not a slot at all.
    let start_t: DateTime<Utc> = start.parse().unwrap();
    let past = start_t - chrono::Duration::days(28);
    sb.book(
        "M1 2AP",
        &past.to_rfc3339(),
        &(past + chrono::Duration::hours(5)).to_rfc3339(),
    )
    .await
    .rejects("SlotUnavailable");
    let odd = start_t + chrono::Duration::minutes(30);
    sb.book(
        "M1 2AP",
        &odd.to_rfc3339(),
        &(odd + chrono::Duration::hours(5)).to_rfc3339(),
    )
    .await
    .rejects("SlotUnavailable");
    // Cancel frees the slot.
    let r = sb
        .patch(
            &format!("{APPOINTMENT}/{id}"),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(
        sb.get(&format!("{APPOINTMENT}/{id}")).await.body["status"],
        "cancelled"
    );
    sb.patch(
        &format!("{APPOINTMENT}/{id}"),
        json!({"status": "cancelled"}),
    )
    .await
    .rejects("AppointmentNotCancellable");
    let again = sb.book("M1 2AP", start, end).await;
    assert_eq!(again.status, 201, "{}", again.body);
    let r = sb
        .patch(
            &format!("{APPOINTMENT}/{}", again.id()),
            json!({"status": "completed"}),
        )
        .await;
    assert_eq!(r.code(), "29");
    assert_eq!(
        sb.get(&format!("{APPOINTMENT}/APT999999")).await.code(),
        "60"
    );
}

#[tokio::test]
async fn gea_orders_need_a_confirmed_appointment() {
    let mut sb = sandbox().await;
    let q = sb
        .quoted("EtherwayGEASOGEA", json!([{"id": "R00000050001"}]), "80")
        .await;
    sb.order(provide("gea-1", &q, None, true))
        .await
        .rejects("AppointmentRequired");
    sb.order(provide("gea-1", &q, Some("APT999999"), true))
        .await
        .rejects("AppointmentNotFound");
    let (start, end) = sb.free_slot("M1 2AP").await;
    let elsewhere = sb.book("M1 2AP", &start, &end).await.id();
    sb.order(provide("gea-1", &q, Some(&elsewhere), true))
        .await
        .rejects("AppointmentMismatch");
    let appt = sb.book("LS1 5HD", &start, &end).await.id();
    let r = sb.order(provide("gea-1", &q, Some(&appt), true)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["state"], "acknowledged");
    assert_eq!(
        r.body["productOrderItem"][0]["appointment"]["id"],
        appt.as_str()
    );
    let order = r.id();
    // Held by an open order: cancel the order, not the appointment.
    sb.patch(
        &format!("{APPOINTMENT}/{appt}"),
        json!({"status": "cancelled"}),
    )
    .await
    .rejects("AppointmentInUse");
    // Live only once the engineer's slot has passed (see sandbox_ethernet_docs.rs).
    let now: DateTime<Utc> = sb.admin(Method::GET, "/__sandbox/clock", None).await.body["now"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let visit_end: DateTime<Utc> = end.parse().unwrap();
    sb.advance((visit_end - now).num_seconds() as f64 + ALL_STEPS)
        .await;
    let r = sb.get(&format!("{ORDER}/{order}")).await;
    assert_eq!(r.body["state"], "completed", "{}", r.body);
    assert_eq!(
        sb.get(&format!("{APPOINTMENT}/{appt}")).await.body["status"],
        "completed"
    );
}

#[tokio::test]
async fn orders_at_unavailable_places_are_refused() {
    let sb = sandbox().await;
    let q = sb
        .quoted(
            "EtherwayFibre",
            json!([{"postcode": "LS1 5HD"}, {"postcode": "G2 5HF"}]),
            "1000",
        )
        .await;
    sb.order(provide("un-1", &q, None, true))
        .await
        .rejects("ProductUnavailable");
    let q = sb
        .quoted("EtherwayGEAFTTP", json!([{"postcode": "EH2 3BU"}]), "80")
        .await;
    sb.order(provide("un-2", &q, None, true))
        .await
        .rejects("ProductUnavailable");
}

#[tokio::test]
async fn provide_modify_and_cease() {
    let mut sb = sandbox().await;
    let q = sb
        .quoted(
            "EtherwayFibre",
            json!([{"role": "aEnd", "postcode": "IP5 3RE"}, {"role": "bEnd", "id": "R00000040001"}]),
            "1000",
        )
        .await;
    let r = sb.order(provide("prov-1", &q, None, true)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.id();
    assert!(id.starts_with("EOR"));
    assert_eq!(r.body["@type"], "ProductOrder");
    assert_eq!(r.body["externalId"], "prov-1");
    assert_eq!(r.body["openActions"], json!([]));
    assert_eq!(
        sb.get(&format!("{QUOTE}/{q}")).await.body["state"],
        "accepted"
    );
    sb.order(provide("prov-2", &q, None, true))
        .await
        .rejects("QuoteAlreadyOrdered");
    sb.order(provide("prov-1", &q, None, true))
        .await
        .rejects("DuplicateExternalId");
    sb.advance(3.0).await;
    let r = sb.get(&format!("{ORDER}/{id}")).await;
    assert_eq!(r.body["state"], "inProgress");
    assert_eq!(milestones(&r.body), vec!["orderAccepted"]);
    sb.advance(ALL_STEPS).await;
    let r = sb.get(&format!("{ORDER}/{id}")).await;
    assert_eq!(r.body["state"], "completed");
    assert_eq!(
        milestones(&r.body),
        vec![
            "orderAccepted",
            "surveyComplete",
            "installationScheduled",
            "serviceLive"
        ]
    );
    assert!(r.body["completionDate"].is_string());
    let service = r.body["productOrderItem"][0]["product"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(service.starts_with("ETH"));
    let s = sb.get(&format!("{INVENTORY}/{service}")).await;
    assert_eq!(s.body["status"], "active");
    assert_eq!(characteristic(&s.body, "bandwidth"), "1000");

    // Modify the bandwidth.
    sb.order(change("modify", &service, Some("0.2")))
        .await
        .rejects("InvalidBandwidth");
    let m = sb.order(change("modify", &service, Some("10000"))).await;
    assert_eq!(m.status, 201, "{}", m.body);
    assert_eq!(m.body["productOrderItem"][0]["action"], "modify");
    sb.order(change("delete", &service, None))
        .await
        .rejects("ServiceHasOpenOrder");
    sb.advance(ALL_STEPS).await;
    let r = sb.get(&format!("{ORDER}/{}", m.id())).await;
    assert_eq!(r.body["state"], "completed");
    assert_eq!(
        milestones(&r.body),
        vec!["orderAccepted", "serviceModified"]
    );
    let s = sb.get(&format!("{INVENTORY}/{service}")).await;
    assert_eq!(characteristic(&s.body, "bandwidth"), "10000");

    // Cease, then nothing more can change.
    let c = sb.order(change("delete", &service, None)).await;
    assert_eq!(c.status, 201, "{}", c.body);
    sb.advance(ALL_STEPS).await;
    let r = sb.get(&format!("{ORDER}/{}", c.id())).await;
    assert_eq!(r.body["state"], "completed");
    assert_eq!(milestones(&r.body), vec!["orderAccepted", "serviceCeased"]);
    let s = sb.get(&format!("{INVENTORY}/{service}")).await;
    assert_eq!(s.body["status"], "terminated");
    assert!(s.body["terminationDate"].is_string());
    sb.order(change("modify", &service, Some("100")))
        .await
        .rejects("ServiceCeased");
    sb.order(change("delete", &service, None))
        .await
        .rejects("ServiceCeased");
    sb.order(change("modify", "ETH999999", Some("100")))
        .await
        .rejects("ServiceNotFound");
    let r = sb.get(&format!("{INVENTORY}?status=terminated")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
}

#[tokio::test]
async fn amend_in_flight_but_not_after_completion() {
    let mut sb = sandbox().await;
    let q = sb
        .quoted(
            "EtherflowConnected",
            json!([{"postcode": "EC1A 7AJ"}, {"postcode": "E1 8EE"}]),
            "100",
        )
        .await;
    // No site contact: an open action holds the order after orderAccepted.
    let r = sb.order(provide("amend-1", &q, None, false)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.id();
    assert_eq!(r.body["openActions"][0]["action"], "confirmSiteContact");
    sb.advance(ALL_STEPS).await;
    let r = sb.get(&format!("{ORDER}/{id}")).await;
    assert_eq!(r.body["state"], "inProgress");
    assert_eq!(milestones(&r.body), vec!["orderAccepted"]);
    let r = sb.get(&format!("{ORDER}?hasOpenActions=true")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
    assert_eq!(r.body[0]["id"], id.as_str());

    // Amend: new bandwidth and the site contact.
    sb.patch(
        &format!("{ORDER}/{id}"),
        json!({"productOrderItem": [{"id": "1", "product": {"productCharacteristic": [
            {"name": "bandwidth", "value": "3"}]}}]}),
    )
    .await
    .rejects("InvalidBandwidth");
    let r = sb
        .patch(
            &format!("{ORDER}/{id}"),
            json!({
                "relatedParty": [{"role": "siteContact", "name": "Bo", "phone": "07700900456"}],
                "productOrderItem": [{"id": "1", "product": {"productCharacteristic": [
                    {"name": "bandwidth", "value": "500"}]}}],
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["openActions"], json!([]));
    assert_eq!(
        characteristic(&r.body["productOrderItem"][0]["product"], "bandwidth"),
        "500"
    );
    assert_eq!(r.body["relatedParty"][0]["name"], "Bo");
    let r = sb.patch(&format!("{ORDER}/{id}"), json!({})).await;
    assert_eq!(r.code(), "29");
    sb.advance(ALL_STEPS).await;
    let r = sb.get(&format!("{ORDER}/{id}")).await;
    assert_eq!(r.body["state"], "completed", "{}", r.body);
    let service = r.body["productOrderItem"][0]["product"]["id"]
        .as_str()
        .unwrap();
    let s = sb.get(&format!("{INVENTORY}/{service}")).await;
    assert_eq!(characteristic(&s.body, "bandwidth"), "500");
    sb.patch(
        &format!("{ORDER}/{id}"),
        json!({"relatedParty": [{"role": "siteContact", "name": "Cy"}]}),
    )
    .await
    .rejects("OrderNotAmendable");
    assert_eq!(
        sb.patch(&format!("{ORDER}/EOR999999"), json!({"relatedParty": []}))
            .await
            .code(),
        "60"
    );
}

#[tokio::test]
async fn cancel_frees_the_quote_and_appointment() {
    let sb = sandbox().await;
    let q = sb
        .quoted("EtherwayGEAFTTP", json!([{"postcode": "B1 2HF"}]), "160")
        .await;
    let (start, end) = sb.free_slot("B1 2HF").await;
    let appt = sb.book("B1 2HF", &start, &end).await.id();
    let id = sb.order(provide("can-1", &q, Some(&appt), true)).await.id();
    let r = sb.post(CANCEL, json!({"productOrder": {"id": id}})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A TMF622 cancel request of its own (see sandbox_ethernet_docs.rs).
    assert_eq!(r.body["state"], "done");
    assert_eq!(r.body["productOrder"]["id"], json!(id));
    assert_eq!(
        sb.get(&format!("{ORDER}/{id}")).await.body["state"],
        "cancelled"
    );
    assert_eq!(
        sb.get(&format!("{APPOINTMENT}/{appt}")).await.body["status"],
        "cancelled"
    );
    sb.post(CANCEL, json!({"productOrder": {"id": id}}))
        .await
        .rejects("OrderNotCancellable");
    assert_eq!(
        sb.post(CANCEL, json!({"productOrder": {"id": "EOR999999"}}))
            .await
            .code(),
        "60"
    );
    // The quote item and the slot can be used again.
    let appt = sb.book("B1 2HF", &start, &end).await.id();
    let r = sb.order(provide("can-2", &q, Some(&appt), true)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn tracking_filters_and_pagination() {
    let mut sb = sandbox().await;
    let service = sb.live_service("track-0").await;
    // One held by an open action, one that fails, one modify in progress.
    let q = sb
        .quoted(
            "EtherwayFibre",
            json!([{"postcode": "BS1 1SE"}, {"postcode": "B1 2HF"}]),
            "100",
        )
        .await;
    let held = sb.order(provide("track-1", &q, None, false)).await.id();
    let q = sb
        .quoted("EtherflowInternet", json!([{"postcode": "M1 2AP"}]), "20")
        .await;
    let failing = sb.order(provide("fail-track-2", &q, None, true)).await.id();
    sb.advance(5.0).await;
    let modify = sb.order(change("modify", &service, Some("200"))).await.id();

    let r = sb.get(ORDER).await;
    assert_eq!(r.header("X-Total-Count"), "4");
    assert_eq!(r.body[0]["id"], modify.as_str(), "newest first");
    let r = sb.get(&format!("{ORDER}?limit=2&offset=1")).await;
    assert_eq!(
        (r.header("X-Total-Count"), r.header("X-Result-Count")),
        ("4", "2")
    );
    assert_eq!(r.body[0]["id"], failing.as_str());

    let r = sb.get(&format!("{ORDER}/{failing}")).await;
    assert_eq!(r.body["state"], "failed", "{}", r.body);
    let r = sb.get(&format!("{ORDER}?state=failed")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
    let r = sb.get(&format!("{ORDER}?state=completed")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
    assert_eq!(r.body[0]["externalId"], "track-0");
    let r = sb.get(&format!("{ORDER}?state=acknowledged")).await;
    assert_eq!(r.body[0]["id"], modify.as_str());
    let r = sb.get(&format!("{ORDER}?externalId=track-1")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
    assert_eq!(r.body[0]["id"], held.as_str());
    let r = sb.get(&format!("{ORDER}?id={held}")).await;
    assert_eq!(r.header("X-Result-Count"), "1");
    let r = sb.get(&format!("{ORDER}?milestone=serviceLive")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
    let r = sb.get(&format!("{ORDER}?milestone=orderAccepted")).await;
    assert_eq!(r.header("X-Total-Count"), "3");
    let r = sb.get(&format!("{ORDER}?hasOpenActions=true")).await;
    assert_eq!(r.header("X-Total-Count"), "1");
    assert_eq!(r.body[0]["id"], held.as_str());
    let r = sb
        .get(&format!("{ORDER}?hasOpenActions=false&state=inProgress"))
        .await;
    assert_eq!(r.header("X-Total-Count"), "0");
    let r = sb.get(&format!("{ORDER}?hasOpenActions=maybe")).await;
    assert_eq!(r.code(), "28");
    let r = sb.get(&format!("{ORDER}?state=sleeping")).await;
    assert_eq!(r.code(), "28");
    assert_eq!(sb.get(&format!("{ORDER}/EOR999999")).await.code(), "60");
}

/// A callback receiver on port 0 that keeps every event body it is sent.
async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::{extract::State, routing::post, Json, Router};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;
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
    (url, seen)
}

#[tokio::test]
async fn order_changes_are_notified() {
    let mut sb = sandbox().await;
    let (url, seen) = receiver().await;
    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/callback",
            Some(json!({"url": url, "username": "bt", "password": "pw"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let service = sb.live_service("note-1").await;
    let c = sb.order(change("delete", &service, None)).await.id();
    sb.post(CANCEL, json!({"productOrder": {"id": c}})).await;
    let wanted = [
        "orderAcknowledged",
        "orderInProgress",
        "orderMilestone",
        "orderMilestone",
        "orderMilestone",
        "orderMilestone",
        "orderLineComplete",
        "orderComplete",
        "orderAcknowledged",
        "orderCancelled",
    ];
    let mut types = Vec::new();
    for _ in 0..100 {
        types = seen
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["eventType"].as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>();
        if types.len() >= wanted.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(types, wanted);
    let events = seen.lock().unwrap().clone();
    assert_eq!(events[7]["event"]["productOrder"]["state"], "completed");
    assert_eq!(events[7]["event"]["productOrder"]["externalId"], "note-1");
    assert_eq!(events[9]["event"]["productOrder"]["id"], c.as_str());
}
