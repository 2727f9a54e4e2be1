//! `whc::` — verify data and company qualification (steps 2 and 3 of BT's provide journey), and
//! what a company holds afterwards.

use crate::api::Operation;
use rhai::plugin::*;

/// The reseller's own data (`whc::reseller`), read through the run's ledger.
fn reseller_data(
    ctx: &NativeCallContext,
    rt: &crate::engine::Runtime,
) -> crate::engine::bindings::RhaiResult<serde_json::Value> {
    crate::engine::bindings::read(
        ctx,
        rt,
        Operation::WhcReseller,
        serde_json::json!({}),
        rt.client.reseller(&rt.cug),
    )
}

/// The customer group a new company gets when the script names none: the reseller's first,
/// as `whc::qualify_company` and `order::create` both default it.
pub(super) fn default_group(
    ctx: &NativeCallContext,
    rt: &crate::engine::Runtime,
) -> crate::engine::bindings::RhaiResult<String> {
    let me = reseller_data(ctx, rt)?;
    Ok(me
        .get("customerGroups")
        .and_then(|g| g.get(0))
        .and_then(|g| g.as_str())
        .unwrap_or_default()
        .to_string())
}

#[export_module]
pub mod whc_module {
    use super::reseller_data;
    use crate::api::whc::QualifyRequest;
    use crate::api::Operation;
    use crate::engine::bindings::{arg, block_on, ledgered, read, runtime, snake, RhaiResult};
    use rhai::{Dynamic, Map};
    use serde_json::{json, Value};

    /// The reseller's own data: `#{reseller_id, sales_tag, products, customer_groups, billing_accounts, cug_id}`.
    ///
    /// ```rhai
    /// let me = whc::reseller();
    /// print(me.customer_groups);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn reseller(ctx: NativeCallContext) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        Ok(snake(reseller_data(&ctx, &rt)?))
    }

    /// Verify data for a company name: `()` when the name is free, the existing company's map when taken
    /// (an order using a taken name would fail).
    ///
    /// ```rhai
    /// let c = whc::company("The Fun Network");
    /// if c != () { throw `company name in use (service ${c.id})`; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn company(ctx: NativeCallContext, name: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let found = read(
            &ctx,
            &rt,
            Operation::WhcCompany,
            json!({"name": name}),
            async {
                Ok(rt
                    .client
                    .company(&rt.cug, name)
                    .await?
                    .unwrap_or(Value::Null))
            },
        )?;
        Ok(if found.is_null() {
            Dynamic::UNIT
        } else {
            snake(found)
        })
    }

    /// Whether a unique name is already taken at BT. `kind` is one of `"company_name"`,
    /// `"company_domain"`, `"site_name"`, `"site_location_code"`, `"device_name"`, `"trunk_name"`,
    /// `"username"`, `"extension"`, `"mac_address"`.
    ///
    /// ```rhai
    /// if whc::in_use("company_domain", "thefunnetwork.com") { throw "domain taken"; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn in_use(ctx: NativeCallContext, kind: &str, value: &str) -> RhaiResult<bool> {
        let rt = runtime(&ctx)?;
        let v = read(
            &ctx,
            &rt,
            Operation::WhcInUse,
            json!({"kind": kind, "value": value}),
            async { Ok(Value::Bool(rt.client.in_use(&rt.cug, kind, value).await?)) },
        )?;
        Ok(v.as_bool().unwrap_or(false))
    }

    /// What a company holds (TMF637 product inventory): `#{company, sites, users, devices, trunks,
    /// numbers}`.
    /// Each entry has `service_id`, `name`, `status` (`pendingActive`, `active`, `pendingTerminate`,
    /// `terminated`) and its details: a user's `username`, `extension`, `directory_number`,
    /// `licence`, `add_ons`, `device_name`, `site_service_id`; a device's `mac_address`,
    /// `device_model`, `user_service_id`; a trunk's `trunk_name`, `channels`, `site_service_id`; a
    /// number's `number_status` (`RINGFENCED`, `ASSIGNED`, `QUARANTINED`), `quarantine_until` and
    /// `reserved_for_site` / `reserved_for_user` when a ringfence reserved it against one. The service ids are what `order::create` items with
    /// `action: "modify"` or `"delete"` name.
    ///
    /// ```rhai
    /// let inv = whc::inventory(svc);
    /// for u in inv.users { print(`${u.username} ext ${u.extension} ${u.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn inventory(ctx: NativeCallContext, company_service_id: &str) -> RhaiResult<Dynamic> {
        let rt = runtime(&ctx)?;
        let v = read(
            &ctx,
            &rt,
            Operation::WhcInventory,
            json!({"company_service_id": company_service_id}),
            rt.client.inventory(company_service_id),
        )?;
        Ok(snake(v))
    }

    /// Validates and qualifies a company (name, domain, customer group), reserving them until
    /// 23:59 Europe/London today. Returns `#{id, service_id, result, expires, reasons}`;
    /// `result` is `"Qualified"` or `"Unqualified"` (then `reasons` says why).
    /// `group` defaults to the reseller's first customer group, `billing_account` to the profile's;
    /// `express: true` qualifies a WHC Express company (users only: no sites or number blocks).
    ///
    /// ```rhai
    /// let q = whc::qualify_company(#{name: "The Fun Network", domain: "thefunnetwork.com", group: "SWAINsTelecom"});
    /// if q.result != "Qualified" { throw `not qualified: ${q.reasons}`; }
    /// print(`qualification ${q.id}, service ${q.service_id}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn qualify_company(ctx: NativeCallContext, request: Map) -> RhaiResult<Dynamic> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Args {
            name: String,
            domain: String,
            #[serde(default)]
            group: Option<String>,
            #[serde(default)]
            billing_account: Option<String>,
            #[serde(default)]
            express: bool,
        }
        let a: Args = arg(&ctx, "whc::qualify_company", request)?;
        let rt = runtime(&ctx)?;
        let group = match a.group {
            Some(g) => g,
            None => {
                let me = reseller_data(&ctx, &rt)?;
                me.get("customerGroups")
                    .and_then(|g| g.get(0))
                    .and_then(|g| g.as_str())
                    .unwrap_or_default()
                    .to_string()
            }
        };
        let req = QualifyRequest {
            cug: rt.cug.clone(),
            billing_account: a
                .billing_account
                .unwrap_or_else(|| rt.billing_account.clone()),
            name: a.name,
            domain: a.domain,
            group,
            express: a.express,
        };
        ledgered(
            &ctx,
            &rt,
            Operation::WhcQualifyCompany,
            |_| {
                let mut v = json!({"name": req.name, "domain": req.domain, "group": req.group, "billing_account": req.billing_account});
                // Only Express requests carry the flag, so ledgers of earlier versions still match.
                if req.express {
                    v["express"] = json!(true);
                }
                v
            },
            |_| {
                let q = block_on(
                    &ctx,
                    &rt,
                    Operation::WhcQualifyCompany,
                    rt.client.qualify_company(&req),
                )?;
                Ok(json!({
                    "id": q.id,
                    "service_id": q.service_id,
                    "result": q.result,
                    "expires": q.expires,
                    "reasons": q.reasons,
                }))
            },
            // A repeated qualification only reserves the same name again until midnight: send it.
            |_| Ok(None),
        )
    }
}
