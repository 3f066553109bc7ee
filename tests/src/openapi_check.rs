//! Checking a node's answers against its OpenAPI document: the subset of
//! JSON Schema the document uses, with one rule stricter than JSON Schema's
//! default (an object must not carry a property its schema does not list),
//! so that a field added to an answer but not to the document fails.

use anyhow::{ensure, Context, Result};
use reqwest::StatusCode;
use serde_json::Value;

/// A client as a stranger's: no token, no cookies, no redirects followed,
/// HTTP/1.1 (websocket upgrades are HTTP/1.1).
pub fn stranger() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .http1_only()
        .build()?)
}

/// An answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(300)
            .collect()
    }

    /// The router's own 404 (a path it does not have).
    pub fn is_no_such_page(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
            && self.json().is_some_and(|v| v["error"] == "no such page")
    }
}

/// Sends `req` and reads its answer.
pub async fn send(req: reqwest::RequestBuilder) -> Result<Answer> {
    let resp = req.send().await?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    // A 101 hands the connection over; there is no body to read.
    let body = if status == StatusCode::SWITCHING_PROTOCOLS {
        Vec::new()
    } else {
        resp.bytes().await?.to_vec()
    };
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

/// Follows a local `$ref`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let target = r
                .strip_prefix("#/")
                .map(|p| p.split('/').fold(doc, |v, k| &v[k]))
                .unwrap_or(&Value::Null);
            resolve(doc, target)
        }
        None => schema,
    }
}

/// Checks `v` against `schema` (the subset of JSON Schema the document
/// uses). Objects must not carry properties the schema does not list, so a
/// field added to an answer but not to the document fails.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<()> {
    let schema = resolve(doc, schema);
    if let Some(alts) = schema["oneOf"].as_array() {
        let ok = alts.iter().filter(|s| check(doc, s, v, at).is_ok()).count();
        ensure!(ok == 1, "{at}: {v} matches {ok} of the oneOf alternatives");
        return Ok(());
    }
    if let Some(values) = schema["enum"].as_array() {
        ensure!(values.contains(v), "{at}: {v} is not one of {values:?}");
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        ensure!(fits, "{at}: {v} is {actual}, the document says {types:?}");
    }
    if let Some(min) = schema["minimum"].as_f64() {
        if let Some(n) = v.as_f64() {
            ensure!(n >= min, "{at}: {n} < minimum {min}");
        }
    }
    match v {
        Value::Object(o) => {
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                ensure!(o.contains_key(r), "{at}: `{r}` is missing from {v}");
            }
            if let Some(props) = schema["properties"].as_object() {
                for (k, item) in o {
                    let s = props
                        .get(k)
                        .with_context(|| format!("{at}: `{k}` is not in the document"))?;
                    check(doc, s, item, &format!("{at}.{k}"))?;
                }
            } else if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object()) {
                for (k, item) in o {
                    check(doc, s, item, &format!("{at}.{k}"))?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(doc, s, item, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks a JSON answer against the schema the operation documents for its
/// status; fails if the status is not documented.
pub fn check_answer(doc: &Value, path: &str, method: &str, a: &Answer) -> Result<()> {
    let op = &doc["paths"][path][method];
    let what = format!("{} {path}", method.to_uppercase());
    let response = &op["responses"][a.status.as_str()];
    ensure!(
        response.is_object(),
        "{what}: answered {} ({}), which the document does not list",
        a.status,
        a.text()
    );
    if let Some(schema) = response["content"]["application/json"].get("schema") {
        ensure!(
            a.content_type.starts_with("application/json"),
            "{what}: {} is documented as JSON, came as `{}`",
            a.status,
            a.content_type
        );
        let v = a
            .json()
            .with_context(|| format!("{what}: {} is not JSON: {}", a.status, a.text()))?;
        check(doc, schema, &v, &what)?;
    }
    Ok(())
}

/// Every (path, method, operation) of the document.
pub fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}
