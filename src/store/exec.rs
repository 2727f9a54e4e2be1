//! The small executor every shared statement runs on: one trait (query, execute, transaction)
//! that a SQLite connection and a PostgreSQL client both implement, typed arguments, and a row
//! that reads the same whatever the database. Statements are written once, in PostgreSQL's
//! spelling (`$1` placeholders); [`render`] is the one place that turns them into what the
//! engine at hand takes.

use super::rows::Cols;
use std::borrow::Cow;

/// An error on its way to a [`super::StoreError`]: the engine's own words, or what failed.
#[derive(Debug)]
pub(crate) struct DbErr(pub String);

impl From<String> for DbErr {
    fn from(s: String) -> Self {
        DbErr(s)
    }
}

/// A row that could not be decoded.
pub(crate) fn decode(e: String) -> DbErr {
    DbErr(format!("a stored row cannot be read: {e}"))
}

/// Which database a statement runs on, for the few places where the engines really differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

/// A statement's argument: every column btw stores is text or a 64-bit integer.
#[derive(Clone, Debug)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(s)))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(s)))
    }
}
impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Text(Some(Cow::Owned(s)))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Arg::Text(s.map(Cow::Borrowed))
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(s: Option<String>) -> Self {
        Arg::Text(s.map(Cow::Owned))
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(s: &'a Option<String>) -> Self {
        Arg::Text(s.as_deref().map(Cow::Borrowed))
    }
}
impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Int(Some(n))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(n: Option<i64>) -> Self {
        Arg::Int(n)
    }
}

/// A write given as code (several statements, checks between them), applied as one.
pub(crate) type WriteFn = Box<dyn FnOnce(&mut dyn Exec) -> Result<u64, DbErr> + Send>;

/// A write with its arguments owned, so it can wait in SQLite's group-commit queue.
pub(crate) struct Write {
    pub sql: &'static str,
    pub args: Vec<Arg<'static>>,
}

impl Write {
    pub fn apply(&self, x: &mut dyn Exec) -> Result<u64, DbErr> {
        x.execute(self.sql, &self.args)
    }
}

/// Arguments for a statement: `args![a, b]`, each converted with [`Arg::from`].
macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$($crate::store::exec::Arg::from($a)),*][..] };
}
pub(crate) use args;

/// A column's value as read from either engine.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

/// A result row, the same whichever engine produced it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row(pub Vec<Val>);

impl Row {
    fn col(&self, i: usize) -> Result<&Val, String> {
        self.0
            .get(i)
            .ok_or_else(|| format!("column {i} is not in the row"))
    }

    /// A boolean column (PostgreSQL's own functions answer some).
    pub fn bool(&self, i: usize) -> Result<bool, String> {
        match self.col(i)? {
            Val::Bool(b) => Ok(*b),
            Val::Int(n) => Ok(*n != 0),
            other => Err(format!("column {i} is not a boolean: {other:?}")),
        }
    }
}

impl Cols for Row {
    fn text(&self, i: usize) -> Result<Option<String>, String> {
        match self.col(i)? {
            Val::Null => Ok(None),
            Val::Text(s) => Ok(Some(s.clone())),
            other => Err(format!("column {i} is not text: {other:?}")),
        }
    }
    fn int(&self, i: usize) -> Result<Option<i64>, String> {
        match self.col(i)? {
            Val::Null => Ok(None),
            Val::Int(n) => Ok(Some(*n)),
            other => Err(format!("column {i} is not an integer: {other:?}")),
        }
    }
}

/// Where statements run: a connection, or a transaction on one.
pub(crate) trait Exec {
    fn engine(&self) -> Engine;
    /// The rows a statement answers.
    fn query(&mut self, sql: &str, args: &[Arg]) -> Result<Vec<Row>, DbErr>;
    /// Runs a statement; how many rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg]) -> Result<u64, DbErr>;
    /// Runs statements without arguments, as written (the schema's).
    fn batch(&mut self, sql: &str) -> Result<(), DbErr>;
    /// Runs `f` in one transaction: committed when it succeeds, rolled back when it fails.
    /// SQLite takes the write lock first (`BEGIN IMMEDIATE`), so writers queue instead of
    /// failing on an upgrade.
    fn transaction(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Exec) -> Result<(), DbErr>,
    ) -> Result<(), DbErr>;
}

