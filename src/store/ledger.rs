//! The ledger: every mutating BT call of a run, written before it is sent and after its result,
//! keyed by (run, step), so a re-run or resumed run never repeats a call that already happened.

use super::exec::{args, decode, Row, Write};
use super::leases::{fence_args, fence_sql, Fence};
use super::model::{LedgerEntry, StepState};
use super::rows::Cols;
use super::{now_rfc3339, Store, StoreError};
use crate::api::Operation;
use serde_json::Value;

fn parse_json(s: Option<String>) -> Option<Value> {
    s.and_then(|t| serde_json::from_str(&t).ok())
}

/// A step's outcome as the ledger's `result` and `error` columns: a done step's value is its
/// result, any other its error.
fn outcome_columns(state: StepState, value: &Value) -> (Option<String>, Option<String>) {
    match state {
        StepState::Done => (Some(value.to_string()), None),
        _ => (None, Some(value.to_string())),
    }
}

/// A ledger row: step, operation, request, state, result, error.
fn entry(r: &Row) -> Result<LedgerEntry, String> {
    Ok(LedgerEntry {
        step: r.req_int(0)?.max(0) as u64,
        operation: r.req_text(1)?,
        request: parse_json(r.text(2)?).unwrap_or(Value::Null),
        state: StepState::parse(&r.req_text(3)?),
        result: parse_json(r.text(4)?),
        error: parse_json(r.text(5)?),
    })
}

const ENTRY: &str = "SELECT step, operation, request, state, result, error FROM ledger";

impl Store {
    /// The entry for a step, if there is one.
    pub fn ledger_get(&self, run_id: &str, step: u64) -> Result<Option<LedgerEntry>, StoreError> {
        self.with(|x| {
            let sql = format!("{ENTRY} WHERE run_id = $1 AND step = $2");
            let row = x.query_opt(&sql, args![run_id, step as i64])?;
            row.map(|r| entry(&r).map_err(decode)).transpose()
        })
    }

    /// Records that a step is about to call BT. Replaces a failed attempt of the same step.
    /// Returns once committed (SQLite: by group commit, see `writer.rs`). With a `fence`,
    /// written only while the run holds its lease (checked in the same statement): else an
    /// error that [`StoreError::is_lease_lost`], and BT must not be called.
    pub fn ledger_begin(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let [fr, fo] = fence_args(fence);
        let n = self.write_committed(Write {
            sql: concat!(
                "INSERT INTO ledger (run_id, step, operation, request, state, started_at)
                 SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS TEXT), CAST($4 AS TEXT),
                   'started', CAST($5 AS TEXT)
                 WHERE ",
                fence_sql!("$6", "$7"),
                "
                 ON CONFLICT (run_id, step) DO UPDATE SET
                   operation = excluded.operation, request = excluded.request, state = 'started',
                   result = NULL, error = NULL, started_at = excluded.started_at, finished_at = NULL"
            ),
            args: vec![
                run_id.to_string().into(),
                (step as i64).into(),
                operation.as_str().into(),
                request.to_string().into(),
                now_rfc3339().into(),
                fr,
                fo,
            ],
        })?;
        if n == 0 {
            return Err(
                self.fenced_miss(fence, format!("run {run_id} step {step} was not recorded"))
            );
        }
        Ok(())
    }

    /// Records a step that is already done, in one write: a read, recorded after its answer
    /// (what [`Store::ledger_begin`] then [`Store::ledger_finish`] would leave, for half the writes).
    /// Returns once committed.
    pub fn ledger_record_done(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
        result: &Value,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let n =
            self.write_committed(record_done(run_id, step, operation, request, result, fence))?;
        if n == 0 {
            return Err(
                self.fenced_miss(fence, format!("run {run_id} step {step} was not recorded"))
            );
        }
        Ok(())
    }

    /// [`Store::ledger_record_done`] without waiting for the commit: a read's record. SQLite's
    /// writer applies writes in order, so it is durable no later than the next mutating call's
    /// [`Store::ledger_begin`] returns (which does wait), or [`Store::flush`]: a resumed run
    /// replays every read made before its last recorded mutating call. A failure is logged.
    /// PostgreSQL has no write queue and writes it at once. Fenced like every write of a run: a
    /// read's record of a run taken over is dropped (the next mutating call's record, which
    /// waits, then says the lease is gone).
    pub fn ledger_queue_done(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
        result: &Value,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        self.write_queued(
            record_done(run_id, step, operation, request, result, fence),
            "a read's answer",
        )
    }

    /// Records a step's outcome (fenced as [`Store::ledger_begin`] is).
    pub fn ledger_finish(
        &self,
        run_id: &str,
        step: u64,
        state: StepState,
        value: &Value,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        let (result, error) = outcome_columns(state, value);
        let [fr, fo] = fence_args(fence);
        let n = self.write_committed(Write {
            sql: concat!(
                "UPDATE ledger SET state = $3, result = $4, error = $5, finished_at = $6
                 WHERE run_id = $1 AND step = $2 AND ",
                fence_sql!("$7", "$8")
            ),
            args: vec![
                run_id.to_string().into(),
                (step as i64).into(),
                state.as_str().into(),
                result.into(),
                error.into(),
                now_rfc3339().into(),
                fr,
                fo,
            ],
        })?;
        if n == 0 {
            return Err(self.fenced_miss(
                fence,
                format!("no ledger entry for run {run_id} step {step}"),
            ));
        }
        Ok(())
    }

    /// Every step of a run, in order.
    pub fn ledger_steps(&self, run_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        self.with(|x| {
            x.rows(
                &format!("{ENTRY} WHERE run_id = $1 ORDER BY step"),
                args![run_id],
                entry,
            )
        })
    }
}

