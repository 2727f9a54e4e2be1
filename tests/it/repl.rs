//! `btw repl` driven through a pseudo-terminal (rexpect): completion, help, errors that keep the
//! session, multi-line input, Ctrl-C, notifications above the prompt, and `:save` → `btw run`.

use crate::common::*;
use rexpect::session::PtySession;
use std::path::Path;
use std::time::{Duration, Instant};

pub(crate) const PROMPT: &str = "btw:sandbox> ";

pub(crate) fn spawn_repl(url: &str, data_dir: &Path) -> PtySession {
    spawn_repl_with(&[("BTW_BASE_URL", url)], data_dir)
}

/// `btw repl` in a pseudo-terminal with `env` on top of the essentials (where BT is).
pub(crate) fn spawn_repl_with(env: &[(&str, &str)], data_dir: &Path) -> PtySession {
    spawn_repl_args(env, &[], data_dir)
}

/// [`spawn_repl_with`], with `args` after `btw repl`.
pub(crate) fn spawn_repl_args(env: &[(&str, &str)], args: &[&str], data_dir: &Path) -> PtySession {
    // A wide terminal, so long inputs do not wrap (the editor's only `\n` is then the Enter).
    let mut cmd = std::process::Command::new("sh");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", data_dir)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        // Output taller than the terminal would wait in a pager; tests read it directly.
        .env("BTW_PAGER", "off")
        .envs(env.iter().copied())
        .env("BTW_DATA_DIR", data_dir)
        .current_dir(repo())
        .args(["-c", "stty cols 400 rows 50; exec \"$0\" repl \"$@\""])
        .arg(env!("CARGO_BIN_EXE_btw"))
        .args(args);
    rexpect::session::spawn_with_options(
        cmd,
        rexpect::reader::Options {
            timeout_ms: Some(20_000),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("spawn btw repl in a pty")
}

/// Types without pressing Enter.
pub(crate) fn type_keys(p: &mut PtySession, keys: &str) {
    p.send(keys).unwrap();
    p.flush().unwrap();
}

/// Types a line, then waits for what it should print (when `expect` is not empty) and the next
/// prompt. The line editor redraws the line (and its prompt) on every key, always with `\r`;
/// the first `\n` is the Enter.
pub(crate) fn line(p: &mut PtySession, input: &str, expect: &str) -> String {
    p.send_line(input).unwrap();
    p.exp_string("\n").unwrap();
    if !expect.is_empty() {
        p.exp_string(expect)
            .unwrap_or_else(|e| panic!("after {input:?}, expected {expect:?}: {e}"));
    }
    p.exp_string(PROMPT)
        .unwrap_or_else(|e| panic!("no prompt after {input:?}: {e}"))
}

/// Types a long-running line, waits until it has begun (it prints `begun`), then presses
/// Ctrl-C: the call stops within seconds and the prompt comes back.
fn interrupt(p: &mut PtySession, input: &str, begun: &str, what: &str) {
    p.send_line(input).unwrap();
    p.exp_string(begun).unwrap();
    let started = Instant::now();
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    p.exp_string(PROMPT).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{what} took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_session_through_a_terminal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&sb.base_url(), dir.path());
    p.exp_string("btw repl").unwrap();
    p.exp_string(PROMPT).unwrap();

    // Verify: the seeded company is taken, so its map prints.
    line(
        &mut p,
        r#"whc::company("Acme Widgets Ltd")"#,
        "Acme Widgets Ltd",
    );

    // Qualify into a variable, then read it.
    line(
        &mut p,
        r#"let q = whc::qualify_company(#{name: "Zephyr Looms Ltd", domain: "zephyrlooms.co.uk"})"#,
        "",
    );
    line(&mut p, "q.result", "\"Qualified\"");
    p.send_line("q.id").unwrap();
    p.exp_string("\n").unwrap();
    let (_, id) = p.exp_regex(r#""[A-Za-z0-9-]+""#).unwrap();
    p.exp_string(PROMPT).unwrap();

    // Tab completes a module function; Ctrl-C at the prompt clears the line.
    type_keys(&mut p, "whc::qu");
    type_keys(&mut p, "\t");
    p.exp_string("whc::qualify_company(").unwrap();
    // The hint lists the request keys of the call being typed.
    let got = p.exp_string("whc::qualify_company(#{name, domain");
    assert!(got.is_ok(), "{got:?}");
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).unwrap();

    // Help: signature, doc and example; and the module list.
    p.send_line(":help whc::qualify_company").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string("whc::qualify_company(").unwrap();
    p.exp_string("Example:").unwrap();
    p.exp_string("let q = whc::qualify_company(#{").unwrap();
    p.exp_string(PROMPT).unwrap();
    line(&mut p, ":help", "numbers::");

    // A failing call prints BT's error with <repl>:line:col; the session and `q` survive.
    p.send_line(
        r#"numbers::ringfence(#{area_code: "0121", service_id: "X", qualification_id: "Y"})"#,
    )
    .unwrap();
    p.exp_string("error: <repl>:1:").unwrap();
    p.exp_string(PROMPT).unwrap();
    line(&mut p, "q.id", &id);

    // Multi-line input while brackets are open; functions persist across inputs.
    p.send_line("let m = #{").unwrap();
    p.send_line("  a: 1,").unwrap();
    p.send_line("  b: [1, 2]").unwrap();
    line(&mut p, "}", "");
    line(&mut p, "m", "#{a: 1, b: [1, 2]}");
    line(&mut p, "fn double(x) { x * 2 }", "");
    line(&mut p, "double(m.a + 20)", "42");

    // Ctrl-C stops a long call quickly and keeps the variables.
    // The call prints before it blocks (the echo of the line does not spell "napping").
    interrupt(
        &mut p,
        r#"print("nap" + "ping"); time::sleep(30)"#,
        "napping",
        "Ctrl-C",
    );
    line(&mut p, "q.id", &id);

    // A notification arriving while a line is typed prints above it; the line survives.
    line(&mut p, ":notify +0.5 order BTWKN000123 completed", "");
    type_keys(&mut p, "let zz = 4");
    p.exp_string("order BTWKN000123 completed").unwrap();
    p.exp_string("let zz = 4").unwrap();
    line(&mut p, "2", "");
    line(&mut p, "zz", "42");

    // :save writes the successful statements as a recipe; :quit leaves.
    let saved = dir.path().join("session.rhai");
    line(&mut p, &format!(":save {}", saved.display()), "saved");
    line(&mut p, "double(zz)", "84");
    line(
        &mut p,
        &format!(":save {}", saved.display()),
        "--param name=NEW --param domain=NEW",
    );
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();

    let recipe = std::fs::read_to_string(&saved).unwrap();
    assert!(recipe.starts_with("//! name: "), "{recipe}");
    assert!(
        !recipe.contains("ringfence"),
        "failed statements are left out:\n{recipe}"
    );
    assert!(
        !recipe.contains("sleep"),
        "interrupted statements are left out:\n{recipe}"
    );
    assert!(!recipe.contains(":help"), "{recipe}");

    // The company's name and domain, taken now, became required parameters: the recipe runs
    // again with new ones, to the same effect.
    assert!(
        recipe.contains("//! param name: text — ")
            && recipe.contains("//! param domain: text — ")
            && recipe.contains("#{name: params.name, domain: params.domain}"),
        "{recipe}"
    );
    let o = rt.block_on(output(btw(&sb.base_url(), dir.path()).args([
        "run",
        saved.to_str().unwrap(),
        "--param",
        "name=Zephyr Weaving Ltd",
        "--param",
        "domain=zephyrweaving.co.uk",
    ])));
    assert_eq!(
        o.code, 0,
        "stdout: {}\nstderr: {}\n{recipe}",
        o.stdout, o.stderr
    );
    assert_eq!(o.stdout.trim(), "84", "{}", o.stdout);

    // History was kept in the data folder.
    let history = std::fs::read_to_string(dir.path().join("repl_history")).unwrap();
    assert!(
        history.contains("whc::company(\"Acme Widgets Ltd\")"),
        "{history}"
    );
}

#[test]
fn load_reset_and_profile() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lib.rhai");
    std::fs::write(
        &file,
        "//! name: helpers\nfn triple(x) { x * 3 }\nlet loaded = triple(5);\n",
    )
    .unwrap();
    let mut p = spawn_repl(&sb.base_url(), dir.path());
    p.exp_string(PROMPT).unwrap();
    line(&mut p, ":profile", &sb.base_url());
    line(&mut p, &format!(":load {}", file.display()), "");
    line(&mut p, "loaded + triple(1)", "18");
    // A syntax error points at <repl>:line:col.
    line(&mut p, "let x = 1 + ;", "error: <repl>:1:");
    line(&mut p, ":reset", "session reset");
    line(&mut p, "loaded", "not found");
    // `()` prints nothing: the next thing after the prompt is the prompt.
    let between = line(&mut p, "()", "");
    assert_eq!(between.trim(), "", "{between:?}");

    line(
        &mut p,
        r#"let q = whc::qualify_company(#{name: "Waiting Room Ltd", domain: "waitingroom.co.uk"})"#,
        "",
    );
    // And during order::wait on an order that will not complete (created, never submitted).
    line(
        &mut p,
        r#"let o = order::create(#{company: #{name: "Waiting Room Ltd", domain: "waitingroom.co.uk", group: "SWAINsTelecom", service_id: q.service_id, qualification_id: q.id}})"#,
        "",
    );
    interrupt(
        &mut p,
        r#"print("wait" + "ing"); order::wait(o.id, "completed", 60)"#,
        "waiting",
        "Ctrl-C during order::wait",
    );
    line(&mut p, "q.result", "\"Qualified\"");

    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

/// Adds a fault rule to the sandbox (`/__sandbox/faults`).
fn add_fault(rt: &tokio::runtime::Runtime, url: &str, rule: serde_json::Value) {
    rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{url}/__sandbox/faults"))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    });
}

/// The number of the call `:last` shows.
fn last_call_number(p: &mut PtySession) -> u64 {
    p.send_line(":last").unwrap();
    p.exp_string("\n").unwrap();
    let (_, n) = p.exp_regex(r"call \d+").unwrap();
    p.exp_string(PROMPT).unwrap();
    n.trim_start_matches("call ").parse().unwrap()
}

#[test]
fn raw_requests_calls_curl_and_resend() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    let mut p = spawn_repl_args(
        &[("BTW_BASE_URL", sb.base_url().as_str())],
        &["--trace-http", trace.to_str().unwrap()],
        dir.path(),
    );
    p.exp_string(PROMPT).unwrap();

    // A raw GET: status, headers and BT's own body; `_` is the last result.
    line(
        &mut p,
        r#"let r = bt::get("/common/geographicAddressManagement/v1/geographicAddress?postcode=IP5%203RE")"#,
        "",
    );
    line(&mut p, "r.status", "200");
    line(&mut p, "_ + 1", "201");
    line(&mut p, r#"r.headers["content-type"]"#, "application/json");
    let get = last_call_number(&mut p);

    // A raw POST at the prompt; BT's error is raised as for the typed functions.
    line(
        &mut p,
        r#"let a = bt::post("/common/geographicAddressManagement/v1/geographicAddress", #{postcode: "LS1 4AP", city: "Leeds", country: "United Kingdom"})"#,
        "",
    );
    line(&mut p, "a.status", "201");
    line(&mut p, "a.body.id.len() > 0", "true");
    line(
        &mut p,
        r#"bt::get("/bt-wholesale/v1/order/productOrder/NO-SUCH-ORDER")"#,
        "BT answered 404",
    );
    line(
        &mut p,
        r#"bt::get("https://elsewhere.example/x")"#,
        "is not a path",
    );

    // A key the map does not have: said so, with the near keys.
    p.send_line("a.bodyy").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string(r#"no key "bodyy""#).unwrap();
    p.exp_string("did you mean body?").unwrap();
    p.exp_string("its keys: body, headers, status").unwrap();
    p.exp_string(PROMPT).unwrap();
    // Writing a new key is not a missing key: it is added.
    line(&mut p, "a.note = \"mine\"", "");
    line(&mut p, "a.note", "\"mine\"");

    // :calls: one line per call, the token call first.
    p.send_line(":calls").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(r"1  \d\d:\d\d:\d\d  GET +/oauth/accesstoken\?grant_type=client_credentials  200  \d+ ms  [0-9a-f-]{36}")
        .unwrap();
    p.exp_regex(&format!(
        r"{get}  \d\d:\d\d:\d\d  GET +/common/geographicAddressManagement/v1/geographicAddress\?postcode=IP5%203RE  200"
    ))
    .unwrap();
    p.exp_regex(r"POST +/common/geographicAddressManagement/v1/geographicAddress  201")
        .unwrap();
    p.exp_regex(r"GET +/bt-wholesale/v1/order/productOrder/NO-SUCH-ORDER  404")
        .unwrap();
    p.exp_string(PROMPT).unwrap();

    // :curl of the POST: the token and every secret as a variable, the body as sent.
    p.send_line(":curl").unwrap();
    p.exp_string("\n").unwrap();
    let curl = p.exp_string(PROMPT).unwrap();
    assert!(
        curl.contains("\"Authorization: Bearer $BTW_TOKEN\""),
        "{curl}"
    );
    assert!(curl.contains("$BTW_CLIENT_SECRET"), "{curl}");
    assert!(curl.contains("productOrder/NO-SUCH-ORDER'"), "{curl}");
    assert!(!curl.contains("***"), "{curl}");
    for (i, _) in curl.match_indices("Bearer ") {
        assert!(curl[i..].starts_with("Bearer $BTW_TOKEN"), "{curl}");
    }
    p.send_line(&format!(":curl {}", get + 1)).unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string("curl -sS -X POST '").unwrap();
    p.exp_string(
        r#"--data-raw '{"city":"Leeds","country":"United Kingdom","postcode":"LS1 4AP"}'"#,
    )
    .unwrap();
    p.exp_string(PROMPT).unwrap();

    // :resend of the read: sent again, listed as a new call, its answer shown and kept in `_`.
    p.send_line(&format!(":resend {get}")).unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(
        r"GET +/common/geographicAddressManagement/v1/geographicAddress\?postcode=IP5%203RE  200",
    )
    .unwrap();
    p.exp_string("status: 200").unwrap();
    p.exp_string(PROMPT).unwrap();
    line(&mut p, "_.status", "200");
    let resent = last_call_number(&mut p);
    // A change asks first; no is no.
    p.send_line(&format!(":resend {}", get + 1)).unwrap();
    p.exp_string("Send it again? [y/N]").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("not sent").unwrap();
    p.exp_string(PROMPT).unwrap();
    assert_eq!(last_call_number(&mut p), resent, "nothing was sent");
    assert!(resent > get + 2, "{resent} after {get}");
    line(&mut p, ":last xyz", "usage: :last [N]");

    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();

    // --trace-http: every exchange, the token call's included, and no secret.
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["operation"], "get access token", "{text}");
    assert!(lines.iter().any(|l| l["method"] == "POST"), "{text}");
    assert!(
        !text.contains("Bearer ") && !text.contains("Basic "),
        "{text}"
    );
}

#[test]
fn slow_calls_show_their_time_and_ctrl_c_is_recorded() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let url = sb.base_url();
    let mut p = spawn_repl(&url, dir.path());
    p.exp_string(PROMPT).unwrap();
    line(&mut p, "whc::reseller().cug_id.len() > 0", "true");

    // A call slowed to 2.5 s is named with its elapsed time while it runs.
    let reseller = "/bt-wholesale/v1/whc/resourceInventory/resellers";
    add_fault(
        &rt,
        &url,
        serde_json::json!({"method": "GET", "path_prefix": reseller, "latency_ms": 2500, "count": 1}),
    );
    p.send_line("whc::reseller().cug_id").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(&format!(
        r"1\.\d s  waiting for BT: GET {reseller}/\S+ \(get reseller data\)"
    ))
    .unwrap();
    p.exp_regex(r"2\.\d s  waiting for BT").unwrap();
    p.exp_string("\"CUG").unwrap();
    p.exp_string(PROMPT).unwrap();

    // An input running between calls shows its time too.
    p.send_line("time::sleep(1.6); 7").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(r"1\.\d s  running  Ctrl-C stops it").unwrap();
    p.exp_string("7").unwrap();
    p.exp_string(PROMPT).unwrap();

    // Ctrl-C during a slow call: back at the prompt, and the call is listed as interrupted.
    add_fault(
        &rt,
        &url,
        serde_json::json!({"method": "GET", "path_prefix": reseller, "latency_ms": 30000, "count": 1}),
    );
    p.send_line("whc::reseller()").unwrap();
    p.exp_string("waiting for BT: GET").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(":last").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(&format!(r"GET \S+{reseller}/\S+ \S+ interrupted in \d+ ms"))
        .unwrap();
    p.exp_string("< no answer: interrupted").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(":calls 1").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(&format!(r"GET +{reseller}/\S+  interrupted  \d+ ms"))
        .unwrap();
    p.exp_string(PROMPT).unwrap();

    // A raw change in a recipe is refused; reads are fine.
    let recipe = dir.path().join("raw.rhai");
    std::fs::write(
        &recipe,
        "let r = bt::get(\"/common/geographicAddressManagement/v1/geographicAddress?postcode=IP5%203RE\");\nprint(r.status);\nbt::post(\"/common/geographicAddressManagement/v1/geographicAddress\", #{postcode: \"LS1 4AP\"});\n",
    )
    .unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
    let o = rt.block_on(output(
        btw(&url, dir.path()).args(["run", recipe.to_str().unwrap()]),
    ));
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("200"), "{}", o.stdout);
    assert!(
        o.stderr
            .contains("bt::post: a raw POST is refused in a recipe"),
        "{}",
        o.stderr
    );
}

