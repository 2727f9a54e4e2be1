//! The real `btw` binary: exit codes, `--json`, `check`, and `btw sandbox` answering the user guide's calls.

use crate::common::*;
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn run_json_ends_with_the_order_and_its_state() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let o =
        output(btw(&sb.base_url(), dir.path()).args(["run", "scripts/whc_provide.rhai", "--json"]))
            .await;
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    let last = o.stdout.lines().last().expect("some stdout");
    let v: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(v["state"], "completed");
    assert!(v["order_id"].as_str().unwrap().starts_with("BTWKN"));
    assert_eq!(v["ok"], true);
    // The steps went to stderr, keeping stdout to the one JSON object.
    assert!(o.stderr.contains("[7/7] submit order"), "{}", o.stderr);
    assert_eq!(o.stdout.lines().count(), 1, "{}", o.stdout);

    // The same name again stops at verify, with a clear message and exit code 3.
    let name = v["company_name"].as_str().unwrap();
    let again = output(btw(&sb.base_url(), dir.path()).args([
        "run",
        "scripts/whc_provide.rhai",
        "--param",
        &format!("company_name={name}"),
    ]))
    .await;
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert!(
        again.stderr.contains("is already in use"),
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains("[3/7]"));
}

#[tokio::test]
async fn human_output_prints_each_step_and_the_result() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let o = output(btw(&sb.base_url(), dir.path()).args(["run", "scripts/whc_provide.rhai"])).await;
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    for step in [
        "[1/7] authorisation token",
        "[2/7] verify",
        "[3/7] qualify",
        "[4/7] ringfence",
        "[5/7] find address",
        "[6/7] create order",
        "[7/7] submit order",
    ] {
        assert!(o.stdout.contains(step), "missing {step:?} in {}", o.stdout);
    }
    assert!(
        o.stdout.contains("\"state\": \"completed\""),
        "{}",
        o.stdout
    );
}

#[tokio::test]
async fn check_shows_file_line_column_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.rhai");
    std::fs::write(&bad, "let a = 1;\nlet b = (a + ;\nprint(b);\n").unwrap();
    let o = output(btw(&closed_port_url(), dir.path()).arg("check").arg(&bad)).await;
    assert_eq!(o.code, 3);
    let expected = format!("{}:2:", bad.display());
    assert!(o.stderr.contains(&expected), "{}", o.stderr);
    assert!(o.stderr.contains("let b = (a + ;"), "{}", o.stderr);
    assert!(o.stderr.contains('^'), "{}", o.stderr);
}

#[tokio::test]
async fn every_shipped_recipe_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = btw(&closed_port_url(), dir.path());
    cmd.arg("check");
    for entry in std::fs::read_dir(repo().join("scripts")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "rhai") {
            cmd.arg(p);
        }
    }
    let o = output(&mut cmd).await;
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let o = output(btw(&closed_port_url(), dir.path()).args(["run", "--bogus"])).await;
    assert_eq!(o.code, 2);
    let o = output(btw(&closed_port_url(), dir.path()).args([
        "run",
        "scripts/whc_provide.rhai",
        "--param",
        "novalue",
    ]))
    .await;
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("expected key=value"), "{}", o.stderr);
    let o = output(btw(&closed_port_url(), dir.path()).args(["run", "no/such/file.rhai"])).await;
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("cannot read no/such/file.rhai"),
        "{}",
        o.stderr
    );
}

#[test]
fn output_closed_by_its_reader_ends_quietly_like_other_tools() {
    // `btw … | head`: the pipe's read end is gone before btw writes a byte.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_btw"))
        .args(["completions", "bash"])
        // Only what btw says of its own: a diagnostic log asked for in the environment is not.
        .env_remove("BTW_LOG")
        .env_remove("RUST_LOG")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(141), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[tokio::test]
async fn unreachable_bt_exits_5() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("one.rhai");
    std::fs::write(&script, "whc::reseller()").unwrap();
    // A port nothing listens on: connection refused.
    let o = output(
        btw(&closed_port_url(), dir.path())
            .arg("run")
            .arg(&script)
            .env("BTW_CALL_TIMEOUT_SECS", "2"),
    )
    .await;
    assert_eq!(o.code, 5, "{}", o.stderr);
    assert!(o.stderr.contains("could not reach BT"), "{}", o.stderr);
}

