//! Runs: what was run, with which parameters, and how it ended (for `--resume` and reports).

use super::{now_rfc3339, Sqlite, StoreError};
use rusqlite::{params, OptionalExtension};
use serde_json::Value;

/// A run as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    pub script: String,
    pub script_hash: String,
    pub params: Value,
    pub profile: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `ok`, or the failure kind.
    pub outcome: String,
    pub report: Option<Value>,
}

impl Sqlite {
    /// Records the start of a run (or of its resumption: the record is kept and marked running).
    pub fn run_started(
        &self,
        run_id: &str,
        script: &str,
        script_hash: &str,
        params: &Value,
        profile: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO runs (run_id, script, script_hash, params, profile, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (run_id) DO UPDATE SET outcome = 'running', finished_at = NULL,
                   script_hash = excluded.script_hash",
                params![
                    run_id,
                    script,
                    script_hash,
                    params.to_string(),
                    profile,
                    now_rfc3339()
                ],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Records how a run ended, with its report.
    pub fn run_finished(
        &self,
        run_id: &str,
        outcome: &str,
        report: &Value,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE runs SET outcome = ?2, report = ?3, finished_at = ?4 WHERE run_id = ?1",
                params![run_id, outcome, report.to_string(), now_rfc3339()],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// The most recently started run.
    pub fn latest_run_id(&self) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    pub fn run_get(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.conn()
            .query_row(
                "SELECT run_id, script, script_hash, params, profile, started_at, finished_at, outcome, report
                 FROM runs WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok(RunRecord {
                        run_id: r.get(0)?,
                        script: r.get(1)?,
                        script_hash: r.get(2)?,
                        params: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null),
                        profile: r.get(4)?,
                        started_at: r.get(5)?,
                        finished_at: r.get(6)?,
                        outcome: r.get(7)?,
                        report: r
                            .get::<_, Option<String>>(8)?
                            .and_then(|t| serde_json::from_str(&t).ok()),
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn runs_are_recorded_and_resumable() {
        each_backend(|s| {
            s.run_started("r1", "scripts/x.rhai", "h1", &json!({"a": 1}), "sandbox")
                .unwrap();
            let r = s.run_get("r1").unwrap().unwrap();
            assert_eq!(
                (r.outcome.as_str(), r.params.clone()),
                ("running", json!({"a": 1}))
            );
            s.run_finished("r1", "ok", &json!({"ok": true})).unwrap();
            assert_eq!(s.run_get("r1").unwrap().unwrap().outcome, "ok");
            s.run_started("r1", "scripts/x.rhai", "h2", &json!({"a": 1}), "sandbox")
                .unwrap();
            let r = s.run_get("r1").unwrap().unwrap();
            assert_eq!(
                (r.outcome.as_str(), r.script_hash.as_str()),
                ("running", "h2")
            );
        });
    }
}
