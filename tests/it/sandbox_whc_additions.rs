//! The sandbox against BT's documents, over HTTP: more numbers for a company that exists (and
//! reserved against its site or user), WHC Express importing one number at a time, trunks,
//! ETH Network as provide only, and an unknown order action named alone.

use crate::raw::ethernet_paths::{INVENTORY as ETH_INVENTORY, ORDER as ETH_ORDER, QUOTE};
use crate::raw::{frozen_sandbox, Reply, Sb};
use serde_json::{json, Value};

const CUG: &str = "CUG5019851064";
const ACME: &str = "WHHCBTWKN1000";
const ACME_SITE: &str = "WHHCBTWKN1001";
const ACME_USER: &str = "WHHCBTWKN1002";
const ACME_TRUNK: &str = "WHHCBTWKN1004";
const VERIFY: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers/CUG5019851064";
const QUALIFY: &str = "/bt-wholesale/v1/whc/productOfferingQualification";
const RINGFENCE: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
const NUMBERS: &str = "/v1/resourceManagement/directoryNumbers";
const ORDER: &str = "/bt-wholesale/v1/order";
const IMPORT: &str = "/bt-wholesale/v1/order/numberImportOrder";
const INVENTORY: &str = "/bt-wholesale/v1/whc/productInventory/product";

fn chars(pairs: &[(&str, &str)]) -> Value {
    pairs
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect()
}

fn item(id: &str, offering: &str, action: &str, pairs: &[(&str, &str)]) -> Value {
    json!({"id": id, "action": action, "productOffering": {"id": offering},
           "product": {"productCharacteristic": chars(pairs)}})
}

fn order(items: Vec<Value>) -> Value {
    json!({
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOrderItem": items,
    })
}

/// A follow-on order on company `svc` with `items` after its noChange company item.
fn follow_on(svc: &str, mut items: Vec<Value>) -> Value {
    items.insert(
        0,
        item("1", "WHCCompany", "noChange", &[("serviceId", svc)]),
    );
    order(items)
}

/// A ringfence of `quantity` numbers in `area` against `ring_fence_id`, with `qualifier` if any.
fn ringfence(ring_fence_id: &str, qualifier: Option<&str>, area: &str, quantity: u32) -> Value {
    let mut b = json!({
        "customer": {"id": CUG, "type": "BUSINESS"},
        "numbers": {"quantity": quantity, "characteristics": {"numberString": area}},
        "product": {"name": "WHC"},
        "action": "RingFence",
        "ringFenceId": ring_fence_id,
    });
    if let Some(q) = qualifier {
        b["qualifierId"] = json!(q);
    }
    b
}

impl Sb {
    /// Qualifies a free name (`WHCCompany` or `WHCExpressCompany`): (qualifier id, service id).
    async fn add_qualified(&self, offering: &str, name: &str, domain: &str) -> (String, String) {
        let r = self
            .post(
                QUALIFY,
                json!({
                    "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
                    "billingAccount": {"id": "GB01234567"},
                    "productOfferingQualificationItem": [{"id": "1",
                        "productOffering": {"id": offering},
                        "product": {"productCharacteristic": chars(&[("customerName", name),
                            ("customerDomain", domain), ("customerGroup", "SWAINsTelecom")])}}],
                }),
            )
            .await;
        let item = &r.body["productOfferingQualificationItem"][0];
        assert_eq!(item["qualificationItemResult"], "Qualified", "{}", r.body);
        let svc = item["product"]["serviceId"]["value"].as_str().unwrap();
        (r.id(), svc.to_string())
    }

    /// Qualifies and orders a company (not submitted): its service id.
    async fn add_company(&self, offering: &str, name: &str, domain: &str) -> String {
        let (qid, svc) = self.add_qualified(offering, name, domain).await;
        let company = item(
            "1",
            "WHCCompany",
            "add",
            &[
                ("customerName", name),
                ("customerDomain", domain),
                ("customerGroup", "SWAINsTelecom"),
                ("serviceId", &svc),
                ("qualifierId", &qid),
            ],
        );
        let r = self
            .post(&format!("{ORDER}/productOrder"), order(vec![company]))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        svc
    }

