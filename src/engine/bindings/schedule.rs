//! `schedule::` — schedule recipes to run later (once, or on a cron expression), list and
//! cancel them. Jobs go into the run's store and are run by `btw serve`.
//!
//! Adding a job is a ledgered step: a resumed or re-run script finds the job it already added
//! instead of adding a second one.

use crate::api::Operation;
use crate::engine::bindings::{arg, ledgered, runtime, script_error, RhaiResult};
use crate::engine::convert::{to_dynamic, to_json};
use crate::engine::Runtime;
use crate::schedule::{self, clock, JobOptions};
use crate::store::{Job, Store};
use chrono::{DateTime, Utc};
use rhai::plugin::*;
use rhai::{Dynamic, Map};
use serde::Deserialize;
use serde_json::{json, Value};

/// Options a script may give as a fourth argument.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// Time zone of a local `when` or of the cron expression (default Europe/London).
    tz: Option<String>,
    /// Catch-up window after downtime, in seconds.
    catch_up_secs: Option<u64>,
    /// Catch-up window to this time (same forms as `when`): e.g. the end of a port date.
    catch_up_until: Option<String>,
}

enum When {
    At(String),
    Cron(String),
}

fn store_of(ctx: &NativeCallContext, rt: &Runtime, func: &str) -> RhaiResult<Store> {
    // A run that schedules is recorded, whatever else it does.
    rt.write_fence().map_err(|e| super::begin_error(ctx, e))?;
    rt.ledger.clone().ok_or_else(|| {
        script_error(
            ctx,
            format!("{func}: no job store here (jobs are kept in btw's store: use btw run, btw repl or btw serve)"),
        )
    })
}

/// The script's idea of now: the run's own sandbox clock in the sandbox profile (as
/// `time::now`).
fn script_now(rt: &Runtime) -> DateTime<Utc> {
    if rt.profile == crate::config::Profile::Sandbox {
        if let Ok(text) = rt.handle.block_on(rt.client.sandbox_now()) {
            if let Ok(d) = DateTime::parse_from_rfc3339(&text) {
                return d.with_timezone(&Utc);
            }
        }
    }
    Utc::now()
}

fn add(
    ctx: &NativeCallContext,
    func: &str,
    when: When,
    recipe: &str,
    params: Map,
    options: Option<Map>,
) -> RhaiResult<String> {
    let opts: Options = match options {
        Some(m) => arg(ctx, func, m)?,
        None => Options::default(),
    };
    let params = to_json(&Dynamic::from_map(params))
        .map_err(|e| script_error(ctx, format!("{func}: params: {e}")))?;
    let rt = runtime(ctx)?;
    let store = store_of(ctx, &rt, func)?;
    let tz_name = opts
        .tz
        .clone()
        .unwrap_or_else(|| clock::LONDON.name().to_string());
    let tz = clock::parse_tz(&tz_name).map_err(|e| script_error(ctx, format!("{func}: {e}")))?;
    let (kind, spec) = match &when {
        When::At(w) => ("at", w.clone()),
        When::Cron(e) => ("cron", e.clone()),
    };
    let job_opts = |id: String| JobOptions {
        id: Some(id),
        tz: Some(tz_name.clone()),
        catch_up_secs: opts.catch_up_secs,
        // On the sandbox, an `at` time is a time on this run's clock: the job keeps it.
        clock: rt.client.clock().map(str::to_string),
        ..Default::default()
    };
    let done = ledgered(
        ctx,
        &rt,
        Operation::ScheduleAdd,
        // The job's id is chosen before it is added and recorded with the step, so a resume
        // can tell whether the job made it into the store.
        |step| json!({"id": format!("job-{}", rt.step_token(step)), "kind": kind, "when": spec, "recipe": recipe, "params": params}),
        |req| {
            let id = req["id"].as_str().unwrap_or_default().to_string();
            let err = |e: String| script_error(ctx, format!("{func}: {e}"));
            // Like `import`: a recipe of the script's own folder (the current one without).
            let folder = rt
                .script_dir
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from("."));
            let recipe =
                schedule::resolve_within(recipe, &folder).map_err(|e| err(e.to_string()))?;
            let now = script_now(&rt);
            warn_if_in_gap(&rt, &when, tz);
            let job = add_now(
                &store,
                &when,
                &recipe,
                &params,
                &opts,
                job_opts(id),
                tz,
                now,
            )
            .map_err(err)?;
            say_scheduled(&rt, &job, tz);
            Ok(Value::String(job.id))
        },
        |req| {
            let id = req["id"].as_str().unwrap_or_default();
            Ok(store
                .job_get(id)
                .ok()
                .flatten()
                .map(|j| Value::String(j.id)))
        },
    )?;
    done.into_string()
        .map_err(|t| script_error(ctx, format!("{func}: unexpected recorded result ({t})")))
}