impl dyn Exec + '_ {
    /// The first row, if any.
    pub fn query_opt(&mut self, sql: &str, args: &[Arg]) -> Result<Option<Row>, DbErr> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row, which must be there.
    pub fn query_one(&mut self, sql: &str, args: &[Arg]) -> Result<Row, DbErr> {
        self.query_opt(sql, args)?
            .ok_or_else(|| DbErr("the statement answered no row".into()))
    }

    /// The text of the first column of the first row, if any.
    pub fn text_opt(&mut self, sql: &str, args: &[Arg]) -> Result<Option<String>, DbErr> {
        match self.query_opt(sql, args)? {
            Some(r) => r.text(0).map_err(decode),
            None => Ok(None),
        }
    }

    /// A count (the first column of the first row).
    pub fn count(&mut self, sql: &str, args: &[Arg]) -> Result<u64, DbErr> {
        let r = self.query_one(sql, args)?;
        Ok(r.int(0).map_err(decode)?.unwrap_or(0).max(0) as u64)
    }

    /// Every row, each decoded by `one`.
    pub fn rows<T>(
        &mut self,
        sql: &str,
        args: &[Arg],
        one: impl Fn(&Row) -> Result<T, String>,
    ) -> Result<Vec<T>, DbErr> {
        self.query(sql, args)?
            .iter()
            .map(|r| one(r).map_err(decode))
            .collect()
    }

    /// [`Exec::transaction`] for a body that returns a value.
    pub fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let mut f = Some(f);
        let mut out = None;
        self.transaction(&mut |x| {
            let f = f
                .take()
                .ok_or_else(|| DbErr("a transaction's body ran twice".into()))?;
            out = Some(f(x)?);
            Ok(())
        })?;
        out.ok_or_else(|| DbErr("a transaction's body did not run".into()))
    }
}

/// A statement as `engine` takes it: SQLite's `?N` for `$N` (SQLite would read `$1` as a
/// *named* parameter), and the few words the engines spell differently:
/// `{seq}` the insertion order (SQLite's rowid, PostgreSQL's `seq` column), `{for_update}`
/// `{skip_locked}` and `{for_share}` row locks (SQLite has one writer at a time and needs none).
pub(crate) fn render(sql: &str, engine: Engine) -> Cow<'_, str> {
    let words = match engine {
        Engine::Sqlite => [
            ("{seq}", "rowid"),
            ("{for_update}", ""),
            ("{skip_locked}", ""),
            ("{for_share}", ""),
        ],
        Engine::Postgres => [
            ("{seq}", "seq"),
            ("{for_update}", "FOR UPDATE"),
            ("{skip_locked}", "FOR UPDATE SKIP LOCKED"),
            ("{for_share}", "FOR SHARE"),
        ],
    };
    let needs_words = sql.contains('{');
    if engine == Engine::Postgres && !needs_words {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        let is_param = !quoted
            && c == '$'
            && engine == Engine::Sqlite
            && chars.peek().is_some_and(|n| n.is_ascii_digit());
        out.push(if is_param { '?' } else { c });
    }
    if needs_words {
        for (word, spelled) in words {
            out = out.replace(word, spelled);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::each_backend;

    #[test]
    fn a_failed_transaction_leaves_nothing_and_rows_read_alike() {
        each_backend(|s| {
            let failed: Result<(), _> = s.in_transaction(|x| {
                x.execute(
                    "INSERT INTO btw_values (key, value) VALUES ($1, $2)",
                    args!["k", "v"],
                )?;
                Err(DbErr("stopped on purpose".into()))
            });
            assert!(failed
                .unwrap_err()
                .to_string()
                .contains("stopped on purpose"));
            assert_eq!(s.value("k").unwrap(), None);
            s.value_or_insert("k", || "v".into()).unwrap();
            let rows = s
                .with(|x| {
                    x.query(
                        "SELECT key, COUNT(*), MAX(value) FROM btw_values
                         WHERE key = $1 OR key = $2 GROUP BY key",
                        args!["k", None::<&str>],
                    )
                })
                .unwrap();
            assert_eq!(
                rows,
                vec![Row(vec![
                    Val::Text("k".into()),
                    Val::Int(1),
                    Val::Text("v".into())
                ])]
            );
        });
    }

    #[test]
    fn statements_are_rendered_for_each_engine() {
        let sql = "SELECT '$1' FROM t WHERE a = $1 AND b = $12 ORDER BY {seq} {for_update}";
        assert_eq!(
            render(sql, Engine::Sqlite),
            "SELECT '$1' FROM t WHERE a = ?1 AND b = ?12 ORDER BY rowid "
        );
        assert_eq!(
            render(sql, Engine::Postgres),
            "SELECT '$1' FROM t WHERE a = $1 AND b = $12 ORDER BY seq FOR UPDATE"
        );
        assert!(matches!(
            render("SELECT 1", Engine::Postgres),
            Cow::Borrowed(_)
        ));
    }
}
