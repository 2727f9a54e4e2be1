//! Directory numbers: ringfence (reserve new or ported numbers for a company) and availability.

use super::client::BtClient;
use super::error::ApiError;
use super::operation::Operation;
use super::request::{Page, Request};
use serde_json::{json, Value};

/// What a ringfence asks for.
#[derive(Debug, Clone)]
pub struct RingfenceRequest {
    pub cug: String,
    /// Area code such as `0121`.
    pub area_code: String,
    pub quantity: u32,
    /// What the numbers are reserved against: the company's service id (from its qualification,
    /// or of a company that exists), or the service id of one of its sites or users.
    pub service_id: String,
    /// Needed only before an order has created the company.
    pub qualification_id: Option<String>,
}

/// A ringfenced block of consecutive numbers.
#[derive(Debug, Clone)]
pub struct Ringfence {
    pub start: String,
    pub end: String,
    pub ringfence_id: String,
    pub status: String,
}

/// Which numbers to list: by CUG, company or site.
#[derive(Debug, Clone)]
pub enum NumberScope {
    Cug(String),
    Company(String),
    Site(String),
}

impl BtClient {
    /// Ringfences `quantity` numbers in an area for a qualified company, or for a company that
    /// exists (or one of its sites or users).
    pub async fn numbers_ringfence(&self, r: &RingfenceRequest) -> Result<Ringfence, ApiError> {
        let mut body = json!({
            "customer": {"id": r.cug, "type": "BUSINESS"},
            "numbers": {"quantity": r.quantity, "characteristics": {"numberString": r.area_code}},
            "product": {"name": "WHC"},
            "action": "RingFence",
            "ringFenceId": r.service_id,
        });
        if let Some(q) = &r.qualification_id {
            body["qualifierId"] = json!(q);
        }
        let req = Request::post(
            Operation::NumbersRingfence,
            "/v1/resourceManagement/directoryNumbers/ringFence",
            body,
        );
        let v = self.send(req).await?.body;
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let start = s("/numberRange/startNumber");
        if start.is_empty() {
            return Err(ApiError::Decode {
                operation: Operation::NumbersRingfence.into(),
                detail: "no numberRange.startNumber in the answer".into(),
            });
        }
        Ok(Ringfence {
            end: Some(s("/numberRange/endNumber"))
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| start.clone()),
            start,
            ringfence_id: s("/ringFenceId"),
            status: s("/status"),
        })
    }

    /// Numbers (new and ported) free to use in a scope, one page.
    pub async fn numbers_available(
        &self,
        scope: &NumberScope,
        offset: u32,
        limit: u32,
    ) -> Result<Page, ApiError> {
        let (key, value) = match scope {
            NumberScope::Cug(v) => ("cugId", v),
            NumberScope::Company(v) => ("companyServiceId", v),
            NumberScope::Site(v) => ("siteServiceId", v),
        };
        let req = Request::get(
            Operation::NumbersAvailable,
            "/v1/resourceManagement/directoryNumbers",
        )
        .query(key, value.clone())
        .query("offset", offset.to_string())
        .query("limit", limit.to_string());
        self.send(req).await
    }

    /// Every number available in a scope, all pages.
    pub async fn numbers_all_available(&self, scope: &NumberScope) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        loop {
            let page = self.numbers_available(scope, out.len() as u32, 100).await?;
            let items = match page.body {
                Value::Array(items) => items,
                _ => Vec::new(),
            };
            let n = items.len();
            out.extend(items);
            let total = page.total_count.unwrap_or(out.len() as u64);
            if n == 0 || out.len() as u64 >= total {
                return Ok(out);
            }
        }
    }
}
