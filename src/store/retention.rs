//! Retention: what a long-running daemon prunes from the store so it stays bounded — finished
//! runs and their ledger rows, dispatched notifications, and the once-keys of events — by age
//! and by count, never anything a resume, a queued trigger run or an undispatched event needs.

use super::{Sqlite, StoreError};
use rusqlite::params;

/// What one pass removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pruned {
    /// The daemon runs forgotten (their reports can go too).
    pub daemon_runs: Vec<String>,
    pub runs: usize,
    pub ledger_rows: usize,
    pub notifications: usize,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        self.daemon_runs.is_empty()
            && self.runs == 0
            && self.ledger_rows == 0
            && self.notifications == 0
    }
}

impl Sqlite {
    /// Prunes what finished before `cutoff` (UTC RFC 3339, as the store writes times) and,
    /// of what is newer, all but the `keep` most recent finished runs and dispatched events.
    pub fn prune(&self, cutoff: &str, keep: usize) -> Result<Pruned, StoreError> {
        let keep = keep as i64;
        self.immediate(|tx| {
            let mut pruned = Pruned::default();
            {
                let mut stmt = tx.prepare(
                    "DELETE FROM daemon_runs WHERE state = 'done' AND (finished_at < ?1 OR run_id NOT IN
                       (SELECT run_id FROM daemon_runs WHERE state = 'done' ORDER BY finished_at DESC LIMIT ?2))
                     RETURNING run_id",
                )?;
                let rows = stmt.query_map(params![cutoff, keep], |r| r.get::<_, String>(0))?;
                for r in rows {
                    pruned.daemon_runs.push(r?);
                }
            }
            // A run a daemon still has to resume, or a job is running, keeps its record.
            pruned.runs = tx.execute(
                "DELETE FROM runs WHERE finished_at IS NOT NULL AND outcome != 'running'
                   AND (finished_at < ?1 OR run_id NOT IN
                     (SELECT run_id FROM runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?2))
                   AND run_id NOT IN (SELECT run_id FROM daemon_runs WHERE state != 'done')
                   AND run_id NOT IN (SELECT run_id FROM jobs WHERE state = 'running' AND run_id IS NOT NULL)",
                params![cutoff, keep],
            )?;
            pruned.ledger_rows = tx.execute(
                "DELETE FROM ledger WHERE run_id NOT IN (SELECT run_id FROM runs)
                   AND run_id NOT IN (SELECT run_id FROM daemon_runs)
                   AND run_id NOT IN (SELECT run_id FROM jobs WHERE state IN ('running', 'scheduled') AND run_id IS NOT NULL)
                   AND run_id NOT IN (SELECT run_id FROM run_leases)",
                [],
            )?;
            pruned.notifications = tx.execute(
                "DELETE FROM notifications WHERE dispatched_at IS NOT NULL AND (received_at < ?1 OR event_id NOT IN
                   (SELECT event_id FROM notifications ORDER BY received_at DESC LIMIT ?2))",
                params![cutoff, keep],
            )?;
            // The once-keys of events (not of on-drop contents: those say a content already ran).
            tx.execute(
                "DELETE FROM daemon_seen WHERE (hash LIKE 'event:%' OR hash LIKE 'order-state:%')
                   AND seen_at < ?1 AND run_id NOT IN (SELECT run_id FROM daemon_runs)",
                params![cutoff],
            )?;
            tx.execute(
                "DELETE FROM order_states WHERE updated_at < ?1
                   AND order_id NOT IN (SELECT order_id FROM notifications)",
                params![cutoff],
            )?;
            Ok(pruned)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn finished_runs_go_and_unfinished_ones_stay() {
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
