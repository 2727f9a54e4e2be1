//! Ethernet endpoints: quotes (TMF648), product qualification (TMF679), engineer appointments
//! (TMF646, GEA only), product orders (TMF622: place, modify, amend, cease, cancel, track) and the
//! product inventory of live services. Rules and records live in `world/ethernet/`;
//! the wire contract is CONTRACT.md's `## Ethernet` section.

mod appointment;
mod cancel;
mod common;
mod inventory;
mod order;
mod qualify;
mod quote;

use crate::state::SandboxState;
use appointment::{
    appointment_get, appointment_list, appointment_patch, book, search_get, search_slots,
};
use axum::routing::{get, post};
use axum::Router;
use cancel::{cancel_get, order_cancel};
use common::{APPOINTMENTS, INVENTORY, ORDERING, POQ, QUOTE};
use inventory::{product_get, product_list};
use order::{order_amend, order_create, order_get, order_list};
use qualify::{qualification_get, qualify};
use quote::{quote_create, quote_get, quote_list};

pub(crate) fn router() -> Router<SandboxState> {
    Router::new()
        .route(QUOTE, post(quote_create).get(quote_list))
        .route(&format!("{QUOTE}/{{id}}"), get(quote_get))
        .route(POQ, post(qualify))
        .route(&format!("{POQ}/{{id}}"), get(qualification_get))
        .route(
            &format!("{APPOINTMENTS}/searchTimeSlot"),
            post(search_slots),
        )
        .route(
            &format!("{APPOINTMENTS}/searchTimeSlot/{{id}}"),
            get(search_get),
        )
        .route(
            &format!("{APPOINTMENTS}/appointment"),
            post(book).get(appointment_list),
        )
        .route(
            &format!("{APPOINTMENTS}/appointment/{{id}}"),
            get(appointment_get).patch(appointment_patch),
        )
        .route(
            &format!("{ORDERING}/productOrder"),
            post(order_create).get(order_list),
        )
        .route(
            &format!("{ORDERING}/productOrder/{{id}}"),
            get(order_get).patch(order_amend),
        )
        .route(
            &format!("{ORDERING}/cancelProductOrder"),
            post(order_cancel),
        )
        .route(
            &format!("{ORDERING}/cancelProductOrder/{{id}}"),
            get(cancel_get),
        )
        .route(INVENTORY, get(product_list))
        .route(&format!("{INVENTORY}/{{id}}"), get(product_get))
}

#[cfg(test)]
mod tests {
    use super::common::place_req;
    use super::order::{has_site_contact, parse_order, OrderReq};
    use crate::error::SchemaErrors;
    use crate::world::ethernet::price_entry;
    use serde_json::json;

    #[test]
    fn money_and_prices() {
        let p = price_entry("recurring", "Rental", 50_625);
        assert_eq!(p["recurringChargePeriod"], "month");
        assert_eq!(
            p["price"]["dutyFreeAmount"],
            json!({"unit": "GBP", "value": 506.25})
        );
        assert_eq!(p["price"]["taxIncludedAmount"]["value"], 607.5);
        assert!(price_entry("nonRecurring", "Installation", 0)
            .get("recurringChargePeriod")
            .is_none());
    }

    #[test]
    fn site_contacts() {
        assert!(has_site_contact(
            &json!([{"role": "SiteContact", "name": "A"}])
        ));
        assert!(!has_site_contact(&json!([{"role": "customer"}])));
        assert!(!has_site_contact(&json!({"role": "siteContact"})));
    }

    #[test]
    fn order_bodies() {
        let e = parse_order(&json!({"productOrderItem": []})).err().unwrap();
        assert_eq!(e.code, "29");
        let e = parse_order(
            &json!({"productOrderItem": [{"action": "modify", "product": {"id": "ETH000001"}}]}),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.errors[0].field,
            "productOrderItem[0].product.productCharacteristic.bandwidth"
        );
        let ok = parse_order(&json!({"externalId": "x", "productOrderItem": [
            {"id": "7", "action": "delete", "product": {"id": "ETH000001"}}]}))
        .unwrap();
        assert_eq!(ok.item_id, "7");
        assert!(matches!(ok.req, OrderReq::Delete { ref service } if service == "ETH000001"));
        let e = parse_order(&json!({"externalId": 5, "productOrderItem": [
            {"action": "add", "quoteItem": {"quoteId": "EQT000001", "id": "1"}}]}))
        .err()
        .unwrap();
        assert_eq!(e.errors[0].field, "externalId");
    }

    #[test]
    fn places() {
        let mut errs = SchemaErrors::default();
        let p = place_req(
            Some(&json!({"postcode": "ip53re", "role": "aEnd"})),
            "p",
            &mut errs,
        )
        .unwrap();
        assert_eq!(p.postcode.as_deref(), Some("IP5 3RE"));
        assert!(place_req(Some(&json!({"role": "aEnd"})), "p", &mut errs).is_none());
        assert!(place_req(Some(&json!("IP5 3RE")), "p", &mut errs).is_none());
        assert_eq!(errs.0.len(), 2);
    }
}
