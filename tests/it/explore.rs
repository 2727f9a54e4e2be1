//! Exploring BT's APIs: errors that name the field (in the REPL and in `btw run`), BT's
//! validation errors mapped to script keys, what went over the wire (`:last`, `:calls`, `-v`,
//! `--trace-http`), tracking ids in error maps and reports, completion of keys, tables,
//! `:save` keeping what matters, the never-submitted warning, progress on a terminal and shell
//! completions.

use crate::common::*;
use crate::repl::{line, spawn_repl, type_keys, PROMPT};
use serde_json::Value;
use std::path::Path;

fn script(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn repl_errors_name_the_field_and_calls_can_be_inspected() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&sb.base_url(), dir.path());
    p.exp_string(PROMPT).unwrap();

    // Before any call, :last says so.
    line(&mut p, ":last", "no BT call yet");

    // The seeded company is taken: Unqualified, and the answer has no service id.
    line(
        &mut p,
        r#"let q = whc::qualify_company(#{name: "Acme Widgets Ltd", domain: "acmewidgets.co.uk"})"#,
        "",
    );
    line(&mut p, "q.result", "\"Unqualified\"");
    p.send_line(
        r#"numbers::ringfence(#{area_code: "0121", service_id: q.service_id, qualification_id: q.id})"#,
    )
    .unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string("numbers::ringfence: service_id: expected a string, got ()")
        .unwrap();
    p.exp_string("whc::qualify_company answered Unqualified")
        .unwrap();
    p.exp_string(PROMPT).unwrap();

    // A wrong type deeper in the request names its path and what was given.
    line(
        &mut p,
        "order::create(#{company: #{service_id: \"S\"}, sites: [#{name: 1, nad_key: \"K\"}]})",
        "order::create: sites[0].name: expected a string, got 1 (a number)",
    );

    // :last shows the last exchange whole, the bearer token redacted.
    line(&mut p, "whc::reseller()", "reseller_id");
    p.send_line(":last").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string("GET ").unwrap();
    p.exp_string("tracking ").unwrap();
    p.exp_string("apigw-tracking-header: ").unwrap();
    p.exp_string("authorization: ***").unwrap();
    p.exp_string("< 200").unwrap();
    p.exp_string(PROMPT).unwrap();
    // :calls N lists the last N, one line each; :last N shows the qualification's POST whole.
    p.send_line(":calls 3").unwrap();
    p.exp_string("\n").unwrap();
    let (_, post) = p
        .exp_regex(r"\d+  \S+  POST +/bt-wholesale/v1/whc/productOfferingQualification  20\d")
        .unwrap();
    p.exp_string(PROMPT).unwrap();
    let n = post.split_whitespace().next().unwrap().to_string();
    p.send_line(&format!(":last {n}")).unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string(&format!("call {n}: POST ")).unwrap();
    p.exp_string("acmewidgets.co.uk").unwrap();
    p.exp_string(PROMPT).unwrap();

    // "Variable not found" says where once (the caret line), not twice.
    p.send_line("nope_var").unwrap();
    p.exp_string("\n").unwrap();
    let before = p.exp_string("^").unwrap();
    assert!(
        before.contains("Variable not found: nope_var") && !before.contains("position"),
        "{before}"
    );
    p.exp_string(PROMPT).unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn repl_completes_keys_prefers_modules_and_renders_tables() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&sb.base_url(), dir.path());
    p.exp_string(PROMPT).unwrap();

    // `wh<Tab>` is the module, not `while`: the completed call runs.
    type_keys(&mut p, "wh");
    type_keys(&mut p, "\t");
    line(&mut p, "reseller().reseller_id.len() > 0", "true");

    // The hint inside a call lists the request's keys.
    type_keys(&mut p, "numbers::ringfence(");
    p.exp_string("numbers::ringfence(#{area_code").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).unwrap();

    // Request keys complete inside the call: `ar<Tab>` becomes `area_code` (the error proves it).
    type_keys(&mut p, "numbers::ringfence(#{ar");
    type_keys(&mut p, "\t");
    line(
        &mut p,
        ": 1})",
        "numbers::ringfence: area_code: expected a string, got 1 (a number)",
    );

    // Result-map keys complete through list indexes.
    line(
        &mut p,
        r#"let addrs = [#{building_number: "B42", post_code: "IP5 3RE"}]"#,
        "",
    );
    type_keys(&mut p, "addrs[0].bu");
    type_keys(&mut p, "\t");
    line(&mut p, "", "\"B42\"");

    // A list of maps that fits the terminal prints as a table.
    p.send_line(r#"[#{id: "A1", state: "done"}, #{id: "A2", state: "pending"}]"#)
        .unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(r"id +state").unwrap();
    p.exp_regex(r"A2 +pending").unwrap();
    p.exp_string("(2 rows)").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn save_keeps_the_statements_that_matter() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&sb.base_url(), dir.path());
    p.exp_string(PROMPT).unwrap();
    line(&mut p, "let me = whc::reseller()", "");
    line(&mut p, "me;", "");
    line(&mut p, "me.customer_groups.len();", "");
    line(
        &mut p,
        "let unused = whc::company(\"Acme Widgets Ltd\")",
        "",
    );
    line(&mut p, "let groups = me.customer_groups", "");
    line(&mut p, "print(`first group ${groups[0]}`)", "first group");
    let saved = dir.path().join("kept.rhai");
    line(
        &mut p,
        &format!(":save {}", saved.display()),
        "inspection lines left out",
    );
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();

    let recipe = std::fs::read_to_string(&saved).unwrap();
    assert!(recipe.contains("let me = whc::reseller()"), "{recipe}");
    assert!(
        recipe.contains("let groups = me.customer_groups"),
        "{recipe}"
    );
    assert!(recipe.contains("print(`first group"), "{recipe}");
    assert!(!recipe.contains("me;"), "{recipe}");
    assert!(!recipe.contains(".len()"), "{recipe}");
    assert!(!recipe.contains("unused"), "{recipe}");
    let o = rt.block_on(output(
        btw(&sb.base_url(), dir.path()).args(["run", saved.to_str().unwrap()]),
    ));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("first group"), "{}", o.stdout);
}

