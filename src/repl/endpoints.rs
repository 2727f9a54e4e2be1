//! Which BT endpoint each typed function calls, for `:help` (so a request can be tried or
//! changed by hand with `bt::get`/`bt::post`). `{cug}`, `{id}` and the like are filled in from
//! the arguments; a test checks every path here is one the client really uses.

/// (function, "METHOD path"), several endpoints separated by `; `.
const ENDPOINTS: &[(&str, &str)] = &[
    (
        "whc::reseller",
        "GET /bt-wholesale/v1/whc/resourceInventory/resellers/{cug}",
    ),
    (
        "whc::company",
        "GET /bt-wholesale/v1/whc/resourceInventory/resellers/{cug}/company?companyName={name}",
    ),
    (
        "whc::in_use",
        "GET /bt-wholesale/v1/whc/resourceInventory/resellers/{cug}/{kind}?value={value}",
    ),
    (
        "whc::qualify_company",
        "POST /bt-wholesale/v1/whc/productOfferingQualification",
    ),
    (
        "whc::inventory",
        "GET /bt-wholesale/v1/whc/productInventory/product?companyServiceId={id}",
    ),
    (
        "numbers::available",
        "GET /v1/resourceManagement/directoryNumbers",
    ),
    (
        "numbers::ringfence",
        "POST /v1/resourceManagement/directoryNumbers/ringFence",
    ),
    (
        "address::search",
        "GET /common/geographicAddressManagement/v1/geographicAddress?postcode={postcode}",
    ),
    (
        "address::create",
        "POST /common/geographicAddressManagement/v1/geographicAddress",
    ),
    ("order::create", "POST /bt-wholesale/v1/order/productOrder"),
    (
        "order::submit",
        "POST /bt-wholesale/v1/order/submit-product-order",
    ),
    ("order::get", "GET /bt-wholesale/v1/order/productOrder/{id}"),
    (
        "order::list",
        "GET /bt-wholesale/v1/order/productOrder?offset=&limit=",
    ),
    (
        "order::cancel",
        "POST /bt-wholesale/v1/order/cancelProductOrder",
    ),
    (
        "order::wait",
        "GET /bt-wholesale/v1/order/productOrder/{id} (polled; notifications when listening)",
    ),
    ("port::check", "GET /bt-wholesale/v1/whc/numberPortability"),
    (
        "port::earliest_date",
        "GET /bt-wholesale/v1/order/numberImportOrder/earliestPortDate?importType={kind}",
    ),
    (
        "port::import_order",
        "POST /bt-wholesale/v1/order/numberImportOrder",
    ),
    (
        "port::get",
        "GET /bt-wholesale/v1/order/numberImportOrder/{id}",
    ),
    (
        "port::list",
        "GET /bt-wholesale/v1/order/numberImportOrder?offset=&limit=",
    ),
    (
        "port::amend",
        "PATCH /bt-wholesale/v1/order/numberImportOrder/{id}",
    ),
    (
        "port::cancel",
        "POST /bt-wholesale/v1/order/numberImportOrder/{id}/cancel",
    ),
    (
        "port::allocate",
        "POST /v1/resourceManagement/directoryNumbers/ringFence",
    ),
    ("port::activate", "POST /bt-wholesale/v1/order/activatePort"),
    ("ethernet::quote", "POST /tmf-api/quoteManagement/v4/quote"),
    (
        "ethernet::get_quote",
        "GET /tmf-api/quoteManagement/v4/quote/{id}",
    ),
    (
        "ethernet::qualify",
        "POST /tmf-api/productOfferingQualificationManagement/v4/productOfferingQualification",
    ),
    (
        "ethernet::slots",
        "POST /common/appointmentManagement/v4/searchTimeSlot",
    ),
    (
        "ethernet::book",
        "POST /common/appointmentManagement/v4/appointment",
    ),
    (
        "ethernet::cancel_appointment",
        "PATCH /common/appointmentManagement/v4/appointment/{id}",
    ),
    (
        "ethernet::reschedule",
        "PATCH /common/appointmentManagement/v4/appointment/{id}",
    ),
    (
        "ethernet::order",
        "POST /tmf-api/productOrderingManagement/v4/productOrder",
    ),
    (
        "ethernet::modify",
        "POST /tmf-api/productOrderingManagement/v4/productOrder",
    ),
    (
        "ethernet::cease",
        "POST /tmf-api/productOrderingManagement/v4/productOrder",
    ),
    (
        "ethernet::get",
        "GET /tmf-api/productOrderingManagement/v4/productOrder/{id}",
    ),
    (
        "ethernet::track",
        "GET /tmf-api/productOrderingManagement/v4/productOrder",
    ),
    (
        "ethernet::amend",
        "PATCH /tmf-api/productOrderingManagement/v4/productOrder/{id}",
    ),
    (
        "ethernet::cancel",
        "POST /tmf-api/productOrderingManagement/v4/cancelProductOrder",
    ),
    (
        "ethernet::service",
        "GET /tmf-api/productInventory/v4/product/{id}",
    ),
];

/// The endpoint a function calls: `GET /bt-wholesale/…`.
pub fn endpoint(qualified: &str) -> Option<&'static str> {
    ENDPOINTS
        .iter()
        .find(|(f, _)| *f == qualified)
        .map(|(_, e)| *e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path's fixed part appears in the client's source, so the table cannot drift far.
    #[test]
    fn every_path_is_one_the_client_uses() {
        let mut source = String::new();
        for dir in ["src/api", "src/api/ethernet"] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let p = entry.unwrap().path();
                if p.extension().is_some_and(|e| e == "rs") {
                    source.push_str(&std::fs::read_to_string(p).unwrap());
                }
            }
        }
        for (f, e) in ENDPOINTS {
            let path = e.split_whitespace().nth(1).unwrap();
            let fixed = path.split(['{', '?']).next().unwrap().trim_end_matches('/');
            let last = fixed.rsplit('/').next().unwrap();
            assert!(
                source.contains(&format!("/{last}")) || source.contains(&format!("\"{last}")),
                "{f}: {fixed} not found in the client"
            );
        }
        assert_eq!(endpoint("whc::company").map(|e| &e[..4]), Some("GET "));
    }
}
