//! The notification listener, registered when a run first needs it: before its first mutating
//! call or its first wait. A recipe that only reads starts and registers nothing.

use super::CallbackListener;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// A listener that is running and, for the sandbox, subscribed.
pub struct Registered {
    pub listener: CallbackListener,
    /// The sandbox subscription, when there is one.
    pub subscription: Option<String>,
}

/// How to start and register the listener; `None` when it could not (waits then poll).
pub type Registration = Pin<Box<dyn Future<Output = Option<Registered>> + Send>>;

/// The listener of a session, registered at most once, on first need. Clones share it.
#[derive(Clone)]
pub struct OnDemand(Arc<Inner>);

struct Inner {
    start: Mutex<Option<Registration>>,
    /// Whether notifications are received, once registration was tried.
    tried: OnceCell<bool>,
    registered: Mutex<Option<Registered>>,
}

impl OnDemand {
    /// Registers with `start` when [`OnDemand::ensure`] is first called.
    pub fn new(start: Registration) -> OnDemand {
        OnDemand(Arc::new(Inner {
            start: Mutex::new(Some(start)),
            tried: OnceCell::new(),
            registered: Mutex::new(None),
        }))
    }

    /// Registers now (the daemon's durable subscription, which must not wait for a run).
    pub async fn eager(start: Registration) -> OnDemand {
        let me = OnDemand::new(start);
        me.ensure().await;
        me
    }

    /// Starts and registers the listener unless that was done (or tried); whether
    /// notifications are being received. Concurrent callers wait for the one registration.
    pub async fn ensure(&self) -> bool {
        *self
            .0
            .tried
            .get_or_init(|| async {
                let start = self.lock_start().take();
                let Some(start) = start else { return false };
                let registered = start.await;
                let ok = registered.is_some();
                *self.lock_registered() = registered;
                ok
            })
            .await
    }

    /// Whether registration was tried and the listener runs.
    pub fn is_registered(&self) -> bool {
        self.0.tried.get() == Some(&true)
    }

    /// Where notifications are received, once registered.
    pub fn url(&self) -> Option<String> {
        self.lock_registered().as_ref().map(|r| r.listener.url())
    }

    /// The registration to undo on close; after this, nothing registers any more.
    pub fn take(&self) -> Option<Registered> {
        self.lock_start().take();
        self.lock_registered().take()
    }

    fn lock_start(&self) -> std::sync::MutexGuard<'_, Option<Registration>> {
        self.0.start.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_registered(&self) -> std::sync::MutexGuard<'_, Option<Registered>> {
        self.0.registered.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn registers_once_on_first_need_and_never_after_take() {
        let tries = Arc::new(AtomicUsize::new(0));
        let t = tries.clone();
        let lazy = OnDemand::new(Box::pin(async move {
            t.fetch_add(1, Ordering::SeqCst);
            None
        }));
        assert_eq!(tries.load(Ordering::SeqCst), 0);
        let other = lazy.clone();
        let (a, b) = tokio::join!(lazy.ensure(), other.ensure());
        assert!(!a && !b);
        assert!(!lazy.ensure().await);
        assert_eq!(tries.load(Ordering::SeqCst), 1);

        let never = Arc::new(AtomicUsize::new(0));
        let n = never.clone();
        let closed = OnDemand::new(Box::pin(async move {
            n.fetch_add(1, Ordering::SeqCst);
            None
        }));
        assert!(closed.take().is_none());
        assert!(!closed.ensure().await);
        assert_eq!(never.load(Ordering::SeqCst), 0);
    }
}
