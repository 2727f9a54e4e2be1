//! Ethernet through scripts: both recipes, and the errors a recipe must be able to catch.

use crate::common::*;

async fn eth_sandbox() -> btw_sandbox::SandboxHandle {
    sandbox_with(btw_sandbox::SandboxConfig {
        order_step_secs: 0.1,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn fttp_recipe_completes() {
    let sb = eth_sandbox().await;
    let (ctx, out) = context(client(&sb.base_url()));
    let (r, lines) = completed_recipe(ctx, &out, "ethernet_fttp.rhai").await;
    assert_eq!(r["state"], "completed");
    assert!(r["service_id"].as_str().unwrap().starts_with("ETH"));
    for n in 1..=6 {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("[{n}/6]"))),
            "{lines:#?}"
        );
    }
}

#[tokio::test]
async fn ead_modify_recipe_completes_and_ceases() {
    let sb = eth_sandbox().await;
    let (ctx, out) = context(client(&sb.base_url()));
    let (r, lines) = completed_recipe(ctx, &out, "ethernet_ead_modify.rhai").await;
    assert_eq!(r["state"], "terminated");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("bandwidth now 10000 Mbit/s")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("£1250.00 install + £506.25/month")),
        "priced from the table: {lines:#?}"
    );
}

#[tokio::test]
async fn ethernet_errors_are_catchable() {
    let sb = eth_sandbox().await;
    let url = sb.base_url();
    let src = r#"
        let seen = #{};
        // GEA without an appointment.
        let q = ethernet::quote(#{product: "EtherwayGEAFTTP", bandwidth: 330, term: 12, a_end: "IP5 3RE"});
        try { ethernet::order(#{quote_id: q.id}); } catch (e) { seen.no_appointment = e; }
        // A place where the product is unavailable.
        let q2 = ethernet::quote(#{product: "EtherwayGEAFTTP", bandwidth: 80, term: 12, a_end: "EH2 3BU"});
        try { ethernet::order(#{quote_id: q2.id}); } catch (e) { seen.unavailable = e; }
        // An expired quote: a month and a day later.
        let q3 = ethernet::quote(#{product: "EtherflowInternet", bandwidth: 100, term: 12, a_end: "LS1 5HD"});
        time::sleep_until(time::add_secs(time::now(), 32 * 86400));
        try { ethernet::order(#{quote_id: q3.id}); } catch (e) { seen.expired = e; }
        // A modify of a ceased service.
        let q4 = ethernet::quote(#{product: "EtherflowInternet", bandwidth: 100, term: 12, a_end: "LS1 5HD"});
        let o = ethernet::order(#{quote_id: q4.id});
        let live = order::wait(o.id, "completed", 30);
        let service = live.product_order_item[0].product.id;
        let c = ethernet::cease(service, #{});
        order::wait(c.id, "completed", 30);
        try { ethernet::modify(service, #{bandwidth: 200}); } catch (e) { seen.ceased = e; }
        seen
    "#;
    let (outcome, lines) = run_text(client(&url), src).await;
    let seen = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()));
    for (key, reason) in [
        ("no_appointment", "AppointmentRequired"),
        ("unavailable", "ProductUnavailable"),
        ("expired", "QuoteExpired"),
        ("ceased", "ServiceCeased"),
    ] {
        assert_eq!(seen[key]["kind"], "bt", "{key}: {}", seen[key]);
        assert_eq!(seen[key]["status"], 400, "{key}");
        assert_eq!(seen[key]["code"], "22", "{key}");
        assert_eq!(seen[key]["reason"], reason, "{key}: {}", seen[key]);
        assert!(!seen[key]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_script_quotes_a_modify_of_a_live_service() {
    let sb = eth_sandbox().await;
    let src = r#"
        let ends = #{product: "EtherwayFibre", term: 36, a_end: "IP5 3RE", b_end: "B1 2HF"};
        let q = ethernet::quote(ends + #{bandwidth: 1000});
        let ten = ethernet::quote(ends + #{bandwidth: 10000});
        let o = ethernet::order(#{quote_id: q.id, site_contact: #{name: "Ann Other", phone: "07700900123"}});
        let service = order::wait(o.id, "completed", 30).product_order_item[0].product.id;
        let up = ethernet::quote(#{action: "modify", service_id: service, bandwidth: 10000});
        let seen = #{up: up, ten: ten, service: service};
        try { ethernet::quote(#{action: "modify", service_id: "ETH999999", bandwidth: 10000}); }
        catch (e) { seen.unknown = e; }
        try { ethernet::quote(#{action: "modify", bandwidth: 10000}); }
        catch (e) { seen.no_service = e; }
        seen
    "#;
    let (outcome, lines) = run_text(client(&sb.base_url()), src).await;
    let seen = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()));
    let item = &seen["up"]["quote_item"][0];
    assert_eq!(item["action"], "modify", "{}", seen["up"]);
    assert_eq!(item["product"]["id"], seen["service"]);
    assert_eq!(seen["up"]["rental"], seen["ten"]["rental"]);
    assert_eq!(seen["up"]["install"], seen["ten"]["install"]);
    assert_eq!(
        seen["unknown"]["reason"], "ServiceNotFound",
        "{}",
        seen["unknown"]
    );
    let msg = seen["no_service"].to_string();
    assert!(msg.contains("service_id"), "{msg}");
}

#[tokio::test]
async fn bad_requests_name_the_function_and_the_key() {
    let sb = eth_sandbox().await;
    let src = r#"
        let seen = [];
        try { ethernet::modify("ETH000001", #{bandwidth: true}); } catch (e) { seen.push(e); }
        try { ethernet::quote(#{product: "EtherwayFibre", bandwidth: 100, term: true, a_end: "IP5 3RE"}); }
        catch (e) { seen.push(e); }
        try { ethernet::book(#{place: "IP5 3RE"}); } catch (e) { seen.push(e); }
        try { ethernet::order(#{quote_id: "Q1", site_contact: #{name: "Ann Other", phnoe: "07700900123"}}); }
        catch (e) { seen.push(e); }
        try { ethernet::amend("EOR1", #{bandwidth: #{}}); } catch (e) { seen.push(e); }
        try { ethernet::track(#{limit: -1}); } catch (e) { seen.push(e); }
        seen
    "#;
    let (outcome, lines) = run_text(client(&sb.base_url()), src).await;
    let seen = outcome
        .result
        .unwrap_or_else(|f| panic!("{}\n{lines:#?}", f.render()));
    assert_eq!(
        seen,
        serde_json::json!([
            "ethernet::modify: bandwidth: expected a number of Mbit/s, got true",
            "ethernet::quote: term: expected 12, 36 or 60 (months), got true",
            "ethernet::book: slot: required, but not given",
            "ethernet::order: site_contact: unknown field `phnoe` (known here: name, phone)",
            "ethernet::amend: bandwidth: expected a number of Mbit/s, got a map",
            "ethernet::track: limit: expected a whole number, 0 or more, got -1 (a number)",
        ])
    );
}
