//! Raw Nova requests through the `openstack` crate's session, and how
//! OpenStack's errors become [`ProviderError`]s.
//!
//! Creating, reading and deleting a server go through here rather than the
//! crate: its `NewServer::create` follows the POST with a GET of the server,
//! so a failed GET would hide the id of a server that exists; its `Server`
//! has no `fault`; and its delete loads the server first. Here the status
//! code and Nova's own message are at hand for each answer.

use std::collections::HashMap;

use osauth::services::COMPUTE;
use osauth::{ErrorKind, ServiceRequestBuilder, Session};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::broker::provider::{ProviderError, ProviderResult};

/// Nova's answer to one request.
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    /// Nova's (or Glance's, Neutron's, Keystone's) message in an error body:
    /// `{"<fault name>": {"message": …}}`, `{"message": …}`, or the text.
    pub fn message(&self) -> String {
        let found = match &self.body {
            Value::Object(map) => map
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| {
                    map.values()
                        .find_map(|v| v.get("message").and_then(Value::as_str))
                })
                .map(str::to_string),
            Value::String(text) => Some(text.clone()),
            _ => None,
        };
        match found {
            Some(m) if !m.trim().is_empty() => one_line(&m),
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// Sends a request and reads its JSON body (or text, for HTML error pages).
pub(super) async fn send<S>(what: &str, request: ServiceRequestBuilder<S>) -> ProviderResult<Reply>
where
    S: osauth::services::ServiceType + Send,
{
    let response = request
        .send_unchecked()
        .await
        .map_err(|e| map_error(what, &e))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ProviderError::Unavailable(format!("{what}: reading the answer: {e}")))?;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(Reply { status, body })
}

/// `POST /servers`; the server id Nova returns at once (status BUILD).
pub(super) async fn create_server(
    session: &Session,
    name: &str,
    image_id: &str,
    flavor_id: &str,
    network_id: Option<&str>,
    metadata: &HashMap<&str, &str>,
) -> ProviderResult<String> {
    let mut server = json!({
        "name": name,
        "imageRef": image_id,
        "flavorRef": flavor_id,
        "metadata": metadata,
    });
    // Without `networks`, Nova (at the base microversion) attaches the
    // project's only network, or answers 409 when it has several.
    if let Some(id) = network_id {
        server["networks"] = json!([{ "uuid": id }]);
    }
    let reply = send(
        "creating a Nova server",
        session
            .post(COMPUTE, ["servers"])
            .json(&json!({ "server": server })),
    )
    .await?;
    if reply.status.is_success() {
        return reply.body["server"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::Unavailable(
                    "Nova accepted the server but its answer has no server id".to_string(),
                )
            });
    }
    let message = reply.message();
    Err(match reply.status {
        // 403 is Nova's answer to an exhausted quota (instances, cores, RAM,
        // ports); 413 that of older releases. Policy refusals say "Policy
        // doesn't allow…" and are not capacity.
        StatusCode::FORBIDDEN | StatusCode::PAYLOAD_TOO_LARGE if is_quota(&message) => {
            ProviderError::Capacity(format!("OpenStack has no room for the server: {message}"))
        }
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => {
            ProviderError::Capacity(format!("OpenStack has no room for the server: {message}"))
        }
        StatusCode::FORBIDDEN => ProviderError::Invalid(format!(
            "Nova refused to create the server (a missing permission?): {message}"
        )),
        StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::NOT_FOUND => {
            ProviderError::Invalid(format!("Nova refused the server: {message}"))
        }
        status => unexpected("creating a server", status, &message),
    })
}

fn is_quota(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("quota") || m.contains("exceeded")
}

/// `GET /servers/{id}`: its status and, in ERROR, its fault's message;
/// `None` when Nova has no such server.
pub(super) async fn server_status(
    session: &Session,
    id: &str,
) -> ProviderResult<Option<(String, Option<String>)>> {
    let reply = send(
        "reading a Nova server",
        session.get(COMPUTE, ["servers", id]),
    )
    .await?;
    match reply.status {
        s if s.is_success() => {
            let server = &reply.body["server"];
            let status = server["status"].as_str().ok_or_else(|| {
                ProviderError::Unavailable(format!("Nova's answer for server {id} has no status"))
            })?;
            let fault = server["fault"]["message"].as_str().map(one_line);
            Ok(Some((status.to_string(), fault)))
        }
        StatusCode::NOT_FOUND => Ok(None),
        status => Err(unexpected("reading a server", status, &reply.message())),
    }
}

/// `DELETE /servers/{id}`; a server that is gone already is not an error.
pub(super) async fn delete_server(session: &Session, id: &str) -> ProviderResult<()> {
    let reply = send(
        "deleting a Nova server",
        session.delete(COMPUTE, ["servers", id]),
    )
    .await?;
    match reply.status {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND => Ok(()),
        // A locked server, or a task Nova will not interrupt.
        StatusCode::CONFLICT => Err(ProviderError::Invalid(format!(
            "Nova will not delete server {id} now: {}",
            reply.message()
        ))),
        status => Err(unexpected("deleting a server", status, &reply.message())),
    }
}

