//! Alerts on failure: a failed run, a missed job or a refused inbox job becomes a signed JSON
//! POST to the operator's webhook (`[alerts] webhook_url`, secret in `BTW_ALERT_SECRET`),
//! signed as Standard Webhooks do (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<HMAC-SHA256>`).
//!
//! Alerts are queued in the store when the run ends and posted by a task of their own, so a slow
//! or dead receiver never holds a run up; undelivered alerts are retried with backoff, also
//! after a restart.

use crate::api::Secret;
use crate::store::{PendingAlert, Store};
use base64::Engine as _;
use chrono::Utc;
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::watch;

/// Where alerts go and how they are signed.
#[derive(Clone)]
pub struct AlertSink {
    pub url: String,
    pub secret: Option<Secret>,
}

/// Queues the alert of a failed run (interrupted runs are not failures).
pub fn run_failed(store: &Store, report: &Value) {
    let run_id = report["run_id"].as_str().unwrap_or("?");
    let payload = json!({
        "type": "run.failed",
        "timestamp": crate::store::now_rfc3339(),
        "data": {
            "run_id": run_id,
            "recipe": report["recipe"],
            "origin": report["origin"],
            "outcome": report["outcome"],
            "error": report["error"],
        }
    });
    enqueue(store, &format!("msg_run_{run_id}"), "run.failed", &payload);
}

/// Queues the alert of a missed job (its missed report).
pub fn job_missed(store: &Store, report: &Value) {
    let id = report["run_id"].as_str().unwrap_or("?");
    let payload = json!({
        "type": "job.missed",
        "timestamp": crate::store::now_rfc3339(),
        "data": {
            "job_id": report["job_id"],
            "recipe": report["recipe"],
            "due_at": report["due_at"],
            "error": report["error"],
            "next": report["next"],
        }
    });
    enqueue(store, &format!("msg_{id}"), "job.missed", &payload);
}

/// Queues the alert of an inbox job refused for good: the file (now in `inbox/failed/`) and why.
pub fn job_refused(store: &Store, file: &str, reason: &str, at: &str) {
    let id = format!(
        "msg_refused_{}",
        crate::store::recipe_hash(&format!("{file}|{at}"))
    );
    let payload = json!({
        "type": "job.refused",
        "timestamp": at,
        "data": {"file": file, "reason": reason, "moved_to": format!("inbox/failed/{file}")},
    });
    enqueue(store, &id, "job.refused", &payload);
}

fn enqueue(store: &Store, id: &str, event: &str, payload: &Value) {
    if let Err(e) = store.alert_enqueue(id, event, payload) {
        tracing::error!("cannot queue the {event} alert {id}: {e}");
    }
}

/// The `webhook-signature` value of a message: `v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body` with the secret (a `whsec_` secret is base64; anything else is the key).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .unwrap_or_else(|_| hmac::Hmac::<sha2::Sha256>::new_from_slice(b"-").expect("HMAC key"));
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let sig = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(sig)
    )
}

/// How long after `attempts` failed posts the next one goes: 1 s doubling, at most 5 minutes
/// (1, 2, 4, … 256, then 300 s).
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(9)).min(Duration::from_secs(300))
}

/// Posts queued alerts until `stop`: every second, the ones due.
pub fn start(
    store: Store,
    sink: AlertSink,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        loop {
            let s = store.clone();
            let due = tokio::task::spawn_blocking(move || s.alerts_due(Utc::now(), 20)).await;
            match due {
                Ok(Ok(due)) => {
                    for alert in due {
                        deliver(&store, &sink, &http, alert).await;
                    }
                }
                Ok(Err(e)) => tracing::warn!("cannot read the alert queue: {e}"),
                Err(_) => {}
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    })
}

async fn deliver(store: &Store, sink: &AlertSink, http: &reqwest::Client, alert: PendingAlert) {
    let body = alert.payload.to_string();
    let timestamp = Utc::now().timestamp();
    let mut req = http
        .post(&sink.url)
        .header("content-type", "application/json")
        .header("webhook-id", &alert.id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(secret) = &sink.secret {
        req = req.header(
            "webhook-signature",
            sign(secret.expose(), &alert.id, timestamp, &body),
        );
    }
    let result = match req.body(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("the receiver answered {}", r.status().as_u16())),
        Err(e) => Err(format!("cannot reach the receiver: {}", without_url(e))),
    };
    let (s, id) = (store.clone(), alert.id.clone());
    let recorded = match result {
        Ok(()) => {
            crate::metrics::alert_delivered();
            tracing::info!("alert {} ({}) delivered", alert.id, alert.event);
            tokio::task::spawn_blocking(move || s.alert_delivered(&id)).await
        }
        Err(e) => {
            let wait = backoff(alert.attempts);
            tracing::warn!(
                "alert {} not delivered ({e}); next try in {} s",
                alert.id,
                wait.as_secs()
            );
            let next = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            tokio::task::spawn_blocking(move || s.alert_failed(&id, &e, next)).await
        }
    };
    if let Ok(Err(e)) = recorded {
        tracing::error!("cannot record the alert {}: {e}", alert.id);
    }
}

/// A transport error without its URL (it may carry credentials in its user part).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(8), Duration::from_secs(256));
        assert_eq!(backoff(9), Duration::from_secs(300));
        assert_eq!(backoff(20), Duration::from_secs(300));
    }
}
