//! Recipe versions kept in the store (content hash → text), each watched recipe's last good
//! version, and the daemon's heartbeat: what lets any daemon on a store run exactly what was
//! scheduled, survive a restart with a broken file, and tell `btw run` whether anyone is serving.

use super::exec::{args, decode};
use super::model::{recipe_hash, Heartbeat};
use super::rows::Cols;
use super::{now_rfc3339, Store, StoreError};
use chrono::{DateTime, Utc};

impl Store {
    /// Keeps `source` (once per content); returns its hash.
    pub fn recipe_version_put(&self, path: &str, source: &str) -> Result<String, StoreError> {
        let hash = recipe_hash(source);
        self.with(|x| {
            x.execute(
                "INSERT INTO recipe_versions (hash, path, source, stored_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (hash) DO NOTHING",
                args![&hash, path, source, now_rfc3339()],
            )
        })?;
        Ok(hash)
    }

    /// The text of a stored version.
    pub fn recipe_version(&self, hash: &str) -> Result<Option<String>, StoreError> {
        self.with(|x| {
            x.text_opt(
                "SELECT source FROM recipe_versions WHERE hash = $1",
                args![hash],
            )
        })
    }

    /// Records `source` as the last good version of the watched recipe at `path`.
    pub fn recipe_head_set(&self, path: &str, source: &str) -> Result<String, StoreError> {
        let hash = self.recipe_version_put(path, source)?;
        self.with(|x| {
            x.execute(
                "INSERT INTO recipe_heads (path, hash, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (path) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
                args![path, &hash, now_rfc3339()],
            )
        })?;
        Ok(hash)
    }

    /// The last good version of a watched recipe: its hash and text.
    pub fn recipe_head(&self, path: &str) -> Result<Option<(String, String)>, StoreError> {
        self.with(|x| {
            let row = x.query_opt(
                "SELECT v.hash, v.source FROM recipe_heads h
                   JOIN recipe_versions v ON v.hash = h.hash WHERE h.path = $1",
                args![path],
            )?;
            row.map(|r| Ok((r.req_text(0)?, r.req_text(1)?)))
                .transpose()
                .map_err(decode)
        })
    }

    /// Forgets a watched recipe's last good version (the file was deleted or renamed away).
    pub fn recipe_head_clear(&self, path: &str) -> Result<(), StoreError> {
        self.with(|x| x.execute("DELETE FROM recipe_heads WHERE path = $1", args![path]))
            .map(|_| ())
    }

    /// Records that the daemon `owner` is alive now (real time).
    pub fn heartbeat(
        &self,
        owner: &str,
        recipes: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "INSERT INTO daemon_heartbeat (owner, pid, recipes, beat_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (owner) DO UPDATE SET beat_at = excluded.beat_at",
                args![owner, std::process::id() as i64, recipes, super::jobs::ts(now)],
            )
        })
        .map(|_| ())
    }

    /// A daemon stopping says so, so nobody is told one is serving.
    pub fn heartbeat_end(&self, owner: &str) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "DELETE FROM daemon_heartbeat WHERE owner = $1",
                args![owner],
            )
        })
        .map(|_| ())
    }

    /// The most recent heartbeat on this store, if any.
    pub fn last_heartbeat(&self) -> Result<Option<Heartbeat>, StoreError> {
        Ok(self.heartbeats()?.into_iter().next())
    }

    /// Every daemon's last heartbeat on this store, most recent first: several daemons may
    /// share one store.
    pub fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        self.with(|x| {
            x.rows(
                "SELECT owner, pid, recipes, beat_at FROM daemon_heartbeat ORDER BY beat_at DESC",
                args![],
                |r| {
                    Ok(Heartbeat {
                        owner: r.req_text(0)?,
                        pid: r.req_int(1)?.max(0) as u32,
                        recipes: r.req_text(2)?,
                        beat_at: r.time(3).ok().flatten().unwrap_or(DateTime::<Utc>::MIN_UTC),
                    })
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;

    #[test]
    fn versions_heads_and_heartbeats() {
        each_backend(|s| {
            let h1 = s.recipe_head_set("/r/a.rhai", "1").unwrap();
            assert_eq!(s.recipe_version_put("/r/a.rhai", "1").unwrap(), h1);
            let h2 = s.recipe_head_set("/r/a.rhai", "2").unwrap();
            assert_ne!(h1, h2);
            assert_eq!(s.recipe_head("/r/a.rhai").unwrap(), Some((h2, "2".into())));
            assert_eq!(s.recipe_version(&h1).unwrap().as_deref(), Some("1"));
            s.recipe_head_clear("/r/a.rhai").unwrap();
            assert_eq!(s.recipe_head("/r/a.rhai").unwrap(), None);
            assert_eq!(s.last_heartbeat().unwrap(), None);
            let now = Utc::now();
            s.heartbeat("d1", "/r", now).unwrap();
            s.heartbeat("d2", "/r2", now - chrono::Duration::seconds(5))
                .unwrap();
            assert_eq!(s.last_heartbeat().unwrap().unwrap().owner, "d1");
            let all: Vec<String> = s
                .heartbeats()
                .unwrap()
                .into_iter()
                .map(|h| h.owner)
                .collect();
            assert_eq!(all, ["d1", "d2"], "every daemon on the store");
            s.heartbeat_end("d1").unwrap();
            s.heartbeat_end("d2").unwrap();
            assert_eq!(s.last_heartbeat().unwrap(), None);
        });
    }
}
