//! The sandbox the bench measures against: in memory, on port 0, on its own tokio runtime (its
//! own two worker threads), so serving requests never queues behind the client's tasks.

use btw_sandbox::{self as sandbox, faults::FaultRule, SandboxConfig};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// A sandbox running on its own runtime until dropped.
pub struct BenchSandbox {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BenchSandbox {
    /// Starts a fresh in-memory sandbox; `latency_ms` > 0 adds that delay to every API call.
    pub fn start(latency_ms: u64) -> std::io::Result<BenchSandbox> {
        Self::start_with(latency_ms, None)
    }

    /// [`BenchSandbox::start`], keeping its state in `state_file` when given.
    pub fn start_with(
        latency_ms: u64,
        state_file: Option<std::path::PathBuf>,
    ) -> std::io::Result<BenchSandbox> {
        let mut config = SandboxConfig {
            order_step_secs: 0.5,
            state_file,
            ..SandboxConfig::default()
        };
        if latency_ms > 0 {
            config.faults.push(FaultRule {
                latency_ms,
                ..FaultRule::default()
            });
        }
        let (url_tx, url_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-sandbox".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("bench-sandbox-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = url_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match sandbox::start_on("127.0.0.1:0", config).await {
                        Ok(h) => {
                            let _ = url_tx.send(Ok(h.base_url()));
                            let _ = stopped.await;
                            h.shutdown().await;
                        }
                        Err(e) => {
                            let _ = url_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let url = url_rx
            .recv()
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(BenchSandbox {
            url,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for BenchSandbox {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl BenchSandbox {
    /// Stops it without blocking the caller's async workers.
    pub async fn stop(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }
}
