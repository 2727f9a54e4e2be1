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
        // `:resend` goes out like the session's other calls: on its sandbox clock.
        let client = rt.client.clone();
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

    /// `:calls`: the session's BT calls, one a line.
    pub fn calls_text(&self) -> String {
        super::calls::list(&self.client.recorder().numbered())
    }

    /// `:last [N]`: one call in full.
    pub fn last_text(&self, n: Option<usize>) -> Result<String, String> {
        let calls = self.client.recorder().numbered();
        super::calls::pick(&calls, n).map(|c| c.detail())
    }

    /// `:curl [N]`: one call as a curl command line, secrets as placeholders.
    pub fn curl_text(&self, n: Option<usize>) -> Result<String, String> {
        let calls = self.client.recorder().numbered();
        super::calls::pick(&calls, n).map(super::calls::curl)
    }

    /// What `:resend [N]` would send: (method, path, body), or why it cannot.
    pub fn resend_plan(
        &self,
        n: Option<usize>,
    ) -> Result<(String, String, Option<serde_json::Value>), String> {
        let calls = self.client.recorder().numbered();
        let c = super::calls::pick(&calls, n)?;
        if super::calls::is_token_call(c) {
            return Err("the token call is made by the session itself when it needs a token; it is not sent again by hand".into());
        }
        let Some(path) = c.url.strip_prefix(&self.base_url) else {
            return Err(format!(
                "call {} went to {}, not to the session's base URL",
                n.map(|n| n.to_string()).unwrap_or_default(),
                c.url
            ));
        };
        let masked = format!("\"{}\"", crate::secrets::MASK);
        if c.request_body
            .as_ref()
            .is_some_and(|b| b.to_string().contains(&masked))
        {
            return Err("its body held a secret, which the record does not keep: send it with bt::post and the secret".into());
        }
        Ok((c.method.clone(), path.to_string(), c.request_body.clone()))
    }

    /// Sends a call again (`:resend`) and prints its answer as `bt::` functions return it.
    pub fn resend(&mut self, method: &str, path: &str, body: Option<serde_json::Value>) {
        let client = self.client.clone();
        let cancel = self.cancel.clone();
        self.cancel.reset();
        self.evaluating.store(true, Ordering::SeqCst);
        let ticker = Ticker::start(self.client.clone());
        let result = self.handle.block_on(async {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(crate::api::ApiError::Cancelled { operation: "resend".into() }),
                r = client.raw(method, path, body) => r,
            }
        });
        ticker.stop();
        self.evaluating.store(false, Ordering::SeqCst);
        self.cancel.reset();
        match result {
            Ok(page) => {
                let headers: rhai::Map = page
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.into(), Dynamic::from(v)))
                    .collect();
                let mut m = rhai::Map::new();
                m.insert("status".into(), Dynamic::from_int(page.status as i64));
                m.insert("headers".into(), Dynamic::from_map(headers));
                m.insert(
                    "body".into(),
                    crate::engine::convert::to_dynamic(&page.body),
                );
                let v = Dynamic::from_map(m);
                if let Some(out) = super::table::show(&v, self.paint) {
                    println!("{out}");
                }
                self.set_last(v);
            }
            Err(e) => {
                if matches!(e, crate::api::ApiError::Cancelled { .. }) {
                    self.abandon_calls();
                }
                let unknown = if e.outcome_unknown() {
                    " (outcome unknown: BT may have processed it)"
                } else {
                    ""
                };
                eprintln!("{} {e}{unknown}", self.paint.red("error:"));
            }
        }
    }

    /// Calls a Ctrl-C left without an answer are recorded as interrupted (`:calls`, `:last`).
    fn abandon_calls(&self) {
        self.client.recorder().abandon_in_flight(
            "interrupted (Ctrl-C): no answer; if it changed something, its outcome is unknown",
        );
    }

    /// `_` is the last result.
    fn set_last(&mut self, v: Dynamic) {
        if !v.is_unit() {
            self.scope.set_or_push(LAST, v);
        }
    }

    /// For an input that only reads a key path (`q.serviceId`) and got `()`: the key the map
    /// does not have, and the keys it does.
    fn missing_key(&self, text: &str) -> Option<String> {
        let t = text.trim().trim_end_matches(';').trim();
        let mut parts = t.split('.');
        let var = parts.next()?;
        let keys: Vec<&str> = parts.collect();
        let ident = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_alphanumeric() || c == '_')
        };
        if keys.is_empty() || !ident(var) || !keys.iter().all(|k| ident(k)) {
            return None;
        }
        let mut v = self.scope.get(var)?.flatten_clone();
        let mut walked = var.to_string();
        for key in keys {
            let map = v.read_lock::<rhai::Map>()?.clone();
            match map.get(key) {
                Some(next) => {
                    v = next.flatten_clone();
                    walked = format!("{walked}.{key}");
                }
                None => {
                    let mut names: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
                    names.sort_unstable();
                    let norm = |s: &str| s.to_lowercase().replace('_', "");
                    let mut near: Vec<(f64, &str)> = names
                        .iter()
                        .map(|n| (strsim::jaro_winkler(&norm(key), &norm(n)), *n))
                        .filter(|(score, _)| *score > 0.8)
                        .collect();
                    near.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let hint = match near.first() {
                        Some((_, n)) => format!(" — did you mean {n}?"),
                        None => String::new(),
                    };
                    return Some(format!(
                        "{walked} has no key {key}{hint} (its keys: {})",
                        names.join(", ")
                    ));
                }
            }
        }
        None
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
            // A closure shows its parameters, not its generated name.
            let text = match value.read_lock::<rhai::FnPtr>() {
                Some(f) => {
                    let name = f.fn_name().to_string();
                    let params = self
                        .fns
                        .iter_functions()
                        .find(|d| d.name == name)
                        .map(|d| d.params.join(", "))
                        .unwrap_or_default();
                    format!("fn({params})")
                }
                None => render::one_line(value),
            };
            let short: String = text.chars().take(70).collect();
            let more = if text.chars().count() > 70 { "…" } else { "" };
            let kind = if constant { "const" } else { "let" };
            out.push(format!("{kind} {} = {short}{more}", self.paint.cyan(name)));
        }
        // Closures are compiled to functions named `anon$…`: they show as their variable.
        for f in self
            .fns
            .iter_functions()
            .filter(|f| !f.name.starts_with("anon$"))
        {
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
        let source = with_last(text);
        let script = Script::inline(INPUT_NAME, &source);
        match self.eval(&script) {
            Ok(v) => {
                self.transcript.push(text);
                if v.is_unit() {
                    if let Some(msg) = self.missing_key(text) {
                        eprintln!("{}", self.paint.yellow(&msg));
                    }
                }
                if let Some(out) = super::table::show(&v, self.paint) {
                    println!("{out}");
                }
                self.set_last(v);
            }
            Err(f) => {
                if matches!(f, Failure::Cancelled { .. }) {
                    self.abandon_calls();
                }
                eprintln!("{}", render_failure(&f, self.paint))
            }
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
        let ticker = Ticker::start(self.client.clone());
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &merged);
        ticker.stop();
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

/// The variable `_` stands for (Rhai reads a lone `_` as no name at all).
const LAST: &str = "_last";

/// `text` with each lone `_` (outside strings and comments, and not a `switch`'s `_ =>`) read
/// as the last result.
fn with_last(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '`' | '\'' => {
                // A string, template or character: copied as it is, escapes included.
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if chars[i - 1] == c {
                        break;
                    }
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '_' if (i == 0 || !ident(chars[i - 1]))
                && !chars.get(i + 1).is_some_and(|n| ident(*n)) =>
            {
                let rest: String = chars[i + 1..].iter().collect();
                if rest.trim_start().starts_with("=>") {
                    out.push('_');
                } else {
                    out.push_str(LAST);
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// While an input runs longer than a second, its elapsed time (and the BT call it waits for)
/// on the terminal's last line, cleared when it ends: never a silent wait.
struct Ticker {
    stop: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Ticker {
    fn start(client: BtClient) -> Ticker {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return Ticker { stop: None };
        }
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            use std::io::Write;
            let started = std::time::Instant::now();
            let mut shown = false;
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let elapsed = started.elapsed();
                if elapsed < Duration::from_secs(1) || flag.load(Ordering::SeqCst) {
                    continue;
                }
                let what = match client.recorder().waiting_for() {
                    Some((call, waited)) => {
                        format!("waiting for BT: {call} ({:.1} s)", waited.as_secs_f64())
                    }
                    None => "running (Ctrl-C stops it)".into(),
                };
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[K… {:.1} s {what}", elapsed.as_secs_f64());
                let _ = err.flush();
                shown = true;
            }
            if shown {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[K");
                let _ = err.flush();
            }
        });
        Ticker {
            stop: Some((done, thread)),
        }
    }

    fn stop(self) {
        if let Some((done, thread)) = self.stop {
            done.store(true, Ordering::SeqCst);
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod last_tests {
    use super::with_last;

    #[test]
    fn a_lone_underscore_is_the_last_result() {
        assert_eq!(with_last("_"), "_last");
        assert_eq!(with_last("_.id + 1"), "_last.id + 1");
        assert_eq!(with_last("my_var + _x"), "my_var + _x");
        assert_eq!(with_last(r#""_" + _"#), r#""_" + _last"#);
        assert_eq!(
            with_last("switch x { 1 => 2, _ => 3 }"),
            "switch x { 1 => 2, _ => 3 }"
        );
        assert_eq!(with_last("f(_) // _"), "f(_last) // _");
    }
}