/// The upsert of a step that is already done.
fn record_done(
    run_id: &str,
    step: u64,
    operation: Operation,
    request: &Value,
    result: &Value,
    fence: Option<&Fence>,
) -> Write {
    let [fr, fo] = fence_args(fence);
    Write {
        sql: concat!(
            "INSERT INTO ledger (run_id, step, operation, request, state, result, started_at, finished_at)
              SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS TEXT), CAST($4 AS TEXT),
                'done', CAST($5 AS TEXT), CAST($6 AS TEXT), CAST($6 AS TEXT)
              WHERE ",
            fence_sql!("$7", "$8"),
            "
              ON CONFLICT (run_id, step) DO UPDATE SET
                operation = excluded.operation, request = excluded.request, state = 'done',
                result = excluded.result, error = NULL, started_at = excluded.started_at,
                finished_at = excluded.finished_at"
        ),
        args: vec![
            run_id.to_string().into(),
            (step as i64).into(),
            operation.as_str().into(),
            request.to_string().into(),
            result.to_string().into(),
            now_rfc3339().into(),
            fr,
            fo,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn a_step_is_written_before_and_after() {
        each_backend(|s| {
            assert!(s.ledger_get("r1", 1).unwrap().is_none());
            s.ledger_begin("r1", 1, Operation::OrderCreate, &json!({"a": 1}), None)
                .unwrap();
            let e = s.ledger_get("r1", 1).unwrap().unwrap();
            assert_eq!(e.state, StepState::Started);
            s.ledger_finish("r1", 1, StepState::Done, &json!({"id": "BTWKN1"}), None)
                .unwrap();
            let e = s.ledger_get("r1", 1).unwrap().unwrap();
            assert_eq!(
                (e.state, e.result),
                (StepState::Done, Some(json!({"id": "BTWKN1"})))
            );
            assert_eq!(s.ledger_steps("r1").unwrap().len(), 1);
            assert!(s
                .ledger_finish("r1", 2, StepState::Done, &json!(1), None)
                .is_err());
            s.ledger_record_done(
                "r1",
                2,
                Operation::OrderGet,
                &json!({"id": 1}),
                &json!({"state": "x"}),
                None,
            )
            .unwrap();
            let e = s.ledger_get("r1", 2).unwrap().unwrap();
            assert_eq!(
                (e.state, e.result),
                (StepState::Done, Some(json!({"state": "x"})))
            );
        });
    }

    #[test]
    fn a_queued_read_then_a_write_are_both_in_the_ledger_in_order() {
        each_backend(|s| {
            s.ledger_queue_done(
                "r",
                1,
                Operation::OrderGet,
                &json!({"id": "BTWKN1"}),
                &json!({"state": "acknowledged"}),
                None,
            )
            .unwrap();
            s.ledger_begin("r", 2, Operation::OrderSubmit, &json!("BTWKN1"), None)
                .unwrap();
            // No flush: the mutating call's record waited, so the read before it is committed.
            let steps = s.ledger_steps("r").unwrap();
            let seen: Vec<_> = steps.iter().map(|e| (e.step, e.state)).collect();
            assert_eq!(seen, vec![(1, StepState::Done), (2, StepState::Started)]);
            assert_eq!(steps[0].result, Some(json!({"state": "acknowledged"})));
        });
    }

    #[test]
    fn closing_keeps_the_wal_and_the_next_open_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        let s = Store::open(&path).unwrap();
        let wal = dir.path().join("btw.db-wal");
        s.ledger_queue_done("r", 1, Operation::OrderGet, &json!(1), &json!(2), None)
            .unwrap();
        s.close();
        // Not folded into the database at exit (that cost syncs on every run)...
        assert!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0);
        // ...and read back by the next process's open, with the queued write committed.
        let s = Store::open(&path).unwrap();
        assert_eq!(s.ledger_steps("r").unwrap().len(), 1);
    }

    #[test]
    fn the_store_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        {
            let s = Store::open(&path).unwrap();
            s.ledger_begin("r", 1, Operation::OrderSubmit, &json!("BTWKN1"), None)
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.ledger_get("r", 1).unwrap().unwrap().operation,
            "submit order"
        );
    }
}
