//! What `btw serve` keeps in the store: which on-drop recipe contents already ran, and the runs
//! it started, so a stopped or crashed daemon resumes them instead of losing or repeating them.

use super::exec::{args, decode, DbErr, Exec};
use super::leases::{Fence, LEASE_LOST};
use super::model::UnfinishedRun;
use super::rows::Cols;
use super::{now_rfc3339, Store, StoreError};
use serde_json::Value;

impl Store {
    /// Records a run queued (not started yet) by the daemon `owner`: a restart, or another
    /// daemon once `owner` is dead, resumes it. Nothing if it is known.
    pub fn daemon_run_queued(
        &self,
        run_id: &str,
        recipe: &str,
        params: &Value,
        origin: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.with(|x| {
            queue_run(
                x,
                run_id,
                recipe,
                &params.to_string(),
                origin,
                owner,
                &now_rfc3339(),
            )
        })
    }

    /// Claims a run of a recipe for a key (an on-drop content hash, an order reaching a state, an
    /// event id): true the first time only.
    pub fn claim_drop(&self, path: &str, hash: &str, run_id: &str) -> Result<bool, StoreError> {
        self.with(|x| claim_key(x, path, hash, run_id, &now_rfc3339()))
    }

    /// Records that the daemon `owner` starts a run (again, when it is resumed); returns which
    /// attempt this is.
    pub fn daemon_run_started(
        &self,
        run_id: &str,
        recipe: &str,
        params: &Value,
        origin: &str,
        owner: &str,
    ) -> Result<u32, StoreError> {
        self.with(|x| {
            let r = x.query_one(
                "INSERT INTO daemon_runs (run_id, recipe, params, origin, state, started_at, attempts, owner)
                 VALUES ($1, $2, $3, $4, 'running', $5, 1, $6)
                 ON CONFLICT (run_id) DO UPDATE SET state = 'running', finished_at = NULL,
                   attempts = daemon_runs.attempts + 1, owner = excluded.owner
                 RETURNING attempts",
                args![run_id, recipe, params.to_string(), origin, now_rfc3339(), owner],
            )?;
            Ok(r.req_int(0).map_err(decode)?.max(1) as u32)
        })
    }

    /// Records that the daemon `owner` starts a run it holds the lease of (`fence`), in one
    /// transaction with the lease's check: the attempt, or `None` when the run already ended
    /// (a run is never run again after its end is recorded, whoever finds it unfinished).
    pub fn daemon_run_begin(
        &self,
        fence: &Fence,
        recipe: &str,
        params: &Value,
        origin: &str,
        owner: &str,
    ) -> Result<Option<u32>, StoreError> {
        let params = params.to_string();
        self.in_transaction(|x| {
            hold_lease(x, fence)?;
            let state = x.text_opt(
                "SELECT state FROM daemon_runs WHERE run_id = $1 {for_update}",
                args![&fence.run_id],
            )?;
            if state.as_deref() == Some("done") {
                return Ok(None);
            }
            let r = x.query_one(
                "INSERT INTO daemon_runs (run_id, recipe, params, origin, state, started_at, attempts, owner)
                 VALUES ($1, $2, $3, $4, 'running', $5, 1, $6)
                 ON CONFLICT (run_id) DO UPDATE SET state = 'running', finished_at = NULL,
                   attempts = daemon_runs.attempts + 1, owner = excluded.owner
                 RETURNING attempts",
                args![&fence.run_id, recipe, &params, origin, now_rfc3339(), owner],
            )?;
            Ok(Some(r.req_int(0).map_err(decode)?.max(1) as u32))
        })
    }

    /// Records the end of a daemon run whose lease `fence` holds, in one transaction with the
    /// lease's check: the run's outcome and report, the daemon's record `done` (or
    /// `interrupted`: stopped by shutdown, resumed on restart), and the lease given up. Refused
    /// ([`StoreError::is_lease_lost`]) when another process took the run over: it records the
    /// end, not this one.
    pub fn daemon_run_ended(
        &self,
        fence: &Fence,
        interrupted: bool,
        outcome: &str,
        report: &Value,
    ) -> Result<(), StoreError> {
        let state = if interrupted { "interrupted" } else { "done" };
        let (report, now) = (report.to_string(), now_rfc3339());
        self.in_transaction(|x| {
            hold_lease(x, fence)?;
            let id = &fence.run_id;
            x.execute(
                "UPDATE runs SET outcome = $2, report = $3, finished_at = $4 WHERE run_id = $1",
                args![id, outcome, &report, &now],
            )?;
            x.execute(
                "UPDATE daemon_runs SET state = $2, finished_at = $3 WHERE run_id = $1",
                args![id, state, &now],
            )?;
            x.execute(
                "DELETE FROM run_leases WHERE run_id = $1 AND owner = $2",
                args![id, &fence.owner],
            )?;
            Ok(())
        })
    }

    /// Marks a daemon run `done`, or `interrupted` (stopped by shutdown: resume it on restart).
    pub fn daemon_run_finished(&self, run_id: &str, interrupted: bool) -> Result<(), StoreError> {
        let state = if interrupted { "interrupted" } else { "done" };
        self.with(|x| {
            x.execute(
                "UPDATE daemon_runs SET state = $2, finished_at = $3 WHERE run_id = $1",
                args![run_id, state, now_rfc3339()],
            )
        })
        .map(|_| ())
    }

