//! A tenant site's operations: the sign-in and desktop pages and the
//! users' API (docs/DESKTOP-API.md).

#![allow(dead_code)]

use super::schemas::*;
use super::texts::*;

// ---- tenant sites ----

/// A static file of the sign-in and desktop pages
///
/// Shared by every tenant (`login.js`, `desktop.css`, `opencloud.svg`…).
#[utoipa::path(get, path = "/assets/desktop/{file}", tag = "desktop",
    params(("file" = String, Path, description = "A file name (no directories).")),
    responses(
        (status = 200, description = "The file, with a Content-Security-Policy."),
        (status = 404, description = "No such file.", body = Error),
    ))]
fn desktop_asset() {}

/// The tenant's site without its slash
#[utoipa::path(get, path = "/t/{slug}", tag = "desktop",
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 303, description = "Redirect to `/t/{slug}/`.",
            headers(("Location" = String))),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_root() {}

/// The desktop page
///
/// The desktop when signed in, otherwise a redirect to the sign-in page.
#[utoipa::path(get, path = "/t/{slug}/", tag = "desktop",
    security((), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "`desktop.html` (signed in).", body = String,
            content_type = "text/html"),
        (status = 303, description = "Not signed in: redirect to `/t/{slug}/login`.",
            headers(("Location" = String))),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_desktop_page() {}

/// The sign-in page
#[utoipa::path(get, path = "/t/{slug}/login", tag = "desktop",
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "`login.html`.", body = String,
            content_type = "text/html"),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_login_page() {}

/// Sign in with the page's form (without script)
///
/// Always a redirect once the form is read: to the desktop with the
/// session cookie, or back to `login?error=CODE`, CODE one of `failed`
/// (wrong credentials or captcha), `captcha` (one is required: the page
/// needs script), `wait` (too many attempts), `unavailable` (the
/// directory does not answer).
#[utoipa::path(post, path = "/t/{slug}/login", tag = "desktop",
    params(("slug" = String, Path, description = "The tenant's slug.")),
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in (to `/t/{slug}/`, with `Set-Cookie`) or \
            refused (to `/t/{slug}/login?error=CODE`).",
            headers(("Location" = String), ("Set-Cookie" = String,
                description = "The session, on success."))),
        (status = 400, description = "A username or password over 1024 bytes.",
            body = Error),
        (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 415, description = "Not `application/x-www-form-urlencoded`.",
            body = Error),
        (status = 422, description = "`username` or `password` is missing.", body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_login_form() {}

/// The tenant's branding (public)
#[utoipa::path(get, path = "/t/{slug}/api/v1/branding", tag = "desktop",
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "The branding, or the defaults when none is set.",
            body = BrandingView),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_branding() {}

/// The tenant's logo or wallpaper (public)
#[utoipa::path(get, path = "/t/{slug}/api/v1/branding/{picture}", tag = "desktop",
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("picture" = String, Path, description = "`logo` or `wallpaper`."),
    ),
    responses(
        (status = 200, description = "The image, in the content type it was uploaded \
            with."),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = "No such picture, or no such tenant.", body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_branding_picture() {}

/// Sign in
///
/// After 3 failures (per user name and per client address) every answer
/// asks for a captcha until a sign-in succeeds; after more, attempts
/// must wait (429). Answers never tell whether an account exists.
#[utoipa::path(post, path = "/t/{slug}/api/v1/login", tag = "desktop",
    params(("slug" = String, Path, description = "The tenant's slug.")),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in.", body = LoginOk,
            headers(("Set-Cookie" = String, description = "The session: `oc_session=…; \
                Path=/t/{slug}/; HttpOnly; SameSite=Lax; Secure`."))),
        (status = 400, description = "Not a sign-in body, or a username or password over \
            1024 bytes.", body = Error),
        (status = 401, description = "Refused: wrong credentials, or a missing or wrong \
            captcha answer.", body = LoginDenied),
        (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 429, description = "Too many failed attempts: wait.",
            body = TooManyAttempts,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 503, description = "The company directory is not answering (or is \
            misconfigured), or the cluster cannot serve this now.", body = Error),
    ))]
fn site_login() {}

/// Sign out
///
/// Ends the session if there is one; answers the same either way.
#[utoipa::path(post, path = "/t/{slug}/api/v1/logout", tag = "desktop",
    security((), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared.",
            headers(("Set-Cookie" = String, description = "`oc_session=; Max-Age=0; …`"))),
        (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_logout() {}

/// The signed-in user and their apps
#[utoipa::path(get, path = "/t/{slug}/api/v1/me", tag = "desktop",
    security(("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "The user.", body = Me),
        (status = 401, description = SIGNED_OUT, body = Error),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_me() {}

/// A new captcha
///
/// For the page's "New image" button. A captcha can be answered once,
/// within 5 minutes.
#[utoipa::path(post, path = "/t/{slug}/api/v1/captcha", tag = "desktop",
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "The captcha.", body = Captcha),
        (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_new_captcha() {}

/// A captcha's image
#[utoipa::path(get, path = "/t/{slug}/api/v1/captcha/{id}", tag = "desktop",
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The captcha's id (32 hex digits)."),
    ),
    responses(
        (status = 200, description = "The image.", body = inline(Bytes),
            content_type = "image/png"),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = "No such captcha (they expire after 5 minutes), or \
            no such tenant.", body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_captcha_image() {}

/// Launch a VM app
///
/// Assigns the user a VM of the app's pool: the one they already have (a
/// second window, a reload: `resumed`), else a ready one; when none is
/// ready but one can be started, waits for one to boot (`--launch-wait-s`,
/// 120 s by default). The VM stays theirs while their session shows
/// presence within the pool's `idle_timeout_s`, and is released when they
/// sign out. `viewer_url` carries a single-use viewer ticket, to open
/// within `expires_in_s`; launch again for a new one.
#[utoipa::path(post, path = "/t/{slug}/api/v1/apps/{id}/launch", tag = "desktop",
    security(("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The app's id."),
    ),
    responses(
        (status = 200, description = "The VM is the user's: show `viewer_url`.",
            body = Launched),
        (status = 400, description = "A web app: it opens at its address, not by a \
            launch.", body = Error),
        (status = 401, description = SIGNED_OUT, body = Error),
        (status = 403, description = SUSPENDED_OR_CROSS_SITE, body = Error),
        (status = 404, description = "No such app on the user's desktop, or no such \
            tenant.", body = Error),
        (status = 429, description = "The tenant uses all the VMs of its quota: close an \
            app, or ask the administrator for more.", body = Error),
        (status = 503, description = "No VM became free in time; all of the pool's `max` \
            VMs are in use; the app's pool does not exist; the VM did not take its new \
            password in time, or stopped; or the cluster cannot serve this now. Retry \
            later.", body = Error),
    ))]
fn site_launch() {}

/// The desktop's events websocket
///
/// Upgraded to a websocket of JSON text messages (docs/DESKTOP-API.md,
/// "Events websocket"): the page's presence pings and the node's pongs,
/// notifications and `signed_out`. Without a valid session the upgrade
/// is refused with 401; a socket whose session ends is closed with code
/// 4401.
#[utoipa::path(get, path = "/t/{slug}/api/v1/events", tag = "desktop",
    security(("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 101, description = WS),
        (status = 400, description = NOT_A_WS, body = Error),
        (status = 401, description = SIGNED_OUT, body = Error),
        (status = 403, description = SUSPENDED, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = CLUSTER_503, body = Error),
    ))]
fn site_events_ws() {}
