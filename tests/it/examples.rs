//! Every ```rhai example in the bindings' doc comments (what `:help` and `btw defs` show) compiles,
//! and runs against a test sandbox: `:help` never shows an example that fails.
//!
//! An example may use the state a reader would have at that point in a journey (`q`, `addr`,
//! `block`, `o`, `p`, …); the setups below make that state, real, before the example runs.

use crate::common::{context, repo, sandbox};
use btw::engine::{build_engine, Cancel, EngineOptions, VecOutput};
use btw::repl::help::Docs;
use btw::runner::{self, Script};
use btw::store::Store;
use serde_json::Map;
use std::sync::Arc;

/// State an example may use, by the name it uses, per module (`q` is a qualification in `whc`
/// and a quote in `ethernet`). Each setup may rely on the ones before it.
const WHC_SETUP: &[(&str, &str)] = &[
    (
        "q",
        r#"let q = whc::qualify_company(#{name: name, domain: domain});"#,
    ),
    (
        "block",
        r#"let block = numbers::ringfence(#{area_code: "0121", quantity: 1, service_id: q.service_id, qualification_id: q.id});"#,
    ),
    ("addr", r#"let addr = address::search("IP5 3RE")[0];"#),
    (
        "o",
        r#"let o = order::create(#{
               company: #{name: name, domain: domain, group: whc::reseller().customer_groups[0],
                          service_id: q.service_id, qualification_id: q.id},
               sites: [#{name: `${name} HQ`, nad_key: addr.id, location_code: j::location_code(name)}],
               numbers: [#{start: block.start, end: block.end}],
               users: [#{first_name: "Ada", last_name: "Lovelace", username: `ada@${domain}`,
                         extension: "2001", number: block.start}]});"#,
    ),
    (
        "svc",
        r#"order::submit(o.id);
           order::wait(o.id, "completed", 60);
           let svc = q.service_id;"#,
    ),
    (
        "p",
        r#"let number = j::fresh_number();
           let p = port::import_order(#{kind: "single", numbers: [number], postcode: "NE1 4ST",
               port_date: port::earliest_date(#{kind: "single", numbers: [number]})});"#,
    ),
];

const ETHERNET_SETUP: &[(&str, &str)] = &[
    (
        "q",
        r#"let q = ethernet::quote(#{product: "EtherwayFibre", bandwidth: 1000, term: 36, a_end: "IP5 3RE", b_end: "B1 2HF"});"#,
    ),
    ("slots", r#"let slots = ethernet::slots("IP5 3RE");"#),
    (
        "appt",
        // Slots taken by earlier examples are skipped.
        r#"let appt = ();
           for s in ethernet::slots("IP5 3RE") {
               try { appt = ethernet::book(#{place: "IP5 3RE", slot: s.id}); break; } catch {}
           }"#,
    ),
    (
        "o",
        r#"let o = ethernet::order(#{quote_id: ethernet::quote(#{product: "EtherwayFibre", bandwidth: 1000,
               term: 36, a_end: "IP5 3RE", b_end: "B1 2HF"}).id});"#,
    ),
    (
        "service_id",
        r#"let live = ethernet::order(#{quote_id: ethernet::quote(#{product: "EtherwayFibre", bandwidth: 1000,
               term: 36, a_end: "IP5 3RE", b_end: "B1 2HF"}).id,
               site_contact: #{name: "Ann Other", phone: "07700900123"}});
           let service_id = order::wait(live.id, "completed", 60).product_order_item[0].product.id;"#,
    ),
];

/// Whether `code` uses the variable `name` (as a whole word, not a map key or part of a name).
fn uses(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after) && after != Some(':')
    })
}

/// The example with the setups it needs in front.
fn with_setup(module: &str, example: &str) -> String {
    let setups = if module == "ethernet" {
        ETHERNET_SETUP
    } else {
        WHC_SETUP
    };
    let mut code = String::from(
        "import \"journey\" as j;\nlet name = j::fresh_name(\"Example Co\");\nlet domain = j::domain_for(name, \".co.uk\");\n",
    );
    // A setup needed by a later one that comes along comes along too (from the last one back).
    let mut needed = vec![false; setups.len()];
    for i in (0..setups.len()).rev() {
        let var = setups[i].0;
        needed[i] = (uses(example, var) && !example.contains(&format!("let {var} ")))
            || (i + 1..setups.len()).any(|j| needed[j] && uses(setups[j].1, var));
    }
    for (i, (_, body)) in setups.iter().enumerate() {
        if needed[i] {
            code.push_str(body);
            code.push('\n');
        }
    }
    code.push_str(example);
    code
}

#[tokio::test(flavor = "multi_thread")]
async fn every_binding_example_compiles_and_runs() {
    let engine = build_engine(
        &EngineOptions::default(),
        Arc::new(VecOutput::default()),
        Cancel::default(),
    );
    let docs = Docs::from_engine(&engine);
    let examples: Vec<(String, String, String)> = docs
        .fns
        .iter()
        .filter(|f| !f.module.is_empty())
        .filter_map(|f| {
            let ex = f.example.clone()?;
            Some((f.qualified(), f.module.clone(), ex))
        })
        .collect();
    assert!(
        examples.len() > 40,
        "only {} examples found",
        examples.len()
    );
    let sb = sandbox().await;
    let mut failures = Vec::new();
    for (name, module, example) in &examples {
        let code = with_setup(module, example);
        if let Err(e) = engine.compile(&code) {
            failures.push(format!("{name}: does not compile: {e}\n{example}"));
            continue;
        }
        let (mut ctx, out) = context(crate::common::client(&sb.base_url()));
        ctx.store = Some(Store::in_memory());
        let mut script = Script::inline(&format!("{name} example"), &code);
        script.dir = Some(repo().join("scripts"));
        let outcome = runner::run(ctx, script, Map::new()).await;
        if let Err(f) = outcome.result {
            failures.push(format!(
                "{name}: {}\n{example}\n{:#?}",
                f.render(),
                out.take()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples fail:\n\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n\n")
    );
}

#[test]
fn setups_are_found_by_whole_word() {
    assert!(uses("order::get(o.id)", "o"));
    assert!(!uses("#{o: 1}", "o"));
    assert!(!uses("order::submit(x)", "o"));
    assert!(uses("port::amend(p.id, #{})", "p"));
}
