//! Contract tests for the embedded BT sandbox: each starts its own sandbox on port 0 and talks
//! to it over real HTTP, checking the shapes, codes and rules of `crates/btw-sandbox/CONTRACT.md`.

use crate::raw::{fetch, sandbox_with, Reply, Sb, BASIC, TOKEN};
use btw_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{json, Value};

const CUG: &str = "CUG5019851064";
const VERIFY: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers/CUG5019851064";
const QUALIFY: &str = "/bt-wholesale/v1/whc/productOfferingQualification";
const RINGFENCE: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
const ADDRESS: &str = "/common/geographicAddressManagement/v1/geographicAddress";
const ORDER: &str = "/bt-wholesale/v1/order";

async fn sandbox() -> Sb {
    sandbox_with(SandboxConfig::default()).await
}

impl Sb {
    async fn qualify(&self, name: &str, domain: &str) -> Reply {
        self.post(QUALIFY, qualify_body(name, domain, "SWAINsTelecom"))
            .await
    }

    /// Qualifies a fresh company and returns (qualifier id, service id).
    async fn qualified(&self, name: &str, domain: &str) -> (String, String) {
        let r = self.qualify(name, domain).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let item = &r.body["productOfferingQualificationItem"][0];
        (
            r.body["id"].as_str().unwrap().to_string(),
            item["product"]["serviceId"]["value"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    async fn ringfence(&self, svc: &str, qid: &str, area: &str, quantity: u64) -> Reply {
        self.post(RINGFENCE, ringfence_body(svc, qid, area, quantity))
            .await
    }

    /// Qualifies, ringfences `quantity` numbers in 0121 and returns (qid, svc, start, end).
    async fn company_with_numbers(
        &self,
        name: &str,
        domain: &str,
        quantity: u64,
    ) -> (String, String, String, String) {
        let (qid, svc) = self.qualified(name, domain).await;
        let r = self.ringfence(&svc, &qid, "0121", quantity).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let range = &r.body["numberRange"];
        (
            qid,
            svc,
            range["startNumber"].as_str().unwrap().to_string(),
            range["endNumber"].as_str().unwrap().to_string(),
        )
    }

    /// A fresh company with `quantity` numbers and the body of its new-company order (site at
    /// `nad`, `users` users), not yet placed.
    async fn new_company_order(
        &self,
        external_id: &str,
        name: &str,
        domain: &str,
        quantity: u64,
        nad: &str,
        users: usize,
    ) -> Value {
        let (qid, svc, start, end) = self.company_with_numbers(name, domain, quantity).await;
        order_body(
            external_id,
            name,
            domain,
            &svc,
            &qid,
            nad,
            (&start, &end),
            users,
        )
    }
}

fn qualify_body(name: &str, domain: &str, group: &str) -> Value {
    json!({
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOfferingQualificationItem": [{
            "id": "1",
            "productOffering": {"id": "WHCCompany"},
            "product": {"productCharacteristic": [
                {"name": "customerName", "value": name},
                {"name": "customerDomain", "value": domain},
                {"name": "customerGroup", "value": group},
            ]}
        }]
    })
}

fn ringfence_body(svc: &str, qid: &str, area: &str, quantity: u64) -> Value {
    json!({
        "customer": {"id": CUG, "type": "BUSINESS"},
        "numbers": {"quantity": quantity, "characteristics": {"numberString": area}},
        "product": {"name": "WHC"},
        "action": "RingFence",
        "ringFenceId": svc,
        "qualifierId": qid,
    })
}

fn chars(pairs: &[(&str, &str)]) -> Value {
    json!({"productCharacteristic": pairs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>()})
}

fn user_item(id: &str, n: usize, domain: &str, number: &str) -> Value {
    json!({"id": id, "action": "add", "productOffering": {"id": "WHCUser"},
    "product": chars(&[
        ("firstName", "Test"), ("lastName", &format!("User{n}")),
        ("username", &format!("user{n}@{domain}")), ("extension", &format!("{}", 3000 + n)),
        ("email", &format!("user{n}@{domain}")), ("directoryNumber", number),
        ("licence", "Professional"), ("deviceName", &format!("{domain}-PHONE-{n}")),
        ("macAddress", &format!("02:00:00:00:{:02x}:{:02x}", domain.len(), n)),
    ])})
}

/// A new-company order: company, one site at `nad`, one number block, `users` users.
#[allow(clippy::too_many_arguments)]
fn order_body(
    external_id: &str,
    name: &str,
    domain: &str,
    svc: &str,
    qid: &str,
    nad: &str,
    (start, end): (&str, &str),
    users: usize,
) -> Value {
    let mut items = vec![
        json!({"id": "1", "action": "add", "productOffering": {"id": "WHCCompany"},
            "product": chars(&[("customerName", name), ("customerDomain", domain),
                ("customerGroup", "SWAINsTelecom"), ("serviceId", svc), ("qualifierId", qid)])}),
        json!({"id": "2", "action": "add", "productOffering": {"id": "WHCSite"},
            "relatedPlace": [{"id": nad, "role": "installationAddress", "@referredType": "GeographicAddress"}],
            "product": chars(&[("siteName", &format!("{name} HQ")), ("siteLocationCode", &format!("{}01", &svc[svc.len()-4..]))])}),
        json!({"id": "3", "action": "add", "productOffering": {"id": "WHCNumberBlock"},
            "product": chars(&[("startNumber", start), ("endNumber", end)])}),
    ];
    for n in 0..users {
        items.push(user_item(&format!("{}", 4 + n), n, domain, start));
    }
    let mut body = json!({
        "externalId": external_id,
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOrderItem": items,
    });
    if external_id.is_empty() {
        body.as_object_mut().unwrap().remove("externalId");
    }
    body
}

#[tokio::test]
async fn token_endpoint() {
    let sb = sandbox().await;
    assert_eq!(sb.token.len(), 28);
    assert!(sb.token.chars().all(|c| c.is_ascii_alphanumeric()));

    let r = fetch(sb.raw(Method::GET, TOKEN).header("Authorization", BASIC)).await;
    assert_eq!(r.body["tokenType"], "BearerToken");
    assert_eq!(r.body["expiresIn"], 899);

    let r = fetch(sb.raw(Method::GET, TOKEN)).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "40"));

    let r = fetch(
        sb.raw(Method::GET, "/oauth/accesstoken")
            .header("Authorization", BASIC),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "27"));
    let r = fetch(
        sb.raw(Method::GET, "/oauth/accesstoken?grant_type=password")
            .header("Authorization", BASIC),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "28"));

    // With configured credentials only that pair gets a token.
    let cfg = SandboxConfig {
        credentials: Some(("key".into(), "secret".into())),
        token_ttl_secs: 60,
        ..SandboxConfig::default()
    };
    assert!(!format!("{cfg:?}").contains("secret\""));
    let sb2 = sandbox_with(cfg).await; // fetches with key:secret
    let r = fetch(sb2.raw(Method::GET, TOKEN).basic_auth("key", Some("wrong"))).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "41"));
    let r = sb2.get(VERIFY).await;
    assert_eq!(r.status, 200);
    sb.handle.shutdown().await;
    sb2.handle.shutdown().await;
}

