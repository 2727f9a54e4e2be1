//! What the operator's console, `btw runs` and `btw status` read: runs newest first with
//! filters, runs counted by outcome, jobs due, missed and failed, the alert queue's state.

use super::exec::{args, decode, Engine};
use super::model::{AlertQueueState, EventSummary, OutcomeCount, RunFilter, RunSummary};
use super::rows::Cols;
use super::{Store, StoreError};

/// A JSON member of a text column as text (a scalar's text, an object's JSON), as each engine
/// spells it; `NULL` when missing, JSON null, or the column is not JSON.
fn json_member(engine: Engine, column: &str, path: &[&str]) -> String {
    match engine {
        Engine::Sqlite => format!(
            "CASE WHEN json_valid({column}) THEN CAST(json_extract({column}, '$.{}') AS TEXT) END",
            path.join(".")
        ),
        Engine::Postgres => format!(
            "CASE WHEN {column} LIKE '{{%' THEN {column}::jsonb #>> '{{{}}}' END",
            path.join(",")
        ),
    }
}

/// The runs of an outcome filter: `failed` (anything but ok and running), a class the front page
/// counts (`bt_refused`, `bt_unavailable`, `timed_out`), or one outcome; `$2` is the filter.
fn outcome_filter(engine: Engine, report: &str, outcome: &str) -> String {
    let status = json_member(engine, report, &["error", "bt", "status"]);
    let unavailable =
        format!("(CAST({status} AS INTEGER) >= 500 OR CAST({status} AS INTEGER) = 429)");
    format!(
        "($2 = '' OR {outcome} = $2
          OR ($2 = 'failed' AND {outcome} NOT IN ('ok', 'running'))
          OR ($2 = 'bt_unavailable' AND ({outcome} = 'unreachable' OR ({outcome} = 'bt' AND {unavailable})))
          OR ($2 = 'bt_refused' AND {outcome} = 'bt' AND NOT COALESCE({unavailable}, FALSE))
          OR ($2 = 'timed_out' AND {outcome} = 'limit' AND {report} LIKE '%run timed out%'))"
    )
}

impl Store {
    /// Runs newest first, filtered, with where each daemon run came from and its failure.
    pub fn runs_list(&self, f: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        self.with(|x| {
            let error = json_member(x.engine(), "r.report", &["error"]);
            let outcome = outcome_filter(x.engine(), "r.report", "r.outcome");
            let sql = format!(
                "SELECT r.run_id, r.script, r.script_hash, r.outcome, r.started_at, r.finished_at,
                   d.origin, d.attempts, {error}
                 FROM runs r LEFT JOIN daemon_runs d ON d.run_id = r.run_id
                 WHERE ($1 = '' OR r.script = $1 OR r.script LIKE '%/' || $1)
                   AND {outcome}
                   AND ($3 = '' OR r.started_at >= $3)
                   AND ($6 = '' OR ($6 = 'command' AND d.origin IS NULL)
                        OR d.origin = $6 OR d.origin LIKE $6 || ':%')
                 ORDER BY r.started_at DESC, r.{{seq}} DESC LIMIT $4 OFFSET $5"
            );
            x.rows(
                &sql,
                args![
                    f.recipe.as_deref().unwrap_or(""),
                    f.outcome.as_deref().unwrap_or(""),
                    f.since.as_deref().unwrap_or(""),
                    f.limit.max(1) as i64,
                    f.offset as i64,
                    f.origin.as_deref().unwrap_or("")
                ],
                |r| {
                    Ok(RunSummary {
                        run_id: r.req_text(0)?,
                        recipe: r.req_text(1)?,
                        script_hash: r.req_text(2)?,
                        outcome: r.req_text(3)?,
                        started_at: r.req_text(4)?,
                        finished_at: r.text(5)?,
                        origin: r.text(6)?,
                        attempts: r.int(7)?.map(|n| n.max(0) as u32),
                        error: r
                            .text(8)?
                            .and_then(|t| serde_json::from_str(&t).ok())
                            .filter(|v: &serde_json::Value| !v.is_null()),
                    })
                },
            )
        })
    }

