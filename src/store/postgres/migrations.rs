//! PostgreSQL's schema migrations: numbered, applied once each, in order, in one transaction
//! under an advisory lock, so daemons starting together on a new database migrate it once.
//!
//! The tables are SQLite's (see `../migrations.rs`), with the same column names and types
//! (TEXT times in RFC 3339 milliseconds, BIGINT integers), gathered into one first version;
//! time columns compare byte by byte (`COLLATE "C"`) whatever the database's collation, so
//! text order is time order as in SQLite;
//! `seq` columns stand in for SQLite's rowid where listings break ties by insertion order.

use super::errors::PgErr;

/// Taken for the migration transaction only: any 64-bit constant unique to btw.
const MIGRATION_LOCK: i64 = 0x6274_775f_6d69_6772; // "btw_migr"

const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's store has.
    r#"
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        script      TEXT NOT NULL,
        script_hash TEXT NOT NULL,
        params      TEXT NOT NULL,
        profile     TEXT NOT NULL,
        started_at  TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C",
        outcome     TEXT NOT NULL DEFAULT 'running',
        report      TEXT,
        seq         BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE TABLE ledger (
        run_id      TEXT NOT NULL,
        step        BIGINT NOT NULL,
        operation   TEXT NOT NULL,
        request     TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
        result      TEXT,
        error       TEXT,
        started_at  TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C",
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE notifications (
        event_id      TEXT PRIMARY KEY,
        order_id      TEXT NOT NULL,
        event_type    TEXT NOT NULL,
        event_time    TEXT COLLATE "C" NOT NULL,
        state         TEXT,
        received_at   TEXT COLLATE "C" NOT NULL,
        body          TEXT NOT NULL,
        dispatched_at TEXT COLLATE "C",
        seq           BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX notifications_order ON notifications (order_id, event_type);
    CREATE INDEX notifications_undispatched ON notifications (received_at)
        WHERE dispatched_at IS NULL;
    CREATE TABLE order_states (
        order_id    TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        rank        BIGINT NOT NULL,
        event_time  TEXT COLLATE "C" NOT NULL,
        updated_at  TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE daemon_seen (
        path        TEXT NOT NULL,
        hash        TEXT NOT NULL,
        run_id      TEXT,
        seen_at     TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (path, hash)
    );
    CREATE TABLE daemon_runs (
        run_id      TEXT PRIMARY KEY,
        recipe      TEXT NOT NULL,
        params      TEXT NOT NULL,
        origin      TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'interrupted')),
        started_at  TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C",
        attempts    BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE jobs (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL CHECK (kind IN ('at', 'cron')),
        at            TEXT COLLATE "C",
        cron          TEXT,
        tz            TEXT NOT NULL DEFAULT 'Europe/London',
        recipe        TEXT NOT NULL,
        params        TEXT NOT NULL,
        next_run_at   TEXT COLLATE "C",
        state         TEXT NOT NULL CHECK (state IN
                        ('scheduled', 'running', 'done', 'missed', 'cancelled', 'failed')),
        run_id        TEXT,
        lease_owner   TEXT,
        lease_until   TEXT COLLATE "C",
        attempts      BIGINT NOT NULL DEFAULT 0,
        last_outcome  TEXT,
        last_run_id   TEXT,
        catch_up_secs BIGINT,
        created_at    TEXT COLLATE "C" NOT NULL,
        updated_at    TEXT COLLATE "C" NOT NULL,
        recipe_hash   TEXT,
        owner_recipe  TEXT
    );
    CREATE INDEX jobs_due ON jobs (state, next_run_at);
    CREATE TABLE run_leases (
        run_id      TEXT PRIMARY KEY,
        owner       TEXT NOT NULL,
        expires_at  TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE recipe_versions (
        hash        TEXT PRIMARY KEY,
        path        TEXT NOT NULL,
        source      TEXT NOT NULL,
        stored_at   TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE recipe_heads (
        path        TEXT PRIMARY KEY,
        hash        TEXT NOT NULL REFERENCES recipe_versions (hash),
        updated_at  TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE daemon_heartbeat (
        owner       TEXT PRIMARY KEY,
        pid         BIGINT NOT NULL,
        recipes     TEXT NOT NULL,
        beat_at     TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE alert_queue (
        id           TEXT PRIMARY KEY,
        event        TEXT NOT NULL,
        payload      TEXT NOT NULL,
        attempts     BIGINT NOT NULL DEFAULT 0,
        next_at      TEXT COLLATE "C" NOT NULL,
        delivered_at TEXT COLLATE "C",
        last_error   TEXT,
        created_at   TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX alert_queue_due ON alert_queue (delivered_at, next_at);
    CREATE TABLE btw_values (
        key         TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    );
    "#,
    // 2: wake idle daemons: a job added or made due again, an event stored (see listen.rs).
    // PostgreSQL folds the notifications of one transaction on one channel into one.
    r#"
    CREATE FUNCTION btw_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('btw_jobs', ''); RETURN NULL; END $$;
    CREATE FUNCTION btw_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('btw_events', ''); RETURN NULL; END $$;
    CREATE TRIGGER jobs_wake AFTER INSERT OR UPDATE OF state, next_run_at ON jobs
        FOR EACH ROW WHEN (NEW.state = 'scheduled') EXECUTE FUNCTION btw_notify_jobs();
    CREATE TRIGGER notifications_wake AFTER INSERT ON notifications
        FOR EACH STATEMENT EXECUTE FUNCTION btw_notify_events();
    "#,
    // 3: the daemon that queued or last started a run, so a live daemon can take over the
    // runs of a dead one (NULL: recorded before runs had owners).
    r#"
    ALTER TABLE daemon_runs ADD COLUMN owner TEXT;
    "#,
];

/// Brings the schema up to date; harmless when it is.
pub(super) async fn migrate(client: &mut deadpool_postgres::Object) -> Result<(), PgErr> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS btw_schema_version (version BIGINT NOT NULL)")
        .await?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM btw_schema_version",
            &[],
        )
        .await?
        .get(0);
    if current > MIGRATIONS.len() as i64 {
        return Err(PgErr(format!(
            "the database's schema is version {current}, newer than this btw knows ({}): upgrade btw",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO btw_schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
