//! Geographic address management: find NAD keys by postcode, create temporary addresses.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::Request;
use super::whc::not_found_is_none;
use serde_json::{Map, Value};

const PATH: &str = "/common/geographicAddressManagement/v1/geographicAddress";

/// An address search.
#[derive(Debug, Clone, Default)]
pub struct AddressQuery {
    pub postcode: String,
    /// `ROBT` (default) or `Openreach`.
    pub source: Option<String>,
    pub building: Option<String>,
    pub street_nr: Option<String>,
}

impl BtClient {
    /// Addresses at a postcode; an empty list when BT has none.
    pub async fn address_search(&self, q: &AddressQuery) -> Result<Vec<Value>, ApiError> {
        let mut req = Request::get(Operation::AddressSearch, PATH)
            .query("postcode", q.postcode.clone())
            .query(
                "addressSource",
                q.source.clone().unwrap_or_else(|| "ROBT".into()),
            );
        if let Some(b) = &q.building {
            req = req.query("buildingName", b.clone());
        }
        if let Some(n) = &q.street_nr {
            req = req.query("streetNr", n.clone());
        }
        let found = not_found_is_none_any(self.send(req).await.map(|p| p.body))?;
        Ok(match found {
            Some(Value::Array(items)) => items,
            Some(other) => vec![other],
            None => Vec::new(),
        })
    }

    /// Creates a temporary address (camelCase BT fields) and returns its NAD key.
    pub async fn address_create(&self, fields: Map<String, Value>) -> Result<String, ApiError> {
        let req = Request::post(Operation::AddressCreate, PATH, Value::Object(fields));
        let v = self.send(req).await?.body;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::Decode {
                operation: Operation::AddressCreate.into(),
                detail: "no id in the answer".into(),
            })
    }
}

/// Address search answers 404 code 60 for "no address here": an empty result, not a failure.
fn not_found_is_none_any(r: Result<Value, ApiError>) -> Result<Option<Value>, ApiError> {
    match r {
        Err(ApiError::Bt(e)) if e.status == 404 => Ok(None),
        other => not_found_is_none(other),
    }
}