    /// Finished runs started since `day_ago`, counted by how they ended (see [`OutcomeCount`]);
    /// `hour_ago` splits off the last hour. Both RFC 3339 as the store writes them.
    pub fn run_counts(
        &self,
        hour_ago: &str,
        day_ago: &str,
    ) -> Result<Vec<OutcomeCount>, StoreError> {
        self.with(|x| {
            let status = json_member(x.engine(), "report", &["error", "bt", "status"]);
            let sql = format!(
                "SELECT outcome, last_hour, bt_status, timed_out, COUNT(*) FROM (
                   SELECT outcome,
                     CASE WHEN started_at >= $2 THEN 1 ELSE 0 END AS last_hour,
                     CASE WHEN outcome = 'bt' THEN {status} END AS bt_status,
                     CASE WHEN outcome = 'limit' AND report LIKE '%run timed out%' THEN 1 ELSE 0 END
                       AS timed_out
                   FROM runs WHERE started_at >= $1 AND outcome != 'running') c
                 GROUP BY outcome, last_hour, bt_status, timed_out"
            );
            x.rows(&sql, args![day_ago, hour_ago], |r| {
                Ok(OutcomeCount {
                    outcome: r.req_text(0)?,
                    last_hour: r.int(1)?.unwrap_or(0) != 0,
                    bt_status: r.text(2)?.and_then(|s| s.parse().ok()),
                    timed_out: r.int(3)?.unwrap_or(0) != 0,
                    runs: r.int(4)?.unwrap_or(0).max(0) as u64,
                })
            })
        })
    }

    /// Runs holding a live lease at `now` (RFC 3339): doing work now, in any process.
    pub fn runs_in_flight(&self, now: &str) -> Result<u64, StoreError> {
        self.with(|x| {
            x.count(
                "SELECT COUNT(*) FROM run_leases WHERE expires_at > $1",
                args![now],
            )
        })
    }

    /// Each recipe's last successful run's end (RFC 3339), by recipe path.
    pub fn last_success_by_recipe(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.with(|x| {
            x.rows(
                "SELECT script, MAX(finished_at) FROM runs
                 WHERE outcome = 'ok' AND finished_at IS NOT NULL GROUP BY script ORDER BY script",
                args![],
                |r| Ok((r.req_text(0)?, r.req_text(1)?)),
            )
        })
    }

    /// The alert queue: how many wait, since when, and the latest delivery error.
    pub fn alert_queue_state(&self) -> Result<AlertQueueState, StoreError> {
        self.with(|x| {
            let r = x.query_one(
                "SELECT COUNT(*), MIN(created_at),
                   MIN(CASE WHEN attempts > 0 THEN created_at END),
                   (SELECT last_error FROM alert_queue
                     WHERE delivered_at IS NULL AND last_error IS NOT NULL
                     ORDER BY next_at DESC LIMIT 1)
                 FROM alert_queue WHERE delivered_at IS NULL",
                args![],
            )?;
            Ok(AlertQueueState {
                pending: r.int(0).map_err(decode)?.unwrap_or(0).max(0) as u64,
                oldest_queued_at: r.text(1).map_err(decode)?,
                failing_since: r.text(2).map_err(decode)?,
                last_error: r.text(3).map_err(decode)?,
            })
        })
    }

    /// Jobs scheduled and due by `now` (RFC 3339), and jobs missed.
    pub fn jobs_due_and_missed(&self, now: &str) -> Result<(u64, u64), StoreError> {
        self.job_gauges(now).map(|(due, missed, _)| (due, missed))
    }

    /// Jobs scheduled and due by `now` (RFC 3339), jobs missed, and jobs failed.
    pub fn job_gauges(&self, now: &str) -> Result<(u64, u64, u64), StoreError> {
        self.with(|x| {
            let r = x.query_one(
                "SELECT
                   (SELECT COUNT(*) FROM jobs WHERE state = 'scheduled' AND next_run_at <= $1),
                   (SELECT COUNT(*) FROM jobs WHERE state = 'missed'),
                   (SELECT COUNT(*) FROM jobs WHERE state = 'failed')",
                args![now],
            )?;
            let n = |i: usize| r.int(i).map(|v| v.unwrap_or(0).max(0) as u64);
            Ok((
                n(0).map_err(decode)?,
                n(1).map_err(decode)?,
                n(2).map_err(decode)?,
            ))
        })
    }
}

