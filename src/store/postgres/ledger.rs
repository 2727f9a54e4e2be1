//! The ledger, runs and what the console reads, on PostgreSQL. Each ledger write is its own
//! statement, committed before it returns, as "recorded before the call is sent" requires.

use super::errors::{decode, PgErr};
use super::Pg;
use crate::api::Operation;
use crate::store::ledger::outcome_columns;
use crate::store::rows::Cols;
use crate::store::{
    now_rfc3339, LedgerEntry, RunFilter, RunRecord, RunSummary, StepState, StoreError,
};
use serde_json::Value;
use std::time::Duration;

fn json(s: Option<String>) -> Option<Value> {
    s.and_then(|t| serde_json::from_str(&t).ok())
}

fn step_state(s: &str) -> StepState {
    match s {
        "done" => StepState::Done,
        "failed" => StepState::Failed,
        _ => StepState::Started,
    }
}

fn step_text(s: StepState) -> &'static str {
    match s {
        StepState::Started => "started",
        StepState::Done => "done",
        StepState::Failed => "failed",
    }
}

/// A ledger row: step, operation, request, state, result, error.
fn entry(r: &tokio_postgres::Row) -> Result<LedgerEntry, PgErr> {
    let e = || -> Result<LedgerEntry, String> {
        Ok(LedgerEntry {
            step: r.req_int(0)?.max(0) as u64,
            operation: r.req_text(1)?,
            request: json(r.text(2)?).unwrap_or(Value::Null),
            state: step_state(&r.req_text(3)?),
            result: json(r.text(4)?),
            error: json(r.text(5)?),
        })
    };
    e().map_err(decode)
}

