//! Reading a row by column: both engines store text and 64-bit integers in the same columns,
//! so a job (or any row) is decoded by one function whatever the database (see `exec.rs`).

use chrono::{DateTime, Utc};

/// A result row, read by column index.
pub(crate) trait Cols {
    fn text(&self, i: usize) -> Result<Option<String>, String>;
    fn int(&self, i: usize) -> Result<Option<i64>, String>;

    fn req_text(&self, i: usize) -> Result<String, String> {
        self.text(i)?
            .ok_or_else(|| format!("column {i} is unexpectedly NULL"))
    }

    fn req_int(&self, i: usize) -> Result<i64, String> {
        self.int(i)?
            .ok_or_else(|| format!("column {i} is unexpectedly NULL"))
    }

    /// A stored instant (RFC 3339), if set.
    fn time(&self, i: usize) -> Result<Option<DateTime<Utc>>, String> {
        self.text(i)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|e| format!("column {i}: {s:?} is not a time: {e}"))
            })
            .transpose()
    }
}
