//! Runs: what was run, with which parameters, and how it ended (for `--resume` and reports).

use super::exec::{args, decode, DbErr, Exec, Row};
use super::leases::{fence_args, fence_sql, Fence, LEASE_LOST};
use super::model::{LeaseHolder, RunRecord};
use super::rows::Cols;
use super::{now_rfc3339, Store, StoreError};
use serde_json::Value;

impl Store {
    /// Records the start of a run (or of its resumption: the record is kept and marked running).
    pub fn run_started(
        &self,
        run_id: &str,
        script: &str,
        script_hash: &str,
        params: &Value,
        profile: &str,
    ) -> Result<(), StoreError> {
        self.run_started_under(None, run_id, script, script_hash, params, profile)
    }

    /// [`Store::run_started`] while `fence`'s lease holds (checked in the same statement): a
    /// process that stalled past its lease never marks a run another finished `running` again.
    pub fn run_started_under(
        &self,
        fence: Option<&Fence>,
        run_id: &str,
        script: &str,
        script_hash: &str,
        params: &Value,
        profile: &str,
    ) -> Result<(), StoreError> {
        let [a, b] = fence_args(fence);
        let n = self.with(|x| {
            x.execute(
                concat!(
                    "INSERT INTO runs (run_id, script, script_hash, params, profile, started_at)
                     SELECT CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS TEXT),
                       CAST($7 AS TEXT), CAST($8 AS TEXT) WHERE ",
                    fence_sql!("$1", "$2"),
                    " ON CONFLICT (run_id) DO UPDATE SET outcome = 'running', finished_at = NULL,
                       script_hash = excluded.script_hash, params = excluded.params"
                ),
                args![
                    a,
                    b,
                    run_id,
                    script,
                    script_hash,
                    params.to_string(),
                    profile,
                    now_rfc3339()
                ],
            )
        })?;
        if n == 0 {
            return Err(self.fenced_miss(fence, format!("run {run_id} was not recorded")));
        }
        Ok(())
    }

    /// Takes the run's lease for `owner` and records its start ([`Store::run_started`]) in one
    /// transaction: `Some(holder)`, and nothing written, when another process holds the lease.
    pub fn run_begin(
        &self,
        run_id: &str,
        owner: &str,
        ttl: std::time::Duration,
        start: &RunStart<'_>,
    ) -> Result<Option<LeaseHolder>, StoreError> {
        self.in_transaction(|x| {
            if let Some(held) = super::leases::acquire(x, run_id, owner, ttl)? {
                return Ok(Some(held));
            }
            insert_run(x, run_id, start)?;
            Ok(None)
        })
    }

    /// Records how a run whose lease `fence` holds ended, and gives the lease up, in one write
    /// committed after every write queued before it (the run's read records). Refused
    /// ([`StoreError::is_lease_lost`]), with nothing written, once another process took the run
    /// over.
    pub fn run_ended(
        &self,
        fence: &Fence,
        outcome: &str,
        report: &Value,
    ) -> Result<(), StoreError> {
        let (f, outcome, report, now) = (
            fence.clone(),
            outcome.to_string(),
            report.to_string(),
            now_rfc3339(),
        );
        self.write_committed_with(Box::new(move |x| {
            let n = x.execute(
                concat!(
                    "UPDATE runs SET outcome = $3, report = $4, finished_at = $5
                     WHERE run_id = $1 AND ",
                    fence_sql!("$1", "$2")
                ),
                args![&f.run_id, &f.owner, &outcome, &report, &now],
            )?;
            if n == 0 {
                let held = x.count(
                    "SELECT COUNT(*) FROM run_leases WHERE run_id = $1 AND owner = $2",
                    args![&f.run_id, &f.owner],
                )?;
                return Err(DbErr(if held == 0 {
                    LEASE_LOST.to_string()
                } else {
                    format!("no run {}", f.run_id)
                }));
            }
            x.execute(
                "DELETE FROM run_leases WHERE run_id = $1 AND owner = $2",
                args![&f.run_id, &f.owner],
            )
        }))
        .map(|_| ())
    }

    /// Records how a run ended, with its report.
    pub fn run_finished(
        &self,
        run_id: &str,
        outcome: &str,
        report: &Value,
    ) -> Result<(), StoreError> {
        self.with(|x| {
            x.execute(
                "UPDATE runs SET outcome = $2, report = $3, finished_at = $4 WHERE run_id = $1",
                args![run_id, outcome, report.to_string(), now_rfc3339()],
            )
        })
        .map(|_| ())
    }

    /// [`Store::run_finished`] for a run whose lease `fence` holds, checked in the same
    /// statement: refused ([`StoreError::is_lease_lost`]) once another process took it over.
    pub fn run_finished_fenced(
        &self,
        fence: &Fence,
        outcome: &str,
        report: &Value,
    ) -> Result<(), StoreError> {
        let n = self.with(|x| {
            x.execute(
                concat!(
                    "UPDATE runs SET outcome = $3, report = $4, finished_at = $5
                     WHERE run_id = $1 AND ",
                    fence_sql!("$1", "$2")
                ),
                args![
                    &fence.run_id,
                    &fence.owner,
                    outcome,
                    report.to_string(),
                    now_rfc3339()
                ],
            )
        })?;
        if n == 0 {
            return Err(self.fenced_miss(Some(fence), format!("no run {}", fence.run_id)));
        }
        Ok(())
    }

    /// The most recently started run.
    pub fn latest_run_id(&self) -> Result<Option<String>, StoreError> {
        self.with(|x| {
            x.text_opt(
                "SELECT run_id FROM runs ORDER BY started_at DESC, {seq} DESC LIMIT 1",
                args![],
            )
        })
    }

    pub fn run_get(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.with(|x| {
            let row = x.query_opt(
                "SELECT run_id, script, script_hash, params, profile, started_at, finished_at,
                   outcome, report FROM runs WHERE run_id = $1",
                args![run_id],
            )?;
            row.map(|r| record(&r).map_err(decode)).transpose()
        })
    }
}

/// What a run's start records besides its id.
pub struct RunStart<'a> {
    /// The script's path, or its name when it has none.
    pub script: &'a str,
    pub script_hash: &'a str,
    pub params: &'a Value,
    pub profile: &'a str,
}

fn insert_run(x: &mut dyn Exec, run_id: &str, start: &RunStart<'_>) -> Result<(), DbErr> {
    x.execute(
        "INSERT INTO runs (run_id, script, script_hash, params, profile, started_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (run_id) DO UPDATE SET outcome = 'running', finished_at = NULL,
           script_hash = excluded.script_hash, params = excluded.params",
        args![
            run_id,
            start.script,
            start.script_hash,
            start.params.to_string(),
            start.profile,
            now_rfc3339()
        ],
    )
    .map(|_| ())
}

fn record(r: &Row) -> Result<RunRecord, String> {
    let json = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
    Ok(RunRecord {
        run_id: r.req_text(0)?,
        script: r.req_text(1)?,
        script_hash: r.req_text(2)?,
        params: json(r.text(3)?).unwrap_or(Value::Null),
        profile: r.req_text(4)?,
        started_at: r.req_text(5)?,
        finished_at: r.text(6)?,
        outcome: r.req_text(7)?,
        report: json(r.text(8)?),
    })
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