/// An answer no caller expects: a refused token, a policy, or a failing
/// cloud.
pub(super) fn unexpected(what: &str, status: StatusCode, message: &str) -> ProviderError {
    match status {
        StatusCode::UNAUTHORIZED => ProviderError::Unavailable(format!(
            "{what}: OpenStack no longer accepts the session's token: {message}"
        )),
        StatusCode::FORBIDDEN => {
            ProviderError::Invalid(format!("{what}: the account is not allowed to: {message}"))
        }
        s if s.is_server_error() => {
            ProviderError::Unavailable(format!("{what}: OpenStack failed (HTTP {s}): {message}"))
        }
        s => ProviderError::Invalid(format!("{what}: OpenStack refused (HTTP {s}): {message}")),
    }
}

/// The message of an `osauth` error without its kind's description
/// (`Display` is "<kind>: <message>").
fn error_message(e: &osauth::Error) -> String {
    let text = e.to_string();
    let prefix = format!("{}: ", e.kind());
    one_line(text.strip_prefix(&prefix).unwrap_or(&text))
}

/// An error of the `openstack` crate or of the session.
pub(super) fn map_error(what: &str, e: &osauth::Error) -> ProviderError {
    let message = error_message(e);
    match e.kind() {
        ErrorKind::AccessDenied if is_quota(&message) => {
            ProviderError::Capacity(format!("{what}: {message}"))
        }
        ErrorKind::AccessDenied => {
            ProviderError::Invalid(format!("{what}: the account is not allowed to: {message}"))
        }
        ErrorKind::EndpointNotFound => ProviderError::Invalid(format!(
            "{what}: the cloud's catalog lacks a service the provider needs: {message}"
        )),
        ErrorKind::InvalidInput
        | ErrorKind::InvalidConfig
        | ErrorKind::IncompatibleApiVersion
        | ErrorKind::Conflict
        | ErrorKind::TooManyItems => ProviderError::Invalid(format!("{what}: {message}")),
        ErrorKind::ResourceNotFound => ProviderError::NotFound(format!("{what}: {message}")),
        ErrorKind::AuthenticationFailed => ProviderError::Unavailable(format!(
            "{what}: OpenStack refused the session's credentials: {message}"
        )),
        // Transport failures, 5xx, malformed answers, and kinds added later.
        _ => ProviderError::Unavailable(format!("{what}: {message}")),
    }
}

/// An error of resolving a pool's image, flavor or network.
pub(super) fn lookup_error(
    kind: &str,
    service: &str,
    wanted: &str,
    e: &osauth::Error,
) -> ProviderError {
    match e.kind() {
        ErrorKind::ResourceNotFound => ProviderError::Invalid(format!(
            "{service} has no {kind} {wanted:?} (looked for it as an id and as a name)"
        )),
        ErrorKind::TooManyItems => ProviderError::Invalid(format!(
            "{service} has several {kind}s named {wanted:?}: give its id instead"
        )),
        _ => map_error(&format!("looking up the {kind} {wanted:?} in {service}"), e),
    }
}

/// An error of authenticating.
pub(super) fn login_error(source: &str, e: &osauth::Error) -> ProviderError {
    let message = error_message(e);
    match e.kind() {
        ErrorKind::AuthenticationFailed | ErrorKind::AccessDenied => ProviderError::Invalid(
            format!("Keystone refused the credentials from {source}: {message}"),
        ),
        ErrorKind::InvalidConfig | ErrorKind::InvalidInput => {
            let hint = if message.contains("clouds.yaml") {
                " (looked in ./clouds.yaml, ~/.config/openstack/clouds.yaml and \
                 /etc/openstack/clouds.yaml; OS_CLIENT_CONFIG_FILE is not read)"
            } else {
                ""
            };
            ProviderError::Invalid(format!(
                "cannot use the credentials from {source}: {message}{hint}"
            ))
        }
        _ => ProviderError::Unavailable(format!(
            "cannot reach Keystone with the credentials from {source}: {message}"
        )),
    }
}

/// Error bodies can be HTML pages: one line, and not too long, for logs and
/// the command line.
pub(super) fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    const MAX: usize = 400;
    if joined.len() <= MAX {
        return joined;
    }
    let mut end = MAX;
    while !joined.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &joined[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body,
        }
    }

    #[test]
    fn messages_of_each_service() {
        let nova = reply(
            403,
            json!({"forbidden": {"code": 403, "message": "Quota exceeded for instances"}}),
        );
        assert_eq!(nova.message(), "Quota exceeded for instances");
        let neutron = reply(
            404,
            json!({"NeutronError": {"type": "NetworkNotFound", "message": "Network x could not be found.", "detail": ""}}),
        );
        assert_eq!(neutron.message(), "Network x could not be found.");
        let glance = reply(404, Value::String("<html>\n 404 Not Found\n</html>".into()));
        assert_eq!(glance.message(), "<html> 404 Not Found </html>");
        assert_eq!(
            reply(500, json!({})).message(),
            "HTTP 500 Internal Server Error"
        );
    }

    #[test]
    fn quota_words() {
        assert!(is_quota(
            "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
        ));
        assert!(is_quota("Maximum number of ports exceeded"));
        assert!(!is_quota(
            "Policy doesn't allow os_compute_api:servers:create to be performed."
        ));
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let text = "é".repeat(500);
        let line = one_line(&text);
        assert!(line.ends_with('…'));
        assert!(line.len() <= 400 + '…'.len_utf8());
    }
}
