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
        let out: Arc<dyn engine::Output> = Arc::new(StdOutput {
            prints_to_stderr: false,
            min_level: LogLevel::Info,
        });
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
        let engine = engine::engine_for(
            Arc::new(rt),
            vec![PathBuf::from("."), PathBuf::from("scripts")],
        );
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

    /// `:last` / `:calls N`: the last BT exchanges, oldest first.
    pub fn calls_text(&self, n: usize) -> String {
        let calls = self.client.recorder().last(n);
        if calls.is_empty() {
            return "no BT call yet in this session".into();
        }
        calls
            .iter()
            .map(|c| c.detail())
            .collect::<Vec<_>>()
            .join(&format!("\n{}\n", self.paint.dim("---")))
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
            let text = render::one_line(value);
            let short: String = text.chars().take(70).collect();
            let more = if text.chars().count() > 70 { "…" } else { "" };
            let kind = if constant { "const" } else { "let" };
            out.push(format!("{kind} {} = {short}{more}", self.paint.cyan(name)));
        }
        for f in self.fns.iter_functions() {
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

    /// Runs one input and prints its result or error.
    pub fn eval_and_print(&mut self, text: &str) {
        let script = Script::inline(INPUT_NAME, text);
        match self.eval(&script) {
            Ok(v) => {
                self.transcript.push(text);
                if let Some(out) = super::table::show(&v, self.paint) {
                    println!("{out}");
                }
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
        let text = self
            .transcript
            .to_recipe(&format!("{name} (saved REPL session)"), self.profile.name());
        match std::fs::write(path, text) {
            Ok(()) => {
                let kept = self.transcript.kept_len();
                let dropped = self.transcript.len() - kept;
                let note = if dropped > 0 {
                    format!(", {dropped} inspection lines left out")
                } else {
                    String::new()
                };
                println!(
                    "saved {kept} statements to {}{note} (run it with: btw run {})",
                    path.display(),
                    path.display()
                )
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
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &merged);
        self.evaluating.store(false, Ordering::SeqCst);
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
