//! The bound on runs doing script work at once — inbox, on-drop, triggers and scheduled jobs
//! alike, one bound for all (`--max-runs`). A run holds a slot only while its script works: a
//! wait (`order::wait`, `events::wait`, `time::sleep`, `time::sleep_until`) gives the slot back
//! and takes one again to go on ([`crate::engine::WaitSlot`]), so runs waiting for BT cost no
//! slot and BT's own limit (the call limiter, `crate::api::limiter`) is what paces the daemon.
//! Each task is let go the moment it finishes, so memory stays flat however many runs a
//! daemon makes; shutdown waits for them.
//!
//! Why give the slot back and take it again rather than suspend the run durably (end its
//! thread, resume it from the store when the event or the timer comes): runs already resume
//! from their ledger after a crash, so a wait that spans a restart is covered; what a
//! suspension would add is freeing the parked thread, and a parked thread costs a few pages
//! of stack. Release-and-reacquire keeps one execution model (a script runs to its end on one
//! thread) and needs no replay on every wake-up.

use crate::engine::WaitSlot;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// The slots and the count of runs started and not yet finished (waiting ones included).
pub(super) struct RunSlots {
    slots: Arc<Semaphore>,
    max: usize,
    active: watch::Sender<usize>,
}

/// Counts a run out when its task ends, however it ends (a panic included).
struct Active(watch::Sender<usize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One run's slot: held while its script works, given back while it waits.
#[derive(Debug)]
pub(super) struct Slot {
    slots: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Slot {
    fn held(&self) -> std::sync::MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        self.permit.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl WaitSlot for Slot {
    fn release(&self) {
        self.held().take();
        crate::metrics::run_waits(1);
    }

    fn reacquire(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if self.held().is_some() {
                return;
            }
            // Never closed: a permit always comes.
            if let Ok(p) = self.slots.clone().acquire_owned().await {
                *self.held() = Some(p);
                crate::metrics::run_waits(-1);
            }
        })
    }
}

/// Waits for one of `slots` and takes it.
async fn take(slots: Arc<Semaphore>) -> Arc<Slot> {
    // Never closed: a permit always comes.
    let permit = slots.clone().acquire_owned().await.ok();
    Arc::new(Slot {
        slots,
        permit: Mutex::new(permit),
    })
}

impl RunSlots {
    pub(super) fn new(max: usize) -> Self {
        let max = max.max(1);
        RunSlots {
            slots: Arc::new(Semaphore::new(max)),
            max,
            active: watch::channel(0).0,
        }
    }

    /// Waits for a free slot and takes it: the run holds it until the [`Slot`] is dropped,
    /// except while it waits.
    pub(super) async fn take(&self) -> Arc<Slot> {
        take(self.slots.clone()).await
    }

    /// Slots free now: how many more runs could start their script work at once.
    pub(super) fn free(&self) -> usize {
        self.slots.available_permits()
    }

    /// The bound: runs doing script work at once.
    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// Runs doing script work now.
    pub(super) fn working(&self) -> usize {
        self.max.saturating_sub(self.free())
    }

    /// Starts `run` once a slot is free, handing it the slot; a detached task, so nothing is
    /// kept once it ends.
    pub(super) fn spawn<F>(&self, run: impl FnOnce(Arc<Slot>) -> F + Send + 'static)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.active.send_modify(|n| *n += 1);
        let active = Active(self.active.clone());
        let slots = self.slots.clone();
        tokio::spawn(async move {
            let _active = active;
            run(take(slots).await).await;
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
            slots.spawn(move |slot| async move {
                let _slot = slot;
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
        assert_eq!(slots.free(), 2);
    }

    #[tokio::test]
    async fn a_waiting_run_gives_its_slot_to_another_and_takes_one_again() {
        let slots = RunSlots::new(1);
        let first = slots.take().await;
        assert_eq!(slots.free(), 0);
        first.release();
        assert_eq!(slots.free(), 1, "released while waiting");
        let second = slots.take().await;
        assert_eq!(slots.working(), 1);
        // The first run's wait is over, but the only slot is taken: it waits its turn.
        let again = tokio::time::timeout(Duration::from_millis(50), first.reacquire()).await;
        assert!(again.is_err(), "two runs working in one slot");
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), first.reacquire())
            .await
            .unwrap();
        assert_eq!(slots.free(), 0);
        drop(first);
        assert_eq!(slots.free(), 1, "a finished run's slot is free");
    }
}
