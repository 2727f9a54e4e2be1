//! The ledger protocol: how a run's BT calls are recorded so that a resumed run never repeats a
//! call that already took effect ("nothing lost, nothing doubled").
//!
//! A mutating call is written `started` before it is sent and `done` (or `failed`) after; a read
//! is written once, after its answer. On a re-run of the same run id a `done` step returns its
//! recorded result without calling BT, and a step left `started` (the process died mid-call) is
//! first settled by asking BT whether it took effect. This module knows nothing of scripts: the
//! bindings hand it the step's request, the call and the recovery, and convert what comes back.

use crate::api::{ApiError, Operation};
use crate::store::{Fence, StepState, Store, StoreError};
use serde_json::Value;

/// How a step's call failed, as far as the ledger needs to know.
pub trait StepFailure {
    /// Whether the call may have reached BT and taken effect (a timeout, a connection lost after
    /// sending, a run cancelled mid-call): the step then stays `started`, to be settled by asking
    /// BT on resume, never recorded as failed.
    fn outcome_unknown(&self) -> bool;
    /// What the ledger keeps of a definite failure.
    fn detail(&self) -> Value;
}

impl StepFailure for ApiError {
    fn outcome_unknown(&self) -> bool {
        // A cancelled call may have been sent before the cancel reached it.
        ApiError::outcome_unknown(self) || matches!(self, ApiError::Cancelled { .. })
    }
    fn detail(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// Why a step did not return a value.
#[derive(Debug)]
pub enum LedgerError<E> {
    /// The call (or the recovery of an interrupted one) failed.
    Call(E),
    /// The store could not read or record the step. `sent` says whether BT was called.
    Store {
        operation: Operation,
        step: u64,
        sent: bool,
        error: StoreError,
    },
    /// A resumed run reached a step that was recorded as another call: the script changed.
    Diverged {
        run_id: String,
        step: u64,
        recorded: String,
        now: Operation,
    },
    /// A resumed run would send a step that already happened with another request (a
    /// corrected parameter reached it): `field` is the first that differs.
    Changed {
        run_id: String,
        step: u64,
        operation: Operation,
        field: String,
    },
}

impl<E> LedgerError<E> {
    /// Whether the step was refused because the run's lease is gone: the run must stop at once.
    pub fn lease_lost(&self) -> bool {
        matches!(self, LedgerError::Store { error, .. } if error.is_lease_lost())
    }
}

impl<E: std::fmt::Display> std::fmt::Display for LedgerError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::Call(e) => e.fmt(f),
            LedgerError::Store {
                operation,
                step,
                sent: false,
                error,
            } => write!(
                f,
                "{operation}: the ledger could not record step {step}, so BT was not called: {error}"
            ),
            LedgerError::Store {
                operation,
                step,
                sent: true,
                error,
            } => write!(
                f,
                "{operation}: the ledger could not record step {step}: {error}"
            ),
            LedgerError::Diverged {
                run_id,
                step,
                recorded,
                now,
            } => write!(
                f,
                "cannot resume run {run_id}: its step {step} was '{recorded}' and is now '{now}' (the script changed before this point)"
            ),
            LedgerError::Changed {
                run_id,
                step,
                operation,
                field,
            } => write!(
                f,
                "cannot resume run {run_id}: step {step} ({operation}) already happened with another request; its {field} would now differ (a corrected parameter or a changed script reaches a step that is done: start a new run instead)"
            ),
        }
    }
}

/// What happened at a step besides its result, for the run's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The step was done in an earlier attempt: its recorded result is reused.
    Reused,
    /// The step was interrupted mid-call in an earlier attempt: BT is asked whether it took effect.
    Interrupted,
}

impl Notice {
    /// The log line for this notice at `step`.
    pub fn describe(self, step: u64, operation: Operation) -> String {
        match self {
            Notice::Reused => format!(
                "step {step} ({operation}) was done in an earlier attempt: reusing its result"
            ),
            Notice::Interrupted => format!(
                "step {step} ({operation}) was interrupted: asking BT whether it took effect"
            ),
        }
    }
}

