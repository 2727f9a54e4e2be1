//! What the Ethernet endpoints share: paths, bounds, and reading places, products, bandwidths,
//! timestamps and external ids out of request bodies.

use crate::error::{ApiError, SchemaErrors};
use crate::http::routes::address::normalise_postcode;
use crate::state::SandboxState;
use crate::wire::str_at;
use crate::world::ethernet::{format_bandwidth, parse_bandwidth, Place, Product};
use crate::world::World;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub(super) const QUOTE: &str = "/tmf-api/quoteManagement/v4/quote";
/// TMF679 v4's resource name, as BT's other v4 paths (CONTRACT.md: product qualification).
pub(super) const POQ: &str =
    "/tmf-api/productOfferingQualificationManagement/v4/productOfferingQualification";
pub(super) const APPOINTMENTS: &str = "/common/appointmentManagement/v4";
pub(super) const ORDERING: &str = "/tmf-api/productOrderingManagement/v4";
pub(super) const INVENTORY: &str = "/tmf-api/productInventory/v4/product";

/// Most quote items in one quote (a bound on work per request).
pub(super) const MAX_QUOTE_ITEMS: usize = 10;
/// Most slots one search answers with.
pub(super) const MAX_SLOTS: usize = 60;
/// Working days a search covers when no window (or no window end) is given.
pub(super) const SEARCH_DAYS: usize = 10;

/// A place as requested, before its NAD key is looked up.
pub(super) struct PlaceReq {
    pub(super) role: Option<String>,
    pub(super) id: Option<String>,
    pub(super) postcode: Option<String>,
}

pub(super) fn place_req(
    v: Option<&Value>,
    field: &str,
    errs: &mut SchemaErrors,
) -> Option<PlaceReq> {
    let Some(v) = v.filter(|v| v.is_object()) else {
        errs.push(
            field,
            "must be an object with an id (NAD key) or a postcode",
        );
        return None;
    };
    let postcode = match str_at(v, "/postcode") {
        None => None,
        Some(p) => match normalise_postcode(p) {
            Some(p) => Some(p),
            None => {
                errs.push(format!("{field}.postcode"), "is not a UK postcode");
                return None;
            }
        },
    };
    let id = str_at(v, "/id").map(str::to_string);
    if id.is_none() && postcode.is_none() {
        errs.push(field, "needs an id (NAD key) or a postcode");
        return None;
    }
    Some(PlaceReq {
        role: str_at(v, "/role").map(str::to_string),
        id,
        postcode,
    })
}

/// Looks the NAD key up (it wins over a postcode given alongside).
pub(super) fn resolve(w: &World, p: &PlaceReq) -> Result<Place, ApiError> {
    match &p.id {
        Some(id) => {
            let a = w.address(id).ok_or_else(|| {
                ApiError::business("UnknownNadKey", format!("No address with NAD key {id}"))
            })?;
            Ok(Place {
                role: p.role.clone(),
                id: Some(a.id.clone()),
                postcode: normalise_postcode(&a.postcode).unwrap_or_else(|| a.postcode.clone()),
            })
        }
        None => Ok(Place {
            role: p.role.clone(),
            id: None,
            postcode: p.postcode.clone().unwrap_or_default(),
        }),
    }
}

pub(super) fn unknown_product(code: &str) -> ApiError {
    ApiError::business(
        "UnknownProduct",
        format!(
            "{code} is not an Ethernet product (one of {})",
            Product::ALL.map(Product::code).join(", ")
        ),
    )
}

/// The bandwidth in kbit/s, if `product` offers it.
pub(super) fn bandwidth_for(product: Product, value: &str) -> Result<u32, ApiError> {
    parse_bandwidth(value)
        .filter(|k| product.allows(*k))
        .ok_or_else(|| {
            let offered: Vec<String> = product
                .bandwidths()
                .into_iter()
                .map(format_bandwidth)
                .collect();
            ApiError::business(
                "InvalidBandwidth",
                format!(
                    "{} offers {} Mbit/s, not {value}",
                    product.code(),
                    offered.join(", ")
                ),
            )
        })
}

pub(super) fn timestamp(
    v: &Value,
    pointer: &str,
    field: &str,
    errs: &mut SchemaErrors,
) -> Option<DateTime<Utc>> {
    let s = str_at(v, pointer)?;
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errs.push(field, "must be an RFC 3339 date-time");
            None
        }
    }
}

/// An optional top-level `externalId` string (other types are schema errors).
pub(super) fn external_id(body: &Value, errs: &mut SchemaErrors) -> Option<String> {
    match body.get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) if s.chars().count() <= 100 => Some(s.trim().to_string()),
        Some(_) => {
            errs.push("externalId", "must be a string of at most 100 characters");
            None
        }
    }
}

pub(super) fn step_secs(state: &SandboxState) -> f64 {
    state.config().order_step_secs
}

/// ETH Network is "provide only" (the product page): a modify, an amend or a cease of it is
/// refused with what it is.
pub(super) fn refuse_provide_only(product: Product, what: &str) -> Result<(), ApiError> {
    if product.provide_only() {
        return Err(ApiError::business(
            "ProvideOnly",
            format!(
                "{} is provide only: {what} is not available for it",
                product.name()
            ),
        ));
    }
    Ok(())
}
