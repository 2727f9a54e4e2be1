//! One execution per run id: a lease row (owner, expiry) taken before a run starts, renewed
//! while it runs, released when it ends.
//!
//! A row rather than a file lock, so it holds across machines once the store is shared
//! (PostgreSQL): whoever holds an unexpired lease owns the run id; others are refused.

use super::exec::{args, decode, Arg, DbErr, Exec};
use super::model::{new_lease_owner, owner_is_gone, LeaseHolder};
use super::rows::Cols;
use super::{Store, StoreError};
use std::time::Duration;

/// What a run's writes carry to prove it still holds its lease: the lease's run id (a
/// `batch::run` item writes under its parent's) and the owner that took it. Each fenced write
/// checks it inside the same statement, so a process that stalled past its lease, and was
/// taken over, writes nothing more for the run: no ledger record, no end, no report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub run_id: String,
    pub owner: String,
}

/// What a fenced write says when the lease is gone: another process runs the run now.
pub const LEASE_LOST: &str =
    "the run's lease is no longer this process's: another process took the run over";

impl StoreError {
    /// Whether a fenced write was refused because the run's lease is gone (rather than the
    /// store failing): the run must stop, and nothing more be written for it.
    pub fn is_lease_lost(&self) -> bool {
        self.detail.contains(LEASE_LOST)
    }
}

/// The condition a fenced statement adds, with the fence's run id and owner as `$a` and `$b`
/// (no fence: `$b` is NULL and the condition holds). PostgreSQL's `FOR SHARE` keeps the lease
/// row as it is until the write commits, so a takeover is ordered before or after the write,
/// never across it; SQLite has one writer at a time.
macro_rules! fence_sql {
    ($a:literal, $b:literal) => {
        concat!(
            "(CAST(",
            $b,
            " AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM run_leases WHERE run_id = ",
            $a,
            " AND owner = ",
            $b,
            " {for_share}))"
        )
    };
}
pub(crate) use fence_sql;

/// A fence's run id and owner as two statement arguments (NULL, NULL without one).
pub(crate) fn fence_args(fence: Option<&Fence>) -> [Arg<'static>; 2] {
    match fence {
        Some(f) => [f.run_id.clone().into(), f.owner.clone().into()],
        None => [Arg::Text(None), Arg::Text(None)],
    }
}

fn lease_expiry(ttl: Duration) -> String {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
    crate::time::rfc3339_millis(chrono::Utc::now() + ttl)
}

impl Store {
    /// Takes the lease of `run_id` for `ttl`: `Ok(None)` when taken, `Ok(Some(holder))` when
    /// someone else holds it. An expired lease, or one of a process gone from this host, is taken over.
    pub fn lease_acquire(
        &self,
        run_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseHolder>, StoreError> {
        self.with(|x| acquire(x, run_id, owner, ttl))
    }

    /// Extends a lease this owner holds; `false` when it is no longer this owner's.
    pub fn lease_renew(
        &self,
        run_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.with(|x| {
            x.execute(
                "UPDATE run_leases SET expires_at = $3 WHERE run_id = $1 AND owner = $2",
                args![run_id, owner, lease_expiry(ttl)],
            )
        })
        .map(|n| n == 1)
    }

    /// Whether `fence` still holds its lease (to say why a fenced write changed nothing).
    pub fn lease_holds(&self, fence: &Fence) -> Result<bool, StoreError> {
        self.with(|x| {
            x.count(
                "SELECT COUNT(*) FROM run_leases WHERE run_id = $1 AND owner = $2",
                args![&fence.run_id, &fence.owner],
            )
        })
        .map(|n| n == 1)
    }

    /// The error of a fenced write that changed nothing: the lease is gone, or `otherwise`.
    pub(crate) fn fenced_miss(&self, fence: Option<&Fence>, otherwise: String) -> StoreError {
        match fence.map(|f| self.lease_holds(f)) {
            Some(Ok(false)) => self.error(LEASE_LOST),
            Some(Err(e)) => e,
            _ => self.error(otherwise),
        }
    }

    /// Gives a lease up (only this owner's).
    pub fn lease_release(&self, run_id: &str, owner: &str) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "DELETE FROM run_leases WHERE run_id = $1 AND owner = $2",
                args![run_id, owner],
            )
        })
        .map(|_| ())
    }
}

/// Why a run could not take its lease: who holds it.
fn refusal(run_id: &str, h: &LeaseHolder) -> String {
    format!(
        "run {run_id} is already running ({}, lease until {}): one execution per run id; wait for it to end",
        h.owner, h.until
    )
}

