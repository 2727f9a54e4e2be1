//! What the operator's console and `btw runs` read: runs newest first with filters, counts of
//! jobs due and missed, and a probe that the store still takes writes.

use super::exec::{args, decode, Engine};
use super::model::{EventSummary, RunFilter, RunSummary};
use super::rows::Cols;
use super::{Store, StoreError};

impl Store {
    /// Runs newest first, filtered.
    pub fn runs_list(&self, f: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        self.with(|x| {
            x.rows(
                "SELECT run_id, script, script_hash, outcome, started_at, finished_at FROM runs
                 WHERE ($1 = '' OR script = $1 OR script LIKE '%/' || $1)
                   AND ($2 = '' OR outcome = $2 OR ($2 = 'failed' AND outcome NOT IN ('ok', 'running')))
                   AND ($3 = '' OR started_at >= $3)
                 ORDER BY started_at DESC, {seq} DESC LIMIT $4 OFFSET $5",
                args![
                    f.recipe.as_deref().unwrap_or(""),
                    f.outcome.as_deref().unwrap_or(""),
                    f.since.as_deref().unwrap_or(""),
                    f.limit.max(1) as i64,
                    f.offset as i64
                ],
                |r| {
                    Ok(RunSummary {
                        run_id: r.req_text(0)?,
                        recipe: r.req_text(1)?,
                        script_hash: r.req_text(2)?,
                        outcome: r.req_text(3)?,
                        started_at: r.req_text(4)?,
                        finished_at: r.text(5)?,
                    })
                },
            )
        })
    }

    /// Jobs scheduled and due by `now` (RFC 3339), and jobs missed.
    pub fn jobs_due_and_missed(&self, now: &str) -> Result<(u64, u64), StoreError> {
        self.with(|x| {
            let r = x.query_one(
                "SELECT
                   (SELECT COUNT(*) FROM jobs WHERE state = 'scheduled' AND next_run_at <= $1),
                   (SELECT COUNT(*) FROM jobs WHERE state = 'missed')",
                args![now],
            )?;
            let n = |i: usize| r.int(i).map(|v| v.unwrap_or(0).max(0) as u64);
            Ok((n(0).map_err(decode)?, n(1).map_err(decode)?))
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
            assert!(s.events_recent(10).unwrap().is_empty());
            assert_eq!(s.run_origin("a").unwrap(), None);
        });
    }
}
