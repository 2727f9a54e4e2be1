//! What `:save` turns into parameters, so the saved recipe runs again: each string literal
//! given under a map key (`name: "Zephyr Looms Ltd"`) becomes `params.name`, declared in the
//! header. A value BT keeps unique (a company name or domain, a username, a number reserved in
//! the session) is required with no default (running again needs a new one), a secret is
//! `secret` with no default (never written to the file), and the rest default to the
//! session's value.

use super::scan::code_only;
use std::collections::BTreeMap;

/// Keys whose values BT holds unique: a second run with the same value would be refused.
const UNIQUE_KEYS: &[&str] = &[
    "name",
    "domain",
    "company_name",
    "company_domain",
    "site_name",
    "location_code",
    "device_name",
    "trunk_name",
    "username",
    "email",
    "mac_address",
    "extension",
    "number",
    "directory_number",
    "external_id",
];

/// How a parameter is declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Unique at BT: required, no default.
    Unique,
    /// `secret`, no default.
    Secret,
    /// The session's value as the default.
    Default(String),
}

/// One parameter `:save` declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub kind: Kind,
}

impl Param {
    /// The header line: `//! param name: text — …`.
    pub fn declaration(&self) -> String {
        match &self.kind {
            Kind::Unique => format!(
                "//! param {}: text — must be new at BT (the session used one that is now taken)",
                self.name
            ),
            Kind::Secret => format!(
                "//! param {}: secret — never shown or written in clear",
                self.name
            ),
            Kind::Default(v) => format!(
                "//! param {}: text = \"{v}\" — the session's value",
                self.name
            ),
        }
    }
}

/// A string literal under a key: its byte span (quotes included), key and text.
struct Literal {
    start: usize,
    end: usize,
    key: String,
    value: String,
}

/// The literals of `stmt` given under a map key, in order.
fn literals(stmt: &str) -> Vec<Literal> {
    let code: Vec<char> = code_only(stmt).chars().collect();
    let chars: Vec<(usize, char)> = stmt.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        // Strings are skipped whole below, so a masked `"` met here opens one (or sits in a
        // comment, where rewriting it is harmless).
        let opens = c == '"' && code.get(i) == Some(&' ');
        if !opens {
            i += 1;
            continue;
        }
        let Some(close) =
            (i + 1..chars.len()).find(|&j| chars[j].1 == '"' && chars[j - 1].1 != '\\')
        else {
            break;
        };
        let end = chars.get(close + 1).map_or(stmt.len(), |(b, _)| *b);
        let value: String = chars[i + 1..close].iter().map(|(_, c)| *c).collect();
        let before: String = code[..i].iter().collect();
        let before = before.trim_end();
        if let Some(head) = before.strip_suffix(':').filter(|h| !h.ends_with(':')) {
            let key: String = head
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let plain = !value.contains(['\\', '"']) && !value.is_empty();
            if !key.is_empty() && plain && !key.starts_with(|c: char| c.is_ascii_digit()) {
                out.push(Literal {
                    start,
                    end,
                    key,
                    value,
                });
            }
        }
        i = close + 1;
    }
    out
}

/// Rewrites `stmts` with their keyed literals as `params.NAME`; returns the parameters.
pub fn parameterize(stmts: &mut [String]) -> Vec<Param> {
    let mut params: Vec<Param> = Vec::new();
    // (key, value) → parameter name: the same value under the same key is one parameter.
    let mut named: BTreeMap<(String, String), String> = BTreeMap::new();
    for stmt in stmts.iter_mut() {
        let lits = literals(stmt);
        let mut names = Vec::with_capacity(lits.len());
        for lit in &lits {
            let name = match named.get(&(lit.key.clone(), lit.value.clone())) {
                Some(n) => n.clone(),
                None => {
                    let mut name = lit.key.to_ascii_lowercase();
                    let mut n = 2;
                    while params.iter().any(|p| p.name == name) {
                        name = format!("{}_{n}", lit.key.to_ascii_lowercase());
                        n += 1;
                    }
                    let kind = if crate::secrets::is_secret_name(&lit.key) {
                        Kind::Secret
                    } else if UNIQUE_KEYS.contains(&lit.key.to_ascii_lowercase().as_str()) {
                        Kind::Unique
                    } else {
                        Kind::Default(lit.value.clone())
                    };
                    params.push(Param {
                        name: name.clone(),
                        kind,
                    });
                    named.insert((lit.key.clone(), lit.value.clone()), name.clone());
                    name
                }
            };
            names.push(name);
        }
        // From the end, so the spans before each replacement stay where they were.
        for (lit, name) in lits.iter().zip(names).rev() {
            stmt.replace_range(lit.start..lit.end, &format!("params.{name}"));
        }
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_literals_become_parameters() {
        let mut stmts = vec![
            r#"let q = whc::qualify_company(#{name: "Zephyr Looms Ltd", domain: "zephyrlooms.co.uk"})"#.to_string(),
            r#"let r = numbers::ringfence(#{area_code: "0121", quantity: 10, service_id: q.service_id})"#.to_string(),
            r#"let u = #{username: "ada@zephyrlooms.co.uk", password: "hunter2", note: "a \"quoted\" one", label: `x`}"#.to_string(),
            r#"print("no key here"); let again = #{name: "Zephyr Looms Ltd"}"#.to_string(),
        ];
        let params = parameterize(&mut stmts);
        assert_eq!(
            stmts[0],
            "let q = whc::qualify_company(#{name: params.name, domain: params.domain})"
        );
        assert!(
            stmts[1].contains("area_code: params.area_code"),
            "{}",
            stmts[1]
        );
        assert!(
            stmts[2].contains("password: params.password"),
            "{}",
            stmts[2]
        );
        assert!(
            stmts[2].contains(r#"note: "a \"quoted\" one""#),
            "{}",
            stmts[2]
        );
        assert!(
            stmts[3].contains(r#"print("no key here")"#)
                && stmts[3].ends_with("#{name: params.name}")
        );
        let find = |n: &str| params.iter().find(|p| p.name == n).unwrap().kind.clone();
        assert_eq!(find("name"), Kind::Unique);
        assert_eq!(find("username"), Kind::Unique);
        assert_eq!(find("password"), Kind::Secret);
        assert_eq!(find("area_code"), Kind::Default("0121".into()));
        assert_eq!(params.len(), 5, "{params:?}");
        assert_eq!(params[0].name, "name");
        for p in &params {
            let line = p.declaration();
            let (name, rest) = line
                .strip_prefix("//! param ")
                .unwrap()
                .split_once(": ")
                .unwrap();
            crate::recipe::ParamSpec::parse(name, rest).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(!line.contains("hunter2"));
        }
    }
}