/// A local time in a spring-forward gap is taken, as everywhere, at the gap's end: say so.
fn warn_if_in_gap(rt: &Runtime, when: &When, tz: chrono_tz::Tz) {
    if let When::At(w) = when {
        if let Ok(crate::time::Parsed {
            warning: Some(warning),
            ..
        }) = crate::time::parse_in(w, tz)
        {
            rt.out.log(crate::engine::LogLevel::Warn, &warning);
        }
    }
}

fn say_scheduled(rt: &Runtime, job: &Job, tz: chrono_tz::Tz) {
    let next = job
        .next_run_at
        .map(|t| clock::fmt_local(t, tz))
        .unwrap_or_default();
    rt.out.log(
        crate::engine::LogLevel::Info,
        &format!("scheduled {} ({}) for {next}", job.id, job.recipe),
    );
}

/// Adds the job: an `at` time must not be past on the daemon's clock (`now`).
#[allow(clippy::too_many_arguments)]
fn add_now(
    store: &Store,
    when: &When,
    recipe: &std::path::Path,
    params: &Value,
    opts: &Options,
    job_opts: JobOptions,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<Job, String> {
    match when {
        When::At(w) => {
            let t = clock::parse_when(w, tz)?;
            if t < now {
                return Err(format!(
                    "{} is in the past (now {})",
                    clock::fmt_local(t, tz),
                    clock::fmt_local(now, tz)
                ));
            }
            let job_opts = match &opts.catch_up_until {
                Some(u) => JobOptions {
                    catch_up_secs: Some(catch_up_to(t, u, tz)?),
                    ..job_opts
                },
                None => job_opts,
            };
            schedule::add_at(store, t, recipe, params.clone(), &job_opts, now)
        }
        When::Cron(_) if opts.catch_up_until.is_some() => {
            return Err("catch_up_until is for schedule::at; give a cron job catch_up_secs".into())
        }
        When::Cron(e) => schedule::add_cron(store, e, recipe, params.clone(), &job_opts, now),
    }
    .map_err(|e| e.to_string())
}

/// The catch-up window of a job due at `t` that may still run until `until`.
fn catch_up_to(t: DateTime<Utc>, until: &str, tz: chrono_tz::Tz) -> Result<u64, String> {
    let u = clock::parse_when(until, tz).map_err(|e| format!("catch_up_until: {e}"))?;
    u64::try_from((u - t).num_seconds())
        .map_err(|_| format!("catch_up_until {until} is before the job's time"))
}

/// A job as a script map: the stored fields plus `next_run_local` (UK time, for printing).
fn job_map(job: &Job) -> Dynamic {
    let mut v = serde_json::to_value(job).unwrap_or(Value::Null);
    let tz = clock::parse_tz(&job.tz).unwrap_or(clock::LONDON);
    if let Value::Object(m) = &mut v {
        m.insert(
            "next_run_local".into(),
            job.next_run_at
                .map(|t| Value::String(clock::fmt_local(t, tz)))
                .unwrap_or(Value::Null),
        );
    }
    to_dynamic(&v)
}

fn list_jobs(ctx: &NativeCallContext, which: &str) -> RhaiResult<rhai::Array> {
    use crate::store::JobState;
    let rt = runtime(ctx)?;
    let store = store_of(ctx, &rt, "schedule::list")?;
    let states: Vec<JobState> = match which {
        "live" => vec![JobState::Scheduled, JobState::Running],
        "all" => vec![],
        s => vec![JobState::parse(s).ok_or_else(|| {
            script_error(
                ctx,
                format!("schedule::list: {s:?} is not a job state (scheduled, running, done, missed, cancelled, failed, or all)"),
            )
        })?],
    };
    let jobs = store
        .job_list(&states)
        .map_err(|e| script_error(ctx, format!("schedule::list: {e}")))?;
    Ok(jobs.iter().map(job_map).collect())
}

fn cancel_job(ctx: &NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
    let rt = runtime(ctx)?;
    let store = store_of(ctx, &rt, "schedule::cancel")?;
    let job = store
        .job_cancel(id.trim(), script_now(&rt))
        .map_err(|e| script_error(ctx, format!("schedule::cancel: {}", e.detail)))?;
    Ok(job_map(&job))
}

#[export_module]
pub mod schedule_module {
    use super::{add, cancel_job, list_jobs, When};
    use crate::engine::bindings::RhaiResult;
    use rhai::{Array, Dynamic, Map};

    /// Schedules a recipe to run once at `when`: RFC 3339 (`"2026-12-01T10:00:00Z"`) or UK
    /// local time (`"2026-12-01 10:00"`). A relative recipe path is resolved against this
    /// script's folder; the file must exist now. Returns the job id. `btw serve` runs it.
    /// A local time in the spring-forward gap runs when the gap ends (02:00 BST); one in the
    /// repeated autumn hour runs at its first occurrence.
    ///
    /// ```rhai
    /// let job = schedule::at(`${p.port_date} 10:00`, "whc_port_activate.rhai", #{import_order_id: p.id});
    /// print(`activation scheduled: ${job}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn at(ctx: NativeCallContext, when: &str, recipe: &str, params: Map) -> RhaiResult<String> {
        add(
            &ctx,
            "schedule::at",
            When::At(when.into()),
            recipe,
            params,
            None,
        )
    }

    /// As `schedule::at`, with options: `tz` (time zone of a local `when`, default
    /// `"Europe/London"`), `catch_up_secs` (if the daemon was down at `when`, still run it
    /// this many seconds late; later, it is marked missed) or `catch_up_until` (a time, as
    /// `when`: still run it until then).
    ///
    /// ```rhai
    /// schedule::at(`${p.port_date} 10:00`, "whc_port_activate.rhai", #{import_order_id: p.id},
    ///              #{catch_up_secs: 600});
    /// schedule::at(`${p.port_date} 10:00`, "whc_port_activate.rhai", #{import_order_id: p.id},
    ///              #{catch_up_until: `${p.port_date} 23:59`});
    /// ```
    #[rhai_fn(name = "at", return_raw)]
    pub fn at_with(
        ctx: NativeCallContext,
        when: &str,
        recipe: &str,
        params: Map,
        options: Map,
    ) -> RhaiResult<String> {
        add(
            &ctx,
            "schedule::at",
            When::At(when.into()),
            recipe,
            params,
            Some(options),
        )
    }

    /// Schedules a recipe on a cron expression (minute hour day month weekday) read in UK
    /// time, so `"0 10 * * 1-5"` is 10:00 on weekdays in winter and summer alike. Returns the
    /// job id. After downtime it runs at most once to catch up, then carries on.
    ///
    /// ```rhai
    /// let job = schedule::cron("0 10 * * 1-5", "whc_port.rhai", #{});
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cron(
        ctx: NativeCallContext,
        expr: &str,
        recipe: &str,
        params: Map,
    ) -> RhaiResult<String> {
        add(
            &ctx,
            "schedule::cron",
            When::Cron(expr.into()),
            recipe,
            params,
            None,
        )
    }

    /// As `schedule::cron`, with options `tz` and `catch_up_secs`.
    ///
    /// ```rhai
    /// schedule::cron("30 9 * * *", "whc_port.rhai", #{}, #{tz: "Europe/Dublin"});
    /// ```
    #[rhai_fn(name = "cron", return_raw)]
    pub fn cron_with(
        ctx: NativeCallContext,
        expr: &str,
        recipe: &str,
        params: Map,
        options: Map,
    ) -> RhaiResult<String> {
        add(
            &ctx,
            "schedule::cron",
            When::Cron(expr.into()),
            recipe,
            params,
            Some(options),
        )
    }

    /// Jobs still to run (scheduled or running), soonest first:
    /// `[#{id, kind, at, cron, tz, recipe, params, next_run_at, next_run_local, state, run_id,
    /// attempts, last_outcome, last_run_id, …}]`.
    ///
    /// ```rhai
    /// for j in schedule::list() { print(`${j.id} ${j.state} ${j.next_run_local} ${j.recipe}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext) -> RhaiResult<Array> {
        list_jobs(&ctx, "live")
    }

    /// Jobs in one state (`"scheduled"`, `"running"`, `"done"`, `"missed"`, `"cancelled"`,
    /// `"failed"`), or every job with `"all"`.
    ///
    /// ```rhai
    /// let missed = schedule::list("missed");
    /// ```
    #[rhai_fn(name = "list", return_raw)]
    pub fn list_state(ctx: NativeCallContext, state: &str) -> RhaiResult<Array> {
        list_jobs(&ctx, state)
    }

    /// Cancels a job so it never fires again (a run in progress finishes). Returns the job.
    /// Cancelling twice is fine; cancelling a job that already ended is an error.
    ///
    /// ```rhai
    /// let job = schedule::at(`${p.port_date} 10:00`, "whc_port_activate.rhai", #{import_order_id: p.id});
    /// schedule::cancel(job);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn cancel(ctx: NativeCallContext, id: &str) -> RhaiResult<Dynamic> {
        cancel_job(&ctx, id)
    }
}
