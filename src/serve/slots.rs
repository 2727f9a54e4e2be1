//! The runs the daemon starts from the inbox, on-drop recipes and notifications: at most a set
//! number at once (BT rate-limits), the rest waiting their turn; each task is let go the moment
//! it finishes, so memory stays flat however many runs a daemon makes; shutdown waits for them.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::{watch, Semaphore};

/// The slots and the count of runs started and not yet finished (waiting ones included).
pub(super) struct RunSlots {
    slots: Arc<Semaphore>,
    active: watch::Sender<usize>,
}

/// Counts a run out when its task ends, however it ends (a panic included).
struct Active(watch::Sender<usize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl RunSlots {
    pub(super) fn new(max: usize) -> Self {
        RunSlots {
            slots: Arc::new(Semaphore::new(max.max(1))),
            active: watch::channel(0).0,
        }
    }

    /// Starts `run` once a slot is free; a detached task, so nothing is kept once it ends.
    pub(super) fn spawn(&self, run: impl Future<Output = ()> + Send + 'static) {
        self.active.send_modify(|n| *n += 1);
        let active = Active(self.active.clone());
        let slots = self.slots.clone();
        tokio::spawn(async move {
            let _active = active;
            // Never closed: a permit always comes.
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            run.await;
        });
    }

    /// Runs started and not finished.
    pub(super) fn active(&self) -> usize {
        *self.active.borrow()
    }

    /// Waits until every run started has finished.
    pub(super) async fn drained(&self) {
        let mut rx = self.active.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn at_most_max_run_at_once_and_all_finish() {
        let slots = RunSlots::new(2);
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let (now, peak) = (now.clone(), peak.clone());
            slots.spawn(async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                now.fetch_sub(1, Ordering::SeqCst);
            });
        }
        tokio::time::timeout(Duration::from_secs(10), slots.drained())
            .await
            .unwrap();
        assert_eq!(slots.active(), 0);
        assert!(peak.load(Ordering::SeqCst) <= 2);
    }
}
