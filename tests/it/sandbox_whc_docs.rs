//! The sandbox against BT's WHC documents, over HTTP: the rules CONTRACT.md quotes from the WHC
//! Provide Order User Guide and BT_API.md (reservations, states, numbers, `fields`, ringfence by
//! location, the qualification's shape, ported-number allocation, order outcomes, user limit).

use crate::raw::{sandbox_with, Reply, Sb};
use btw_sandbox::SandboxConfig;
use serde_json::{json, Value};

const CUG: &str = "CUG5019851064";
const ACME: &str = "WHHCBTWKN1000";
const VERIFY: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers/CUG5019851064";
const QUALIFY: &str = "/bt-wholesale/v1/whc/productOfferingQualification";
const RINGFENCE: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
const NUMBERS: &str = "/v1/resourceManagement/directoryNumbers";
const ORDER: &str = "/bt-wholesale/v1/order";
const IMPORT: &str = "/bt-wholesale/v1/order/numberImportOrder";
const ETH_ORDERS: &str = "/tmf-api/productOrderingManagement/v4/productOrder";

async fn sandbox() -> Sb {
    sandbox_with(SandboxConfig {
        order_step_secs: 1.0,
        lcp_decision_secs: 30.0,
        ..SandboxConfig::default()
    })
    .await
}

fn qualify_body(name: &str, domain: &str) -> Value {
    json!({
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOfferingQualificationItem": [{
            "id": "1",
            "productOffering": {"id": "WHCCompany"},
            "product": {"productCharacteristic": [
                {"name": "customerName", "value": name},
                {"name": "customerDomain", "value": domain},
                {"name": "customerGroup", "value": "SWAINsTelecom"},
            ]}
        }]
    })
}

fn ringfence_body(svc: &str, qid: &str, number_string: &str) -> Value {
    json!({
        "customer": {"id": CUG, "type": "BUSINESS"},
        "numbers": {"quantity": 1, "characteristics": {"numberString": number_string}},
        "product": {"name": "WHC"},
        "action": "RingFence",
        "ringFenceId": svc,
        "qualifierId": qid,
    })
}

/// A company-only provide order for a qualification.
fn company_order(external_id: &str, name: &str, domain: &str, svc: &str, qid: &str) -> Value {
    let chars = |pairs: &[(&str, &str)]| -> Value {
        pairs
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect()
    };
    json!({
        "externalId": external_id,
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOrderItem": [{"id": "1", "action": "add", "productOffering": {"id": "WHCCompany"},
            "product": {"productCharacteristic": chars(&[("customerName", name),
                ("customerDomain", domain), ("customerGroup", "SWAINsTelecom"),
                ("serviceId", svc), ("qualifierId", qid)])}}],
    })
}

/// Named apart from the other contract tests' helpers on the same `Sb`.
impl Sb {
    async fn doc_qualify(&self, name: &str, domain: &str) -> Reply {
        self.post(QUALIFY, qualify_body(name, domain)).await
    }

    /// Qualifies a free name: (qualifier id, service id).
    async fn doc_qualified(&self, name: &str, domain: &str) -> (String, String) {
        let r = self.doc_qualify(name, domain).await;
        let item = &r.body["productOfferingQualificationItem"][0];
        assert_eq!(item["qualificationItemResult"], "Qualified", "{}", r.body);
        let svc = item["product"]["serviceId"]["value"].as_str().unwrap();
        (r.id(), svc.to_string())
    }

