//! One background sandbox, many users, each run on a clock of its own, through the real binary: a
//! port run travels days to its port date while provide runs and a REPL session go on beside it,
//! and nobody else's time moves; the README's journeys, in any order, leave the shared clock at
//! real time.

use crate::common::*;
use crate::repl::{line, spawn_repl_with};
use crate::sandbox_service::{ok, Service};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The shared clock's distance from real time, in seconds.
async fn shared_clock_drift(svc: &Service) -> i64 {
    let v: Value = reqwest::get(format!("{}/__sandbox/clock", svc.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now: DateTime<Utc> = v["now"].as_str().unwrap().parse().unwrap();
    (now - Utc::now()).num_seconds().abs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_run_travels_alone_while_provides_and_a_session_go_on_beside_it() {
    let svc = Service::new(60);
    let data = svc.data("user");
    let port = svc.url().rsplit(':').next().unwrap().to_string();
    let session_env = [
        ("BTW_SANDBOX_PORT", port.as_str()),
        ("BTW_SANDBOX_IDLE_SECS", "60"),
    ];
    // The session qualifies a company first (it starts the background sandbox).
    let mut repl = spawn_repl_with(&session_env, &data);
    line(
        &mut repl,
        r#"let q = whc::qualify_company(#{name: "Clockwork Session Ltd", domain: "clockwork-session.co.uk", group: "SWAINsTelecom"});"#,
        "",
    );
    line(&mut repl, "q.result", "Qualified");

    // Meanwhile: a port run that moves its clock days ahead, and three provides.
    let mut port_cmd = svc.btw("user");
    port_cmd.args(["run", "scripts/whc_port.rhai"]);
    let port_run = output(&mut port_cmd);
    let provides = futures_util::future::join_all((0..3).map(|_| svc.provide("user")));
    let (port_out, provided) = tokio::join!(port_run, provides);
    ok(&port_out, "the port run");
    for (i, o) in provided.iter().enumerate() {
        ok(o, &format!("provide {i}"));
    }

    // The session's same-day qualification still holds, and its time is still today.
    let out = line(
        &mut repl,
        "numbers::ringfence(#{area_code: \"0121\", quantity: 1, service_id: q.service_id, qualification_id: q.id})",
        "ringfence_id",
    );
    assert!(!out.contains("Expired"), "{out}");
    let out = line(&mut repl, "time::now()", "");
    let session_now: DateTime<Utc> = out
        .split('"')
        .find_map(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in {out:?}"));
    assert!(
        (session_now - Utc::now()).num_seconds().abs() < 60,
        "the session's clock moved: {session_now}"
    );
    repl.send_line(":quit").unwrap();

    // Nobody moved the shared clock; the port run's clock is listed, days ahead.
    let drift = shared_clock_drift(&svc).await;
    assert!(drift < 60, "the shared clock is {drift} s off real time");
    let status = output(svc.btw("user").args(["sandbox", "status"])).await;
    ok(&status, "btw sandbox status");
    assert!(
        status.stdout.contains("run clocks:") && status.stdout.contains(" d ahead"),
        "{}",
        status.stdout
    );
}

#[tokio::test]
async fn the_readme_journeys_in_any_order_leave_the_shared_clock_at_real_time() {
    let svc = Service::new(60);
    for script in [
        "scripts/ethernet_fttp.rhai",
        "scripts/whc_port.rhai",
        "scripts/whc_provide.rhai",
        "scripts/whc_port.rhai",
        "scripts/ethernet_fttp.rhai",
    ] {
        let o = output(svc.btw("user").args(["run", script])).await;
        ok(&o, script);
        let drift = shared_clock_drift(&svc).await;
        assert!(
            drift < 60,
            "after {script}, the shared clock is {drift} s off real time"
        );
    }
}
