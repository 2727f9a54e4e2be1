//! Help from the engine's own function metadata: signatures, `///` docs and their ```rhai examples.
//!
//! Nothing here lists functions by hand: a binding added to `engine::bindings` shows up in
//! `:help`, completion and hints as soon as it is registered.

use super::render::Paint;
use rhai::{Engine, FnAccess};
use std::collections::BTreeMap;

/// One function overload as the REPL shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDoc {
    /// The module (`whc`), or empty for a global function (`print`).
    pub module: String,
    pub name: String,
    /// `whc::company(name: String) -> Dynamic`.
    pub signature: String,
    /// The doc comment's text without its example.
    pub doc: String,
    /// The ```rhai example, when the doc has one.
    pub example: Option<String>,
}

impl FnDoc {
    /// `whc::company` or `print`.
    pub fn qualified(&self) -> String {
        if self.module.is_empty() {
            self.name.clone()
        } else {
            format!("{}::{}", self.module, self.name)
        }
    }
}

/// A script module and its one-line summary.
#[derive(Clone, Debug, PartialEq)]
pub struct ModuleDoc {
    pub name: String,
    pub summary: String,
}

/// Everything the engine can call, with its documentation.
#[derive(Clone, Debug, Default)]
pub struct Docs {
    pub fns: Vec<FnDoc>,
    pub modules: Vec<ModuleDoc>,
}

impl Docs {
    /// Reads the engine's metadata (registered modules, global and standard functions).
    pub fn from_engine(engine: &Engine) -> Docs {
        let mut fns: Vec<FnDoc> = engine.collect_fn_metadata(
            None,
            |info| {
                let m = info.metadata;
                if m.access != FnAccess::Public || !is_plain_name(&m.name) {
                    return None;
                }
                let module = info.namespace.to_string();
                let sig = tidy_signature(
                    &m.gen_signature(|t| std::borrow::Cow::Borrowed(engine.map_type_name(t))),
                );
                let signature = if module.is_empty() {
                    sig
                } else {
                    format!("{module}::{sig}")
                };
                let (doc, example) = split_doc(&m.comments);
                Some(FnDoc {
                    module,
                    name: m.name.to_string(),
                    signature,
                    doc,
                    example,
                })
            },
            true,
        );
        fns.sort_by(|a, b| {
            (a.module.is_empty(), &a.module, &a.name, &a.signature).cmp(&(
                b.module.is_empty(),
                &b.module,
                &b.name,
                &b.signature,
            ))
        });
        fns.dedup_by(|a, b| a.signature == b.signature);

        let module_docs: BTreeMap<&str, String> = crate::engine::bindings::modules()
            .into_iter()
            .map(|(name, m)| (name, first_sentence(&clean_comment_lines(m.doc().lines()))))
            .collect();
        let mut names: Vec<&str> = fns
            .iter()
            .filter(|f| !f.module.is_empty())
            .map(|f| f.module.as_str())
            .collect();
        names.dedup();
        let modules = names
            .into_iter()
            .map(|name| {
                let summary = module_docs
                    .get(name)
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .or_else(|| known_summary(name).map(str::to_string))
                    .unwrap_or_else(|| {
                        let mut list: Vec<&str> = fns
                            .iter()
                            .filter(|f| f.module == name)
                            .map(|f| f.name.as_str())
                            .collect();
                        list.dedup();
                        format!("functions: {}", list.join(", "))
                    });
                ModuleDoc {
                    name: name.to_string(),
                    summary,
                }
            })
            .collect();
        Docs { fns, modules }
    }

    pub fn is_module(&self, name: &str) -> bool {
        self.modules.iter().any(|m| m.name == name)
    }

    /// Every overload of `whc::company` (or of a global function such as `print`).
    pub fn lookup(&self, name: &str) -> Vec<&FnDoc> {
        let (module, fname) = match name.rsplit_once("::") {
            Some((m, f)) => (m, f),
            None => ("", name),
        };
        self.fns
            .iter()
            .filter(|f| f.module == module && f.name == fname)
            .collect()
    }

