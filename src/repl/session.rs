//! One REPL session: the engine with its BT connection, one persistent scope, the functions
//! and imports of earlier inputs, and the transcript `:save` writes.

use super::helper::Snapshot;
use super::meta::Transcript;
use super::render::{self, Paint};
use super::{render_failure, INPUT_NAME};
use crate::api::BtClient;
use crate::config::{Limits, Profile, Settings};
use crate::engine::{self, Cancel, LogLevel, RunContext, Runtime, StdOutput};
use crate::runner::{self, Failure, Script};
use rhai::{Dynamic, Engine, Scope, AST};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) struct Session {
    pub engine: Engine,
    scope: Scope<'static>,
    /// Script-defined functions of earlier inputs (an AST without statements).
    fns: AST,
    /// `import "x" as y;` statements of earlier inputs, run before each input.
    imports: Vec<String>,
    imports_ast: AST,
    transcript: Transcript,
    cancel: Cancel,
    evaluating: Arc<AtomicBool>,
    handle: tokio::runtime::Handle,
    limits: Limits,
    profile: Profile,
    base_url: String,
    cug: String,
    billing_account: String,
    data_dir: PathBuf,
    /// For `:last` and `:calls`: the client records its exchanges for the session.
    client: BtClient,
    /// The client the session's scripts call BT with (on the session's sandbox clock):
    /// `:resend` sends through it too.
    call_client: BtClient,
    /// Keys read from maps that do not have them during the current input (see `eval`).
    missing_keys: Arc<Mutex<Vec<String>>>,
    pub paint: Paint,
}

impl Session {
    pub fn new(
        settings: &Settings,
        client: BtClient,
        handle: tokio::runtime::Handle,
        cancel: Cancel,
        evaluating: Arc<AtomicBool>,
        events: Option<crate::store::EventHub>,
        run_id: String,
    ) -> Session {
        let out: Arc<dyn engine::Output> = Arc::new(ReplOutput(StdOutput {
            prints_to_stderr: false,
            min_level: LogLevel::Info,
        }));
        // The engine's own deadline counts from when it is built; a session lasts longer than
        // any run, so the time limit is applied per input instead (see `eval`).
        let mut limits = settings.limits.clone();
        let per_input = limits.timeout_secs;
        limits.timeout_secs = 0;
        let base_url = client.base_url().to_string();
        client.recorder().enable();
        let ctx = RunContext::new(client.clone(), settings.profile, out)
            .with_account(&settings.cug, &settings.billing_account)
            .with_limits(limits)
            .with_cancel(cancel.clone())
            .with_events(events);
        let mut rt = Runtime::new(&ctx, handle.clone(), run_id, None);
        rt.interactive = true;
        let call_client = rt.client.clone();
        let mut engine = engine::engine_for(
            Arc::new(rt),
            vec![PathBuf::from("."), PathBuf::from("scripts")],
        );
        let missing_keys: Arc<Mutex<Vec<String>>> = Arc::default();
        let noted = missing_keys.clone();
        // A key a map does not have still reads as `()`, as in a recipe, but the prompt says so
        // after the input, with the keys it has (a blank line explained nothing).
        engine.on_map_missing_property(move |map, prop, _ctx| {
            let mut notes = noted.lock().unwrap_or_else(|p| p.into_inner());
            if notes.len() < 5 {
                let keys: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
                let note = super::render::missing_key(prop, &keys);
                if !notes.contains(&note) {
                    notes.push(note);
                }
            }
            Ok(rhai::Dynamic::UNIT.into())
        });
        let mut limits = settings.limits.clone();
        limits.timeout_secs = per_input;
        let mut s = Session {
            engine,
            scope: Scope::new(),
            fns: AST::empty(),
            imports: Vec::new(),
            imports_ast: AST::empty(),
            transcript: Transcript::default(),
            cancel,
            evaluating,
            handle,
            limits,
            profile: settings.profile,
            base_url,
            cug: settings.cug.clone(),
            billing_account: settings.billing_account.clone(),
            data_dir: settings.data_dir.clone(),
            client,
            call_client,
            missing_keys,
            paint: Paint::plain(),
        };
        s.reset();
        s
    }

