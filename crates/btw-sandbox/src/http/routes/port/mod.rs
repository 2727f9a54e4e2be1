//! WHC number porting endpoints: portability check, import orders (create, get, list, amend,
//! cancel), earliest port date, port activation, and ringfencing ported numbers ahead of the port.
//!
//! The rules themselves live in `world/port/`; these files parse requests and render answers.

mod check;
mod orders;
mod ringfence;
mod select;

use crate::state::SandboxState;
use axum::routing::{get, post};
use axum::Router;
use check::{check, earliest};
use orders::{activate, amend, cancel, create, list, one};
pub(crate) use ringfence::ringfence_ported;
use select::{ACTIVATE_PATH, BASE, CHECK_PATH};

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route(CHECK_PATH, get(check))
        .route(BASE, post(create).get(list))
        .route(&format!("{BASE}/earliestPortDate"), get(earliest))
        .route(&format!("{BASE}/{{id}}"), get(one).patch(amend))
        .route(&format!("{BASE}/{{id}}/cancel"), post(cancel))
        .route(ACTIVATE_PATH, post(activate))
}

#[cfg(test)]
mod tests {
    use super::select::*;
    use crate::error::SchemaErrors;
    use crate::http::extract::QueryParams;
    use serde_json::json;

    #[test]
    fn query_selections() {
        let q = |s: &str| QueryParams::parse(Some(s));
        let one = query_selection(&q("number=0191%20498%200100"), "number", false).unwrap();
        assert_eq!(one.numbers, ["01914980100"]);
        let many = query_selection(
            &q("numbers=01914980100,01914980101,01914980100"),
            "numbers",
            true,
        )
        .unwrap();
        assert_eq!(many.numbers.len(), 2);
        let r = query_selection(
            &q("rangeStart=01914980200&rangeEnd=01914980299"),
            "number",
            false,
        )
        .unwrap();
        assert_eq!(r.numbers.len(), 100);
        assert_eq!(
            r.range,
            Some(("01914980200".to_string(), "01914980299".to_string()))
        );
        let code = |s: &str| query_selection(&q(s), "number", false).unwrap_err().code;
        assert_eq!(code(""), "27");
        assert_eq!(code("rangeStart=01914980200"), "27");
        assert_eq!(code("number=01914980200&rangeStart=01914980200"), "28");
        assert_eq!(code("number=12345"), "28");
        assert_eq!(code("rangeStart=01914980299&rangeEnd=01914980200"), "28");
        assert_eq!(code("rangeStart=1914980200&rangeEnd=1914980201"), "28");
    }

    #[test]
    fn body_selections() {
        let mut errs = SchemaErrors::default();
        let s = body_selection(&json!({"numbers": ["0191 498 0100"]}), &mut errs).unwrap();
        assert_eq!(s.numbers, ["01914980100"]);
        assert!(errs.is_empty());
        assert!(body_selection(&json!({}), &mut errs).is_none());
        assert!(errs.is_empty());
        body_selection(
            &json!({"numbers": ["01914980100", "01914980100", 5]}),
            &mut errs,
        );
        assert_eq!(errs.0.len(), 2);
        let mut errs = SchemaErrors::default();
        body_selection(
            &json!({"numbers": ["01914980100"], "numberRange": {}}),
            &mut errs,
        );
        assert_eq!(errs.0.len(), 1);
    }
}
