//! A server's SPICE display through Nova's `spice-direct` remote console
//! (compute API microversion 2.99, Nova 2025.1): Nova hands out a console
//! token, and the token's connection info is the compute host's own SPICE
//! port, which the translator connects to without a proxy.

use osauth::services::COMPUTE;
use osauth::{ApiVersion, Session};
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};

use super::api::{self, Reply};
use crate::broker::provider::{ProviderError, ProviderResult, SpiceConsole};

/// The first microversion with `spice-direct` consoles and with the TLS
/// port in a token's connection info.
const SPICE_DIRECT: ApiVersion = ApiVersion(2, 99);

fn needs_2_99(detail: &str) -> ProviderError {
    ProviderError::Invalid(format!(
        "Nova cannot hand out spice-direct consoles ({detail}): Nova 2025.1 or later \
         (compute API microversion 2.99) is needed"
    ))
}

/// The compute API's microversion range, and whether it has 2.99.
pub(super) async fn compute_versions(
    session: &Session,
) -> ProviderResult<(Option<(String, String)>, bool)> {
    let range = session
        .get_api_versions(COMPUTE)
        .await
        .map_err(|e| api::map_error("reading Nova's API versions", &e))?;
    let spice_direct = range.is_some_and(|(min, max)| min <= SPICE_DIRECT && SPICE_DIRECT <= max);
    Ok((
        range.map(|(min, max)| (min.to_string(), max.to_string())),
        spice_direct,
    ))
}

/// Where the translator reaches server `id`'s display.
pub(super) async fn spice_direct(session: &Session, id: &str) -> ProviderResult<SpiceConsole> {
    // Asking first gives a clear answer on older clouds, which would
    // otherwise refuse 2.99 with a 406 (or, at a lower version, the
    // console type with a schema error).
    let (range, supported) = compute_versions(session).await?;
    if !supported {
        let detail = match range {
            Some((min, max)) => format!("its compute API goes from {min} to {max}"),
            None => "its compute API announces no microversions".to_string(),
        };
        return Err(needs_2_99(&detail));
    }

    let reply = api::send(
        "creating a SPICE console",
        session
            .post(COMPUTE, ["servers", id, "remote-consoles"])
            .api_version(SPICE_DIRECT)
            .json(&json!({
                "remote_console": { "protocol": "spice", "type": "spice-direct" }
            })),
    )
    .await?;
    let url = match reply.status {
        s if s.is_success() => reply.body["remote_console"]["url"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::Unavailable(format!("Nova's console for server {id} has no url"))
            })?,
        _ => return Err(console_refused(id, &reply)),
    };
    let token = token_of(&url).ok_or_else(|| {
        ProviderError::Unavailable(format!(
            "Nova's console url for server {id} carries no token: {}",
            api::one_line(&url)
        ))
    })?;

    let reply = api::send(
        "reading a console token",
        session
            .get(COMPUTE, ["os-console-auth-tokens", token.as_str()])
            .api_version(SPICE_DIRECT),
    )
    .await?;
    if !reply.status.is_success() {
        return Err(token_refused(id, &reply));
    }
    connect_info(id, &reply.body["console"])
}

/// Nova's reasons not to give a console.
fn console_refused(id: &str, reply: &Reply) -> ProviderError {
    let message = reply.message();
    match reply.status {
        StatusCode::NOT_FOUND => ProviderError::NotFound(id.to_string()),
        // The server has no host yet (still building) or is in a task.
        StatusCode::CONFLICT => {
            ProviderError::Unavailable(format!("server {id} has no console yet: {message}"))
        }
        StatusCode::NOT_ACCEPTABLE => needs_2_99(&message),
        // "Unavailable console type spice-direct.": SPICE is off on the
        // server's compute host; a schema error names the type.
        StatusCode::BAD_REQUEST => ProviderError::Invalid(format!(
            "Nova refused a spice-direct console for server {id}: {message} (spice-direct needs \
             Nova 2025.1+, microversion 2.99, and [spice] enabled = true on the compute hosts)"
        )),
        StatusCode::NOT_IMPLEMENTED => ProviderError::Invalid(format!(
            "the hypervisor of server {id} has no SPICE consoles: {message}"
        )),
        status => api::unexpected("creating a SPICE console", status, &message),
    }
}

fn token_refused(id: &str, reply: &Reply) -> ProviderError {
    let message = reply.message();
    match reply.status {
        StatusCode::FORBIDDEN => ProviderError::Invalid(format!(
            "the account may not read console connection info ({message}): \
             os-console-auth-tokens is admin-only in Nova's default policy \
             (os_compute_api:os-console-auth-tokens); grant it to the account"
        )),
        // Expired or consumed between the two calls.
        StatusCode::NOT_FOUND => ProviderError::Unavailable(format!(
            "Nova no longer knows the console token of server {id}: {message}"
        )),
        status => api::unexpected("reading a console token", status, &message),
    }
}

/// The `token` query parameter of a console url
/// (`http://…/nova?token=…`).
fn token_of(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .filter(|t| !t.is_empty())
}

/// `{"host", "port", "tls_port", …}` → HOST:PORT.
fn connect_info(id: &str, console: &Value) -> ProviderResult<SpiceConsole> {
    let host = console["host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            ProviderError::Unavailable(format!("Nova's console of server {id} names no host"))
        })?;
    let port = match console["port"].as_u64().and_then(|p| u16::try_from(p).ok()) {
        Some(port) if port != 0 => port,
        _ => {
            return Err(match console["tls_port"].as_u64() {
                // The translator speaks plain SPICE.
                Some(tls) => ProviderError::Invalid(format!(
                    "the console of server {id} has only a TLS port ({tls}); set a plain SPICE \
                     port on its compute host"
                )),
                None => ProviderError::Unavailable(format!(
                    "Nova's console of server {id} names no port"
                )),
            });
        }
    };
    // An IPv6 literal needs brackets before the port.
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(SpiceConsole {
        addr,
        password: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_the_published_sample() {
        assert_eq!(
            token_of("http://127.0.0.1:13002/nova?token=aeabd4ec-3acb-4898-9130-10521ccbe5f3")
                .as_deref(),
            Some("aeabd4ec-3acb-4898-9130-10521ccbe5f3")
        );
        assert_eq!(token_of("http://127.0.0.1:13002/nova"), None);
        assert_eq!(token_of("not a url"), None);
    }

    #[test]
    fn connect_info_of_the_published_sample() {
        let console = json!({
            "host": "fakespiceconsole.com",
            "instance_uuid": "16802173-4e67-44f9-ba84-6d99080b81b5",
            "internal_access_path": null,
            "port": 6969,
            "tls_port": 6970
        });
        assert_eq!(
            connect_info("s", &console).unwrap(),
            SpiceConsole {
                addr: "fakespiceconsole.com:6969".into(),
                password: String::new()
            }
        );
        let v6 = json!({"host": "fd00::5", "port": 5900});
        assert_eq!(connect_info("s", &v6).unwrap().addr, "[fd00::5]:5900");
        let tls_only = json!({"host": "h", "port": null, "tls_port": 5901});
        assert!(matches!(
            connect_info("s", &tls_only),
            Err(ProviderError::Invalid(m)) if m.contains("TLS")
        ));
    }
}
