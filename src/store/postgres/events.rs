//! Order notifications on PostgreSQL. BT may post one event to any daemon behind a load
//! balancer (or twice): the event id's primary key stores it once, and dispatching takes the
//! event's row lock (skipping it when another daemon holds it), so exactly one daemon marks it
//! dispatched and queues its trigger runs.

use super::errors::decode;
use super::Pg;
use crate::store::rows::Cols;
use crate::store::{now_rfc3339, state_rank, EventSummary, Notification, StoreError, TriggerRun};
use serde_json::Value;

impl Pg {
    pub fn record_notification(&self, n: &Notification) -> Result<bool, StoreError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let inserted = tx
                .execute(
                    "INSERT INTO notifications (event_id, order_id, event_type, event_time, state,
                       received_at, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
                    &[
                        &n.event_id,
                        &n.order_id,
                        &n.event_type,
                        &n.event_time,
                        &n.state,
                        &now_rfc3339(),
                        &n.body.to_string(),
                    ],
                )
                .await?
                == 1;
            let rank = n.state.as_deref().map(state_rank).unwrap_or(0);
            if inserted && rank > 0 {
                tx.execute(
                    "INSERT INTO order_states (order_id, state, rank, event_time, updated_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (order_id) DO UPDATE SET state = excluded.state,
                       rank = excluded.rank, event_time = excluded.event_time,
                       updated_at = excluded.updated_at
                     WHERE excluded.rank > order_states.rank",
                    &[&n.order_id, &n.state, &rank, &n.event_time, &now_rfc3339()],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(inserted)
        })
    }

    pub fn find_notification(
        &self,
        order_id: &str,
        event_type: &str,
    ) -> Result<Option<Value>, StoreError> {
        let body = self.text_opt(
            "SELECT body FROM notifications WHERE order_id = $1 AND event_type = $2
             ORDER BY received_at, seq LIMIT 1",
            &[&order_id, &event_type],
        )?;
        Ok(body.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn order_state(&self, order_id: &str) -> Result<Option<String>, StoreError> {
        self.text_opt(
            "SELECT state FROM order_states WHERE order_id = $1",
            &[&order_id],
        )
    }

    pub fn notification_count(&self, order_id: &str) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM notifications WHERE order_id = $1",
            &[&order_id],
        )
    }

    pub fn undispatched(&self, limit: usize) -> Result<Vec<Notification>, StoreError> {
        let bodies = self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT body FROM notifications WHERE dispatched_at IS NULL
                     ORDER BY received_at, seq LIMIT $1",
                    &[&(limit as i64)],
                )
                .await?;
            rows.iter()
                .map(|r| r.req_text(0).map_err(decode))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(Notification::from_stored(bodies))
    }

    pub fn dispatch_event(
        &self,
        event_id: &str,
        runs: &[TriggerRun],
    ) -> Result<Vec<TriggerRun>, StoreError> {
        self.block(async {
            let now = now_rfc3339();
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // The row lock: another daemon dispatching it now holds it, and is skipped (if its
            // transaction fails, the event is still undispatched and found again).
            let pending = tx
                .query_opt(
                    "SELECT 1 FROM notifications WHERE event_id = $1 AND dispatched_at IS NULL
                     FOR UPDATE SKIP LOCKED",
                    &[&event_id],
                )
                .await?;
            if pending.is_none() {
                return Ok(Vec::new());
            }
            let mut queued = Vec::new();
            for run in runs {
                let fresh = tx
                    .execute(
                        "INSERT INTO daemon_seen (path, hash, run_id, seen_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (path, hash) DO NOTHING",
                        &[&run.recipe, &run.key, &run.run_id, &now],
                    )
                    .await?
                    == 1;
                if !fresh {
                    continue;
                }
                tx.execute(
                    "INSERT INTO daemon_runs (run_id, recipe, params, origin, state, started_at, owner)
                     VALUES ($1, $2, $3, $4, 'running', $5, $6) ON CONFLICT (run_id) DO NOTHING",
                    &[&run.run_id, &run.recipe, &run.params.to_string(), &run.origin, &now, &run.owner],
                )
                .await?;
                queued.push(run.clone());
            }
            tx.execute(
                "UPDATE notifications SET dispatched_at = $2 WHERE event_id = $1",
                &[&event_id, &now],
            )
            .await?;
            tx.commit().await?;
            Ok(queued)
        })
    }

    pub fn events_recent(&self, limit: usize) -> Result<Vec<EventSummary>, StoreError> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT n.event_id, n.order_id, n.event_type, n.state, n.received_at,
                       (SELECT string_agg(d.run_id, ' ') FROM daemon_runs d
                         WHERE d.params LIKE '{%' AND d.params::jsonb ->> 'event_id' = n.event_id)
                     FROM notifications n ORDER BY n.received_at DESC, n.seq DESC LIMIT $1",
                    &[&(limit as i64)],
                )
                .await?;
            let one = |r: &tokio_postgres::Row| -> Result<EventSummary, String> {
                Ok(EventSummary {
                    event_id: r.req_text(0)?,
                    order_id: r.req_text(1)?,
                    event_type: r.req_text(2)?,
                    state: r.text(3)?,
                    received_at: r.req_text(4)?,
                    runs: r
                        .text(5)?
                        .map(|s| s.split(' ').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            };
            rows.iter().map(|r| one(r).map_err(decode)).collect()
        })
    }

    pub fn run_origin(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        self.text_opt(
            "SELECT origin FROM daemon_runs WHERE run_id = $1",
            &[&run_id],
        )
    }
}
