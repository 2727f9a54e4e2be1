//! One BT call described before it is sent, and the answer it gets.

use super::operation::Operation;
use reqwest::Method;
use serde_json::Value;

/// Whether a call may be repeated without changing anything at BT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Safe,
    Mutating,
}

/// One BT call, described before it is sent.
#[derive(Debug)]
pub(crate) struct Request {
    pub operation: Operation,
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    pub kind: Kind,
}

impl Request {
    pub fn get(operation: Operation, path: impl Into<String>) -> Self {
        Request {
            operation,
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            kind: Kind::Safe,
        }
    }

    pub fn post(operation: Operation, path: impl Into<String>, body: Value) -> Self {
        Request {
            operation,
            method: Method::POST,
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
            kind: Kind::Mutating,
        }
    }

    /// A PATCH: changes something at BT, but repeating it with the same body changes nothing more.
    pub fn patch(operation: Operation, path: impl Into<String>, body: Value) -> Self {
        Request {
            method: Method::PATCH,
            ..Request::post(operation, path, body)
        }
    }

    /// A POST that changes nothing at BT (a search or a check), so it may be retried like a GET.
    pub fn safe(mut self) -> Self {
        self.kind = Kind::Safe;
        self
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
}

/// A successful answer: status, JSON body, and the list headers when present.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    pub body: Value,
    /// `X-Total-Count`: all matches of a list query.
    pub total_count: Option<u64>,
    /// `X-Result-Count`: matches in this page.
    pub result_count: Option<u64>,
    /// The answer's headers (for raw requests, `bt::get` and the like).
    pub headers: Vec<(String, String)>,
}