    /// Places and submits an order; moves the frozen clock until it completes. Its id.
    async fn add_complete(&mut self, body: Value) -> String {
        let r = self.post(&format!("{ORDER}/productOrder"), body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.id();
        let r = self
            .post(
                &format!("{ORDER}/submit-product-order"),
                json!({"productOrder": {"id": id}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        self.advance(30.0).await;
        let r = self.get(&format!("{ORDER}/productOrder/{id}")).await;
        assert_eq!(r.s("state"), "completed", "{}", r.body);
        id
    }

    /// The numbers Get Available Numbers lists for `query`.
    async fn add_listed(&self, query: &str) -> Vec<Value> {
        let r = self.get(&format!("{NUMBERS}?{query}&limit=100")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body.as_array().unwrap().clone()
    }

    /// A company's inventory entries of one offering.
    async fn add_held(&self, svc: &str, offering: &str) -> Vec<Value> {
        let r = self
            .get(&format!(
                "{INVENTORY}?companyServiceId={svc}&productOffering={offering}"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body.as_array().unwrap().clone()
    }
}

/// A characteristic of an inventory entry.
fn characteristic<'a>(p: &'a Value, name: &str) -> Option<&'a str> {
    p["productCharacteristic"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)?["value"]
        .as_str()
}

fn numbers_of(listed: &[Value], start: &str, end: &str) -> Vec<Value> {
    listed
        .iter()
        .filter(|n| {
            let n = n["number"].as_str().unwrap();
            n >= start && n <= end
        })
        .cloned()
        .collect()
}

fn block(r: &Reply) -> (String, String) {
    assert_eq!(r.status, 201, "{}", r.body);
    (
        r.body["numberRange"]["startNumber"]
            .as_str()
            .unwrap()
            .into(),
        r.body["numberRange"]["endNumber"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn a_company_that_exists_takes_more_numbers_without_its_qualification() {
    let sb = frozen_sandbox().await;
    // Acme was made long ago: nobody has its qualification id.
    let r = sb.post(RINGFENCE, ringfence(ACME, None, "Leeds", 3)).await;
    let (start, end) = block(&r);
    assert_eq!(r.s("ringFenceId"), ACME);
    assert!(start.starts_with("0113"), "{start}");
    let listed = sb.add_listed(&format!("companyServiceId={ACME}")).await;
    let mine = numbers_of(&listed, &start, &end);
    assert_eq!(mine.len(), 3, "{listed:?}");
    assert!(mine
        .iter()
        .all(|n| n["status"] == "RINGFENCED" && n.get("siteServiceId").is_none()));

    // A service id only qualified (no order yet) needs its qualification; an unknown one is refused.
    let (_, qualified) = sb
        .add_qualified("WHCCompany", "Later Ltd", "later.co.uk")
        .await;
    let r = sb
        .post(RINGFENCE, ringfence(&qualified, None, "0121", 1))
        .await;
    r.rejects("UnknownCompany");
    assert!(r.message().contains("qualifierId"), "{}", r.body);
    let r = sb
        .post(RINGFENCE, ringfence("WHHCBTWKN9999", None, "0121", 1))
        .await;
    r.rejects("UnknownCompany");
    // Another company's qualification is still no key to Acme.
    let (other_q, _) = sb
        .add_qualified("WHCCompany", "Other Ltd", "other.co.uk")
        .await;
    let r = sb
        .post(RINGFENCE, ringfence(ACME, Some(&other_q), "0121", 1))
        .await;
    r.rejects("QualificationMismatch");
    // A qualifierId that is not a string is a schema error naming it.
    let mut bad = ringfence(ACME, None, "0121", 1);
    bad["qualifierId"] = json!(7);
    let r = sb.post(RINGFENCE, bad).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "29");
    assert_eq!(r.body["errors"][0]["field"], "qualifierId", "{}", r.body);
    // Nothing was ringfenced by the refusals.
    let after = sb.add_listed(&format!("companyServiceId={ACME}")).await;
    assert_eq!(after.len(), listed.len());
}

#[tokio::test]
async fn numbers_reserved_against_a_site_or_user_list_under_the_site() {
    let mut sb = frozen_sandbox().await;
    let r = sb
        .post(RINGFENCE, ringfence(ACME_SITE, None, "0121", 2))
        .await;
    let (s1, e1) = block(&r);
    let by_site = sb.add_listed(&format!("siteServiceId={ACME_SITE}")).await;
    let site_block = numbers_of(&by_site, &s1, &e1);
    assert_eq!(site_block.len(), 2, "{by_site:?}");
    assert!(site_block.iter().all(|n| n["companyServiceId"] == ACME
        && n["siteServiceId"] == ACME_SITE
        && n.get("userServiceId").is_none()));

    let r = sb
        .post(RINGFENCE, ringfence(ACME_USER, None, "0161", 1))
        .await;
    let (s2, e2) = block(&r);
    let by_site = sb.add_listed(&format!("siteServiceId={ACME_SITE}")).await;
    let user_block = numbers_of(&by_site, &s2, &e2);
    assert_eq!(user_block.len(), 1, "{by_site:?}");
    assert_eq!(user_block[0]["userServiceId"], ACME_USER);
    let held = sb.add_held(ACME, "WHCNumber").await;
    let n = held.iter().find(|n| n["id"] == s2.as_str()).unwrap();
    assert_eq!(characteristic(n, "reservedForUser"), Some(ACME_USER));
    assert_eq!(characteristic(n, "reservedForSite"), Some(ACME_SITE));

    // Placed on an order without a site of its own, a reserved number stays under its site.
    sb.add_complete(follow_on(
        ACME,
        vec![item(
            "2",
            "WHCNumberBlock",
            "add",
            &[("startNumber", &s1), ("endNumber", &e1)],
        )],
    ))
    .await;
    let by_site = sb.add_listed(&format!("siteServiceId={ACME_SITE}")).await;
    let placed = numbers_of(&by_site, &s1, &e1);
    assert_eq!(placed.len(), 2, "{by_site:?}");
    assert!(placed.iter().all(|n| n["status"] == "ASSIGNED"));

    // A ceased user takes no reservation; a site of another company under this qualification neither.
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            follow_on(
                ACME,
                vec![item("2", "WHCUser", "delete", &[("serviceId", ACME_USER)])],
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = sb
        .post(RINGFENCE, ringfence(ACME_USER, None, "0121", 1))
        .await;
    r.rejects("ItemCeased");
    let (other_q, _) = sb
        .add_qualified("WHCCompany", "Elsewhere Ltd", "elsewhere.co.uk")
        .await;
    let r = sb
        .post(RINGFENCE, ringfence(ACME_SITE, Some(&other_q), "0121", 1))
        .await;
    r.rejects("QualificationMismatch");
}

#[tokio::test]
async fn whc_express_ports_a_number_not_a_range() {
    let mut sb = frozen_sandbox().await;
    let express = sb
        .add_company("WHCExpressCompany", "Express Port Ltd", "expressport.co.uk")
        .await;
    let r = sb
        .get(&format!(
            "{IMPORT}/earliestPortDate?importType=MultiLine&rangeStart=01914980200&rangeEnd=01914980299"
        ))
        .await;
    let date = r.s("earliestPortDate").to_string();
    let import = |kind: &str, numbers: Value, company: Option<&str>| {
        let mut b = json!({
            "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
            "importType": kind,
            "portDate": date,
            "installationPostcode": "NE1 7RU",
        });
        if numbers.is_object() {
            b["numberRange"] = numbers;
        } else {
            b["numbers"] = numbers;
        }
        if let Some(c) = company {
            b["companyServiceId"] = json!(c);
        }
        b
    };
    let range = json!({"startNumber": "01914980200", "endNumber": "01914980299"});
    // A MultiLine import onto a WHC Express company: refused with BT's error shape, nothing made.
    let r = sb
        .post(IMPORT, import("MultiLine", range.clone(), Some(&express)))
        .await;
    r.rejects("RangeNotSupported");
    assert!(r.message().contains("WHC Express"), "{}", r.body);
    let r = sb
        .post(
            IMPORT,
            import(
                "MultiLine",
                json!(["01914980200", "01914980201"]),
                Some(&express),
            ),
        )
        .await;
    r.rejects("RangeNotSupported");
    let listed = sb.get(IMPORT).await;
    assert_eq!(listed.header("X-Total-Count"), "0", "{}", listed.body);
    let journal = sb
        .admin(reqwest::Method::GET, "/__sandbox/journal", None)
        .await;
    assert!(
        !journal.body["created"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "importOrder"),
        "{}",
        journal.body
    );
    // The same range for WHC is accepted; once the LCP accepts, it cannot go to the Express company.
    let r = sb.post(IMPORT, import("MultiLine", range, None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let port = r.id();
    sb.advance(31.0).await;
    let allocate = json!({
        "customer": {"id": CUG, "type": "BUSINESS"},
        "numbers": {"characteristics": {"portOrderId": port}},
        "product": {"name": "WHC"},
        "action": "RingFence",
        "ringFenceId": express,
    });
    let r = sb.post(RINGFENCE, allocate).await;
    r.rejects("RangeNotSupported");
    let held = sb.add_listed(&format!("companyServiceId={express}")).await;
    assert!(held.is_empty(), "{held:?}");
    // One particular number is what WHC Express ports.
    let r = sb
        .post(
            IMPORT,
            import("SingleLine", json!(["01914980100"]), Some(&express)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.s("importType"), "SingleLine");
}

#[tokio::test]
async fn trunks_are_ordered_modified_and_ceased() {
    let mut sb = frozen_sandbox().await;
    let verify = |name: &str| format!("{VERIFY}/trunkName?value={name}");
    assert_eq!(sb.get(&verify("NEW-TRUNK-7")).await.status, 404);
    // The seeded trunk's name is taken, here or in the same order.
    let taken = follow_on(
        ACME,
        vec![item(
            "2",
            "WHCTrunk",
            "add",
            &[("trunkName", "acme-trunk-01")],
        )],
    );
    let r = sb.post(&format!("{ORDER}/productOrder"), taken).await;
    r.rejects("TrunkNameInUse");
    let twice = follow_on(
        ACME,
        vec![
            item("2", "WHCTrunk", "add", &[("trunkName", "NEW-TRUNK-7")]),
            item("3", "WHCTrunk", "add", &[("trunkName", "new-trunk-7")]),
        ],
    );
    sb.post(&format!("{ORDER}/productOrder"), twice)
        .await
        .rejects("TrunkNameInUse");
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            follow_on(
                ACME,
                vec![item(
                    "2",
                    "WHCTrunk",
                    "add",
                    &[("trunkName", "X"), ("channels", "0")],
                )],
            ),
        )
        .await;
    assert_eq!(r.code(), "29", "{}", r.body);
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            follow_on(
                ACME,
                vec![item(
                    "2",
                    "WHCTrunk",
                    "add",
                    &[
                        ("trunkName", "NEW-TRUNK-7"),
                        ("siteServiceId", "WHHCBTWKN9999"),
                    ],
                )],
            ),
        )
        .await;
    r.rejects("ItemNotFound");

    // Added: in use from the order on, active with it, at the company's site.
    let add = follow_on(
        ACME,
        vec![item(
            "2",
            "WHCTrunk",
            "add",
            &[("trunkName", "NEW-TRUNK-7"), ("channels", "8")],
        )],
    );
    sb.add_complete(add).await;
    assert_eq!(sb.get(&verify("new-trunk-7")).await.status, 200);
    let trunks = sb.add_held(ACME, "WHCTrunk").await;
    assert_eq!(trunks.len(), 2, "{trunks:?}");
    let t = trunks
        .iter()
        .find(|t| t["name"] == "NEW-TRUNK-7")
        .unwrap()
        .clone();
    let tid = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["status"], "active");
    assert_eq!(characteristic(&t, "channels"), Some("8"));
    assert_eq!(characteristic(&t, "siteServiceId"), Some(ACME_SITE));

    // Modified: a new channel count; what a trunk cannot change is refused.
    let modify = follow_on(
        ACME,
        vec![item(
            "2",
            "WHCTrunk",
            "modify",
            &[("serviceId", &tid), ("channels", "30")],
        )],
    );
    sb.add_complete(modify).await;
    let t = sb.add_held(ACME, "WHCTrunk").await;
    let t = t.iter().find(|t| t["id"] == tid.as_str()).unwrap();
    assert_eq!(characteristic(t, "channels"), Some("30"));
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            follow_on(
                ACME,
                vec![item(
                    "2",
                    "WHCTrunk",
                    "modify",
                    &[("serviceId", &tid), ("extension", "2002")],
                )],
            ),
        )
        .await;
    r.rejects("NotModifiable");

    // A site with a live trunk is not ceased, even with its users ceased in the same order.
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            follow_on(
                ACME,
                vec![
                    item("2", "WHCUser", "delete", &[("serviceId", ACME_USER)]),
                    item("3", "WHCSite", "delete", &[("serviceId", ACME_SITE)]),
                ],
            ),
        )
        .await;
    r.rejects("SiteHasTrunks");

    // Ceased: terminated, its name free again; a second cease is refused.
    let cease = follow_on(
        ACME,
        vec![item("2", "WHCTrunk", "delete", &[("serviceId", &tid)])],
    );
    sb.add_complete(cease.clone()).await;
    let t = sb.add_held(ACME, "WHCTrunk").await;
    let t = t.iter().find(|t| t["id"] == tid.as_str()).unwrap();
    assert_eq!(t["status"], "terminated");
    assert_eq!(sb.get(&verify("NEW-TRUNK-7")).await.status, 404);
    sb.post(&format!("{ORDER}/productOrder"), cease)
        .await
        .rejects("ItemCeased");
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            follow_on(
                ACME,
                vec![item(
                    "2",
                    "WHCTrunk",
                    "delete",
                    &[("serviceId", "WHHCBTWKN9999")],
                )],
            ),
        )
        .await;
    r.rejects("ItemNotFound");
    // The seeded trunk is in the inventory with its service id.
    let seeded = sb.add_held(ACME, "WHCTrunk").await;
    assert!(seeded.iter().any(|t| t["id"] == ACME_TRUNK));
}

#[tokio::test]
async fn eth_network_is_provide_only() {
    let mut sb = frozen_sandbox().await;
    let quote = |bandwidth: &str| {
        json!({"quoteItem": [{"id": "1", "action": "add", "product": {"@type": "ETHNetwork",
            "place": [{"postcode": "IP5 3RE"}],
            "productCharacteristic": [{"name": "bandwidth", "value": bandwidth},
                                      {"name": "term", "value": "12"}]}}]})
    };
    let r = sb.post(QUOTE, quote("1000")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let item = &r.body["quoteItem"][0];
    assert_eq!(item["product"]["name"], "ETH Network");
    let prices = item["quoteItemPrice"].as_array().unwrap();
    let amount = |kind: &str| {
        prices.iter().find(|p| p["priceType"] == kind).unwrap()["price"]["dutyFreeAmount"]["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(
        (amount("nonRecurring"), amount("recurring")),
        (3000.0, 900.0)
    );
    sb.post(QUOTE, quote("20"))
        .await
        .rejects("InvalidBandwidth");
    let q = r.id();

    let provide = json!({"externalId": "net-1", "productOrderItem": [{"id": "1", "action": "add",
        "quoteItem": {"quoteId": q, "id": "1"}}]});
    let r = sb.post(ETH_ORDER, provide).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let oid = r.id();
    // Amending the provide is refused: provide only.
    let amend = json!({"productOrderItem": [{"id": "1", "product": {"productCharacteristic":
        [{"name": "bandwidth", "value": "10000"}]}}]});
    sb.patch(&format!("{ETH_ORDER}/{oid}"), amend)
        .await
        .rejects("ProvideOnly");
    sb.advance(30.0).await;
    let r = sb.get(&format!("{ETH_ORDER}/{oid}")).await;
    assert_eq!(r.s("state"), "completed", "{}", r.body);
    let service = r.body["productOrderItem"][0]["product"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let live = sb.get(&format!("{ETH_INVENTORY}/{service}")).await;
    assert_eq!(live.s("status"), "active");
    assert_eq!(live.s("@type"), "ETHNetwork");

    // Modify, modify quote and cease: refused, naming the product.
    let modify = json!({"productOrderItem": [{"id": "1", "action": "modify", "product": {"id": service,
        "productCharacteristic": [{"name": "bandwidth", "value": "10000"}]}}]});
    let r = sb.post(ETH_ORDER, modify).await;
    r.rejects("ProvideOnly");
    assert!(r.message().contains("ETH Network"), "{}", r.body);
    let modify_quote = json!({"quoteItem": [{"id": "1", "action": "modify", "product": {"id": service,
        "productCharacteristic": [{"name": "bandwidth", "value": "10000"}]}}]});
    sb.post(QUOTE, modify_quote).await.rejects("ProvideOnly");
    let cease =
        json!({"productOrderItem": [{"id": "1", "action": "delete", "product": {"id": service}}]});
    sb.post(ETH_ORDER, cease).await.rejects("ProvideOnly");
    let still = sb.get(&format!("{ETH_INVENTORY}/{service}")).await;
    assert_eq!(still.s("status"), "active");
}

#[tokio::test]
async fn an_unknown_action_is_named_alone() {
    let sb = frozen_sandbox().await;
    let r = sb
        .post(
            &format!("{ORDER}/productOrder"),
            follow_on(
                ACME,
                vec![item("2", "WHCUser", "upgrade", &[("serviceId", ACME_USER)])],
            ),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "29");
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{}", r.body);
    assert_eq!(errors[0]["field"], "productOrderItem[1].action");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("upgrade") && message.contains("add, modify, delete"),
        "{message}"
    );
    assert!(!r.message().contains("firstName"), "{}", r.body);
}

#[tokio::test]
async fn the_qualification_answer_carries_tmf679s_fields() {
    let sb = frozen_sandbox().await;
    let body = json!({
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": "GB01234567"},
        "productOfferingQualificationItem": [{"id": "1", "productOffering": {"id": "WHCCompany"},
            "product": {"productCharacteristic": chars(&[("customerName", "Tmf Fields Ltd"),
                ("customerDomain", "tmffields.co.uk"), ("customerGroup", "SWAINsTelecom")])}}],
    });
    let r = sb.post(QUALIFY, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The guide's three, and TMF679's three with TMF679's meaning (CONTRACT.md).
    for key in ["id", "productOfferingQualificationItem", "relatedParty"] {
        assert!(r.body.get(key).is_some(), "{key}: {}", r.body);
    }
    assert_eq!(r.s("state"), "done");
    assert_eq!(r.s("qualificationResult"), "qualified");
    let expires: chrono::DateTime<chrono::Utc> = r.s("expirationDate").parse().unwrap();
    let london = expires.with_timezone(&chrono_tz::Europe::London);
    assert_eq!(london.format("%H:%M").to_string(), "23:59", "{}", r.body);
}

#[tokio::test]
async fn a_ceased_company_takes_no_more_numbers() {
    let mut sb = frozen_sandbox().await;
    let (qid, svc) = sb
        .add_qualified("WHCCompany", "Short Lived Ltd", "shortlived.co.uk")
        .await;
    let company = item(
        "1",
        "WHCCompany",
        "add",
        &[
            ("customerName", "Short Lived Ltd"),
            ("customerDomain", "shortlived.co.uk"),
            ("customerGroup", "SWAINsTelecom"),
            ("serviceId", &svc),
            ("qualifierId", &qid),
        ],
    );
    sb.add_complete(order(vec![company])).await;
    let r = sb.post(RINGFENCE, ringfence(&svc, None, "0121", 1)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    sb.add_complete(order(vec![item(
        "1",
        "WHCCompany",
        "delete",
        &[("serviceId", &svc)],
    )]))
    .await;
    let r = sb.post(RINGFENCE, ringfence(&svc, None, "0121", 1)).await;
    r.rejects("CompanyCeased");
}
