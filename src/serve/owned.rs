//! Jobs that belong to their recipes: a recipe's `at`/`cron` header makes one job, keyed by the
//! recipe's name in its folder and its trigger (never by where the folder is), pinned to the
//! version that loaded; a new good version re-pins it, a header change replaces it, and the
//! file's removal (even while the daemon was stopped) cancels it, with the reason on the job.
//!
//! Several daemons may serve the same recipes from different paths on one store: they share the
//! one job. A delete cancels it only when no live daemon still has the recipe, and a version
//! saved before the one the job runs never re-pins it (another daemon's older copy).

use super::{adopt, file_name, Daemon};
use crate::recipe::{Header, Trigger};
use crate::runner;
use crate::schedule::{self, JobOptions};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::path::Path;

/// The part of a recipe job's id its trigger makes (`None`: the trigger schedules nothing).
pub(super) fn trigger_key(trigger: &Trigger) -> Option<String> {
    // Part of the job id: its format must not change, or a reloaded recipe would be scheduled
    // a second time under a new id.
    match trigger {
        Trigger::At(when) => Some(format!("at:{}", when.to_rfc3339())),
        Trigger::Cron { expr, tz } => Some(format!("cron:{expr}:{}", tz.name())),
        _ => None,
    }
}

impl Daemon {
    /// Adds the job a recipe's `at`/`cron` header asks for, once: the job id is made from the
    /// recipe's name and its trigger, so reloading the same recipe never schedules it twice.
    /// Jobs the recipe's earlier headers made are cancelled; the current one lives (again, if it
    /// was cancelled) and is re-pinned to `source`, saved at `saved`, unless it already runs a
    /// version saved later.
    pub(super) fn schedule_header(
        &self,
        path: &Path,
        header: &Header,
        source: &str,
        saved: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let name = file_name(path);
        let Some(key) = trigger_key(&header.trigger) else {
            return;
        };
        let id = crate::store::recipe_job_id(&name, &key);
        let reason = format!(
            "replaced: {name}'s header changed to {}",
            header.trigger.describe()
        );
        self.cancel_owned(path, Some(&id), &reason, now);
        let hash = runner::script_hash(source);
        let me = path.display().to_string();
        match self.store.job_get(&id) {
            // Cancelled when the recipe went away (or its header changed) and now back as it
            // was: the job lives again, at its next time. An `at` already past stays as it is.
            Ok(Some(job)) if job.state == crate::jobs::JobState::Cancelled => {
                let next = match &header.trigger {
                    Trigger::At(when) => (*when > now).then_some(*when),
                    Trigger::Cron { expr, tz } => schedule::CronSchedule::parse(expr, tz.name())
                        .and_then(|c| c.first_after(now))
                        .ok(),
                    _ => None,
                };
                let Some(next) = next else {
                    return tracing::info!("{name}: job {id} stays cancelled: its time has passed");
                };
                let _ = self.store.recipe_version_put(&me, source);
                match self.store.job_rearm(&id, next, &hash, now) {
                    Ok(job) => tracing::info!(
                        "{name}: job {id} scheduled again for {} (its recipe came back)",
                        job.next_run_at
                            .map(crate::time::rfc3339)
                            .unwrap_or_default()
                    ),
                    Err(e) => return tracing::error!("{name}: cannot bring job {id} back: {e}"),
                }
                self.pin(&name, &id, &hash, &me, saved, now);
                return;
            }
            Ok(Some(job)) => {
                if job.state.is_live() && job.catch_up_secs != header.catch_up_secs {
                    if let Err(e) = self.store.job_set_catch_up(&id, header.catch_up_secs, now) {
                        tracing::error!("{name}: cannot change job {id}'s catch-up window: {e}");
                    }
                }
                if !job.state.is_live() {
                    return tracing::info!(
                        "{name}: already scheduled as job {id} ({})",
                        job.state.as_str()
                    );
                }
                if job.recipe_hash.as_deref() == Some(hash.as_str()) {
                    // Same version: only who has it changes (a copy at another path).
                    return tracing::info!("{name}: already scheduled as job {id}");
                }
                if let Ok(Some((Some(from), Some(pinned_saved)))) = self.store.job_pin(&id) {
                    if from != me && pinned_saved > saved {
                        return tracing::warn!(
                            "{name}: job {id} keeps the version saved at {} in {from}: this copy was saved earlier ({})",
                            crate::time::rfc3339(pinned_saved),
                            crate::time::rfc3339(saved)
                        );
                    }
                }
                let _ = self.store.recipe_version_put(&me, source);
                match self.store.job_repin(&id, &hash, now) {
                    Ok(_) => tracing::info!("{name}: job {id} now runs this version"),
                    Err(e) => return tracing::error!("{name}: cannot re-pin job {id}: {e}"),
                }
                self.pin(&name, &id, &hash, &me, saved, now);
                return;
            }
            Ok(None) => {}
            Err(e) => return tracing::error!("{name}: {e}"),
        }
        let opts = JobOptions {
            id: Some(id.clone()),
            catch_up_secs: header.catch_up_secs,
            source: Some(source.to_string()),
            owner_recipe: Some(me.clone()),
            ..Default::default()
        };
        let added = match &header.trigger {
            Trigger::At(when) => schedule::add_at(&self.store, *when, path, json!({}), &opts, now),
            Trigger::Cron { expr, tz } => {
                let opts = JobOptions {
                    tz: Some(tz.name().to_string()),
                    ..opts
                };
                schedule::add_cron(&self.store, expr, path, json!({}), &opts, now)
            }
            _ => return,
        };
        match added {
            Ok(job) => {
                tracing::info!(
                    "{name}: scheduled job {} for {}",
                    job.id,
                    job.next_run_at
                        .map(crate::time::rfc3339)
                        .unwrap_or_default()
                );
                self.pin(&name, &id, &hash, &me, saved, now);
            }
            Err(e) => tracing::error!("{name}: cannot schedule: {e}"),
        }
    }

