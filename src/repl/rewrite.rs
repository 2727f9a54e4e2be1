//! What the prompt accepts beyond Rhai: `_` for the last result (IPython's `_`; Rhai reserves
//! the bare underscore), and a `try … catch` typed alone shows its value (Rhai's statement has
//! none). The input is rewritten before it is compiled; strings and comments are left alone.

use super::scan::code_only;

/// The variable `_` stands for.
pub const LAST: &str = "_last";

/// The input as it is evaluated; `None` when it needs no change.
pub fn rewrite(input: &str) -> Option<String> {
    let with_last = underscores(input);
    let text = with_last.as_deref().unwrap_or(input);
    match lone_try(text) {
        Some(t) => Some(t),
        None => with_last,
    }
}

/// Every `_` that stands alone in code (not in a name, a string, a comment or a `switch`'s
/// `_ =>`) becomes [`LAST`].
pub(super) fn underscores(input: &str) -> Option<String> {
    let code: Vec<char> = code_only(input).chars().collect();
    let chars: Vec<char> = input.chars().collect();
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let mut out = String::with_capacity(input.len());
    let mut changed = false;
    for (i, &c) in chars.iter().enumerate() {
        let standalone = code.get(i) == Some(&'_')
            && !word(i.checked_sub(1).and_then(|j| code.get(j)))
            && !word(code.get(i + 1));
        let arm = code[i + 1..]
            .iter()
            .collect::<String>()
            .trim_start()
            .starts_with("=>");
        if standalone && !arm {
            out.push_str(LAST);
            changed = true;
        } else {
            out.push(c);
        }
    }
    changed.then_some(out)
}

/// `try { A } catch (e) { B }` alone becomes a block whose value is A's, or B's after an error.
fn lone_try(input: &str) -> Option<String> {
    let code: Vec<char> = code_only(input).chars().collect();
    let chars: Vec<char> = input.chars().collect();
    let skip_ws = |mut i: usize| {
        while i < code.len() && code[i].is_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(0);
    if !code[i..].starts_with(&['t', 'r', 'y']) {
        return None;
    }
    i = skip_ws(i + 3);
    let (body_open, body_close) = block(&code, i)?;
    i = skip_ws(body_close + 1);
    if !code[i..].starts_with(&['c', 'a', 't', 'c', 'h']) {
        return None;
    }
    i = skip_ws(i + 5);
    let mut var = String::new();
    if code.get(i) == Some(&'(') {
        let close = i + code[i..].iter().position(|&c| c == ')')?;
        var = chars[i..=close].iter().collect();
        i = skip_ws(close + 1);
    }
    let (catch_open, catch_close) = block(&code, i)?;
    let rest: String = code[catch_close + 1..].iter().collect();
    if !rest.trim().trim_end_matches(';').trim().is_empty() {
        return None;
    }
    let body: String = chars[body_open + 1..body_close].iter().collect();
    let handler: String = chars[catch_open + 1..catch_close].iter().collect();
    Some(format!(
        "{{ let try_value__ = (); try {{ try_value__ = {{{body}}}; }} catch {var} {{ try_value__ = {{{handler}}}; }} try_value__ }}"
    ))
}

/// The `{` at `at` and its matching `}`.
fn block(code: &[char], at: usize) -> Option<(usize, usize)> {
    if code.get(at) != Some(&'{') {
        return None;
    }
    let mut depth = 0usize;
    for (j, &c) in code.iter().enumerate().skip(at) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((at, j));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> rhai::Dynamic {
        let text = rewrite(src).unwrap_or_else(|| src.to_string());
        let mut scope = rhai::Scope::new();
        scope.push(LAST, 41_i64);
        rhai::Engine::new()
            .eval_with_scope::<rhai::Dynamic>(&mut scope, &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn underscore_is_the_last_result() {
        assert_eq!(eval("_ + 1").as_int().unwrap(), 42);
        assert_eq!(eval("let a_b = _; a_b").as_int().unwrap(), 41);
        assert_eq!(eval(r#""_" + `_`"#).into_string().unwrap(), "__");
        assert_eq!(eval("switch 3 { 1 => 1, _ => _ }").as_int().unwrap(), 41);
        assert!(rewrite("let x_1 = 2 // _").is_none());
    }

    #[test]
    fn a_lone_try_shows_its_value() {
        assert_eq!(eval("try { 7 } catch (e) { e }").as_int().unwrap(), 7);
        assert_eq!(
            eval("try { throw \"no\" } catch (e) { `caught ${e}` }")
                .into_string()
                .unwrap(),
            "caught no"
        );
        assert_eq!(eval("try { throw 1 } catch { 2 };").as_int().unwrap(), 2);
        assert!(rewrite("try { 1 } catch (e) { 2 } 3").is_none());
        assert!(rewrite("trying()").is_none());
        assert!(rewrite("try { \"}\" } catch (e) { e }").is_some());
    }
}
