//! The WHC provide journey through the runner, against a real sandbox over HTTP.

use crate::common::*;
use serde_json::{json, Map, Value};

#[tokio::test]
async fn provide_recipe_completes_with_one_token() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let c = client(&url);
    let (ctx, out) = context(c.clone());
    let (result, lines) = completed_recipe(ctx, &out, "whc_provide.rhai").await;
    assert_eq!(result["state"], "completed");
    let order_id = result["order_id"].as_str().unwrap();
    assert!(order_id.starts_with("BTWKN"), "{order_id}");
    // Every step printed, in order.
    for n in 1..=7 {
        let tag = format!("[{n}/7]");
        assert!(
            lines.iter().any(|l| l.starts_with(&tag)),
            "no {tag} in {lines:#?}"
        );
    }
    assert_eq!(
        c.token_requests(),
        1,
        "one token must serve the whole journey"
    );
    assert_eq!(orders_created(&url).await, vec![order_id.to_string()]);
    // The sandbox agrees the order completed.
    let order = c.order_get(order_id).await.unwrap();
    assert_eq!(order["state"], "completed");
}

#[tokio::test]
async fn provide_runs_twice_and_refuses_a_name_already_ordered() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let (ctx, _) = context(client(&url));
    let first = btw::runner::run(ctx, recipe("whc_provide.rhai"), Map::new()).await;
    let first = first.result.unwrap();
    let (ctx, _) = context(client(&url));
    let second = btw::runner::run(ctx, recipe("whc_provide.rhai"), Map::new()).await;
    assert!(
        second.result.is_ok(),
        "a second run with a fresh name works"
    );
    let before = orders_created(&url).await.len();

    let (ctx, out) = context(client(&url));
    let taken = first["company_name"].clone();
    let again = btw::runner::run(
        ctx,
        recipe("whc_provide.rhai"),
        params(&[("company_name", taken.clone())]),
    )
    .await;
    let failure = again.result.unwrap_err();
    assert_eq!(failure.exit_code(), 3);
    assert!(
        failure.message().contains("already in use"),
        "{}",
        failure.render()
    );
    let lines = out.take();
    assert!(lines.iter().any(|l| l.starts_with("[2/7]")));
    assert!(
        !lines.iter().any(|l| l.starts_with("[3/7]")),
        "stopped at verify: {lines:#?}"
    );
    assert_eq!(
        orders_created(&url).await.len(),
        before,
        "no order created by the refused run"
    );
}

#[tokio::test]
async fn more_than_three_users_go_in_follow_on_orders() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let (ctx, _) = context(client(&url));
    let outcome = btw::runner::run(
        ctx,
        recipe("whc_provide.rhai"),
        params(&[("users", json!(5))]),
    )
    .await;
    let result = outcome.result.unwrap_or_else(|f| panic!("{}", f.render()));
    assert_eq!(result["follow_on_orders"].as_array().unwrap().len(), 1);
    assert_eq!(orders_created(&url).await.len(), 2);
}

