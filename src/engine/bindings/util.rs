//! `log::`, `json::` and `time::` — the small utilities every recipe needs.

use rhai::plugin::*;

fn emit(ctx: &NativeCallContext, level: crate::engine::LogLevel, msg: &str) {
    match crate::engine::bindings::runtime(ctx) {
        Ok(rt) => rt.out.log(level, msg),
        Err(_) => eprintln!("[{}] {msg}", level.label()),
    }
}

#[export_module]
pub mod log_module {
    use super::emit;
    use crate::engine::LogLevel;

    /// Logs a progress line (stderr, and the run report).
    ///
    /// ```rhai
    /// log::info("qualified");
    /// ```
    pub fn info(ctx: NativeCallContext, msg: &str) {
        emit(&ctx, LogLevel::Info, msg)
    }

    /// Logs a warning.
    ///
    /// ```rhai
    /// log::warn("qualification expires at midnight");
    /// ```
    pub fn warn(ctx: NativeCallContext, msg: &str) {
        emit(&ctx, LogLevel::Warn, msg)
    }

    /// Logs an error (the script goes on; `throw` stops it).
    ///
    /// ```rhai
    /// log::error("ringfence failed, retrying with another area");
    /// ```
    pub fn error(ctx: NativeCallContext, msg: &str) {
        emit(&ctx, LogLevel::Error, msg)
    }
}

#[export_module]
pub mod json_module {
    use crate::engine::bindings::{script_error, RhaiResult};
    use crate::engine::convert::{to_dynamic, to_json};
    use rhai::Dynamic;

    /// Parses JSON text into a script value.
    ///
    /// ```rhai
    /// let v = json::parse(`{"a": [1, 2]}`);
    /// print(v.a[1]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn parse(ctx: NativeCallContext, text: &str) -> RhaiResult<Dynamic> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| script_error(&ctx, format!("json::parse: {e}")))?;
        Ok(to_dynamic(&v))
    }

    /// Writes a value as compact JSON.
    ///
    /// ```rhai
    /// print(json::stringify(#{id: "BTWKN1485", state: "completed"}));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn stringify(ctx: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        let v = to_json(&value).map_err(|e| script_error(&ctx, format!("json::stringify: {e}")))?;
        Ok(v.to_string())
    }

    /// Writes a value as indented JSON.
    ///
    /// ```rhai
    /// print(json::pretty(order::get(o.id)));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn pretty(ctx: NativeCallContext, value: Dynamic) -> RhaiResult<String> {
        let v = to_json(&value).map_err(|e| script_error(&ctx, format!("json::pretty: {e}")))?;
        serde_json::to_string_pretty(&v).map_err(|e| script_error(&ctx, e.to_string()))
    }
}

