//! Meta-commands (`:help`, `:profile`, `:calls`, `:last`, `:curl`, `:resend`, `:load`, `:save`,
//! `:reset`, `:quit`, …) and the session's record of successful statements that `:save` turns
//! into a recipe.

use std::path::PathBuf;

/// The meta-commands, with their one-line descriptions (`:help` and completion read this).
pub const COMMANDS: &[(&str, &str)] = &[
    (
        ":help [name]",
        "list the modules, or show a function's signature, doc and example (also help(name))",
    ),
    (
        ":profile",
        "show the profile, base URL, CUG and billing account",
    ),
    (":vars", "list the session's variables and functions"),
    (
        ":calls [N]",
        "list the last N BT calls (default 20), one line each: number, time, method, path, status, time taken, tracking id",
    ),
    (
        ":last [N]",
        "show BT call N (default: the last) in full: headers (secrets redacted), bodies, status, tracking id (also :call N)",
    ),
    (
        ":curl [N]",
        "print BT call N (default: the last) as a curl command, secrets as $BTW_TOKEN-style variables",
    ),
    (
        ":resend [N]",
        "send BT call N (default: the last) again; a change asks first",
    ),
    (
        ":load FILE",
        "run a .rhai file into the session (its variables and functions stay)",
    ),
    (
        ":save FILE",
        "write the session's successful statements as a recipe for `btw run`",
    ),
    (
        ":reset",
        "forget every variable and function: a fresh session",
    ),
    (":quit", "leave (also Ctrl-D)"),
];

/// A parsed meta-command.
#[derive(Clone, Debug, PartialEq)]
pub enum Meta {
    Help(Option<String>),
    Profile,
    Vars,
    /// `:calls N`: the last N calls, one line each.
    Calls(usize),
    /// `:last [N]` / `:call N`: one call in full (`None`: the last).
    Last(Option<u64>),
    /// `:curl [N]`: one call as a curl command.
    Curl(Option<u64>),
    /// `:resend [N]`: one call sent again.
    Resend(Option<u64>),
    Load(PathBuf),
    Save(PathBuf),
    Reset,
    Quit,
    /// Hidden: pushes a line through the notification path (tests, demos).
    Notify(String),
    /// A meta-command used wrongly, with what to say.
    Bad(String),
}

/// Reads a meta-command (`:name args`) or `help(name)`; `None` for script text.
pub fn parse(line: &str) -> Option<Meta> {
    let line = line.trim();
    if let Some(arg) = help_call(line) {
        return Some(Meta::Help(arg));
    }
    let rest = line.strip_prefix(':')?;
    let (cmd, arg) = match rest.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (rest, ""),
    };
    let arg_opt = (!arg.is_empty()).then(|| arg.to_string());
    let need_file = |make: fn(PathBuf) -> Meta, usage: &str| match &arg_opt {
        Some(a) => make(PathBuf::from(a.trim_matches('"'))),
        None => Meta::Bad(format!("usage: {usage}")),
    };
    Some(match cmd {
        "help" | "h" | "?" => Meta::Help(arg_opt),
        "profile" => Meta::Profile,
        "vars" => Meta::Vars,
        "last" | "call" | "curl" | "resend" => {
            let n = match arg_opt.as_deref().map(str::parse::<u64>) {
                None if cmd == "call" => {
                    return Some(Meta::Bad(
                        "usage: :call N (N a call's number in :calls)".into(),
                    ))
                }
                None => None,
                Some(Ok(n)) if n > 0 => Some(n),
                Some(_) => {
                    return Some(Meta::Bad(format!(
                        "usage: :{cmd} [N] (N a call's number in :calls, a whole number above 0)"
                    )))
                }
            };
            match cmd {
                "curl" => Meta::Curl(n),
                "resend" => Meta::Resend(n),
                _ => Meta::Last(n),
            }
        }
        "calls" => match arg_opt.as_deref().map(str::parse::<usize>) {
            None => Meta::Calls(20),
            Some(Ok(n)) if n > 0 => Meta::Calls(n),
            Some(_) => Meta::Bad("usage: :calls [N] (N a whole number above 0)".into()),
        },
        "load" | "l" => need_file(Meta::Load, ":load FILE.rhai"),
        "save" | "s" => need_file(Meta::Save, ":save FILE.rhai"),
        "reset" => Meta::Reset,
        "quit" | "q" | "exit" => Meta::Quit,
        "notify" => Meta::Notify(arg.to_string()),
        other => Meta::Bad(format!(
            "unknown meta-command :{other} (known: {})",
            COMMANDS
                .iter()
                .map(|(c, _)| c.split_whitespace().next().unwrap_or(c))
                .collect::<Vec<_>>()
                .join(" ")
        )),
    })
}

