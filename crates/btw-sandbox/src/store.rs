//! Persistence of the sandbox world in SQLite, written incrementally so a save costs what changed,
//! not the whole history: one row per order, company, number and qualification, appended rows for
//! the two journals, and one row for the rest of the world.
//!
//! A state file of the old form (one JSON document) is migrated on first open: the JSON is kept
//! beside it as `<name>.json-old`.

use crate::world::World;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

/// The schema this build reads and writes.
const SCHEMA: i64 = 1;
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

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

/// Where the last saved entry of a journal went, so the next save appends only what is newer.
#[derive(Clone, Copy)]
struct LogMark {
    seq: i64,
    hash: u64,
}

/// An open state file and what was last written to it.
pub struct Store {
    conn: Connection,
    /// Fingerprints of the rows in `entries`, by part then key.
    saved: HashMap<&'static str, HashMap<String, u64>>,
    core: Option<u64>,
    logs: HashMap<&'static str, LogMark>,
}

fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn to_bytes<T: Serialize>(v: &T) -> rusqlite::Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
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
        let mut world = match legacy {
            Some(w) => Some(w),
            None => store.load().map_err(|e| invalid(path, e))?,
        };
        if let Some(w) = world.as_mut() {
            w.clock.set_speed(clock_speed);
            // Fingerprints of what is on disk, so the next save writes only changes.
            store.save(w.clone()).map_err(|e| invalid(path, e))?;
        }
        Ok((store, world))
    }

    fn connect(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
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
        Ok(Store {
            conn,
            saved: HashMap::new(),
            core: None,
            logs: HashMap::new(),
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
        let mut core: serde_json::Value = from_bytes(&core)?;
        if let (Some(o), Some(clock)) = (core.as_object_mut(), clock) {
            o.insert("clock".into(), from_bytes(&clock)?);
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

    fn load_map<T: DeserializeOwned>(&self, part: &str) -> rusqlite::Result<BTreeMap<String, T>> {
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
        Ok(map)
    }

    fn load_log<T: DeserializeOwned>(&self, part: &str) -> rusqlite::Result<Vec<T>> {
        let mut stmt = self
            .conn
            .prepare("SELECT value FROM logs WHERE part = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([part], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|v| from_bytes(&v?)).collect()
    }

    /// Writes what changed since the last save, in one transaction.
    pub fn save(&mut self, mut world: World) -> rusqlite::Result<()> {
        let orders = std::mem::take(&mut world.orders);
        let companies = std::mem::take(&mut world.companies);
        let numbers = std::mem::take(&mut world.numbers);
        let qualifications = std::mem::take(&mut world.qualifications);
        let requests = std::mem::take(&mut world.journal.requests);
        let created = std::mem::take(&mut world.journal.created);
        let tx = self.conn.unchecked_transaction()?;
        // The clock reads differently at every save: kept apart, so the rest is written only
        // when it changed.
        let mut core = serde_json::to_value(&world)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let clock = core
            .as_object_mut()
            .and_then(|o| o.remove("clock"))
            .unwrap_or_default();
        tx.execute(
            "INSERT OR REPLACE INTO entries (part, key, value) VALUES ('clock', '', ?1)",
            [to_bytes(&clock)?],
        )?;
        let core = to_bytes(&core)?;
        let hash = fingerprint(&core);
        if self.core != Some(hash) {
            tx.execute(
                "INSERT OR REPLACE INTO entries (part, key, value) VALUES ('core', '', ?1)",
                [&core],
            )?;
        }
        let mut saved = std::mem::take(&mut self.saved);
        let mut logs = std::mem::take(&mut self.logs);
        save_map(&tx, &mut saved, "orders", &orders)?;
        save_map(&tx, &mut saved, "companies", &companies)?;
        save_map(&tx, &mut saved, "numbers", &numbers)?;
        save_map(&tx, &mut saved, "qualifications", &qualifications)?;
        save_log(&tx, &mut logs, "requests", &requests)?;
        save_log(&tx, &mut logs, "created", &created)?;
        tx.commit()?;
        // Only a committed save moves the fingerprints on.
        self.core = Some(hash);
        self.saved = saved;
        self.logs = logs;
        Ok(())
    }
}

fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> rusqlite::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// Upserts the entries whose fingerprint changed and deletes those gone from `map`.
fn save_map<T: Serialize>(
    tx: &rusqlite::Transaction<'_>,
    saved: &mut HashMap<&'static str, HashMap<String, u64>>,
    part: &'static str,
    map: &BTreeMap<String, T>,
) -> rusqlite::Result<()> {
    let known = saved.entry(part).or_default();
    let mut upsert =
        tx.prepare_cached("INSERT OR REPLACE INTO entries (part, key, value) VALUES (?1, ?2, ?3)")?;
    for (key, value) in map {
        let bytes = to_bytes(value)?;
        let hash = fingerprint(&bytes);
        if known.get(key) != Some(&hash) {
            upsert.execute(params![part, key, bytes])?;
            known.insert(key.clone(), hash);
        }
    }
    if known.len() > map.len() {
        let mut delete = tx.prepare_cached("DELETE FROM entries WHERE part = ?1 AND key = ?2")?;
        let gone: Vec<String> = known
            .keys()
            .filter(|k| !map.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            delete.execute(params![part, key])?;
            known.remove(&key);
        }
    }
    Ok(())
}

/// Appends the journal entries newer than the last saved one and drops rows trimmed from the
/// front; when the last saved entry is gone (a reset), the journal is written afresh.
fn save_log<T: Serialize>(
    tx: &rusqlite::Transaction<'_>,
    logs: &mut HashMap<&'static str, LogMark>,
    part: &'static str,
    entries: &[T],
) -> rusqlite::Result<()> {
    let mark = logs.get(part).copied();
    // Scanning back from the end touches only the new entries and one more.
    let mut found = None;
    if let Some(m) = mark {
        for (i, e) in entries.iter().enumerate().rev() {
            if fingerprint(&to_bytes(e)?) == m.hash {
                found = Some(i);
                break;
            }
        }
    }
    let (first_new, mut seq) = match (mark, found) {
        (Some(m), Some(i)) => (i + 1, m.seq + 1),
        (m, _) => {
            tx.execute("DELETE FROM logs WHERE part = ?1", [part])?;
            (0, m.map_or(0, |m| m.seq + 1))
        }
    };
    let first_seq = seq - first_new as i64;
    tx.execute(
        "DELETE FROM logs WHERE part = ?1 AND seq < ?2",
        params![part, first_seq],
    )?;
    let mut insert =
        tx.prepare_cached("INSERT INTO logs (part, seq, value) VALUES (?1, ?2, ?3)")?;
    let mut last = mark.filter(|_| found.is_some());
    for e in &entries[first_new..] {
        let bytes = to_bytes(e)?;
        insert.execute(params![part, seq, bytes])?;
        last = Some(LogMark {
            seq,
            hash: fingerprint(&bytes),
        });
        seq += 1;
    }
    match last {
        Some(m) => {
            logs.insert(part, m);
        }
        None => {
            logs.remove(part);
        }
    }
    Ok(())
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

    #[test]
    fn round_trip_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("state.db");
        let (mut store, world) = Store::open(&path, 1.0).unwrap();
        assert!(world.is_none());
        let mut world = World::seed(0.0);
        let q = world.next_qualification_id();
        assert_eq!(q, "QFW103255");
        store.save(world.clone()).unwrap();
        drop(store);
        let (_, back) = Store::open(&path, 1.0).unwrap();
        let back = back.unwrap();
        assert_eq!(back.counters.qualification, world.counters.qualification);
        assert_eq!(back.numbers.len(), world.numbers.len());
        assert_eq!(back.companies.len(), world.companies.len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
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
        store.save(world.clone()).unwrap();
        let changes = store.conn.total_changes();
        // Nothing changed: only the clock's row is written.
        store.save(world.clone()).unwrap();
        assert_eq!(store.conn.total_changes(), changes + 1);
        // One request more: one row appended (the delete of trimmed rows touches none).
        world.record_request(request(10));
        store.save(world.clone()).unwrap();
        assert_eq!(store.conn.total_changes(), changes + 3);
        assert_eq!(rows(&store, "logs"), 11);
        // A number gone: its row is deleted.
        let first = world.numbers.keys().next().cloned().unwrap();
        world.numbers.remove(&first);
        store.save(world.clone()).unwrap();
        drop(store);
        let (_, back) = Store::open(&path, 1.0).unwrap();
        let back = back.unwrap();
        assert!(!back.numbers.contains_key(&first));
        let paths: Vec<String> = back
            .journal
            .requests
            .iter()
            .map(|r| r.path.clone())
            .collect();
        assert_eq!(paths.first().map(String::as_str), Some("/p/0"));
        assert_eq!(paths.last().map(String::as_str), Some("/p/10"));
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
        store.save(world.clone()).unwrap();
        world.journal.requests.drain(..2);
        world.record_request(request(5));
        store.save(world.clone()).unwrap();
        assert_eq!(rows(&store, "logs"), 4);
        // A reset: the journal starts again.
        let mut fresh = World::seed(0.0);
        fresh.record_request(request(9));
        store.save(fresh).unwrap();
        drop(store);
        let (_, back) = Store::open(&path, 1.0).unwrap();
        let back = back.unwrap();
        assert_eq!(back.journal.requests.len(), 1);
        assert_eq!(back.journal.requests[0].path, "/p/9");
    }

    #[test]
    fn the_old_json_form_is_migrated_and_garbage_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sandbox-state.json");
        let mut world = World::seed(0.0);
        world.next_qualification_id();
        std::fs::write(&path, serde_json::to_vec(&world).unwrap()).unwrap();
        let (_, back) = Store::open(&path, 1.0).unwrap();
        assert_eq!(
            back.unwrap().counters.qualification,
            world.counters.qualification
        );
        assert!(dir.path().join("sandbox-state.json.json-old").exists());
        let (_, again) = Store::open(&path, 1.0).unwrap();
        assert!(again.is_some(), "the migrated state is in SQLite now");
        let bad = dir.path().join("bad.db");
        std::fs::write(&bad, b"not a state file").unwrap();
        let e = Store::open(&bad, 1.0).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        std::fs::write(&bad, b"{not json").unwrap();
        let e = Store::open(&bad, 1.0).err().unwrap();
        assert!(e.to_string().contains("not valid"), "{e}");
    }
}