impl Pg {
    pub fn ledger_get(&self, run_id: &str, step: u64) -> Result<Option<LedgerEntry>, StoreError> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT step, operation, request, state, result, error FROM ledger
                     WHERE run_id = $1 AND step = $2",
                    &[&run_id, &(step as i64)],
                )
                .await?;
            row.map(|r| entry(&r)).transpose()
        })
    }

    pub fn ledger_begin(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO ledger (run_id, step, operation, request, state, started_at)
             VALUES ($1, $2, $3, $4, 'started', $5)
             ON CONFLICT (run_id, step) DO UPDATE SET
               operation = excluded.operation, request = excluded.request, state = 'started',
               result = NULL, error = NULL, started_at = excluded.started_at, finished_at = NULL",
            &[
                &run_id,
                &(step as i64),
                &operation.as_str(),
                &request.to_string(),
                &now_rfc3339(),
            ],
        )
        .map(|_| ())
    }

    /// A read's record: PostgreSQL has no write queue, so it is written at once.
    pub fn ledger_queue_done(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
        result: &Value,
    ) -> Result<(), StoreError> {
        self.ledger_record_done(run_id, step, operation, request, result)
    }

    /// Every write has been committed by the time it returned: nothing to wait for.
    pub fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn ledger_record_done(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
        result: &Value,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO ledger (run_id, step, operation, request, state, result, started_at, finished_at)
             VALUES ($1, $2, $3, $4, 'done', $5, $6, $6)
             ON CONFLICT (run_id, step) DO UPDATE SET
               operation = excluded.operation, request = excluded.request, state = 'done',
               result = excluded.result, error = NULL, started_at = excluded.started_at,
               finished_at = excluded.finished_at",
            &[
                &run_id,
                &(step as i64),
                &operation.as_str(),
                &request.to_string(),
                &result.to_string(),
                &now_rfc3339(),
            ],
        )
        .map(|_| ())
    }

    pub fn ledger_finish(
        &self,
        run_id: &str,
        step: u64,
        state: StepState,
        value: &Value,
    ) -> Result<(), StoreError> {
        let (result, error) = outcome_columns(state, value);
        let n = self.exec(
            "UPDATE ledger SET state = $3, result = $4, error = $5, finished_at = $6
             WHERE run_id = $1 AND step = $2",
            &[
                &run_id,
                &(step as i64),
                &step_text(state),
                &result,
                &error,
                &now_rfc3339(),
            ],
        )?;
        if n == 0 {
            return Err(self.error(PgErr(format!(
                "no ledger entry for run {run_id} step {step}"
            ))));
        }
        Ok(())
    }

    pub fn ledger_steps(&self, run_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT step, operation, request, state, result, error FROM ledger
                     WHERE run_id = $1 ORDER BY step",
                    &[&run_id],
                )
                .await?;
            rows.iter().map(entry).collect()
        })
    }

    pub fn run_started(
        &self,
        run_id: &str,
        script: &str,
        script_hash: &str,
        params: &Value,
        profile: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO runs (run_id, script, script_hash, params, profile, started_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (run_id) DO UPDATE SET outcome = 'running', finished_at = NULL,
               script_hash = excluded.script_hash",
            &[
                &run_id,
                &script,
                &script_hash,
                &params.to_string(),
                &profile,
                &now_rfc3339(),
            ],
        )
        .map(|_| ())
    }

    pub fn run_finished(
        &self,
        run_id: &str,
        outcome: &str,
        report: &Value,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE runs SET outcome = $2, report = $3, finished_at = $4 WHERE run_id = $1",
            &[&run_id, &outcome, &report.to_string(), &now_rfc3339()],
        )
        .map(|_| ())
    }

    pub fn latest_run_id(&self) -> Result<Option<String>, StoreError> {
        self.text_opt(
            "SELECT run_id FROM runs ORDER BY started_at DESC, seq DESC LIMIT 1",
            &[],
        )
    }

    pub fn run_get(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.block(async {
            let row = self
                .client()
                .await?
                .query_opt(
                    "SELECT run_id, script, script_hash, params, profile, started_at, finished_at,
                       outcome, report FROM runs WHERE run_id = $1",
                    &[&run_id],
                )
                .await?;
            let Some(r) = row else { return Ok(None) };
            let rec = || -> Result<RunRecord, String> {
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
            };
            rec().map(Some).map_err(decode)
        })
    }

    pub fn runs_list(&self, f: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        self.block(async {
            let rows = self
                .client()
                .await?
                .query(
                    "SELECT run_id, script, script_hash, outcome, started_at, finished_at FROM runs
                     WHERE ($1 = '' OR script = $1 OR script LIKE '%/' || $1)
                       AND ($2 = '' OR outcome = $2 OR ($2 = 'failed' AND outcome NOT IN ('ok', 'running')))
                       AND ($3 = '' OR started_at >= $3)
                     ORDER BY started_at DESC, seq DESC LIMIT $4 OFFSET $5",
                    &[
                        &f.recipe.as_deref().unwrap_or(""),
                        &f.outcome.as_deref().unwrap_or(""),
                        &f.since.as_deref().unwrap_or(""),
                        &(f.limit.max(1) as i64),
                        &(f.offset as i64),
                    ],
                )
                .await?;
            let one = |r: &tokio_postgres::Row| -> Result<RunSummary, String> {
                Ok(RunSummary {
                    run_id: r.req_text(0)?,
                    recipe: r.req_text(1)?,
                    script_hash: r.req_text(2)?,
                    outcome: r.req_text(3)?,
                    started_at: r.req_text(4)?,
                    finished_at: r.text(5)?,
                })
            };
            rows.iter().map(|r| one(r).map_err(decode)).collect()
        })
    }

    pub fn jobs_due_and_missed(&self, now: &str) -> Result<(u64, u64), StoreError> {
        self.block(async {
            let r = self
                .client()
                .await?
                .query_one(
                    "SELECT
                       (SELECT COUNT(*) FROM jobs WHERE state = 'scheduled' AND next_run_at <= $1),
                       (SELECT COUNT(*) FROM jobs WHERE state = 'missed')",
                    &[&now],
                )
                .await?;
            let n = |i: usize| r.int(i).map(|v| v.unwrap_or(0).max(0) as u64);
            Ok((n(0)?, n(1)?))
        })
    }

    /// Whether the database takes a write now: a transaction that is not read-only, on a
    /// server that is not a standby, answered within `wait`. Nothing is written.
    pub fn probe_writable(&self, wait: Duration) -> Result<(), StoreError> {
        self.block(async {
            let probe = async {
                let c = self.client().await?;
                let standby: bool = c.query_one("SELECT pg_is_in_recovery()", &[]).await?.get(0);
                if standby {
                    return Err(PgErr(
                        "not writable: the server is a read-only standby".into(),
                    ));
                }
                Ok(())
            };
            tokio::time::timeout(wait, probe)
                .await
                .unwrap_or_else(|_| Err(PgErr(format!("not writable: no answer in {wait:?}"))))
        })
    }
}
