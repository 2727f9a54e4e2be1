//! A list of maps as a table (one row a map, one column a key) when it fits the terminal:
//! `numbers::available(…)` or `order::list(#{})` read at a glance, where the nested form
//! would scroll by.

use super::render::{one_line, render_result, Paint};
use rhai::{Array, Dynamic, Map};

/// A cell wider than this means the table would not read well: the nested form is used.
const MAX_CELL: usize = 48;

/// The width of the terminal on stdout (`COLUMNS`, then 80, when it cannot be asked).
pub fn terminal_width() -> usize {
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
        return w as usize;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(80)
}

/// `v` as a table, when it is a non-empty list of maps whose table fits in `width` columns.
pub fn render(v: &Dynamic, p: Paint, width: usize) -> Option<String> {
    let arr = v.read_lock::<Array>()?.clone();
    if arr.is_empty() {
        return None;
    }
    let mut rows: Vec<Map> = Vec::with_capacity(arr.len());
    for item in &arr {
        rows.push(item.flatten_clone().read_lock::<Map>()?.clone());
    }
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for k in row.keys() {
            if !columns.iter().any(|c| c == k.as_str()) {
                columns.push(k.to_string());
            }
        }
    }
    if columns.is_empty() {
        return None;
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| row.get(c.as_str()).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let total = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    if total > width || widths.iter().any(|w| *w > MAX_CELL) {
        return None;
    }
    let line = |texts: &[String], paint: &dyn Fn(&str) -> String| {
        let padded: Vec<String> = texts
            .iter()
            .zip(&widths)
            .map(|(t, w)| {
                let pad = w - t.chars().count();
                format!("{}{}", paint(t), " ".repeat(pad))
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![
        line(&columns, &|t| p.cyan(t)),
        line(
            &widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>(),
            &|t| p.dim(t),
        ),
    ];
    for row in &cells {
        out.push(line(row, &|t| t.to_string()));
    }
    out.push(p.dim(&format!(
        "({} row{})",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    )));
    Some(out.join("\n"))
}

/// A REPL result as text: a table when it is a list of maps that fits the terminal, else as
/// [`render_result`] has it; `None` for `()`.
pub fn show(v: &Dynamic, p: Paint) -> Option<String> {
    render(v, p, terminal_width()).or_else(|| render_result(v, p))
}

/// A cell: strings without their quotes, `()` empty, anything else on one line.
fn cell(v: &Dynamic) -> String {
    let v = v.flatten_clone();
    if v.is_unit() {
        return String::new();
    }
    if let Ok(s) = v.clone().into_immutable_string() {
        return s.replace(['\n', '\r', '\t'], " ");
    }
    one_line(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Dynamic {
        rhai::Engine::new().eval::<Dynamic>(src).unwrap()
    }

    #[test]
    fn lists_of_maps_become_tables() {
        let v = eval(
            r#"[#{start: "01214960000", end: "01214960009"}, #{start: "01214960100", state: ()}]"#,
        );
        let t = render(&v, Paint::plain(), 200).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "end          start        state");
        assert!(lines[2].starts_with("01214960009  01214960000"), "{t}");
        assert_eq!(lines[3], "             01214960100");
        assert_eq!(lines[4], "(2 rows)");
    }

    #[test]
    fn other_values_and_wide_tables_are_left_alone() {
        assert!(render(&eval("[1, 2]"), Paint::plain(), 200).is_none());
        assert!(render(&eval("[]"), Paint::plain(), 200).is_none());
        assert!(render(&eval("#{a: 1}"), Paint::plain(), 200).is_none());
        let v = eval(r#"[#{a: "xxxxxxxxxxxxxxxxxxxx", b: "yyyyyyyyyyyyyyyyyyyy"}]"#);
        assert!(render(&v, Paint::plain(), 30).is_none());
        assert!(render(&v, Paint::plain(), 60).is_some());
    }
}
