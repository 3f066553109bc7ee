//! The tenant admin API's operations: users, profiles, apps, branding
//! and directory. Their bodies are the types of `opencloud-tenant-admin`.

#![allow(dead_code)]

use opencloud_tenant_admin::model::{
    App, BrandingInput, LdapInput, LdapView, NewUser, Profile, UserPatch, UserView,
};

use super::schemas::*;
use super::texts::*;

// ---- tenant admin: users ----

/// List the tenant's users
#[utoipa::path(get, path = "/t/{slug}/api/v1/users", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "Every user (at most 10,000), without password \
            hashes.", body = [UserView]),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_list_users() {}

/// Create a local user
#[utoipa::path(post, path = "/t/{slug}/api/v1/users", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = NewUser,
    responses(
        (status = 201, description = "The user is created.", body = UserView),
        (status = 400, description = "Invalid: a bad login, a short password, an unknown \
            profile or field, a bad `X-Request-Id`.", body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 409, description = "A user with this login exists.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_create_user() {}

/// Read a user
#[utoipa::path(get, path = "/t/{slug}/api/v1/users/{login}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("login" = String, Path, description = "The login (case-insensitive)."),
    ),
    responses(
        (status = 200, description = "The user.", body = UserView),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such user, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_read_user() {}

/// Change a user
///
/// Only the fields present change.
#[utoipa::path(patch, path = "/t/{slug}/api/v1/users/{login}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("login" = String, Path, description = "The login (case-insensitive)."),
    ),
    request_body = UserPatch,
    responses(
        (status = 200, description = "The user as changed.", body = UserView),
        (status = 400, description = "Invalid: a short password, an unknown profile or \
            field, a password for a directory user.", body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such user, or no such tenant.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_update_user() {}

/// Delete a user
#[utoipa::path(delete, path = "/t/{slug}/api/v1/users/{login}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("login" = String, Path, description = "The login (case-insensitive)."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = BAD_REQUEST_ID, body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such user, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_delete_user() {}

// ---- tenant admin: profiles ----

/// List the profiles
#[utoipa::path(get, path = "/t/{slug}/api/v1/profiles", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "Every profile.", body = [Profile]),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_list_profiles() {}

/// Create a profile
#[utoipa::path(post, path = "/t/{slug}/api/v1/profiles", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = Profile,
    responses(
        (status = 201, description = "The profile is created.", body = Profile),
        (status = 400, description = "Invalid: a bad id or name, an unknown app or field, \
            a bad `X-Request-Id`.", body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 409, description = "A profile with this id exists.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_create_profile() {}

/// Read a profile
#[utoipa::path(get, path = "/t/{slug}/api/v1/profiles/{id}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The profile's id."),
    ),
    responses(
        (status = 200, description = "The profile.", body = Profile),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such profile, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_read_profile() {}

/// Create or replace a profile
#[utoipa::path(put, path = "/t/{slug}/api/v1/profiles/{id}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The profile's id; the body's `id` must be \
            the same."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = Profile,
    responses(
        (status = 200, description = "The profile as stored.", body = Profile),
        (status = 400, description = "Invalid, an unknown app, or the body's id differs \
            from the URL's.", body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_put_profile() {}

/// Delete a profile
#[utoipa::path(delete, path = "/t/{slug}/api/v1/profiles/{id}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The profile's id."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = BAD_REQUEST_ID, body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such profile, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_delete_profile() {}

// ---- tenant admin: apps ----

/// List the apps
#[utoipa::path(get, path = "/t/{slug}/api/v1/apps", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "Every app.", body = [App]),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_list_apps() {}

/// Create an app
#[utoipa::path(post, path = "/t/{slug}/api/v1/apps", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = App,
    responses(
        (status = 201, description = "The app is created.", body = App),
        (status = 400, description = "Invalid: a bad id, name, URL or pool, `url` with \
            `vm` or `pool` with `web`, an unknown field, a bad `X-Request-Id`.",
            body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 409, description = "An app with this id exists.", body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_create_app() {}

/// Read an app
#[utoipa::path(get, path = "/t/{slug}/api/v1/apps/{id}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The app's id."),
    ),
    responses(
        (status = 200, description = "The app.", body = App),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such app, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_read_app() {}

/// Create or replace an app
#[utoipa::path(put, path = "/t/{slug}/api/v1/apps/{id}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The app's id; the body's `id` must be the \
            same."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = App,
    responses(
        (status = 200, description = "The app as stored.", body = App),
        (status = 400, description = "Invalid, or the body's id differs from the URL's.",
            body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_put_app() {}

/// Delete an app
#[utoipa::path(delete, path = "/t/{slug}/api/v1/apps/{id}", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("id" = String, Path, description = "The app's id."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = BAD_REQUEST_ID, body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No such app, or no such tenant.", body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_delete_app() {}

// ---- tenant admin: branding and directory ----

/// Replace the branding
///
/// The whole record: a picture left out is removed. Read it with the
/// public `GET` of the same path.
#[utoipa::path(put, path = "/t/{slug}/api/v1/branding", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    request_body = BrandingInput,
    responses(
        (status = 204, description = "Stored."),
        (status = 400, description = "Invalid: a bad name or colour (`#rgb` or \
            `#rrggbb`), a picture that is not a PNG, JPEG, WebP or GIF of \
            its declared type or is too large, an unknown field.", body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_put_branding() {}

/// Read the directory (LDAP) settings
#[utoipa::path(get, path = "/t/{slug}/api/v1/ldap", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    responses(
        (status = 200, description = "The settings, without the bind password.",
            body = LdapView),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = "No directory is set up, or no such tenant.",
            body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_read_ldap() {}

/// Set the directory (LDAP) settings
///
/// Users not found locally then sign in against the directory.
#[utoipa::path(put, path = "/t/{slug}/api/v1/ldap", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(("slug" = String, Path, description = "The tenant's slug.")),
    request_body = LdapInput,
    responses(
        (status = 200, description = "The settings as stored.", body = LdapView),
        (status = 400, description = "Invalid: a bad URL, DN, filter, CA or TLS choice, \
            no bind password and none stored, an unknown field.", body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 413, description = TOO_LARGE, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_put_ldap() {}

/// Remove the directory settings
///
/// Answers 204 also when none were set.
#[utoipa::path(delete, path = "/t/{slug}/api/v1/ldap", tag = "tenant-admin",
    security(("operator" = []), ("session" = [])),
    params(
        ("slug" = String, Path, description = "The tenant's slug."),
        ("X-Request-Id" = Option<String>, Header, nullable = false, min_length = 1,
            max_length = 128, description = IDEMPOTENCY),
    ),
    responses(
        (status = 204, description = "Removed."),
        (status = 400, description = BAD_REQUEST_ID, body = Error),
        (status = 401, description = ADMIN_401, body = Error),
        (status = 403, description = ADMIN_403, body = Error),
        (status = 404, description = NO_TENANT, body = Error),
        (status = 503, description = ADMIN_503, body = Error),
    ))]
fn admin_delete_ldap() {}
