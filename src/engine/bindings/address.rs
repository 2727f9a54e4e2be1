//! `address::` — find an address's NAD key by postcode, or create a temporary one.

use crate::api::address::AddressQuery;
use crate::api::Operation;
use crate::engine::bindings::{read, runtime, snake, RhaiResult};
use rhai::plugin::*;
use rhai::Array;
use serde_json::{json, Value};

fn search_with(ctx: &NativeCallContext, q: AddressQuery) -> RhaiResult<Array> {
    let rt = runtime(ctx)?;
    let request = json!({"postcode": q.postcode, "source": q.source, "building": q.building, "street_nr": q.street_nr});
    let found = read(ctx, &rt, Operation::AddressSearch, request, async {
        Ok(Value::Array(rt.client.address_search(&q).await?))
    })?;
    Ok(match found {
        Value::Array(items) => items.into_iter().map(snake).collect(),
        _ => Array::new(),
    })
}

#[export_module]
pub mod address_module {
    use super::search_with;
    use crate::api::address::AddressQuery;
    use crate::api::Operation;
    use crate::engine::bindings::{arg, block_on, ledgered, runtime, RhaiResult};
    use rhai::{Array, Map};
    use serde_json::{Map as JsonMap, Value};

    /// Addresses at a postcode (RoBT), each `#{id, building_name, street_nr, street_name, city,
    /// postcode, best_address_line1, …}`; `id` is the NAD key an order needs. Empty when none.
    ///
    /// ```rhai
    /// let a = address::search("IP5 3RE");
    /// print(`${a.len()} addresses; first NAD key ${a[0].id}`);
    /// ```
    #[rhai_fn(name = "search", return_raw)]
    pub fn search_postcode(ctx: NativeCallContext, postcode: &str) -> RhaiResult<Array> {
        search_with(
            &ctx,
            AddressQuery {
                postcode: postcode.to_string(),
                ..Default::default()
            },
        )
    }

    /// Address search with options: `#{postcode, source: "ROBT"|"Openreach", building, street_nr}`.
    ///
    /// ```rhai
    /// let a = address::search(#{postcode: "IP5 3RE", source: "Openreach"});
    /// ```
    #[rhai_fn(name = "search", return_raw)]
    pub fn search_query(ctx: NativeCallContext, query: Map) -> RhaiResult<Array> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            postcode: String,
            source: Option<String>,
            building: Option<String>,
            street_nr: Option<String>,
        }
        let a: Args = arg(&ctx, "address::search", query)?;
        search_with(
            &ctx,
            AddressQuery {
                postcode: a.postcode,
                source: a.source,
                building: a.building,
                street_nr: a.street_nr,
            },
        )
    }

    /// Creates a temporary address when the postcode search has not got yours; returns `#{id}`
    /// (a temporary NAD key). `postcode`, `city` and `country` are required.
    ///
    /// ```rhai
    /// let a = address::create(#{building: "Unit 4", street: "Mill Lane", city: "Leeds",
    ///                           postcode: "LS1 4AP", country: "United Kingdom"});
    /// print(a.id);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn create(ctx: NativeCallContext, fields: Map) -> RhaiResult<rhai::Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            building: Option<String>,
            street_nr: Option<String>,
            street: Option<String>,
            locality: Option<String>,
            city: Option<String>,
            county: Option<String>,
            postcode: Option<String>,
            country: Option<String>,
        }
        let a: Args = arg(&ctx, "address::create", fields)?;
        let mut body = JsonMap::new();
        for (k, v) in [
            ("buildingName", a.building),
            ("streetNr", a.street_nr),
            ("streetName", a.street),
            ("locality", a.locality),
            ("city", a.city),
            ("county", a.county),
            ("postcode", a.postcode),
            ("country", a.country),
        ] {
            if let Some(v) = v {
                body.insert(k.into(), Value::String(v));
            }
        }
        let rt = runtime(&ctx)?;
        ledgered(
            &ctx,
            &rt,
            Operation::AddressCreate,
            |_| Value::Object(body.clone()),
            |_| {
                let id = block_on(
                    &ctx,
                    &rt,
                    Operation::AddressCreate,
                    rt.client.address_create(body.clone()),
                )?;
                Ok(serde_json::json!({"id": id}))
            },
            // A temporary address made twice is harmless: send again.
            |_| Ok(None),
        )
    }
}
