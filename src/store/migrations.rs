//! The schema, described once for both databases, and how each is brought up to date.
//!
//! Tables are written in their present form with three words the engines spell differently
//! ([`ddl`]): `{int}` (SQLite's INTEGER, PostgreSQL's BIGINT), `{time}` (TEXT; on PostgreSQL
//! compared byte by byte, `COLLATE "C"`, whatever the database's collation, so text order is
//! time order as in SQLite) and `{seq}` (PostgreSQL's insertion-order column, standing in for
//! SQLite's rowid). Each step says when each engine takes it, so the version numbers that
//! stores made by earlier versions of btw carry keep their meaning:
//!
//! - SQLite (`schema_version`): versions 1 to 5 made the first tables; what came later is
//!   checked on every open (`IF NOT EXISTS`, or a column added when it is missing).
//! - PostgreSQL (`btw_schema_version`): version 1 made every table, 2 its wake-up triggers
//!   (see `postgres/listen.rs`), 3 the daemon runs' owner, 4 the jobs' sandbox clock, 5 recipe jobs keyed by name.
//! - SQLite version 6: recipe jobs keyed by name.
//!
//! A new change is one more step, numbered for both engines.

use super::exec::{args, DbErr, Engine, Exec};
use super::rows::Cols;

/// When an engine takes a step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    /// Once, with this schema version.
    Version(i64),
    /// On every open: the step is idempotent.
    EveryOpen,
    Never,
}

