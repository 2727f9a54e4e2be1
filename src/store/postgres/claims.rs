//! Claiming due jobs on PostgreSQL, shared by several daemons: rows are taken with
//! `FOR UPDATE SKIP LOCKED`, a page at a time, so two daemons claiming at once split the due
//! jobs between them instead of queueing behind each other, and no job is taken twice.
//! What is done with each row (resume, give up, run, skip) is SQLite's (`jobs.rs`).

use super::errors::PgErr;
use super::jobs::{get_in, jobs_of};
use super::Pg;
use crate::store::jobs::{abandon_note, lease_end, new_run_id, skip_target, ts, COLUMNS};
use crate::store::{ClaimBatch, ClaimRequest, ClaimedJob, DueDecision, Job, StoreError};
use tokio_postgres::Transaction;

/// Rows locked per page beyond the free slots: enough to see past a few skips at once.
const PAGE_SLACK: usize = 8;

impl Pg {
    pub fn job_claim_due(
        &self,
        req: &ClaimRequest,
        decide: &mut dyn FnMut(&Job) -> DueDecision,
    ) -> Result<ClaimBatch, StoreError> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let mut batch = ClaimBatch::default();
            // Crashed firings first: they started earlier, and their BT calls are half done.
            claim_stale(&tx, req, &mut batch).await?;
            claim_scheduled(&tx, req, decide, &mut batch).await?;
            tx.commit().await?;
            Ok(batch)
        })
    }
}

/// The next page of rows matching `cond` (with `$1` the instant compared), not in `seen`,
/// locked for this transaction; rows another claimer holds are skipped.
async fn page(
    tx: &Transaction<'_>,
    cond: &str,
    order: &str,
    at: &str,
    seen: &[String],
    size: usize,
) -> Result<Vec<Job>, PgErr> {
    let sql = format!(
        "SELECT {COLUMNS} FROM jobs WHERE {cond} AND id <> ALL($2)
         ORDER BY {order} LIMIT $3 FOR UPDATE SKIP LOCKED"
    );
    let rows = tx.query(&sql, &[&at, &seen, &(size as i64)]).await?;
    jobs_of(&rows)
}

async fn claim_stale(
    tx: &Transaction<'_>,
    req: &ClaimRequest<'_>,
    batch: &mut ClaimBatch,
) -> Result<(), PgErr> {
    let now = ts(req.now);
    let until = ts(lease_end(req.wall_now, req.lease));
    let mut seen: Vec<String> = Vec::new();
    while batch.claimed.len() < req.limit {
        let size = req.limit - batch.claimed.len() + PAGE_SLACK;
        let stale = page(
            tx,
            "state = 'running' AND lease_until <= $1",
            "lease_until",
            &ts(req.wall_now),
            &seen,
            size,
        )
        .await?;
        if stale.is_empty() {
            break;
        }
        for job in stale {
            seen.push(job.id.clone());
            if batch.claimed.len() >= req.limit {
                break;
            }
            if job.attempts >= req.max_attempts {
                tx.execute(
                    "UPDATE jobs SET state = 'failed', last_outcome = $2, last_run_id = run_id,
                       lease_owner = NULL, lease_until = NULL, updated_at = $3 WHERE id = $1",
                    &[&job.id, &abandon_note(job.attempts), &now],
                )
                .await?;
                batch.abandoned.extend(get_in(tx, &job.id, false).await?);
                continue;
            }
            let run_id = job.run_id.clone().unwrap_or_else(|| new_run_id(req.now));
            tx.execute(
                "UPDATE jobs SET lease_owner = $2, lease_until = $3, run_id = $4,
                   attempts = attempts + 1, updated_at = $5 WHERE id = $1",
                &[&job.id, &req.owner, &until, &run_id, &now],
            )
            .await?;
            if let Some(job) = get_in(tx, &job.id, false).await? {
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

async fn claim_scheduled(
    tx: &Transaction<'_>,
    req: &ClaimRequest<'_>,
    decide: &mut dyn FnMut(&Job) -> DueDecision,
    batch: &mut ClaimBatch,
) -> Result<(), PgErr> {
    let now = ts(req.now);
    let until = ts(lease_end(req.wall_now, req.lease));
    let mut seen: Vec<String> = Vec::new();
    loop {
        let free = req.limit.saturating_sub(batch.claimed.len());
        let due = page(
            tx,
            "state = 'scheduled' AND next_run_at <= $1",
            "next_run_at",
            &now,
            &seen,
            free + PAGE_SLACK,
        )
        .await?;
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
                    tx.execute(
                        "UPDATE jobs SET state = 'running', next_run_at = $2, run_id = $3,
                           lease_owner = $4, lease_until = $5, attempts = 1, updated_at = $6
                         WHERE id = $1 AND state = 'scheduled'",
                        &[&job.id, &ts(occurrence), &run_id, &req.owner, &until, &now],
                    )
                    .await?;
                    if let Some(job) = get_in(tx, &job.id, false).await? {
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
                        "UPDATE jobs SET state = $2, next_run_at = $3, last_outcome = $4,
                           updated_at = $5 WHERE id = $1",
                        &[&job.id, &state.as_str(), &next, &note, &now],
                    )
                    .await?;
                    if let Some(job) = get_in(tx, &job.id, false).await? {
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
