//! What the routes share: extractors with FailureResponse rejections, query parsing, JSON
//! bodies, pagination and CUG checks.

use crate::error::{ApiError, SchemaErrors};
use crate::wire::str_at;
use crate::world::CUG_ID;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// 403/50 unless `cug` is the seeded reseller's CUG.
pub fn check_cug(cug: &str) -> Result<(), ApiError> {
    if cug.trim() == CUG_ID {
        Ok(())
    } else {
        Err(ApiError::unknown_cug())
    }
}

/// `axum::extract::Path` whose rejection is a FailureResponse (400/20) instead of plain text.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| PathParams(t))
            .map_err(|_| ApiError::invalid_url_parameter("A path parameter could not be read"))
    }
}

/// The raw request body, with a FailureResponse (400/22) when it cannot be read (e.g. too large).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|_| ApiError::invalid_body("The request body could not be read"))
    }
}

/// The record under `id` (trimmed); 404/60 "No {what} {id}" when there is none.
pub fn find<'a, T>(
    records: &'a BTreeMap<String, T>,
    what: &str,
    id: &str,
) -> Result<&'a T, ApiError> {
    records
        .get(id.trim())
        .ok_or_else(|| ApiError::not_found(format!("No {what} {id}")))
}

/// [`find`] for a change to the record.
pub fn find_mut<'a, T>(
    records: &'a mut BTreeMap<String, T>,
    what: &str,
    id: &str,
) -> Result<&'a mut T, ApiError> {
    records
        .get_mut(id.trim())
        .ok_or_else(|| ApiError::not_found(format!("No {what} {id}")))
}

/// A `201 Created` JSON answer.
pub fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// A parsed query string; never fails.
#[derive(Debug, Default, Clone)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> QueryParams {
        // `application/x-www-form-urlencoded`, lossy on bad UTF-8 and bad escapes.
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        QueryParams(pairs)
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Like [`get`](Self::get) but 400/27 when missing.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::missing_query(name))
    }

    /// `name` read by `parse`: `None` when absent, 400/28 saying `why` when `parse` refuses it.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Option<T>,
        why: &str,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|v| parse(v).ok_or_else(|| ApiError::invalid_query(name, why)))
            .transpose()
    }

    /// `offset` (default 0) and `limit` (default 20, above 100 read as 100); 400/28 when not a
    /// number or `limit` is 0.
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let offset = match self.get("offset") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ApiError::invalid_query("offset", "must be a whole number"))?,
        };
        let limit = match self.get("limit") {
            None => 20,
            Some(v) => match v.parse::<usize>() {
                Ok(0) | Err(_) => {
                    return Err(ApiError::invalid_query(
                        "limit",
                        "must be a whole number from 1",
                    ))
                }
                Ok(n) => n.min(100),
            },
        };
        Ok((offset, limit))
    }
}

/// `records` as BT lists them, newest (highest `seq`) first, each rendered.
pub fn newest_first<'a, T: 'a>(
    records: impl Iterator<Item = &'a T>,
    seq: impl Fn(&T) -> u64,
    render: impl FnMut(&'a T) -> Value,
) -> Vec<Value> {
    let mut records: Vec<&T> = records.collect();
    records.sort_by_key(|r| std::cmp::Reverse(seq(r)));
    records.into_iter().map(render).collect()
}

/// A 200 JSON array page with `X-Total-Count` and `X-Result-Count`.
pub fn paginated(all: Vec<Value>, offset: usize, limit: usize) -> Response {
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(offset).take(limit).collect();
    let count = page.len();
    let mut response = Json(Value::Array(page)).into_response();
    let h = response.headers_mut();
    h.insert("X-Total-Count", HeaderValue::from(total));
    h.insert("X-Result-Count", HeaderValue::from(count));
    response
}

/// Parses a JSON request body: 400/21 when empty, 415/68 for a non-JSON content type,
/// 400/22 when it does not parse.
pub fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::missing_body());
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Err(ApiError::unsupported_media_type());
        }
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_body(format!("Body is not valid JSON: {e}")))
}

/// [`json_body`] that must be a JSON object: 400/29 (field `""`) otherwise.
pub fn object_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let body = json_body(headers, body)?;
    if !body.is_object() {
        let mut errs = SchemaErrors::default();
        errs.push("", "must be a JSON object");
        errs.into_result()?;
    }
    Ok(body)
}

/// The customer CUG in a `relatedParty` array (first entry with an id); 29 when absent,
/// 50 when not ours.
pub fn related_party_cug(body: &Value, errs: &mut SchemaErrors) -> Result<(), ApiError> {
    let id = body
        .get("relatedParty")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|p| str_at(p, "/role").is_none_or(|r| r.eq_ignore_ascii_case("customer")))
                .and_then(|p| str_at(p, "/id"))
        });
    match id {
        None => {
            errs.push("relatedParty", "a customer party with a CUG id is required");
            Ok(())
        }
        Some(id) => check_cug(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = QueryParams::parse(Some(
            "postcode=IP5%203RE&addressSource=ROBT&x&name=a+b&bad=%zz",
        ));
        assert_eq!(q.get("postcode"), Some("IP5 3RE"));
        assert_eq!(q.get("name"), Some("a b"));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("x"), None);
        assert_eq!(q.required("nope").unwrap_err().code, "27");
        let q = QueryParams::parse(Some("a=%4&b=%41&c=%C3%A9&d=%"));
        assert_eq!(
            [q.get("a"), q.get("b"), q.get("c"), q.get("d")],
            [Some("%4"), Some("A"), Some("é"), Some("%")]
        );
    }

    #[test]
    fn pages() {
        assert_eq!(QueryParams::parse(None).page().unwrap(), (0, 20));
        assert_eq!(
            QueryParams::parse(Some("offset=5&limit=500"))
                .page()
                .unwrap(),
            (5, 100)
        );
        assert_eq!(
            QueryParams::parse(Some("limit=0")).page().unwrap_err().code,
            "28"
        );
        assert_eq!(
            QueryParams::parse(Some("offset=-1"))
                .page()
                .unwrap_err()
                .code,
            "28"
        );
    }

    #[test]
    fn bodies() {
        let h = HeaderMap::new();
        assert_eq!(
            json_body(&h, &Bytes::from_static(b"  ")).unwrap_err().code,
            "21"
        );
        assert_eq!(
            json_body(&h, &Bytes::from_static(b"{x")).unwrap_err().code,
            "22"
        );
        assert!(json_body(&h, &Bytes::from_static(b"{}")).is_ok());
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            json_body(&h, &Bytes::from_static(b"{}")).unwrap_err().code,
            "68"
        );
    }
}