/// `btw sandbox` answers the WHC Provide Order User Guide's calls with the documented shapes.
#[tokio::test]
async fn standalone_sandbox_answers_the_user_guide() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = btw("http://unused", dir.path())
        .args(["sandbox", "--port", "0", "--memory"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first.rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let http = reqwest::Client::new();

    // Step 1: token, GET with Basic auth.
    let r = http
        .get(format!(
            "{url}/oauth/accesstoken?grant_type=client_credentials"
        ))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .basic_auth("lAxJaQec8B38W1gqj2V0yG1Pb0OSijAq", Some("SW87Uz64Y1xatnGJ"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["tokenType"], "BearerToken");
    assert_eq!(t["expiresIn"], 899);
    let token = t["accessToken"].as_str().unwrap().to_string();
    let call = |m: reqwest::Method, path: &str| {
        http.request(m, format!("{url}{path}"))
            .header(
                "APIGW-Tracking-Header",
                "3dd57ffe-f884-4f85-ae5c-7f2b4f596ee0",
            )
            .bearer_auth(&token)
    };

    // Step 2: verify, 404 No data found.
    let r = call(reqwest::Method::GET, &format!("/bt-wholesale/v1/whc/resourceInventory/resellers/{CUG}/company?companyName=TheFunNetwork")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"code": "404", "message": "No data found"})
    );

    // Step 3: qualification, 201.
    let r = call(
        reqwest::Method::POST,
        "/bt-wholesale/v1/whc/productOfferingQualification",
    )
    .json(&json!({
        "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
        "billingAccount": {"id": BILLING},
        "productOfferingQualificationItem": [{"id": "1", "productOffering": {"id": "WHCCompany"},
            "product": {"productCharacteristic": [
                {"name": "customerName", "value": "TheFunNetwork"},
                {"name": "customerDomain", "value": "TheFunNetwork.com"},
                {"name": "customerGroup", "value": "SWAINsTelecom"}]}}]
    }))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let q: Value = r.json().await.unwrap();
    let qid = q["id"].as_str().unwrap().to_string();
    assert!(qid.starts_with("QFW"));
    let item = &q["productOfferingQualificationItem"][0];
    assert_eq!(item["qualificationItemResult"], "Qualified");
    let service_id = item["product"]["serviceId"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(service_id.starts_with("WHHC"));
    assert_eq!(q["relatedParty"][0]["@referredType"], "BtCug");

    // Step 4: ringfence, 201.
    let r = call(
        reqwest::Method::POST,
        "/v1/resourceManagement/directoryNumbers/ringFence",
    )
    .json(&json!({"customer": {"id": CUG, "type": "BUSINESS"},
            "numbers": {"quantity": 1, "characteristics": {"numberString": "0121"}},
            "product": {"name": "WHC"}, "action": "RingFence",
            "ringFenceId": service_id, "qualifierId": qid}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let rf: Value = r.json().await.unwrap();
    assert_eq!(rf["status"], "RINGFENCED");
    let number = rf["numberRange"]["startNumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(number.starts_with("0121"));

    // Step 5: address search.
    let r = call(reqwest::Method::GET, "/common/geographicAddressManagement/v1/geographicAddress?postcode=IP5%203RE&addressSource=ROBT").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let addrs: Value = r.json().await.unwrap();
    let nad = addrs[0]["id"].as_str().unwrap().to_string();

    // Step 6: create order, 201.
    let r = call(reqwest::Method::POST, "/bt-wholesale/v1/order/productOrder")
        .json(&json!({"externalId": "guide-1",
            "relatedParty": [{"id": CUG, "role": "customer", "@referredType": "BtCug"}],
            "billingAccount": {"id": BILLING},
            "productOrderItem": [
                {"id": "1", "action": "add", "productOffering": {"id": "WHCCompany"}, "product": {"productCharacteristic": [
                    {"name": "customerName", "value": "TheFunNetwork"}, {"name": "customerDomain", "value": "TheFunNetwork.com"},
                    {"name": "customerGroup", "value": "SWAINsTelecom"}, {"name": "serviceId", "value": service_id},
                    {"name": "qualifierId", "value": qid}]}},
                {"id": "2", "action": "add", "productOffering": {"id": "WHCSite"},
                 "relatedPlace": [{"id": nad, "role": "installationAddress", "@referredType": "GeographicAddress"}],
                 "product": {"productCharacteristic": [{"name": "siteName", "value": "Fun HQ"}, {"name": "siteLocationCode", "value": "FUNHQ1"}]}},
                {"id": "3", "action": "add", "productOffering": {"id": "WHCNumberBlock"}, "product": {"productCharacteristic": [
                    {"name": "startNumber", "value": number}, {"name": "endNumber", "value": number}]}},
                {"id": "4", "action": "add", "productOffering": {"id": "WHCUser"}, "product": {"productCharacteristic": [
                    {"name": "firstName", "value": "Jennifer"}, {"name": "lastName", "value": "F"},
                    {"name": "username", "value": "jf@TheFunNetwork.com"}, {"name": "directoryNumber", "value": number}]}}
            ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["@referredType"], "ProductOrder");
    let order_id = created["id"].as_str().unwrap().to_string();

    // Step 7: submit, 201.
    let r = call(
        reqwest::Method::POST,
        "/bt-wholesale/v1/order/submit-product-order",
    )
    .json(&json!({"productOrder": {"id": order_id, "@referredType": "ProductOrder"}}))
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let submitted: Value = r.json().await.unwrap();
    assert_eq!(
        submitted,
        json!({"id": order_id, "productOrder": {"id": order_id, "@referredType": "ProductOrder"}})
    );
    child.kill().await.unwrap();
}
