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
    let typo = dir.path().join("typo.rhai");
    std::fs::write(&typo, "//! parm n: integer — a count\n1\n").unwrap();
    let event = dir.path().join("on_done.rhai");
    std::fs::write(
        &event,
        "//! param channel: text — where to say it\n//! trigger: on order.state=completed\n1\n",
    )
    .unwrap();
    let o = output(btw("http://127.0.0.1:9", dir.path()).args([
        "check",
        cron.to_str().unwrap(),
        bad.to_str().unwrap(),
        typo.to_str().unwrap(),
        event.to_str().unwrap(),
    ]))
    .await;
    assert!(
        o.stderr.contains("typo.rhai:1") && o.stderr.contains("looks like a parameter declaration"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("on_done.rhai") && o.stderr.contains("requires channel"),
        "{}",
        o.stderr
    );
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
    // A wrong type and a missing required parameter, for a cron job as for an at job.
    for (params, needle) in [
        (
            &["company=Acme", "quantity=many"][..],
            "expected a whole number, got \"many\"",
        ),
        (
            &["quantity=2"][..],
            "missing required parameter \"company\"",
        ),
    ] {
        let mut cmd = btw(&url, dir.path());
        cmd.args([
            "schedule",
            "add",
            "--cron",
            "0 10 * * 1-5",
            recipe.to_str().unwrap(),
        ]);
        for p in params {
            cmd.args(["--param", p]);
        }
        let o = output(&mut cmd).await;
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(o.stderr.contains(needle), "{needle:?} not in {}", o.stderr);
    }
    let o = output(btw(&url, dir.path()).args(["schedule", "list", "--json"])).await;
    assert!(
        !o.stdout.contains("ring.rhai"),
        "no job was added: {}",
        o.stdout
    );
    // A good one is added, its declared secret hidden wherever the job is listed.
    let o = output(btw(&url, dir.path()).args([
        "schedule",
        "add",
        "--at",
        "2099-01-01 10:00",
        recipe.to_str().unwrap(),
        "--param",
        "company=Acme",
        "--param",
        "api_password=pw-never-print-me",
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    for args in [
        &["schedule", "list"][..],
        &["schedule", "list", "--json"][..],
    ] {
        let o = output(btw(&url, dir.path()).args(args)).await;
        assert!(
            o.stdout.contains("ring.rhai") && o.stdout.contains("***"),
            "{}",
            o.stdout
        );
        assert!(!o.stdout.contains("pw-never-print-me"), "{}", o.stdout);
    }
    // The recipe changes under the job: moving the job to a version its parameters no longer
    // fit is refused, naming what is missing.
    let o = output(btw(&url, dir.path()).args(["schedule", "list", "--json"])).await;
    let jobs: Value = serde_json::from_str(o.stdout.trim()).unwrap();
    let id = jobs.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(
        &recipe,
        TYPED.replacen(
            "//! trigger: manual",
            "//! param region: text — where\n//! trigger: manual",
            1,
        ),
    )
    .unwrap();
    let o = output(btw(&url, dir.path()).args(["schedule", "repin", &id])).await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("not moved")
            && o.stderr.contains("missing required parameter \"region\""),
        "{}",
        o.stderr
    );
    recipe_in(dir.path());

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
    let run = |args: &[&str]| {
        let mut cmd = btw(&url, dir.path());
        cmd.arg("run").args(args);
        cmd
    };
    // 0999 has the shape of an area code, but BT has no numbers there: the ringfence fails
    // after the qualification was made.
    let o = output(&mut run(&[
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

    // The company name reaches the qualification, which already happened: refused, nothing sent.
    let before = calls_to_bt(&url).await.len();
    let o = output(&mut run(&[
        "--resume",
        &run_id,
        "--param",
        "company=Other Ltd",
    ]))
    .await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("(qualify company) already happened with another request"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains("request.name would now differ"),
        "{}",
        o.stderr
    );
    assert_eq!(calls_to_bt(&url).await.len(), before, "nothing was sent");

    // A correction is the run's from then on (`runs show` says so), so this one is put back
    // with the next. The area code reaches only the ringfence BT refused: sent again, corrected.
    let o = output(&mut run(&[
        "--resume",
        &run_id,
        "--json",
        "--param",
        "company=Fix Ltd",
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
    assert_eq!(
        created(&journal(&url).await, "qualification"),
        1,
        "the qualification was replayed, not sent again"
    );

    // The correction is the run's now: a plain resume replays it, and shows it.
    let o = output(&mut run(&["--resume", &run_id])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let shown = output(btw(&url, dir.path()).args(["runs", "show", &run_id, "--json"])).await;
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        (
            shown["outcome"].clone(),
            shown["params"]["area_code"].clone()
        ),
        ("ok".into(), "0121".into())
    );
    // A run that succeeded takes no correction: it would only change what it did.
    let o = output(&mut run(&[
        "--resume",
        &run_id,
        "--param",
        "area_code=0161",
    ]))
    .await;
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("already succeeded"), "{}", o.stderr);
    let shown = output(btw(&url, dir.path()).args(["runs", "show", &run_id, "--json"])).await;
    assert!(
        shown.stdout.contains("\"ok\""),
        "the record is untouched: {}",
        shown.stdout
    );
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

/// Every file under `dir` (the store's own files aside) that holds `needle`.
fn files_holding(dir: &Path, needle: &str, found: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            files_holding(&p, needle, found);
        } else if !name.starts_with("btw.db") {
            let bytes = std::fs::read(&p).unwrap_or_default();
            if String::from_utf8_lossy(&bytes).contains(needle) {
                found.push(p);
            }
        }
    }
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn secrets_stay_off_disk_and_what_may_hold_them_is_the_owners_alone() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    std::fs::write(
        f.recipes.join("login.rhai"),
        "//! param pin: secret — a PIN whose name says nothing\n//! param api_password: text — secret by its name\n//! trigger: manual\nlet r = whc::reseller();\n#{ok: true}\n",
    )
    .unwrap();
    // From the command line, with an HTTP trace.
    let trace = f.data.join("trace.jsonl");
    let o = output(btw(&url, &f.data).args([
        "run",
        f.recipes.join("login.rhai").to_str().unwrap(),
        "--json",
        "--param",
        "pin=Sup3rS3cret-pin",
        "--param",
        "api_password=Sup3rS3cret-pw",
        "--trace-http",
        trace.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let run_id = run_id_of(&o);
    let shown = output(btw(&url, &f.data).args(["runs", "show", &run_id, "--json"])).await;
    assert!(shown.stdout.contains("***"), "{}", shown.stdout);
    // From the daemon, as an inbox job.
    let d = serve_listening(&url, &f.data, &as_strs(&f.args(&[])));
    d.wait_log("login.rhai: loaded", 1).await;
    let job = r#"{"recipe": "login.rhai", "params": {"pin": "Sup3rS3cret-pin", "api_password": "Sup3rS3cret-pw"}}"#;
    let tmp = f.recipes.join("inbox").join(".login.json");
    std::fs::write(&tmp, job).unwrap();
    std::fs::rename(&tmp, f.recipes.join("inbox").join("login.json")).unwrap();
    wait_for("the job's report", 30, || {
        reports(&f.recipes).iter().any(|r| r["outcome"] == "ok")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let log = d.stop().await;
    assert!(
        !log.contains("Sup3rS3cret"),
        "the daemon's log holds a secret"
    );
    assert!(
        !shown.stdout.contains("Sup3rS3cret")
            && !o.stdout.contains("Sup3rS3cret")
            && !o.stderr.contains("Sup3rS3cret")
    );

    let mut found = Vec::new();
    files_holding(&f.data, "Sup3rS3cret", &mut found);
    // The job file the operator wrote is theirs; everything btw wrote is clean.
    let recipes_out = f.recipes.join("runs");
    files_holding(&recipes_out, "Sup3rS3cret", &mut found);
    assert!(found.is_empty(), "secrets written to {found:?}");
    let report = reports(&f.recipes)
        .into_iter()
        .find(|r| r["outcome"] == "ok")
        .unwrap();
    assert_eq!(
        (
            report["params"]["pin"].clone(),
            report["params"]["api_password"].clone()
        ),
        ("***".into(), "***".into())
    );
    for e in std::fs::read_dir(&recipes_out).unwrap().flatten() {
        assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
    }
    assert_eq!(mode(&trace), 0o600);
    assert_eq!(
        mode(&f.data.join("btw.db")),
        0o600,
        "the command line's store"
    );
    assert_eq!(mode(&f.store), 0o600, "the daemon's store");
}

#[test]
fn every_shipped_recipe_declares_its_parameters_and_the_docs_table_matches() {
    let docs = std::fs::read_to_string(repo().join("docs/recipes.md")).unwrap();
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(repo().join("scripts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 12);
    for path in scripts {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let header = btw::recipe::parse_header(&source).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        let specs = header
            .params
            .typed()
            .unwrap_or_else(|| panic!("{file} has no typed parameter declarations"));
        assert!(header.notes.is_empty(), "{file}: {:?}", header.notes);
        // Every `params.x` / `p.x` the recipe reads is declared.
        for word in source.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')) {
            if let Some(name) = word
                .strip_prefix("params.")
                .or_else(|| word.strip_prefix("p."))
            {
                assert!(
                    specs.iter().any(|s| s.name == name),
                    "{file} reads {name}, which it does not declare"
                );
            }
        }
        let cell: Vec<String> = specs
            .iter()
            .map(|s| {
                let kind = s.kind.to_string().replace('|', "\\|");
                let need = if s.required { " (required)" } else { "" };
                format!("`{}: {kind}`{need}", s.name)
            })
            .collect();
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{file}` |")))
            .unwrap_or_else(|| panic!("docs/recipes.md has no row for {file}"));
        assert!(
            row.ends_with(&format!("| {} |", cell.join(", "))),
            "docs/recipes.md's row for {file} does not match its declarations:\n{row}\nexpected params: {}",
            cell.join(", ")
        );
    }
}
