//! Triggers derive from stored events: each stored notification is dispatched once, and
//! dispatching it (marking it done and queuing the trigger runs it causes) is one transaction,
//! so a crash either leaves the event to dispatch again or its runs queued to resume.

use super::daemon::{claim_key, queue_run};
use super::exec::args;
use super::model::{Notification, TriggerRun};
use super::rows::Cols;
use super::{Store, StoreError};

impl Store {
    /// Stored events not dispatched yet, oldest first, at most `limit`.
    pub fn undispatched(&self, limit: usize) -> Result<Vec<Notification>, StoreError> {
        let bodies = self.with(|x| {
            x.rows(
                "SELECT body FROM notifications WHERE dispatched_at IS NULL
                 ORDER BY received_at, {seq} LIMIT $1",
                args![limit as i64],
                |r| r.req_text(0),
            )
        })?;
        Ok(Notification::from_stored(bodies))
    }

    /// Marks `event_id` dispatched and queues `runs` (recorded as the daemon's unfinished runs,
    /// so a restart resumes them), in one transaction. Returns the runs queued now: none when
    /// the event was dispatched already, and none whose key already ran (a duplicate delivery).
    ///
    /// BT may post one event to any daemon sharing the store (or twice): the event's row lock
    /// (PostgreSQL; SQLite has one writer at a time) lets exactly one of them dispatch it, and
    /// the others skip it. If that transaction fails, the event is found again.
    pub fn dispatch_event(
        &self,
        event_id: &str,
        runs: &[TriggerRun],
    ) -> Result<Vec<TriggerRun>, StoreError> {
        self.in_transaction(|x| {
            let now = super::now_rfc3339();
            let pending = x.query_opt(
                "SELECT 1 FROM notifications WHERE event_id = $1 AND dispatched_at IS NULL
                 {skip_locked}",
                args![event_id],
            )?;
            if pending.is_none() {
                return Ok(Vec::new());
            }
            let mut queued = Vec::new();
            for run in runs {
                if !claim_key(x, &run.name, &run.key, &run.run_id, &now)? {
                    continue;
                }
                let params = run.params.to_string();
                queue_run(
                    x,
                    &run.run_id,
                    &run.recipe,
                    &params,
                    &run.origin,
                    &run.owner,
                    &now,
                )?;
                queued.push(run.clone());
            }
            x.execute(
                "UPDATE notifications SET dispatched_at = $2 WHERE event_id = $1",
                args![event_id, &now],
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
            name: "a.rhai".into(),
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

    #[test]
    fn once_per_order_and_state_across_events_and_daemon_folders() {
        each_backend(|s| {
            let carrying = |id: &str, kind: &str| {
                Notification::from_envelope(json!({"eventId": id, "eventTime": "2026-11-22T10:00:00Z",
                    "eventType": kind, "event": {"productOrder": {"id": "O1", "state": "completed"}}}))
                .unwrap()
            };
            let events = [
                carrying("e1", "orderComplete"),
                carrying("e2", "orderMilestone"),
                carrying("e3", "orderLineComplete"),
            ];
            let mut queued = 0;
            for (i, n) in events.iter().enumerate() {
                s.record_notification(n).unwrap();
                // Each event dispatched by another daemon, its folder at another path.
                let mut r = run("order-state:O1:completed", &format!("r{i}"));
                r.recipe = format!("/srv/d{i}/recipes/a.rhai");
                queued += s.dispatch_event(&n.event_id, &[r]).unwrap().len();
            }
            assert_eq!(queued, 1, "one run per order and state");
        });
    }
}
