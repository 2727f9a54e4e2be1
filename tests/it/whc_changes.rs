//! WHC after the provide: each sandbox rule for modify and delete items, CPE devices, WHC Express,
//! the product inventory and the quarantine of ceased numbers, over HTTP; and each change recipe
//! through the real binary, twice in a row.

use crate::common::{btw, client, output};
use crate::raw::{sandbox_with, Reply, Sb};
use btw_sandbox::SandboxConfig;
use serde_json::{json, Value};

const CUG: &str = "CUG5019851064";
const QUALIFY: &str = "/bt-wholesale/v1/whc/productOfferingQualification";
const RINGFENCE: &str = "/v1/resourceManagement/directoryNumbers/ringFence";
const NUMBERS: &str = "/v1/resourceManagement/directoryNumbers";
const ORDER: &str = "/bt-wholesale/v1/order";
const INVENTORY: &str = "/bt-wholesale/v1/whc/productInventory/product";
const VERIFY: &str = "/bt-wholesale/v1/whc/resourceInventory/resellers/CUG5019851064";
const NAD: &str = "R00000010001";

/// A sandbox whose orders complete as soon as they are submitted.
async fn instant() -> Sb {
    sandbox_with(SandboxConfig {
        order_step_secs: 0.0,
        ..Default::default()
    })
    .await
}

fn item(offering: &str, action: &str, pairs: &[(&str, &str)]) -> Value {
    let chars: Vec<Value> = pairs
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    json!({"action": action, "productOffering": {"id": offering},
           "product": {"productCharacteristic": chars}})
}

fn company(svc: &str) -> Value {
    item("WHCCompany", "noChange", &[("serviceId", svc)])
}

/// A company to add for `domain`, on the service and qualification BT gave it.
fn new_company(domain: &str, svc: &str, qid: &str) -> Value {
    item(
        "WHCCompany",
        "add",
        &[
            ("customerName", domain),
            ("customerDomain", domain),
            ("customerGroup", "SWAINsTelecom"),
            ("serviceId", svc),
            ("qualifierId", qid),
        ],
    )
}

fn user(n: usize, domain: &str, number: &str) -> Value {
    item(
        "WHCUser",
        "add",
        &[
            ("firstName", "Test"),
            ("lastName", &format!("User{n}")),
            ("username", &format!("user{n}@{domain}")),
            ("extension", &format!("{}", 2001 + n)),
            ("directoryNumber", number),
        ],
    )
}

/// A create-order body: the items numbered in order.
fn body(items: Vec<Value>) -> Value {
    let items: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, mut it)| {
            it["id"] = json!((i + 1).to_string());
            it
        })
        .collect();
    json!({"relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
           "billingAccount": {"id": "GB01234567"}, "productOrderItem": items})
}

/// A fresh company: its service id, domain, numbers (users' first), site and users' service ids.
struct Co {
    svc: String,
    domain: String,
    numbers: Vec<String>,
    site: String,
    users: Vec<String>,
}

impl Sb {
    async fn create(&self, items: Vec<Value>) -> Reply {
        self.post(&format!("{ORDER}/productOrder"), body(items))
            .await
    }

