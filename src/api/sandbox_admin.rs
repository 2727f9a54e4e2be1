//! The embedded sandbox's admin endpoints (`/__sandbox/…`): its clock and the callback registration.
//! Only used with the sandbox profile; BT itself has none of these.

use super::client::BtClient;
use super::error::ApiError;
use serde_json::{json, Value};

impl BtClient {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let op = "sandbox admin";
        let url = format!("{}/__sandbox/{path}", self.base_url());
        let mut req = self.http().request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| ApiError::Transport {
            operation: op.into(),
            url: url.clone(),
            detail: e.to_string(),
            maybe_sent: !e.is_connect(),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(ApiError::Bt(Box::new(super::BtError::from_body(
                op, status, &text,
            ))));
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            operation: op.into(),
            detail: e.to_string(),
        })
    }

    /// Where this client's clock is administered: its own run clock, or the shared clock.
    fn clock_path(&self) -> String {
        match self.clock() {
            Some(id) => format!("clocks/{id}"),
            None => "clock".to_string(),
        }
    }

    /// The time on this client's sandbox clock (its run clock, else the shared one), RFC 3339.
    pub async fn sandbox_now(&self) -> Result<String, ApiError> {
        let v = self
            .admin(reqwest::Method::GET, &self.clock_path(), None)
            .await?;
        clock_now(&v)
    }

    /// Moves this client's sandbox clock forward by `secs` (its run clock: nobody else's time
    /// moves; without one, the shared clock: an operator's action).
    pub async fn sandbox_advance(&self, secs: f64) -> Result<Value, ApiError> {
        self.admin(
            reqwest::Method::POST,
            &self.clock_path(),
            Some(json!({"advance_secs": secs})),
        )
        .await
    }

    /// Moves this client's run clock forward to `to` (never back); its time after, RFC 3339.
    pub async fn sandbox_advance_to(&self, to: &str) -> Result<String, ApiError> {
        let v = self
            .admin(
                reqwest::Method::POST,
                &self.clock_path(),
                Some(json!({"to": to})),
            )
            .await?;
        clock_now(&v)
    }

    /// The sandbox's clocks: the shared one and every live run clock, as it answers.
    pub async fn sandbox_clocks(&self) -> Result<Value, ApiError> {
        self.admin(reqwest::Method::GET, "clocks", None).await
    }

    /// Tells the sandbox where to POST order notifications, and with which credentials.
    pub async fn sandbox_register_callback(
        &self,
        url: &str,
        username: &str,
        password: &str,
    ) -> Result<(), ApiError> {
        self.admin(
            reqwest::Method::POST,
            "callback",
            Some(json!({"url": url, "username": username, "password": password})),
        )
        .await
        .map(|_| ())
    }

    /// Subscribes a listener to the sandbox's order notifications (its own API, not BT's);
    /// `durable` with an `id` takes over that subscription and what is queued for it. The id.
    pub async fn sandbox_subscribe(
        &self,
        listener: &SandboxListener<'_>,
        durable: bool,
        id: Option<&str>,
    ) -> Result<String, ApiError> {
        let kind = if durable { "durable" } else { "ephemeral" };
        let v = self
            .admin(
                reqwest::Method::POST,
                "subscriptions",
                Some(json!({
                    "url": listener.url,
                    "username": listener.username,
                    "password": listener.password,
                    "kind": kind,
                    "id": id,
                })),
            )
            .await?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::Decode {
                operation: "sandbox subscribe".into(),
                detail: "no `id` in the answer".into(),
            })
    }

    /// Ends a subscription (gone already is fine).
    pub async fn sandbox_unsubscribe(&self, id: &str) -> Result<(), ApiError> {
        let url = format!("{}/__sandbox/subscriptions/{id}", self.base_url());
        let resp = self
            .http()
            .delete(&url)
            .send()
            .await
            .map_err(|e| ApiError::Transport {
                operation: "sandbox unsubscribe".into(),
                url: url.clone(),
                detail: e.to_string(),
                maybe_sent: !e.is_connect(),
            })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) || status == 404 {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(ApiError::Bt(Box::new(super::BtError::from_body(
            "sandbox unsubscribe",
            status,
            &text,
        ))))
    }
}

/// Where and how the sandbox reaches a listener.
pub struct SandboxListener<'a> {
    pub url: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

fn clock_now(v: &Value) -> Result<String, ApiError> {
    v.get("now")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::Decode {
            operation: "sandbox clock".into(),
            detail: "no `now` in the answer".into(),
        })
}
