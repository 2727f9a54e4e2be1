//! Persistence of the sandbox world in SQLite, written incrementally so a save costs what changed,
//! not the whole history: one row per order, company, number and qualification, appended rows for
//! the two journals, and one row for the rest of the world.
//!
//! A state file of the old form (one JSON document) is migrated on first open: the JSON is kept
//! beside it as `<name>.json-old`.
//!
//! What a save writes is taken from the world by [`Changes::take`]: the world tracks which
//! entries changed, so neither the world nor its unchanged entries are copied or serialised.

mod changes;
pub use changes::Changes;

use crate::world::tracked::{Indexed, Tracked};
use crate::world::World;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

/// The schema this build reads and writes.
const SCHEMA: i64 = 1;
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// The journals, each a run of rows in `logs`.
const LOGS: [&str; 2] = ["requests", "created"];

const SCHEMA_SQL: &str = "
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS entries (
        part  TEXT NOT NULL,
        key   TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (part, key)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS logs (
        part  TEXT NOT NULL,
        seq   INTEGER NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (part, seq)
    ) WITHOUT ROWID;
";

/// An open state file and what was last written to it.
pub struct Store {
    conn: Connection,
    /// Fingerprint of the last `core` row written.
    core: Option<u64>,
    /// The next row number of each journal.
    next_seq: HashMap<&'static str, i64>,
}

fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("sandbox state file {} is not valid: {what}", path.display()),
    )
}

/// Creates the file readable by its owner only: it holds callback credentials.
fn create_private(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(|_| ())
}

impl Store {
    /// Opens (creating, or migrating from the old JSON form) the state file at `path`, and the
    /// world saved in it (`None` when it holds none yet). The saved clock keeps its time; it runs
    /// at `clock_speed` from now on.
    pub fn open(path: &Path, clock_speed: f64) -> io::Result<(Store, Option<World>)> {
        let legacy = match std::fs::read(path) {
            Ok(bytes) if bytes.is_empty() || bytes.starts_with(SQLITE_MAGIC) => None,
            Ok(bytes) if bytes.trim_ascii_start().starts_with(b"{") => {
                Some(serde_json::from_slice::<World>(&bytes).map_err(|e| invalid(path, e))?)
            }
            Ok(_) => return Err(invalid(path, "neither SQLite nor the old JSON form")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if legacy.is_some() {
            let mut old = path.as_os_str().to_owned();
            old.push(".json-old");
            std::fs::rename(path, &old)?;
            tracing::info!(
                "sandbox: migrated {} to SQLite (the JSON is kept as {})",
                path.display(),
                PathBuf::from(&old).display()
            );
        }
        create_private(path)?;
        let mut store = Self::connect(path).map_err(|e| invalid(path, e))?;
        let migrated = legacy.is_some();
        let mut world = match legacy {
            Some(w) => Some(w),
            None => store.load().map_err(|e| invalid(path, e))?,
        };
        if let Some(w) = world.as_mut() {
            w.clock.set_speed(clock_speed);
            if migrated {
                changes::mark_all_unsaved(w);
                let c = Changes::take(w).map_err(|e| invalid(path, e))?;
                store.save(&c).map_err(|e| invalid(path, e))?;
            }
        }
        Ok((store, world))
    }

    fn connect(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Write-ahead log: a commit is one append to the log, in the operating system's hands
        // before the sandbox answers, so a committed save survives the process being killed
        // (kill -9, a crash) — the failure a test sandbox meets. The log is synced at each
        // checkpoint, not at each commit: a machine losing power may lose the last moments.
        // A sync per commit (`FULL`) cost 40 % of the persistent sandbox's throughput (0.59× of
        // an in-memory one against 0.86×, BENCHMARKS.md).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA_SQL)?;
        let schema: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match schema.map(|s| s.parse::<i64>()) {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                    [SCHEMA.to_string()],
                )?;
            }
            Some(Ok(SCHEMA)) => {}
            Some(other) => {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "schema {other:?} is not {SCHEMA}: written by another btw version"
                )))
            }
        }
        let mut next_seq = HashMap::new();
        for part in LOGS {
            let last: Option<i64> =
                conn.query_row("SELECT MAX(seq) FROM logs WHERE part = ?1", [part], |r| {
                    r.get(0)
                })?;
            next_seq.insert(part, last.map_or(0, |s| s + 1));
        }
        Ok(Store {
            conn,
            core: None,
            next_seq,
        })
    }

    fn load(&mut self) -> rusqlite::Result<Option<World>> {
        let core: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM entries WHERE part = 'core'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(core) = core else { return Ok(None) };
        let clock: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM entries WHERE part = 'clock'", [], |r| {
                r.get(0)
            })
            .optional()?;
        // Absent from files written before run clocks: none then.
        let clocks: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT value FROM entries WHERE part = 'clocks'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let mut core: serde_json::Value = from_bytes(&core)?;
        if let (Some(o), Some(clock)) = (core.as_object_mut(), clock) {
            o.insert("clock".into(), from_bytes(&clock)?);
        }
        if let (Some(o), Some(clocks)) = (core.as_object_mut(), clocks) {
            o.insert("clocks".into(), from_bytes(&clocks)?);
        }
        let mut world: World = serde_json::from_value(core).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
        })?;
        world.orders = self.load_map("orders")?;
        world.companies = self.load_map("companies")?;
        world.numbers = self.load_map("numbers")?;
        world.qualifications = self.load_map("qualifications")?;
        world.journal.requests = self.load_log("requests")?;
        world.journal.created = self.load_log("created")?;
        Ok(Some(world))
    }

    fn load_map<T: DeserializeOwned + Indexed>(&self, part: &str) -> rusqlite::Result<Tracked<T>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM entries WHERE part = ?1")?;
        let rows = stmt.query_map([part], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut map = BTreeMap::new();
        for row in rows {
            let (key, value) = row?;
            map.insert(key, from_bytes(&value)?);
        }
        Ok(Tracked::saved(map))
    }

    fn load_log<T: DeserializeOwned>(&self, part: &str) -> rusqlite::Result<VecDeque<T>> {
        let mut stmt = self
            .conn
            .prepare("SELECT value FROM logs WHERE part = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([part], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|v| from_bytes(&v?)).collect()
    }

    /// Writes `changes` in one transaction: the changed entries, the new journal rows (dropping
    /// those trimmed from the journals' front), the clock, and the rest when it changed.
    pub fn save(&mut self, changes: &Changes) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO entries (part, key, value) VALUES ('clock', '', ?1)",
            [&changes.clock],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO entries (part, key, value) VALUES ('clocks', '', ?1)",
            [&changes.clocks],
        )?;
        let hash = fingerprint(&changes.core);
        if self.core != Some(hash) {
            tx.execute(
                "INSERT OR REPLACE INTO entries (part, key, value) VALUES ('core', '', ?1)",
                [&changes.core],
            )?;
        }
        {
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO entries (part, key, value) VALUES (?1, ?2, ?3)",
            )?;
            let mut delete =
                tx.prepare_cached("DELETE FROM entries WHERE part = ?1 AND key = ?2")?;
            for p in &changes.parts {
                if p.replaced {
                    tx.execute("DELETE FROM entries WHERE part = ?1", [p.part])?;
                }
                for (key, value) in &p.rows {
                    match value {
                        Some(v) => upsert.execute(params![p.part, key, v])?,
                        None => delete.execute(params![p.part, key])?,
                    };
                }
            }
        }
        let mut next_seq = self.next_seq.clone();
        for l in &changes.logs {
            let seq = next_seq.entry(l.part).or_insert(0);
            let mut insert =
                tx.prepare_cached("INSERT INTO logs (part, seq, value) VALUES (?1, ?2, ?3)")?;
            for v in &l.append {
                insert.execute(params![l.part, *seq, v])?;
                *seq += 1;
            }
            // The journal keeps its last `len` entries: so do the rows.
            tx.prepare_cached("DELETE FROM logs WHERE part = ?1 AND seq < ?2")?
                .execute(params![l.part, *seq - l.len as i64])?;
        }
        tx.commit()?;
        // Only a committed save moves the marks on.
        self.core = Some(hash);
        self.next_seq = next_seq;
        Ok(())
    }
}

fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> rusqlite::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::RequestEntry;

    fn request(n: usize) -> RequestEntry {
        RequestEntry {
            at: chrono::Utc::now(),
            method: "GET".into(),
            path: format!("/p/{n}"),
            status: 200,
            tracking_header: None,
        }
    }

    fn rows(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// Saves what changed; the rows of maps and journals it wrote.
    fn save(store: &mut Store, world: &mut World) -> usize {
        let changes = Changes::take(world).unwrap();
        store.save(&changes).unwrap();
        changes.rows()
    }

    /// The world as JSON, without its clock (which reads differently every time).
    fn json(w: &World) -> serde_json::Value {
        let mut v = serde_json::to_value(w).unwrap();
        v.as_object_mut().unwrap().remove("clock");
        v
    }

    #[test]
    fn round_trip_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("state.db");
        let (mut store, world) = Store::open(&path, 1.0).unwrap();
        assert!(world.is_none());
        let mut world = World::seed(0.0);
        let q = world.next_qualification_id();
        assert_eq!(q, "QFW103255");
        world.record_request(request(1));
        save(&mut store, &mut world);
        drop(store);
        let (_, back) = Store::open(&path, 1.0).unwrap();
        let back = back.unwrap();
        assert_eq!(json(&back), json(&world), "reload equals what was saved");
        assert!(!back.companies.has_changes() && !back.numbers.has_changes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn run_clocks_round_trip_and_old_files_have_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let (mut store, _) = Store::open(&path, 1.0).unwrap();
        let mut world = World::seed(0.0);
        let used = chrono::Utc::now() - chrono::Duration::hours(3);
        world
            .use_clock("run-1", used)
            .advance(chrono::Duration::days(2));
        save(&mut store, &mut world);
        drop(store);
        let (store, back) = Store::open(&path, 1.0).unwrap();
        assert_eq!(back.unwrap().clocks, world.clocks);
        // A file written before run clocks has no `clocks` row.
        store
            .conn
            .execute("DELETE FROM entries WHERE part = 'clocks'", [])
            .unwrap();
        drop(store);
        let (_, old) = Store::open(&path, 1.0).unwrap();
        assert!(old.unwrap().clocks.is_empty());
    }

    #[test]
    fn a_save_writes_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let (mut store, _) = Store::open(&path, 1.0).unwrap();
        let mut world = World::seed(0.0);
        for n in 0..10 {
            world.record_request(request(n));
        }
        // The seed: 1 company, 10 numbers, 10 requests.
        assert_eq!(save(&mut store, &mut world), 21);
        let changes = store.conn.total_changes();
        // Nothing changed: only the clocks' rows are written.
        assert_eq!(save(&mut store, &mut world), 0);
        assert_eq!(store.conn.total_changes(), changes + 2);
        // One request more: one row appended (the delete of trimmed rows touches none).
        world.record_request(request(10));
        assert_eq!(save(&mut store, &mut world), 1);
        assert_eq!(store.conn.total_changes(), changes + 5);
        assert_eq!(rows(&store, "logs"), 11);
        // One number changed: its row alone is rewritten, the other nine are not.
        let mut keys = world.numbers.keys().cloned();
        let (first, second) = (keys.next().unwrap(), keys.next().unwrap());
        if let Some(mut r) = world.numbers.get_mut(&second) {
            r.kind = "changed".into();
        }
        assert_eq!(save(&mut store, &mut world), 1);
        assert_eq!(store.conn.total_changes(), changes + 8);
        // A number gone: its row is deleted.
        world.numbers.remove(&first);
        assert_eq!(save(&mut store, &mut world), 1);
        drop(store);
        let (_, back) = Store::open(&path, 1.0).unwrap();
        let back = back.unwrap();
        assert!(!back.numbers.contains_key(&first));
        assert_eq!(back.numbers[&second].kind, "changed");
        assert_eq!(json(&back), json(&world));
    }

    #[test]
    fn a_failed_save_is_written_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let (mut store, _) = Store::open(&path, 1.0).unwrap();
        let mut world = World::seed(0.0);
        save(&mut store, &mut world);
        world.record_request(request(1));
        if let Some(mut c) = world.companies.get_mut("WHHCBTWKN1000") {
            c.name = "Renamed Ltd".into();
        }
        // Taken, not written (as when the write fails): put back.
        Changes::take(&mut world).unwrap().restore(&mut world);
        assert_eq!(save(&mut store, &mut world), 2);
        drop(store);
        let (_, back) = Store::open(&path, 1.0).unwrap();
        assert_eq!(json(&back.unwrap()), json(&world));
    }

    #[test]
    fn journals_trimmed_at_the_front_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let (mut store, _) = Store::open(&path, 1.0).unwrap();
        let mut world = World::seed(0.0);
        for n in 0..5 {
            world.record_request(request(n));
        }
        save(&mut store, &mut world);
        world.journal.requests.drain(..2);
        world.record_request(request(5));
        save(&mut store, &mut world);
        assert_eq!(rows(&store, "logs"), 4);
        // A reset: everything starts again, rows of the old world included.
        let mut fresh = World::seed(0.0);
        fresh.record_request(request(9));
        if let Some(mut c) = world.companies.get_mut("WHHCBTWKN1000") {
            c.name = "Gone Ltd".into();
        }
        world
            .numbers
            .get_or_insert_with("01000000000".into(), || world_number(&fresh));
        save(&mut store, &mut world);
        save(&mut store, &mut fresh);
        drop(store);
        let (_, back) = Store::open(&path, 1.0).unwrap();
        let back = back.unwrap();
        assert_eq!(back.journal.requests.len(), 1);
        assert_eq!(back.journal.requests[0].path, "/p/9");
        assert_eq!(json(&back), json(&fresh));
    }

    fn world_number(w: &World) -> crate::world::NumberRecord {
        w.numbers.values().next().cloned().unwrap()
    }

    #[test]
    fn the_old_json_form_is_migrated_and_garbage_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox-state.json");
        let mut world = World::seed(0.0);
        world.next_qualification_id();
        world.record_request(request(1));
        std::fs::write(&path, serde_json::to_vec(&world).unwrap()).unwrap();
        let (_, back) = Store::open(&path, 1.0).unwrap();
        assert_eq!(json(&back.unwrap()), json(&world));
        assert!(dir.path().join("sandbox-state.json.json-old").exists());
        let (_, again) = Store::open(&path, 1.0).unwrap();
        assert_eq!(
            json(&again.unwrap()),
            json(&world),
            "the migrated state is in SQLite now"
        );
        let bad = dir.path().join("bad.db");
        std::fs::write(&bad, b"not a state file").unwrap();
        let e = Store::open(&bad, 1.0).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        std::fs::write(&bad, b"{not json").unwrap();
        let e = Store::open(&bad, 1.0).err().unwrap();
        assert!(e.to_string().contains("not valid"), "{e}");
    }
}