    async fn submit(&self, id: &str) -> Reply {
        let r = self
            .post(
                &format!("{ORDER}/submit-product-order"),
                json!({"productOrder": {"id": id}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r
    }

    /// Creates and submits an order that must be accepted; returns its id.
    async fn placed(&self, items: Vec<Value>) -> String {
        let r = self.create(items).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.id();
        self.submit(&id).await;
        id
    }

    async fn order_state(&self, id: &str) -> String {
        let r = self.get(&format!("{ORDER}/productOrder/{id}")).await;
        r.s("state").to_string()
    }

    async fn inventory(&self, svc: &str) -> Vec<Value> {
        let r = self
            .get(&format!("{INVENTORY}?companyServiceId={svc}&limit=100"))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body.as_array().unwrap().clone()
    }

    /// Qualifies (WHC or WHC Express) and ringfences `quantity` numbers: (qid, svc, numbers).
    async fn qualify_and_ringfence(
        &self,
        domain: &str,
        express: bool,
        quantity: u64,
    ) -> (String, String, Vec<String>) {
        let offering = if express {
            "WHCExpressCompany"
        } else {
            "WHCCompany"
        };
        let q = self
            .post(QUALIFY, json!({
                "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
                "billingAccount": {"id": "GB01234567"},
                "productOfferingQualificationItem": [{"id": "1", "productOffering": {"id": offering},
                    "product": {"productCharacteristic": [
                        {"name": "customerName", "value": domain},
                        {"name": "customerDomain", "value": domain},
                        {"name": "customerGroup", "value": "SWAINsTelecom"}]}}]}))
            .await;
        assert_eq!(q.status, 201, "{}", q.body);
        let qi = &q.body["productOfferingQualificationItem"][0];
        assert_eq!(qi["productOffering"]["id"], offering);
        let (qid, svc) = (
            q.id(),
            qi["product"]["serviceId"]["value"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        let r = self
            .post(
                RINGFENCE,
                json!({
                "customer": {"id": CUG, "type": "BUSINESS"},
                "numbers": {"quantity": quantity, "characteristics": {"numberString": "0121"}},
                "product": {"name": "WHC"}, "action": "RingFence",
                "ringFenceId": svc, "qualifierId": qid}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let start: u64 = r.body["numberRange"]["startNumber"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let numbers = (0..quantity).map(|i| format!("0{}", start + i)).collect();
        (qid, svc, numbers)
    }

    /// A provided WHC company: a site, a block of `users + spare` numbers and `users` users.
    async fn provide(&self, users: usize, spare: u64) -> Co {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let domain = format!("co{tag}.co.uk");
        let (qid, svc, numbers) = self
            .qualify_and_ringfence(&domain, false, users as u64 + spare)
            .await;
        let mut items = vec![
            new_company(&domain, &svc, &qid),
            item(
                "WHCSite",
                "add",
                &[
                    ("siteName", &format!("{tag} HQ")),
                    ("siteLocationCode", &tag),
                ],
            ),
            item(
                "WHCNumberBlock",
                "add",
                &[
                    ("startNumber", &numbers[0]),
                    ("endNumber", numbers.last().unwrap()),
                ],
            ),
        ];
        items[1]["relatedPlace"] = json!([{"id": NAD, "role": "installationAddress"}]);
        items.extend((0..users).map(|n| user(n, &domain, &numbers[n])));
        let id = self.placed(items).await;
        assert_eq!(self.order_state(&id).await, "completed");
        let inv = self.inventory(&svc).await;
        let site = of(&inv, "WHCSite")[0]["id"].as_str().unwrap().to_string();
        let users = of(&inv, "WHCUser")
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        Co {
            svc,
            domain,
            numbers,
            site,
            users,
        }
    }
}

fn of<'a>(inv: &'a [Value], offering: &str) -> Vec<&'a Value> {
    inv.iter()
        .filter(|p| p["productOffering"]["id"] == offering)
        .collect()
}

fn char_of<'a>(p: &'a Value, name: &str) -> Option<&'a str> {
    p["productCharacteristic"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["value"].as_str())
}

fn by_id<'a>(inv: &'a [Value], id: &str) -> &'a Value {
    inv.iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {inv:?}"))
}

fn cease(offering: &str, svc: &str) -> Value {
    item(offering, "delete", &[("serviceId", svc)])
}

#[tokio::test]
async fn inventory_lists_what_a_company_holds_in_pages() {
    let sb = instant().await;
    let co = sb.provide(2, 1).await;
    let r = sb
        .get(&format!("{INVENTORY}?companyServiceId={}&limit=2", co.svc))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Company, site, two users, three numbers.
    assert_eq!(r.header("X-Total-Count"), "7");
    assert_eq!(r.header("X-Result-Count"), "2");
    assert_eq!(r.body[0]["productOffering"]["id"], "WHCCompany");
    let users = sb
        .get(&format!(
            "{INVENTORY}?companyServiceId={}&productOffering=WHCUser",
            co.svc
        ))
        .await;
    let users = users.body.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| u["status"] == "active"));
    assert_eq!(
        char_of(&users[0], "directoryNumber"),
        Some(co.numbers[0].as_str())
    );
    assert_eq!(char_of(&users[0], "siteServiceId"), Some(co.site.as_str()));

    let unknown = sb
        .get(&format!("{INVENTORY}?companyServiceId=WHHCNOPE"))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.code(), "60");
    let missing = sb.get(INVENTORY).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.code(), "27");
}

