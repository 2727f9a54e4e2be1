//! The PostgreSQL backend: several daemons, on one machine or several, share one database.
//!
//! The store's interface is synchronous (callers are blocking threads, `spawn_blocking` and
//! scripts), while the driver (tokio-postgres, pooled by deadpool) is async. The backend owns a
//! small tokio runtime of its own (two threads): it drives the connections' sockets and timers,
//! and each call enters it and waits for its future on the calling thread. That works from any
//! thread, a worker of the caller's own runtime included, where a `Runtime::block_on` would
//! panic; and the futures need not be `'static` or `Send`.
//!
//! The statements are the store's shared ones, run through this backend's side of the executor
//! (`exec.rs`); what is only PostgreSQL's is here: the pool and runtime, LISTEN/NOTIFY
//! wake-ups (`listen.rs`), connection errors said plainly (`errors.rs`) and the write probe.

mod errors;
mod exec;
mod listen;
/// Test support, shared by the library's and the integration tests.
#[doc(hidden)]
pub mod testing;
mod upkeep;

pub use listen::{changed as woken, Wakeups};

use super::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use errors::PgErr;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_postgres::NoTls;

/// Connections a process keeps open at most.
const POOL_SIZE: usize = 16;
/// How long making a connection, or waiting for a free one, may take before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The PostgreSQL store. Cheap to clone; clones share one pool and runtime.
#[derive(Clone)]
pub(crate) struct Pg {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    config: tokio_postgres::Config,
    /// The URL without its password: what errors and `btw status` show.
    display: String,
    /// The password, so no message ever carries it even if a driver's text did.
    secret: Option<String>,
    wakeups: OnceLock<Wakeups>,
    rt: RuntimeGuard,
}

/// The backend's runtime; dropped without waiting, since the last store handle may go away on
/// a thread of another runtime, where a blocking shutdown panics.
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl RuntimeGuard {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("runtime kept until drop").handle()
    }
}

impl Pg {
    /// Connects to the database at `url`, checks it answers, and migrates its schema.
    pub fn connect(url: &str) -> Result<Pg, StoreError> {
        let display = errors::redact_url(url);
        let fail = |detail: String| StoreError {
            path: display.clone(),
            detail,
        };
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| fail(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(fail(
                "sslmode=require: btw connects without TLS for now; use sslmode=prefer or disable, on a private network or through a tunnel".into(),
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // libpq's variable, so the password need not be in the URL (nor in btw.toml).
        if config.get_password().is_none() {
            if let Some(pw) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
                config.password(pw);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("btw");
        }
        let secret = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .filter(|p| !p.is_empty());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("btw-store-pg")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start the store's runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(WAIT_TIMEOUT))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let pg = Pg {
            inner: Arc::new(Inner {
                pool,
                config,
                display,
                secret,
                wakeups: OnceLock::new(),
                rt: RuntimeGuard(Some(rt)),
            }),
        };
        pg.with(crate::store::migrations::migrate)?;
        Ok(pg)
    }

    /// The URL without its password.
    pub fn display_url(&self) -> &str {
        &self.inner.display
    }

    /// Runs `f` to completion on the calling thread, inside this backend's runtime.
    /// Unconstrained: called from a task of the caller's runtime, tokio's cooperative budget
    /// would be that task's, and once spent it would make the pool's semaphore yield forever
    /// to an executor that re-polls at once.
    fn block<T>(&self, f: impl Future<Output = Result<T, PgErr>>) -> Result<T, StoreError> {
        self.wait(f).map_err(|e| self.error(e))
    }

    /// One future, waited for on this thread inside the backend's runtime (see [`Pg::block`]).
    fn wait<T, E: Into<PgErr>>(&self, f: impl Future<Output = Result<T, E>>) -> Result<T, PgErr> {
        let _entered = self.inner.rt.handle().enter();
        futures_executor::block_on(tokio::task::unconstrained(f)).map_err(Into::into)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, PgErr> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| errors::explain_pool(e, &self.inner.config))
    }

    pub(crate) fn error(&self, e: PgErr) -> StoreError {
        let mut detail = e.0;
        if let Some(secret) = &self.inner.secret {
            detail = detail.replace(secret.as_str(), "***");
        }
        StoreError {
            path: self.inner.display.clone(),
            detail,
        }
    }
}
#[cfg(test)]
mod tests;
