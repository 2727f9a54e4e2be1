//! Retention: what a long-running daemon prunes from the store so it stays bounded — finished
//! runs and their ledger rows, dispatched notifications, and the once-keys of events — by age
//! and by count, never anything a resume, a queued trigger run or an undispatched event needs.

use super::exec::{args, decode, Engine};
use super::model::Pruned;
use super::rows::Cols;
use super::{Store, StoreError};

/// Held by the daemon pruning, for its transaction, on PostgreSQL: "btw_prun".
const PRUNE_LOCK: i64 = 0x6274_775f_7072_756e;

impl Store {
    /// Prunes what finished before `cutoff` (UTC RFC 3339, as the store writes times) and,
    /// of what is newer, all but the `keep` most recent finished runs and dispatched events.
    /// In one transaction; on a shared store, nothing when another daemon is pruning.
    pub fn prune(&self, cutoff: &str, keep: usize) -> Result<Pruned, StoreError> {
        let keep = keep as i64;
        self.in_transaction(|x| {
            let mut pruned = Pruned::default();
            // One daemon prunes at a time; the others find it being done and leave it.
            if x.engine() == Engine::Postgres {
                let mine = x.query_one("SELECT pg_try_advisory_xact_lock($1)", args![PRUNE_LOCK])?;
                if !mine.bool(0).map_err(decode)? {
                    return Ok(pruned);
                }
            }
            pruned.daemon_runs = x.rows(
                "DELETE FROM daemon_runs WHERE state = 'done' AND (finished_at < $1 OR run_id NOT IN
                   (SELECT run_id FROM daemon_runs WHERE state = 'done' ORDER BY finished_at DESC LIMIT $2))
                 RETURNING run_id",
                args![cutoff, keep],
                |r| r.req_text(0),
            )?;
            // A run a daemon still has to resume, or a job is running, keeps its record.
            pruned.runs = x.execute(
                "DELETE FROM runs WHERE finished_at IS NOT NULL AND outcome != 'running'
                   AND (finished_at < $1 OR run_id NOT IN
                     (SELECT run_id FROM runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $2))
                   AND run_id NOT IN (SELECT run_id FROM daemon_runs WHERE state != 'done')
                   AND run_id NOT IN (SELECT run_id FROM jobs WHERE state = 'running' AND run_id IS NOT NULL)",
                args![cutoff, keep],
            )? as usize;
            pruned.ledger_rows = x.execute(
                "DELETE FROM ledger WHERE run_id NOT IN (SELECT run_id FROM runs)
                   AND run_id NOT IN (SELECT run_id FROM daemon_runs)
                   AND run_id NOT IN (SELECT run_id FROM jobs WHERE state IN ('running', 'scheduled') AND run_id IS NOT NULL)
                   AND run_id NOT IN (SELECT run_id FROM run_leases)",
                args![],
            )? as usize;
            pruned.notifications = x.execute(
                "DELETE FROM notifications WHERE dispatched_at IS NOT NULL AND (received_at < $1 OR event_id NOT IN
                   (SELECT event_id FROM notifications ORDER BY received_at DESC LIMIT $2))",
                args![cutoff, keep],
            )? as usize;
            // The once-keys of events (not of on-drop contents: those say a content already ran).
            x.execute(
                "DELETE FROM daemon_seen WHERE (hash LIKE 'event:%' OR hash LIKE 'order-state:%')
                   AND seen_at < $1 AND run_id NOT IN (SELECT run_id FROM daemon_runs)",
                args![cutoff],
            )?;
            x.execute(
                "DELETE FROM order_states WHERE updated_at < $1
                   AND order_id NOT IN (SELECT order_id FROM notifications)",
                args![cutoff],
            )?;
            Ok(pruned)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::api::Operation;
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn finished_runs_and_their_ledger_go_and_unfinished_ones_stay() {
        each_backend(|s| {
            for id in ["old", "kept"] {
                s.run_started(id, "/r/a.rhai", "h", &json!({}), "sandbox")
                    .unwrap();
                s.ledger_begin(id, 1, Operation::OrderSubmit, &json!(1), None)
                    .unwrap();
            }
            s.run_finished("old", "ok", &json!({})).unwrap();
            s.daemon_run_queued("kept", "/r/a.rhai", &json!({}), "drop", "d1")
                .unwrap();
            let pruned = s.prune("9999-12-31T00:00:00.000Z", 0).unwrap();
            assert_eq!((pruned.runs, pruned.ledger_rows), (1, 1));
            assert!(s.run_get("old").unwrap().is_none());
            assert_eq!(s.ledger_steps("kept").unwrap().len(), 1);
            assert!(s.prune("9999-12-31T00:00:00.000Z", 0).unwrap().is_empty());
        });
    }

    #[test]
    fn the_most_recent_finished_runs_are_kept_by_count() {
        each_backend(|s| {
            for id in ["a", "b", "c"] {
                s.daemon_run_started(id, "/r/x.rhai", &json!({}), "inbox:x.json", "d1")
                    .unwrap();
                s.run_started(id, "/r/x.rhai", "h", &json!({}), "sandbox")
                    .unwrap();
            }
            s.daemon_run_finished("a", false).unwrap();
            s.run_finished("a", "ok", &json!({})).unwrap();
            s.daemon_run_finished("b", false).unwrap();
            s.run_finished("b", "ok", &json!({})).unwrap();
            // Keep one: the older of the two finished runs goes; "c" is still to resume.
            let p = s.prune("2000-01-01T00:00:00.000Z", 1).unwrap();
            assert_eq!(p.daemon_runs.len(), 1);
            assert_eq!(p.runs, 1);
            let left = s.daemon_unfinished().unwrap();
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].run_id, "c");
            // Everything finished is older than a cutoff in the future.
            let p = s.prune("2999-01-01T00:00:00.000Z", 100).unwrap();
            assert_eq!(p.daemon_runs.len(), 1);
            assert_eq!(s.daemon_unfinished().unwrap().len(), 1);
        });
    }
}
