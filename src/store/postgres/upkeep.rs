//! The alert queue and retention on PostgreSQL: what a long-running daemon delivers and prunes.

use super::misc::alert_row;
use super::Pg;
use crate::store::jobs::ts;
use crate::store::{now_rfc3339, PendingAlert, Pruned, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Held by the daemon pruning, for its transaction: "btw_prun".
const PRUNE_LOCK: i64 = 0x6274_775f_7072_756e;

impl Pg {
    pub fn alert_enqueue(&self, id: &str, event: &str, payload: &Value) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO alert_queue (id, event, payload, next_at, created_at)
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
            &[&id, &event, &payload.to_string(), &now_rfc3339()],
        )
        .map(|_| ())
    }

    pub fn alerts_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, StoreError> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT id, event, payload, attempts FROM alert_queue
                     WHERE delivered_at IS NULL AND next_at <= $1 ORDER BY created_at LIMIT $2",
                    &[&ts(now), &(limit as i64)],
                )
                .await?;
            rows.iter().map(alert_row).collect()
        })
    }

    pub fn alert_delivered(&self, id: &str) -> Result<(), StoreError> {
        self.exec(
            "UPDATE alert_queue SET delivered_at = $2, attempts = attempts + 1, last_error = NULL
             WHERE id = $1",
            &[&id, &now_rfc3339()],
        )
        .map(|_| ())
    }

    pub fn alert_failed(
        &self,
        id: &str,
        error: &str,
        next: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE alert_queue SET attempts = attempts + 1, last_error = $2, next_at = $3
             WHERE id = $1",
            &[&id, &error, &ts(next)],
        )
        .map(|_| ())
    }

    pub fn alerts_pending(&self) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM alert_queue WHERE delivered_at IS NULL",
            &[],
        )
    }

    /// SQLite's retention (`retention.rs`), statement for statement, in one transaction; nothing
    /// when another daemon is pruning.
    pub fn prune(&self, cutoff: &str, keep: usize) -> Result<Pruned, StoreError> {
        let keep = keep as i64;
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let mut pruned = Pruned::default();
            // One daemon prunes at a time; the others find it being done and leave it.
            let mine: bool = tx
                .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
                .await?
                .get(0);
            if !mine {
                return Ok(pruned);
            }
            let gone = tx
                .query(
                    "DELETE FROM daemon_runs WHERE state = 'done' AND (finished_at < $1 OR run_id NOT IN
                       (SELECT run_id FROM daemon_runs WHERE state = 'done' ORDER BY finished_at DESC LIMIT $2))
                     RETURNING run_id",
                    &[&cutoff, &keep],
                )
                .await?;
            pruned.daemon_runs = gone.iter().map(|r| r.get::<_, String>(0)).collect();
            pruned.runs = tx
                .execute(
                    "DELETE FROM runs WHERE finished_at IS NOT NULL AND outcome != 'running'
                       AND (finished_at < $1 OR run_id NOT IN
                         (SELECT run_id FROM runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $2))
                       AND run_id NOT IN (SELECT run_id FROM daemon_runs WHERE state != 'done')
                       AND run_id NOT IN (SELECT run_id FROM jobs WHERE state = 'running' AND run_id IS NOT NULL)",
                    &[&cutoff, &keep],
                )
                .await? as usize;
            pruned.ledger_rows = tx
                .execute(
                    "DELETE FROM ledger WHERE run_id NOT IN (SELECT run_id FROM runs)
                       AND run_id NOT IN (SELECT run_id FROM daemon_runs)
                       AND run_id NOT IN (SELECT run_id FROM jobs WHERE state IN ('running', 'scheduled') AND run_id IS NOT NULL)
                       AND run_id NOT IN (SELECT run_id FROM run_leases)",
                    &[],
                )
                .await? as usize;
            pruned.notifications = tx
                .execute(
                    "DELETE FROM notifications WHERE dispatched_at IS NOT NULL AND (received_at < $1 OR event_id NOT IN
                       (SELECT event_id FROM notifications ORDER BY received_at DESC LIMIT $2))",
                    &[&cutoff, &keep],
                )
                .await? as usize;
            // The once-keys of events (not of on-drop contents: those say a content already ran).
            tx.execute(
                "DELETE FROM daemon_seen WHERE (hash LIKE 'event:%' OR hash LIKE 'order-state:%')
                   AND seen_at < $1 AND run_id NOT IN (SELECT run_id FROM daemon_runs)",
                &[&cutoff],
            )
            .await?;
            tx.execute(
                "DELETE FROM order_states WHERE updated_at < $1
                   AND order_id NOT IN (SELECT order_id FROM notifications)",
                &[&cutoff],
            )
            .await?;
            tx.commit().await?;
            Ok(pruned)
        })
    }
}
