//! `LISTEN/NOTIFY`: one connection of its own per process listens on `btw_jobs` and
//! `btw_events`, which the database's triggers notify when a job is added or brought back and
//! when an event is stored (see migration 2), and wakes the daemon's scheduler and dispatcher
//! at once. Their polling stays as the fallback: a lost connection is made again, and each
//! reconnection wakes both (something may have come in meanwhile).

use futures_util::stream::{self, StreamExt};
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

/// Receivers that change when another process (or this one) adds a job or stores an event.
/// `changed()` returns at once if something happened since the last look, so nothing that
/// arrives while the daemon is busy is lost.
#[derive(Clone, Debug)]
pub struct Wakeups {
    pub jobs: watch::Receiver<u64>,
    pub events: watch::Receiver<u64>,
}

/// The longest wait between two attempts to listen again.
const RETRY_MAX: Duration = Duration::from_secs(30);

impl super::Pg {
    /// The wakeups of this store; the listening connection starts on the first call.
    pub fn wakeups(&self) -> Wakeups {
        self.inner
            .wakeups
            .get_or_init(|| {
                let (jobs_tx, jobs) = watch::channel(0u64);
                let (events_tx, events) = watch::channel(0u64);
                let config = self.inner.config.clone();
                let shown = self.inner.display.clone();
                self.inner
                    .rt
                    .handle()
                    .spawn(listen(config, shown, jobs_tx, events_tx));
                Wakeups { jobs, events }
            })
            .clone()
    }
}

fn bump(tx: &watch::Sender<u64>) {
    tx.send_modify(|n| *n = n.wrapping_add(1));
}

/// Listens until every receiver is gone, connecting again after a failure.
async fn listen(
    config: tokio_postgres::Config,
    shown: String,
    jobs: watch::Sender<u64>,
    events: watch::Sender<u64>,
) {
    let mut wait = Duration::from_millis(500);
    while !(jobs.is_closed() && events.is_closed()) {
        match listen_once(&config, &jobs, &events).await {
            Ok(()) => wait = Duration::from_millis(500),
            Err(e) => {
                tracing::warn!(
                    "store {shown}: not listening for wakeups ({e}); polling until it is back"
                );
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
        tokio::time::sleep(wait).await;
    }
}

/// One listening connection, until it fails or nobody listens any more.
async fn listen_once(
    config: &tokio_postgres::Config,
    jobs: &watch::Sender<u64>,
    events: &watch::Sender<u64>,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    let (msg_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
    // The connection does its I/O only while polled: drive it here, passing notifications on.
    let driver = tokio::spawn(async move {
        let mut incoming = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = incoming.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if msg_tx.send(n.channel().to_string()).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("the connection closed".to_string())
    });
    client
        .batch_execute("LISTEN btw_jobs; LISTEN btw_events")
        .await
        .map_err(|e| e.to_string())?;
    // Listening now: whatever came before is for the polls, but wake them to look at once.
    bump(jobs);
    bump(events);
    loop {
        tokio::select! {
            channel = messages.recv() => match channel.as_deref() {
                Some("btw_jobs") => bump(jobs),
                Some("btw_events") => bump(events),
                Some(_) => {}
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_secs(5)) => {
                if jobs.is_closed() && events.is_closed() {
                    driver.abort();
                    return Ok(());
                }
            }
        }
    }
    drop(client);
    match driver.await {
        Ok(r) => r,
        Err(e) => Err(e.to_string()),
    }
}

/// Resolves when `wake` changes; never when there is none (SQLite) or it has closed, so a
/// `select!` branch on it is simply inert there and the loop's own timer polls.
pub async fn changed(wake: &mut Option<watch::Receiver<u64>>) {
    if let Some(rx) = wake {
        if rx.changed().await.is_ok() {
            return;
        }
        *wake = None;
    }
    std::future::pending::<()>().await
}