    /// The functions of one module, one entry per name (first overload).
    pub fn functions_in(&self, module: &str) -> Vec<&FnDoc> {
        let mut out: Vec<&FnDoc> = self.fns.iter().filter(|f| f.module == module).collect();
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// Names of global functions (no module), deduplicated.
    pub fn global_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .fns
            .iter()
            .filter(|f| f.module.is_empty())
            .map(|f| f.name.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `:help` with no argument: the modules and how to ask for more.
    pub fn overview(&self, p: Paint) -> String {
        let width = self.modules.iter().map(|m| m.name.len()).max().unwrap_or(0) + 2;
        let mut out = String::from(
            "Modules (`:help whc` lists one, `:help whc::company` shows a function):\n",
        );
        for m in &self.modules {
            out.push_str(&format!(
                "  {}{} {}\n",
                p.bold(&format!("{}::", m.name)),
                " ".repeat(width - m.name.len()),
                m.summary
            ));
        }
        out.push_str(&format!(
            "\nMeta-commands: {}\n",
            super::meta::COMMANDS
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .join("  ")
        ));
        out.push_str("Tab completes names and map keys; open brackets continue on the next line; Ctrl-C stops a call.");
        out
    }

    /// `:help RECIPE`: a recipe's own help (what it does, its parameters, its trigger), for a
    /// recipe found as `import` finds modules: in the current folder or `scripts/`.
    fn recipe_help(name: &str) -> Option<String> {
        let file = if name.ends_with(".rhai") {
            name.to_string()
        } else {
            format!("{name}.rhai")
        };
        let path = [
            std::path::PathBuf::from(&file),
            std::path::Path::new("scripts").join(&file),
        ]
        .into_iter()
        .find(|p| p.is_file())?;
        let text = match crate::engine::limits::read_script_file(&path) {
            Ok(source) => match crate::recipe::parse_header(&source) {
                Ok(header) => crate::recipe::help_text(&path.display().to_string(), &header),
                Err(e) => format!("{}:{}: {}", path.display(), e.line, e.message),
            },
            Err(e) => e,
        };
        Some(text)
    }

    /// `:help name`: a function's signatures, doc and example; a module's function list; or a
    /// meta-command's description.
    pub fn help(&self, name: &str, p: Paint) -> String {
        let name = name
            .trim()
            .trim_matches(|c| c == '"' || c == '\'' || c == '`')
            .trim_end_matches("()")
            .trim_end_matches("::");
        if name.is_empty() {
            return self.overview(p);
        }
        if let Some((cmd, what)) = super::meta::COMMANDS.iter().find(|(c, _)| {
            c.split_whitespace().next() == Some(name)
                || c[1..].split_whitespace().next() == Some(name)
        }) {
            return format!("{}\n  {what}", p.bold(cmd));
        }
        if self.is_module(name) {
            let mut out = String::new();
            if let Some(m) = self.modules.iter().find(|m| m.name == name) {
                out.push_str(&format!(
                    "{} — {}\n",
                    p.bold(&format!("{name}::")),
                    m.summary
                ));
            }
            for f in self.fns.iter().filter(|f| f.module == name) {
                let first = first_sentence(&f.doc);
                out.push_str(&format!("  {}\n", p.cyan(&f.signature)));
                if !first.is_empty() {
                    out.push_str(&format!("      {}\n", p.dim(&first)));
                }
            }
            return out.trim_end().to_string();
        }
        let found = self.lookup(name);
        if found.is_empty() {
            if let Some(text) = Self::recipe_help(name) {
                return text;
            }
            let close: Vec<String> = self
                .fns
                .iter()
                .map(FnDoc::qualified)
                .filter(|q| q.contains(name) || name.contains(q.as_str()))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .take(8)
                .collect();
            return if close.is_empty() {
                format!("no function or module named {name:?} (`:help` lists the modules)")
            } else {
                format!(
                    "no function named {name:?}; did you mean: {}",
                    close.join(", ")
                )
            };
        }
        let mut out = String::new();
        for f in &found {
            out.push_str(&p.cyan(&f.signature));
            out.push('\n');
        }
        if let Some(e) = found
            .first()
            .and_then(|f| super::endpoints::endpoint(&f.qualified()))
        {
            out.push_str(&format!(
                "{} {e}   (by hand: bt::get / bt::post …, :help bt)\n",
                p.dim("BT:")
            ));
        }
        // Overloads usually share one doc; show each distinct one once.
        let mut seen: Vec<(&str, Option<&str>)> = Vec::new();
        for f in &found {
            let key = (f.doc.as_str(), f.example.as_deref());
            if seen.contains(&key) || (f.doc.is_empty() && f.example.is_none()) {
                continue;
            }
            seen.push(key);
            if !f.doc.is_empty() {
                out.push('\n');
                out.push_str(&f.doc);
                out.push('\n');
            }
            if let Some(ex) = &f.example {
                out.push_str(&format!("\n{}\n", p.bold("Example:")));
                for line in ex.lines() {
                    out.push_str(&format!("    {}\n", p.green(line)));
                }
            }
        }
        out.trim_end().to_string()
    }
}

/// One-line summaries for the modules whose Rust module carries no `///` doc of its own.
fn known_summary(name: &str) -> Option<&'static str> {
    Some(match name {
        "btw" => "the session: profile, CUG, billing account, run id, unique suffixes",
        "bt" => "requests by path to any BT endpoint: get, post, put, patch, delete",
        "whc" => "verify data and company qualification (WHC hosted voice)",
        "numbers" => "available numbers and ringfencing",
        "address" => "address search and creation",
        "order" => "create, submit, get, list, cancel and wait for orders",
        "port" => "number porting: check, import, amend, cancel, activate",
        "ethernet" => "Ethernet quotes, qualification, appointments and orders",
        "events" => "wait for order notifications",
        "schedule" => "scheduled recipes: at, cron, list, cancel",
        "log" => "log lines at info, warn and error",
        "json" => "parse and stringify JSON",
        "time" => "clock, parsing and sleeping",
        _ => return None,
    })
}

/// Operators, property accessors and indexers are not worth listing.
fn is_plain_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// `-> RhaiResult<Map>` / `-> Result<Map, Box<EvalAltResult>>` are how Rust says it; scripts see `-> Map`.
fn tidy_signature(sig: &str) -> String {
    let sig = sig
        .replace("&str", "String")
        .replace("ImmutableString", "String");
    for prefix in [" -> RhaiResult<", " -> Result<"] {
        if let Some((head, ret)) = sig.split_once(prefix) {
            let ret = ret.strip_suffix('>').unwrap_or(ret);
            let ret = ret
                .strip_suffix(", Box<EvalAltResult>")
                .unwrap_or(ret)
                .trim();
            return if ret == "()" || ret.is_empty() {
                head.to_string()
            } else {
                format!("{head} -> {ret}")
            };
        }
    }
    sig
}

/// Doc comment lines without their `///`, `/**` or `//!` markers.
fn clean_comment_lines<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let mut out = Vec::new();
    for raw in lines {
        for line in raw.lines() {
            let t = line.trim_start();
            let t = t
                .strip_prefix("///")
                .or_else(|| t.strip_prefix("//!"))
                .or_else(|| t.strip_prefix("/**"))
                .or_else(|| t.strip_prefix("*/"))
                .or_else(|| t.strip_prefix('*'))
                .unwrap_or(t);
            let t = t.strip_suffix("*/").unwrap_or(t);
            out.push(t.strip_prefix(' ').unwrap_or(t).trim_end().to_string());
        }
    }
    out.join("\n").trim().to_string()
}