/// One step of a run: where it is recorded (no store: calls are made but not recorded).
#[derive(Clone, Copy)]
pub struct Step<'a> {
    pub store: Option<&'a Store>,
    /// The run's lease, checked inside each of the step's writes; none: unfenced (a run that
    /// holds no lease, as the REPL's).
    pub fence: Option<&'a Fence>,
    pub run_id: &'a str,
    pub step: u64,
    pub operation: Operation,
    /// The run id was made for this run (not resumed, nor a daemon's run taken over): the
    /// ledger has nothing of it to replay, so the step is not looked up first.
    pub fresh: bool,
}

impl Step<'_> {
    fn store_error<E>(&self, sent: bool) -> impl Fn(StoreError) -> LedgerError<E> + '_ {
        move |error| LedgerError::Store {
            operation: self.operation,
            step: self.step,
            sent,
            error,
        }
    }

    /// The step's earlier record, refused when it was another call, or the same call with
    /// another request (compared without the fields a run generates itself) once it may have
    /// reached BT. A step BT refused is sent again with the new request: that is what a
    /// correction is for.
    fn recorded<E>(
        &self,
        store: &Store,
        request: &Value,
    ) -> Result<Option<crate::store::LedgerEntry>, LedgerError<E>> {
        if self.fresh {
            return Ok(None);
        }
        let entry = store
            .ledger_get(self.run_id, self.step)
            .map_err(self.store_error(false))?;
        match entry {
            Some(e) if e.operation != self.operation.as_str() => Err(LedgerError::Diverged {
                run_id: self.run_id.to_string(),
                step: self.step,
                recorded: e.operation,
                now: self.operation,
            }),
            Some(e) if e.state != StepState::Failed => {
                match first_difference(&e.request, request, "request") {
                    Some(field) => Err(LedgerError::Changed {
                        run_id: self.run_id.to_string(),
                        step: self.step,
                        operation: self.operation,
                        field,
                    }),
                    None => Ok(Some(e)),
                }
            }
            other => Ok(other),
        }
    }

    /// Runs a mutating call through the ledger: replayed when done before, settled with
    /// `recover` (given the recorded request) when interrupted mid-call, else recorded
    /// `started`, sent with `call`, and recorded with its outcome.
    pub fn mutate<E: StepFailure>(
        &self,
        request: Value,
        call: impl FnOnce(&Value) -> Result<Value, E>,
        recover: impl FnOnce(&Value) -> Result<Option<Value>, E>,
        mut notice: impl FnMut(Notice),
    ) -> Result<Value, LedgerError<E>> {
        let Some(store) = self.store else {
            return call(&request).map_err(LedgerError::Call);
        };
        if let Some(entry) = self.recorded(store, &request)? {
            match entry.state {
                StepState::Done => {
                    notice(Notice::Reused);
                    return Ok(entry.result.unwrap_or(Value::Null));
                }
                StepState::Started => {
                    notice(Notice::Interrupted);
                    if let Some(v) = recover(&entry.request).map_err(LedgerError::Call)? {
                        store
                            .ledger_finish(self.run_id, self.step, StepState::Done, &v, self.fence)
                            .map_err(self.store_error(true))?;
                        return Ok(v);
                    }
                }
                // BT refused it last time: it is sent again.
                StepState::Failed => {}
            }
        }
        store
            .ledger_begin(self.run_id, self.step, self.operation, &request, self.fence)
            .map_err(self.store_error(false))?;
        stall_before_send(self.operation);
        match call(&request) {
            Ok(v) => {
                store
                    .ledger_finish(self.run_id, self.step, StepState::Done, &v, self.fence)
                    .map_err(self.store_error(true))?;
                Ok(v)
            }
            Err(e) => {
                if !e.outcome_unknown() {
                    // Best effort: the call's own error matters more than this record.
                    let _ = store.ledger_finish(
                        self.run_id,
                        self.step,
                        StepState::Failed,
                        &e.detail(),
                        self.fence,
                    );
                }
                Err(LedgerError::Call(e))
            }
        }
    }

    /// Runs a read through the ledger, so that a resumed run replays what it saw the first time
    /// (a verify that found a name free must find it free again on resume, although the
    /// interrupted attempt has since used the name) and then carries on live. Reads are recorded
    /// once, after their answer, without waiting for the commit: repeating one is harmless, and
    /// the store commits it before any later mutating call's record.
    pub fn read<E>(
        &self,
        request: &Value,
        call: impl FnOnce() -> Result<Value, E>,
    ) -> Result<Value, LedgerError<E>> {
        let Some(store) = self.store else {
            return call().map_err(LedgerError::Call);
        };
        if let Some(entry) = self.recorded(store, request)? {
            if entry.state == StepState::Done {
                return Ok(entry.result.unwrap_or(Value::Null));
            }
        }
        let value = call().map_err(LedgerError::Call)?;
        store
            .ledger_queue_done(
                self.run_id,
                self.step,
                self.operation,
                request,
                &value,
                self.fence,
            )
            .map_err(self.store_error(true))?;
        Ok(value)
    }
}

