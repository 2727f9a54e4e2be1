//! The rustyline helper: completion (modules, functions, variables, map keys, meta-commands),
//! signature hints, multi-line validation and highlighting.

mod keys;

use super::help::Docs;
use super::render::Paint;
pub(crate) use super::scan::code_only;
use super::scan::{in_string_or_comment, scan, Scan};
use keys::{map_keys, path_start, request_key_context, RequestKeys};
use rhai::Dynamic;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter, MatchingBracketHighlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// What the session has defined, as completion sees it (refreshed after every input).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub vars: Vec<(String, Dynamic)>,
    /// Names of script-defined functions.
    pub fns: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "if", "else", "while", "loop", "for", "in", "do", "until", "break",
    "continue", "return", "throw", "try", "catch", "switch", "import", "export", "as", "true",
    "false", "private", "global", "this",
];

pub struct ReplHelper {
    pub docs: Arc<Docs>,
    pub snapshot: Arc<Mutex<Snapshot>>,
    pub paint: Paint,
    brackets: MatchingBracketHighlighter,
    files: FilenameCompleter,
    /// Probed on first use, so the prompt comes up at once.
    request_keys: std::sync::OnceLock<RequestKeys>,
}

impl ReplHelper {
    pub fn new(docs: Arc<Docs>, snapshot: Arc<Mutex<Snapshot>>, paint: Paint) -> Self {
        ReplHelper {
            docs,
            snapshot,
            paint,
            brackets: MatchingBracketHighlighter::new(),
            files: FilenameCompleter::new(),
            request_keys: std::sync::OnceLock::new(),
        }
    }

    fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn request_keys(&self) -> &RequestKeys {
        self.request_keys
            .get_or_init(|| RequestKeys::probe(&self.docs))
    }

    /// Completion candidates for the text before the cursor: (start of the replaced word, candidates).
    pub fn candidates(&self, before: &str) -> (usize, Vec<Pair>) {
        let trimmed = before.trim_start();
        if trimmed.starts_with(':') {
            return self.meta_candidates(before);
        }
        let start = word_start(before);
        let start = start + path_start(&before[start..]);
        let word = &before[start..];
        if in_string_or_comment(before) {
            return (start, Vec::new());
        }
        // `numbers::ringfence(#{ar` → the keys the function's request reads.
        if let Some((func, path, prefix)) = request_key_context(before) {
            let mut out: Vec<Pair> = self
                .request_keys()
                .get(&func, &path)
                .iter()
                .filter(|k| k.starts_with(&prefix))
                .map(|k| Pair {
                    display: k.clone(),
                    replacement: k.clone(),
                })
                .collect();
            out.sort_by(|a, b| a.display.cmp(&b.display));
            return (before.len() - prefix.len(), out);
        }
        // `var.key.` → keys of the map held by `var.key`.
        if let Some(dot) = word.rfind('.') {
            let (path, prefix) = (&word[..dot], &word[dot + 1..]);
            let snap = self.snapshot();
            let keys = map_keys(&snap, path);
            let mut out: Vec<Pair> = keys
                .into_iter()
                .filter(|k| k.starts_with(prefix))
                .map(|k| Pair {
                    display: k.clone(),
                    replacement: k,
                })
                .collect();
            out.sort_by(|a, b| a.display.cmp(&b.display));
            return (start + dot + 1, out);
        }
        (start, self.name_candidates(word, true))
    }

