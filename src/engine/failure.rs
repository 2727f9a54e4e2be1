//! How a run or a check fails: the kinds of failure with their exit codes and places, and the
//! reading of a Rhai error into the most useful one.

use super::Script;
use crate::config::Limits;
use crate::engine::{self, convert, Cancel, EngineOptions};
use rhai::{Dynamic, Engine, EvalAltResult, Position, AST};
use serde_json::{json, Value};
use std::sync::Arc;

/// Where in a script something went wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The offending line's text, when known.
    pub text: Option<String>,
}

impl Location {
    pub(crate) fn of(
        script: &Script,
        source_name: Option<&str>,
        pos: Position,
    ) -> Option<Location> {
        let line = pos.line()?;
        let column = pos.position().unwrap_or(1);
        // Errors inside imported modules carry the module's name; their text is not this script's.
        let (file, text) = match source_name {
            Some(m) if !m.is_empty() && m != script.name => (format!("module {m}"), None),
            _ => (
                script.name.clone(),
                script.source.lines().nth(line - 1).map(str::to_string),
            ),
        };
        Some(Location {
            file,
            line,
            column,
            text,
        })
    }
}

/// How a run or check failed. Each kind has its own exit code (see [`Failure::exit_code`]).
#[derive(Clone, Debug)]
pub enum Failure {
    /// Bad invocation: unreadable file, bad parameters, bad configuration.
    Usage { message: String },
    /// The script does not compile.
    Compile {
        message: String,
        location: Option<Location>,
    },
    /// The script failed: `throw`, a type error, an unknown function, a bad argument.
    Script {
        message: String,
        location: Option<Location>,
        /// The thrown value, when it was one.
        value: Option<Value>,
    },
    /// A limit stopped the script: operations, call depth, sizes, run time.
    Limit {
        message: String,
        location: Option<Location>,
    },
    /// BT answered an error the script did not catch.
    Bt {
        message: String,
        location: Option<Location>,
        error: Value,
    },
    /// BT could not be reached or did not answer.
    Unreachable {
        message: String,
        location: Option<Location>,
        error: Value,
    },
    /// A local rule refused a call (live profile without confirmation, missing credentials).
    Refused {
        message: String,
        location: Option<Location>,
    },
    /// Stopped by Ctrl-C or shutdown.
    Cancelled { location: Option<Location> },
    /// A bug in btw itself.
    Internal { message: String },
}

