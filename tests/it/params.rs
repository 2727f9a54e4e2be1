//! Recipe parameters as a contract, through the binary: a typo, a wrong type or a missing
//! parameter is refused with exit 2 before anything reaches BT, wherever parameters arrive
//! (`btw run`, `schedule add`, `batch::run` rows, inbox jobs); values are typed by the
//! declaration; a recipe explains itself; a resume may correct a parameter only where no step
//! that already happened would change; a script may come from standard input.

use crate::common::*;
use crate::daemon_support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

const TYPED: &str = r#"//! name: Ringfence a number for a new company
//! Qualifies a company, then ringfences one number in an area.
//! param company: text — the company's name
//! param area_code: area_code = "0121" — where the number is
//! param quantity: integer = 1 — how many numbers
//! param api_password: secret? — never shown
//! trigger: manual
let q = whc::qualify_company(#{name: params.company, domain: "ringfence-check.co.uk"});
let b = numbers::ringfence(#{area_code: params.area_code, quantity: params.quantity,
                             service_id: q.service_id, qualification_id: q.id});
#{start: b.start, company: params.company, company_type: type_of(params.company)}
"#;

fn recipe_in(dir: &Path) -> PathBuf {
    let p = dir.join("ring.rhai");
    std::fs::write(&p, TYPED).unwrap();
    p
}