/// Qualifies a fresh company; the script then creates its order with `rest` as extra keys.
fn order_script(rest: &str, after: &str) -> String {
    format!(
        r#"
let name = `Explore Test ${{btw::unique_suffix()}}`;
let domain = `explore${{btw::unique_suffix()}}.co.uk`.to_lower();
let q = whc::qualify_company(#{{name: name, domain: domain}});
if q.result != "Qualified" {{ throw `not qualified: ${{q.reasons}}`; }}
let o = order::create(#{{
    company: #{{name: name, domain: domain, service_id: q.service_id, qualification_id: q.id}},
    {rest}
}});
{after}
"#
    )
}

#[test]
fn bt_validation_errors_name_script_keys_and_carry_tracking_ids() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    // No group: order::create defaults it like whc::qualify_company. The site has no
    // location code, which BT requires.
    let body = order_script(r#"sites: [#{name: "HQ", nad_key: "A00001"}]"#, "o");
    let caught = format!(
        "let r = ();\ntry {{ {body}; r = #{{created: o.id}}; }} catch (e) {{ r = #{{key: e.errors[0].key, field: e.errors[0].field, tracking: e.tracking_id, summary: e.summary}}; }}\nr"
    );
    let path = script(dir.path(), "caught.rhai", &caught);
    let o = rt.block_on(output(btw(&sb.base_url(), dir.path()).args(["run", &path])));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["key"], "sites[0].location_code", "{v}");
    assert_eq!(
        v["field"],
        "productOrderItem[1].product.productCharacteristic.siteLocationCode"
    );
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .contains("sites[0].location_code: is required"),
        "{v}"
    );
    let tracking = v["tracking"].as_str().unwrap();
    assert_eq!(tracking.len(), 36, "{v}");

    // Uncaught, the run report carries the failing call's tracking id.
    let path = script(dir.path(), "fails.rhai", &body);
    let o = rt.block_on(output(
        btw(&sb.base_url(), dir.path()).args(["run", "--json", &path]),
    ));
    assert_eq!(o.code, 4, "{}\n{}", o.stdout, o.stderr);
    let report: Value = serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
    let t = report["error"]["bt"]["tracking_id"].as_str().unwrap_or("");
    assert_eq!(t.len(), 36, "{report}");
    assert!(o.stderr.contains("sites[0].location_code"), "{}", o.stderr);
}

#[test]
fn waiting_on_an_order_never_submitted_warns() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let body = order_script("", r#"order::wait(o.id, "completed", 1)"#);
    let path = script(dir.path(), "pending.rhai", &body);
    let o = rt.block_on(output(btw(&sb.base_url(), dir.path()).args(["run", &path])));
    assert_ne!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("was never submitted (still pending)"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("order::submit("), "{}", o.stderr);
}