    /// A fresh scope: no variables (but `params`, empty, as recipes expect), functions or imports.
    pub fn reset(&mut self) {
        self.scope = Scope::new();
        self.scope
            .push_constant("params", Dynamic::from_map(rhai::Map::new()));
        self.fns = AST::empty();
        self.imports.clear();
        self.imports_ast = AST::empty();
        self.transcript.clear();
    }

    pub fn banner(&self) -> String {
        let p = self.paint;
        let mut s = format!(
            "btw repl — {} profile, {} (CUG {})\n{} lists the modules, {} shows one function; Tab completes; Ctrl-C stops a call; Ctrl-D quits.",
            p.bold(self.profile.name()),
            self.base_url,
            self.cug,
            p.cyan(":help"),
            p.cyan(":help whc::company"),
        );
        if self.profile == Profile::Live {
            s.push_str(&format!(
                "\n{}",
                p.red("LIVE: calls reach BT's live gateway; orders are real.")
            ));
        }
        s
    }

    pub fn profile_text(&self) -> String {
        format!(
            "profile          {}\nbase URL         {}\nCUG              {}\nbilling account  {}\ndata folder      {}",
            self.profile.name(),
            self.base_url,
            self.cug,
            self.billing_account,
            self.data_dir.display()
        )
    }

    /// `:calls N`: the last N BT exchanges, one line each, oldest first.
    pub fn calls_text(&self, n: usize) -> String {
        super::calls::list(&self.client.recorder().last(n))
    }

    /// Call `n` (the last when `None`), or what to say when there is none.
    fn call(&self, n: Option<u64>) -> Result<crate::api::recorder::CallRecord, String> {
        let recorder = self.client.recorder();
        match n {
            None => recorder
                .last(1)
                .pop()
                .ok_or_else(|| "no BT call yet in this session".to_string()),
            Some(n) => recorder.get(n).ok_or_else(|| {
                let kept = recorder.last(usize::MAX);
                match (kept.first(), kept.last()) {
                    (Some(a), Some(b)) => format!(
                        "no call {n}: the session keeps calls {} to {} (:calls lists them)",
                        a.seq, b.seq
                    ),
                    _ => "no BT call yet in this session".to_string(),
                }
            }),
        }
    }

    /// `:last [N]`: one call in full.
    pub fn last_text(&self, n: Option<u64>) -> Result<String, String> {
        self.call(n)
            .map(|c| format!("call {}: {}", c.seq, c.detail()))
    }

    /// `:curl [N]`: one call as a curl command.
    pub fn curl_text(&self, n: Option<u64>) -> Result<String, String> {
        self.call(n).map(|c| super::calls::curl(&c))
    }