/// BT calls other than the token's, from the sandbox's journal.
async fn calls_to_bt(url: &str) -> Vec<String> {
    journal(url).await["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .filter(|r| !r.contains("oauth") && !r.contains("token"))
        .collect()
}

fn created(journal: &Value, kind: &str) -> usize {
    journal["created"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .count()
}

fn refused(o: &Output, needles: &[&str]) {
    assert_eq!(o.code, 2, "stdout: {}\nstderr: {}", o.stdout, o.stderr);
    for n in needles {
        assert!(o.stderr.contains(n), "{n:?} not in: {}", o.stderr);
    }
    assert!(o.stderr.contains("nothing was sent to BT"), "{}", o.stderr);
}

fn run_id_of(o: &Output) -> String {
    let last: Value = serde_json::from_str(o.stdout.lines().last().unwrap_or("{}")).unwrap();
    last["run_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn btw_run_refuses_a_typo_a_wrong_type_and_a_missing_parameter_before_bt() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_in(dir.path());
    let r = recipe.to_str().unwrap();

    // The shipped port recipe: `numbr` for `number` would have ported the default number.
    let o = output(btw(&url, dir.path()).args([
        "run",
        "scripts/whc_port.rhai",
        "--param",
        "numbr=01632960005",
    ]))
    .await;
    refused(
        &o,
        &[
            "unknown parameter \"numbr\"; did you mean \"number\"?",
            "scripts/whc_port.rhai",
            "number: phone",
        ],
    );
    let o = output(btw(&url, dir.path()).args([
        "run",
        r,
        "--param",
        "company=Acme",
        "--param",
        "quantity=two",
    ]))
    .await;
    refused(
        &o,
        &["parameter \"quantity\" (integer): expected a whole number, got \"two\""],
    );
    let o = output(btw(&url, dir.path()).args([
        "run",
        r,
        "--param",
        "company=Acme",
        "--param",
        "area_code=9999",
    ]))
    .await;
    refused(&o, &["parameter \"area_code\" (area_code)"]);
    let o = output(btw(&url, dir.path()).args(["run", r])).await;
    refused(&o, &["missing required parameter \"company\""]);
    // A secret is never repeated back, even in a refusal.
    let o = output(btw(&url, dir.path()).args([
        "run",
        r,
        "--param",
        "compnay=x",
        "--param",
        "api_password=pw-never-print-me",
    ]))
    .await;
    refused(&o, &["did you mean \"company\"?"]);
    assert!(!o.stderr.contains("pw-never-print-me") && !o.stdout.contains("pw-never-print-me"));
    assert_eq!(
        calls_to_bt(&url).await,
        Vec::<String>::new(),
        "nothing reached BT"
    );

    // A number-looking name is text, as declared.
    let o =
        output(btw(&url, dir.path()).args(["run", r, "--json", "--param", "company=1999"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let last: Value = serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["company"].clone(), last["company_type"].clone()),
        ("1999".into(), "string".into())
    );
}

#[tokio::test]
async fn a_recipe_explains_itself_and_check_flags_what_a_trigger_cannot_supply() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_in(dir.path());
    let o = output(btw("http://127.0.0.1:9", dir.path()).args([
        "run",
        recipe.to_str().unwrap(),
        "--help",
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    for needle in [
        "Ringfence a number for a new company",
        "Qualifies a company",
        "company: text, required — the company's name",
        "area_code: area_code, default \"0121\"",
        "quantity: integer, default 1",
        "api_password: secret, optional",
        "Trigger: manual",
    ] {
        assert!(
            o.stdout.contains(needle),
            "{needle:?} not in:\n{}",
            o.stdout
        );
    }
    let cron = dir.path().join("nightly.rhai");
    std::fs::write(&cron, "//! param company: text — who\n//! trigger: cron \"0 2 * * *\" Europe/London\nparams.company\n").unwrap();
    let bad = dir.path().join("bad.rhai");
    std::fs::write(&bad, "//! param when: colour — a colour\n1\n").unwrap();
    let o = output(btw("http://127.0.0.1:9", dir.path()).args([
        "check",
        cron.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]))
    .await;
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("nightly.rhai") && o.stderr.contains("company"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("bad.rhai:1") && o.stderr.contains("unknown type"),
        "{}",
        o.stderr
    );
}

#[tokio::test]
async fn schedule_add_and_batch_rows_are_checked_before_anything_is_sent() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_in(dir.path());
    let o = output(btw(&url, dir.path()).args([
        "schedule",
        "add",
        "--at",
        "2099-01-01 10:00",
        recipe.to_str().unwrap(),
        "--param",
        "compay=Acme",
    ]))
    .await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("did you mean \"company\"?"),
        "{}",
        o.stderr
    );
    let o = output(btw(&url, dir.path()).args(["schedule", "list", "--json"])).await;
    assert!(
        !o.stdout.contains("ring.rhai"),
        "no job was added: {}",
        o.stdout
    );

    std::fs::write(
        dir.path().join("many.rhai"),
        r#"batch::run("ring", [#{company: "A Ltd"}, #{company: "B Ltd", quantity: "x"}, #{compnay: "C Ltd"}, #{}])"#,
    )
    .unwrap();
    let o =
        output(btw(&url, dir.path()).args(["run", dir.path().join("many.rhai").to_str().unwrap()]))
            .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    for needle in [
        "item 1:",
        "\"quantity\"",
        "item 2:",
        "did you mean \"company\"?",
        "item 3:",
        "missing required parameter \"company\"",
    ] {
        assert!(o.stderr.contains(needle), "{needle:?} not in: {}", o.stderr);
    }
    assert!(!o.stderr.contains("item 0:"), "{}", o.stderr);
    assert_eq!(
        calls_to_bt(&url).await,
        Vec::<String>::new(),
        "no row ran, not even the good one"
    );
}

#[tokio::test]
async fn inbox_jobs_with_bad_parameters_fail_with_the_same_words_and_send_nothing() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    std::fs::write(f.recipes.join("ring.rhai"), TYPED).unwrap();
    let d = serve_listening(&url, &f.data, &as_strs(&f.args(&[])));
    d.wait_log("ring.rhai: loaded", 1).await;
    for (name, params) in [
        ("typo.json", r#"{"compnay": "Acme"}"#),
        ("type.json", r#"{"company": "Acme", "quantity": "lots"}"#),
        ("missing.json", r#"{}"#),
        ("number.json", r#"{"company": 1999}"#),
    ] {
        let job = format!(r#"{{"recipe": "ring.rhai", "params": {params}}}"#);
        let tmp = f.recipes.join("inbox").join(format!(".{name}"));
        std::fs::write(&tmp, job).unwrap();
        std::fs::rename(&tmp, f.recipes.join("inbox").join(name)).unwrap();
    }
    let failed = f.recipes.join("inbox/failed");
    wait_for("four jobs in failed/", 60, || {
        std::fs::read_dir(&failed)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".error.txt"))
                    .count()
            })
            .unwrap_or(0)
            == 4
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let error =
        |name: &str| std::fs::read_to_string(failed.join(format!("{name}.error.txt"))).unwrap();
    assert!(
        error("typo.json").contains("unknown parameter \"compnay\"; did you mean \"company\"?"),
        "{}",
        error("typo.json")
    );
    assert!(error("type.json").contains("expected a whole number, got \"lots\""));
    assert!(error("missing.json").contains("missing required parameter \"company\""));
    assert!(error("number.json").contains("expected text, got the number 1999"));
    assert_eq!(
        calls_to_bt(&url).await,
        Vec::<String>::new(),
        "nothing reached BT"
    );
    d.stop().await;
}

#[tokio::test]
async fn a_resume_may_correct_a_parameter_only_where_no_done_step_would_change() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let recipe = recipe_in(dir.path());
    let r = recipe.to_str().unwrap();
    // 0999 has the shape of an area code, but BT has no numbers there: the ringfence fails
    // after the qualification was made.
    let o = output(btw(&url, dir.path()).args([
        "run",
        r,
        "--json",
        "--param",
        "company=Fix Ltd",
        "--param",
        "area_code=0999",
    ]))
    .await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    let run_id = run_id_of(&o);
    let o = output(btw(&url, dir.path()).args([
        "run",
        "--resume",
        &run_id,
        "--json",
        "--param",
        "area_code=0121",
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("parameter area_code corrected"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("was done in an earlier attempt"),
        "{}",
        o.stderr
    );
    let j = journal(&url).await;
    assert_eq!(
        created(&j, "qualification"),
        1,
        "the qualification was replayed, not sent again"
    );

    // The company name reaches the qualification, which already happened: refused, nothing sent.
    let before = calls_to_bt(&url).await.len();
    let o = output(btw(&url, dir.path()).args([
        "run",
        "--resume",
        &run_id,
        "--param",
        "company=Other Ltd",
    ]))
    .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.contains("already happened with another request"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("(qualify company) already happened"),
        "{}",
        o.stderr
    );
    assert_eq!(calls_to_bt(&url).await.len(), before, "nothing was sent");
}

#[tokio::test]
async fn a_script_from_standard_input_runs_and_resumes_from_its_stored_text() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let dir = tempfile::tempdir().unwrap();
    let mut child = btw(&url, dir.path())
        .args(["run", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"let r = whc::reseller();\n#{ok: true}\n")
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let o = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(o.code, 0, "{}", o.stderr);
    let run_id = run_id_of(&o);
    let calls = calls_to_bt(&url).await.len();
    let o = output(
        btw(&url, dir.path())
            .args(["run", "--resume", &run_id])
            .stdin(Stdio::null()),
    )
    .await;
    assert_eq!(o.code, 0, "the stored text was found again: {}", o.stderr);
    assert_eq!(
        calls_to_bt(&url).await.len(),
        calls,
        "the resume replayed its one step"
    );
}
