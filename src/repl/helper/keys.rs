//! Map keys for completion and hints: keys of values the session holds (`addrs[0].bu` →
//! `building_number`), and the request keys a function reads (`numbers::ringfence(#{ar` →
//! `area_code`).
//!
//! Request keys are asked of the bindings themselves rather than listed by hand: each request
//! map is read with unknown keys refused, and the refusal names the keys it knows. A probe
//! engine with no BT connection sends each map-taking function a map with one unknown key, once
//! per process, and reads the list from the answer.

use super::super::help::Docs;
use super::Snapshot;
use crate::repl::scan::code_only;
use rhai::{Array, Dynamic, Map};
use std::collections::HashMap;

/// The key no request has: its refusal lists the keys that are known.
const PROBE: &str = "__btw_probe";
/// How a refused key's message lists the known ones (see `bindings::request_error`).
const KNOWN: &str = "` (known here: ";

/// Request keys by (function, path): path is `""` for the map itself, `company` for a nested
/// map, `sites[]` for the maps of a list.
#[derive(Debug, Default)]
pub struct RequestKeys {
    by_path: HashMap<(String, String), Vec<String>>,
}

impl RequestKeys {
    /// Probes every function that takes one map, on an engine without a BT connection.
    pub fn probe(docs: &Docs) -> RequestKeys {
        let engine = crate::engine::build_engine(
            &crate::engine::EngineOptions::default(),
            std::sync::Arc::new(crate::engine::VecOutput::default()),
            crate::engine::Cancel::default(),
        );
        let mut out = RequestKeys::default();
        for f in &docs.fns {
            if f.module.is_empty() || !takes_one_map(&f.signature) {
                continue;
            }
            let func = f.qualified();
            out.probe_path(&engine, &func, "", 0);
        }
        out
    }

    fn probe_path(&mut self, engine: &rhai::Engine, func: &str, path: &str, depth: usize) {
        let key = (func.to_string(), path.to_string());
        if self.by_path.contains_key(&key) {
            return;
        }
        let script = format!("{func}({})", wrap(path, &format!("#{{{PROBE}: 1}}")));
        let Err(e) = engine.eval::<Dynamic>(&script) else {
            return;
        };
        let text = e.to_string();
        let Some(rest) = text.split_once(KNOWN).map(|(_, r)| r) else {
            return;
        };
        let keys: Vec<String> = rest
            .split(')')
            .next()
            .unwrap_or("")
            .split(',')
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .collect();
        if keys.is_empty() {
            return;
        }
        self.by_path.insert(key, keys.clone());
        if depth >= 2 {
            return;
        }
        for k in keys {
            let nested = join(path, &k);
            self.probe_path(engine, func, &nested, depth + 1);
            self.probe_path(engine, func, &format!("{nested}[]"), depth + 1);
        }
    }