#[tokio::test]
async fn a_site_is_ceased_only_after_its_users() {
    let sb = instant().await;
    let co = sb.provide(1, 0).await;
    let r = sb
        .create(vec![company(&co.svc), cease("WHCSite", &co.site)])
        .await;
    r.rejects("SiteHasUsers");
    sb.placed(vec![company(&co.svc), cease("WHCUser", &co.users[0])])
        .await;
    sb.placed(vec![company(&co.svc), cease("WHCSite", &co.site)])
        .await;
    let inv = sb.inventory(&co.svc).await;
    assert_eq!(by_id(&inv, &co.site)["status"], "terminated");
    assert_eq!(by_id(&inv, &co.users[0])["status"], "terminated");
}

#[tokio::test]
async fn a_ceased_item_cannot_be_modified() {
    let sb = instant().await;
    let co = sb.provide(1, 0).await;
    sb.placed(vec![company(&co.svc), cease("WHCUser", &co.users[0])])
        .await;
    let modify = item(
        "WHCUser",
        "modify",
        &[("serviceId", &co.users[0]), ("lastName", "Again")],
    );
    sb.create(vec![company(&co.svc), modify])
        .await
        .rejects("ItemCeased");
    let unknown = item(
        "WHCUser",
        "modify",
        &[("serviceId", "WHHCNOPE"), ("lastName", "X")],
    );
    sb.create(vec![company(&co.svc), unknown])
        .await
        .rejects("ItemNotFound");
    let odd = item(
        "WHCSite",
        "modify",
        &[("serviceId", &co.site), ("username", "x")],
    );
    sb.create(vec![company(&co.svc), odd])
        .await
        .rejects("NotModifiable");
    // A ceased user's username and extension are free again.
    let again = user(0, &co.domain, &co.numbers[0]);
    sb.placed(vec![company(&co.svc), again]).await;
}

#[tokio::test]
async fn extension_and_username_clashes_are_refused() {
    let sb = instant().await;
    let co = sb.provide(2, 0).await;
    let m = |pairs: &[(&str, &str)]| {
        let mut all = vec![("serviceId", co.users[1].as_str())];
        all.extend_from_slice(pairs);
        item("WHCUser", "modify", &all)
    };
    sb.create(vec![company(&co.svc), m(&[("extension", "2001")])])
        .await
        .rejects("ExtensionInUse");
    let taken = format!("user0@{}", co.domain);
    sb.create(vec![company(&co.svc), m(&[("username", &taken)])])
        .await
        .rejects("UsernameInUse");
    sb.create(vec![
        company(&co.svc),
        m(&[("username", "jsmith@acmewidgets.co.uk")]),
    ])
    .await
    .rejects("UsernameInUse");
    // At most three users per order, whatever their action.
    let four: Vec<Value> = std::iter::once(company(&co.svc))
        .chain((0..4).map(|i| m(&[("lastName", &format!("L{i}"))])))
        .collect();
    sb.create(four).await.rejects("TooManyUsers");
    // Two users swapping extensions in one order clash with nobody.
    let first = item(
        "WHCUser",
        "modify",
        &[("serviceId", &co.users[0]), ("extension", "2002")],
    );
    sb.placed(vec![company(&co.svc), first, m(&[("extension", "2001")])])
        .await;
    let inv = sb.inventory(&co.svc).await;
    assert_eq!(
        char_of(by_id(&inv, &co.users[0]), "extension"),
        Some("2002")
    );
    assert_eq!(
        char_of(by_id(&inv, &co.users[1]), "extension"),
        Some("2001")
    );
}

#[tokio::test]
async fn a_number_moves_between_users_only_in_one_order() {
    let sb = instant().await;
    let co = sb.provide(2, 1).await;
    let take = item(
        "WHCUser",
        "modify",
        &[
            ("serviceId", &co.users[1]),
            ("directoryNumber", &co.numbers[0]),
        ],
    );
    sb.create(vec![company(&co.svc), take.clone()])
        .await
        .rejects("NumberInUse");
    let give = item(
        "WHCUser",
        "modify",
        &[
            ("serviceId", &co.users[0]),
            ("directoryNumber", &co.numbers[2]),
        ],
    );
    sb.placed(vec![company(&co.svc), give, take]).await;
    let inv = sb.inventory(&co.svc).await;
    assert_eq!(
        char_of(by_id(&inv, &co.users[1]), "directoryNumber"),
        Some(co.numbers[0].as_str())
    );
    assert_eq!(
        char_of(by_id(&inv, &co.users[0]), "directoryNumber"),
        Some(co.numbers[2].as_str())
    );
}

