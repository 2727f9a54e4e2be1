//! A lexical walk over Rhai input, just deep enough to know which brackets, strings and comments
//! are still open: what the validator, completion and hints need, without a parser.

/// What is left open at the end of the input.
#[derive(Debug, PartialEq)]
pub(super) enum Scan {
    Closed,
    Open,
    Mismatched,
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    Bracket(char),
    Backtick,
    Interp,
}

/// Walks Rhai's lexical structure far enough to know what is still open.
pub(super) fn scan(input: &str) -> Scan {
    scan_with(input, |_, _| {})
}

/// As [`scan`], calling `mark(index, masked)` for each char: masked chars are inside a string or
/// comment.
pub(super) fn scan_with(input: &str, mark: impl FnMut(usize, bool)) -> Scan {
    let mut s = Scanner {
        chars: input.chars().collect(),
        i: 0,
        stack: Vec::new(),
        mark,
    };
    while s.i < s.chars.len() {
        if s.stack.last() == Some(&Frame::Backtick) {
            s.in_backticks();
        } else if let Err(end) = s.code() {
            return end;
        }
    }
    if s.stack.is_empty() {
        Scan::Closed
    } else {
        Scan::Open
    }
}

struct Scanner<F: FnMut(usize, bool)> {
    chars: Vec<char>,
    i: usize,
    stack: Vec<Frame>,
    mark: F,
}

impl<F: FnMut(usize, bool)> Scanner<F> {
    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// One step inside a backtick string: its end, an `${` interpolation, or an escape.
    fn in_backticks(&mut self) {
        let (c, next) = (self.chars[self.i], self.at(self.i + 1));
        (self.mark)(self.i, true);
        match c {
            '`' => {
                self.stack.pop();
            }
            '$' if next == Some('{') => {
                (self.mark)(self.i + 1, true);
                self.stack.push(Frame::Interp);
                self.i += 1;
            }
            '\\' => {
                if next.is_some() {
                    (self.mark)(self.i + 1, true);
                }
                self.i += 1;
            }
            _ => {}
        }
        self.i += 1;
    }

    /// One step in code; `Err` when the input ends open or a bracket does not match.
    fn code(&mut self) -> Result<(), Scan> {
        let (c, next) = (self.chars[self.i], self.at(self.i + 1));
        match c {
            '/' if next == Some('/') => {
                while self.i < self.chars.len() && self.chars[self.i] != '\n' {
                    (self.mark)(self.i, true);
                    self.i += 1;
                }
                return Ok(());
            }
            '/' if next == Some('*') => return self.block_comment(),
            '"' | '\'' => self.quoted(c)?,
            '`' => {
                (self.mark)(self.i, true);
                self.stack.push(Frame::Backtick);
            }
            '(' | '[' | '{' => {
                (self.mark)(self.i, false);
                self.stack.push(Frame::Bracket(c));
            }
            ')' | ']' | '}' => self.close(c)?,
            _ => (self.mark)(self.i, false),
        }
        self.i += 1;
        Ok(())
    }

    /// A (nestable) block comment; `Err(Open)` when it never closes.
    fn block_comment(&mut self) -> Result<(), Scan> {
        let mut depth = 0;
        loop {
            if self.i >= self.chars.len() {
                return Err(Scan::Open);
            }
            (self.mark)(self.i, true);
            let (c, next) = (self.chars[self.i], self.at(self.i + 1));
            if c == '/' && next == Some('*') {
                depth += 1;
                (self.mark)(self.i + 1, true);
                self.i += 2;
            } else if c == '*' && next == Some('/') {
                depth -= 1;
                (self.mark)(self.i + 1, true);
                self.i += 2;
                if depth == 0 {
                    return Ok(());
                }
            } else {
                self.i += 1;
            }
        }
    }

    /// A string or character in `quote`s, left on its closing quote; `Err` when it never closes.
    fn quoted(&mut self, quote: char) -> Result<(), Scan> {
        (self.mark)(self.i, true);
        self.i += 1;
        loop {
            if self.i >= self.chars.len() {
                return Err(Scan::Open);
            }
            (self.mark)(self.i, true);
            if self.chars[self.i] == '\\' {
                if self.i + 1 < self.chars.len() {
                    (self.mark)(self.i + 1, true);
                }
                self.i += 2;
                continue;
            }
            if self.chars[self.i] == quote {
                return Ok(());
            }
            self.i += 1;
        }
    }

    /// A closing bracket: it must match the innermost open one.
    fn close(&mut self, c: char) -> Result<(), Scan> {
        (self.mark)(self.i, false);
        let open = match c {
            ')' => '(',
            ']' => '[',
            _ => '{',
        };
        match self.stack.last() {
            Some(Frame::Bracket(b)) if *b == open => {
                self.stack.pop();
            }
            Some(Frame::Interp) if c == '}' => {
                // The interpolation's `}` belongs to the string, like its `${`.
                (self.mark)(self.i, true);
                self.stack.pop();
            }
            _ => return Err(Scan::Mismatched),
        }
        Ok(())
    }
}

/// Whether the end of `before` is inside a string or a comment.
pub(super) fn in_string_or_comment(before: &str) -> bool {
    let mut last = false;
    let n = before.chars().count();
    scan_with(before, |i, masked| {
        if i + 1 == n {
            last = masked;
        }
    });
    // A closing quote is masked too: only count it when the string is still open.
    last && !(before.ends_with('"') && scan(before) != Scan::Open)
}

/// `before` with string and comment contents blanked, for bracket matching.
pub(crate) fn code_only(before: &str) -> String {
    let mut chars: Vec<char> = before.chars().collect();
    scan_with(before, |i, masked| {
        if masked {
            if let Some(c) = chars.get_mut(i) {
                *c = ' ';
            }
        }
    });
    chars.into_iter().collect()
}
