//! Number porting through scripts: the whc_port recipe, its failure paths, activation rules,
//! and notifications that arrive twice and out of order.

use crate::common::*;
use btw::runner;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn port_recipe_completes_following_notifications() {
    let sb = port_sandbox().await;
    let url = sb.base_url();
    let (hub, _listener) = notifications(&url).await;
    let (mut ctx, out) = context(client(&url));
    ctx.events = Some(hub.clone());
    let started = Instant::now();
    let (result, lines) = completed_recipe(ctx, &out, "whc_port.rhai").await;
    assert_eq!(result["state"], "completed");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    for n in 1..=7 {
        let tag = format!("[{n}/7]");
        assert!(
            lines.iter().any(|l| l.starts_with(&tag)),
            "no {tag} in {lines:#?}"
        );
    }
    let id = result["import_order_id"].as_str().unwrap();
    // The notifications came (the last ones may still be on their way): acceptance,
    // activation, completion.
    for ty in [
        "orderAcknowledged",
        "portLcpAccepted",
        "portActivated",
        "orderComplete",
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while hub.store.find_notification(id, ty).unwrap().is_none() {
            assert!(Instant::now() < deadline, "no {ty} stored");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_number_that_cannot_be_ported_stops_at_the_check() {
    let sb = port_sandbox().await;
    let (ctx, out) = context(client(&sb.base_url()));
    let outcome = runner::run(
        ctx,
        recipe("whc_port.rhai"),
        params(&[("number", json!("01632960005"))]),
    )
    .await;
    let f = outcome.result.unwrap_err();
    assert_eq!(f.exit_code(), 3);
    assert!(
        f.message()
            .contains("notPortable (rangeHolderNotSupported)"),
        "{}",
        f.message()
    );
    assert!(!out.take().iter().any(|l| l.starts_with("[2/7]")));
}

#[tokio::test]
async fn a_port_the_lcp_rejects_ends_with_the_reason() {
    let sb = port_sandbox().await;
    for (number, postcode, reason) in [
        ("01914980102", "NE1 4ST", "numberInactive"),
        ("01914980103", "NE1 4ST", "pendingOrder"),
        ("01914980104", "NE1 4ST", "wrongLineType"),
        ("01914980100", "SW1A 1AA", "postcodeMismatch"),
    ] {
        let (ctx, _) = context(client(&sb.base_url()));
        let outcome = runner::run(
            ctx,
            recipe("whc_port.rhai"),
            params(&[("number", json!(number)), ("postcode", json!(postcode))]),
        )
        .await;
        let f = outcome.result.unwrap_err();
        assert_ne!(f.exit_code(), 0);
        assert!(
            f.message().contains(&format!("rejected ({reason})")),
            "{number}: {}",
            f.message()
        );
    }
}

/// Activating before the port date, and twice, are BT errors a recipe can catch.
#[tokio::test]
async fn early_and_repeated_activation_are_catchable() {
    let sb = port_sandbox().await;
    let url = sb.base_url();
    let src = r#"
        let date = port::earliest_date(#{kind: "single", numbers: ["01914980101"], losing_provider: "TalkTalk"});
        let p = port::import_order(#{kind: "single", numbers: ["01914980101"], port_date: date,
                                     postcode: "NE1 4ST", losing_provider: "TalkTalk"});
        order::wait(p.id, "inProgress", 30);
        port::allocate(p.id, "WHHCBTWKN1000");
        let seen = #{};
        try { port::activate(p.id); } catch (e) { seen.early = e; }
        time::sleep_until(`${date} 10:00`);
        seen.done = port::activate(p.id).state;
        try { port::activate(p.id); } catch (e) { seen.twice = e; }
        seen
    "#;
    let (outcome, lines) = run_text(client(&url), src).await;
    let seen = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()));
    assert_eq!(seen["early"]["reason"], "PortDateNotReached");
    assert_eq!(seen["early"]["status"], 400);
    assert!(seen["early"]["message"]
        .as_str()
        .unwrap()
        .contains("Port date is"));
    assert_eq!(seen["done"], "completed");
    assert_eq!(seen["twice"]["reason"], "PortAlreadyActivated");
}

/// With the sandbox delivering every event twice and batches newest first, the store keeps
/// one event per id and the order's state never goes back.
#[tokio::test]
async fn duplicated_and_reordered_notifications_are_stored_once() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let (hub, _listener) = notifications(&url).await;
    let r = reqwest::Client::new()
        .post(format!("{url}/__sandbox/notifications"))
        .json(&json!({"duplicate": true, "reorder": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (mut ctx, _) = context(client(&url));
    ctx.events = Some(hub.clone());
    let outcome = runner::run(ctx, recipe("whc_provide.rhai"), Map::new()).await;
    let result = outcome.result.unwrap_or_else(|f| panic!("{}", f.render()));
    let id = result["order_id"].as_str().unwrap().to_string();
    // Let the last deliveries (and their copies) land.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d: Value = reqwest::get(format!("{url}/__sandbox/notifications"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let all = d["deliveries"].as_array().unwrap();
        let pending = all.iter().any(|x| x["state"] == "pending");
        if !pending || Instant::now() > deadline {
            let ids: std::collections::BTreeSet<&str> = all
                .iter()
                .filter(|x| x["orderId"] == id.as_str())
                .map(|x| x["eventId"].as_str().unwrap())
                .collect();
            let copies = all
                .iter()
                .filter(|x| x["orderId"] == id.as_str() && x["copy"] == 2)
                .count();
            assert!(copies > 0, "the sandbox sent duplicates");
            assert_eq!(
                hub.store.notification_count(&id).unwrap(),
                ids.len() as u64,
                "one stored event per event id"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hub.store.order_state(&id).unwrap().as_deref(),
        Some("completed"),
        "never moved back"
    );
}