/// What a step does.
enum Change {
    /// Statements in the schema's own spelling (see [`ddl`]).
    Sql(&'static str),
    /// Rows rewritten by code (what SQL alone cannot compute), once.
    Code(fn(&mut dyn Exec) -> Result<(), DbErr>),
    /// A column added where it is missing, then `then` run once (for the rows already there).
    Column {
        table: &'static str,
        column: &'static str,
        ty: &'static str,
        then: Option<&'static str>,
    },
}

struct Step {
    sqlite: When,
    postgres: When,
    change: Change,
}

use Change::{Code, Column, Sql};
use When::{EveryOpen, Never, Version};

const STEPS: &[Step] = &[
    // Runs and the ledger of mutating calls.
    Step {
        sqlite: Version(1),
        postgres: Version(1),
        change: Sql("
            CREATE TABLE runs (
                run_id      TEXT PRIMARY KEY,
                script      TEXT NOT NULL,
                script_hash TEXT NOT NULL,
                params      TEXT NOT NULL,
                profile     TEXT NOT NULL,
                started_at  {time} NOT NULL,
                finished_at {time},
                outcome     TEXT NOT NULL DEFAULT 'running',
                report      TEXT{seq}
            );
            CREATE TABLE ledger (
                run_id      TEXT NOT NULL,
                step        {int} NOT NULL,
                operation   TEXT NOT NULL,
                request     TEXT NOT NULL,
                state       TEXT NOT NULL CHECK (state IN ('started', 'done', 'failed')),
                result      TEXT,
                error       TEXT,
                started_at  {time} NOT NULL,
                finished_at {time},
                PRIMARY KEY (run_id, step)
            );"),
    },
    // Order notifications received from BT, and the furthest state seen per order.
    Step {
        sqlite: Version(2),
        postgres: Version(1),
        change: Sql("
            CREATE TABLE notifications (
                event_id      TEXT PRIMARY KEY,
                order_id      TEXT NOT NULL,
                event_type    TEXT NOT NULL,
                event_time    {time} NOT NULL,
                state         TEXT,
                received_at   {time} NOT NULL,
                body          TEXT NOT NULL,
                dispatched_at {time}{seq}
            );
            CREATE INDEX notifications_order ON notifications (order_id, event_type);
            CREATE TABLE order_states (
                order_id    TEXT PRIMARY KEY,
                state       TEXT NOT NULL,
                rank        {int} NOT NULL,
                event_time  {time} NOT NULL,
                updated_at  {time} NOT NULL
            );"),
    },
    // The daemon: on-drop contents and event keys already run, and the runs it started (to
    // resume after a stop, or to be taken over from a dead daemon by its `owner`).
    Step {
        sqlite: Version(3),
        postgres: Version(1),
        change: Sql("
            CREATE TABLE daemon_seen (
                path        TEXT NOT NULL,
                hash        TEXT NOT NULL,
                run_id      TEXT,
                seen_at     {time} NOT NULL,
                PRIMARY KEY (path, hash)
            );
            CREATE TABLE daemon_runs (
                run_id      TEXT PRIMARY KEY,
                recipe      TEXT NOT NULL,
                params      TEXT NOT NULL,
                origin      TEXT NOT NULL,
                state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'interrupted')),
                started_at  {time} NOT NULL,
                finished_at {time},
                attempts    {int} NOT NULL DEFAULT 0
            );"),
    },
    // Scheduled jobs (`store/jobs.rs`). Times are UTC RFC 3339 with milliseconds and `Z`, so
    // text order is time order.
    Step {
        sqlite: Version(4),
        postgres: Version(1),
        change: Sql("
            CREATE TABLE jobs (
                id            TEXT PRIMARY KEY,
                kind          TEXT NOT NULL CHECK (kind IN ('at', 'cron')),
                at            {time},
                cron          TEXT,
                tz            TEXT NOT NULL DEFAULT 'Europe/London',
                recipe        TEXT NOT NULL,
                params        TEXT NOT NULL,
                next_run_at   {time},
                state         TEXT NOT NULL CHECK (state IN
                                ('scheduled', 'running', 'done', 'missed', 'cancelled', 'failed')),
                run_id        TEXT,
                lease_owner   TEXT,
                lease_until   {time},
                attempts      {int} NOT NULL DEFAULT 0,
                last_outcome  TEXT,
                last_run_id   TEXT,
                catch_up_secs {int},
                created_at    {time} NOT NULL,
                updated_at    {time} NOT NULL,
                recipe_hash   TEXT,
                owner_recipe  TEXT
            );
            CREATE INDEX jobs_due ON jobs (state, next_run_at);"),
    },
    // One execution per run id (`store/leases.rs`).
    Step {
        sqlite: Version(5),
        postgres: Version(1),
        change: Sql("
            CREATE TABLE run_leases (
                run_id      TEXT PRIMARY KEY,
                owner       TEXT NOT NULL,
                expires_at  {time} NOT NULL
            );"),
    },
    // Recipe versions, watched recipes' last good versions, daemons' heartbeats, the alert
    // queue and btw's own small values.
    Step {
        sqlite: EveryOpen,
        postgres: Version(1),
        change: Sql("
            CREATE TABLE IF NOT EXISTS recipe_versions (
                hash        TEXT PRIMARY KEY,
                path        TEXT NOT NULL,
                source      TEXT NOT NULL,
                stored_at   {time} NOT NULL
            );
            CREATE TABLE IF NOT EXISTS recipe_heads (
                path        TEXT PRIMARY KEY,
                hash        TEXT NOT NULL REFERENCES recipe_versions (hash),
                updated_at  {time} NOT NULL
            );
            CREATE TABLE IF NOT EXISTS daemon_heartbeat (
                owner       TEXT PRIMARY KEY,
                pid         {int} NOT NULL,
                recipes     TEXT NOT NULL,
                beat_at     {time} NOT NULL
            );
            CREATE TABLE IF NOT EXISTS alert_queue (
                id           TEXT PRIMARY KEY,
                event        TEXT NOT NULL,
                payload      TEXT NOT NULL,
                attempts     {int} NOT NULL DEFAULT 0,
                next_at      {time} NOT NULL,
                delivered_at {time},
                last_error   TEXT,
                created_at   {time} NOT NULL
            );
            CREATE INDEX IF NOT EXISTS alert_queue_due ON alert_queue (delivered_at, next_at);
            CREATE TABLE IF NOT EXISTS btw_values (
                key         TEXT PRIMARY KEY,
                value       TEXT NOT NULL
            );"),
    },
    // Columns SQLite stores made before they were in the tables above.
    Step {
        sqlite: EveryOpen,
        postgres: Never,
        change: Column {
            table: "jobs",
            column: "recipe_hash",
            ty: "TEXT",
            then: None,
        },
    },
    Step {
        sqlite: EveryOpen,
        postgres: Never,
        change: Column {
            table: "jobs",
            column: "owner_recipe",
            ty: "TEXT",
            then: None,
        },
    },
    Step {
        sqlite: EveryOpen,
        postgres: Never,
        change: Column {
            table: "daemon_runs",
            column: "attempts",
            ty: "{int} NOT NULL DEFAULT 0",
            then: None,
        },
    },
    // Events stored before dispatching existed count as dispatched (their triggers ran the
    // old way, or never will).
    Step {
        sqlite: EveryOpen,
        postgres: Never,
        change: Column {
            table: "notifications",
            column: "dispatched_at",
            ty: "{time}",
            then: Some("UPDATE notifications SET dispatched_at = received_at"),
        },
    },
    Step {
        sqlite: EveryOpen,
        postgres: Version(1),
        change: Sql("
            CREATE INDEX IF NOT EXISTS notifications_undispatched ON notifications (received_at)
                WHERE dispatched_at IS NULL;"),
    },
    // Wake idle daemons: a job added or made due again, an event stored (see
    // `postgres/listen.rs`). PostgreSQL folds the notifications of one transaction on one
    // channel into one.
    Step {
        sqlite: Never,
        postgres: Version(2),
        change: Sql("
            CREATE FUNCTION btw_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('btw_jobs', ''); RETURN NULL; END $$;
            CREATE FUNCTION btw_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('btw_events', ''); RETURN NULL; END $$;
            CREATE TRIGGER jobs_wake AFTER INSERT OR UPDATE OF state, next_run_at ON jobs
                FOR EACH ROW WHEN (NEW.state = 'scheduled') EXECUTE FUNCTION btw_notify_jobs();
            CREATE TRIGGER notifications_wake AFTER INSERT ON notifications
                FOR EACH STATEMENT EXECUTE FUNCTION btw_notify_events();"),
    },
    // The daemon that queued or last started a run, so a live daemon can take over the runs
    // of a dead one (NULL: recorded before runs had owners).
    Step {
        sqlite: EveryOpen,
        postgres: Version(3),
        change: Column {
            table: "daemon_runs",
            column: "owner",
            ty: "TEXT",
            then: None,
        },
    },
    // The sandbox clock an `at` job was scheduled on (NULL: real time, or the shared clock).
    Step {
        sqlite: EveryOpen,
        postgres: Version(4),
        change: Column {
            table: "jobs",
            column: "clock",
            ty: "TEXT",
            then: None,
        },
    },
    // Recipe jobs keyed by name: when the version a recipe's job is pinned to was saved (the
    // file's modification time), so an older version never re-pins the job over a newer one.
    Step {
        sqlite: EveryOpen,
        postgres: Version(5),
        change: Column {
            table: "jobs",
            column: "recipe_saved_at",
            ty: "{time}",
            then: None,
        },
    },
    // Recipe jobs keyed by name: ids made from the recipe's full path become ids made from its
    // name in its folder (`recipe_job_id`).
    Step {
        sqlite: Version(6),
        postgres: Version(5),
        change: Code(rekey_recipe_jobs),
    },
];

/// Re-keys the jobs recipes' headers made: `recipe-HASH(path|trigger)` becomes
/// `recipe-HASH(name|trigger)`. Where daemons at different paths made one job each for the same
/// recipe, the live (then the latest) one takes the id and the others are cancelled, saying so.
/// Jobs whose id was not made that way (added by hand) are left as they are.
fn rekey_recipe_jobs(x: &mut dyn Exec) -> Result<(), DbErr> {
    if !has_column(x, "jobs", "owner_recipe")? {
        return Ok(()); // A store older than recipes' jobs: nothing to re-key.
    }
    let mut jobs = x.rows(
        "SELECT id, kind, at, cron, tz, owner_recipe, state, updated_at FROM jobs
         WHERE owner_recipe IS NOT NULL",
        args![],
        |r| {
            Ok((
                r.req_text(0)?,
                r.req_text(1)?,
                r.time(2)?,
                r.text(3)?,
                r.req_text(4)?,
                r.req_text(5)?,
                r.req_text(6)?,
                r.req_text(7)?,
            ))
        },
    )?;
    let live = |state: &str| state == "scheduled" || state == "running";
    jobs.sort_by(|a, b| (live(&b.6), &b.7).cmp(&(live(&a.6), &a.7)));
    for (id, kind, at, cron, tz, owner, _, _) in jobs {
        let key = match (kind.as_str(), at, cron) {
            ("at", Some(at), _) => format!("at:{}", at.to_rfc3339()),
            ("cron", _, Some(expr)) => format!("cron:{expr}:{tz}"),
            _ => continue,
        };
        if id != format!("recipe-{}", super::recipe_hash(&format!("{owner}|{key}"))) {
            continue;
        }
        let name = std::path::Path::new(&owner)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&owner)
            .to_string();
        let new = super::recipe_job_id(&name, &key);
        if new == id {
            continue;
        }
        if x.count("SELECT COUNT(*) FROM jobs WHERE id = $1", args![&new])? > 0 {
            x.execute(
                "UPDATE jobs SET state = 'cancelled', last_outcome = $2
                 WHERE id = $1 AND state IN ('scheduled', 'running')",
                args![
                    id,
                    format!(
                        "cancelled: merged into job {new} (one job per recipe name and trigger)"
                    )
                ],
            )?;
            continue;
        }
        x.execute("UPDATE jobs SET id = $2 WHERE id = $1", args![id, new])?;
    }
    Ok(())
}

/// Taken on PostgreSQL for the migration transaction only, so daemons starting together on a
/// new database migrate it once (SQLite's `BEGIN IMMEDIATE` does the same): "btw_migr".
const MIGRATION_LOCK: i64 = 0x6274_775f_6d69_6772;

/// A schema statement as `engine` spells it.
fn ddl(sql: &str, engine: Engine) -> String {
    let (int, time, seq) = match engine {
        Engine::Sqlite => ("INTEGER", "TEXT", ""),
        Engine::Postgres => (
            "BIGINT",
            "TEXT COLLATE \"C\"",
            ",\n                seq         BIGINT GENERATED ALWAYS AS IDENTITY",
        ),
    };
    sql.replace("{int}", int)
        .replace("{time}", time)
        .replace("{seq}", seq)
}

fn when(step: &Step, engine: Engine) -> When {
    match engine {
        Engine::Sqlite => step.sqlite,
        Engine::Postgres => step.postgres,
    }
}

/// The newest schema version `engine` has.
fn latest(engine: Engine) -> i64 {
    STEPS
        .iter()
        .filter_map(|s| match when(s, engine) {
            Version(v) => Some(v),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

fn has_column(x: &mut dyn Exec, table: &str, column: &str) -> Result<bool, DbErr> {
    let sql = match x.engine() {
        Engine::Sqlite => "SELECT COUNT(*) FROM pragma_table_info($1) WHERE name = $2",
        Engine::Postgres => {
            "SELECT COUNT(*) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
        }
    };
    Ok(x.count(sql, args![table, column])? > 0)
}

fn apply(x: &mut dyn Exec, change: &Change) -> Result<(), DbErr> {
    let engine = x.engine();
    match change {
        Sql(sql) => x.batch(&ddl(sql, engine)),
        Code(f) => f(x),
        Column {
            table,
            column,
            ty,
            then,
        } => {
            if has_column(x, table, column)? {
                return Ok(());
            }
            x.batch(&ddl(
                &format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"),
                engine,
            ))?;
            match then {
                Some(sql) => x.batch(sql),
                None => Ok(()),
            }
        }
    }
}

/// Brings the schema up to date, in one transaction; harmless when it is.
pub(super) fn migrate(x: &mut dyn Exec) -> Result<(), DbErr> {
    x.in_transaction(|x| {
        let engine = x.engine();
        let versions = match engine {
            Engine::Sqlite => "schema_version",
            Engine::Postgres => {
                x.execute("SELECT pg_advisory_xact_lock($1)", args![MIGRATION_LOCK])?;
                "btw_schema_version"
            }
        };
        x.batch(&ddl(
            &format!("CREATE TABLE IF NOT EXISTS {versions} (version {{int}} NOT NULL)"),
            engine,
        ))?;
        let current = x
            .query_one(
                &format!("SELECT COALESCE(MAX(version), 0) FROM {versions}"),
                args![],
            )?
            .req_int(0)
            .map_err(super::exec::decode)?;
        let latest = latest(engine);
        // A shared database may be migrated by a newer btw on another machine.
        if engine == Engine::Postgres && current > latest {
            return Err(DbErr(format!(
                "the database's schema is version {current}, newer than this btw knows ({latest}): upgrade btw"
            )));
        }
        for version in current + 1..=latest {
            for step in STEPS.iter().filter(|s| when(s, engine) == Version(version)) {
                apply(x, &step.change)?;
            }
            x.execute(
                &format!("INSERT INTO {versions} (version) VALUES ($1)"),
                args![version],
            )?;
        }
        for step in STEPS.iter().filter(|s| when(s, engine) == EveryOpen) {
            apply(x, &step.change)?;
        }
        if engine == Engine::Sqlite {
            // The next open reads this instead of taking the write lock to check every step.
            x.batch(&format!("PRAGMA user_version = {}", sqlite_stamp()))?;
        }
        Ok(())
    })
}

/// Whether a SQLite store's schema is already what this btw makes of it: its `user_version`
/// is this btw's stamp of the steps ([`sqlite_stamp`]), written by the last full migration.
/// One read of the file's header, without the write lock [`migrate`] takes.
pub(super) fn sqlite_is_current(x: &mut dyn Exec) -> Result<bool, DbErr> {
    let found = x.query_one("PRAGMA user_version", args![])?;
    Ok(found.req_int(0).map_err(super::exec::decode)? == sqlite_stamp())
}

/// A fingerprint of every step SQLite takes (its version or every-open, and what it does), so
/// that any change to the steps changes it and the next open migrates again. Positive and
/// within `user_version`'s 32 bits; never 0, a new file's value.
fn sqlite_stamp() -> i64 {
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |text: &str| {
        for b in text.bytes().chain([0]) {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    for (i, step) in STEPS.iter().enumerate() {
        let when = match step.sqlite {
            Version(v) => format!("v{v}"),
            EveryOpen => "every".into(),
            Never => continue,
        };
        eat(&format!("{i}:{when}"));
        match &step.change {
            Sql(sql) => eat(sql),
            Code(_) => eat("code"),
            Column {
                table,
                column,
                ty,
                then,
            } => {
                eat(table);
                eat(column);
                eat(ty);
                eat(then.unwrap_or(""));
            }
        }
    }
    i64::from((h & 0x7fff_ffff).max(1))
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::testing::each_backend;
    use crate::store::Store;

    #[test]
    fn migrating_twice_is_harmless() {
        each_backend(|s| {
            s.with(|x| super::migrate(x)).unwrap();
            let v = s
                .with(|x| {
                    let t = match x.engine() {
                        super::Engine::Sqlite => "schema_version",
                        super::Engine::Postgres => "btw_schema_version",
                    };
                    x.count(&format!("SELECT MAX(version) FROM {t}"), &[])
                        .map(|n| (n, super::latest(x.engine())))
                })
                .unwrap();
            assert_eq!(v.0 as i64, v.1);
        });
    }

    #[test]
    fn a_store_made_before_the_later_columns_gains_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            // Versions 1 to 5 as the first releases made them: no dispatched_at, attempts,
            // owner, recipe_hash or owner_recipe columns, no later tables.
            c.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version (version) VALUES (1), (2), (3), (4), (5);
                 CREATE TABLE runs (run_id TEXT PRIMARY KEY, script TEXT NOT NULL,
                   script_hash TEXT NOT NULL, params TEXT NOT NULL, profile TEXT NOT NULL,
                   started_at TEXT NOT NULL, finished_at TEXT,
                   outcome TEXT NOT NULL DEFAULT 'running', report TEXT);
                 CREATE TABLE ledger (run_id TEXT NOT NULL, step INTEGER NOT NULL,
                   operation TEXT NOT NULL, request TEXT NOT NULL, state TEXT NOT NULL,
                   result TEXT, error TEXT, started_at TEXT NOT NULL, finished_at TEXT,
                   PRIMARY KEY (run_id, step));
                 CREATE TABLE notifications (event_id TEXT PRIMARY KEY, order_id TEXT NOT NULL,
                   event_type TEXT NOT NULL, event_time TEXT NOT NULL, state TEXT,
                   received_at TEXT NOT NULL, body TEXT NOT NULL);
                 INSERT INTO notifications VALUES ('e1', 'O1', 't', 'x', NULL, 'r', '{}');
                 CREATE TABLE order_states (order_id TEXT PRIMARY KEY, state TEXT NOT NULL,
                   rank INTEGER NOT NULL, event_time TEXT NOT NULL, updated_at TEXT NOT NULL);
                 CREATE TABLE daemon_seen (path TEXT NOT NULL, hash TEXT NOT NULL, run_id TEXT,
                   seen_at TEXT NOT NULL, PRIMARY KEY (path, hash));
                 CREATE TABLE daemon_runs (run_id TEXT PRIMARY KEY, recipe TEXT NOT NULL,
                   params TEXT NOT NULL, origin TEXT NOT NULL, state TEXT NOT NULL,
                   started_at TEXT NOT NULL, finished_at TEXT);
                 CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, at TEXT, cron TEXT,
                   tz TEXT NOT NULL DEFAULT 'Europe/London', recipe TEXT NOT NULL,
                   params TEXT NOT NULL, next_run_at TEXT, state TEXT NOT NULL, run_id TEXT,
                   lease_owner TEXT, lease_until TEXT, attempts INTEGER NOT NULL DEFAULT 0,
                   last_outcome TEXT, last_run_id TEXT, catch_up_secs INTEGER,
                   created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
                 CREATE TABLE run_leases (run_id TEXT PRIMARY KEY, owner TEXT NOT NULL,
                   expires_at TEXT NOT NULL);",
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        // The old event counts as dispatched; the newer tables and columns are there.
        assert!(s.undispatched(10).unwrap().is_empty());
        s.daemon_run_queued("r1", "/r/a.rhai", &serde_json::json!({}), "drop", "d1")
            .unwrap();
        assert_eq!(
            s.daemon_unfinished().unwrap()[0].owner.as_deref(),
            Some("d1")
        );
        assert_eq!(s.value_or_insert("k", || "v".into()).unwrap(), "v");
        assert!(s.jobs_owned().unwrap().is_empty());
    }

    #[test]
    fn recipe_job_ids_made_from_paths_are_keyed_by_name_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        drop(Store::open(&path).unwrap());
        let old = |owner: &str, key: &str| {
            format!(
                "recipe-{}",
                crate::store::recipe_hash(&format!("{owner}|{key}"))
            )
        };
        let key = "cron:0 10 * * *:Europe/London";
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            let insert = |id: &str, owner: &str, state: &str, updated: &str| {
                c.execute(
                    "INSERT INTO jobs (id, kind, cron, tz, recipe, params, state, created_at,
                       updated_at, owner_recipe)
                     VALUES (?1, 'cron', '0 10 * * *', 'Europe/London', ?2, '{}', ?3, ?4, ?4, ?2)",
                    rusqlite::params![id, owner, state, updated],
                )
                .unwrap();
            };
            // The same recipe served from two paths: two jobs, one live.
            insert(
                &old("/a/daily.rhai", key),
                "/a/daily.rhai",
                "cancelled",
                "2026-01-02T00:00:00.000Z",
            );
            insert(
                &old("/b/daily.rhai", key),
                "/b/daily.rhai",
                "scheduled",
                "2026-01-01T00:00:00.000Z",
            );
            // Added by hand with its own id: left as it is.
            insert(
                "mine",
                "/a/weekly.rhai",
                "scheduled",
                "2026-01-01T00:00:00.000Z",
            );
            c.execute("DELETE FROM schema_version WHERE version = 6", [])
                .unwrap();
            // As a store made before that version: no stamp of a full migration either.
            c.execute_batch("PRAGMA user_version = 0").unwrap();
        }
        let s = Store::open(&path).unwrap();
        let id = crate::store::recipe_job_id("daily.rhai", key);
        let job = s.job_get(&id).unwrap().expect("re-keyed");
        assert_eq!(
            job.owner_recipe.as_deref(),
            Some("/b/daily.rhai"),
            "the live one"
        );
        let merged = s.job_get(&old("/a/daily.rhai", key)).unwrap().unwrap();
        assert_eq!(merged.state, crate::jobs::JobState::Cancelled);
        assert!(s.job_get("mine").unwrap().is_some());
        // Once: opening again changes nothing.
        drop(s);
        let s = Store::open(&path).unwrap();
        assert!(s.job_get(&id).unwrap().is_some());
    }

    #[test]
    fn an_open_of_a_current_store_skips_the_steps_and_a_changed_stamp_migrates_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        drop(Store::open(&path).unwrap());
        let c = rusqlite::Connection::open(&path).unwrap();
        let stamp: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stamp, super::sqlite_stamp());
        // A table the steps make, gone: an open that trusts the stamp does not make it again...
        c.execute_batch("DROP TABLE btw_values").unwrap();
        drop(Store::open(&path).unwrap());
        let has_values = |c: &rusqlite::Connection| {
            c.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'btw_values'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
        };
        assert_eq!(has_values(&c), 0);
        // ...and one whose stamp differs (another btw's steps) checks every step.
        c.execute_batch("PRAGMA user_version = 1").unwrap();
        drop(Store::open(&path).unwrap());
        assert_eq!(has_values(&c), 1);
    }

    #[test]
    fn processes_opening_a_new_store_at_once_migrate_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || Store::open(&path).map(|_| ()))
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
    }
}