/// `help()`, `help(whc::company)`, `help("whc::company")` → the argument (REPL only: it is not a script function).
fn help_call(line: &str) -> Option<Option<String>> {
    let inner = line
        .trim_end_matches(';')
        .trim_end()
        .strip_prefix("help")?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')?
        .trim()
        .trim_matches(|c| c == '"' || c == '`' || c == '\'');
    if inner.contains(['(', ')', ';']) {
        return None;
    }
    Some((!inner.is_empty()).then(|| inner.to_string()))
}

/// The statements of a session that ran without error, in order.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    entries: Vec<String>,
    /// Per entry: whether its value became `_` (see [`Transcript::push_result`]).
    results: Vec<bool>,
}

impl Transcript {
    pub fn push(&mut self, text: &str) {
        self.push_result(text, false);
    }

    /// An input, and whether its value became `_`; a later input that reads `_` is saved
    /// reading `_last`, and this one then binds it (`let _last = …;`).
    pub fn push_result(&mut self, text: &str, became_last: bool) {
        let t = text.trim();
        if !t.is_empty() {
            let t = super::rewrite::underscores(t).unwrap_or_else(|| t.to_string());
            self.entries.push(t);
            self.results.push(became_last);
        }
    }

    /// The entries, with each one whose value a later entry reads as `_` binding it.
    fn with_last_bound(&self) -> Vec<String> {
        let mut entries = self.entries.clone();
        let mut last: Option<usize> = None;
        for i in 0..entries.len() {
            if reads_last(&self.entries[i]) {
                if let Some(j) = last {
                    let e = entries[j].trim_end().trim_end_matches(';').to_string();
                    if !e.starts_with("let ") && !e.contains(';') {
                        entries[j] = format!("let {} = {e};", super::rewrite::LAST);
                    }
                }
            }
            if self.results[i] {
                last = Some(i);
            }
        }
        entries
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.results.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The session as a recipe: a `//!` header, then each statement that matters (inspection
    /// lines are left out), terminated so they parse as one script; the last one stays an expression, so the recipe's result is the session's
    /// last result.
    /// How many statements the recipe keeps (see [`super::keep`]).
    pub fn kept_len(&self) -> usize {
        super::keep::kept(&self.with_last_bound()).len()
    }

    /// The recipe text, and the parameters its literal inputs became (see
    /// [`super::save_params`]).
    pub fn to_recipe(&self, name: &str, profile: &str) -> (String, Vec<super::save_params::Param>) {
        let all = self.with_last_bound();
        let mut entries: Vec<String> = super::keep::kept(&all)
            .into_iter()
            .filter_map(|i| all.get(i).cloned())
            .collect();
        let params = super::save_params::parameterize(&mut entries);
        let mut out = format!("//! name: {}\n", name.replace('\n', " "));
        for p in &params {
            out.push_str(&p.declaration());
            out.push('\n');
        }
        out.push_str(&format!(
            "//! trigger: manual\n\n// Saved from `btw repl` ({profile} profile) on {}.\n\n",
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        ));
        let n = entries.len();
        for (i, e) in entries.iter().enumerate() {
            // Doc comments (`//!`) belong only at the top of a file.
            let body: Vec<&str> = e
                .lines()
                .filter(|l| !l.trim_start().starts_with("//!"))
                .collect();
            let body = body.join("\n");
            let body = body.trim();
            if body.is_empty() {
                continue;
            }
            out.push_str(body);
            if i + 1 < n && !ends_statement(body) {
                // After a line comment, the `;` goes on a line of its own.
                let last = body.lines().last().unwrap_or("");
                out.push_str(if last.contains("//") { "\n;" } else { ";" });
            }
            out.push('\n');
        }
        (out, params)
    }
}

/// Whether an (already rewritten) entry reads `_`.
fn reads_last(entry: &str) -> bool {
    let code = super::scan::code_only(entry);
    code.match_indices(super::rewrite::LAST).any(|(i, _)| {
        !code[i + super::rewrite::LAST.len()..]
            .starts_with(|c: char| c.is_alphanumeric() || c == '_')
    })
}

/// Whether a statement needs no `;` after it.
fn ends_statement(s: &str) -> bool {
    s.lines().last().unwrap_or("").trim().ends_with(';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meta_commands() {
        assert_eq!(parse(":help"), Some(Meta::Help(None)));
        assert_eq!(
            parse(":help whc::qualify_company"),
            Some(Meta::Help(Some("whc::qualify_company".into())))
        );
        assert_eq!(
            parse("help(whc::company)"),
            Some(Meta::Help(Some("whc::company".into())))
        );
        assert_eq!(
            parse("help(\"whc::company\");"),
            Some(Meta::Help(Some("whc::company".into())))
        );
        assert_eq!(parse("help()"), Some(Meta::Help(None)));
        assert_eq!(parse(":load a b.rhai"), Some(Meta::Load("a b.rhai".into())));
        assert!(matches!(parse(":load"), Some(Meta::Bad(_))));
        assert!(matches!(parse(":frobnicate"), Some(Meta::Bad(_))));
        assert_eq!(parse(":q"), Some(Meta::Quit));
        assert_eq!(parse(":last"), Some(Meta::Last(None)));
        assert_eq!(parse(":last 2"), Some(Meta::Last(Some(2))));
        assert_eq!(parse(":call 7"), Some(Meta::Last(Some(7))));
        assert!(matches!(parse(":last xyz"), Some(Meta::Bad(_))));
        assert!(matches!(parse(":call"), Some(Meta::Bad(_))));
        assert_eq!(parse(":curl"), Some(Meta::Curl(None)));
        assert_eq!(parse(":resend 3"), Some(Meta::Resend(Some(3))));
        assert_eq!(parse(":calls"), Some(Meta::Calls(20)));
        assert_eq!(parse(":calls 3"), Some(Meta::Calls(3)));
        assert!(matches!(parse(":calls x"), Some(Meta::Bad(_))));
        assert_eq!(
            parse(":notify hello there"),
            Some(Meta::Notify("hello there".into()))
        );
        assert_eq!(parse("let x = 1"), None);
        assert_eq!(parse("helper(1)"), None);
        assert_eq!(parse("help(f(1))"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn a_saved_underscore_reads_the_value_it_stood_for() {
        let mut t = Transcript::default();
        t.push_result("20 + 1", true);
        t.push_result("q.result", false);
        t.push_result("let b = _ * 2", false);
        t.push_result("b", true);
        let (src, _) = t.to_recipe("underscore", "sandbox");
        assert!(src.contains("let _last = 20 + 1;"), "{src}");
        let v: i64 = rhai::Engine::new()
            .eval(&src)
            .unwrap_or_else(|e| panic!("{e}\n{src}"));
        assert_eq!(v, 42);
    }

    #[test]
    fn recipes_parse_and_give_the_last_result() {
        let mut t = Transcript::default();
        t.push("let a = #{x: 40}");
        t.push("fn add(v) { v + 2 }");
        t.push("if a.x > 1 { a.x = 40 }");
        t.push("let b = add(a.x) // the answer");
        t.push("let u = \"http://example.com\"");
        t.push("//! stray header\nb");
        let (src, params) = t.to_recipe("test session", "sandbox");
        assert!(params.is_empty(), "{params:?}");
        assert!(src.starts_with("//! name: test session\n"), "{src}");
        let engine = rhai::Engine::new();
        let v: i64 = engine.eval(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        assert_eq!(v, 42);
    }
}