/// Documented exit codes (`docs/exit-codes.md`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const SCRIPT: i32 = 3;
    pub const BT_ERROR: i32 = 4;
    pub const UNREACHABLE: i32 = 5;
    pub const INTERRUPTED: i32 = 130;
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage { .. } | Failure::Refused { .. } => exit::USAGE,
            Failure::Compile { .. } | Failure::Script { .. } | Failure::Limit { .. } => {
                exit::SCRIPT
            }
            Failure::Bt { .. } => exit::BT_ERROR,
            Failure::Unreachable { .. } => exit::UNREACHABLE,
            Failure::Cancelled { .. } => exit::INTERRUPTED,
            Failure::Internal { .. } => exit::INTERNAL,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Usage { .. } => "usage",
            Failure::Compile { .. } => "compile",
            Failure::Script { .. } => "script",
            Failure::Limit { .. } => "limit",
            Failure::Bt { .. } => "bt",
            Failure::Unreachable { .. } => "unreachable",
            Failure::Refused { .. } => "refused",
            Failure::Cancelled { .. } => "cancelled",
            Failure::Internal { .. } => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Usage { message }
            | Failure::Internal { message }
            | Failure::Compile { message, .. }
            | Failure::Script { message, .. }
            | Failure::Limit { message, .. }
            | Failure::Bt { message, .. }
            | Failure::Unreachable { message, .. }
            | Failure::Refused { message, .. } => message.clone(),
            Failure::Cancelled { .. } => "cancelled".into(),
        }
    }

    pub fn location(&self) -> Option<&Location> {
        match self {
            Failure::Compile { location, .. }
            | Failure::Script { location, .. }
            | Failure::Limit { location, .. }
            | Failure::Bt { location, .. }
            | Failure::Unreachable { location, .. }
            | Failure::Refused { location, .. }
            | Failure::Cancelled { location } => location.as_ref(),
            _ => None,
        }
    }

    /// The failure for humans: `error: file:line:col: message`, then the line and a caret.
    pub fn render(&self) -> String {
        let mut out = String::from("error: ");
        if let Some(l) = self.location() {
            out.push_str(&format!("{}:{}:{}: ", l.file, l.line, l.column));
        }
        out.push_str(&self.message());
        if let Some(Location {
            line,
            column,
            text: Some(text),
            ..
        }) = self.location()
        {
            let num = line.to_string();
            let pad = " ".repeat(num.len());
            out.push_str(&format!(
                "\n {pad} |\n {num} | {text}\n {pad} | {}^",
                " ".repeat(column.saturating_sub(1))
            ));
        }
        out
    }

    /// The failure as JSON, for `--json` and run reports.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"kind": self.kind(), "message": self.message()});
        if let Some(l) = self.location() {
            v["file"] = json!(l.file);
            v["line"] = json!(l.line);
            v["column"] = json!(l.column);
        }
        match self {
            Failure::Bt { error, .. } | Failure::Unreachable { error, .. } => {
                v["bt"] = error.clone();
            }
            Failure::Script {
                value: Some(val), ..
            } => v["thrown"] = val.clone(),
            _ => {}
        }
        v
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// Compiles a script with the engine, mapping a syntax error to its location.
pub fn compile(engine: &Engine, script: &Script) -> Result<AST, Failure> {
    engine.compile(&script.source).map_err(|e| {
        let pos = e.position();
        Failure::Compile {
            message: e.err_type().to_string(),
            location: Location::of(script, None, pos),
        }
    })
}

/// Finds the most useful message for an evaluation error: the innermost one, with its place.
pub fn classify(engine: &Engine, script: &Script, err: &EvalAltResult) -> Failure {
    // Unwrap calls into script functions and modules down to the error itself, remembering
    // which module it happened in.
    let mut err = err;
    let mut source: Option<String> = None;
    loop {
        match err {
            EvalAltResult::ErrorInFunctionCall(_, src, inner, _) => {
                if !src.is_empty() {
                    source = Some(src.clone());
                }
                err = inner;
            }
            EvalAltResult::ErrorInModule(name, inner, _) => {
                source = Some(name.clone());
                err = inner;
            }
            _ => break,
        }
    }
    let location = Location::of(script, source.as_deref(), err.position());
    match err {
        EvalAltResult::ErrorParsing(kind, _) => Failure::Compile {
            message: kind.to_string(),
            location,
        },
        EvalAltResult::ErrorTerminated(token, _) => {
            let token = token.clone().into_string().unwrap_or_default();
            if token == engine::TIMED_OUT {
                Failure::Limit {
                    message: "run timed out: the script ran longer than the run time limit (limits.timeout_secs / BTW_TIMEOUT_SECS)".into(),
                    location,
                }
            } else {
                Failure::Cancelled { location }
            }
        }
        EvalAltResult::ErrorTooManyOperations(_) => Failure::Limit {
            message: format!(
                "operations limit reached: the script ran more than {} operations (an endless loop?); raise limits.max_operations in btw.toml if it is real work",
                engine.max_operations()
            ),
            location,
        },
        EvalAltResult::ErrorStackOverflow(_) => Failure::Limit {
            message: format!(
                "call depth limit reached: functions nested more than {} deep (endless recursion?)",
                engine.max_call_levels()
            ),
            location,
        },
        EvalAltResult::ErrorDataTooLarge(what, _) => Failure::Limit {
            message: format!("size limit reached: {what} is larger than the limit allows"),
            location,
        },
        EvalAltResult::ErrorTooManyModules(_) => Failure::Limit {
            message: "too many modules imported".into(),
            location,
        },
        EvalAltResult::ErrorFunctionNotFound(sig, _) => Failure::Script {
            message: function_not_found(engine, sig),
            location,
            value: None,
        },
        EvalAltResult::ErrorRuntime(value, _) => runtime_error(value, location),
        other => Failure::Script {
            message: without_position(other),
            location,
            value: None,
        },
    }
}