    /// `:resend [N]`: sends call N again (after asking, for a change) and shows the answer,
    /// which also becomes `_`.
    pub fn resend(&mut self, n: Option<u64>) {
        let call = match self.call(n) {
            Ok(c) => c,
            Err(e) => return eprintln!("{e}"),
        };
        if super::calls::is_token_call(&call) {
            return eprintln!(
                "call {} is the token call: btw asks for a token when it needs one (:curl {} shows it as a command)",
                call.seq, call.seq
            );
        }
        let masked = call
            .request_body
            .as_ref()
            .is_some_and(|b| b.to_string().contains(crate::secrets::MASK));
        if masked {
            return eprintln!(
                "call {}'s body held secrets, which are never kept: send it with bt::{}(\"{}\", …) and the values",
                call.seq,
                call.method.to_ascii_lowercase(),
                call.path()
            );
        }
        let method = call.method.clone();
        let path = call.path().to_string();
        if crate::api::raw::is_mutating(&method)
            && !confirm(&format!(
            "{method} {path} may change something at BT, and is not retried. Send it again? [y/N] "
        )) {
            return println!("not sent");
        }
        let client = self.call_client.clone();
        let body = call.request_body.clone();
        let cancel = self.cancel.clone();
        self.cancel.reset();
        self.evaluating.store(true, Ordering::SeqCst);
        let waiting = super::waiting::Waiting::start(&self.client);
        let result = self.handle.block_on(async {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(crate::api::ApiError::Cancelled { operation: "resend".into() }),
                r = client.raw(&method, &path, body) => r,
            }
        });
        drop(waiting);
        self.evaluating.store(false, Ordering::SeqCst);
        self.cancel.reset();
        self.client
            .recorder()
            .abandon_in_flight(crate::api::recorder::INTERRUPTED);
        match result {
            Ok(answer) => {
                let headers: rhai::Map = answer
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase().into(), v.clone().into()))
                    .collect();
                let mut m = rhai::Map::new();
                m.insert("status".into(), Dynamic::from_int(answer.status as i64));
                m.insert("headers".into(), Dynamic::from_map(headers));
                m.insert(
                    "body".into(),
                    crate::engine::convert::to_dynamic(&answer.body),
                );
                let v = Dynamic::from_map(m);
                if let Some(last) = self.client.recorder().last(1).pop() {
                    println!("{}", self.paint.dim(&last.list_line()));
                }
                if let Some(out) = super::table::show(&v, self.paint) {
                    super::pager::show(&out);
                }
                self.set_last(v);
            }
            Err(crate::api::ApiError::Cancelled { .. }) => eprintln!(
                "{}",
                self.paint.yellow(if crate::api::raw::is_mutating(&method) {
                    "interrupted: the call may have reached BT (outcome unknown); :calls shows it"
                } else {
                    "interrupted: back at the prompt"
                })
            ),
            Err(e) => {
                let unknown = if e.outcome_unknown() && crate::api::raw::is_mutating(&method) {
                    " — outcome unknown: it may have taken effect at BT; it was not sent again"
                } else {
                    ""
                };
                eprintln!("{} {e}{unknown}", self.paint.red("error:"))
            }
        }
    }

    /// Makes `v` the value of `_`.
    fn set_last(&mut self, v: Dynamic) {
        if !v.is_unit() {
            self.scope.set_or_push(super::rewrite::LAST, v);
        }
    }

    pub fn vars_text(&self) -> String {
        let mut out = Vec::new();
        // The scope lists the latest first; a shadowed variable shows once, with its latest value.
        let mut seen = std::collections::HashSet::new();
        let vars: Vec<_> = self
            .scope
            .iter_raw()
            .filter(|(name, _, _)| seen.insert(name.to_string()))
            .collect();
        for (name, constant, value) in vars.into_iter().rev() {
            let name = if name == super::rewrite::LAST {
                "_"
            } else {
                name
            };
            let text = match value.read_lock::<rhai::FnPtr>() {
                Some(f) => self.closure_text(&f),
                None => render::one_line(value),
            };
            let short: String = text.chars().take(70).collect();
            let more = if text.chars().count() > 70 { "…" } else { "" };
            let kind = if constant { "const" } else { "let" };
            out.push(format!("{kind} {} = {short}{more}", self.paint.cyan(name)));
        }
        for f in self.fns.iter_functions().filter(|f| !is_closure(f.name)) {
            out.push(format!(
                "fn {}({})",
                self.paint.cyan(f.name),
                f.params.join(", ")
            ));
        }
        for i in &self.imports {
            out.push(i.clone());
        }
        out.join("\n")
    }

    /// A function value as `fn(x, y)` (a closure's generated name says nothing).
    fn closure_text(&self, f: &rhai::FnPtr) -> String {
        let name = f.fn_name();
        let params = self
            .fns
            .iter_functions()
            .find(|d| d.name == name)
            .map(|d| {
                // A closure's captured variables come first; they are not its parameters.
                let n = f.curry().len();
                d.params
                    .iter()
                    .skip(n)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        if is_closure(name) {
            format!("fn({params})")
        } else {
            format!("fn {name}({params})")
        }
    }

    /// Publishes the session's names for completion.
    pub fn refresh(&self, snapshot: &Mutex<Snapshot>) {
        let snap = Snapshot {
            vars: self
                .scope
                .iter_raw()
                .map(|(n, _, v)| (n.to_string(), v.flatten_clone()))
                .collect(),
            fns: self
                .fns
                .iter_functions()
                .map(|f| f.name.to_string())
                .collect(),
        };
        match snapshot.lock() {
            Ok(mut s) => *s = snap,
            Err(p) => *p.into_inner() = snap,
        }
    }

    /// Runs one input and prints its result or error; the result becomes `_`.
    pub fn eval_and_print(&mut self, text: &str) {
        let rewritten = super::rewrite::rewrite(text);
        let script = Script::inline(INPUT_NAME, rewritten.as_deref().unwrap_or(text));
        let result = match self.eval(&script) {
            // A rewrite that does not compile: the error is about what was typed.
            Err(Failure::Compile { .. }) if rewritten.is_some() => {
                self.eval(&Script::inline(INPUT_NAME, text))
            }
            other => other,
        };
        let notes: Vec<String> =
            std::mem::take(&mut *self.missing_keys.lock().unwrap_or_else(|p| p.into_inner()));
        match result {
            Ok(v) => {
                self.transcript.push_result(text, !v.is_unit());
                for n in &notes {
                    eprintln!("{}", self.paint.yellow(n));
                }
                if let Some(out) = super::table::show(&v, self.paint) {
                    super::pager::show(&out);
                }
                self.set_last(v);
            }
            Err(f) => eprintln!("{}", render_failure(&f, self.paint)),
        }
    }

    /// `:load file`: runs a file into the session.
    pub fn load(&mut self, path: &Path) {
        let script = match Script::from_file(path) {
            Ok(s) => s,
            Err(f) => return eprintln!("{}", render_failure(&f, self.paint)),
        };
        match self.eval(&script) {
            Ok(v) => {
                self.transcript.push(&script.source);
                if let Some(out) = super::table::show(&v, self.paint) {
                    println!("{out}");
                }
            }
            Err(f) => eprintln!("{}", render_failure(&f, self.paint)),
        }
    }

    /// `:save file`: the session's successful statements as a recipe.
    pub fn save(&self, path: &Path) {
        if self.transcript.is_empty() {
            return eprintln!("nothing to save yet: no statement has run successfully");
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().replace(['_', '-'], " "))
            .unwrap_or_else(|| "REPL session".into());
        let (text, params) = self
            .transcript
            .to_recipe(&format!("{name} (saved REPL session)"), self.profile.name());
        match std::fs::write(path, text) {
            Ok(()) => {
                let kept = self.transcript.kept_len();
                let dropped = self.transcript.len() - kept;
                let plural = |n: usize, one: &str, many: &str| {
                    format!("{n} {}", if n == 1 { one } else { many })
                };
                let note = if dropped > 0 {
                    format!(
                        ", {} left out",
                        plural(dropped, "inspection line", "inspection lines")
                    )
                } else {
                    String::new()
                };
                println!(
                    "saved {} to {}{note}",
                    plural(kept, "statement", "statements"),
                    path.display(),
                );
                println!("{}", run_hint(path, &params));
            }
            Err(e) => eprintln!(
                "{}",
                render_failure(
                    &Failure::Usage {
                        message: format!("cannot write {}: {e}", path.display())
                    },
                    self.paint
                )
            ),
        }
    }

    /// Compiles and evaluates one input with the session's scope, functions and imports.
    /// The functions it defines are kept only when it succeeds; its variables are kept either way.
    pub fn eval(&mut self, script: &Script) -> Result<Dynamic, Failure> {
        let ast = runner::compile(&self.engine, script)?;
        let mut merged = self.imports_ast.merge(&self.fns).merge(&ast);
        let timer = (self.limits.timeout_secs > 0).then(|| {
            let cancel = self.cancel.clone();
            let limit = Duration::from_secs(self.limits.timeout_secs);
            self.handle.spawn(async move {
                tokio::time::sleep(limit).await;
                cancel.time_out();
            })
        });
        self.cancel.reset();
        self.evaluating.store(true, Ordering::SeqCst);
        let waiting = super::waiting::Waiting::start(&self.client);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &merged);
        drop(waiting);
        self.evaluating.store(false, Ordering::SeqCst);
        // A call still in flight was dropped (Ctrl-C, the time limit): it is listed as such.
        let why = if self.cancel.is_timed_out() {
            "interrupted (the input's time limit)"
        } else {
            crate::api::recorder::INTERRUPTED
        };
        self.client.recorder().abandon_in_flight(why);
        if let Some(t) = timer {
            t.abort();
        }
        let timed_out = self.cancel.is_timed_out();
        self.cancel.reset();
        match result {
            Ok(v) => {
                merged.clear_statements();
                self.fns = merged;
                self.keep_imports(&script.source);
                Ok(v)
            }
            Err(e) => {
                let f = runner::classify(&self.engine, script, &e);
                Err(match f {
                    Failure::Cancelled { location } if timed_out => Failure::Limit {
                        message: format!(
                            "timed out: the input ran longer than {} s (limits.timeout_secs / BTW_TIMEOUT_SECS)",
                            self.limits.timeout_secs
                        ),
                        location,
                    },
                    other => other,
                })
            }
        }
    }

    /// Remembers the input's top-level `import "…" as name;` lines for the inputs after it.
    fn keep_imports(&mut self, source: &str) {
        let mut changed = false;
        for line in source.lines() {
            let t = line.trim();
            let Some(rest) = t.strip_prefix("import ") else {
                continue;
            };
            let stmt = rest.trim().trim_end_matches(';').trim();
            if !stmt.contains(" as ") || stmt.contains([';', '{']) {
                continue;
            }
            let stmt = format!("import {stmt};");
            if !self.imports.contains(&stmt) {
                self.imports.push(stmt);
                changed = true;
            }
        }
        if changed {
            match self.engine.compile(self.imports.join("\n")) {
                Ok(ast) => self.imports_ast = ast,
                Err(_) => {
                    self.imports.clear();
                    self.imports_ast = AST::empty();
                }
            }
        }
    }
}