#[tokio::test]
async fn gateway_rules() {
    let sb = sandbox().await;
    // Missing tracking header.
    let r = fetch(sb.raw(Method::GET, VERIFY).bearer_auth(&sb.token)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"code":"25","reason":"Missing header","message":"Missing header: APIGW-Tracking-Header"})
    );
    // Invalid tracking header.
    let r = fetch(
        sb.raw(Method::GET, VERIFY)
            .header("APIGW-Tracking-Header", "has spaces in it")
            .bearer_auth(&sb.token),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "26"));
    // Forced errors, before auth.
    for (value, status, code) in [
        ("E02901", 400, "29"),
        ("E06001", 404, "60"),
        ("E00101", 500, "01"),
        ("E00501", 503, "05"),
        ("E08001", 429, "80"),
    ] {
        let r = fetch(
            sb.raw(Method::GET, VERIFY)
                .header("APIGW-Tracking-Header", value),
        )
        .await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "{value}");
        if code == "80" {
            assert_eq!(r.header("retry-after"), "1");
        }
    }
    // Bearer auth.
    let r = fetch(
        sb.raw(Method::GET, VERIFY)
            .header("APIGW-Tracking-Header", "t1"),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "40"));
    let r = fetch(
        sb.raw(Method::GET, VERIFY)
            .header("APIGW-Tracking-Header", "t2")
            .bearer_auth("nosuchtoken"),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "41"));
    // Unknown path, wrong method, bad bodies.
    let r = sb.get("/no/such/path").await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "60"));
    let r = sb.get(QUALIFY).await;
    assert_eq!((r.status.as_u16(), r.code()), (405, "61"));
    let r = fetch(
        sb.raw(Method::POST, QUALIFY)
            .header("APIGW-Tracking-Header", "t3")
            .header("Content-Type", "application/json")
            .bearer_auth(&sb.token)
            .body("{not json"),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "22"));
    let r = fetch(
        sb.raw(Method::POST, QUALIFY)
            .header("APIGW-Tracking-Header", "t4")
            .bearer_auth(&sb.token),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "21"));
    // Expired tokens.
    let r = sb
        .admin(Method::POST, "/__sandbox/expire-tokens", None)
        .await;
    assert_eq!(r.status, 200);
    let r = sb.get(VERIFY).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "42"));
    assert_eq!(r.body["message"], "Access token expired");
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn verify_data() {
    let sb = sandbox().await;
    let r = sb.get(VERIFY).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["resellerId"], "RES100234");
    assert_eq!(r.body["salesTag"], "SWAIN01");
    assert_eq!(r.body["billingAccounts"], json!(["GB01234567"]));
    assert_eq!(
        r.body["customerGroups"],
        json!(["SWAINsTelecom", "SWAINsRetail"])
    );

    let r = sb
        .get(&format!("{VERIFY}/company?companyName=TheFunNetwork"))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"code":"404","message":"No data found"}));

    let r = sb
        .get(&format!(
            "{VERIFY}/company?companyName=%20acme%20widgets%20ltd%20"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], "WHHCBTWKN1000");
    assert_eq!(r.body["companyName"], "Acme Widgets Ltd");
    assert_eq!(r.body["customerGroup"], "SWAINsTelecom");
    assert_eq!(r.body["status"], "active");

    for (kind, value) in [
        ("companyDomain", "acmewidgets.co.uk"),
        ("siteName", "Acme HQ"),
        ("siteLocationCode", "ACMEHQ01"),
        ("deviceName", "ACME-PBX-01"),
        ("trunkName", "ACME-TRUNK-01"),
        ("username", "jsmith@acmewidgets.co.uk"),
        ("extension", "2001"),
        ("macAddress", "00-1a-2b-3c-4d-5e"),
    ] {
        let r = sb.get(&format!("{VERIFY}/{kind}?value={value}")).await;
        assert_eq!(r.status, 200, "{kind}");
        assert_eq!(r.body["inUse"], true);
        assert_eq!(r.body["companyServiceId"], "WHHCBTWKN1000");
        let r = sb.get(&format!("{VERIFY}/{kind}?value=free-{value}")).await;
        assert_eq!(r.status, 404, "{kind}");
        assert_eq!(r.body, json!({"code":"404","message":"No data found"}));
    }
    let r = sb.get(&format!("{VERIFY}/shoeSize?value=9")).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "60"));
    let r = sb.get(&format!("{VERIFY}/company")).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "27"));
    let r = sb
        .get("/bt-wholesale/v1/whc/resourceInventory/resellers/CUG0000000001")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "50"));
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn qualify_company() {
    let sb = sandbox().await;
    let r = sb.qualify("TheFunNetwork", "thefunnetwork.com").await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["id"], "QFW103255");
    assert_eq!(r.body["qualificationResult"], "qualified");
    let item = &r.body["productOfferingQualificationItem"][0];
    assert_eq!(item["id"], "QFW103255-1");
    assert_eq!(item["qualificationItemResult"], "Qualified");
    assert_eq!(item["product"]["serviceId"]["value"], "WHHCBTWKN1484");
    assert_eq!(item["productOffering"]["id"], "WHCCompany");
    assert_eq!(
        item["product"]["productCharacteristic"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(r.body["relatedParty"][0]["@referredType"], "BtCug");
    let exp = r.body["expirationDate"].as_str().unwrap();
    assert!(exp.ends_with(":59:00Z"), "{exp}");

    let r = sb.qualify("Acme Widgets Ltd", "acme-new.co.uk").await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["qualificationResult"], "unqualified");
    let item = &r.body["productOfferingQualificationItem"][0];
    assert_eq!(item["qualificationItemResult"], "Unqualified");
    assert!(item["product"].get("serviceId").is_none());
    assert_eq!(
        item["eligibilityUnavailabilityReason"][0]["code"],
        "CompanyNameInUse"
    );

    let r = sb.qualify("New Name Ltd", "acmewidgets.co.uk").await;
    assert_eq!(
        r.body["productOfferingQualificationItem"][0]["eligibilityUnavailabilityReason"][0]["code"],
        "CompanyDomainInUse"
    );

    let mut body = qualify_body("X", "x.com", "SWAINsTelecom");
    body["productOfferingQualificationItem"][0]["product"]["productCharacteristic"] = json!([]);
    let r = sb.post(QUALIFY, body).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "29"));
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 3);

    let mut body = qualify_body("X", "x.com", "SWAINsTelecom");
    body["billingAccount"]["id"] = json!("GB99999999");
    let r = sb.post(QUALIFY, body).await;
    assert_eq!((r.code(), r.reason()), ("22", "UnknownBillingAccount"));
    let r = sb
        .post(QUALIFY, qualify_body("X", "x.com", "Strangers"))
        .await;
    assert_eq!((r.code(), r.reason()), ("22", "UnknownCustomerGroup"));
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn ringfence_numbers() {
    let mut sb = sandbox().await;
    let (qid, svc) = sb.qualified("Ring Co", "ringco.co.uk").await;
    let r = sb.ringfence(&svc, &qid, "0121", 5).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"action":"Ringfence","numberRange":{"startNumber":"01214960000","endNumber":"01214960004"},
               "ringFenceId": svc,"status":"RINGFENCED"})
    );
    // The next block follows on.
    let r = sb.ringfence(&svc, &qid, "0121", 1).await;
    assert_eq!(r.body["numberRange"]["startNumber"], "01214960005");
    // London skips Acme's seeded numbers.
    let r = sb.ringfence(&svc, &qid, "020", 1).await;
    assert_eq!(r.body["numberRange"]["startNumber"], "02079460010");

    for (body, reason) in [
        (
            ringfence_body(&svc, "QFW999999", "0121", 1),
            "QualificationNotFound",
        ),
        (
            ringfence_body("WHHCBTWKN9999", &qid, "0121", 1),
            "QualificationMismatch",
        ),
        (ringfence_body(&svc, &qid, "0999", 1), "UnknownAreaCode"),
        (ringfence_body(&svc, &qid, "0131", 1000), ""),
    ] {
        let r = sb.post(RINGFENCE, body).await;
        assert_eq!(r.status, 400, "{reason}");
        if reason.is_empty() {
            assert_eq!(r.code(), "29");
        } else {
            assert_eq!((r.code(), r.reason()), ("22", reason));
        }
    }
    let r = sb.qualify("Acme Widgets Ltd", "other.co.uk").await;
    let unq = r.body["id"].as_str().unwrap().to_string();
    let r = sb.ringfence(&svc, &unq, "0121", 1).await;
    assert_eq!(r.reason(), "Unqualified");

    // Available numbers, paginated.
    let r = sb
        .get(&format!(
            "/v1/resourceManagement/directoryNumbers?companyServiceId={svc}&limit=4"
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-total-count"), "7");
    assert_eq!(r.header("x-result-count"), "4");
    assert_eq!(r.body[0]["status"], "RINGFENCED");
    assert_eq!(r.body[0]["type"], "new");
    let r = sb.get("/v1/resourceManagement/directoryNumbers").await;
    assert_eq!(r.code(), "27");

    // A qualification expires at 23:59 London on its day.
    let (qid2, svc2) = sb.qualified("Late Co", "lateco.co.uk").await;
    let r = sb.qualify("Probe Co", "probe.co.uk").await;
    let expiry: chrono::DateTime<chrono::Utc> =
        r.body["expirationDate"].as_str().unwrap().parse().unwrap();
    let clock = sb.admin(Method::GET, "/__sandbox/clock", None).await;
    let now: chrono::DateTime<chrono::Utc> = clock.body["now"].as_str().unwrap().parse().unwrap();
    let to_expiry = (expiry - now).num_seconds() as f64;
    sb.advance(to_expiry - 120.0).await;
    let r = sb.ringfence(&svc2, &qid2, "0113", 1).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sb.advance(240.0).await;
    let r = sb.ringfence(&svc2, &qid2, "0113", 1).await;
    assert_eq!((r.code(), r.reason()), ("22", "QualificationExpired"));
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn addresses() {
    let sb = sandbox().await;
    let r = sb
        .get(&format!("{ADDRESS}?postcode=IP5%203RE&addressSource=ROBT"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.body.as_array().unwrap();
    assert!(!list.is_empty());
    for a in list {
        assert!(a["id"].as_str().unwrap().starts_with('R'));
        assert_eq!(a["postcode"], "IP5 3RE");
        assert_eq!(a["county"], "Suffolk");
        for f in [
            "uprn",
            "buildingName",
            "streetNr",
            "streetName",
            "locality",
            "city",
            "country",
            "bestAddressLine1",
            "bestAddressLine4",
            "exchangeGroupCode",
            "districtCode",
            "qualifier",
        ] {
            assert!(a.get(f).is_some(), "{f}");
        }
    }
    let r = sb
        .get(&format!(
            "{ADDRESS}?postcode=ip53re&addressSource=Openreach"
        ))
        .await;
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["id"].as_str().unwrap().starts_with('A')));
    let r = sb
        .get(&format!("{ADDRESS}?postcode=IP5%203RE&buildingName=orion"))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = sb.get(&format!("{ADDRESS}?postcode=ZZ9%209ZZ")).await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "60"));
    let r = sb.get(ADDRESS).await;
    assert_eq!(r.code(), "27");
    let r = sb
        .get(&format!("{ADDRESS}?postcode=IP53RE&addressSource=Bing"))
        .await;
    assert_eq!(r.code(), "28");

    let r = sb
        .post(
            ADDRESS,
            json!({"buildingName":"The Old Barn","streetName":"Mill Lane","city":"Woodbridge",
                   "county":"Suffolk","postcode":"ip12 1aa","country":"United Kingdom"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body, json!({"id": "X05000000001"}));
    let r = sb.get(&format!("{ADDRESS}?postcode=IP12%201AA")).await;
    assert_eq!(r.body[0]["id"], "X05000000001");
    assert_eq!(r.body[0]["bestAddressLine1"], "The Old Barn");
    let r = sb.post(ADDRESS, json!({"postcode": "IP12 1AA"})).await;
    assert_eq!(r.code(), "29");
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2);
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn order_journey() {
    let mut sb = sandbox().await;
    let (qid, svc, start, end) = sb
        .company_with_numbers("Fun Network", "funnetwork.com", 3)
        .await;
    let body = order_body(
        "btw-1",
        "Fun Network",
        "funnetwork.com",
        &svc,
        &qid,
        "R00000010001",
        (&start, &end),
        1,
    );
    let r = sb
        .post(&format!("{ORDER}/productOrder"), body.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"id": "BTWKN1485", "@referredType": "ProductOrder"})
    );

    // The name is in use from now on; the company is pending.
    let r = sb
        .get(&format!("{VERIFY}/company?companyName=Fun%20Network"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["orderId"], "BTWKN1485");
    let r = sb
        .get(&format!("{VERIFY}/siteName?value=Fun%20Network%20HQ"))
        .await;
    assert_eq!(r.status, 200);

    // The same order again: the company now exists.
    let mut again = body.clone();
    again["externalId"] = json!("btw-2");
    let r = sb.post(&format!("{ORDER}/productOrder"), again).await;
    assert_eq!((r.code(), r.reason()), ("22", "CompanyNameInUse"));
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    assert_eq!(r.reason(), "DuplicateExternalId");

    let r = sb.get(&format!("{ORDER}/productOrder/BTWKN1485")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["state"], "pending");
    assert_eq!(r.body["@type"], "ProductOrder");
    assert_eq!(r.body["externalId"], "btw-1");
    assert_eq!(r.body["productOrderItem"].as_array().unwrap().len(), 4);
    assert_eq!(
        r.body["productOrderItem"][1]["relatedPlace"][0]["id"],
        "R00000010001"
    );

    let sub = json!({"productOrder": {"id": "BTWKN1485", "@referredType": "ProductOrder"}});
    let r = sb
        .post(&format!("{ORDER}/submit-product-order"), sub.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"id":"BTWKN1485","productOrder":{"id":"BTWKN1485","@referredType":"ProductOrder"}})
    );
    let r = sb.post(&format!("{ORDER}/submit-product-order"), sub).await;
    assert_eq!(r.reason(), "OrderAlreadySubmitted");
    let r = sb
        .post(
            &format!("{ORDER}/submit-product-order"),
            json!({"productOrder": {"id": "BTWKN9999"}}),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "60"));

    let r = sb.get(&format!("{ORDER}/productOrder/BTWKN1485")).await;
    assert_eq!(r.body["state"], "acknowledged");
    assert_eq!(r.body["productOrderItem"][0]["state"], "acknowledged");

    // The block is now assigned.
    let r = sb
        .get(&format!(
            "/v1/resourceManagement/directoryNumbers?companyServiceId={svc}"
        ))
        .await;
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["status"] == "ASSIGNED"));

    let mut events = sb.handle.state().subscribe();
    sb.advance(5.0).await;
    let r = sb.get(&format!("{ORDER}/productOrder/BTWKN1485")).await;
    assert_eq!(r.body["state"], "completed");
    assert_eq!(r.body["productOrderItem"][3]["state"], "completed");
    assert!(r.body["completionDate"].is_string());
    let first = events.try_recv().unwrap();
    assert_eq!(first.order_id, "BTWKN1485");
    assert_eq!(first.to.as_str(), "inProgress");
    assert_eq!(events.try_recv().unwrap().to.as_str(), "completed");
    let r = sb
        .get(&format!("{VERIFY}/company?companyName=Fun%20Network"))
        .await;
    assert_eq!(r.body["status"], "active");
    let r = sb
        .post(
            &format!("{ORDER}/cancelProductOrder"),
            json!({"productOrder": {"id": "BTWKN1485"}}),
        )
        .await;
    assert_eq!(r.reason(), "OrderNotCancellable");
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn order_progresses_on_its_own() {
    let sb = sandbox_with(SandboxConfig {
        order_step_secs: 0.1,
        ..SandboxConfig::default()
    })
    .await;
    let body = sb
        .new_company_order("q-1", "Quick Co", "quick.co.uk", 1, "R00000020001", 0)
        .await;
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let mut events = sb.handle.state().subscribe();
    sb.post(
        &format!("{ORDER}/submit-product-order"),
        json!({"productOrder": {"id": id}}),
    )
    .await;
    // The background tick moves it without any request.
    let done = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let e = events.recv().await.unwrap();
            if e.to.as_str() == "completed" {
                break e;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(done.order_id, id);
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn order_rules() {
    let sb = sandbox().await;
    let (qid, svc, start, end) = sb.company_with_numbers("Rules Ltd", "rules.co.uk", 2).await;
    let mk = |users: usize, nad: &str, range: (&str, &str)| {
        order_body(
            "",
            "Rules Ltd",
            "rules.co.uk",
            &svc,
            &qid,
            nad,
            range,
            users,
        )
    };
    let cases = [
        (mk(4, "R00000010002", (&start, &end)), "TooManyUsers"),
        (mk(1, "R99999999999", (&start, &end)), "UnknownNadKey"),
        (
            mk(1, "R00000010002", ("01214960100", "01214960101")),
            "NumberNotRingfenced",
        ),
        (
            mk(1, "R00000010002", ("02079460000", "02079460000")),
            "NumberNotRingfenced",
        ),
    ];
    for (body, reason) in cases {
        let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
        assert_eq!(
            (r.status.as_u16(), r.code(), r.reason()),
            (400, "22", reason),
            "{}",
            r.body
        );
    }
    // Acme's user name is taken.
    let mut body = mk(1, "R00000010002", (&start, &end));
    body["productOrderItem"][3]["product"]["productCharacteristic"][2]["value"] =
        json!("JSmith@acmewidgets.co.uk");
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    assert_eq!(r.reason(), "UsernameInUse", "{}", r.body);
    // A mismatching qualification.
    let mut body = mk(1, "R00000010002", (&start, &end));
    body["productOrderItem"][0]["product"]["productCharacteristic"][0]["value"] =
        json!("Other Ltd");
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    assert_eq!(r.reason(), "QualificationMismatch");
    // Missing characteristics are schema errors.
    let mut body = mk(1, "R00000010002", (&start, &end));
    body["productOrderItem"][2]["product"] = json!({"productCharacteristic": []});
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    assert_eq!(r.code(), "29");
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2);
    // Nothing was created by the failures: the name is only reserved by its qualification.
    let r = sb
        .get(&format!("{VERIFY}/company?companyName=Rules%20Ltd"))
        .await;
    assert_eq!(r.s("status"), "reserved", "{}", r.body);

    // A good order, then a follow-on order and a cancel.
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            mk(1, "R00000010002", (&start, &start)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let follow = json!({
        "externalId": "follow-1",
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOrderItem": [
            {"id": "1", "action": "noChange", "productOffering": {"id": "WHCCompany"},
             "product": chars(&[("serviceId", &svc)])},
            {"id": "2", "action": "add", "productOffering": {"id": "WHCNumberBlock"},
             "product": chars(&[("startNumber", &end), ("endNumber", &end)])},
        ]
    });
    let r = sb
        .post(&format!("{ORDER}/productOrder"), follow.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let follow_id = r.body["id"].as_str().unwrap().to_string();
    let r = sb
        .post(
            &format!("{ORDER}/cancelProductOrder"),
            json!({"productOrder": {"id": follow_id}}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body, json!({"id": follow_id, "state": "cancelled"}));
    // The number went back to RINGFENCED.
    let r = sb
        .get(&format!(
            "/v1/resourceManagement/directoryNumbers?companyServiceId={svc}"
        ))
        .await;
    let statuses: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    // The first number is the user's, so not free to use and not listed.
    assert_eq!(statuses, vec!["RINGFENCED"]);
    let mut unknown = follow;
    unknown["externalId"] = json!("follow-2");
    unknown["productOrderItem"][0]["product"] = chars(&[("serviceId", "WHHCBTWKN9999")]);
    let r = sb.post(&format!("{ORDER}/productOrder"), unknown).await;
    assert_eq!(r.reason(), "UnknownCompany");

    // Listing, newest first, with pagination headers.
    let r = sb.get(&format!("{ORDER}/productOrder?limit=1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-total-count"), "2");
    assert_eq!(r.header("x-result-count"), "1");
    assert_eq!(r.body[0]["id"], follow_id.as_str());
    let r = sb.get(&format!("{ORDER}/productOrder?state=pending")).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = sb
        .get(&format!(
            "{ORDER}/productOrder?externalId=follow-1&offset=0"
        ))
        .await;
    assert_eq!(r.body[0]["state"], "cancelled");
    let r = sb.get(&format!("{ORDER}/productOrder?state=bogus")).await;
    assert_eq!(r.code(), "28");
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn journal_and_reset() {
    let sb = sandbox().await;
    let r = fetch(
        sb.raw(Method::GET, VERIFY)
            .header("APIGW-Tracking-Header", "journal-probe-1")
            .bearer_auth(&sb.token),
    )
    .await;
    assert_eq!(r.status, 200);
    sb.qualified("Journal Co", "journal.co.uk").await;
    let r = sb.admin(Method::GET, "/__sandbox/journal", None).await;
    let text = r.body.to_string();
    assert!(!text.contains(&sb.token), "journal leaks the token");
    assert!(!text.contains("Basic"), "journal leaks credentials");
    let requests = r.body["requests"].as_array().unwrap();
    assert!(requests.iter().any(|e| e["path"] == "/oauth/accesstoken"));
    let probe = requests
        .iter()
        .find(|e| e["trackingHeader"] == "journal-probe-1")
        .unwrap();
    assert_eq!(probe["method"], "GET");
    assert_eq!(probe["path"], VERIFY);
    assert_eq!(probe["status"], 200);
    assert!(probe["at"].is_string());
    assert_eq!(r.body["created"][0]["kind"], "qualification");
    assert_eq!(r.body["created"][0]["id"], "QFW103255");

    let r = sb.admin(Method::GET, "/__sandbox/health", None).await;
    assert_eq!(r.body["service"], "btw-sandbox");

    let r = sb.admin(Method::POST, "/__sandbox/reset", None).await;
    assert_eq!(r.status, 200);
    let r = sb.admin(Method::GET, "/__sandbox/journal", None).await;
    assert_eq!(r.body["requests"], json!([]));
    assert_eq!(r.body["created"], json!([]));
    // Tokens are dropped; ids start again.
    let r = sb.get(VERIFY).await;
    assert_eq!(r.code(), "41");
    let mut sb = sb;
    sb.refresh_token().await;
    let r = sb.qualify("Journal Co", "journal.co.uk").await;
    assert_eq!(r.body["id"], "QFW103255");

    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/clock",
            Some(json!({"speed": 0.0, "advance_secs": 60})),
        )
        .await;
    assert_eq!(r.body["speed"], 0.0);
    let r = sb
        .admin(
            Method::POST,
            "/__sandbox/clock",
            Some(json!({"advance_secs": -5})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "29"));
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn persistence_via_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.json");
    let config = SandboxConfig {
        state_file: Some(path.clone()),
        ..SandboxConfig::default()
    };
    let sb = sandbox_with(config.clone()).await;
    let body = sb
        .new_company_order("kept-1", "Kept Ltd", "kept.co.uk", 2, "R00000010003", 1)
        .await;
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order_id = r.body["id"].as_str().unwrap().to_string();
    assert!(path.exists());
    sb.handle.shutdown().await;
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "a temp file was left behind");

    let sb = sandbox_with(config).await;
    let r = sb.get(&format!("{ORDER}/productOrder/{order_id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["externalId"], "kept-1");
    let r = sb
        .get(&format!("{VERIFY}/company?companyName=Kept%20Ltd"))
        .await;
    assert_eq!(r.status, 200);
    // Counters carry on.
    let r = sb.qualify("Next Ltd", "next.co.uk").await;
    assert_eq!(r.body["id"], "QFW103256");
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn more_gateway_edges() {
    let sb = sandbox().await;
    let r = fetch(sb.raw(Method::POST, TOKEN).header("Authorization", BASIC)).await;
    assert_eq!((r.status.as_u16(), r.code()), (405, "61"));
    let r = fetch(
        sb.raw(Method::POST, QUALIFY)
            .header("APIGW-Tracking-Header", "t5")
            .header("Content-Type", "text/plain")
            .bearer_auth(&sb.token)
            .body("{}"),
    )
    .await;
    assert_eq!((r.status.as_u16(), r.code()), (415, "68"));
    let r = sb.post(QUALIFY, json!([1, 2, 3])).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "29"));
    let r = sb.get(&format!("{ORDER}/productOrder/%FF%FE")).await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "20"));
    sb.handle.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_get_unique_ids() {
    let sb = sandbox().await;
    let sb = std::sync::Arc::new(sb);
    let mut tasks = Vec::new();
    for n in 0..20 {
        let sb = sb.clone();
        tasks.push(tokio::spawn(async move {
            sb.qualified(&format!("Parallel {n}"), &format!("parallel{n}.co.uk"))
                .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut services = std::collections::BTreeSet::new();
    for t in tasks {
        let (q, s) = t.await.unwrap();
        ids.insert(q);
        services.insert(s);
    }
    assert_eq!((ids.len(), services.len()), (20, 20));
}

#[tokio::test]
async fn extensions_are_unique_per_company() {
    let sb = sandbox().await;
    let mut body = sb
        .new_company_order("ext-1", "Ext Ltd", "ext.co.uk", 1, "R00000010004", 2)
        .await;
    // Acme uses 2001: fine in another company.
    body["productOrderItem"][3]["product"]["productCharacteristic"][3]["value"] = json!("2001");
    let r = sb
        .post(&format!("{ORDER}/productOrder"), body.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = sb
        .get(&format!(
            "{VERIFY}/extension?value=2001&companyServiceId=WHHCBTWKN1000"
        ))
        .await;
    assert_eq!(r.status, 200);
    let r = sb
        .get(&format!(
            "{VERIFY}/extension?value=3001&companyServiceId=WHHCBTWKN1000"
        ))
        .await;
    assert_eq!(r.status, 404);
    // Twice in one order is not.
    let mut body = sb
        .new_company_order("ext-2", "Ext Two", "ext2.co.uk", 1, "R00000010004", 2)
        .await;
    body["productOrderItem"][1]["product"]["productCharacteristic"][0]["value"] =
        json!("Ext Two Site");
    body["productOrderItem"][4]["product"]["productCharacteristic"][3]["value"] = json!("3000");
    let r = sb.post(&format!("{ORDER}/productOrder"), body).await;
    assert_eq!(r.reason(), "ExtensionInUse", "{}", r.body);
    sb.handle.shutdown().await;
}
