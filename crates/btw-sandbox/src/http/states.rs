//! The `state` filter of order lists: every TMF622 order state is a valid filter, whether or
//! not the sandbox ever puts an order in it (CONTRACT.md: order list filters).

use crate::error::ApiError;
use crate::http::extract::QueryParams;

/// TMF622 product order states (BT_API.md, "States").
pub const TMF622_ORDER_STATES: [&str; 11] = [
    "acknowledged",
    "rejected",
    "pending",
    "held",
    "inProgress",
    "cancelled",
    "completed",
    "failed",
    "partial",
    "assessingCancellation",
    "pendingCancellation",
];

/// What a list's `state` query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter<T> {
    /// No filter.
    Any,
    /// Orders in this state.
    Only(T),
    /// A standard state no order of this kind reaches in the sandbox: an empty list.
    Nothing,
}

impl<T: PartialEq + Copy> StateFilter<T> {
    /// Reads `state`: 400/28 only for a name that is not a TMF622 order state.
    pub fn read(query: &QueryParams, parse: impl Fn(&str) -> Option<T>) -> Result<Self, ApiError> {
        let Some(v) = query.get("state") else {
            return Ok(StateFilter::Any);
        };
        if let Some(s) = parse(v) {
            return Ok(StateFilter::Only(s));
        }
        if TMF622_ORDER_STATES
            .iter()
            .any(|s| s.eq_ignore_ascii_case(v))
        {
            return Ok(StateFilter::Nothing);
        }
        Err(ApiError::invalid_query("state", "not a TMF622 order state"))
    }

    pub fn admits(self, state: T) -> bool {
        match self {
            StateFilter::Any => true,
            StateFilter::Only(s) => s == state,
            StateFilter::Nothing => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::OrderState;

    #[test]
    fn every_standard_state_is_a_filter() {
        for s in TMF622_ORDER_STATES {
            let q = QueryParams::parse(Some(&format!("state={s}")));
            assert!(StateFilter::read(&q, OrderState::parse).is_ok(), "{s}");
        }
        let q = QueryParams::parse(Some("state=held"));
        assert_eq!(
            StateFilter::read(&q, OrderState::parse).unwrap(),
            StateFilter::Nothing
        );
        let q = QueryParams::parse(Some("state=rejected"));
        assert_eq!(
            StateFilter::read(&q, OrderState::parse).unwrap(),
            StateFilter::Only(OrderState::Rejected)
        );
        let q = QueryParams::parse(Some("state=expired"));
        assert_eq!(
            StateFilter::read(&q, OrderState::parse).unwrap_err().code,
            "28"
        );
    }
}