    /// The keys of `func`'s request at `path`.
    pub fn get(&self, func: &str, path: &str) -> &[String] {
        self.by_path
            .get(&(func.to_string(), path.to_string()))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `whc::qualify_company(request: Map) -> Dynamic` takes one map.
fn takes_one_map(signature: &str) -> bool {
    let Some((_, rest)) = signature.split_once('(') else {
        return false;
    };
    let params = rest.split(')').next().unwrap_or("");
    !params.contains(',') && params.trim_end().to_ascii_lowercase().ends_with(": map")
}

/// `inner` placed at `path` of a request: `company` → `#{company: inner}`, `sites[]` →
/// `#{sites: [inner]}`.
fn wrap(path: &str, inner: &str) -> String {
    let mut out = inner.to_string();
    for seg in path.split('.').rev().filter(|s| !s.is_empty()) {
        out = match seg.strip_suffix("[]") {
            Some(name) => format!("#{{{name}: [{out}]}}"),
            None => format!("#{{{seg}: {out}}}"),
        };
    }
    out
}

/// Where the cursor is, when it is at a key of a request map being typed as a call's argument:
/// (function, path inside its request, the key typed so far).
pub fn request_key_context(before: &str) -> Option<(String, String, String)> {
    let code: Vec<char> = code_only(before).chars().collect();
    let prefix_len = code
        .iter()
        .rev()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .count();
    let head = &code[..code.len() - prefix_len];
    if head.last() == Some(&'.') {
        return None;
    }
    let frames = frames(head);
    let prefix: String = code[code.len() - prefix_len..].iter().collect();
    let mut segments: Vec<String> = Vec::new();
    let mut iter = frames.iter().rev();
    match iter.next()? {
        Frame::Map {
            in_value: false, ..
        } => {}
        _ => return None,
    }
    for frame in iter {
        match frame {
            Frame::Map {
                in_value: true,
                key: Some(k),
            } => segments.push(k.clone()),
            Frame::List => segments.push("[]".into()),
            Frame::Call(name) if !name.is_empty() && name.contains("::") => {
                segments.reverse();
                let path = segments.join(".").replace(".[]", "[]");
                if path.starts_with("[]") {
                    return None;
                }
                return Some((name.clone(), path, prefix));
            }
            _ => return None,
        }
    }
    None
}

/// The brackets open at the end of `code`, outermost first.
#[derive(Debug)]
enum Frame {
    Call(String),
    List,
    Map { in_value: bool, key: Option<String> },
    Block,
}

fn frames(code: &[char]) -> Vec<Frame> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut word = String::new();
    let mut last_word = String::new();
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        if c.is_alphanumeric() || c == '_' || (c == ':' && code.get(i + 1) == Some(&':')) {
            if c == ':' {
                word.push_str("::");
                i += 2;
                continue;
            }
            word.push(c);
            i += 1;
            continue;
        }
        if !word.is_empty() {
            last_word = std::mem::take(&mut word);
        }
        match c {
            '(' => stack.push(Frame::Call(std::mem::take(&mut last_word))),
            '[' => stack.push(Frame::List),
            '{' if i > 0 && code[i - 1] == '#' => stack.push(Frame::Map {
                in_value: false,
                key: None,
            }),
            '{' => stack.push(Frame::Block),
            ')' | ']' | '}' => {
                stack.pop();
            }
            ':' => {
                if let Some(Frame::Map { in_value, key }) = stack.last_mut() {
                    *in_value = true;
                    *key = Some(last_word.clone());
                }
            }
            ',' => {
                if let Some(Frame::Map { in_value, key }) = stack.last_mut() {
                    *in_value = false;
                    *key = None;
                }
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_word.clear();
        }
        i += 1;
    }
    stack
}

/// Where the value path before the cursor starts in `word` (`x[0].a` inside `f(ys[x[0].a`).
pub fn path_start(word: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in word.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' if depth > 0 => depth -= 1,
            '[' => return i + 1,
            _ => {}
        }
    }
    0
}

/// Keys of the map at `path` (`q`, `order.site`, `addrs[0]`) among the session's variables.
pub fn map_keys(snap: &Snapshot, path: &str) -> Vec<String> {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    let (name, indexes) = split_indexes(first);
    let Some((_, value)) = snap.vars.iter().find(|(n, _)| n == name).cloned() else {
        return Vec::new();
    };
    let Some(mut value) = index_into(value, &indexes) else {
        return Vec::new();
    };
    for part in parts {
        let (key, indexes) = split_indexes(part);
        let next = value
            .read_lock::<Map>()
            .and_then(|m| m.get(key).map(Dynamic::flatten_clone))
            .and_then(|v| index_into(v, &indexes));
        match next {
            Some(v) => value = v,
            None => return Vec::new(),
        }
    }
    let keys = value
        .read_lock::<Map>()
        .map(|m| m.keys().map(|k| k.to_string()).collect())
        .unwrap_or_default();
    keys
}