#[test]
fn run_verbose_lines_and_http_trace() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let path = script(
        dir.path(),
        "calls.rhai",
        "let me = whc::reseller(); whc::company(\"Acme Widgets Ltd\"); me.reseller_id",
    );
    let trace = dir.path().join("trace.jsonl");
    let o = rt.block_on(output(btw(&sb.base_url(), dir.path()).args([
        "run",
        "-v",
        "--trace-http",
        trace.to_str().unwrap(),
        &path,
    ])));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // -v: one line per BT call, with its status and tracking id.
    let call_lines: Vec<&str> = o.stderr.lines().filter(|l| l.contains("BT call")).collect();
    assert!(call_lines.len() >= 2, "{}", o.stderr);
    assert!(
        call_lines
            .iter()
            .all(|l| l.contains("status=200") && l.contains("tracking=")),
        "{}",
        o.stderr
    );

    // --trace-http: every exchange as a JSON line, secrets redacted.
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), call_lines.len(), "{text}");
    for l in &lines {
        assert!(l["method"].is_string());
        assert_eq!(l["status"], 200);
        assert!(l["url"].as_str().unwrap().starts_with(&sb.base_url()));
        assert_eq!(l["tracking_id"].as_str().unwrap().len(), 36);
        assert!(l["duration_ms"].is_u64());
        assert!(l["response_body"].is_object() || l["response_body"].is_array());
    }
    assert!(text.contains(r#"["authorization","***"]"#), "{text}");
    assert!(!text.contains("btw-sandbox-secret"), "{text}");
    // The token request is a call like the others, its credentials and token hidden.
    let token = lines
        .iter()
        .find(|l| l["url"].as_str().unwrap().contains("/oauth/accesstoken"))
        .unwrap_or_else(|| panic!("no token call in the trace: {text}"));
    assert_eq!(token["response_body"]["accessToken"], "***", "{token}");
    assert!(
        call_lines.iter().any(|l| l.contains("/oauth/accesstoken")),
        "{}",
        o.stderr
    );
    assert!(!text.to_ascii_lowercase().contains("bearer"), "{text}");
}

#[test]
fn shell_completions_come_from_the_command_line_definition() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = closed_port_url();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef btw"),
        ("fish", "complete -c btw"),
    ] {
        let o = rt.block_on(output(btw(&url, dir.path()).args(["completions", shell])));
        assert_eq!(o.code, 0, "{shell}: {}", o.stderr);
        assert!(o.stdout.contains(marker), "{shell}: {}", o.stdout);
        assert!(o.stdout.contains("trace-http"), "{shell}");
    }
    let o = rt.block_on(output(btw(&url, dir.path()).args(["completions", "tcsh"])));
    assert_eq!(o.code, 2);
}

/// `btw run SCRIPT` in a pseudo-terminal, so stderr is a terminal.
fn spawn_run(url: &str, data_dir: &Path, script: &str) -> rexpect::session::PtySession {
    let mut cmd = std::process::Command::new("sh");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", data_dir)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env("BTW_BASE_URL", url)
        .env("BTW_DATA_DIR", data_dir)
        .current_dir(repo())
        .args(["-c", "stty cols 200 rows 50; exec \"$0\" run \"$1\""])
        .arg(env!("CARGO_BIN_EXE_btw"))
        .arg(script);
    rexpect::session::spawn_with_options(
        cmd,
        rexpect::reader::Options {
            timeout_ms: Some(20_000),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("spawn btw run in a pty")
}

#[test]
fn progress_shows_on_a_terminal_and_never_on_a_pipe() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "item.rhai",
        "time::sleep(0.3); if params.n == 2 { throw \"no\" } params.n",
    );
    let main = script(
        dir.path(),
        "main.rhai",
        "let r = batch::run(\"item\", [#{n: 1}, #{n: 2}, #{n: 3}, #{n: 4}], 1); r.filter(|x| x.ok).len()",
    );
    let mut p = spawn_run(&sb.base_url(), dir.path(), &main);
    p.exp_string("batch::run item").unwrap();
    p.exp_regex(r"[1-4]/4 done, 1 failed").unwrap();
    p.exp_eof().unwrap();

    let waits = script(
        dir.path(),
        "waits.rhai",
        &order_script("", r#"order::wait(o.id, "completed", 2)"#),
    );
    let mut p = spawn_run(&sb.base_url(), dir.path(), &waits);
    p.exp_regex(r"order BTW[A-Z0-9]+: pending, waiting")
        .unwrap();
    p.exp_eof().unwrap();

    // On a pipe: the result and the logs, no bar.
    let o = rt.block_on(output(btw(&sb.base_url(), dir.path()).args(["run", &main])));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), "3");
    assert!(
        !o.stderr.contains("done") && !o.stderr.contains("ETA"),
        "{}",
        o.stderr
    );
}
