//! Claiming due jobs, in one transaction of two halves: crashed firings taken over, and due
//! jobs run or marked missed. Every timestamp but the lease is on the scheduler's clock.

use super::jobs::{
    abandon_note, get_in, job_from_row, lease_end, new_run_id, skip_target, ts, COLUMNS,
};
use super::{ClaimBatch, ClaimRequest, ClaimedJob, DueDecision, Job, Sqlite, StoreError};
use rusqlite::{params, Transaction};

impl Sqlite {
    /// Takes what is due, atomically: scheduled jobs with `next_run_at <= now` (each passed to
    /// `decide`, which applies the misfire policy) and running jobs whose lease has expired
    /// (their daemon died mid-run: claimed again with the same run id and `resume`).
    pub fn job_claim_due(
        &self,
        req: &ClaimRequest,
        decide: &mut dyn FnMut(&Job) -> DueDecision,
    ) -> Result<ClaimBatch, StoreError> {
        self.immediate(|tx| {
            let mut batch = ClaimBatch::default();
            // Crashed firings first: they started earlier, and their BT calls are half done.
            claim_stale(tx, req, &mut batch)?;
            claim_scheduled(tx, req, decide, &mut batch)?;
            Ok(batch)
        })
    }
}

/// Re-claims running jobs whose lease expired (their daemon died mid-run), with the same run
/// id; a firing claimed `max_attempts` times without finishing is marked failed.
fn claim_stale(
    tx: &Transaction,
    req: &ClaimRequest,
    batch: &mut ClaimBatch,
) -> rusqlite::Result<()> {
    let now = ts(req.now);
    let wall_now = ts(req.wall_now);
    let until = ts(lease_end(req.wall_now, req.lease));
    let stale: Vec<Job> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'running' AND lease_until <= ?1
             ORDER BY lease_until"
        ))?;
        let rows = stmt.query_map([&wall_now], job_from_row)?;
        rows.collect::<Result<_, _>>()?
    };
    for job in stale {
        if batch.claimed.len() >= req.limit {
            break;
        }
        if job.attempts >= req.max_attempts {
            let note = abandon_note(job.attempts);
            tx.execute(
                "UPDATE jobs SET state = 'failed', last_outcome = ?2, last_run_id = run_id,
                   lease_owner = NULL, lease_until = NULL, updated_at = ?3 WHERE id = ?1",
                params![job.id, note, now],
            )?;
            batch.abandoned.extend(get_in(tx, &job.id)?);
            continue;
        }
        let run_id = match &job.run_id {
            Some(r) => r.clone(),
            None => new_run_id(req.now),
        };
        tx.execute(
            "UPDATE jobs SET lease_owner = ?2, lease_until = ?3, run_id = ?4,
               attempts = attempts + 1, updated_at = ?5 WHERE id = ?1",
            params![job.id, req.owner, until, run_id, now],
        )?;
        if let Some(job) = get_in(tx, &job.id)? {
            batch.claimed.push(ClaimedJob {
                job,
                run_id,
                resume: true,
            });
        }
    }
    Ok(())
}

/// Takes scheduled jobs that are due, in time order, as `decide` says: run, or skip (missed).
fn claim_scheduled(
    tx: &Transaction,
    req: &ClaimRequest,
    decide: &mut dyn FnMut(&Job) -> DueDecision,
    batch: &mut ClaimBatch,
) -> rusqlite::Result<()> {
    let now = ts(req.now);
    let until = ts(lease_end(req.wall_now, req.lease));
    let due: Vec<Job> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'scheduled' AND next_run_at <= ?1
             ORDER BY next_run_at"
        ))?;
        let rows = stmt.query_map([&now], job_from_row)?;
        rows.collect::<Result<_, _>>()?
    };
    for job in due {
        match decide(&job) {
            DueDecision::Run { occurrence } => {
                if batch.claimed.len() >= req.limit {
                    continue;
                }
                let run_id = new_run_id(req.now);
                tx.execute(
                    "UPDATE jobs SET state = 'running', next_run_at = ?2, run_id = ?3,
                       lease_owner = ?4, lease_until = ?5, attempts = 1, updated_at = ?6
                     WHERE id = ?1 AND state = 'scheduled'",
                    params![job.id, ts(occurrence), run_id, req.owner, until, now],
                )?;
                if let Some(job) = get_in(tx, &job.id)? {
                    batch.claimed.push(ClaimedJob {
                        job,
                        run_id,
                        resume: false,
                    });
                }
            }
            DueDecision::Skip { next, note } => {
                let (state, next) = skip_target(&job, next);
                tx.execute(
                    "UPDATE jobs SET state = ?2, next_run_at = ?3, last_outcome = ?4,
                       updated_at = ?5 WHERE id = ?1",
                    params![job.id, state.as_str(), next, note, now],
                )?;
                if let Some(job) = get_in(tx, &job.id)? {
                    batch.missed.push((job, note));
                }
            }
        }
    }
    Ok(())
}