impl Store {
    /// The latest notifications received, newest first.
    pub fn events_recent(&self, limit: usize) -> Result<Vec<EventSummary>, StoreError> {
        self.with(|x| {
            // The daemon runs an event caused carry its id in their parameters (JSON text).
            let caused_by = match x.engine() {
                Engine::Sqlite => {
                    "json_valid(d.params) AND json_extract(d.params, '$.event_id') = n.event_id"
                }
                Engine::Postgres => {
                    "d.params LIKE '{%' AND d.params::jsonb ->> 'event_id' = n.event_id"
                }
            };
            let sql = format!(
                "SELECT n.event_id, n.order_id, n.event_type, n.state, n.received_at,
                   (SELECT string_agg(d.run_id, ' ') FROM daemon_runs d WHERE {caused_by})
                 FROM notifications n ORDER BY n.received_at DESC, n.{{seq}} DESC LIMIT $1"
            );
            x.rows(&sql, args![limit as i64], |r| {
                Ok(EventSummary {
                    event_id: r.req_text(0)?,
                    order_id: r.req_text(1)?,
                    event_type: r.req_text(2)?,
                    state: r.text(3)?,
                    received_at: r.req_text(4)?,
                    runs: r
                        .text(5)?
                        .map(|s| s.split(' ').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })
        })
    }

    /// Where a daemon run came from (`schedule:ID`, `event:TYPE`, `drop`, …), if it was one.
    pub fn run_origin(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        self.with(|x| {
            x.text_opt(
                "SELECT origin FROM daemon_runs WHERE run_id = $1",
                args![run_id],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;
    use serde_json::json;

    #[test]
    fn runs_are_listed_newest_first_and_filtered() {
        each_backend(|s| {
            s.run_started("a", "/r/one.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished("a", "ok", &json!({})).unwrap();
            s.run_started("b", "/r/two.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished("b", "bt", &json!({})).unwrap();
            let all = s
                .runs_list(&RunFilter {
                    limit: 10,
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(all.len(), 2);
            let failed = RunFilter {
                outcome: Some("failed".into()),
                limit: 10,
                ..Default::default()
            };
            assert_eq!(s.runs_list(&failed).unwrap()[0].run_id, "b");
            let one = RunFilter {
                recipe: Some("one.rhai".into()),
                limit: 10,
                ..Default::default()
            };
            assert_eq!(s.runs_list(&one).unwrap()[0].run_id, "a");
            assert_eq!(s.jobs_due_and_missed("9999").unwrap(), (0, 0));
            assert_eq!(s.job_gauges("9999").unwrap(), (0, 0, 0));
            assert!(s.events_recent(10).unwrap().is_empty());
            assert_eq!(s.run_origin("a").unwrap(), None);
        });
    }

    #[test]
    fn runs_carry_their_origin_and_error_and_are_counted_by_class() {
        each_backend(|s| {
            let bt = |status: u16| json!({"error": {"kind": "bt", "message": "m", "bt": {"status": status, "code": "C"}}});
            s.daemon_run_queued("d1", "/r/a.rhai", &json!({}), "inbox:x.json", "me")
                .unwrap();
            s.run_started("d1", "/r/a.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished("d1", "bt", &bt(404)).unwrap();
            s.run_started("c1", "/r/a.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished("c1", "bt", &bt(503)).unwrap();
            s.run_started("t1", "/r/a.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished(
                "t1",
                "limit",
                &json!({"error": {"message": "run timed out: …"}}),
            )
            .unwrap();
            s.run_started("k1", "/r/a.rhai", "h", &json!({}), "sandbox")
                .unwrap();
            s.run_finished("k1", "ok", &json!({})).unwrap();
            let list = |origin: &str| {
                s.runs_list(&RunFilter {
                    origin: Some(origin.into()),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
            };
            let inbox = list("inbox");
            assert_eq!(inbox.len(), 1);
            assert_eq!(inbox[0].origin.as_deref(), Some("inbox:x.json"));
            assert_eq!(inbox[0].error.as_ref().unwrap()["bt"]["code"], "C");
            assert_eq!(list("inbox:x.json").len(), 1);
            assert_eq!(list("command").len(), 3);
            assert!(list("inbox:x").is_empty());
            let class = |outcome: &str| {
                s.runs_list(&RunFilter {
                    outcome: Some(outcome.into()),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
                .into_iter()
                .map(|r| r.run_id)
                .collect::<Vec<_>>()
            };
            assert_eq!(class("bt_refused"), ["d1"]);
            assert_eq!(class("bt_unavailable"), ["c1"]);
            assert_eq!(class("timed_out"), ["t1"]);
            assert_eq!(class("bt").len(), 2);
            let counts = s.run_counts("0", "0").unwrap();
            let find = |o: &str| counts.iter().filter(|c| c.outcome == o).collect::<Vec<_>>();
            let mut statuses: Vec<_> = find("bt").iter().map(|c| c.bt_status).collect();
            statuses.sort();
            assert_eq!(statuses, [Some(404), Some(503)]);
            assert!(find("limit")[0].timed_out && find("limit")[0].last_hour);
            assert_eq!(find("ok")[0].runs, 1);
            assert!(s.run_counts("9999", "9999").unwrap().is_empty());
            assert_eq!(s.runs_in_flight("0").unwrap(), 0);
            assert_eq!(s.last_success_by_recipe().unwrap()[0].0, "/r/a.rhai");
            assert_eq!(s.alert_queue_state().unwrap().pending, 0);
            s.alert_enqueue("a1", "run.failed", &json!({})).unwrap();
            s.alert_failed("a1", "down", chrono::Utc::now()).unwrap();
            let q = s.alert_queue_state().unwrap();
            assert_eq!(q.pending, 1);
            assert!(q.failing_since.is_some());
            assert_eq!(q.last_error.as_deref(), Some("down"));
        });
    }
}
