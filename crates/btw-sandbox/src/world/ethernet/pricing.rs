//! Prices on the wire (TMF648 quote prices, TMF622 order item prices), and pricing an order
//! from the table, so that a modify or an amend carries the price of what it now asks for.

use super::availability::Place;
use super::catalogue::{distance_band, price, with_vat, Product};
use serde_json::{json, Value};

/// Pence as TMF `Money` in GBP.
pub fn money(pence: u64) -> Value {
    json!({"unit": "GBP", "value": pence as f64 / 100.0})
}

/// One price line: `nonRecurring` or `recurring` (monthly), before and after 20% VAT.
pub fn price_entry(kind: &str, name: &str, pence: u64) -> Value {
    let mut v = json!({"priceType": kind});
    if kind == "recurring" {
        v["recurringChargePeriod"] = json!("month");
    }
    v["name"] = json!(name);
    v["price"] = json!({
        "dutyFreeAmount": money(pence),
        "taxIncludedAmount": money(with_vat(pence)),
        "taxRate": 20,
    });
    v
}

/// The installation and monthly rental lines.
pub fn prices(install: u64, rental: u64) -> Value {
    json!([
        price_entry("nonRecurring", "Installation", install),
        price_entry("recurring", "Rental", rental),
    ])
}

/// `(install, rental)` in pence for `product` at `kbps` for `term` months between `places`
/// (their distance band); `None` when the table has no such row.
pub fn price_for(product: Product, places: &[Place], kbps: u32, term: u32) -> Option<(u64, u64)> {
    let postcodes: Vec<&str> = places.iter().map(|p| p.postcode.as_str()).collect();
    let p = price(product, kbps, distance_band(&postcodes), term)?;
    Some((p.install, p.rental))
}
