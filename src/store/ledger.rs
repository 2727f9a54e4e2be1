//! The ledger: every mutating BT call of a run, written before it is sent and after its result,
//! keyed by (run, step), so a re-run or resumed run never repeats a call that already happened.

use super::{now_rfc3339, Sqlite, StoreError};
use crate::api::Operation;
use rusqlite::{params, OptionalExtension};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Written before the call: if it is still `started`, the call's outcome is unknown.
    Started,
    Done,
    Failed,
}

impl StepState {
    fn as_str(self) -> &'static str {
        match self {
            StepState::Started => "started",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> StepState {
        match s {
            "done" => StepState::Done,
            "failed" => StepState::Failed,
            _ => StepState::Started,
        }
    }
}

/// One recorded step.
#[derive(Clone, Debug, PartialEq)]
pub struct LedgerEntry {
    pub step: u64,
    /// As stored: an [`Operation`]'s name, or a name from a version that had other operations.
    pub operation: String,
    pub request: Value,
    pub state: StepState,
    pub result: Option<Value>,
    pub error: Option<Value>,
}

fn parse_json(s: Option<String>) -> Option<Value> {
    s.and_then(|t| serde_json::from_str(&t).ok())
}

impl Sqlite {
    /// The entry for a step, if there is one.
    pub fn ledger_get(&self, run_id: &str, step: u64) -> Result<Option<LedgerEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT operation, request, state, result, error FROM ledger WHERE run_id = ?1 AND step = ?2",
            )
            .map_err(|e| self.error(e))?;
        stmt.query_row(params![run_id, step as i64], |r| {
            Ok(LedgerEntry {
                step,
                operation: r.get(0)?,
                request: parse_json(r.get(1)?).unwrap_or(Value::Null),
                state: StepState::parse(&r.get::<_, String>(2)?),
                result: parse_json(r.get(3)?),
                error: parse_json(r.get(4)?),
            })
        })
        .optional()
        .map_err(|e| self.error(e))
    }

    /// Records that a step is about to call BT. Replaces a failed attempt of the same step.
    /// Returns once committed (group commit: see `writer.rs`).
    pub fn ledger_begin(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
    ) -> Result<(), StoreError> {
        let (run_id, operation, request, now) = (
            run_id.to_string(),
            operation.as_str(),
            request.to_string(),
            now_rfc3339(),
        );
        self.writer
            .write(Box::new(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO ledger (run_id, step, operation, request, state, started_at)
                     VALUES (?1, ?2, ?3, ?4, 'started', ?5)
                     ON CONFLICT (run_id, step) DO UPDATE SET
                       operation = excluded.operation, request = excluded.request, state = 'started',
                       result = NULL, error = NULL, started_at = excluded.started_at, finished_at = NULL",
                )?
                .execute(params![run_id, step as i64, operation, request, now])
            }))
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Records a step that is already done, in one write: a read, recorded after its answer
    /// (what [`Store::ledger_begin`] then [`Store::ledger_finish`] would leave, for half the writes).
    pub fn ledger_record_done(
        &self,
        run_id: &str,
        step: u64,
        operation: Operation,
        request: &Value,
        result: &Value,
    ) -> Result<(), StoreError> {
        let (run_id, operation, request, result, now) = (
            run_id.to_string(),
            operation.as_str(),
            request.to_string(),
            result.to_string(),
            now_rfc3339(),
        );
        self.writer
            .write(Box::new(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO ledger (run_id, step, operation, request, state, result, started_at, finished_at)
                     VALUES (?1, ?2, ?3, ?4, 'done', ?5, ?6, ?6)
                     ON CONFLICT (run_id, step) DO UPDATE SET
                       operation = excluded.operation, request = excluded.request, state = 'done',
                       result = excluded.result, error = NULL, started_at = excluded.started_at,
                       finished_at = excluded.finished_at",
                )?
                .execute(params![run_id, step as i64, operation, request, result, now])
            }))
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Records a step's outcome.
    pub fn ledger_finish(
        &self,
        run_id: &str,
        step: u64,
        state: StepState,
        value: &Value,
    ) -> Result<(), StoreError> {
        let (result, error) = match state {
            StepState::Done => (Some(value.to_string()), None),
            _ => (None, Some(value.to_string())),
        };
        let (id, now) = (run_id.to_string(), now_rfc3339());
        let n = self
            .writer
            .write(Box::new(move |conn| {
                conn.prepare_cached(
                    "UPDATE ledger SET state = ?3, result = ?4, error = ?5, finished_at = ?6
                     WHERE run_id = ?1 AND step = ?2",
                )?
                .execute(params![
                    id,
                    step as i64,
                    state.as_str(),
                    result,
                    error,
                    now
                ])
            }))
            .map_err(|e| self.error(e))?;
        if n == 0 {
            return Err(self.error(format!("no ledger entry for run {run_id} step {step}")));
        }
        Ok(())
    }

    /// Every step of a run, in order.
    pub fn ledger_steps(&self, run_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT step, operation, request, state, result, error FROM ledger
                 WHERE run_id = ?1 ORDER BY step",
            )
            .map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(LedgerEntry {
                    step: r.get::<_, i64>(0)? as u64,
                    operation: r.get(1)?,
                    request: parse_json(r.get(2)?).unwrap_or(Value::Null),
                    state: StepState::parse(&r.get::<_, String>(3)?),
                    result: parse_json(r.get(4)?),
                    error: parse_json(r.get(5)?),
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    #[test]
    fn a_step_is_written_before_and_after() {
        let s = Store::in_memory();
        assert!(s.ledger_get("r1", 1).unwrap().is_none());
        s.ledger_begin("r1", 1, Operation::OrderCreate, &json!({"a": 1}))
            .unwrap();
        let e = s.ledger_get("r1", 1).unwrap().unwrap();
        assert_eq!(e.state, StepState::Started);
        s.ledger_finish("r1", 1, StepState::Done, &json!({"id": "BTWKN1"}))
            .unwrap();
        let e = s.ledger_get("r1", 1).unwrap().unwrap();
        assert_eq!(
            (e.state, e.result),
            (StepState::Done, Some(json!({"id": "BTWKN1"})))
        );
        assert_eq!(s.ledger_steps("r1").unwrap().len(), 1);
        assert!(s
            .ledger_finish("r1", 2, StepState::Done, &json!(1))
            .is_err());
        s.ledger_record_done(
            "r1",
            2,
            Operation::OrderGet,
            &json!({"id": 1}),
            &json!({"state": "x"}),
        )
        .unwrap();
        let e = s.ledger_get("r1", 2).unwrap().unwrap();
        assert_eq!(
            (e.state, e.result),
            (StepState::Done, Some(json!({"state": "x"})))
        );
    }

    #[test]
    fn the_store_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btw.db");
        {
            let s = Store::open(&path).unwrap();
            s.ledger_begin("r", 1, Operation::OrderSubmit, &json!("BTWKN1"))
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.ledger_get("r", 1).unwrap().unwrap().operation,
            "submit order"
        );
    }
}
