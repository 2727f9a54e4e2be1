//! The recipes folder and inbox can't be fooled: what runs is what was saved, written the way
//! editors and tools write (chunks with pauses, rename over, delete and recreate, `>` with a slow
//! writer), a job follows its recipe's name, links leaving the folder are refused everywhere with
//! one reason, refused jobs raise `job.refused`, and a slow compile blocks nothing.

use crate::common::*;
use crate::daemon_support::*;
use btw::jobs::JobState;
use btw::store::Store;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const JOB: &str = "//! trigger: manual\n#{n: params.n}\n";

/// An on-drop recipe of 64 `let` lines whose result names its version.
fn long_recipe(version: u32) -> String {
    let mut s = String::from("//! trigger: on-drop\n");
    for i in 0..64 {
        s += &format!("let x{i} = {i};\n");
    }
    s + format!("#{{version: {version}, last: x63}}\n").as_str()
}

/// The console's base URL, from the daemon's log.
async fn console(d: &Serve) -> String {
    d.wait_log("console on http://", 1).await;
    let text = d.log();
    let at = text.find("console on http://").unwrap() + "console on ".len();
    text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect()
}

async fn page(base: &str, path: &str) -> String {
    reqwest::get(format!("{base}{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Writes `name` the way `cp` does: truncated in place, then written.
fn cp(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn job_state(store: &Store, id: &str) -> Option<JobState> {
    store.job_get(id).unwrap().map(|j| j.state)
}

/// Case 1: emptied, left empty 0.4 s, then written in chunks 0.1 s apart by one writer: only
/// whole versions run, never its first lines.
#[tokio::test]
async fn a_recipe_emptied_then_written_in_chunks_runs_only_whole_versions() {
    let sb = sandbox().await;
    let f = Folder::new();
    let d = serve(&sb.base_url(), &f.data, &as_strs(&f.args(&[])));
    d.wait_log("serving", 1).await;
    let path = f.recipes.join("chunks.rhai");
    std::fs::write(&path, long_recipe(1)).unwrap();
    wait_for("version 1's run", 30, || reports(&f.recipes).len() == 1)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let text = long_recipe(2);
    // Line-sized chunks: every prefix that ends a line compiles, so a partial read would run.
    for chunk in text.split_inclusive('\n').collect::<Vec<_>>().chunks(8) {
        file.write_all(chunk.concat().as_bytes()).unwrap();
        file.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(file);
    wait_for("version 2's run", 30, || {
        reports(&f.recipes)
            .iter()
            .any(|r| r["result"]["version"] == 2)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let log = d.stop().await;
    let results: Vec<Value> = reports(&f.recipes)
        .iter()
        .map(|r| r["result"].clone())
        .collect();
    assert_eq!(
        results,
        vec![
            json!({"version": 1, "last": 63}),
            json!({"version": 2, "last": 63})
        ],
        "{log}"
    );
}

/// Case 2: a cron recipe deleted and put back unchanged gets a live job again, also when it
/// came back while the daemon was stopped; the console and `btw schedule list` say what the
/// store says.
#[tokio::test]
async fn a_cron_recipe_deleted_and_put_back_gets_its_job_back_also_across_a_restart() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    let args = f.args(&["--http", "127.0.0.1:0"]);
    let d = serve(&url, &f.data, &as_strs(&args));
    let base = console(&d).await;
    let text = "//! trigger: cron \"0 10 * * *\"\n1\n";
    cp(&f.recipes, "daily.rhai", text);
    d.wait_log("daily.rhai: scheduled job", 1).await;
    let store = Store::open(&f.store).unwrap();
    let id = store.job_list(&[JobState::Scheduled]).unwrap()[0]
        .id
        .clone();
    std::fs::remove_file(f.recipes.join("daily.rhai")).unwrap();
    wait_for("the job cancelled", 20, || {
        job_state(&store, &id) == Some(JobState::Cancelled)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    cp(&f.recipes, "daily.rhai", text);
    wait_for("the job live again", 20, || {
        job_state(&store, &id) == Some(JobState::Scheduled)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let recipes_page = page(&base, "/recipes").await;
    assert!(
        recipes_page.contains(&format!("{id} (scheduled)")),
        "{recipes_page}"
    );
    let o = output(
        btw(&url, &f.data)
            .args(["schedule", "list", "--store"])
            .arg(&f.store),
    )
    .await;
    assert!(
        o.stdout.contains(&id) && o.stdout.contains("scheduled"),
        "{}",
        o.stdout
    );

    // Deleted, then put back while the daemon was stopped: the restart re-arms it.
    std::fs::remove_file(f.recipes.join("daily.rhai")).unwrap();
    wait_for("the job cancelled again", 20, || {
        job_state(&store, &id) == Some(JobState::Cancelled)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.stop().await;
    cp(&f.recipes, "daily.rhai", text);
    let d = serve(&url, &f.data, &as_strs(&args));
    let base = console(&d).await;
    wait_for("the job re-armed by the restart", 20, || {
        job_state(&store, &id) == Some(JobState::Scheduled)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    wait_for("the console to agree", 20, || {
        std::fs::read_to_string(&d.log)
            .unwrap_or_default()
            .contains("daily.rhai: loaded")
    })
    .await
    .unwrap();
    let recipes_page = page(&base, "/recipes").await;
    assert!(
        recipes_page.contains(&format!("{id} (scheduled)")),
        "{recipes_page}"
    );
    assert_eq!(store.job_list(&[JobState::Scheduled]).unwrap().len(), 1);
    d.stop().await;
}

/// Case 3: a cron header edit that is then undone (saved as vim does: the original renamed to a
/// backup, the new text written) leaves the first job live and the edit's cancelled.
#[tokio::test]
async fn a_cron_header_edit_undone_leaves_the_first_job_live() {
    let sb = sandbox().await;
    let f = Folder::new();
    let d = serve(&sb.base_url(), &f.data, &as_strs(&f.args(&[])));
    d.wait_log("serving", 1).await;
    let first = "//! trigger: cron \"0 10 * * *\"\n1\n";
    cp(&f.recipes, "daily.rhai", first);
    d.wait_log("daily.rhai: scheduled job", 1).await;
    let store = Store::open(&f.store).unwrap();
    let id = store.job_list(&[JobState::Scheduled]).unwrap()[0]
        .id
        .clone();
    cp(
        &f.recipes,
        "daily.rhai",
        "//! trigger: cron \"0 11 * * *\"\n1\n",
    );
    d.wait_log("daily.rhai: scheduled job", 2).await;
    let path = f.recipes.join("daily.rhai");
    std::fs::rename(&path, f.recipes.join("daily.rhai~")).unwrap();
    std::fs::write(&path, first).unwrap();
    std::fs::remove_file(f.recipes.join("daily.rhai~")).unwrap();
    wait_for("the first job live again, alone", 20, || {
        let live = store.job_list(&[JobState::Scheduled]).unwrap();
        live.len() == 1 && live[0].id == id
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.stop().await;
    // A restart changes nothing.
    let d = serve(&sb.base_url(), &f.data, &as_strs(&f.args(&[])));
    d.wait_log("daily.rhai: already scheduled", 1).await;
    let live = store.job_list(&[JobState::Scheduled]).unwrap();
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].id, id);
    d.stop().await;
}

/// Case 4: a link leaving the folder is refused with one reason for recipes, inbox jobs and
/// imports, in the log, on the console and in `btw status`; a link inside the folder is followed.
#[tokio::test]
async fn a_link_leaving_the_folder_is_refused_with_one_reason_everywhere() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    let outside = f.recipes.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("drop.rhai"),
        "//! trigger: on-drop\n#{ran: \"outside\"}\n",
    )
    .unwrap();
    std::fs::write(outside.join("helpers.rhai"), "fn twice(x) { x * 2 }\n").unwrap();
    std::fs::write(outside.join("job.json"), r#"{"recipe": "job.rhai"}"#).unwrap();
    std::fs::write(f.recipes.join("job.rhai"), JOB).unwrap();
    std::os::unix::fs::symlink(outside.join("drop.rhai"), f.recipes.join("linked.rhai")).unwrap();
    std::os::unix::fs::symlink(outside.join("helpers.rhai"), f.recipes.join("helpers.rhai"))
        .unwrap();
    let args = f.args(&["--http", "127.0.0.1:0"]);
    let d = serve(&url, &f.data, &as_strs(&args));
    let base = console(&d).await;
    let refused = "outside the recipes folder: refused";
    d.wait_log("linked.rhai: a link to ", 1).await;
    // An inbox job that is such a link, and a recipe importing through one.
    std::os::unix::fs::symlink(
        outside.join("job.json"),
        f.recipes.join("inbox/linked.json"),
    )
    .unwrap();
    std::fs::write(
        f.recipes.join("uses.rhai"),
        "//! trigger: on-drop\nimport \"helpers\" as h;\n#{v: h::twice(2)}\n",
    )
    .unwrap();
    wait_for("the linked job refused", 30, || {
        f.recipes
            .join("inbox/failed/linked.json.error.txt")
            .exists()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let why =
        std::fs::read_to_string(f.recipes.join("inbox/failed/linked.json.error.txt")).unwrap();
    assert!(why.contains(refused), "{why}");
    d.wait_log("helpers.rhai: a link to ", 1).await;
    let recipes_page = page(&base, "/recipes").await;
    assert!(recipes_page.contains("linked.rhai"), "{recipes_page}");
    assert!(recipes_page.contains(refused), "{recipes_page}");
    assert!(recipes_page.contains("linked.json"), "{recipes_page}");
    let o = output(btw(&url, &f.data).args(["status", "--store"]).arg(&f.store)).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("linked.rhai"), "{}", o.stdout);
    assert!(o.stdout.contains(refused), "{}", o.stdout);
    assert!(o.stdout.contains("inbox/linked.json"), "{}", o.stdout);
    let log = d.stop().await;
    assert!(!log.contains("linked.rhai: loaded"), "{log}");
    assert!(
        !reports(&f.recipes)
            .iter()
            .any(|r| r["result"]["ran"] == "outside"),
        "{log}"
    );
}

/// Case 5 and `job.refused`: `slow_cmd > inbox/x.json` runs once its writer is done; a job
/// refused for good names why in `failed/NAME.error.txt`, on the console, in `btw status`, and
/// runs the `on job.refused` recipes.
#[tokio::test]
async fn a_slow_redirect_runs_and_a_refused_job_raises_job_refused() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    std::fs::write(f.recipes.join("job.rhai"), JOB).unwrap();
    std::fs::write(
        f.recipes.join("refused.rhai"),
        "//! trigger: on job.refused\n#{file: params.file, reason: params.reason}\n",
    )
    .unwrap();
    let args = f.args(&["--http", "127.0.0.1:0"]);
    let d = serve(&url, &f.data, &as_strs(&args));
    let base = console(&d).await;
    d.wait_log("refused.rhai: loaded", 1).await;
    let inbox = f.recipes.join("inbox");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("(printf '{\"recipe\": '; sleep 3; echo '\"job.rhai\", \"params\": {\"n\": 7}}') > slow.json &")
        .current_dir(&inbox)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(inbox.join("bad.json"), "{\"recipe\": ").unwrap();
    wait_for("the slow job's run and the refusal's", 40, || {
        let r = reports(&f.recipes);
        r.iter().any(|r| r["result"]["n"] == 7)
            && r.iter().any(|r| r["result"]["file"] == "bad.json")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let r = reports(&f.recipes);
    let alert = r
        .iter()
        .find(|r| r["result"]["file"] == "bad.json")
        .unwrap();
    assert!(
        alert["result"]["reason"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{alert:#}"
    );
    assert_eq!(r.iter().filter(|r| r["result"]["n"] == 7).count(), 1);
    assert!(!inbox.join("failed/slow.json").exists(), "{}", d.log());
    let why = std::fs::read_to_string(inbox.join("failed/bad.json.error.txt")).unwrap();
    assert!(why.contains("not JSON"), "{why}");
    let recipes_page = page(&base, "/recipes").await;
    assert!(recipes_page.contains("bad.json"), "{recipes_page}");
    let o = output(btw(&url, &f.data).args(["status", "--store"]).arg(&f.store)).await;
    assert!(o.stdout.contains("inbox/bad.json"), "{}", o.stdout);
    d.stop().await;
}

/// A recipe of `lines` `let` lines: slow to compile (growing with the square of its lines).
fn big_recipe(lines: usize) -> String {
    let mut s = String::from("//! trigger: manual\n");
    for i in 0..lines {
        s += &format!("let v{i} = {i};\n");
    }
    s + "#{big: true}\n"
}

/// A big recipe compiling blocks neither other recipes nor inbox jobs; one over the time limit
/// is reported broken and the rest keep loading.
#[tokio::test]
async fn a_slow_compile_blocks_nothing_and_one_over_the_limit_is_reported_broken() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    std::fs::write(f.recipes.join("job.rhai"), JOB).unwrap();
    let d = serve_env(
        &url,
        &f.data,
        &as_strs(&f.args(&[])),
        &[("BTW_COMPILE_LIMIT_MS", "1500")],
    );
    d.wait_log("job.rhai: loaded", 1).await;
    cp(&f.recipes, "big.rhai", &big_recipe(60_000));
    // While the big one compiles, the rest goes on around it.
    cp(
        &f.recipes,
        "small.rhai",
        "//! trigger: on-drop\n#{small: true}\n",
    );
    std::fs::write(
        f.recipes.join("inbox/one.json"),
        json!({"recipe": "job.rhai", "params": {"n": 1}}).to_string(),
    )
    .unwrap();
    wait_for("the small recipe's run and the job's", 20, || {
        let r = reports(&f.recipes);
        r.iter().any(|r| r["result"]["small"] == true) && r.iter().any(|r| r["result"]["n"] == 1)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    d.wait_log("compiling took longer than 1.5 s", 1).await;
    let log = d.stop().await;
    assert!(log.contains("big.rhai: broken edit; not loaded"), "{log}");
    assert!(!log.contains("big.rhai: loaded"), "{log}");
}

/// Editors and tools at once (vim, JetBrains, Emacs, rsync, cp, atomic rename, shell
/// redirection), each saving versions in a burst, with 100 inbox jobs: every job ran exactly
/// once, only the last-saved version of each recipe ran, and no editor temporary ran.
async fn storm(jobs: usize, rounds: u32) {
    let sb = sandbox().await;
    let f = Folder::new();
    std::fs::write(f.recipes.join("job.rhai"), JOB).unwrap();
    let d = serve(&sb.base_url(), &f.data, &as_strs(&f.args(&[])));
    d.wait_log("job.rhai: loaded", 1).await;
    let dir = f.recipes.clone();
    let text =
        |tool: &str, v: u32| format!("//! trigger: on-drop\n#{{tool: \"{tool}\", v: {v}}}\n");
    let tools = [
        "vim",
        "jetbrains",
        "emacs",
        "rsync",
        "cp",
        "rename",
        "redirect",
    ];
    let mut expected: Vec<(String, u32)> = Vec::new();
    for round in 0..rounds {
        let base = round * 10;
        for (k, tool) in tools.iter().enumerate() {
            let name = format!("{tool}.rhai");
            let path = dir.join(&name);
            // Three saves in a burst: only the last is a version.
            for v in base + 1..=base + 3 {
                let t = text(tool, v);
                match k {
                    0 => {
                        // vim: swap file, original renamed to a backup, new file written.
                        std::fs::write(dir.join(format!(".{name}.swp")), "swap").unwrap();
                        if path.exists() {
                            std::fs::rename(&path, dir.join(format!("{name}~"))).unwrap();
                        }
                        std::fs::write(&path, &t).unwrap();
                        let _ = std::fs::remove_file(dir.join(format!("{name}~")));
                    }
                    1 => {
                        // JetBrains: written aside, original moved away, the new one renamed in.
                        let tmp = dir.join(format!("{name}___jb_tmp___"));
                        let old = dir.join(format!("{name}___jb_old___"));
                        std::fs::write(&tmp, &t).unwrap();
                        if path.exists() {
                            std::fs::rename(&path, &old).unwrap();
                        }
                        std::fs::rename(&tmp, &path).unwrap();
                        let _ = std::fs::remove_file(&old);
                    }
                    2 => {
                        // Emacs: lock link, autosave file, backup, then written in place.
                        let _ =
                            std::os::unix::fs::symlink("user@host", dir.join(format!(".#{name}")));
                        std::fs::write(dir.join(format!("#{name}#")), "autosave").unwrap();
                        if path.exists() {
                            std::fs::copy(&path, dir.join(format!("{name}~"))).unwrap();
                        }
                        std::fs::write(&path, &t).unwrap();
                        let _ = std::fs::remove_file(dir.join(format!(".#{name}")));
                        let _ = std::fs::remove_file(dir.join(format!("#{name}#")));
                    }
                    3 => {
                        // rsync: a hidden temporary beside, renamed over.
                        let tmp = dir.join(format!(".{name}.Xy12Ab"));
                        std::fs::write(&tmp, &t).unwrap();
                        std::fs::rename(&tmp, &path).unwrap();
                    }
                    4 => std::fs::write(&path, &t).unwrap(),
                    5 => {
                        let tmp = dir.join(format!(".{name}.tmp"));
                        std::fs::write(&tmp, &t).unwrap();
                        std::fs::rename(&tmp, &path).unwrap();
                    }
                    _ => {
                        let ok = std::process::Command::new("sh")
                            .arg("-c")
                            .arg(format!("printf '%s' '{t}' > {name}"))
                            .current_dir(&dir)
                            .status()
                            .unwrap()
                            .success();
                        assert!(ok);
                    }
                }
            }
            expected.push((tool.to_string(), base + 3));
        }
        for i in 0..jobs {
            let n = round as usize * 1000 + i;
            let job = json!({"recipe": "job.rhai", "params": {"n": n}}).to_string();
            let inbox = dir.join("inbox");
            if i % 2 == 0 {
                let tmp = inbox.join(format!(".j{n}.json.part"));
                std::fs::write(&tmp, &job).unwrap();
                std::fs::rename(&tmp, inbox.join(format!("j{n}.json"))).unwrap();
            } else {
                std::fs::write(inbox.join(format!("j{n}.json")), &job).unwrap();
            }
        }
        let want_jobs = (round as usize + 1) * jobs;
        let want_tools = expected.len();
        wait_for("every job and every last version to run", 120, || {
            let r = reports(&dir);
            r.iter().filter(|r| r["result"]["n"].is_number()).count() >= want_jobs
                && expected[..want_tools].iter().all(|(tool, v)| {
                    r.iter()
                        .any(|r| r["result"]["tool"] == tool.as_str() && r["result"]["v"] == *v)
                })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    }
    wait_settled(&f.store, 60).await;
    let log = d.stop().await;
    let r = reports(&dir);
    let mut ns: Vec<i64> = r.iter().filter_map(|r| r["result"]["n"].as_i64()).collect();
    ns.sort();
    let mut want: Vec<i64> = (0..rounds as i64)
        .flat_map(|round| (0..jobs as i64).map(move |i| round * 1000 + i))
        .collect();
    want.sort();
    assert_eq!(ns, want, "every job exactly once\n{log}");
    let mut ran: Vec<(String, u32)> = r
        .iter()
        .filter(|r| r["result"]["tool"].is_string())
        .map(|r| {
            (
                r["result"]["tool"].as_str().unwrap().to_string(),
                r["result"]["v"].as_u64().unwrap() as u32,
            )
        })
        .collect();
    ran.sort();
    expected.sort();
    assert_eq!(ran, expected, "only the last-saved versions ran\n{log}");
    for rep in &r {
        let recipe = rep["recipe"].as_str().unwrap_or_default();
        let name = Path::new(recipe).file_name().unwrap().to_str().unwrap();
        assert!(
            name == "job.rhai" || tools.iter().any(|t| name == format!("{t}.rhai")),
            "a temporary ran: {recipe}"
        );
    }
}

#[tokio::test]
async fn a_storm_of_editor_saves_and_100_inbox_jobs_runs_each_job_once_and_only_last_versions() {
    storm(100, 1).await;
}

/// The storm for longer: `cargo test --test it storm_long -- --ignored`.
#[tokio::test]
#[ignore]
async fn storm_long() {
    storm(300, 5).await;
}

/// Two daemons on one store serving the same recipe from different paths share one job; a
/// delete in one folder leaves the job live while the other still has the recipe; an older copy
/// never re-pins the job over a newer one; deleting it from both cancels it.
#[tokio::test]
async fn daemons_with_the_same_recipe_at_different_paths_share_one_job() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let store_path = root.path().join("btw.db");
    let folder = |i: usize| {
        let recipes = root.path().join(format!("d{i}/recipes"));
        std::fs::create_dir_all(recipes.join("inbox")).unwrap();
        (root.path().join(format!("d{i}/data")), recipes)
    };
    let (data_a, rec_a) = folder(0);
    let (data_b, rec_b) = folder(1);
    let old = "//! trigger: cron \"0 10 * * *\"\n1\n";
    let new = "//! trigger: cron \"0 10 * * *\"\n2\n";
    // B's copy is older: saved before A's.
    cp(&rec_b, "daily.rhai", old);
    let earlier = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(rec_b.join("daily.rhai"))
        .unwrap()
        .set_modified(earlier)
        .unwrap();
    cp(&rec_a, "daily.rhai", new);
    let args = |r: &Path| {
        vec![
            "--recipes".to_string(),
            r.display().to_string(),
            "--store".to_string(),
            store_path.display().to_string(),
        ]
    };
    let a = serve(&url, &data_a, &as_strs(&args(&rec_a)));
    a.wait_log("daily.rhai: scheduled job", 1).await;
    let b = serve(&url, &data_b, &as_strs(&args(&rec_b)));
    b.wait_log("daily.rhai: job", 1).await;
    let store = Store::open(&store_path).unwrap();
    let live = store.job_list(&[JobState::Scheduled]).unwrap();
    assert_eq!(live.len(), 1, "one job for both: {live:#?}");
    let id = live[0].id.clone();
    assert_eq!(
        live[0].recipe_hash.as_deref(),
        Some(btw::store::recipe_hash(new).as_str()),
        "the older copy re-pinned it\n{}",
        b.log()
    );
    assert!(
        b.log().contains("keeps the version saved at"),
        "{}",
        b.log()
    );

    // Deleted in A: B still has it, so the job lives on.
    std::fs::remove_file(rec_a.join("daily.rhai")).unwrap();
    a.wait_log("its job stays", 1).await;
    assert_eq!(job_state(&store, &id), Some(JobState::Scheduled));
    // Deleted in B too: now nobody has it.
    std::fs::remove_file(rec_b.join("daily.rhai")).unwrap();
    wait_for("the job cancelled", 20, || {
        job_state(&store, &id) == Some(JobState::Cancelled)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", b.log()));
    a.stop().await;
    b.stop().await;
}
