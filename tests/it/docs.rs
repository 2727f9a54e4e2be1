//! The documents stay true: every command in a ```` ```sh runnable ```` block of `README.md` and
//! `docs/` runs through the real binary against a test sandbox, and every relative link resolves.
//!
//! A runnable block holds only `btw …` lines (comments and blank lines aside). Each runs from the
//! repository's folder with one fresh data folder for the whole test, in document order, and must
//! exit 0 or the code its comment states as `(exit N)`.

use crate::common::{btw, output, repo, sandbox_with};
use btw_sandbox::SandboxConfig;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

/// `README.md` and every Markdown page under `docs/`, as paths relative to the repository.
fn documents() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.strip_prefix(repo()).unwrap().to_path_buf())
        .collect();
    pages.sort();
    pages.insert(0, PathBuf::from("README.md"));
    pages
}

fn read(doc: &Path) -> String {
    std::fs::read_to_string(repo().join(doc)).unwrap_or_else(|e| panic!("{}: {e}", doc.display()))
}

/// One line of a document, with whether it lies inside a fenced block and that block's info string.
struct Line<'a> {
    number: usize,
    text: &'a str,
    /// `Some(info)` inside a fenced block (not on its fences).
    fence: Option<&'a str>,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut open: Option<(&str, &str)> = None; // (fence marker, info string)
    for (i, text) in text.lines().enumerate() {
        let trimmed = text.trim_start();
        let marker_len = trimmed.chars().take_while(|&c| c == '`').count();
        match open {
            Some((marker, _))
                if marker_len >= marker.len() && trimmed[marker_len..].trim().is_empty() =>
            {
                open = None;
            }
            Some((_, info)) => out.push(Line {
                number: i + 1,
                text,
                fence: Some(info),
            }),
            None if marker_len >= 3 => {
                open = Some((&trimmed[..marker_len], trimmed[marker_len..].trim()));
            }
            None => out.push(Line {
                number: i + 1,
                text,
                fence: None,
            }),
        }
    }
    out
}

/// A command of a runnable block: where it is, its words, and the exit code it should end with.
#[derive(Debug)]
struct DocCommand {
    place: String,
    words: Vec<String>,
    expected_exit: i32,
}

/// Splits a command line as a shell does for plain quoting; a `#` starting a word begins a
/// comment, returned apart.
fn shell_words(line: &str) -> Result<(Vec<String>, String), String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '#' if word.is_none() => return Ok((words, line[at + 1..].to_string())),
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => w.push(c),
                        None => return Err("unclosed '".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c @ ('"' | '\\' | '$' | '`'))) => w.push(c),
                            Some((_, c)) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("unclosed \"".into()),
                        },
                        Some((_, c @ ('$' | '`'))) => {
                            return Err(format!("{c} inside \"…\" is not supported"))
                        }
                        Some((_, c)) => w.push(c),
                        None => return Err("unclosed \"".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, c)) => word.get_or_insert_with(String::new).push(c),
                None => return Err("a lone \\ at the end".into()),
            },
            '$' | '`' | '|' | '>' | '<' | ';' | '&' | '*' | '?' => {
                return Err(format!("{c} is not supported in a runnable command"))
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok((words, String::new()))
}

/// The exit code a comment states as `(exit N)`, else 0.
fn expected_exit(comment: &str) -> Result<i32, String> {
    match comment.find("(exit ") {
        None => Ok(0),
        Some(at) => {
            let rest = &comment[at + "(exit ".len()..];
            let digits = rest.split(')').next().unwrap_or_default();
            digits
                .trim()
                .parse()
                .map_err(|_| format!("`(exit {digits})` is not an exit code"))
        }
    }
}

/// Every command of every runnable block, in document order.
fn runnable_commands() -> Result<Vec<DocCommand>, Vec<String>> {
    let mut commands = Vec::new();
    let mut problems = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        let mut pending: Option<(usize, String)> = None;
        for line in lines(&text) {
            let Some(info) = line.fence else { continue };
            let mut info_words = info.split_whitespace();
            if info_words.next() != Some("sh") || !info_words.any(|w| w == "runnable") {
                continue;
            }
            let (start, joined) = match pending.take() {
                Some((start, before)) => (start, format!("{before} {}", line.text.trim())),
                None => (line.number, line.text.trim().to_string()),
            };
            if let Some(head) = joined.strip_suffix('\\') {
                pending = Some((start, head.to_string()));
                continue;
            }
            let place = format!("{}:{start}", doc.display());
            if joined.is_empty() || joined.starts_with('#') {
                continue;
            }
            let parsed = shell_words(&joined).and_then(|(words, comment)| {
                if words.first().map(String::as_str) != Some("btw") {
                    return Err("a runnable block holds only `btw …` commands".into());
                }
                Ok(DocCommand {
                    place: place.clone(),
                    words: words[1..].to_vec(),
                    expected_exit: expected_exit(&comment)?,
                })
            });
            match parsed {
                Ok(c) => commands.push(c),
                Err(e) => problems.push(format!("{place}: {e}: {joined}")),
            }
        }
    }
    if problems.is_empty() {
        Ok(commands)
    } else {
        Err(problems)
    }
}