    /// Modules, functions, variables and keywords starting with `word`.
    fn name_candidates(&self, word: &str, call_paren: bool) -> Vec<Pair> {
        let paren = if call_paren { "(" } else { "" };
        let mut out: Vec<Pair> = Vec::new();
        if let Some((module, prefix)) = word.rsplit_once("::") {
            for f in self.docs.functions_in(module) {
                if f.name.starts_with(prefix) {
                    out.push(Pair {
                        display: f.name.clone(),
                        replacement: format!("{module}::{}{paren}", f.name),
                    });
                }
            }
            return out;
        }
        if word.is_empty() {
            return out;
        }
        let snap = self.snapshot();
        for m in &self.docs.modules {
            if m.name.starts_with(word) {
                out.push(Pair {
                    display: format!("{}::", m.name),
                    replacement: format!("{}::", m.name),
                });
            }
        }
        for (name, _) in &snap.vars {
            if name.starts_with(word) {
                out.push(Pair {
                    display: name.clone(),
                    replacement: name.clone(),
                });
            }
        }
        let globals = self.docs.global_names();
        for name in snap.fns.iter().map(String::as_str).chain(globals) {
            if name.starts_with(word) {
                out.push(Pair {
                    display: name.to_string(),
                    replacement: format!("{name}{paren}"),
                });
            }
        }
        // `wh` means `whc::` more often than `while`: a module that matches hides the keywords.
        let module_matches = self.docs.modules.iter().any(|m| m.name.starts_with(word));
        if call_paren && !module_matches {
            for k in KEYWORDS {
                if k.starts_with(word) {
                    out.push(Pair {
                        display: k.to_string(),
                        replacement: k.to_string(),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out.dedup_by(|a, b| a.replacement == b.replacement);
        out
    }

    fn meta_candidates(&self, before: &str) -> (usize, Vec<Pair>) {
        let lead = before.len() - before.trim_start().len();
        let text = before.trim_start();
        match text.split_once(char::is_whitespace) {
            None => {
                let mut out: Vec<Pair> = super::meta::COMMANDS
                    .iter()
                    .map(|(c, _)| c.split_whitespace().next().unwrap_or(c))
                    .filter(|c| c.starts_with(text))
                    .map(|c| Pair {
                        display: c.to_string(),
                        replacement: format!("{c} "),
                    })
                    .collect();
                out.sort_by(|a, b| a.display.cmp(&b.display));
                (lead, out)
            }
            Some((":help", _)) | Some((":h", _)) => {
                let start = word_start(before);
                let word = &before[start..];
                let mut out = self.name_candidates(word, false);
                out.retain(|p| !KEYWORDS.contains(&p.display.as_str()));
                (start, out)
            }
            _ => (before.len(), Vec::new()),
        }
    }

    /// The hint after the cursor: the rest of a unique name, else the signature of the call
    /// being typed.
    pub fn hint_for(&self, line: &str) -> Option<ReplHint> {
        if line.trim().is_empty() {
            return None;
        }
        let (start, cands) = self.candidates(line);
        let typed = &line[start..];
        if !typed.is_empty() && !cands.is_empty() {
            let common = common_prefix(cands.iter().map(|c| c.replacement.as_str()));
            // A lone "(" after a complete name is noise (map keys look like function names).
            if let Some(rest) = common
                .strip_prefix(typed)
                .filter(|r| !r.is_empty() && *r != "(")
            {
                return Some(ReplHint {
                    display: rest.to_string(),
                    completion: Some(rest.to_string()),
                });
            }
        }
        if line.trim_start().starts_with(':') {
            return None;
        }
        let name = enclosing_call(line)?;
        if let Some(keys) = self.request_hint(&name) {
            return Some(ReplHint {
                display: keys,
                completion: None,
            });
        }
        let sigs: Vec<String> = self
            .docs
            .lookup(&name)
            .into_iter()
            .map(|f| f.signature.clone())
            .collect();
        if sigs.is_empty() {
            return None;
        }
        Some(ReplHint {
            display: format!("   {}", sigs.join("  |  ")),
            completion: None,
        })
    }
}

impl ReplHelper {
    /// `   numbers::ringfence(#{area_code, service_id, …})` for a function that reads a request map.
    fn request_hint(&self, func: &str) -> Option<String> {
        let keys = self.request_keys().get(func, "");
        (!keys.is_empty()).then(|| format!("   {func}(#{{{}}})", keys.join(", ")))
    }
}

/// A hint: text shown dimmed after the cursor, and what → (right arrow) inserts, if anything.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplHint {
    display: String,
    completion: Option<String>,
}

impl Hint for ReplHint {
    fn display(&self) -> &str {
        &self.display
    }
    fn completion(&self) -> Option<&str> {
        self.completion.as_deref()
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let t = before.trim_start();
        if t.starts_with(":load ")
            || t.starts_with(":save ")
            || t.starts_with(":l ")
            || t.starts_with(":s ")
        {
            return self.files.complete(line, pos, ctx);
        }
        Ok(self.candidates(before))
    }
}

impl Hinter for ReplHelper {
    type Hint = ReplHint;
    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<ReplHint> {
        if pos < line.len() {
            return None;
        }
        self.hint_for(line)
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        if self.paint.color {
            self.brackets.highlight(line, pos)
        } else {
            Cow::Borrowed(line)
        }
    }
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        if self.paint.color {
            Cow::Owned(self.paint.bold(prompt))
        } else {
            Cow::Borrowed(prompt)
        }
    }
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.paint.color {
            Cow::Owned(self.paint.dim(hint))
        } else {
            Cow::Borrowed(hint)
        }
    }
    fn highlight_char(&self, line: &str, pos: usize, kind: CmdKind) -> bool {
        self.paint.color && self.brackets.highlight_char(line, pos, kind)
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(validate(ctx.input()))
    }
}

impl Helper for ReplHelper {}

/// Whether the input is ready to run: incomplete while a bracket, string or comment is open.
/// A meta-command is always complete, and two empty lines submit anyway (the parser then says
/// what is wrong).
pub fn validate(input: &str) -> ValidationResult {
    if input.trim_start().starts_with(':') || input.ends_with("\n\n") {
        return ValidationResult::Valid(None);
    }
    match scan(input) {
        Scan::Open => ValidationResult::Incomplete,
        Scan::Closed | Scan::Mismatched => ValidationResult::Valid(None),
    }
}

/// Byte index where the name (with `::` and `.` parts) before the cursor starts.
fn word_start(before: &str) -> usize {
    before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | '[' | ']'))
        .last()
        .map(|(i, _)| i)
        .unwrap_or(before.len())
}