/// Takes the lease of `run_id` on `x` ([`Store::lease_acquire`]): `Some(holder)` when
/// someone else holds it.
pub(super) fn acquire(
    x: &mut dyn Exec,
    run_id: &str,
    owner: &str,
    ttl: Duration,
) -> Result<Option<LeaseHolder>, DbErr> {
    let now = super::now_rfc3339();
    let held = x
        .query_opt(
            "SELECT owner, expires_at FROM run_leases WHERE run_id = $1",
            args![run_id],
        )?
        .map(|r| {
            Ok::<_, String>(LeaseHolder {
                owner: r.req_text(0)?,
                until: r.req_text(1)?,
            })
        })
        .transpose()
        .map_err(decode)?;
    let taken_over = held.as_ref().map(|h| h.owner.clone());
    if let Some(h) = held {
        if h.owner != owner && h.until > now && !owner_is_gone(&h.owner) {
            return Ok(Some(h));
        }
    }
    // Conditional on the row seen above: of two takers racing, one changes it.
    let changed = x.execute(
        "INSERT INTO run_leases (run_id, owner, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner,
           expires_at = excluded.expires_at
         WHERE run_leases.owner IS NOT DISTINCT FROM $4",
        args![run_id, owner, lease_expiry(ttl), taken_over],
    )?;
    Ok((changed != 1).then(|| LeaseHolder {
        owner: "another process".into(),
        until: now.clone(),
    }))
}

/// How long a lease lasts without renewal by default: a process that stops renewing (killed
/// elsewhere, frozen) gives its run id up after this.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

static TTL_MS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(LEASE_TTL.as_millis() as u64);

/// How long this process's run leases last without renewal ([`LEASE_TTL`] unless set).
pub fn lease_ttl() -> Duration {
    Duration::from_millis(TTL_MS.load(std::sync::atomic::Ordering::Relaxed))
}