#[tokio::test]
async fn runnable_commands_in_the_documents_run_against_the_sandbox() {
    let commands = runnable_commands().unwrap_or_else(|p| panic!("{}", p.join("\n")));
    assert!(
        commands.len() >= 10,
        "expected the documents to mark commands as runnable, found {commands:?}"
    );
    // Port journeys wait for the losing provider and order steps on the sandbox's clock: keep both short.
    let sb = sandbox_with(SandboxConfig {
        order_step_secs: 0.2,
        lcp_decision_secs: 0.5,
        ..SandboxConfig::default()
    })
    .await;
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut failures = Vec::new();
    for c in &commands {
        let o = output(btw(&sb.base_url(), data.path()).args(&c.words)).await;
        if o.code != c.expected_exit {
            failures.push(format!(
                "{}: `btw {}` exited {} (expected {})\nstdout: {}\nstderr: {}",
                c.place,
                c.words.join(" "),
                o.code,
                c.expected_exit,
                o.stdout.chars().take(2000).collect::<String>(),
                o.stderr.chars().take(2000).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!(
        "{} documented commands ran in {:.1} s",
        commands.len(),
        started.elapsed().as_secs_f64()
    );
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks), with GitHub's `-1`, `-2`
/// suffixes for repeats.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in lines(text).into_iter().filter(|l| l.fence.is_none()) {
        let hashes = line.text.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line.text[hashes..].starts_with(' ') {
            continue;
        }
        let base = anchor_of(&line.text[hashes..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

/// The targets of the Markdown links (`[text](target)`, `![alt](target)`) in a line, outside
/// inline code.
fn link_targets(line: &str) -> Vec<String> {
    let outside_code: String = line
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 0 { part } else { "" })
        .collect::<Vec<_>>()
        .join(" ");
    let mut targets = Vec::new();
    let mut rest = outside_code.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        targets.push(rest[..end].trim().to_string());
        rest = &rest[end..];
    }
    targets
}

/// `path` with `.` and `..` resolved, or `None` when it climbs out of the repository.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[test]
fn links_in_the_documents_resolve_inside_the_repository() {
    let mut problems = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        if text.contains("../shared") {
            problems.push(format!(
                "{}: names a file outside the repository (../shared)",
                doc.display()
            ));
        }
        let folder = doc.parent().unwrap_or(Path::new(""));
        for line in lines(&text).into_iter().filter(|l| l.fence.is_none()) {
            for target in link_targets(line.text) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let place = format!("{}:{}", doc.display(), line.number);
                let (file, anchor) = match target.split_once('#') {
                    Some((f, a)) => (f, Some(a)),
                    None => (target.as_str(), None),
                };
                let resolved = if file.is_empty() {
                    Some(doc.clone())
                } else {
                    normalise(&folder.join(file))
                };
                let Some(resolved) = resolved else {
                    problems.push(format!("{place}: {target} leads out of the repository"));
                    continue;
                };
                let on_disk = repo().join(&resolved);
                if !on_disk.exists() {
                    problems.push(format!("{place}: {target}: no such file"));
                    continue;
                }
                if let Some(anchor) = anchor {
                    if resolved.extension().is_some_and(|e| e == "md")
                        && !anchors(&read(&resolved)).contains(anchor)
                    {
                        problems.push(format!(
                            "{place}: {target}: no heading with that anchor in {}",
                            resolved.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn shell_words_split_as_a_shell_does() {
    let (words, comment) =
        shell_words(r#"btw run x.rhai --param name="Acme Two" -p 'a b' c\ d  # note (exit 3)"#)
            .unwrap();
    assert_eq!(
        words,
        [
            "btw",
            "run",
            "x.rhai",
            "--param",
            "name=Acme Two",
            "-p",
            "a b",
            "c d"
        ]
    );
    assert_eq!(expected_exit(&comment), Ok(3));
    assert_eq!(expected_exit(" plain"), Ok(0));
    assert!(shell_words("btw run x | head").is_err());
    assert!(shell_words("btw run \"open").is_err());
    assert_eq!(
        anchor_of("Resuming a run: `--resume`"),
        "resuming-a-run---resume"
    );
    assert_eq!(
        anchor_of("Number porting (WHC import orders)"),
        "number-porting-whc-import-orders"
    );
}
