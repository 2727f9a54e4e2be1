//! Claiming due jobs, in one transaction of two halves: crashed firings taken over, and due
//! jobs run or marked missed. Every timestamp but the lease is on the scheduler's clock.
//!
//! Rows are read a page at a time with `{skip_locked}`: on PostgreSQL, shared by several
//! daemons, each row is locked as it is read and rows another claimer holds are skipped, so two
//! daemons claiming at once split the due jobs between them and no job is taken twice. SQLite
//! has one writer at a time (the claim's `BEGIN IMMEDIATE`): it reads every due row at once.

use super::exec::{args, DbErr, Engine, Exec};
use super::jobs::{get, jobs, ts, COLUMNS};
use super::{Store, StoreError};
use crate::jobs::{
    abandon_note, lease_end, new_run_id, skip_target, ClaimBatch, ClaimRequest, ClaimedJob,
    DueDecision, Job,
};

/// Rows locked per page beyond the free slots: enough to see past a few skips at once.
const PAGE_SLACK: usize = 8;

impl Store {
    /// Takes what is due, atomically: scheduled jobs with `next_run_at <= now` (each passed to
    /// `decide`, which applies the misfire policy) and running jobs whose lease has expired
    /// (their daemon died mid-run: claimed again with the same run id and `resume`).
    pub fn job_claim_due(
        &self,
        req: &ClaimRequest,
        decide: &mut dyn FnMut(&Job) -> DueDecision,
    ) -> Result<ClaimBatch, StoreError> {
        self.in_transaction(|x| {
            let mut batch = ClaimBatch::default();
            // Crashed firings first: they started earlier, and their BT calls are half done.
            claim_stale(x, req, &mut batch)?;
            claim_scheduled(x, req, decide, &mut batch)?;
            Ok(batch)
        })
    }
}

/// The next page of rows matching `cond` (with `$1` the instant compared) that are not in
/// `seen`, locked for this transaction; at least `size` of them when there are that many.
fn page(
    x: &mut dyn Exec,
    cond: &str,
    order: &str,
    at: &str,
    seen: &[String],
    size: usize,
) -> Result<Vec<Job>, DbErr> {
    let limit = match x.engine() {
        Engine::Sqlite => i64::MAX,
        // Rows this transaction locked already come back (it holds them): read past them.
        Engine::Postgres => (seen.len() + size).min(i64::MAX as usize) as i64,
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE {cond} ORDER BY {order}, id LIMIT $2 {{skip_locked}}"
    );
    let rows = jobs(x, &sql, args![at, limit])?;
    Ok(rows.into_iter().filter(|j| !seen.contains(&j.id)).collect())
}

/// Re-claims running jobs whose lease expired (their daemon died mid-run), with the same run
/// id; a firing claimed `max_attempts` times without finishing is marked failed.
fn claim_stale(
    x: &mut dyn Exec,
    req: &ClaimRequest<'_>,
    batch: &mut ClaimBatch,
) -> Result<(), DbErr> {
    let now = ts(req.now);
    let until = ts(lease_end(req.wall_now, req.lease));
    let mut seen: Vec<String> = Vec::new();
    while batch.claimed.len() < req.limit {
        let size = req.limit - batch.claimed.len() + PAGE_SLACK;
        let stale = page(
            x,
            "state = 'running' AND lease_until <= $1",
            "lease_until",
            &ts(req.wall_now),
            &seen,
            size,
        )?;
        if stale.is_empty() {
            break;
        }
        for job in stale {
            seen.push(job.id.clone());
            if batch.claimed.len() >= req.limit {
                break;
            }
            if job.attempts >= req.max_attempts {
                x.execute(
                    "UPDATE jobs SET state = 'failed', last_outcome = $2, last_run_id = run_id,
                       lease_owner = NULL, lease_until = NULL, updated_at = $3 WHERE id = $1",
                    args![&job.id, abandon_note(job.attempts), &now],
                )?;
                batch.abandoned.extend(get(x, &job.id)?);
                continue;
            }
            let run_id = job.run_id.clone().unwrap_or_else(|| new_run_id(req.now));
            x.execute(
                "UPDATE jobs SET lease_owner = $2, lease_until = $3, run_id = $4,
                   attempts = attempts + 1, updated_at = $5 WHERE id = $1",
                args![&job.id, req.owner, &until, &run_id, &now],
            )?;
            if let Some(job) = get(x, &job.id)? {
                batch.claimed.push(ClaimedJob {
                    job,
                    run_id,
                    resume: true,
                });
            }
        }
    }
    Ok(())
}

/// Takes scheduled jobs that are due, in time order, as `decide` says: run, or skip (missed).
fn claim_scheduled(
    x: &mut dyn Exec,
    req: &ClaimRequest<'_>,
    decide: &mut dyn FnMut(&Job) -> DueDecision,
    batch: &mut ClaimBatch,
) -> Result<(), DbErr> {
    let now = ts(req.now);
    let until = ts(lease_end(req.wall_now, req.lease));
    let mut seen: Vec<String> = Vec::new();
    loop {
        let free = req.limit.saturating_sub(batch.claimed.len());
        let due = page(
            x,
            if req.own_clocks_due {
                "state = 'scheduled' AND (next_run_at <= $1 OR clock IS NOT NULL)"
            } else {
                "state = 'scheduled' AND next_run_at <= $1"
            },
            "next_run_at",
            &now,
            &seen,
            free + PAGE_SLACK,
        )?;
        if due.is_empty() {
            return Ok(());
        }
        let mut ran_out = false;
        for job in due {
            seen.push(job.id.clone());
            match decide(&job) {
                DueDecision::Run { occurrence } => {
                    if batch.claimed.len() >= req.limit {
                        // Full: the rest stays due for the next claim (or another daemon).
                        ran_out = true;
                        continue;
                    }
                    let run_id = new_run_id(req.now);
                    x.execute(
                        "UPDATE jobs SET state = 'running', next_run_at = $2, run_id = $3,
                           lease_owner = $4, lease_until = $5, attempts = 1, updated_at = $6
                         WHERE id = $1 AND state = 'scheduled'",
                        args![&job.id, ts(occurrence), &run_id, req.owner, &until, &now],
                    )?;
                    if let Some(job) = get(x, &job.id)? {
                        batch.claimed.push(ClaimedJob {
                            job,
                            run_id,
                            resume: false,
                        });
                    }
                }
                DueDecision::Skip { next, note } => {
                    let (state, next) = skip_target(&job, next);
                    x.execute(
                        "UPDATE jobs SET state = $2, next_run_at = $3, last_outcome = $4,
                           updated_at = $5 WHERE id = $1",
                        args![&job.id, state.as_str(), next.map(ts), &note, &now],
                    )?;
                    if let Some(job) = get(x, &job.id)? {
                        batch.missed.push((job, note));
                    }
                }
            }
        }
        if ran_out {
            return Ok(());
        }
    }
}