/// Sets how long this process's run leases last (`btw serve --run-lease`).
pub fn set_lease_ttl(ttl: Duration) {
    let ms = ttl.as_millis().clamp(1_000, u64::MAX as u128) as u64;
    TTL_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

/// A lease this process holds, renewed in the background until [`HeldLease::release`].
pub struct HeldLease {
    store: Store,
    run_id: String,
    owner: String,
    renewer: tokio::task::JoinHandle<()>,
    /// Set once the run's end is being recorded: that record gives the lease up, so the renewer
    /// then finding it gone is no takeover (and a real one refuses the end record itself).
    ending: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HeldLease {
    /// Takes `run_id`'s lease, or says who holds it. `on_lost` runs if another owner takes it
    /// over while the run goes on (this process stalled past the expiry): the run must stop.
    pub async fn take(
        store: &Store,
        run_id: &str,
        on_lost: impl FnOnce() + Send + 'static,
    ) -> Result<HeldLease, String> {
        let owner = new_lease_owner();
        let (s, id, o) = (store.clone(), run_id.to_string(), owner.clone());
        let taken = tokio::task::spawn_blocking(move || s.lease_acquire(&id, &o, lease_ttl()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if let Some(h) = taken {
            return Err(refusal(run_id, &h));
        }
        Ok(HeldLease::hold(
            store,
            &tokio::runtime::Handle::current(),
            run_id,
            owner,
            on_lost,
        ))
    }

    /// Takes `run_id`'s lease and records the run's start in the same transaction (one commit
    /// where there were two): `Ok(Err(message))` when another process holds it. Synchronous:
    /// call it off the async workers; the renewer runs on `handle`.
    pub fn begin_run(
        store: &Store,
        handle: &tokio::runtime::Handle,
        run_id: &str,
        start: &super::RunStart<'_>,
        on_lost: impl FnOnce() + Send + 'static,
    ) -> Result<Result<HeldLease, String>, StoreError> {
        let owner = new_lease_owner();
        Ok(match store.run_begin(run_id, &owner, lease_ttl(), start)? {
            Some(h) => Err(refusal(run_id, &h)),
            None => Ok(HeldLease::hold(store, handle, run_id, owner, on_lost)),
        })
    }

    /// The lease `owner` has just taken, renewed on `handle` from now on.
    fn hold(
        store: &Store,
        handle: &tokio::runtime::Handle,
        run_id: &str,
        owner: String,
        on_lost: impl FnOnce() + Send + 'static,
    ) -> HeldLease {
        let (s, id, o) = (store.clone(), run_id.to_string(), owner.clone());
        let ending = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let end = ending.clone();
        let renewer = handle.spawn(async move {
            let ttl = lease_ttl();
            let mut tick = tokio::time::interval(ttl / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                let (s2, id2, o2) = (s.clone(), id.clone(), o.clone());
                let kept =
                    tokio::task::spawn_blocking(move || s2.lease_renew(&id2, &o2, ttl)).await;
                match kept {
                    Ok(Ok(false)) if end.load(std::sync::atomic::Ordering::SeqCst) => return,
                    Ok(Ok(false)) => {
                        tracing::error!("run {id}: lost its lease to another process; stopping it, and leaving its records to that process");
                        on_lost();
                        return;
                    }
                    Ok(Err(e)) => tracing::warn!("run {id}: cannot renew its lease: {e}"),
                    _ => {}
                }
            }
        });
        HeldLease {
            store: store.clone(),
            run_id: run_id.to_string(),
            owner,
            renewer,
            ending,
        }
    }

    /// Says the run's end is being recorded (in a write that gives the lease up).
    pub fn ending(&self) {
        self.ending.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// What the run's writes carry to prove this lease is still theirs.
    pub fn fence(&self) -> Fence {
        Fence {
            run_id: self.run_id.clone(),
            owner: self.owner.clone(),
        }
    }

    /// Stops renewing and gives the lease up.
    pub async fn release(self) {
        self.renewer.abort();
        let (store, run_id, owner) = (self.store.clone(), self.run_id.clone(), self.owner.clone());
        let released =
            tokio::task::spawn_blocking(move || store.lease_release(&run_id, &owner)).await;
        if let Ok(Err(e)) = released {
            tracing::warn!("cannot release a run lease: {e}");
        }
    }

    /// Stops renewing without giving the lease up: the run's end record gave it up in the same
    /// transaction, or it is another process's now.
    pub fn forget(self) {
        self.renewer.abort();
    }
}

impl Drop for HeldLease {
    /// A lease dropped on any path stops being renewed, so it lapses rather than outlives its run.
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::exec::args;
    use crate::store::postgres::testing::each_backend;

    #[test]
    fn one_owner_at_a_time_until_expiry_or_release() {
        each_backend(|s| {
            let ttl = Duration::from_secs(30);
            assert_eq!(s.lease_acquire("r1", "h:1:a", ttl).unwrap(), None);
            let held = s.lease_acquire("r1", "h:1:b", ttl).unwrap().unwrap();
            assert_eq!(held.owner, "h:1:a");
            assert!(s.lease_renew("r1", "h:1:a", ttl).unwrap());
            assert!(!s.lease_renew("r1", "h:1:b", ttl).unwrap());
            s.lease_release("r1", "h:1:b").unwrap();
            assert!(s.lease_acquire("r1", "h:1:b", ttl).unwrap().is_some());
            s.lease_release("r1", "h:1:a").unwrap();
            assert_eq!(s.lease_acquire("r1", "h:1:b", ttl).unwrap(), None);
            // Expired: taken over.
            assert_eq!(
                s.lease_acquire("r2", "h:1:a", Duration::ZERO).unwrap(),
                None
            );
            assert_eq!(s.lease_acquire("r2", "h:1:b", ttl).unwrap(), None);
            assert!(!s.lease_renew("r2", "h:1:a", ttl).unwrap());
        });
    }

    #[test]
    fn a_lease_of_a_process_gone_from_this_host_is_taken_over() {
        if !std::path::Path::new("/proc/self").exists() {
            return;
        }
        let s = Store::in_memory();
        let ttl = Duration::from_secs(30);
        let host = new_lease_owner().split(':').next().unwrap().to_string();
        // Beyond any pid the kernel hands out (pid_max is at most 2^22).
        let dead = format!("{host}:{}:x", 1u32 << 30);
        assert_eq!(s.lease_acquire("r", &dead, ttl).unwrap(), None);
        assert_eq!(s.lease_acquire("r", &new_lease_owner(), ttl).unwrap(), None);
    }

    fn fence(run_id: &str, owner: &str) -> Fence {
        Fence {
            run_id: run_id.into(),
            owner: owner.into(),
        }
    }

    #[test]
    fn a_run_taken_over_writes_nothing_more_to_the_ledger_or_its_end() {
        use crate::api::Operation;
        use crate::store::StepState;
        use serde_json::json;
        each_backend(|s| {
            let ttl = Duration::from_secs(30);
            let (a, b) = (fence("r1", "h:1:a"), fence("r1", "h:1:b"));
            assert_eq!(s.lease_acquire("r1", &a.owner, ttl).unwrap(), None);
            s.run_started("r1", "/r/x.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.ledger_begin("r1", 1, Operation::OrderSubmit, &json!(1), Some(&a))
                .unwrap();
            s.ledger_finish("r1", 1, StepState::Done, &json!("ok"), Some(&a))
                .unwrap();
            s.ledger_record_done("r1", 2, Operation::OrderGet, &json!(2), &json!(2), Some(&a))
                .unwrap();
            // `a` stalls past its lease; `b` takes the run over.
            s.with(|x| {
                x.execute(
                    "UPDATE run_leases SET expires_at = '2000-01-01T00:00:00.000Z'",
                    args![],
                )
            })
            .unwrap();
            assert_eq!(s.lease_acquire("r1", &b.owner, ttl).unwrap(), None);
            let lost = |r: Result<(), StoreError>| assert!(r.unwrap_err().is_lease_lost());
            lost(s.ledger_begin("r1", 3, Operation::OrderSubmit, &json!(3), Some(&a)));
            lost(s.ledger_finish("r1", 1, StepState::Failed, &json!("x"), Some(&a)));
            lost(s.ledger_record_done(
                "r1",
                4,
                Operation::OrderGet,
                &json!(4),
                &json!(4),
                Some(&a),
            ));
            s.ledger_queue_done("r1", 5, Operation::OrderGet, &json!(5), &json!(5), Some(&a))
                .unwrap();
            s.flush().unwrap();
            lost(s.run_finished_fenced(&a, "cancelled", &json!({})));
            let steps: Vec<_> = s
                .ledger_steps("r1")
                .unwrap()
                .into_iter()
                .map(|e| (e.step, e.state))
                .collect();
            assert_eq!(steps, vec![(1, StepState::Done), (2, StepState::Done)]);
            assert_eq!(s.run_get("r1").unwrap().unwrap().outcome, "running");
            // The new owner writes on; a write without a fence is not checked.
            s.ledger_begin("r1", 3, Operation::OrderSubmit, &json!(3), Some(&b))
                .unwrap();
            s.ledger_begin("r9", 1, Operation::OrderSubmit, &json!(1), None)
                .unwrap();
            s.run_finished_fenced(&b, "ok", &json!({})).unwrap();
            assert_eq!(s.run_get("r1").unwrap().unwrap().outcome, "ok");
            // The stalled owner, waking, never marks the finished run running again.
            lost(s.run_started_under(Some(&a), "r1", "/r/x.rhai", "h", &json!({}), "sandbox"));
            assert_eq!(s.run_get("r1").unwrap().unwrap().outcome, "ok");
            s.run_started_under(Some(&b), "r2", "/r/y.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            // A missing step is still said as such, not as a lost lease.
            let e = s
                .ledger_finish("r1", 7, StepState::Done, &json!(1), Some(&b))
                .unwrap_err();
            assert!(!e.is_lease_lost(), "{e}");
        });
    }

    #[test]
    fn a_daemon_runs_end_is_fenced_and_an_ended_run_is_not_begun_again() {
        use serde_json::json;
        each_backend(|s| {
            let ttl = Duration::from_secs(30);
            let (a, b) = (fence("r1", "h:1:a"), fence("r1", "h:1:b"));
            assert_eq!(s.lease_acquire("r1", &a.owner, ttl).unwrap(), None);
            let begin = |f: &Fence| s.daemon_run_begin(f, "/r/x.rhai", &json!({}), "inbox:j", "d1");
            assert_eq!(begin(&a).unwrap(), Some(1));
            s.run_started("r1", "/r/x.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            // Another owner without the lease can neither begin nor end it.
            assert!(begin(&b).unwrap_err().is_lease_lost());
            assert!(s
                .daemon_run_ended(&b, false, "cancelled", &json!({}))
                .unwrap_err()
                .is_lease_lost());
            assert_eq!(s.daemon_unfinished().unwrap().len(), 1);
            s.daemon_run_ended(&a, false, "ok", &json!({"ok": true}))
                .unwrap();
            assert!(s.daemon_unfinished().unwrap().is_empty());
            assert_eq!(s.run_get("r1").unwrap().unwrap().outcome, "ok");
            // The end gave the lease up: the next taker finds the run ended.
            assert_eq!(s.lease_acquire("r1", &b.owner, ttl).unwrap(), None);
            assert_eq!(begin(&b).unwrap(), None);
            assert_eq!(s.run_get("r1").unwrap().unwrap().outcome, "ok");
        });
    }
}