#[tokio::test]
async fn ceased_numbers_are_quarantined_then_released() {
    let mut sb = instant().await;
    let co = sb.provide(1, 2).await;
    let block = |a: &str, b: &str| {
        item(
            "WHCNumberBlock",
            "delete",
            &[("startNumber", a), ("endNumber", b)],
        )
    };
    // A user's number cannot be ceased from under them.
    sb.create(vec![
        company(&co.svc),
        block(&co.numbers[0], &co.numbers[0]),
    ])
    .await
    .rejects("NumberInUse");
    sb.placed(vec![
        company(&co.svc),
        block(&co.numbers[1], &co.numbers[2]),
    ])
    .await;
    let inv = sb.inventory(&co.svc).await;
    let n = by_id(&inv, &co.numbers[1]);
    assert_eq!(n["status"], "terminated");
    assert_eq!(char_of(n, "numberStatus"), Some("QUARANTINED"));
    assert!(char_of(n, "quarantineUntil").is_some());
    // Not available to anyone meanwhile.
    for q in [
        format!("companyServiceId={}", co.svc),
        format!("cugId={CUG}"),
    ] {
        let r = sb.get(&format!("{NUMBERS}?{q}&limit=100")).await;
        let listed: Vec<&str> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["number"].as_str())
            .collect();
        assert!(!listed.contains(&co.numbers[1].as_str()), "{q}: {listed:?}");
    }
    let take = item(
        "WHCUser",
        "modify",
        &[
            ("serviceId", &co.users[0]),
            ("directoryNumber", &co.numbers[2]),
        ],
    );
    sb.create(vec![company(&co.svc), take])
        .await
        .rejects("NumberNotRingfenced");
    sb.create(vec![company(&co.svc), user(1, &co.domain, &co.numbers[2])])
        .await
        .rejects("NumberNotRingfenced");
    sb.create(vec![
        company(&co.svc),
        block(&co.numbers[1], &co.numbers[1]),
    ])
    .await
    .rejects("ItemCeased");
    // After the quarantine period (90 days) the numbers are free again.
    sb.advance(91.0 * 86_400.0).await;
    let inv = sb.inventory(&co.svc).await;
    assert!(inv.iter().all(|p| p["id"] != co.numbers[1].as_str()));
}

