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
];

pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
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
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )?;
        tx.commit()?;
    }
    Ok(())
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
}