/// Whether a script function is a closure's (`|x| …` compiles to `anon$…`).
fn is_closure(name: &str) -> bool {
    name.starts_with("anon$")
}

/// Asks a yes/no question on the terminal; anything but y/yes is no.
fn confirm(question: &str) -> bool {
    use std::io::Write;
    print!("{question}");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// How to run a saved recipe: its required parameters need new values (the session's are taken
/// now), its secrets their values; the rest default to the session's.
fn run_hint(path: &Path, params: &[super::save_params::Param]) -> String {
    use super::save_params::Kind;
    let mut cmd = format!("btw run {}", path.display());
    let mut needed = Vec::new();
    for p in params {
        match p.kind {
            Kind::Unique => {
                cmd.push_str(&format!(" --param {}=NEW", p.name));
                needed.push(p.name.as_str());
            }
            Kind::Secret => {
                cmd.push_str(&format!(" --param {}=…", p.name));
                needed.push(p.name.as_str());
            }
            Kind::Default(_) => {}
        }
    }
    let defaults = params.len() - needed.len();
    let mut out = format!("run it with: {cmd}");
    if !needed.is_empty() {
        out.push_str(&format!(
            "\n({} required: values BT keeps unique, or secrets, are never reused from the session",
            needed.join(", ")
        ));
        if defaults > 0 {
            out.push_str(&format!(
                "; {defaults} more default to the session's values"
            ));
        }
        out.push(')');
    } else if defaults > 0 {
        out.push_str(&format!(
            "\n({defaults} parameters default to the session's values: `btw run {} --help` lists them)",
            path.display()
        ));
    }
    out
}

/// The terminal's output, clearing the waiting line before each line the script prints.
struct ReplOutput(StdOutput);

impl engine::Output for ReplOutput {
    fn print(&self, line: &str) {
        super::waiting::quiet(|| self.0.print(line));
    }
    fn log(&self, level: LogLevel, msg: &str) {
        super::waiting::quiet(|| self.0.log(level, msg));
    }
    fn shows_progress(&self) -> bool {
        self.0.shows_progress()
    }
}