#[tokio::test]
async fn a_company_is_ceased_last_and_only_with_nothing_in_flight() {
    let sb = instant().await;
    let co = sb.provide(1, 1).await;
    let whole = || item("WHCCompany", "delete", &[("serviceId", &co.svc)]);
    let pending = sb
        .create(vec![company(&co.svc), user(5, &co.domain, &co.numbers[1])])
        .await;
    assert_eq!(pending.status, 201, "{}", pending.body);
    sb.create(vec![whole()])
        .await
        .rejects("CompanyOrderInFlight");
    let r = sb
        .post(
            &format!("{ORDER}/cancelProductOrder"),
            json!({"productOrder": {"id": pending.id()}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    sb.create(vec![whole()]).await.rejects("CompanyHasUsers");
    sb.placed(vec![company(&co.svc), cease("WHCUser", &co.users[0])])
        .await;
    sb.create(vec![whole()]).await.rejects("CompanyHasSites");
    sb.placed(vec![company(&co.svc), cease("WHCSite", &co.site)])
        .await;
    let id = sb.placed(vec![whole()]).await;
    assert_eq!(sb.order_state(&id).await, "completed");

    let inv = sb.inventory(&co.svc).await;
    assert!(inv.iter().all(|p| p["status"] == "terminated"), "{inv:?}");
    let held = sb
        .get(&format!("{NUMBERS}?companyServiceId={}", co.svc))
        .await;
    assert_eq!(held.body, json!([]));
    sb.create(vec![company(&co.svc), user(6, &co.domain, &co.numbers[1])])
        .await
        .rejects("CompanyCeased");
    let verify = sb
        .get(&format!("{VERIFY}/company?companyName={}", co.domain))
        .await;
    assert_eq!(verify.s("status"), "terminated");
}

#[tokio::test]
async fn ceases_are_pending_until_the_order_completes_and_a_cancel_restores_them() {
    let mut sb = sandbox_with(SandboxConfig {
        order_step_secs: 1000.0,
        ..Default::default()
    })
    .await;
    let co = {
        // Provide on this slow sandbox by moving its clock on.
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let domain = format!("slow{tag}.co.uk");
        let (qid, svc, numbers) = sb.qualify_and_ringfence(&domain, true, 1).await;
        let id = sb
            .placed(vec![
                new_company(&domain, &svc, &qid),
                user(0, &domain, &numbers[0]),
            ])
            .await;
        let inv = sb.inventory(&svc).await;
        assert_eq!(of(&inv, "WHCUser")[0]["status"], "pendingActive");
        sb.advance(2500.0).await;
        assert_eq!(sb.order_state(&id).await, "completed");
        let inv = sb.inventory(&svc).await;
        (
            svc,
            of(&inv, "WHCUser")[0]["id"].as_str().unwrap().to_string(),
        )
    };
    let (svc, user_id) = co;
    // One change at a time per item: a second order on it waits for the first.
    let rename = |last: &str| {
        item(
            "WHCUser",
            "modify",
            &[("serviceId", &user_id), ("lastName", last)],
        )
    };
    let first = sb.placed(vec![company(&svc), rename("First")]).await;
    sb.create(vec![company(&svc), rename("Second")])
        .await
        .rejects("ItemInFlight");
    sb.advance(2500.0).await;
    assert_eq!(sb.order_state(&first).await, "completed");
    assert_eq!(
        char_of(by_id(&sb.inventory(&svc).await, &user_id), "lastName"),
        Some("First")
    );
    let id = sb
        .placed(vec![company(&svc), cease("WHCUser", &user_id)])
        .await;
    let order = sb.get(&format!("{ORDER}/productOrder/{id}")).await;
    assert_eq!(order.body["productOrderItem"][1]["action"], "delete");
    assert_eq!(
        by_id(&sb.inventory(&svc).await, &user_id)["status"],
        "pendingTerminate"
    );
    let again = item(
        "WHCUser",
        "modify",
        &[("serviceId", &user_id), ("lastName", "X")],
    );
    sb.create(vec![company(&svc), again])
        .await
        .rejects("ItemCeased");
    let r = sb
        .post(
            &format!("{ORDER}/cancelProductOrder"),
            json!({"productOrder": {"id": id}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        by_id(&sb.inventory(&svc).await, &user_id)["status"],
        "active"
    );
    sb.placed(vec![company(&svc), cease("WHCUser", &user_id)])
        .await;
    sb.advance(2500.0).await;
    assert_eq!(
        by_id(&sb.inventory(&svc).await, &user_id)["status"],
        "terminated"
    );
}

#[tokio::test]
async fn devices_are_added_swapped_and_removed() {
    let sb = instant().await;
    let co = sb.provide(1, 0).await;
    let u = co.users[0].as_str();
    let tag = &co.svc[co.svc.len() - 4..];
    let name = format!("PHONE-{tag}");
    let add = |name: &str, mac: &str, model: &str, user: &str| {
        item(
            "WHCDevice",
            "add",
            &[
                ("deviceName", name),
                ("macAddress", mac),
                ("deviceModel", model),
                ("userServiceId", user),
            ],
        )
    };
    let mac = format!("02:00:00:00:{}:{}", &tag[..2], &tag[2..]);
    sb.create(vec![company(&co.svc), add(&name, &mac, "Fax 3000", u)])
        .await
        .rejects("UnknownDeviceModel");
    sb.create(vec![
        company(&co.svc),
        add(&name, "00:1A:2B:3C:4D:5E", "Yealink T54W", u),
    ])
    .await
    .rejects("MacAddressInUse");
    sb.create(vec![
        company(&co.svc),
        add("ACME-PBX-01", &mac, "Yealink T54W", u),
    ])
    .await
    .rejects("DeviceNameInUse");
    sb.create(vec![
        company(&co.svc),
        add(&name, &mac, "Yealink T54W", "WHHCNOPE"),
    ])
    .await
    .rejects("ItemNotFound");
    sb.placed(vec![company(&co.svc), add(&name, &mac, "Yealink T54W", u)])
        .await;
    let inv = sb.inventory(&co.svc).await;
    let device = of(&inv, "WHCDevice")[0].clone();
    let device_id = device["id"].as_str().unwrap().to_string();
    assert_eq!(char_of(&device, "userServiceId"), Some(u));
    assert_eq!(char_of(by_id(&inv, u), "deviceName"), Some(name.as_str()));

    // A swap: the same device record, a new handset.
    let mac2 = format!("02:00:00:01:{}:{}", &tag[..2], &tag[2..]);
    let swap = item(
        "WHCDevice",
        "modify",
        &[
            ("serviceId", &device_id),
            ("macAddress", &mac2),
            ("deviceModel", "Poly VVX 450"),
        ],
    );
    sb.placed(vec![company(&co.svc), swap]).await;
    let inv = sb.inventory(&co.svc).await;
    assert_eq!(
        char_of(by_id(&inv, &device_id), "deviceModel"),
        Some("Poly VVX 450")
    );
    let old = sb.get(&format!("{VERIFY}/macAddress?value={mac}")).await;
    assert_eq!(old.status, 404, "the old MAC is free: {}", old.body);

    sb.placed(vec![company(&co.svc), cease("WHCDevice", &device_id)])
        .await;
    let inv = sb.inventory(&co.svc).await;
    assert_eq!(by_id(&inv, &device_id)["status"], "terminated");
    assert_eq!(char_of(by_id(&inv, u), "deviceName"), None);
    let freed = sb.get(&format!("{VERIFY}/deviceName?value={name}")).await;
    assert_eq!(freed.status, 404, "{}", freed.body);
}

#[tokio::test]
async fn whc_express_takes_users_but_no_sites_or_number_blocks() {
    let sb = instant().await;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    let domain = format!("ex{tag}.co.uk");
    let (qid, svc, numbers) = sb.qualify_and_ringfence(&domain, true, 2).await;
    let new_co = new_company(&domain, &svc, &qid);
    let mut site = item(
        "WHCSite",
        "add",
        &[
            ("siteName", &format!("{tag} HQ")),
            ("siteLocationCode", &tag),
        ],
    );
    site["relatedPlace"] = json!([{"id": NAD, "role": "installationAddress"}]);
    let block = item(
        "WHCNumberBlock",
        "add",
        &[("startNumber", &numbers[0]), ("endNumber", &numbers[1])],
    );
    for extra in [site.clone(), block] {
        let r = sb.create(vec![new_co.clone(), extra]).await;
        r.rejects("NotSupportedOnWhcExpress");
        assert_eq!(
            r.message(),
            "WHC Express does not support site and numbers as orderable entity"
        );
    }
    sb.placed(vec![
        new_co,
        user(0, &domain, &numbers[0]),
        user(1, &domain, &numbers[1]),
    ])
    .await;
    let inv = sb.inventory(&svc).await;
    assert_eq!(inv[0]["productOffering"]["id"], "WHCExpressCompany");
    assert_eq!(of(&inv, "WHCUser").len(), 2);
    assert!(of(&inv, "WHCUser")
        .iter()
        .all(|u| char_of(u, "siteServiceId").is_none()));
    sb.create(vec![company(&svc), site])
        .await
        .rejects("NotSupportedOnWhcExpress");
}

/// Runs a recipe with default params twice in a row on one sandbox; returns both `--json` results,
/// each checked to be ok with every order completed.
async fn twice(recipe: &str) -> (String, Vec<Value>) {
    let sb = crate::common::sandbox_with(SandboxConfig {
        order_step_secs: 0.2,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for _ in 0..2 {
        let path = format!("scripts/{recipe}.rhai");
        let o = output(btw(&sb.base_url(), dir.path()).args(["run", &path, "--json"])).await;
        assert_eq!(o.code, 0, "{recipe}: {}\n{}", o.stdout, o.stderr);
        let last = o.stdout.lines().last().expect("some stdout");
        let v: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
        assert_eq!(v["ok"], true, "{v}");
        let orders = v["orders"].as_array().expect("orders in the result");
        assert!(!orders.is_empty());
        for o in orders {
            assert_eq!(o["state"], "completed", "{recipe}: {v}");
            assert!(o["id"].as_str().unwrap().starts_with("BTWKN"));
        }
        results.push(v);
    }
    assert_ne!(
        results[0]["company_service_id"],
        results[1]["company_service_id"]
    );
    (sb.base_url(), results)
}

#[tokio::test(flavor = "multi_thread")]
async fn add_users_recipe_adds_in_orders_of_three() {
    let (_, runs) = twice("whc_add_users").await;
    for v in runs {
        assert_eq!(v["users_now"], 5, "{v}");
        let adds = v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["purpose"] == "add users")
            .count();
        assert_eq!(adds, 2, "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn modify_user_recipe_changes_extension_licence_and_device() {
    let (_, runs) = twice("whc_modify_user").await;
    for v in runs {
        assert_ne!(v["after"]["extension"], v["before"]["extension"], "{v}");
        assert_eq!(v["after"]["licence"], "Professional");
        assert_eq!(v["after"]["add_ons"], json!(["CallRecording"]));
        assert!(v["after"]["device_name"].is_string(), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn move_number_recipe_moves_a_number_to_another_user() {
    let (_, runs) = twice("whc_move_number").await;
    for v in runs {
        assert_eq!(v["to"]["number_now"], v["number"], "{v}");
        assert_ne!(v["from"]["number_now"], v["number"], "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn express_provide_recipe_orders_users_without_sites() {
    let (_, runs) = twice("whc_express_provide").await;
    for v in runs {
        assert_eq!(v["product"], "WHCExpressCompany", "{v}");
        assert_eq!(v["sites"], 0);
        assert_eq!(v["users"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cease_recipe_ceases_a_whole_company_in_order() {
    let (url, runs) = twice("whc_cease").await;
    let bt = client(&url);
    for v in runs {
        let svc = v["company_service_id"].as_str().unwrap();
        let purposes: Vec<&str> = v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["purpose"].as_str())
            .collect();
        let first_cease = purposes
            .iter()
            .position(|p| p.starts_with("cease"))
            .unwrap();
        assert_eq!(
            &purposes[first_cease..],
            ["cease users", "cease users", "cease sites", "cease company"],
            "{v}"
        );
        // Everything ceased, numbers in quarantine.
        let inv = bt.inventory(svc).await.unwrap();
        assert_eq!(inv["company"]["status"], "terminated");
        for kind in ["sites", "users", "numbers"] {
            let list = inv[kind].as_array().unwrap();
            assert!(!list.is_empty(), "{kind}");
            assert!(
                list.iter().all(|p| p["status"] == "terminated"),
                "{kind}: {inv}"
            );
        }
        assert!(inv["numbers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["number_status"] == "QUARANTINED"));
        // Absent from Get Available Numbers.
        let scope = btw::api::numbers::NumberScope::Company(svc.to_string());
        assert_eq!(
            bt.numbers_all_available(&scope).await.unwrap(),
            Vec::<Value>::new()
        );
        let all = bt
            .numbers_all_available(&btw::api::numbers::NumberScope::Cug(CUG.into()))
            .await
            .unwrap();
        let quarantined = inv["numbers"][0]["service_id"].as_str().unwrap();
        assert!(all.iter().all(|n| n["number"] != quarantined));
        // A new order on it is refused.
        let body = body(vec![company(svc), user(9, "ceased.co.uk", quarantined)]);
        match bt.order_create(body).await {
            Err(btw::api::ApiError::Bt(e)) => assert_eq!(e.reason, "CompanyCeased", "{e:?}"),
            other => panic!("expected CompanyCeased, got {other:?}"),
        }
    }
}

#[test]
fn repl_help_and_defs_cover_the_new_functions() {
    let engine = btw::engine::build_engine(
        &btw::engine::EngineOptions::default(),
        std::sync::Arc::new(btw::engine::VecOutput::default()),
        btw::engine::Cancel::default(),
    );
    let docs = btw::repl::help::Docs::from_engine(&engine);
    let inventory = docs
        .fns
        .iter()
        .find(|f| f.qualified() == "whc::inventory")
        .expect("whc::inventory in the help");
    assert!(inventory.example.is_some());
    let create = docs
        .fns
        .iter()
        .find(|f| f.qualified() == "order::create")
        .unwrap();
    assert!(
        format!("{create:?}").contains("action"),
        "order::create's help tells of actions"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cease_order_notifies_like_a_provide() {
    let sb = instant().await;
    let (hub, _listener) = crate::common::notifications(&sb.base).await;
    let co = sb.provide(1, 0).await;
    let id = sb
        .placed(vec![company(&co.svc), cease("WHCUser", &co.users[0])])
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let state = hub.store.order_state(&id).unwrap();
        if state.as_deref() == Some("completed") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no completed notification for {id}: {state:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(hub.store.notification_count(&id).unwrap() >= 1);
}
