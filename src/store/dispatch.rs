//! Triggers derive from stored events: each stored notification is dispatched once, and
//! dispatching it (marking it done and queuing the trigger runs it causes) is one transaction,
//! so a crash either leaves the event to dispatch again or its runs queued to resume.

use super::{Notification, Sqlite, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

/// The notifications column of this file. Idempotent, run on every open: events stored before
/// dispatching existed count as dispatched (their triggers ran the old way, or never will).
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has: i64 = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('notifications') WHERE name = 'dispatched_at'",
        [],
        |r| r.get(0),
    )?;
    if has == 0 {
        conn.execute_batch(
            "ALTER TABLE notifications ADD COLUMN dispatched_at TEXT;
             UPDATE notifications SET dispatched_at = received_at;",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS notifications_undispatched ON notifications (received_at)
           WHERE dispatched_at IS NULL;",
    )
}

/// A trigger run an event causes: the recipe, the key that makes it once (event id and
/// trigger), and what the run is given.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerRun {
    pub recipe: String,
    pub key: String,
    pub run_id: String,
    pub params: Value,
    pub origin: String,
    /// The daemon that dispatches it (and runs it unless it dies first).
    pub owner: String,
}

impl Sqlite {
    /// Stored events not dispatched yet, oldest first, at most `limit`.
    pub fn undispatched(&self, limit: usize) -> Result<Vec<Notification>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT body FROM notifications WHERE dispatched_at IS NULL
                 ORDER BY received_at, rowid LIMIT ?1",
            )
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| r.get::<_, String>(0))
            .map_err(|e| self.error(e))?;
        let bodies = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))?;
        Ok(Notification::from_stored(bodies))
    }

    /// Marks `event_id` dispatched and queues `runs` (recorded as the daemon's unfinished runs,
    /// so a restart resumes them), in one transaction. Returns the runs queued now: none when
    /// the event was dispatched already, and none whose key already ran (a duplicate delivery).
    pub fn dispatch_event(
        &self,
        event_id: &str,
        runs: &[TriggerRun],
    ) -> Result<Vec<TriggerRun>, StoreError> {
        self.immediate(|tx| {
            let now = super::now_rfc3339();
            let pending: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM notifications WHERE event_id = ?1 AND dispatched_at IS NULL",
                    [event_id],
                    |r| r.get(0),
                )
                .optional()?;
            if pending.is_none() {
                return Ok(Vec::new());
            }
            let mut queued = Vec::new();
            for run in runs {
                let fresh = tx.execute(
                    "INSERT OR IGNORE INTO daemon_seen (path, hash, run_id, seen_at) VALUES (?1, ?2, ?3, ?4)",
                    params![run.recipe, run.key, run.run_id, now],
                )? == 1;
                if !fresh {
                    continue;
                }
                tx.execute(
                    "INSERT INTO daemon_runs (run_id, recipe, params, origin, state, started_at, owner)
                     VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6) ON CONFLICT (run_id) DO NOTHING",
                    params![run.run_id, run.recipe, run.params.to_string(), run.origin, now, run.owner],
                )?;
                queued.push(run.clone());
            }
            tx.execute(
                "UPDATE notifications SET dispatched_at = ?2 WHERE event_id = ?1",
                params![event_id, now],
            )?;
            Ok(queued)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    fn event(id: &str) -> Notification {
        Notification::from_envelope(json!({"eventId": id, "eventTime": "2026-11-22T10:00:00Z",
            "eventType": "orderComplete", "event": {"productOrder": {"id": "O1", "state": "completed"}}}))
        .unwrap()
    }

    fn run(key: &str, run_id: &str) -> TriggerRun {
        TriggerRun {
            recipe: "/r/a.rhai".into(),
            key: key.into(),
            run_id: run_id.into(),
            params: json!({}),
            origin: "event:orderComplete".into(),
            owner: "d1".into(),
        }
    }

    #[test]
    fn an_event_is_dispatched_once_and_its_runs_queued_with_it() {
        each_backend(|s| {
            s.record_notification(&event("e1")).unwrap();
            s.record_notification(&event("e2")).unwrap();
            assert_eq!(s.undispatched(10).unwrap().len(), 2);
            let q = s.dispatch_event("e1", &[run("event:e1", "r1")]).unwrap();
            assert_eq!(q.len(), 1);
            assert_eq!(s.daemon_unfinished().unwrap()[0].run_id, "r1");
            // Dispatched already: nothing again.
            assert!(s
                .dispatch_event("e1", &[run("event:e1", "r9")])
                .unwrap()
                .is_empty());
            // Another event with a key that already ran (the same order reaching a state).
            assert!(s
                .dispatch_event("e2", &[run("event:e1", "r2")])
                .unwrap()
                .is_empty());
            assert!(s.undispatched(10).unwrap().is_empty());
        });
    }
}
