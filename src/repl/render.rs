//! Script values as readable text: Rhai-literal style (`#{key: "value"}`), indented, coloured on
//! a terminal, plain when stdout is not one or `NO_COLOR` is set.

use rhai::{Array, Dynamic, Map};
use std::io::IsTerminal;

/// Whether to colour, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paint {
    pub color: bool,
}

impl Paint {
    pub fn plain() -> Paint {
        Paint { color: false }
    }

    /// Colour when stdout is a terminal and `NO_COLOR` is not set (https://no-color.org).
    pub fn detect() -> Paint {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Paint {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn sgr(self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(self, s: &str) -> String {
        self.sgr("1", s)
    }
    pub fn dim(self, s: &str) -> String {
        self.sgr("2", s)
    }
    pub fn red(self, s: &str) -> String {
        self.sgr("31", s)
    }
    pub fn green(self, s: &str) -> String {
        self.sgr("32", s)
    }
    pub fn yellow(self, s: &str) -> String {
        self.sgr("33", s)
    }
    pub fn magenta(self, s: &str) -> String {
        self.sgr("35", s)
    }
    pub fn cyan(self, s: &str) -> String {
        self.sgr("36", s)
    }
}

/// Lines longer than this are broken over several, one entry a line.
const WIDTH: usize = 72;

/// A REPL result as text; `None` for `()`, which prints nothing.
pub fn render_result(v: &Dynamic, p: Paint) -> Option<String> {
    if v.is_unit() {
        return None;
    }
    Some(render(v, p))
}

/// Any value as indented, Rhai-literal-like text.
pub fn render(v: &Dynamic, p: Paint) -> String {
    let mut out = String::new();
    write_value(&mut out, &v.flatten_clone(), 0, p);
    out
}

fn write_value(out: &mut String, v: &Dynamic, indent: usize, p: Paint) {
    if let Some(arr) = v.read_lock::<Array>() {
        let arr = arr.clone();
        if arr.is_empty() {
            out.push_str("[]");
            return;
        }
        if fits(v, indent) {
            out.push_str(&compact(v, p));
            return;
        }
        out.push_str("[\n");
        for (i, item) in arr.iter().enumerate() {
            out.push_str(&" ".repeat(indent + 2));
            write_value(out, &item.flatten_clone(), indent + 2, p);
            if i + 1 < arr.len() {
                out.push(',');
            }
            out.push('\n');
        }
        out.push_str(&" ".repeat(indent));
        out.push(']');
    } else if let Some(map) = v.read_lock::<Map>() {
        let map = map.clone();
        if map.is_empty() {
            out.push_str("#{}");
            return;
        }
        if fits(v, indent) {
            out.push_str(&compact(v, p));
            return;
        }
        out.push_str("#{\n");
        let n = map.len();
        for (i, (k, item)) in map.iter().enumerate() {
            out.push_str(&" ".repeat(indent + 2));
            out.push_str(&p.cyan(&key(k)));
            out.push_str(": ");
            write_value(out, &item.flatten_clone(), indent + 2, p);
            if i + 1 < n {
                out.push(',');
            }
            out.push('\n');
        }
        out.push_str(&" ".repeat(indent));
        out.push('}');
    } else {
        out.push_str(&scalar(v, p));
    }
}

fn fits(v: &Dynamic, indent: usize) -> bool {
    indent + compact(v, Paint::plain()).chars().count() <= WIDTH
}

/// The value on one line, uncoloured (for listings).
/// Keys of `keys` close to `wanted`: the same but for case and `_` (`serviceId`, `service_id`),
/// or a typo away.
pub fn near_keys<'a>(wanted: &str, keys: &[&'a str]) -> Vec<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let w = norm(wanted);
    let mut near: Vec<(f64, &str)> = keys
        .iter()
        .map(|k| {
            let score = if norm(k) == w {
                2.0
            } else {
                strsim::jaro_winkler(&w, &norm(k))
            };
            (score, *k)
        })
        .filter(|(s, _)| *s >= 0.85)
        .collect();
    near.sort_by(|a, b| b.0.total_cmp(&a.0));
    near.into_iter().take(3).map(|(_, k)| k).collect()
}

