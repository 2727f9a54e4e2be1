//! Jobs that belong to their recipes: a recipe's `at`/`cron` header makes one job, pinned to the
//! version that loaded; a new good version re-pins it, a header change replaces it, and the
//! file's removal (even while the daemon was stopped) cancels it, with the reason on the job.

use super::{file_name, Daemon};
use crate::recipe::{Header, Trigger};
use crate::runner;
use crate::schedule::{self, JobOptions};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::path::Path;

impl Daemon {
    /// Adds the job a recipe's `at`/`cron` header asks for, once: the job id is made from the
    /// recipe and its trigger, so reloading the same recipe never schedules it twice. Jobs the
    /// recipe's earlier headers made are cancelled; the current one is re-pinned to `source`.
    pub(super) fn schedule_header(
        &self,
        path: &Path,
        header: &Header,
        source: &str,
        now: DateTime<Utc>,
    ) {
        let name = file_name(path);
        // The key is part of the job id: its format must not change, or a reloaded recipe
        // would be scheduled a second time under a new id.
        let key = match &header.trigger {
            Trigger::At(when) => format!("at:{}", when.to_rfc3339()),
            Trigger::Cron { expr, tz } => format!("cron:{expr}:{}", tz.name()),
            _ => return,
        };
        let id = format!(
            "recipe-{}",
            &runner::script_hash(&format!("{}|{key}", path.display()))
        );
        let reason = format!(
            "replaced: {name}'s header changed to {}",
            header.trigger.describe()
        );
        self.cancel_owned(path, Some(&id), &reason, now);
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
                match self
                    .store
                    .job_rearm(&id, next, &runner::script_hash(source), now)
                {
                    Ok(job) => tracing::info!(
                        "{name}: job {id} scheduled again for {} (its recipe came back)",
                        job.next_run_at
                            .map(crate::time::rfc3339)
                            .unwrap_or_default()
                    ),
                    Err(e) => tracing::error!("{name}: cannot bring job {id} back: {e}"),
                }
                return;
            }
            Ok(Some(job)) => {
                if job.state.is_live() && job.catch_up_secs != header.catch_up_secs {
                    if let Err(e) = self.store.job_set_catch_up(&id, header.catch_up_secs, now) {
                        tracing::error!("{name}: cannot change job {id}'s catch-up window: {e}");
                    }
                }
                let hash = runner::script_hash(source);
                if job.state.is_live() && job.recipe_hash.as_deref() != Some(hash.as_str()) {
                    match self.store.job_repin(&id, &hash, now) {
                        Ok(_) => tracing::info!("{name}: job {id} now runs this version"),
                        Err(e) => tracing::error!("{name}: cannot re-pin job {id}: {e}"),
                    }
                } else {
                    tracing::info!(
                        "{name}: already scheduled as job {id} ({})",
                        job.state.as_str()
                    );
                }
                return;
            }
            Ok(None) => {}
            Err(e) => return tracing::error!("{name}: {e}"),
        }
        let opts = JobOptions {
            id: Some(id),
            catch_up_secs: header.catch_up_secs,
            source: Some(source.to_string()),
            owner_recipe: Some(path.display().to_string()),
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
            Ok(job) => tracing::info!(
                "{name}: scheduled job {} for {}",
                job.id,
                job.next_run_at
                    .map(crate::time::rfc3339)
                    .unwrap_or_default()
            ),
            Err(e) => tracing::error!("{name}: cannot schedule: {e}"),
        }
    }

    /// Cancels the live jobs the recipe's header made, but `keep`.
    pub(super) fn cancel_owned(
        &self,
        path: &Path,
        keep: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) {
        let name = file_name(path);
        let owned = match self.store.jobs_owned_by(&path.display().to_string()) {
            Ok(o) => o,
            Err(e) => return tracing::error!("{name}: {e}"),
        };
        for job in owned.iter().filter(|j| Some(j.id.as_str()) != keep) {
            match self.store.job_cancel_because(&job.id, reason, now) {
                Ok(Some(_)) => tracing::warn!("{name}: job {} cancelled: {reason}", job.id),
                Ok(None) => {}
                Err(e) => tracing::error!("{name}: cannot cancel job {}: {e}", job.id),
            }
        }
    }

    /// Jobs made by headers of recipes in this folder that are gone (removed while the daemon
    /// was stopped) are cancelled.
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
                self.cancel_owned(
                    path,
                    None,
                    &format!("its recipe {} was deleted or renamed", file_name(path)),
                    now,
                );
            }
        }
    }
}