    /// Qualifies, orders and submits a company: (service id, order id).
    async fn doc_ordered(&self, external_id: &str, name: &str, domain: &str) -> (String, String) {
        let (qid, svc) = self.doc_qualified(name, domain).await;
        let r = self
            .post(
                &format!("{ORDER}/productOrder"),
                company_order(external_id, name, domain, &svc, &qid),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.id();
        let r = self
            .post(
                &format!("{ORDER}/submit-product-order"),
                json!({"productOrder": {"id": id}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        (svc, id)
    }

    async fn doc_order_state(&self, id: &str) -> String {
        let r = self.get(&format!("{ORDER}/productOrder/{id}")).await;
        r.s("state").to_string()
    }
}

fn reasons(r: &Reply) -> Vec<String> {
    r.body["productOfferingQualificationItem"][0]["eligibilityUnavailabilityReason"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_qualification_reserves_name_and_domain_until_it_expires() {
    let mut sb = sandbox().await;
    let (qid, _) = sb.doc_qualified("Reserved Ltd", "reserved.co.uk").await;

    let r = sb.doc_qualify("reserved ltd", "other.co.uk").await;
    assert_eq!(r.body["qualificationResult"], "unqualified", "{}", r.body);
    assert_eq!(reasons(&r), ["CompanyNameReserved"]);
    let r = sb.doc_qualify("Other Ltd", "RESERVED.co.uk").await;
    assert_eq!(reasons(&r), ["CompanyDomainReserved"]);

    // Verify data reports the reservation.
    let r = sb
        .get(&format!("{VERIFY}/company?companyName=Reserved%20Ltd"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.s("status"), "reserved");
    assert_eq!(r.s("qualifierId"), qid);
    let r = sb
        .get(&format!("{VERIFY}/companyDomain?value=reserved.co.uk"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.s("status"), "reserved");

    // The next UK day the qualification has lapsed, and with it the reservation.
    sb.advance(86_400.0).await;
    let r = sb
        .get(&format!("{VERIFY}/company?companyName=Reserved%20Ltd"))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    sb.doc_qualified("Reserved Ltd", "reserved.co.uk").await;
}

#[tokio::test]
async fn the_qualification_has_the_guides_shape() {
    let sb = sandbox().await;
    let r = sb.doc_qualify("Shape Ltd", "shape.co.uk").await;
    let item = &r.body["productOfferingQualificationItem"][0];
    let chars = item["product"]["productCharacteristic"].as_array().unwrap();
    assert!(
        chars.contains(&json!({"name": "networkType", "value": "BT"})),
        "{chars:?}"
    );
    assert_eq!(item["productOfferingQualificationItem"], json!([]));
    assert_eq!(item["productOffering"]["name"], "WHC Hosted Communications");
}

#[tokio::test]
async fn order_lists_accept_every_tmf622_state() {
    let sb = sandbox().await;
    for state in [
        "acknowledged",
        "rejected",
        "pending",
        "held",
        "inProgress",
        "cancelled",
        "completed",
        "failed",
        "partial",
        "assessingCancellation",
        "pendingCancellation",
    ] {
        for path in [format!("{ORDER}/productOrder"), ETH_ORDERS.to_string()] {
            let r = sb.get(&format!("{path}?state={state}")).await;
            assert_eq!(r.status, 200, "{path} {state}: {}", r.body);
            assert!(r.body.is_array());
        }
    }
    let r = sb.get(&format!("{ORDER}/productOrder?state=expired")).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "28"));
    let r = sb.get(&format!("{ETH_ORDERS}?state=expired")).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "28"));
}

#[tokio::test]
async fn available_numbers_are_only_those_free_to_use() {
    let sb = sandbox().await;
    // Acme's 02079460000 belongs to John Smith; 02079460001..0009 are free to use.
    let r = sb
        .get(&format!("{NUMBERS}?companyServiceId={ACME}&limit=100"))
        .await;
    let numbers: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number"].as_str().unwrap())
        .collect();
    assert!(!numbers.contains(&"02079460000"), "{numbers:?}");
    assert!(numbers.contains(&"02079460001"), "{numbers:?}");
    assert_eq!(r.header("x-total-count"), "9");
}

#[tokio::test]
async fn list_endpoints_honour_fields() {
    let sb = sandbox().await;
    let r = sb
        .get(&format!(
            "{NUMBERS}?cugId={CUG}&fields=number,status&limit=2"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for n in r.body.as_array().unwrap() {
        let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["number", "status"], "{n}");
    }
    assert_eq!(r.header("x-result-count"), "2");
    sb.doc_ordered("fields-1", "Fields Ltd", "fields.co.uk")
        .await;
    let r = sb.get(&format!("{ORDER}/productOrder?fields=state")).await;
    let first = r.body[0].as_object().unwrap();
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.contains_key("id") && first.contains_key("state"));
}

#[tokio::test]
async fn ringfence_by_location_and_only_for_whc_business_customers() {
    let sb = sandbox().await;
    let (qid, svc) = sb.doc_qualified("Place Ltd", "place.co.uk").await;
    let r = sb
        .post(RINGFENCE, ringfence_body(&svc, &qid, "Manchester"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let start = r.body["numberRange"]["startNumber"].as_str().unwrap();
    assert!(start.starts_with("0161"), "{start}");

    let mut body = ringfence_body(&svc, &qid, "0121");
    body["customer"]["type"] = json!("RESIDENTIAL");
    let r = sb.post(RINGFENCE, body).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "29"), "{}", r.body);
    assert!(r.body.to_string().contains("customer.type"));
    let mut body = ringfence_body(&svc, &qid, "0121");
    body["product"]["name"] = json!("Broadband");
    let r = sb.post(RINGFENCE, body).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "29"), "{}", r.body);
    assert!(r.body.to_string().contains("product.name"));
    let r = sb
        .post(RINGFENCE, ringfence_body(&svc, &qid, "Atlantis"))
        .await;
    r.rejects("UnknownAreaCode");
}

#[tokio::test]
async fn ported_numbers_go_only_to_a_provided_company() {
    let mut sb = sandbox().await;
    let r = sb
        .get(&format!(
            "{IMPORT}/earliestPortDate?importType=SingleLine&numbers=01914980100"
        ))
        .await;
    let date = r.s("earliestPortDate").to_string();
    let r = sb
        .post(
            IMPORT,
            json!({
                "externalId": "alloc-1",
                "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
                "importType": "SingleLine",
                "numbers": ["01914980100"],
                "portDate": date,
                "installationPostcode": "NE1 4ST",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let port = r.id();
    sb.advance(31.0).await;
    let allocate = |company: String| {
        json!({
            "customer": {"id": CUG, "type": "BUSINESS"},
            "numbers": {"characteristics": {"portOrderId": port}},
            "product": {"name": "WHC"},
            "action": "RingFence",
            "ringFenceId": company,
        })
    };
    // Only qualified: refused, with what to do.
    let (_, qualified_only) = sb.doc_qualified("Not Yet Ltd", "notyet.co.uk").await;
    let r = sb.post(RINGFENCE, allocate(qualified_only)).await;
    r.rejects("UnknownCompany");
    assert!(
        r.message().contains("order the company first"),
        "{}",
        r.body
    );
    // Ordered: accepted.
    let (svc, _) = sb
        .doc_ordered("alloc-co", "Ported Ltd", "ported.co.uk")
        .await;
    let r = sb.post(RINGFENCE, allocate(svc)).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Polls the order until it reaches `want`, advancing the sandbox clock a step at a time.
async fn settle(sb: &mut Sb, id: &str, want: &str) {
    for _ in 0..10 {
        if sb.doc_order_state(id).await == want {
            return;
        }
        sb.advance(1.0).await;
    }
    assert_eq!(sb.doc_order_state(id).await, want);
}

#[tokio::test]
async fn whc_orders_can_end_rejected_or_failed_with_notifications() {
    let mut sb = sandbox().await;
    let mut events = sb.handle.state().subscribe();
    let (_, rejected) = sb
        .doc_ordered("reject-1", "Rejected Ltd", "rejected.co.uk")
        .await;
    let (_, failed) = sb.doc_ordered("fail-1", "Failed Ltd", "failed.co.uk").await;
    settle(&mut sb, &rejected, "rejected").await;
    settle(&mut sb, &failed, "failed").await;
    let r = sb
        .get(&format!("{ORDER}/productOrder?state=rejected"))
        .await;
    assert_eq!(r.body[0]["id"], json!(rejected));
    assert_eq!(r.body[0]["productOrderItem"][0]["state"], "rejected");
    let r = sb.get(&format!("{ORDER}/productOrder?state=failed")).await;
    assert_eq!(r.body[0]["id"], json!(failed));
    // The failed order created no company: its live qualification holds the name again.
    let r = sb
        .get(&format!("{VERIFY}/company?companyName=Failed%20Ltd"))
        .await;
    assert_eq!(r.s("status"), "reserved", "{}", r.body);
    let mut seen = Vec::new();
    while let Ok(t) = events.try_recv() {
        seen.push((t.order_id, t.to.as_str().to_string()));
    }
    assert!(
        seen.contains(&(rejected.clone(), "rejected".to_string())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(failed.clone(), "failed".to_string())),
        "{seen:?}"
    );
}

#[tokio::test]
async fn at_most_three_users_per_order() {
    let sb = sandbox().await;
    let (qid, svc) = sb.doc_qualified("Many Ltd", "many.co.uk").await;
    let mut body = company_order("many-1", "Many Ltd", "many.co.uk", &svc, &qid);
    let items = body["productOrderItem"].as_array_mut().unwrap();
    for n in 0..4 {
        items.push(
            json!({"id": format!("u{n}"), "action": "add", "productOffering": {"id": "WHCUser"},
            "product": {"productCharacteristic": [
                {"name": "firstName", "value": "A"}, {"name": "lastName", "value": format!("U{n}")},
                {"name": "username", "value": format!("u{n}@many.co.uk")}]}}),
        );
    }
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    r.rejects("TooManyUsers");
}