/// The function whose argument list the cursor is in: `whc::qualify_company` for
/// `let q = whc::qualify_company(#{name: "x", `.
fn enclosing_call(before: &str) -> Option<String> {
    let code: Vec<char> = code_only(before).chars().collect();
    let mut depth = 0usize;
    let mut i = code.len();
    while i > 0 {
        i -= 1;
        match code[i] {
            ')' | ']' | '}' => depth += 1,
            '[' | '{' if depth > 0 => depth -= 1,
            '(' if depth > 0 => depth -= 1,
            '(' => {
                let end = i;
                let mut s = end;
                while s > 0
                    && (code[s - 1].is_alphanumeric() || code[s - 1] == '_' || code[s - 1] == ':')
                {
                    s -= 1;
                }
                let name: String = code[s..end].iter().collect();
                if name.is_empty() || KEYWORDS.contains(&name.as_str()) {
                    continue;
                }
                return Some(name);
            }
            _ => {}
        }
    }
    None
}

fn common_prefix<'a>(mut items: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = items.next() else {
        return String::new();
    };
    let mut prefix = first.to_string();
    for s in items {
        let n = prefix
            .char_indices()
            .zip(s.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map(|((i, a), _)| i + a.len_utf8())
            .unwrap_or(0);
        prefix.truncate(n);
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{build_engine, Cancel, EngineOptions, VecOutput};

    fn helper() -> ReplHelper {
        let engine = build_engine(
            &EngineOptions::default(),
            Arc::new(VecOutput::default()),
            Cancel::default(),
        );
        let docs = Arc::new(Docs::from_engine(&engine));
        let q: Dynamic = rhai::Engine::new()
            .eval(
                r#"#{id: "Q1", service_id: "S1", result: "Qualified", site: #{name: "HQ", nr: 1}}"#,
            )
            .unwrap();
        let snap = Snapshot {
            vars: vec![("q".into(), q), ("quota".into(), Dynamic::from_int(3))],
            fns: vec!["qualify_all".into()],
        };
        ReplHelper::new(docs, Arc::new(Mutex::new(snap)), Paint::plain())
    }

    fn replacements(h: &ReplHelper, before: &str) -> (usize, Vec<String>) {
        let (s, c) = h.candidates(before);
        (s, c.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn completes_module_functions() {
        let h = helper();
        assert_eq!(
            replacements(&h, "let x = whc::qu"),
            (8, vec!["whc::qualify_company(".to_string()])
        );
        let (_, all) = replacements(&h, "whc::");
        assert!(
            all.contains(&"whc::company(".to_string()) && all.len() > 2,
            "{all:?}"
        );
        let (_, mods) = replacements(&h, "wh");
        assert!(mods.contains(&"whc::".to_string()), "{mods:?}");
    }

    #[test]
    fn completes_variables_keys_and_globals() {
        let h = helper();
        let (_, c) = replacements(&h, "qu");
        assert!(
            c.contains(&"quota".to_string()) && c.contains(&"qualify_all(".to_string()),
            "{c:?}"
        );
        assert_eq!(
            replacements(&h, "print(q.se"),
            (8, vec!["service_id".to_string()])
        );
        assert_eq!(
            replacements(&h, "q.site.n"),
            (7, vec!["name".to_string(), "nr".to_string()])
        );
        assert!(replacements(&h, "nope.x").1.is_empty());
        assert!(replacements(&h, "print(\"whc::qu").1.is_empty());
        let (_, c) = replacements(&h, "pri");
        assert!(c.contains(&"print(".to_string()), "{c:?}");
    }

    #[test]
    fn completes_meta_commands_and_help_names() {
        let h = helper();
        assert_eq!(replacements(&h, ":sa"), (0, vec![":save ".to_string()]));
        assert_eq!(
            replacements(&h, ":help whc::qualify_c"),
            (6, vec!["whc::qualify_company".to_string()])
        );
    }

    #[test]
    fn hints_complete_names_and_show_signatures() {
        let h = helper();
        let hint = h.hint_for("whc::qualify_c").unwrap();
        assert_eq!(hint.completion(), Some("ompany("));
        let hint = h
            .hint_for("let q = whc::qualify_company(#{name: \"A (b\", ")
            .unwrap();
        assert!(hint.display().contains("whc::qualify_company("), "{hint:?}");
        assert!(hint.completion().is_none());
        assert!(h.hint_for("1 + 2").is_none());
    }

    #[test]
    fn validator_waits_for_closing_brackets_and_strings() {
        let incomplete = [
            "let q = whc::qualify_company(#{",
            "fn f(x) {\n  x + 1",
            "let s = \"abc",
            "let t = `multi\nline",
            "let t = `a ${ #{x: 1",
            "/* comment",
            "[1, 2,",
        ];
        for i in incomplete {
            assert!(matches!(validate(i), ValidationResult::Incomplete), "{i:?}");
        }
        let complete = [
            "let q = whc::qualify_company(#{name: \"a}\", domain: \"b\"})",
            "fn f(x) {\n  x + 1\n}",
            "let s = \"a\\\"b\"",
            "let t = `a ${ 1 + 2 } b`",
            "// (unclosed in comment",
            "x)",
            ":help whc::company(",
            "let a = (1 +\n\n",
            "'('",
        ];
        for c in complete {
            assert!(
                matches!(validate(c), ValidationResult::Valid(None)),
                "{c:?}"
            );
        }
    }

    #[test]
    fn odd_input_never_panics() {
        let h = helper();
        for s in [
            "", "::", ".", "..", "a::b::c.", "\"", "`${", "ü.ß::", ":", ": ", "q.)", "(((", "é(",
        ] {
            let _ = h.candidates(s);
            let _ = h.hint_for(s);
            let _ = validate(s);
        }
    }
}
