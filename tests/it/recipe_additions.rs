//! The recipes for more numbers, trunks and ETH Network, through the real binary against a
//! sandbox: each one's accepted path and its refused path.

use crate::common::{btw, output, Output};
use btw_sandbox::{SandboxConfig, SandboxHandle};
use serde_json::Value;

async fn quick() -> SandboxHandle {
    crate::common::sandbox_with(SandboxConfig {
        order_step_secs: 0.2,
        ..Default::default()
    })
    .await
}

/// `btw run scripts/NAME.rhai --json` with `params` (`name=value` each).
async fn run(sb: &SandboxHandle, dir: &std::path::Path, recipe: &str, params: &[&str]) -> Output {
    let path = format!("scripts/{recipe}.rhai");
    let mut args = vec!["run", path.as_str(), "--json"];
    for p in params {
        args.extend(["--param", p]);
    }
    output(btw(&sb.base_url(), dir).args(&args)).await
}

/// The `--json` result of a run that succeeded.
fn result(o: &Output) -> Value {
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let last = o.stdout.lines().last().expect("some stdout");
    let v: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(v["ok"], true, "{v}");
    v["result"].clone()
}

/// A run BT refused: exit 4 (a BT error), with the reason in the error.
fn refused(o: &Output, reason: &str) {
    assert_eq!(o.code, 4, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains(reason), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn add_numbers_recipe_ringfences_for_a_company_its_site_or_user() {
    let sb = quick().await;
    let dir = tempfile::tempdir().unwrap();
    // Defaults: a fresh company, numbers without its qualification.
    let r = result(&run(&sb, dir.path(), "whc_add_numbers", &[]).await);
    assert_eq!(r["quantity"], 5, "{r}");
    assert_eq!(r["reserved_for"], r["company_service_id"]);
    assert_eq!(r["orders"][0]["state"], "completed", "{r}");
    // Reserved against the seeded company's site, by place name: listed under the site.
    let r = result(
        &run(
            &sb,
            dir.path(),
            "whc_add_numbers",
            &[
                "company_service_id=WHHCBTWKN1000",
                "reserve_for=WHHCBTWKN1001",
                "area_code=Leeds",
                "quantity=3",
            ],
        )
        .await,
    );
    assert_eq!(r["site_service_id"], "WHHCBTWKN1001", "{r}");
    assert_eq!(r["listed_under_site"], 3, "{r}");
    assert!(r["start"].as_str().unwrap().starts_with("0113"), "{r}");
    // Against its user: the user's site, and the user.
    let r = result(
        &run(
            &sb,
            dir.path(),
            "whc_add_numbers",
            &[
                "company_service_id=WHHCBTWKN1000",
                "reserve_for=WHHCBTWKN1002",
                "quantity=1",
            ],
        )
        .await,
    );
    assert_eq!(r["user_service_id"], "WHHCBTWKN1002", "{r}");
    assert_eq!(r["listed_under_site"], 1, "{r}");
    // A company with too few spare numbers: add users ringfences the missing ones without its
    // qualification, then orders the users.
    let fresh = result(&run(&sb, dir.path(), "whc_add_numbers", &["quantity=2"]).await);
    let svc = fresh["company_service_id"].as_str().unwrap();
    let added = result(
        &run(
            &sb,
            dir.path(),
            "whc_add_users",
            &[
                &format!("company_service_id={svc}"),
                "count=3",
                "area_code=Bristol",
            ],
        )
        .await,
    );
    assert_eq!(added["users_now"], 4, "{added}");
    assert!(
        added["ringfenced"]["start"]
            .as_str()
            .is_some_and(|n| n.starts_with("0117")),
        "{added}"
    );
    // Refused: no such company.
    let o = run(
        &sb,
        dir.path(),
        "whc_add_numbers",
        &["company_service_id=WHHCBTWKN9999"],
    )
    .await;
    refused(&o, "UnknownCompany");
}

#[tokio::test(flavor = "multi_thread")]
async fn trunk_recipe_adds_modifies_and_ceases_a_trunk() {
    let sb = quick().await;
    let dir = tempfile::tempdir().unwrap();
    let r = result(&run(&sb, dir.path(), "whc_trunk", &["cease=true"]).await);
    assert_eq!(r["channels"], "20", "{r}");
    assert_eq!(r["status"], "terminated", "{r}");
    assert_eq!(
        r["name_in_use"], false,
        "a ceased trunk frees its name: {r}"
    );
    let purposes: Vec<&str> = r["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(
        purposes,
        ["provide", "add trunk", "modify trunk", "cease trunk"]
    );
    // Without the cease, on the seeded company: active at its site.
    let r = result(
        &run(
            &sb,
            dir.path(),
            "whc_trunk",
            &["company_service_id=WHHCBTWKN1000", "name=ACME-TRUNK-02"],
        )
        .await,
    );
    assert_eq!(r["status"], "active", "{r}");
    assert_eq!(r["name_in_use"], true, "{r}");
    // Refused: the name is taken (verify data says so before anything is ordered).
    let o = run(
        &sb,
        dir.path(),
        "whc_trunk",
        &["company_service_id=WHHCBTWKN1000", "name=ACME-TRUNK-01"],
    )
    .await;
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(o.stderr.contains("already in use"), "{}", o.stderr);
    // Refused by BT: 0 channels is not a trunk.
    let o = run(
        &sb,
        dir.path(),
        "whc_trunk",
        &["company_service_id=WHHCBTWKN1000", "channels=0"],
    )
    .await;
    refused(&o, "channels");
}

#[tokio::test(flavor = "multi_thread")]
async fn cease_recipe_ceases_a_sites_trunks_with_it() {
    let sb = quick().await;
    let dir = tempfile::tempdir().unwrap();
    // The seeded site holds a user and a trunk: the user first, then the trunk with the site.
    let r = result(
        &run(
            &sb,
            dir.path(),
            "whc_cease",
            &["company_service_id=WHHCBTWKN1000", "what=site"],
        )
        .await,
    );
    assert_eq!(r["sites_held"], 0, "{r}");
    assert_eq!(r["trunks_held"], 0, "{r}");
    assert_eq!(r["users_held"], 0, "{r}");
    let purposes: Vec<&str> = r["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["purpose"].as_str().unwrap())
        .collect();
    assert_eq!(purposes, ["cease users", "cease sites"], "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn eth_network_recipe_provides_and_is_refused_a_modify_and_a_cease() {
    let sb = quick().await;
    let dir = tempfile::tempdir().unwrap();
    let o = run(&sb, dir.path(), "ethernet_network_provide", &["term=12"]).await;
    let r = result(&o);
    assert_eq!(r["state"], "active", "{r}");
    assert!(r["service_id"].as_str().unwrap().starts_with("ETH"), "{r}");
    assert_eq!(r["install"], 3000.0, "{r}");
    assert_eq!(r["rental"], 900.0, "{r}");
    assert_eq!(r["modify_refused"], "ProvideOnly", "{r}");
    assert_eq!(r["cease_refused"], "ProvideOnly", "{r}");
    // Refused: not a place.
    let o = run(
        &sb,
        dir.path(),
        "ethernet_network_provide",
        &["site=nowhere"],
    )
    .await;
    assert_eq!(o.code, 4, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("code 29"), "{}", o.stderr);
}
