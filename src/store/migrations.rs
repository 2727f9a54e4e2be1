//! Schema migrations: numbered, applied once each, in order, inside a transaction.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: runs and the ledger of mutating calls.
    r#"
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        script      TEXT NOT NULL,
        script_hash TEXT NOT NULL,
        params      TEXT NOT NULL,
        profile     TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        outcome     TEXT NOT NULL DEFAULT 'running',
        report      TEXT
    );
    CREATE TABLE ledger (
        run_id      TEXT NOT NULL,
        step        INTEGER NOT NULL,
        operation   TEXT NOT NULL,
        request     TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
        result      TEXT,
        error       TEXT,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (run_id, step)
    );
    "#,
    // 2: order notifications received from BT, and the furthest state seen per order.
    r#"
    CREATE TABLE notifications (
        event_id    TEXT PRIMARY KEY,
        order_id    TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        event_time  TEXT NOT NULL,
        state       TEXT,
        received_at TEXT NOT NULL,
        body        TEXT NOT NULL
    );
    CREATE INDEX notifications_order ON notifications (order_id, event_type);
    CREATE TABLE order_states (
        order_id    TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        rank        INTEGER NOT NULL,
        event_time  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    "#,
    // 3: the daemon: on-drop contents already run, and the runs it started (to resume after a stop).
    r#"
    CREATE TABLE daemon_seen (
        path        TEXT NOT NULL,
        hash        TEXT NOT NULL,
        run_id      TEXT,
        seen_at     TEXT NOT NULL,
        PRIMARY KEY (path, hash)
    );
    CREATE TABLE daemon_runs (
        run_id      TEXT PRIMARY KEY,
        recipe      TEXT NOT NULL,
        params      TEXT NOT NULL,
        origin      TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'interrupted')),
        started_at  TEXT NOT NULL,
        finished_at TEXT
    );
    "#,
    // 4: scheduled jobs (src/store/jobs.rs). Times are UTC RFC 3339 with milliseconds and `Z`,
    // so text order is time order.
    r#"
    CREATE TABLE jobs (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL CHECK (kind IN ('at', 'cron')),
        at            TEXT,
        cron          TEXT,
        tz            TEXT NOT NULL DEFAULT 'Europe/London',
        recipe        TEXT NOT NULL,
        params        TEXT NOT NULL,
        next_run_at   TEXT,
        state         TEXT NOT NULL CHECK (state IN
                        ('scheduled', 'running', 'done', 'missed', 'cancelled', 'failed')),
        run_id        TEXT,
        lease_owner   TEXT,
        lease_until   TEXT,
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_outcome  TEXT,
        last_run_id   TEXT,
        catch_up_secs INTEGER,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX jobs_due ON jobs (state, next_run_at);
    "#,
    // 5: one execution per run id (src/store/leases.rs).
    r#"
    CREATE TABLE run_leases (
        run_id      TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    );
    "#,
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    // Several btw processes may open a new store at once: the write lock is taken before the
    // version is read, so exactly one of them migrates and the others find it done.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match migrate_locked(conn) {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn migrate_locked(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        conn.execute_batch(sql)?;
        conn.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )?;
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS btw_values (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )?;
    super::recipes::migrate(conn)?;
    super::daemon::migrate(conn)?;
    super::dispatch::migrate(conn)?;
    super::alerts::migrate(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_harmless() {
        let c = Connection::open_in_memory().unwrap();
        migrate(&c).unwrap();
        migrate(&c).unwrap();
        let v: i64 = c
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn processes_opening_a_new_store_at_once_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || crate::store::Store::open(&path).map(|_| ()))
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
    }
}