/// `addrs[0][1]` → (`addrs`, [0, 1]); a non-numeric index gives no indexes and no name.
fn split_indexes(part: &str) -> (&str, Vec<i64>) {
    let Some((name, rest)) = part.split_once('[') else {
        return (part, Vec::new());
    };
    let mut out = Vec::new();
    for idx in format!("[{rest}").split('[').skip(1) {
        match idx.trim_end_matches(']').trim().parse::<i64>() {
            Ok(n) => out.push(n),
            Err(_) => return ("", Vec::new()),
        }
    }
    (name, out)
}

fn index_into(mut value: Dynamic, indexes: &[i64]) -> Option<Dynamic> {
    for &i in indexes {
        let next = value.read_lock::<Array>().and_then(|a| {
            let idx = if i < 0 { a.len() as i64 + i } else { i };
            usize::try_from(idx)
                .ok()
                .and_then(|u| a.get(u))
                .map(Dynamic::flatten_clone)
        })?;
        value = next;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_request_key_being_typed() {
        let ctx = |s: &str| request_key_context(s);
        assert_eq!(
            ctx("numbers::ringfence(#{ar"),
            Some(("numbers::ringfence".into(), "".into(), "ar".into()))
        );
        assert_eq!(
            ctx("let o = order::create(#{company: #{name: \"a, b\", gr"),
            Some(("order::create".into(), "company".into(), "gr".into()))
        );
        assert_eq!(
            ctx("order::create(#{sites: [#{name: \"x\"}, #{"),
            Some(("order::create".into(), "sites[]".into(), "".into()))
        );
        assert_eq!(
            ctx("order::create(#{users: [#{device: #{ma"),
            Some(("order::create".into(), "users[].device".into(), "ma".into()))
        );
        assert_eq!(ctx("numbers::ringfence(#{area_code: ar"), None);
        assert_eq!(ctx("let m = #{ar"), None);
        assert_eq!(ctx("f(#{ar"), None);
    }

    #[test]
    fn probes_request_keys_of_the_bindings() {
        let engine = crate::engine::build_engine(
            &crate::engine::EngineOptions::default(),
            std::sync::Arc::new(crate::engine::VecOutput::default()),
            crate::engine::Cancel::default(),
        );
        let keys = RequestKeys::probe(&Docs::from_engine(&engine));
        let has = |f: &str, p: &str, k: &str| keys.get(f, p).iter().any(|x| x == k);
        assert!(has("numbers::ringfence", "", "area_code"), "{keys:?}");
        assert!(has("whc::qualify_company", "", "group"), "{keys:?}");
        assert!(has("order::create", "company", "group"), "{keys:?}");
        assert!(has("order::create", "sites[]", "location_code"), "{keys:?}");
        assert!(has("order::create", "users[].device", "mac"), "{keys:?}");
        assert!(keys.get("order::create", "company.name").is_empty());
    }

    #[test]
    fn wraps_probes_at_their_path() {
        assert_eq!(wrap("", "X"), "X");
        assert_eq!(wrap("company", "X"), "#{company: X}");
        assert_eq!(wrap("users[].device", "X"), "#{users: [#{device: X}]}");
        assert!(takes_one_map("a::b(request: map) -> Dynamic"));
        assert!(takes_one_map("a::b(request: Map) -> Dynamic"));
        assert!(!takes_one_map("a::b(id: String, changes: Map) -> Dynamic"));
    }

    #[test]
    fn keys_through_list_indexes() {
        let v: Dynamic = rhai::Engine::new()
            .eval(r#"[#{building_number: "1", post_code: "X"}, #{a: [#{deep: 1}]}]"#)
            .unwrap();
        let snap = Snapshot {
            vars: vec![("addrs".into(), v)],
            fns: vec![],
        };
        assert_eq!(
            map_keys(&snap, "addrs[0]"),
            vec!["building_number".to_string(), "post_code".to_string()]
        );
        assert_eq!(map_keys(&snap, "addrs[1].a[0]"), vec!["deep".to_string()]);
        assert!(map_keys(&snap, "addrs[i]").is_empty());
        assert!(map_keys(&snap, "addrs[9]").is_empty());
        assert_eq!(path_start("addrs[0].bu"), 0);
        assert_eq!(path_start("ys[x[0].a"), 3);
    }
}