/// The crash tests' way to stop a run between a mutating call's record and its send:
/// `BTW_TEST_STALL_BEFORE_SEND` set to an operation's name (`create order`) parks the run there
/// for good, once it has said so on stderr, until the test kills the process.
fn stall_before_send(operation: Operation) {
    static STALL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let stall = STALL.get_or_init(|| std::env::var("BTW_TEST_STALL_BEFORE_SEND").ok());
    if stall.as_deref() == Some(operation.as_str()) {
        eprintln!("stalled before sending {}", operation.as_str());
        loop {
            std::thread::park();
        }
    }
}

/// Fields a run generates itself: the same run makes them the same on every attempt, and a
/// tracking id is BT's, so they say nothing of what the script asked for.
const GENERATED: &[&str] = &["externalId", "external_id", "trackingId", "tracking_id"];

/// The path of the first field where `now` differs from `recorded` (values are not shown: a
/// request may carry a secret).
fn first_difference(recorded: &Value, now: &Value, path: &str) -> Option<String> {
    match (recorded, now) {
        (Value::Object(a), Value::Object(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            keys.filter(|k| !GENERATED.contains(&k.as_str()))
                .find_map(|k| {
                    let (x, y) = (
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                    );
                    first_difference(x, y, &format!("{path}.{k}"))
                })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"))),
        (a, b) if a == b => None,
        _ => Some(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::Cell;

    fn step(store: &Store, n: u64, operation: Operation) -> Step<'_> {
        Step {
            store: Some(store),
            fence: None,
            fresh: false,
            run_id: "run-1",
            step: n,
            operation,
        }
    }

    fn timeout() -> ApiError {
        ApiError::Timeout {
            operation: "create order".into(),
            secs: 30.0,
        }
    }

    fn refused() -> ApiError {
        ApiError::Bt(Box::new(crate::api::BtError::from_body(
            "create order",
            400,
            r#"{"code":"22","reason":"TooManyUsers","message":"At most three users"}"#,
        )))
    }

    fn no_recovery(_: &Value) -> Result<Option<Value>, ApiError> {
        panic!("a step that was not interrupted is never recovered")
    }

    #[test]
    fn a_done_step_is_replayed_without_calling() {
        let store = Store::in_memory();
        let s = step(&store, 1, Operation::OrderCreate);
        let first = s
            .mutate(
                json!({"externalId": "x"}),
                |_| Ok::<_, ApiError>(json!({"id": "BTWKN1"})),
                no_recovery,
                |_| {},
            )
            .unwrap();
        let mut notices = vec![];
        let again = s
            .mutate(
                json!({"externalId": "x"}),
                |_| -> Result<Value, ApiError> { panic!("sent twice") },
                no_recovery,
                |n| notices.push(n),
            )
            .unwrap();
        assert_eq!(
            (first, again.clone()),
            (json!({"id": "BTWKN1"}), json!({"id": "BTWKN1"}))
        );
        assert_eq!(notices, vec![Notice::Reused]);
    }

    #[test]
    fn a_crash_between_send_and_record_is_settled_by_asking_bt() {
        let store = Store::in_memory();
        // The process died after the request was recorded and sent, before its answer was.
        store
            .ledger_begin(
                "run-1",
                1,
                Operation::OrderCreate,
                &json!({"externalId": "btw-run-1-1"}),
                None,
            )
            .unwrap();
        let s = step(&store, 1, Operation::OrderCreate);
        let asked = Cell::new(None);
        let v = s
            .mutate(
                json!({"externalId": "btw-run-1-1"}),
                |_| -> Result<Value, ApiError> { panic!("BT had it: it must not be sent again") },
                |recorded| {
                    asked.set(recorded["externalId"].as_str().map(String::from));
                    Ok(Some(json!({"id": "BTWKN7"})))
                },
                |_| {},
            )
            .unwrap();
        assert_eq!(v, json!({"id": "BTWKN7"}));
        assert_eq!(asked.take().as_deref(), Some("btw-run-1-1"));
        let e = store.ledger_get("run-1", 1).unwrap().unwrap();
        assert_eq!((e.state, e.result), (StepState::Done, Some(v)));
    }

    #[test]
    fn an_interrupted_step_bt_never_saw_is_sent_again() {
        let store = Store::in_memory();
        store
            .ledger_begin(
                "run-1",
                1,
                Operation::OrderSubmit,
                &json!({"id": "BTWKN1"}),
                None,
            )
            .unwrap();
        let sent = Cell::new(0);
        let v = step(&store, 1, Operation::OrderSubmit)
            .mutate(
                json!({"id": "BTWKN1"}),
                |_| {
                    sent.set(sent.get() + 1);
                    Ok::<_, ApiError>(json!({"id": "BTWKN1"}))
                },
                |_| Ok(None),
                |_| {},
            )
            .unwrap();
        assert_eq!((sent.get(), v), (1, json!({"id": "BTWKN1"})));
    }

    #[test]
    fn an_unknown_outcome_stays_started_and_a_refusal_is_recorded_failed() {
        let store = Store::in_memory();
        let err = step(&store, 1, Operation::OrderCreate)
            .mutate(json!({}), |_| Err(timeout()), no_recovery, |_| {})
            .unwrap_err();
        assert!(matches!(err, LedgerError::Call(ApiError::Timeout { .. })));
        assert_eq!(
            store.ledger_get("run-1", 1).unwrap().unwrap().state,
            StepState::Started,
            "a timed-out call may have taken effect: the resume must ask BT"
        );
        step(&store, 2, Operation::OrderCreate)
            .mutate(json!({}), |_| Err(refused()), no_recovery, |_| {})
            .unwrap_err();
        let e = store.ledger_get("run-1", 2).unwrap().unwrap();
        assert_eq!(e.state, StepState::Failed);
        assert!(e.error.unwrap().to_string().contains("TooManyUsers"));
        // A refused step is sent again on resume, not recovered.
        let v = step(&store, 2, Operation::OrderCreate)
            .mutate(
                json!({}),
                |_| Ok::<_, ApiError>(json!(1)),
                no_recovery,
                |_| {},
            )
            .unwrap();
        assert_eq!(v, json!(1));
    }

    #[test]
    fn a_cancelled_call_is_not_recorded_as_failed() {
        let store = Store::in_memory();
        let cancelled = ApiError::Cancelled {
            operation: "submit order".into(),
        };
        step(&store, 1, Operation::OrderSubmit)
            .mutate(json!({}), |_| Err(cancelled), no_recovery, |_| {})
            .unwrap_err();
        assert_eq!(
            store.ledger_get("run-1", 1).unwrap().unwrap().state,
            StepState::Started
        );
    }

    #[test]
    fn a_changed_script_is_refused_rather_than_handed_another_calls_result() {
        let store = Store::in_memory();
        step(&store, 1, Operation::OrderCreate)
            .mutate(
                json!({}),
                |_| Ok::<_, ApiError>(json!({"id": "A"})),
                no_recovery,
                |_| {},
            )
            .unwrap();
        let err = step(&store, 1, Operation::OrderSubmit)
            .mutate(
                json!({}),
                |_| -> Result<Value, ApiError> { panic!("sent after the script changed") },
                no_recovery,
                |_| {},
            )
            .unwrap_err();
        assert!(matches!(err, LedgerError::Diverged { step: 1, .. }));
        assert!(
            err.to_string()
                .contains("was 'create order' and is now 'submit order'"),
            "{err}"
        );
        let err = step(&store, 1, Operation::OrderGet)
            .read(&json!({}), || -> Result<Value, ApiError> {
                panic!("read after the script changed")
            })
            .unwrap_err();
        assert!(matches!(err, LedgerError::Diverged { .. }));
    }

    #[test]
    fn a_corrected_request_reaches_a_refused_step_but_never_a_done_one() {
        let store = Store::in_memory();
        let s = step(&store, 1, Operation::NumbersRingfence);
        s.mutate(
            json!({"areaCode": "9999"}),
            |_| Err(refused()),
            no_recovery,
            |_| {},
        )
        .unwrap_err();
        // Refused before: the corrected request is sent.
        let v = s
            .mutate(
                json!({"areaCode": "0121"}),
                |_| Ok::<_, ApiError>(json!({"start": "0121"})),
                no_recovery,
                |_| {},
            )
            .unwrap();
        assert_eq!(v, json!({"start": "0121"}));
        // Done now: another request for it is refused, naming the field but not its value.
        let err = s
            .mutate(
                json!({"areaCode": "0161", "externalId": "other"}),
                |_| -> Result<Value, ApiError> { panic!("sent after it was done") },
                no_recovery,
                |_| {},
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, LedgerError::Changed { step: 1, .. }));
        assert!(
            text.contains("its request.areaCode would now differ"),
            "{text}"
        );
        assert!(!text.contains("0161"), "{text}");
        // The run's own generated fields do not count as a change.
        s.mutate(
            json!({"areaCode": "0121", "externalId": "btw-r-1"}),
            |_| -> Result<Value, ApiError> { panic!("sent twice") },
            no_recovery,
            |_| {},
        )
        .unwrap();
    }

    #[test]
    fn a_read_is_replayed_as_first_seen() {
        let store = Store::in_memory();
        let s = step(&store, 1, Operation::OrderGet);
        s.read(&json!({"id": "A"}), || {
            Ok::<_, ApiError>(json!({"state": "free"}))
        })
        .unwrap();
        store.flush().unwrap();
        let again = s
            .read(&json!({"id": "A"}), || -> Result<Value, ApiError> {
                panic!("read twice")
            })
            .unwrap();
        assert_eq!(again, json!({"state": "free"}));
    }

    #[test]
    fn without_a_store_calls_are_made_and_nothing_is_recorded() {
        let s = Step {
            store: None,
            fence: None,
            fresh: false,
            run_id: "r",
            step: 1,
            operation: Operation::OrderSubmit,
        };
        let v = s
            .mutate(
                json!({}),
                |_| Ok::<_, ApiError>(json!(7)),
                no_recovery,
                |_| {},
            )
            .unwrap();
        assert_eq!(v, json!(7));
    }
}
