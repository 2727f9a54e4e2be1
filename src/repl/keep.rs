//! Which statements of a session `:save` keeps: those that changed something (a call that is
//! not a read, an assignment, a definition, output) and those that bound a variable a kept
//! statement uses later. Bare inspection lines (`q;`, `addrs.len();`, `whc::company("x")`)
//! are dropped. When unsure, a statement is kept.

use std::collections::HashSet;

/// Module functions that only read: a statement made of these changes nothing.
const READS: &[&str] = &[
    "add_secs",
    "at",
    "at_with",
    "available",
    "billing_account",
    "check",
    "check_product",
    "company",
    "cug",
    "diff_secs",
    "earliest_date",
    "get",
    "get_quote",
    "in_use",
    "list",
    "list_state",
    "london",
    "now",
    "parse",
    "pretty",
    "profile",
    "quote",
    "reseller",
    "run_id",
    "search_postcode",
    "search_query",
    "service",
    "slots",
    "stringify",
    "track",
    "unique_suffix",
];

/// Methods that change the value they are called on.
const MUTATORS: &[&str] = &[
    "push", "pop", "shift", "insert", "remove", "clear", "append", "truncate", "extend", "retain",
    "drain", "splice", "sort", "reverse", "dedup", "fill", "pad", "mixin", "chop",
];

/// Keywords after which a statement is kept whole: control flow and definitions.
const KEEP_KEYWORDS: &[&str] = &[
    "fn", "import", "export", "if", "for", "while", "loop", "do", "throw", "return", "switch",
    "try",
];

/// What one entry does, read from its tokens.
#[derive(Debug, Default, PartialEq)]
struct Effects {
    changes: bool,
    binds: Vec<String>,
    uses: Vec<String>,
}

/// Indexes of `entries` that `:save` keeps. Words inside strings and comments count as code
/// here: that can only keep more, never drop a statement that matters.
pub fn kept(entries: &[String]) -> Vec<usize> {
    let mut needed: HashSet<String> = HashSet::new();
    let mut keep = Vec::new();
    for (i, e) in entries.iter().enumerate().rev() {
        let fx = effects(e);
        // A last expression without `;` is the recipe's result.
        let result = i + 1 == entries.len() && !e.trim_end().ends_with(';') && fx.binds.is_empty();
        if result || fx.changes || fx.binds.iter().any(|b| needed.contains(b)) {
            needed.extend(fx.uses);
            keep.push(i);
        }
    }
    keep.reverse();
    keep
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Punct(char),
}

fn tokens(code: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in code.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(&mut word)));
        }
        if !c.is_whitespace() {
            out.push(Tok::Punct(c));
        }
    }
    if !word.is_empty() {
        out.push(Tok::Word(word));
    }
    out
}

fn effects(code: &str) -> Effects {
    let toks = tokens(code);
    let mut fx = Effects::default();
    let punct = |i: usize| match toks.get(i) {
        Some(Tok::Punct(c)) => Some(*c),
        _ => None,
    };
    let mut let_pending = false;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Word(w) if w == "let" || w == "const" => {
                if let Some(Tok::Word(name)) = toks.get(i + 1) {
                    fx.binds.push(name.clone());
                }
                let_pending = true;
            }
            Tok::Word(w) if KEEP_KEYWORDS.contains(&w.as_str()) => fx.changes = true,
            Tok::Word(w) => {
                let after_dot = i > 0 && punct(i - 1) == Some('.');
                let in_path = i > 1 && punct(i - 1) == Some(':') && punct(i - 2) == Some(':');
                let module_next = punct(i + 1) == Some(':') && punct(i + 2) == Some(':');
                let called = punct(i + 1) == Some('(');
                let bound_here =
                    i > 0 && matches!(&toks[i - 1], Tok::Word(k) if k == "let" || k == "const");
                let mutates = after_dot && MUTATORS.contains(&w.as_str());
                let writes = in_path && !READS.contains(&w.as_str());
                // A global or script function: output (print) or unknown, so kept.
                let global = !after_dot && !in_path && !module_next;
                if called && (mutates || writes || global) {
                    fx.changes = true;
                }
                if !after_dot && !in_path && !module_next && !bound_here {
                    fx.uses.push(w.clone());
                }
            }
            Tok::Punct('=') => {
                let prev = i.checked_sub(1).and_then(punct);
                let next = punct(i + 1);
                let comparison =
                    matches!(prev, Some('=' | '!' | '<' | '>')) || matches!(next, Some('=' | '>'));
                if !comparison {
                    if let_pending {
                        let_pending = false;
                    } else {
                        fx.changes = true;
                    }
                }
            }
            Tok::Punct(';') => let_pending = false,
            Tok::Punct(_) => {}
        }
    }
    fx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(lines: &[&str]) -> Vec<usize> {
        kept(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn inspection_lines_are_dropped() {
        let lines = [
            "let q = whc::qualify_company(#{name: n, domain: d})", // 0: changes
            "q;",                                                   // 1: inspection
            "let addrs = address::search_postcode(p)",              // 2: used by 5
            "addrs.len();",                                         // 3: inspection
            "let unused = whc::reseller()",                         // 4: never used
            "let o = order::create(#{company: #{service_id: q.service_id}, sites: [#{nad_key: addrs[0].id}]})",
            "whc::company(\"x\")", // 6: a bare read
            "order::submit(o.id)", // 7: changes
            "print(o.id)",         // 8: output
            "o;",                  // 9: inspection
        ];
        assert_eq!(keep(&lines), vec![0, 2, 5, 7, 8]);
        assert_eq!(keep(&["let x = 1", "x"]), vec![0, 1]);
    }

    #[test]
    fn assignments_definitions_and_mutations_are_kept() {
        assert_eq!(keep(&["let a = [1]", "a.push(2)"]), vec![0, 1]);
        assert_eq!(keep(&["let a = #{}", "a.x = 1"]), vec![0, 1]);
        assert_eq!(keep(&["fn f(x) { x }"]), vec![0]);
        assert_eq!(keep(&["let n = 1", "if n == 1 { }"]), vec![0, 1]);
        assert_eq!(keep(&["let n = 1", "n == 2;"]), Vec::<usize>::new());
        assert_eq!(
            keep(&["let n = 1", "let m = #{k: n}", "order::submit(m)"]),
            vec![0, 1, 2]
        );
        assert_eq!(
            keep(&["let n = 1", "let m = n + 1", "log::info(`${m}`)"]),
            vec![0, 1, 2]
        );
    }
}
