//! The viewer's operations: tickets, the viewer page and its websockets,
//! spice-html5.

#![allow(dead_code)]

use super::schemas::*;
use super::texts::*;

// ---- viewer ----

/// Issue a viewer ticket
///
/// A ticket is single-use and lives `ttl_s` seconds; any node honours
/// it. A passthrough ticket admits further sockets for 10 s after its
/// first use. The body is read before the token is checked, so a
/// malformed body answers 400/415/422 even without a token.
#[utoipa::path(post, path = "/api/v1/viewer/tickets", tag = "viewer",
    security(("operator" = [])),
    request_body = IssueTicket,
    responses(
        (status = 201, description = "The ticket.", body = IssuedTicket),
        (status = 400, description = "Malformed JSON, an address that is not IP:PORT, a \
            password over 60 characters, or `ttl_s` out of 1..=600.", body = Error),
        (status = 401, description = NO_TOKEN, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 415, description = "The body is not `application/json`.", body = Error),
        (status = 422, description = "The JSON is not a ticket request (missing `addr`, an \
            unknown field or mode).", body = Error),
        (status = 503, description = OPERATOR_503, body = Error),
    ))]
fn viewer_issue_ticket() {}

/// The viewer page's address without its slash
#[utoipa::path(get, path = "/viewer", tag = "viewer",
    responses((status = 308, description = "Permanent redirect to `/viewer/`.",
        headers(("Location" = String, description = "`/viewer/`")))))]
fn viewer_redirect() {}

/// The viewer page (translate mode)
///
/// Opened as `/viewer/#token=T`; the ticket stays in the fragment.
#[utoipa::path(get, path = "/viewer/", tag = "viewer",
    responses((status = 200, description = "The page.", body = String,
        content_type = "text/html")))]
fn viewer_page() {}

/// The viewer page's script
#[utoipa::path(get, path = "/viewer/viewer.js", tag = "viewer",
    responses((status = 200, description = "The script.", body = String,
        content_type = "text/javascript")))]
fn viewer_script() {}

/// The viewer websocket (translate mode)
///
/// Upgraded to a websocket carrying the protocol of
/// docs/VIEWER-PROTOCOL.md: binary screen messages to the browser, JSON
/// input messages from it. Authenticated by a ticket (`token`, single
/// use) or, to reconnect, by the resume key of the session's `hello`.
/// A refused or missing ticket is told after the upgrade: a CONTROL
/// `error` with `retry: false`, then close code 4001.
#[utoipa::path(get, path = "/viewer/ws", tag = "viewer",
    params(
        ("token" = Option<String>, Query, description = "A translate-mode ticket."),
        ("resume" = Option<String>, Query, description = "A resume key, to reconnect."),
    ),
    responses(
        (status = 101, description = WS),
        (status = 400, description = NOT_A_WS, body = Error),
        (status = 426, description = NO_UPGRADE, body = Error),
    ))]
fn viewer_translate_ws() {}

/// The passthrough websocket (raw SPICE)
///
/// Subprotocol `binary`: raw SPICE bytes to and from the VM's SPICE
/// port, for stock clients such as spice-html5 (docs/VIEWER-PROTOCOL.md,
/// "Passthrough mode"). A refused ticket is answered before the upgrade.
#[utoipa::path(get, path = "/viewer/spice", tag = "viewer",
    params(("token" = String, Query, description = "A passthrough-mode ticket.")),
    responses(
        (status = 101, description = WS),
        (status = 400, description = "No `token`, or not a websocket upgrade request.",
            body = Error),
        (status = 403, description = "The ticket is refused (unknown, used, expired or of \
            the other mode).", body = Error),
        (status = 426, description = NO_UPGRADE, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn viewer_passthrough_ws() {}

/// Debian's spice-html5 client
///
/// Served only when `/usr/share/spice-html5` is installed on the node,
/// e.g. `/spice-html5/spice_auto.html?path=viewer/spice%3Ftoken%3DT`.
/// `path` may contain slashes (files in subdirectories).
#[utoipa::path(get, path = "/spice-html5/{path}", tag = "viewer",
    params(("path" = String, Path, description = "A file of spice-html5.")),
    responses(
        (status = 200, description = "The file."),
        (status = 404, description = "No such file, or spice-html5 is not installed.",
            body = Error),
    ))]
fn spice_html5() {}
