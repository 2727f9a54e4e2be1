//! Raw HTTP against the embedded sandbox, for the contract tests: a sandbox on port 0 with a
//! reqwest client and a bearer token, and replies read into status, headers and JSON body.

#![allow(dead_code)]

use btw_sandbox::{SandboxConfig, SandboxHandle};
use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

pub const BASIC: &str = "Basic a2V5OnNlY3JldA=="; // key:secret
pub const TOKEN: &str = "/oauth/accesstoken?grant_type=client_credentials";

pub struct Sb {
    pub handle: SandboxHandle,
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.s("code")
    }
    pub fn reason(&self) -> &str {
        self.s("reason")
    }
    pub fn message(&self) -> &str {
        self.s("message")
    }
    /// A string field of the body, `""` when absent.
    pub fn s(&self, key: &str) -> &str {
        self.body[key].as_str().unwrap_or("")
    }
    pub fn id(&self) -> String {
        self.s("id").to_string()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// Asserts a 400/22 business failure with `reason`.
    pub fn rejects(&self, reason: &str) {
        assert_eq!(self.status, 400, "{}", self.body);
        assert_eq!(self.code(), "22", "{}", self.body);
        assert_eq!(self.reason(), reason, "{}", self.body);
    }
}

/// Reads a whole response; an empty body is `Null`, any other must be JSON.
pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends a request and reads the whole reply.
pub async fn fetch(req: reqwest::RequestBuilder) -> Reply {
    reply(req.send().await.unwrap()).await
}

/// A sandbox with `config` on a free loopback port, already holding a token for key:secret.
/// An [`Sb`] whose clock stands still: only explicit advances move orders along.
pub async fn frozen_sandbox() -> Sb {
    sandbox_with(SandboxConfig {
        clock_speed: 0.0,
        ..SandboxConfig::default()
    })
    .await
}

/// The Ethernet resources' paths (TMF v4, as CONTRACT.md's Ethernet section gives them).
pub mod ethernet_paths {
    pub const QUOTE: &str = "/tmf-api/quoteManagement/v4/quote";
    /// TMF679 v4 throughout: the v4 resource name, not v5's `checkProductOfferingQualification`.
    pub const POQ: &str =
        "/tmf-api/productOfferingQualificationManagement/v4/productOfferingQualification";
    pub const SLOTS: &str = "/common/appointmentManagement/v4/searchTimeSlot";
    pub const APPOINTMENT: &str = "/common/appointmentManagement/v4/appointment";
    pub const ORDER: &str = "/tmf-api/productOrderingManagement/v4/productOrder";
    pub const CANCEL: &str = "/tmf-api/productOrderingManagement/v4/cancelProductOrder";
    pub const INVENTORY: &str = "/tmf-api/productInventory/v4/product";
    /// More than all the steps of an order (2 s apart).
    pub const ALL_STEPS: f64 = 30.0;
}

pub async fn sandbox_with(config: SandboxConfig) -> Sb {
    let handle = crate::common::sandbox_with(config).await;
    let base = handle.base_url();
    let mut sb = Sb {
        handle,
        http: reqwest::Client::new(),
        base,
        token: String::new(),
    };
    sb.refresh_token().await;
    sb
}

impl Sb {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with no credentials and no tracking header.
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// A request with the bearer token and a fresh tracking header.
    pub fn authed(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.raw(method, path)
            .header("APIGW-Tracking-Header", uuid::Uuid::new_v4().to_string())
            .bearer_auth(&self.token)
    }

    pub async fn refresh_token(&mut self) {
        let r = fetch(self.raw(Method::GET, TOKEN).header("Authorization", BASIC)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        self.token = r.body["accessToken"].as_str().unwrap().to_string();
    }

    /// An authorised call with a fresh tracking header.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.authed(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        fetch(req).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// A call with no credentials (the `/__sandbox` admin paths).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.raw(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        fetch(req).await
    }

    /// Advances the sandbox clock, then gets a new token (a big advance expires the old one).
    pub async fn advance(&mut self, secs: f64) {
        let r = self
            .admin(
                Method::POST,
                "/__sandbox/clock",
                Some(json!({ "advance_secs": secs })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        self.refresh_token().await;
    }
}