#[test]
fn long_output_goes_through_the_pager() {
    let dir = tempfile::tempdir().unwrap();
    let url = closed_port_url();
    let mut p = spawn_repl_with(
        &[
            ("BTW_BASE_URL", url.as_str()),
            ("BTW_PAGER", "sed s/^/PAGED:/"),
        ],
        dir.path(),
    );
    p.exp_string(PROMPT).unwrap();
    // Short output is printed as it is; taller than the terminal (50 rows), it is paged.
    let short = line(&mut p, "[1, 2]", "[1, 2]");
    assert!(!short.contains("PAGED:"), "{short}");
    p.send_line("let big = []; for i in 0..80 { big.push(`line ${i}`) } big")
        .unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string("PAGED:").unwrap();
    p.exp_string("line 79").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[tokio::test]
async fn defs_writes_a_definition_file_per_module() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("defs");
    let o = output(btw(&closed_port_url(), dir.path()).args(["defs", out.to_str().unwrap()])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let whc = std::fs::read_to_string(out.join("whc.d.rhai")).unwrap();
    assert!(whc.contains("fn qualify_company("), "{whc}");
    assert!(whc.contains("qualif"), "{whc}");
}

/// Round two: raw requests by path, the call list with the token call, curl without secrets,
/// a re-sent read, `_`, a missing key's message, elapsed time on a slow call, Ctrl-C then `:last`.
#[test]
fn raw_requests_and_the_call_list() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(sandbox());
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&sb.base_url(), dir.path());
    p.exp_string(PROMPT).unwrap();

    // A raw GET: status, headers and BT's body as sent.
    line(&mut p, "let me = whc::reseller()", "");
    line(
        &mut p,
        "let r = bt::get(`/bt-wholesale/v1/whc/resourceInventory/resellers/${me.cug_id}`)",
        "",
    );
    line(&mut p, "r.status", "200");
    line(&mut p, r#"r.headers["content-type"]"#, "application/json");
    // A raw POST: a qualification, keys as BT spells them.
    line(
        &mut p,
        r#"let c = bt::post("/bt-wholesale/v1/whc/productOfferingQualification", #{relatedParty: [#{id: me.cug_id, role: "customer", "@referredType": "BtCug"}], billingAccount: #{id: me.billing_accounts[0]}, productOfferingQualificationItem: [#{id: "1", productOffering: #{id: "WHCCompany"}, product: #{productCharacteristic: [#{name: "customerName", value: "Raw Post Ltd"}, #{name: "customerDomain", value: "rawpost.co.uk"}, #{name: "customerGroup", value: me.customer_groups[0]}]}}]})"#,
        "",
    );
    line(&mut p, "c.status", "201");
    // A raw call BT refuses raises BT's error, as the typed functions do.
    line(&mut p, r#"bt::get("/bt-wholesale/v1/nowhere")"#, "error:");

    // `_` is the last result; a missing key says so and names the near one.
    line(&mut p, "40 + 2", "42");
    line(&mut p, "_ + 1", "43");
    line(&mut p, "me.cugId", "did you mean cug_id?");
    line(&mut p, r#"whc::compnay("x")"#, "did you mean whc::company?");
    line(&mut p, "let dbl = |x| x * 2", "");
    line(&mut p, ":vars", "let dbl = fn(x)");

    // `:calls`: one line per call, the token call first.
    p.send_line(":calls").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_regex(r"1  \d\d:\d\d:\d\d  GET    /oauth/accesstoken")
        .unwrap();
    p.exp_regex(r"POST   /bt-wholesale/v1/whc/productOfferingQualification  201  \d+ ms")
        .unwrap();
    let listing = p.exp_string(PROMPT).unwrap();
    assert!(listing.contains("404"), "{listing}");
    assert!(listing.lines().count() < 12, "one line a call:\n{listing}");

    // `:curl`: the POST as a command line, the token a placeholder.
    p.send_line(":curl 4").unwrap();
    p.exp_string("\n").unwrap();
    p.exp_string("curl -sS -X POST").unwrap();
    let curl = p.exp_string(PROMPT).unwrap();
    assert!(curl.contains("Bearer $BTW_TOKEN"), "{curl}");
    assert!(curl.contains("Raw Post Ltd"), "{curl}");
    assert!(
        !curl.contains("***") && !curl.contains("Bearer ey"),
        "{curl}"
    );
    line(&mut p, ":curl 1", "$BTW_CLIENT_KEY:$BTW_CLIENT_SECRET");
    line(&mut p, ":last xyz", "usage: :last [N]");
    line(&mut p, ":last 3", "\"cugId\"");

    // `:resend` of the raw read, then of the POST (which asks first; no is not sent).
    line(&mut p, ":resend 3", "status: 200");
    p.send_line(":resend 4").unwrap();
    p.exp_string("Send it again? [y/N]").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("not sent").unwrap();
    p.exp_string(PROMPT).unwrap();

    // A call slowed to 2.5 s shows its elapsed time and what it waits for.
    let admin = reqwest::Client::new();
    let faults = rt
        .block_on(
            admin
                .post(format!("{}/__sandbox/faults", sb.base_url()))
                .json(&serde_json::json!({"latency_ms": 2500, "path_prefix": "/bt-wholesale/v1/whc/resourceInventory", "count": 1}))
                .send(),
        )
        .unwrap();
    assert!(faults.status().is_success());
    p.send_line("r = bt::get(`/bt-wholesale/v1/whc/resourceInventory/resellers/${me.cug_id}`)")
        .unwrap();
    p.exp_string("waiting for BT: GET /bt-wholesale/v1/whc/resourceInventory")
        .unwrap();
    p.exp_string(PROMPT).unwrap();
    line(&mut p, "r.status", "200");

    // Ctrl-C during a slow call: `:last` shows it as interrupted.
    let faults = rt
        .block_on(
            admin
                .post(format!("{}/__sandbox/faults", sb.base_url()))
                .json(&serde_json::json!({"latency_ms": 20000, "path_prefix": "/bt-wholesale/v1/whc/resourceInventory", "count": 1}))
                .send(),
        )
        .unwrap();
    assert!(faults.status().is_success());
    p.send_line("bt::get(`/bt-wholesale/v1/whc/resourceInventory/resellers/${me.cug_id}`)")
        .unwrap();
    p.exp_string("waiting for BT").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    p.exp_string(PROMPT).unwrap();
    line(&mut p, ":last", "no answer: interrupted");
    line(&mut p, ":calls", "interrupted");

    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}
