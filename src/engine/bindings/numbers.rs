//! `numbers::` — ringfence new numbers for a qualified company, and list available numbers.

use rhai::plugin::*;

#[export_module]
pub mod numbers_module {
    use crate::api::numbers::{NumberScope, RingfenceRequest};
    use crate::api::Operation;
    use crate::engine::bindings::{
        arg, block_on, ledgered, read, runtime, script_error, RhaiResult,
    };
    use crate::engine::convert::to_dynamic;
    use rhai::{Array, Dynamic, Map};
    use serde_json::{json, Value};

    /// Numbers (new and ported) free to use, as `[#{number, kind, status, company_service_id,
    /// site_service_id, user_service_id}]` (the site and user it was placed at or reserved against,
    /// `()` when none).
    /// Give exactly one of `cug`, `company_service_id` or `site_service_id`; with none, the profile's CUG.
    ///
    /// ```rhai
    /// for n in numbers::available(#{company_service_id: q.service_id}) { print(n.number); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn available(ctx: NativeCallContext, scope: Map) -> RhaiResult<Array> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            cug: Option<String>,
            company_service_id: Option<String>,
            site_service_id: Option<String>,
        }
        let a: Args = arg(&ctx, "numbers::available", scope)?;
        let rt = runtime(&ctx)?;
        let scope =
            match (a.cug, a.company_service_id, a.site_service_id) {
                (c, None, None) => NumberScope::Cug(c.unwrap_or_else(|| rt.cug.clone())),
                (None, Some(c), None) => NumberScope::Company(c),
                (None, None, Some(s)) => NumberScope::Site(s),
                _ => return Err(script_error(
                    &ctx,
                    "numbers::available: give one of cug, company_service_id or site_service_id",
                )),
            };
        let request = json!({"scope": format!("{scope:?}")});
        let found = read(&ctx, &rt, Operation::NumbersAvailable, request, async {
            let items = rt.client.numbers_all_available(&scope).await?;
            let s = |item: &Value, k: &str| item.get(k).cloned().unwrap_or(Value::Null);
            Ok(Value::Array(
                items
                    .iter()
                    .map(|i| {
                        json!({"number": s(i, "number"), "kind": s(i, "type"), "status": s(i, "status"),
                               "company_service_id": s(i, "companyServiceId"),
                               "site_service_id": s(i, "siteServiceId"),
                               "user_service_id": s(i, "userServiceId")})
                    })
                    .collect(),
            ))
        })?;
        Ok(to_dynamic(&found).try_cast::<Array>().unwrap_or_default())
    }

    /// Ringfences a block of consecutive new numbers in an area (or a place: `"Leeds"`).
    /// Before its company is ordered, `service_id` is the qualification's and `qualification_id`
    /// today's qualification; for a company that exists, `service_id` alone: the company's, or
    /// one of its sites' or users' to reserve the numbers against it (they then list under that
    /// site in `numbers::available`). Returns `#{start, end, ringfence_id, status}`.
    ///
    /// ```rhai
    /// let block = numbers::ringfence(#{area_code: "0121", quantity: 1,
    ///                                  service_id: q.service_id, qualification_id: q.id});
    /// print(`${block.start}..${block.end} ${block.status}`);
    /// let more = numbers::ringfence(#{area_code: "Leeds", quantity: 2, service_id: "WHHCBTWKN1001"});
    /// print(`${more.start}..${more.end} reserved against the Acme HQ site`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ringfence(ctx: NativeCallContext, request: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            area_code: String,
            #[serde(default = "one")]
            quantity: u32,
            service_id: String,
            #[serde(default)]
            qualification_id: Option<String>,
        }
        fn one() -> u32 {
            1
        }
        let a: Args = arg(&ctx, "numbers::ringfence", request)?;
        let rt = runtime(&ctx)?;
        let req = RingfenceRequest {
            cug: rt.cug.clone(),
            area_code: a.area_code,
            quantity: a.quantity,
            service_id: a.service_id,
            qualification_id: a.qualification_id,
        };
        ledgered(
            &ctx,
            &rt,
            Operation::NumbersRingfence,
            |_| {
                json!({"area_code": req.area_code, "quantity": req.quantity,
                        "service_id": req.service_id, "qualification_id": req.qualification_id})
            },
            |_| {
                let r = block_on(
                    &ctx,
                    &rt,
                    Operation::NumbersRingfence,
                    rt.client.numbers_ringfence(&req),
                )?;
                Ok(
                    json!({"start": r.start, "end": r.end, "ringfence_id": r.ringfence_id, "status": r.status}),
                )
            },
            // Whether an interrupted ringfence took effect shows in numbers::available; BT has no
            // lookup by request, so it is sent again (at worst a spare block stays ringfenced).
            |_| Ok(None),
        )
    }
}
