//! The alert queue: one row per alert (a failed run, a missed job) to post to the operator's
//! webhook, kept until it is delivered, so alerts survive a dead receiver and a restart.

use super::exec::args;
use super::jobs::ts;
use super::model::PendingAlert;
use super::rows::Cols;
use super::{now_rfc3339, Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;

impl Store {
    /// Queues an alert, due now. The id is the webhook's message id (the same on every retry).
    pub fn alert_enqueue(&self, id: &str, event: &str, payload: &Value) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "INSERT INTO alert_queue (id, event, payload, next_at, created_at)
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
                args![id, event, payload.to_string(), now_rfc3339()],
            )
        })
        .map(|_| ())
    }

    /// Undelivered alerts due by `now`, oldest first.
    pub fn alerts_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, StoreError> {
        self.with(|x| {
            x.rows(
                "SELECT id, event, payload, attempts FROM alert_queue
                 WHERE delivered_at IS NULL AND next_at <= $1 ORDER BY created_at LIMIT $2",
                args![ts(now), limit as i64],
                |r| {
                    Ok(PendingAlert {
                        id: r.req_text(0)?,
                        event: r.req_text(1)?,
                        payload: serde_json::from_str(&r.req_text(2)?).unwrap_or(Value::Null),
                        attempts: r.req_int(3)?.max(0) as u32,
                    })
                },
            )
        })
    }

    pub fn alert_delivered(&self, id: &str) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "UPDATE alert_queue SET delivered_at = $2, attempts = attempts + 1, last_error = NULL
                 WHERE id = $1",
                args![id, now_rfc3339()],
            )
        })
        .map(|_| ())
    }

    /// Records a failed attempt; the next one is due at `next`.
    pub fn alert_failed(
        &self,
        id: &str,
        error: &str,
        next: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "UPDATE alert_queue SET attempts = attempts + 1, last_error = $2, next_at = $3
                 WHERE id = $1",
                args![id, error, ts(next)],
            )
        })
        .map(|_| ())
    }

    /// Alerts not delivered yet.
    pub fn alerts_pending(&self) -> Result<u64, StoreError> {
        self.with(|x| {
            x.count(
                "SELECT COUNT(*) FROM alert_queue WHERE delivered_at IS NULL",
                args![],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn alerts_wait_until_delivered() {
        each_backend(|s| {
            s.alert_enqueue("m1", "run.failed", &json!({"a": 1}))
                .unwrap();
            s.alert_enqueue("m1", "run.failed", &json!({"a": 2}))
                .unwrap();
            let now = Utc::now() + chrono::Duration::seconds(1);
            assert_eq!(s.alerts_due(now, 10).unwrap().len(), 1);
            s.alert_failed("m1", "refused", now + chrono::Duration::seconds(60))
                .unwrap();
            assert!(s.alerts_due(now, 10).unwrap().is_empty());
            let later = now + chrono::Duration::seconds(61);
            assert_eq!(s.alerts_due(later, 10).unwrap()[0].attempts, 1);
            s.alert_delivered("m1").unwrap();
            assert!(s.alerts_due(later, 10).unwrap().is_empty());
            assert_eq!(s.alerts_pending().unwrap(), 0);
        });
    }
}