/// What the prompt says after reading a key a map does not have.
pub fn missing_key(prop: &str, keys: &[&str]) -> String {
    let near = near_keys(prop, keys);
    let mut text = format!("note: no key {prop:?} in the map (it read as ())");
    if !near.is_empty() {
        text.push_str(&format!("; did you mean {}?", near.join(" or ")));
    }
    if keys.is_empty() {
        text.push_str(" — the map is empty");
    } else {
        let mut shown: Vec<&str> = keys.iter().take(20).copied().collect();
        if keys.len() > shown.len() {
            shown.push("…");
        }
        text.push_str(&format!(" — its keys: {}", shown.join(", ")));
    }
    text
}

pub fn one_line(v: &Dynamic) -> String {
    compact(v, Paint::plain())
}

/// The value on one line.
fn compact(v: &Dynamic, p: Paint) -> String {
    let v = v.flatten_clone();
    if let Some(arr) = v.read_lock::<Array>() {
        let items: Vec<String> = arr.iter().map(|i| compact(i, p)).collect();
        return format!("[{}]", items.join(", "));
    }
    if let Some(map) = v.read_lock::<Map>() {
        if map.is_empty() {
            return "#{}".into();
        }
        let items: Vec<String> = map
            .iter()
            .map(|(k, i)| format!("{}: {}", p.cyan(&key(k)), compact(i, p)))
            .collect();
        return format!("#{{{}}}", items.join(", "));
    }
    scalar(&v, p)
}

fn key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_alphanumeric() || c == '_');
    if ident {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

fn scalar(v: &Dynamic, p: Paint) -> String {
    if v.is_unit() {
        return p.dim("()");
    }
    if let Ok(s) = v.clone().into_immutable_string() {
        return p.green(&format!("{:?}", s.as_str()));
    }
    if let Ok(c) = v.as_char() {
        return p.green(&format!("{c:?}"));
    }
    if let Ok(b) = v.as_bool() {
        return p.magenta(&b.to_string());
    }
    if let Ok(i) = v.as_int() {
        return p.yellow(&i.to_string());
    }
    if let Ok(f) = v.as_float() {
        return p.yellow(&format!("{f:?}"));
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_names_the_near_ones() {
        let keys = ["id", "result", "service_id"];
        let t = missing_key("serviceId", &keys);
        assert!(t.contains("did you mean service_id?"), "{t}");
        assert!(t.contains("its keys: id, result, service_id"), "{t}");
        assert_eq!(near_keys("reslt", &keys), vec!["result"]);
        assert!(missing_key("x", &[]).contains("the map is empty"));
    }
    use rhai::Engine;

    fn eval(src: &str) -> Dynamic {
        Engine::new().eval::<Dynamic>(src).unwrap()
    }

    #[test]
    fn short_values_stay_on_one_line() {
        let p = Paint::plain();
        assert_eq!(
            render(&eval(r#"#{id: "Q1", ok: true, n: 3}"#), p),
            r#"#{id: "Q1", n: 3, ok: true}"#
        );
        assert_eq!(render(&eval("[1, 2.5, ()]"), p), "[1, 2.5, ()]");
        assert_eq!(render(&eval(r#""a\"b""#), p), r#""a\"b""#);
        assert_eq!(render(&eval(r#"#{"my-key": 1}"#), p), r#"#{"my-key": 1}"#);
        assert_eq!(render(&eval("#{}"), p), "#{}");
        assert!(render_result(&Dynamic::UNIT, p).is_none());
    }

    #[test]
    fn long_values_are_indented() {
        let v = eval(
            r#"#{customer_groups: ["SWAINsTelecom", "OtherGroupWithALongName"], reseller_id: "R123456789", products: [#{name: "WHC", code: "hosted-voice"}]}"#,
        );
        let text = render(&v, Paint::plain());
        assert!(text.starts_with("#{\n  customer_groups: "), "{text}");
        assert!(text.ends_with("\n}"), "{text}");
        assert!(text.lines().count() >= 4, "{text}");
    }

    #[test]
    fn colour_only_when_asked() {
        let v = eval(r#"#{a: "x"}"#);
        assert!(!render(&v, Paint::plain()).contains('\x1b'));
        let c = render(&v, Paint { color: true });
        assert!(
            c.contains("\x1b[36ma\x1b[0m") && c.contains("\x1b[32m\"x\"\x1b[0m"),
            "{c:?}"
        );
    }
}