    /// Records which file's version, saved when, the job runs.
    fn pin(
        &self,
        name: &str,
        id: &str,
        hash: &str,
        path: &str,
        saved: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if let Err(e) = self.store.job_pin_to(id, hash, path, saved, now) {
            tracing::error!("{name}: cannot record job {id}'s version: {e}");
        }
    }

    /// Cancels the live jobs the header of the recipe named as `path` is made (in this folder or
    /// a peer's), but `keep`.
    pub(super) fn cancel_owned(
        &self,
        path: &Path,
        keep: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) {
        let name = file_name(path);
        let owned = match self.store.jobs_owned() {
            Ok(o) => o,
            Err(e) => return tracing::error!("{name}: {e}"),
        };
        let mine = owned.iter().filter(|j| {
            Some(j.id.as_str()) != keep
                && j.owner_recipe.as_deref().map(|o| file_name(Path::new(o))) == Some(name.clone())
        });
        for job in mine {
            match self.store.job_cancel_because(&job.id, reason, now) {
                Ok(Some(_)) => tracing::warn!("{name}: job {} cancelled: {reason}", job.id),
                Ok(None) => {}
                Err(e) => tracing::error!("{name}: cannot cancel job {}: {e}", job.id),
            }
        }
    }

    /// The recipe at `path` is gone from this folder: its jobs are cancelled, unless a live
    /// daemon serving another folder on this store still has a recipe of that name.
    pub(super) fn cancel_if_nobody_has(&self, path: &Path, now: DateTime<Utc>) {
        let name = file_name(path);
        if let Some(peer) = self.peer_with(&name) {
            let live = self.store.jobs_owned().unwrap_or_default();
            if live.iter().any(|j| {
                j.owner_recipe.as_deref().map(|o| file_name(Path::new(o))) == Some(name.clone())
            }) {
                tracing::info!(
                    "{name}: its job stays: the daemon serving {peer} still has this recipe"
                );
            }
            return;
        }
        self.cancel_owned(
            path,
            None,
            &format!("its recipe {name} was deleted or renamed"),
            now,
        );
    }

    /// The folder of a live daemon (not this one) on the store that has a recipe named `name`.
    fn peer_with(&self, name: &str) -> Option<String> {
        let beats = self.store.heartbeats().ok()?;
        let own = self.dir.display().to_string();
        beats
            .into_iter()
            .filter(|h| h.owner != self.owner && h.recipes != own)
            .filter(|h| (Utc::now() - h.beat_at).to_std().unwrap_or_default() < adopt::STALE_AFTER)
            .find(|h| {
                let theirs = Path::new(&h.recipes).join(name).display().to_string();
                self.store.recipe_head(&theirs).ok().flatten().is_some()
            })
            .map(|h| h.recipes)
    }

    /// Jobs made by headers of recipes in this folder that are gone (removed while the daemon
    /// was stopped) are cancelled, unless a live peer still has the recipe.
    pub(super) fn cancel_orphans(&self, now: DateTime<Utc>) {
        let owned = match self.store.jobs_owned() {
            Ok(o) => o,
            Err(e) => return tracing::error!("cannot read the recipes' jobs: {e}"),
        };
        for job in owned {
            let Some(owner) = job.owner_recipe.as_deref() else {
                continue;
            };
            let path = Path::new(owner);
            if path.parent() == Some(self.dir.as_path()) && !path.is_file() {
                self.cancel_if_nobody_has(path, now);
            }
        }
    }
}