    /// Runs left `running` (the daemon died) or `interrupted` (it was stopped mid-run).
    pub fn daemon_unfinished(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        self.with(|x| {
            x.rows(
                "SELECT run_id, recipe, params, origin, owner FROM daemon_runs
                 WHERE state != 'done' ORDER BY started_at",
                args![],
                |r| {
                    Ok(UnfinishedRun {
                        run_id: r.req_text(0)?,
                        recipe: r.req_text(1)?,
                        params: serde_json::from_str(&r.req_text(2)?).unwrap_or(Value::Null),
                        origin: r.req_text(3)?,
                        owner: r.text(4)?,
                    })
                },
            )
        })
    }

    /// Takes an unfinished run over from `from` (a dead daemon; `None`: no owner recorded) for
    /// `to`: true for one taker only, whoever else tries at the same moment.
    pub fn daemon_run_adopt(
        &self,
        run_id: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<bool, StoreError> {
        self.with(|x| {
            x.execute(
                "UPDATE daemon_runs SET owner = $3
                 WHERE run_id = $1 AND state != 'done' AND owner IS NOT DISTINCT FROM $2",
                args![run_id, from, to],
            )
        })
        .map(|n| n == 1)
    }
}

/// Locks the lease row of `fence` for the transaction, refusing when it is not the fence's
/// owner's: a takeover waits for this transaction, and a transaction after one is refused.
fn hold_lease(x: &mut dyn Exec, fence: &Fence) -> Result<(), DbErr> {
    let held = x.query_opt(
        "SELECT 1 FROM run_leases WHERE run_id = $1 AND owner = $2 {for_update}",
        args![&fence.run_id, &fence.owner],
    )?;
    match held {
        Some(_) => Ok(()),
        None => Err(DbErr(LEASE_LOST.into())),
    }
}

/// Records a daemon run queued, unless it is known.
pub(super) fn queue_run(
    x: &mut dyn Exec,
    run_id: &str,
    recipe: &str,
    params: &str,
    origin: &str,
    owner: &str,
    now: &str,
) -> Result<(), DbErr> {
    x.execute(
        "INSERT INTO daemon_runs (run_id, recipe, params, origin, state, started_at, owner)
         VALUES ($1, $2, $3, $4, 'running', $5, $6) ON CONFLICT (run_id) DO NOTHING",
        args![run_id, recipe, params, origin, now, owner],
    )
    .map(|_| ())
}

/// Claims the once-key (`path`, `hash`) for `run_id`: true the first time only.
pub(super) fn claim_key(
    x: &mut dyn Exec,
    path: &str,
    hash: &str,
    run_id: &str,
    now: &str,
) -> Result<bool, DbErr> {
    x.execute(
        "INSERT INTO daemon_seen (path, hash, run_id, seen_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (path, hash) DO NOTHING",
        args![path, hash, run_id, now],
    )
    .map(|n| n == 1)
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn a_content_is_claimed_once() {
        each_backend(|s| {
            assert!(s.claim_drop("/r/a.rhai", "h1", "r1").unwrap());
            assert!(!s.claim_drop("/r/a.rhai", "h1", "r2").unwrap());
            assert!(s.claim_drop("/r/a.rhai", "h2", "r3").unwrap());
        });
    }

    #[test]
    fn unfinished_runs_are_found() {
        each_backend(|s| {
            s.daemon_run_queued("r1", "/r/a.rhai", &json!({}), "on-drop", "d1")
                .unwrap();
            assert_eq!(
                s.daemon_run_started("r1", "/r/a.rhai", &json!({}), "on-drop", "d1")
                    .unwrap(),
                1
            );
            s.daemon_run_started("r2", "/r/b.rhai", &json!({"x": 1}), "inbox", "d1")
                .unwrap();
            s.daemon_run_finished("r1", false).unwrap();
            let left = s.daemon_unfinished().unwrap();
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].run_id, "r2");
            s.daemon_run_finished("r2", true).unwrap();
            assert_eq!(
                s.daemon_run_started("r2", "/r/b.rhai", &json!({}), "inbox", "d2")
                    .unwrap(),
                2,
                "a resumed run's second attempt"
            );
            assert_eq!(
                s.daemon_unfinished().unwrap().len(),
                1,
                "interrupted runs are resumed too"
            );
            assert_eq!(
                s.daemon_unfinished().unwrap()[0].owner.as_deref(),
                Some("d2")
            );
        });
    }

    #[test]
    fn a_dead_daemons_run_is_adopted_by_one_taker() {
        each_backend(|s| {
            s.daemon_run_queued("r1", "/r/a.rhai", &json!({}), "event:x", "dead")
                .unwrap();
            assert!(
                !s.daemon_run_adopt("r1", None, "d2").unwrap(),
                "not its owner"
            );
            assert!(s.daemon_run_adopt("r1", Some("dead"), "d2").unwrap());
            assert!(
                !s.daemon_run_adopt("r1", Some("dead"), "d3").unwrap(),
                "taken already"
            );
            s.daemon_run_finished("r1", false).unwrap();
            assert!(!s.daemon_run_adopt("r1", Some("d2"), "d3").unwrap(), "done");
        });
    }
}
