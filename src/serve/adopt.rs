//! Runs a dead daemon left behind. Several daemons may share one store: a trigger run queued
//! or started by a daemon that was killed is resumed by a live one, once (the store's owner
//! column changes hands for one taker only), under its run id, so its ledger replays what it had
//! done and no BT call is sent twice. A daemon restarted on the same folder takes back its own
//! inbox and on-drop runs the same way; those stay with their folder, as its inbox does.
//!
//! A daemon is dead when its heartbeat is missing or older than [`STALE_AFTER`], or, on this
//! machine, when its process is gone (seen at once, without waiting for the heartbeat to age).

use super::{alert_triggers, blocking, Daemon, BEAT_EVERY};
use crate::store::{owner_is_gone, Heartbeat, UnfinishedRun};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A daemon silent this long is taken for dead: three beats missed.
pub(super) const STALE_AFTER: Duration = Duration::from_secs(3 * BEAT_EVERY.as_secs());
/// How often an adopted run whose lease another process still holds is tried again.
const HELD_RETRY: Duration = Duration::from_secs(1);
/// How often the store is looked at for runs of dead daemons.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Looks for runs of dead daemons every [`LOOK_EVERY`] until `stop`.
pub(super) fn start(daemon: Arc<Daemon>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
            daemon.adopt_orphans().await;
        }
    })
}

/// The owners alive now, from their heartbeats.
pub(super) fn live_owners(beats: Vec<Heartbeat>) -> HashSet<String> {
    let now = chrono::Utc::now();
    beats
        .into_iter()
        .filter(|h| (now - h.beat_at).to_std().unwrap_or_default() < STALE_AFTER)
        .filter(|h| !owner_is_gone(&h.owner))
        .map(|h| h.owner)
        .collect()
}

impl Daemon {
    /// Takes over and resumes the unfinished runs whose daemon is dead (a previous run of this
    /// one included). Scheduled jobs are not among them: they resume through their job's lease.
    pub(super) async fn adopt_orphans(self: &Arc<Self>) {
        let store = self.store.clone();
        let found = blocking(move || {
            Ok::<_, crate::store::StoreError>((store.daemon_unfinished()?, store.heartbeats()?))
        })
        .await;
        let (left, beats) = match found {
            Some(Ok(found)) => found,
            Some(Err(e)) => return tracing::error!("cannot read unfinished runs: {e}"),
            None => return tracing::error!("cannot read unfinished runs: the task failed"),
        };
        let live = live_owners(beats);
        for run in left {
            let orphan = !run.origin.starts_with("schedule:")
                && run.owner.as_deref() != Some(self.owner.as_str())
                && !run.owner.as_ref().is_some_and(|o| live.contains(o));
            if orphan && self.may_adopt(&run) {
                self.adopt(run).await;
            }
        }
    }

    /// Trigger and alert runs go to any daemon; inbox and on-drop runs only to their folder's.
    fn may_adopt(&self, run: &UnfinishedRun) -> bool {
        run.origin.starts_with("event:")
            || alert_triggers::started_by_alert(&run.origin)
            || Path::new(&run.recipe).starts_with(&self.dir)
    }

    async fn adopt(self: &Arc<Self>, run: UnfinishedRun) {
        let (store, id, from, to) = (
            self.store.clone(),
            run.run_id.clone(),
            run.owner.clone(),
            self.owner.clone(),
        );
        match blocking(move || store.daemon_run_adopt(&id, from.as_deref(), &to)).await {
            Some(Ok(true)) => {}
            // Another daemon took it first, or it ended meanwhile.
            Some(Ok(false)) => return,
            Some(Err(e)) => return tracing::error!("cannot take over run {}: {e}", run.run_id),
            None => return,
        }
        let recipe = self.local_recipe(&run.recipe);
        tracing::warn!(
            "resuming run {} of {} ({}), left by {}",
            run.run_id,
            recipe.display(),
            run.origin,
            if run.owner.is_some() {
                "a daemon that stopped"
            } else {
                "an earlier daemon"
            }
        );
        let params = run.params.as_object().cloned().unwrap_or_default();
        let me = self.clone();
        // A stalled owner may still hold the run's lease: wait for it to wake and finish the run
        // (found ended: not run again), or to die and its lease to lapse (resumed here), so the
        // run is never left owned by this daemon and not retried. The wait holds no run slot.
        tokio::spawn(async move {
            loop {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let (d, recipe, params, run) =
                    (me.clone(), recipe.clone(), params.clone(), run.clone());
                me.runs.spawn(move |slot| async move {
                    let outcome = d
                        .run_recipe(
                            &recipe,
                            params,
                            &run.origin,
                            Some(run.run_id.clone()),
                            true,
                            super::reports::JobFixed {
                                slot: Some(slot),
                                ..super::reports::JobFixed::default()
                            },
                        )
                        .await;
                    let _ = tx.send(super::reports::held_elsewhere(&outcome));
                });
                if !rx.await.unwrap_or(false) || me.base.cancel.is_cancelled() {
                    break;
                }
                tokio::select! {
                    _ = me.base.cancel.cancelled() => break,
                    _ = tokio::time::sleep(HELD_RETRY) => {}
                }
            }
        });
    }

    /// A run of another daemon's folder runs this folder's recipe of the same name when this
    /// daemon has one (the daemons of one store run the same recipes, on other machines too);
    /// else the path as recorded.
    fn local_recipe(&self, recorded: &str) -> PathBuf {
        let path = PathBuf::from(recorded);
        if path.starts_with(&self.dir) {
            return path;
        }
        let mine = path.file_name().map(|n| self.dir.join(n));
        let loaded = self.recipes.lock().unwrap_or_else(|p| p.into_inner());
        match mine {
            Some(m) if loaded.contains_key(&m) => m,
            _ => path,
        }
    }
}