/// Rhai's message without the ` (line 1, position 5)` it ends with: the location is shown already.
fn without_position(err: &EvalAltResult) -> String {
    let text = err.to_string();
    let pos = err.position();
    if pos.is_none() {
        return text;
    }
    let suffix = format!(" ({pos})");
    text.strip_suffix(&suffix)
        .map(str::to_string)
        .unwrap_or(text)
}

/// Rhai says `Function not found: whc::company (i64)`; add what the function does take.
fn function_not_found(engine: &Engine, sig: &str) -> String {
    let name = sig.split(" (").next().unwrap_or(sig).trim();
    let known: Vec<String> = crate::engine::bindings::signatures(engine)
        .into_iter()
        .filter(|s| s.split('(').next() == Some(name))
        .collect();
    let args = sig
        .split_once(" (")
        .map(|(_, a)| a.trim_end_matches(')'))
        .unwrap_or("");
    if known.is_empty() {
        let hint = match did_you_mean(engine, name) {
            Some(close) => format!("did you mean {close}?"),
            None => "check the name; `btw defs` lists them all".to_string(),
        };
        format!("no function {name}({args}): not defined ({hint})")
    } else {
        format!(
            "{name} cannot take ({args}); it takes: {}",
            known.join(" | ")
        )
    }
}

/// The known function closest to `name` (`whc::company` for `whc::compnay`, `whc::company`
/// for a bare `company`), if one is a likely typo of it.
fn did_you_mean(engine: &Engine, name: &str) -> Option<String> {
    // A run's engine looks the standard library up lazily, so its signatures lack most of it.
    let library = crate::engine::standard_package(true);
    let mut names: Vec<String> = engine
        .gen_fn_signatures(false)
        .into_iter()
        .chain(library.gen_fn_signatures_with_mapper(Into::into))
        .filter_map(|s| s.split('(').next().map(|n| n.trim().to_string()))
        .filter(|n| {
            n.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == ':')
        })
        .collect();
    names.sort();
    names.dedup();
    let bare = |n: &str| n.rsplit("::").next().unwrap_or(n).to_string();
    let mut best: Option<(f64, String)> = None;
    for n in names {
        // A module function typed without its module compares by its own name.
        let score = strsim::jaro_winkler(name, &n).max(if name.contains("::") {
            0.0
        } else {
            strsim::jaro_winkler(name, &bare(&n))
        });
        if score >= 0.9 && best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, n));
        }
    }
    best.map(|(_, n)| n)
}

fn runtime_error(value: &Dynamic, location: Option<Location>) -> Failure {
    let json = convert::to_json(value).ok();
    let field = |k: &str| {
        json.as_ref()
            .and_then(|j| j.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let summary = field("summary").unwrap_or_else(|| match value.clone().into_string() {
        Ok(s) => s,
        Err(_) => value.to_string(),
    });
    match field("kind").as_deref() {
        Some("bt") => Failure::Bt {
            message: summary,
            location,
            error: json.unwrap_or(Value::Null),
        },
        Some("transport") | Some("timeout") | Some("decode") if field("operation").is_some() => {
            Failure::Unreachable {
                message: summary,
                location,
                error: json.unwrap_or(Value::Null),
            }
        }
        Some("refused") => Failure::Refused {
            message: summary,
            location,
        },
        Some("cancelled") => Failure::Cancelled { location },
        Some("limit") => Failure::Limit {
            message: field("message").unwrap_or(summary),
            location,
        },
        _ => Failure::Script {
            message: summary,
            location,
            value: json,
        },
    }
}

/// Compiles a script without running it.
pub fn check(script: &Script, limits: &Limits) -> Result<(), Failure> {
    let engine = engine::build_engine(
        &EngineOptions {
            limits: limits.clone(),
            module_dirs: script.dir.clone().into_iter().collect(),
            full_library: false,
        },
        Arc::new(engine::VecOutput::default()),
        Cancel::default(),
    );
    compile(&engine, script).map(|_| ())
}
