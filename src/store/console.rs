//! What the operator's console and `btw runs` read: runs newest first with filters, counts of
//! jobs due and missed, and a probe that the store still takes writes.

use super::{Sqlite, StoreError};
use rusqlite::params;
use std::time::Duration;

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    /// Runs whose recipe path ends with this (a file name or a path).
    pub recipe: Option<String>,
    /// `ok`, `failed` (any outcome but ok and running), or one outcome kind.
    pub outcome: Option<String>,
    /// Runs started at or after this RFC 3339 instant.
    pub since: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

/// One line of the runs list.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub recipe: String,
    pub script_hash: String,
    pub outcome: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl Sqlite {
    /// Runs newest first, filtered.
    pub fn runs_list(&self, f: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        let outcome = f.outcome.as_deref().unwrap_or("");
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT run_id, script, script_hash, outcome, started_at, finished_at FROM runs
                 WHERE (?1 = '' OR script = ?1 OR script LIKE '%/' || ?1)
                   AND (?2 = '' OR outcome = ?2 OR (?2 = 'failed' AND outcome NOT IN ('ok', 'running')))
                   AND (?3 = '' OR started_at >= ?3)
                 ORDER BY started_at DESC, rowid DESC LIMIT ?4 OFFSET ?5",
            )
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map(
                params![
                    f.recipe.as_deref().unwrap_or(""),
                    outcome,
                    f.since.as_deref().unwrap_or(""),
                    f.limit.max(1) as i64,
                    f.offset as i64
                ],
                |r| {
                    Ok(RunSummary {
                        run_id: r.get(0)?,
                        recipe: r.get(1)?,
                        script_hash: r.get(2)?,
                        outcome: r.get(3)?,
                        started_at: r.get(4)?,
                        finished_at: r.get(5)?,
                    })
                },
            )
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Jobs scheduled and due by `now` (RFC 3339), and jobs missed.
    pub fn jobs_due_and_missed(&self, now: &str) -> Result<(u64, u64), StoreError> {
        self.conn()
            .query_row(
                "SELECT
                   (SELECT COUNT(*) FROM jobs WHERE state = 'scheduled' AND next_run_at <= ?1),
                   (SELECT COUNT(*) FROM jobs WHERE state = 'missed')",
                [now],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?.max(0) as u64,
                        r.get::<_, i64>(1)?.max(0) as u64,
                    ))
                },
            )
            .map_err(|e| self.error(e))
    }

    /// Whether the store takes a write now: a second connection takes the write lock and lets it
    /// go, waiting at most `wait` for another writer. Nothing is written.
    pub fn probe_writable(&self, wait: Duration) -> Result<(), StoreError> {
        if self.path.as_os_str() == ":memory:" {
            return Ok(());
        }
        let conn = rusqlite::Connection::open(&self.path).map_err(|e| self.error(e))?;
        conn.busy_timeout(wait).map_err(|e| self.error(e))?;
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(|e| self.error(format!("not writable: {e}")))
    }
}

/// An order notification as the console lists it, with the daemon runs it caused.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EventSummary {
    pub event_id: String,
    pub order_id: String,
    pub event_type: String,
    pub state: Option<String>,
    pub received_at: String,
    pub runs: Vec<String>,
}

impl Sqlite {
    /// The latest notifications received, newest first.
    pub fn events_recent(&self, limit: usize) -> Result<Vec<EventSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT n.event_id, n.order_id, n.event_type, n.state, n.received_at,
                   (SELECT group_concat(d.run_id, ' ') FROM daemon_runs d
                     WHERE json_valid(d.params) AND json_extract(d.params, '$.event_id') = n.event_id)
                 FROM notifications n ORDER BY n.received_at DESC, n.rowid DESC LIMIT ?1",
            )
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(EventSummary {
                    event_id: r.get(0)?,
                    order_id: r.get(1)?,
                    event_type: r.get(2)?,
                    state: r.get(3)?,
                    received_at: r.get(4)?,
                    runs: r
                        .get::<_, Option<String>>(5)?
                        .map(|s| s.split(' ').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Where a daemon run came from (`schedule:ID`, `event:TYPE`, `drop`, …), if it was one.
    pub fn run_origin(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension;
        self.conn()
            .query_row(
                "SELECT origin FROM daemon_runs WHERE run_id = ?1",
                [run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn runs_are_listed_newest_first_and_filtered() {
        each_backend(|s| {
            s.run_started("a", "/r/one.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished("a", "ok", &json!({})).unwrap();
            s.run_started("b", "/r/two.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished("b", "bt", &json!({})).unwrap();
            let all = s
                .runs_list(&RunFilter {
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(all.len(), 2);
            let failed = RunFilter {
                outcome: Some("failed".into()),
                limit: 10,
                ..Default::default()
            };
            assert_eq!(s.runs_list(&failed).unwrap()[0].run_id, "b");
            let one = RunFilter {
                recipe: Some("one.rhai".into()),
                limit: 10,
                ..Default::default()
            };
            assert_eq!(s.runs_list(&one).unwrap()[0].run_id, "a");
            assert_eq!(s.jobs_due_and_missed("9999").unwrap(), (0, 0));
            assert!(s.events_recent(10).unwrap().is_empty());
            assert_eq!(s.run_origin("a").unwrap(), None);
        });
    }
}
