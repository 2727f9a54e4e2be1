//! For tests: a fresh PostgreSQL database per test (`btw_test_<random>`), dropped when the
//! guard goes, failed test or not; and running one test body against both backends.
//!
//! The server is `BTW_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! When it does not answer, `BTW_TEST_POSTGRES=required` fails the test; otherwise the
//! PostgreSQL half is skipped, said once per test binary.

use crate::store::Store;
use std::io::Write;
use std::sync::OnceLock;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn base_url() -> String {
    std::env::var("BTW_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.into())
}

/// `url` naming the database `db` instead of its own.
pub fn with_database(url: &str, db: &str) -> String {
    let start = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[start..];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let after = &rest[host_end..];
    let query = after.find('?').map(|q| &after[q..]).unwrap_or("");
    format!("{}{}/{db}{query}", &url[..start], &rest[..host_end])
}

/// Runs one statement on the server (its own thread and runtime, so any test may call it).
fn admin(sql: String) -> Result<(), String> {
    let url = base_url();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
            config.connect_timeout(std::time::Duration::from_secs(5));
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let driver = tokio::spawn(conn);
            let r = client.batch_execute(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = driver.await;
            r
        })
    })
    .join()
    .map_err(|_| "the admin thread panicked".to_string())?
}

/// Whether the server answers (asked once); says so once when it does not.
fn available() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    *UP.get_or_init(|| match admin("SELECT 1".into()) {
        Ok(()) => true,
        Err(e) => {
            let required = std::env::var("BTW_TEST_POSTGRES").as_deref() == Ok("required");
            assert!(
                !required,
                "BTW_TEST_POSTGRES=required but PostgreSQL at {} does not answer: {e}",
                super::errors::redact_url(&base_url())
            );
            // Straight to the process's stderr: the test harness would capture (and hide)
            // `eprintln!` of a passing test, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "PostgreSQL tests skipped: {} does not answer ({e}); set BTW_TEST_POSTGRES_URL, or BTW_TEST_POSTGRES=required to fail instead",
                super::errors::redact_url(&base_url())
            );
            false
        }
    })
}

/// A database of its own for one test, dropped with the guard (when the test fails too).
pub struct TestDb {
    name: String,
    pub url: String,
}

impl TestDb {
    /// A fresh database, or `None` when PostgreSQL tests are skipped.
    pub fn create() -> Option<TestDb> {
        if !available() {
            return None;
        }
        let name = format!(
            "btw_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        if let Err(e) = admin(format!("CREATE DATABASE {name}")) {
            panic!("cannot create the test database {name}: {e}");
        }
        let url = with_database(&base_url(), &name);
        Some(TestDb { name, url })
    }

    pub fn open(&self) -> Store {
        Store::open(std::path::Path::new(&self.url)).expect("open the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // FORCE: the test's own pool may still hold connections.
        if let Err(e) = admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("cannot drop the test database {}: {e}", self.name);
        }
    }
}

/// Runs `body` on an in-memory SQLite store, then on a fresh PostgreSQL database (unless
/// PostgreSQL tests are skipped).
pub fn each_backend(body: impl Fn(Store)) {
    body(Store::in_memory());
    if let Some(db) = TestDb::create() {
        body(db.open());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_pointed_at_another_database() {
        assert_eq!(
            with_database("postgres://u:p@h:1/test?sslmode=disable", "x"),
            "postgres://u:p@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