/// The run's own sandbox clock when running against the sandbox, else `None` (use the system
/// clock).
fn sandbox_time(ctx: &NativeCallContext) -> Option<chrono::DateTime<chrono::Utc>> {
    let rt = crate::engine::bindings::runtime(ctx).ok()?;
    if rt.profile != crate::config::Profile::Sandbox {
        return None;
    }
    let text = rt.handle.block_on(rt.client.sandbox_now()).ok()?;
    chrono::DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

#[export_module]
pub mod time_module {
    use super::sandbox_time as current;
    use crate::api::ApiError;
    use crate::engine::bindings::{block_on, runtime, script_error, RhaiResult};
    use chrono::{DateTime, Utc};
    use chrono_tz::Europe::London;
    use rhai::{FLOAT, INT};

    /// RFC 3339, or a local date-time without an offset in UK time (how BT and operators
    /// write them), by the one rule of [`crate::time`].
    fn parse_any(text: &str) -> Option<DateTime<Utc>> {
        crate::time::parse(text).ok().map(|p| p.at)
    }

    fn fmt(d: DateTime<Utc>) -> String {
        crate::time::rfc3339(d)
    }

    /// The current time as an RFC 3339 UTC string. With the sandbox profile this is the run's
    /// own sandbox clock, which `time::sleep_until` may have moved forward (nobody else's).
    ///
    /// ```rhai
    /// print(time::now());   // "2026-11-22T10:00:00Z"
    /// ```
    pub fn now(ctx: NativeCallContext) -> String {
        current(&ctx).map(fmt).unwrap_or_else(|| fmt(Utc::now()))
    }

    /// Waits until a date-time. With the sandbox profile, the run's own sandbox clock is moved
    /// forward to it instead (so a port date days ahead is reached at once, and only what this
    /// run made sees the jump); elsewhere it really waits (cancellable with Ctrl-C).
    ///
    /// ```rhai
    /// time::sleep_until(`${p.port_date}T10:00:00`);   // 10:00 UK time on the port date
    /// ```
    #[rhai_fn(return_raw)]
    pub fn sleep_until(ctx: NativeCallContext, when: &str) -> RhaiResult<()> {
        let target = parse_any(when).ok_or_else(|| {
            script_error(
                &ctx,
                format!("time::sleep_until: cannot read {when:?} as a date-time"),
            )
        })?;
        let now = current(&ctx).unwrap_or_else(Utc::now);
        let gap = (target - now).num_milliseconds();
        if gap <= 0 {
            return Ok(());
        }
        let rt = runtime(&ctx)?;
        if rt.profile == crate::config::Profile::Sandbox {
            rt.out.log(
                crate::engine::LogLevel::Info,
                &format!(
                    "sandbox: moving this run's clock{} forward to {}",
                    rt.client
                        .clock()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    fmt(target)
                ),
            );
            let to = fmt(target);
            block_on(&ctx, &rt, "advance the sandbox clock", async {
                rt.client.sandbox_advance_to(&to).await.map(|_| ())
            })
            .map_err(Into::into)
        } else {
            let d = std::time::Duration::from_millis(gap as u64);
            rt.waiting(|| {
                block_on(&ctx, &rt, "sleep", async {
                    tokio::time::sleep(d).await;
                    Ok::<_, ApiError>(())
                })
            })
            .map_err(Into::into)
        }
    }

    /// Parses a date-time (RFC 3339, or a UK local `YYYY-MM-DD[ HH:MM[:SS]]`) into RFC 3339 UTC.
    ///
    /// ```rhai
    /// print(time::parse("2026-12-01 10:00"));   // "2026-12-01T10:00:00Z"
    /// ```
    #[rhai_fn(return_raw)]
    pub fn parse(ctx: NativeCallContext, text: &str) -> RhaiResult<String> {
        parse_any(text).map(fmt).ok_or_else(|| {
            script_error(
                &ctx,
                format!("time::parse: cannot read {text:?} as a date-time"),
            )
        })
    }

    /// Adds seconds (negative to subtract) to a date-time string.
    ///
    /// ```rhai
    /// let tomorrow = time::add_secs(time::now(), 86400);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn add_secs(ctx: NativeCallContext, when: &str, secs: INT) -> RhaiResult<String> {
        let d = parse_any(when)
            .ok_or_else(|| script_error(&ctx, format!("time::add_secs: cannot read {when:?}")))?;
        Ok(fmt(d + chrono::Duration::seconds(secs)))
    }

    /// Seconds from `a` to `b` (positive when `b` is later).
    ///
    /// ```rhai
    /// let left = time::diff_secs(time::now(), q.expires);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn diff_secs(ctx: NativeCallContext, a: &str, b: &str) -> RhaiResult<INT> {
        let (Some(a), Some(b)) = (parse_any(a), parse_any(b)) else {
            return Err(script_error(
                &ctx,
                "time::diff_secs: both arguments must be date-times",
            ));
        };
        Ok((b - a).num_seconds())
    }

    /// A date-time shown in UK local time, e.g. `"2026-11-22 23:59 GMT"`.
    ///
    /// ```rhai
    /// print(time::london(q.expires));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn london(ctx: NativeCallContext, when: &str) -> RhaiResult<String> {
        let d = parse_any(when)
            .ok_or_else(|| script_error(&ctx, format!("time::london: cannot read {when:?}")))?;
        Ok(d.with_timezone(&London)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string())
    }

    /// Pauses the script (cancellable with Ctrl-C).
    ///
    /// ```rhai
    /// time::sleep(1.5);
    /// ```
    #[rhai_fn(name = "sleep", return_raw)]
    pub fn sleep_float(ctx: NativeCallContext, secs: FLOAT) -> RhaiResult<()> {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(script_error(
                &ctx,
                "time::sleep: seconds must be zero or more",
            ));
        }
        let d = std::time::Duration::from_secs_f64(secs.min(86_400.0));
        match runtime(&ctx) {
            Ok(rt) => rt
                .waiting(|| {
                    block_on(&ctx, &rt, "sleep", async {
                        tokio::time::sleep(d).await;
                        Ok::<_, ApiError>(())
                    })
                })
                .map_err(Into::into),
            Err(_) => {
                std::thread::sleep(d);
                Ok(())
            }
        }
    }

    /// Pauses the script for whole seconds.
    ///
    /// ```rhai
    /// time::sleep(2);
    /// ```
    #[rhai_fn(name = "sleep", return_raw)]
    pub fn sleep_int(ctx: NativeCallContext, secs: INT) -> RhaiResult<()> {
        sleep_float(ctx, secs as FLOAT)
    }
}