/// Each documented BT error reaches the script as a catchable error with its fields.
#[tokio::test]
async fn bt_errors_are_catchable_with_their_fields() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let src = r#"
        let seen = #{};
        // Ringfence without a valid qualification.
        try {
            numbers::ringfence(#{area_code: "0121", quantity: 1, service_id: "WHHCBTWKN9999", qualification_id: "QFW999999"});
        } catch (e) { seen.ringfence = e; }

        let name = `Catch Test ${btw::unique_suffix()}`;
        let domain = `catch${btw::unique_suffix().to_lower()}.co.uk`;
        let q = whc::qualify_company(#{name: name, domain: domain, group: "SWAINsTelecom"});
        let block = numbers::ringfence(#{area_code: "0161", quantity: 4, service_id: q.service_id, qualification_id: q.id});
        let nad = address::search("IP5 3RE")[0].id;
        let company = #{name: name, domain: domain, group: "SWAINsTelecom", service_id: q.service_id, qualification_id: q.id};
        let user = |i| #{first_name: "U", last_name: `${i}`, username: `u${i}@${domain}`, extension: `${300 + i}`};

        // Four users in one order.
        try {
            order::create(#{company: company, sites: [#{name: "S1", nad_key: nad, location_code: `L${btw::unique_suffix()}`}],
                            numbers: [#{start: block.start, end: block.end}],
                            users: [user.call(1), user.call(2), user.call(3), user.call(4)]});
        } catch (e) { seen.four_users = e; }

        // An unknown NAD key.
        try {
            order::create(#{company: company, sites: [#{name: "S2", nad_key: "R99999999999", location_code: `L${btw::unique_suffix()}`}],
                            numbers: [#{start: block.start, end: block.end}], users: [user.call(1)]});
        } catch (e) { seen.nad = e; }

        // A name already in use: Acme Widgets Ltd is in the seed data.
        seen.acme = whc::company("Acme Widgets Ltd");
        seen.acme_q = whc::qualify_company(#{name: "Acme Widgets Ltd", domain: "acme-new.co.uk", group: "SWAINsTelecom"});
        seen
    "#;
    let (outcome, lines) = run_text(client(&url), src).await;
    let seen = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()));
    let rf = &seen["ringfence"];
    assert_eq!(
        (
            rf["kind"].as_str(),
            rf["status"].as_i64(),
            rf["code"].as_str()
        ),
        (Some("bt"), Some(400), Some("22"))
    );
    assert_eq!(rf["reason"], "QualificationNotFound");
    assert_eq!(seen["four_users"]["reason"], "TooManyUsers");
    assert_eq!(seen["four_users"]["status"], 400);
    assert!(seen["four_users"]["summary"]
        .as_str()
        .unwrap()
        .contains("create order: BT answered 400 (code 22, TooManyUsers)"));
    assert_eq!(seen["nad"]["reason"], "UnknownNadKey");
    assert_eq!(seen["acme"]["company_name"], "Acme Widgets Ltd");
    assert_eq!(seen["acme_q"]["result"], "Unqualified");
    assert_eq!(seen["acme_q"]["reasons"], json!(["CompanyNameInUse"]));
    // None of the failed creates made an order.
    assert!(orders_created(&url).await.is_empty());
}

#[tokio::test]
async fn an_uncaught_bt_error_ends_the_run_with_its_details() {
    let sb = sandbox().await;
    let src = "\nnumbers::ringfence(#{area_code: \"0121\", service_id: \"WHHCBTWKN1\", qualification_id: \"QFW1\"});\n";
    let (outcome, _) = run_text(client(&sb.base_url()), src).await;
    let f = outcome.result.unwrap_err();
    assert_eq!(f.exit_code(), 4);
    let shown = f.render();
    assert!(shown.contains("test.rhai:2:10"), "{shown}");
    assert!(
        shown.contains("ringfence numbers: BT answered 400 (code 22, QualificationNotFound)"),
        "{shown}"
    );
}

#[tokio::test]
async fn expired_token_is_refreshed_transparently() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let c = client(&url);
    let (outcome, _) = run_text(c.clone(), "whc::reseller().reseller_id").await;
    assert_eq!(outcome.result.unwrap(), json!("RES100234"));
    reqwest::Client::new()
        .post(format!("{url}/__sandbox/expire-tokens"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let (outcome, _) = run_text(c.clone(), "whc::company(\"Acme Widgets Ltd\").id").await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(
        c.token_requests(),
        2,
        "one refresh after the expiry, no more"
    );
}

#[tokio::test]
async fn bad_credentials_are_a_clear_bt_error() {
    let sb = sandbox_with(btw_sandbox::SandboxConfig {
        credentials: Some(("right-key".into(), "right-secret".into())),
        ..Default::default()
    })
    .await;
    let url = sb.base_url();
    let (outcome, _) = run_text(
        client_with(&url, "right-key", "wrong-secret"),
        "whc::reseller()",
    )
    .await;
    let f = outcome.result.unwrap_err();
    assert_eq!(f.exit_code(), 4);
    assert!(
        f.message()
            .contains("get access token: BT answered 401 (code 41"),
        "{}",
        f.message()
    );
    assert!(!f.render().contains("wrong-secret"));
    let (ok, _) = run_text(
        client_with(&url, "right-key", "right-secret"),
        "whc::reseller()",
    )
    .await;
    assert!(ok.result.is_ok());
}

#[tokio::test]
async fn missing_tracking_header_is_refused_by_the_gateway() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let c = client(&url);
    let (token, _) = c.token().await.unwrap();
    let r = reqwest::Client::new()
        .get(format!(
            "{url}/bt-wholesale/v1/whc/resourceInventory/resellers/{CUG}"
        ))
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "25");
    assert_eq!(body["message"], "Missing header: APIGW-Tracking-Header");
}

#[tokio::test]
async fn wrong_argument_types_name_the_function() {
    let sb = sandbox().await;
    let (outcome, _) = run_text(client(&sb.base_url()), "whc::company(42)").await;
    let f = outcome.result.unwrap_err();
    let msg = f.message();
    assert!(msg.contains("whc::company"), "{msg}");
    assert!(msg.contains("i64") || msg.contains("int"), "{msg}");
    assert!(
        msg.contains("it takes: whc::company(name: string) -> Dynamic"),
        "says what it takes: {msg}"
    );

    let (outcome, _) = run_text(
        client(&sb.base_url()),
        "numbers::ringfence(#{area: \"0121\"})",
    )
    .await;
    let msg = outcome.result.unwrap_err().message();
    assert!(
        msg.contains("numbers::ringfence") && msg.contains("unknown field `area`"),
        "{msg}"
    );
}

#[tokio::test]
async fn endless_loop_is_stopped_by_the_operations_limit() {
    let sb = sandbox().await;
    let (mut ctx, _) = context(client(&sb.base_url()));
    ctx.limits.max_operations = 100_000;
    let outcome = btw::runner::run(
        ctx,
        btw::runner::Script::inline("spin.rhai", "let x = 0;\nloop { x += 1; }"),
        Map::new(),
    )
    .await;
    let f = outcome.result.unwrap_err();
    assert_eq!(f.kind(), "limit");
    assert!(f.message().contains("operations limit"), "{}", f.message());
    assert_eq!(f.exit_code(), 3);
}
