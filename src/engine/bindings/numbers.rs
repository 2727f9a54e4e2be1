//! `numbers::` — ringfence new numbers for a qualified company, and list available numbers.

use rhai::plugin::*;

#[export_module]
pub mod numbers_module {
    use crate::api::numbers::{NumberScope, RingfenceRequest};
    use crate::engine::bindings::{arg, block_on, runtime, script_error, RhaiResult};
    use rhai::{Array, Dynamic, Map};
    use serde_json::Value;

    /// Numbers (new and ported) free to use, as `[#{number, kind, status, company_service_id}]`.
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
        let mut out = Array::new();
        let mut offset = 0u32;
        loop {
            let page = block_on(
                &ctx,
                &rt,
                "get available numbers",
                rt.client.available_numbers(&scope, offset, 100),
            )?;
            let items = page.body.as_array().cloned().unwrap_or_default();
            let n = items.len() as u32;
            for item in items {
                let s = |k: &str| {
                    item.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let mut m = Map::new();
                m.insert("number".into(), s("number").into());
                m.insert("kind".into(), s("type").into());
                m.insert("status".into(), s("status").into());
                m.insert("company_service_id".into(), s("companyServiceId").into());
                out.push(Dynamic::from_map(m));
            }
            offset += n;
            let total = page.total_count.unwrap_or(offset as u64);
            if n == 0 || offset as u64 >= total {
                break;
            }
        }
        Ok(out)
    }

    /// Ringfences a block of consecutive new numbers in an area for a qualified company
    /// (needs today's qualification). Returns `#{start, end, ringfence_id, status}`.
    ///
    /// ```rhai
    /// let block = numbers::ringfence(#{area_code: "0121", quantity: 1,
    ///                                  service_id: q.service_id, qualification_id: q.id});
    /// print(`${block.start}..${block.end} ${block.status}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ringfence(ctx: NativeCallContext, request: Map) -> RhaiResult<Map> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            area_code: String,
            #[serde(default = "one")]
            quantity: u32,
            service_id: String,
            qualification_id: String,
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
        let r = block_on(&ctx, &rt, "ringfence numbers", rt.client.ringfence(&req))?;
        let mut m = Map::new();
        m.insert("start".into(), r.start.into());
        m.insert("end".into(), r.end.into());
        m.insert("ringfence_id".into(), r.ringfence_id.into());
        m.insert("status".into(), r.status.into());
        Ok(m)
    }
}
