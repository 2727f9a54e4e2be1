//! Recipes own the jobs their headers make, and their last good version lives in the store.

use crate::common::*;
use crate::daemon_support::*;
use btw::jobs::JobState;
use btw::store::Store;
use serde_json::json;
use std::path::Path;

fn save(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

#[tokio::test]
async fn a_header_change_replaces_the_job_and_deleting_the_recipe_cancels_it() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let (data, recipes, db) = (
        root.path().join("data"),
        root.path().join("recipes"),
        root.path().join("jobs.db"),
    );
    std::fs::create_dir_all(&recipes).unwrap();
    let args = [
        "--recipes",
        recipes.to_str().unwrap(),
        "--store",
        db.to_str().unwrap(),
    ];
    let d = serve(&url, &data, &args);
    d.wait_log("serving", 1).await;
    save(
        &recipes,
        "daily.rhai",
        "//! trigger: cron \"0 10 * * *\"\n1\n",
    );
    d.wait_log("daily.rhai: scheduled job", 1).await;
    save(
        &recipes,
        "daily.rhai",
        "//! trigger: cron \"0 11 * * *\"\n1\n",
    );
    d.wait_log("daily.rhai: scheduled job", 2).await;
    let store = Store::open(&db).unwrap();
    let live = store.job_list(&[JobState::Scheduled]).unwrap();
    assert_eq!(live.len(), 1, "one schedule, not both: {live:#?}");
    assert_eq!(live[0].cron.as_deref(), Some("0 11 * * *"));
    let all = store.job_list(&[]).unwrap();
    let old = all
        .iter()
        .find(|j| j.cron.as_deref() == Some("0 10 * * *"))
        .unwrap();
    assert_eq!(old.state, JobState::Cancelled);
    assert!(
        old.last_outcome
            .as_deref()
            .unwrap()
            .contains("header changed"),
        "{old:#?}"
    );

    // Saved again with a new body and its own catch-up window: the job runs the new version,
    // with that window.
    save(
        &recipes,
        "daily.rhai",
        "//! trigger: cron \"0 11 * * *\"\n//! catch-up: 2h\n2\n",
    );
    d.wait_log("now runs this version", 1).await;
    let job = store.job_get(&live[0].id).unwrap().unwrap();
    assert_eq!(job.catch_up_secs, Some(7200), "{job:#?}");

    std::fs::remove_file(recipes.join("daily.rhai")).unwrap();
    wait_for("the recipe's job to be cancelled", 20, || {
        store.job_list(&[JobState::Scheduled]).unwrap().is_empty()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let o = output(btw(&url, &data).args([
        "schedule",
        "list",
        "--all",
        "--store",
        db.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("daily.rhai was deleted or renamed"),
        "{}",
        o.stdout
    );
    // Put back as it was: its job lives again, the same job at its next time.
    let gone_id = live[0].id.clone();
    save(
        &recipes,
        "daily.rhai",
        "//! trigger: cron \"0 11 * * *\"\n//! catch-up: 2h\n2\n",
    );
    wait_for("the recipe's job to be scheduled again", 20, || {
        store.job_get(&gone_id).unwrap().unwrap().state == JobState::Scheduled
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    // A header edit undone: the first schedule's job comes back, the edit's is cancelled.
    save(
        &recipes,
        "daily.rhai",
        "//! trigger: cron \"0 12 * * *\"\n2\n",
    );
    d.wait_log("daily.rhai: scheduled job", 3).await;
    save(
        &recipes,
        "daily.rhai",
        "//! trigger: cron \"0 11 * * *\"\n//! catch-up: 2h\n2\n",
    );
    wait_for("the undone edit's job to be back", 20, || {
        let live = store.job_list(&[JobState::Scheduled]).unwrap();
        live.len() == 1 && live[0].id == gone_id
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    std::fs::remove_file(recipes.join("daily.rhai")).unwrap();
    wait_for("the recipe's job to be cancelled again", 20, || {
        store.job_list(&[JobState::Scheduled]).unwrap().is_empty()
    })
    .await
    .unwrap();
    d.stop().await;

    // Removed while the daemon was stopped: cancelled when it starts.
    save(
        &recipes,
        "weekly.rhai",
        "//! trigger: cron \"0 9 * * 1\"\n1\n",
    );
    let d = serve(&url, &data, &args);
    d.wait_log("weekly.rhai: scheduled job", 1).await;
    d.stop().await;
    std::fs::remove_file(recipes.join("weekly.rhai")).unwrap();
    let d = serve(&url, &data, &args);
    d.wait_log("weekly.rhai: job", 1).await;
    assert!(store.job_list(&[JobState::Scheduled]).unwrap().is_empty());
    d.stop().await;
}

#[tokio::test]
async fn after_a_restart_with_a_broken_or_emptied_file_the_last_good_version_serves() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let recipes = data.join("recipes");
    let good = "//! name: greet\n//! trigger: manual\n#{greeting: `hello ${params.who}`}\n";
    // `btw serve` with no flags: the recipes folder is made in the data folder.
    let d = serve(&url, &data, &[]);
    d.wait_log("serving", 1).await;
    assert!(recipes.join("inbox").is_dir());
    save(&recipes, "greet.rhai", good);
    d.wait_log("greet.rhai: loaded", 1).await;
    d.stop().await;

    save(&recipes, "greet.rhai", &good.replace('}', ""));
    let d = serve(&url, &data, &[]);
    d.wait_log(
        "greet.rhai: broken edit; the previous version stays active",
        1,
    )
    .await;
    d.wait_log("keeps serving", 1).await;
    std::fs::write(
        recipes.join("inbox/one.json"),
        json!({"recipe": "greet.rhai", "params": {"who": "ops"}}).to_string(),
    )
    .unwrap();
    wait_for("a report", 30, || !reports(&recipes).is_empty())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let r = reports(&recipes);
    assert_eq!(r[0]["outcome"], "ok", "{:#}", r[0]);
    assert_eq!(r[0]["result"]["greeting"], "hello ops");

    // An emptied file is a broken edit too, not a new (empty) version.
    save(&recipes, "greet.rhai", "  \n");
    d.wait_log("the file is empty", 1).await;
    std::fs::write(
        recipes.join("inbox/two.json"),
        json!({"recipe": "greet.rhai", "params": {"who": "again"}}).to_string(),
    )
    .unwrap();
    wait_for("a second report", 30, || reports(&recipes).len() >= 2)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert_eq!(reports(&recipes)[1]["result"]["greeting"], "hello again");
    d.stop().await;
}

/// A recipe that is a link to a file outside the folder is refused, in the log and never run:
/// saves of its target are not watched, so it would go stale. A link inside the folder is
/// followed.
#[tokio::test]
async fn a_link_leaving_the_folder_is_refused_and_one_inside_it_followed() {
    let sb = sandbox().await;
    let url = sb.base_url();
    let f = Folder::new();
    let outside = f.data.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(
        outside.join("drop.rhai"),
        "//! trigger: on-drop\n#{ran: \"outside\"}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.join("drop.rhai"), f.recipes.join("linked.rhai")).unwrap();
    std::fs::create_dir_all(f.recipes.join("lib")).unwrap();
    std::fs::write(
        f.recipes.join("lib/inner.rhai"),
        "//! trigger: on-drop\n#{ran: \"inside\"}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        f.recipes.join("lib/inner.rhai"),
        f.recipes.join("inner.rhai"),
    )
    .unwrap();
    let d = serve(&url, &f.data, &as_strs(&f.args(&[])));
    d.wait_log("outside the recipes folder: refused", 1).await;
    d.wait_log("inner.rhai: loaded", 1).await;
    wait_for("the inside link's run", 30, || {
        reports(&f.recipes)
            .iter()
            .any(|r| r["result"]["ran"] == "inside")
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let log = d.stop().await;
    assert!(
        !reports(&f.recipes)
            .iter()
            .any(|r| r["result"]["ran"] == "outside"),
        "the outside link ran: {log}"
    );
    assert!(!log.contains("linked.rhai: loaded"), "{log}");
}