/// Splits a doc comment into its text and its first ```rhai example.
fn split_doc<S: AsRef<str>>(comments: &[S]) -> (String, Option<String>) {
    let text = clean_comment_lines(comments.iter().map(AsRef::as_ref));
    let mut doc = Vec::new();
    let mut example: Option<Vec<&str>> = None;
    let mut in_fence = false;
    let mut done = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            if in_fence {
                in_fence = false;
                done = true;
            } else if !done && (t == "```" || t == "```rhai" || t == "```js") {
                in_fence = true;
                example = Some(Vec::new());
            }
            continue;
        }
        match (&mut example, in_fence) {
            (Some(ex), true) => ex.push(line),
            _ => doc.push(line),
        }
    }
    let doc = doc.join("\n").trim().to_string();
    let example = example
        .map(|e| e.join("\n").trim_end().to_string())
        .filter(|e| !e.trim().is_empty());
    (doc, example)
}

/// The first sentence (or line) of a text, for one-line summaries.
pub(crate) fn first_sentence(text: &str) -> String {
    let para = text.split("\n\n").next().unwrap_or("").replace('\n', " ");
    let end = para
        .char_indices()
        .find(|&(i, c)| c == '.' && para[i + 1..].starts_with(' '))
        .map(|(i, _)| i + 1)
        .unwrap_or(para.len());
    para[..end].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{build_engine, Cancel, EngineOptions, VecOutput};
    use std::sync::Arc;

    fn docs() -> Docs {
        let engine = build_engine(
            &EngineOptions::default(),
            Arc::new(VecOutput::default()),
            Cancel::default(),
        );
        Docs::from_engine(&engine)
    }

    #[test]
    fn docs_come_from_the_engine() {
        let d = docs();
        let q = d.lookup("whc::qualify_company");
        assert_eq!(q.len(), 1, "{q:?}");
        assert!(
            q[0].signature.starts_with("whc::qualify_company("),
            "{}",
            q[0].signature
        );
        assert!(!q[0].signature.contains("RhaiResult"), "{}", q[0].signature);
        assert!(q[0].doc.contains("qualif"), "{}", q[0].doc);
        assert!(q[0]
            .example
            .as_deref()
            .unwrap()
            .contains("whc::qualify_company(#{"));
        assert!(!q[0].doc.contains("```"));
        assert!(d.is_module("whc") && d.is_module("order"));
        assert!(!d.lookup("print").is_empty());
        assert!(d.fns.iter().all(|f| !f.name.contains('$')));
    }

    #[test]
    fn every_bt_function_names_its_endpoint() {
        let d = docs();
        let h = d.help("whc::company", Paint::plain());
        assert!(
            h.contains("BT: GET /bt-wholesale/v1/whc/resourceInventory/resellers/{cug}/company"),
            "{h}"
        );
        for f in d.fns.iter().filter(|f| {
            ["whc", "numbers", "address", "order", "port", "ethernet"].contains(&f.module.as_str())
        }) {
            assert!(
                super::super::endpoints::endpoint(&f.qualified()).is_some(),
                "{} has no endpoint in repl/endpoints.rs",
                f.qualified()
            );
        }
    }

    #[test]
    fn help_texts() {
        let d = docs();
        let p = Paint::plain();
        let h = d.help("whc::qualify_company", p);
        assert!(
            h.contains("Example:") && h.contains("whc::qualify_company(#{"),
            "{h}"
        );
        let h = d.help("\"whc::company\"", p);
        assert!(h.starts_with("whc::company("), "{h}");
        let o = d.help("", p);
        assert!(
            o.contains("whc::") && o.contains("numbers::") && o.contains(":save"),
            "{o}"
        );
        for m in &d.modules {
            assert!(!m.summary.is_empty());
        }
        assert!(d.help("whc", p).contains("whc::in_use("));
        assert!(d.help("nosuchthing", p).contains("no function"));
        assert!(d.help("company", p).contains("whc::company"));
    }

    #[test]
    fn signatures_are_tidy() {
        assert_eq!(
            tidy_signature("f(a: &str) -> RhaiResult<Map>"),
            "f(a: String) -> Map"
        );
        assert_eq!(
            tidy_signature("f(a: INT) -> Result<(), Box<EvalAltResult>>"),
            "f(a: INT)"
        );
        assert_eq!(first_sentence("One thing. Two.\nThree"), "One thing.");
    }
}
