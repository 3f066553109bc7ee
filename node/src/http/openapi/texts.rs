//! Descriptions shared by many answers of the operations.

pub(super) const NO_TOKEN: &str = "No operator token, or a wrong one.";
pub(super) const CLUSTER_503: &str =
    "The cluster cannot serve this now (no quorum, an election, a timeout); retry.";
pub(super) const OPERATOR_503: &str = "The cluster cannot serve this now, or the operator \
    token is not set up yet (a fresh cluster without a quorum); retry.";
pub(super) const KV_KEY: &str = "1 to 256 bytes, no control characters.";
pub(super) const IDEMPOTENCY: &str = "Idempotency key: a retry with the same id is applied \
    once and answers as the first did.";
pub(super) const BAD_REQUEST_ID: &str = "`X-Request-Id` is not 1 to 128 ASCII characters.";
pub(super) const TOO_LARGE: &str = "The body is larger than 1 MiB.";
pub(super) const NO_TENANT: &str = "There is no tenant with this slug (`there is no desktop \
    called … here`).";
pub(super) const SUSPENDED: &str = "The tenant is suspended.";
pub(super) const SUSPENDED_OR_CROSS_SITE: &str = "The tenant is suspended, or the browser \
    marked the request as cross-site.";
pub(super) const SIGNED_OUT: &str = "Not signed in (no valid `oc_session` of this tenant).";
pub(super) const ADMIN_401: &str = "Neither a signed-in user of this tenant nor a valid \
    operator token (`not signed in`, `missing or invalid operator token`).";
pub(super) const ADMIN_403: &str = "Signed in, but not one of the tenant's administrators; \
    or the tenant is suspended; or a cross-site write.";
pub(super) const ADMIN_503: &str = "The cluster cannot serve this now, or (with a bearer \
    token) the operator token is not set up yet; retry.";
pub(super) const WS: &str = "101 Switching Protocols: the websocket is open.";
pub(super) const NOT_A_WS: &str = "Not a websocket upgrade request (missing or wrong \
    `Connection`, `Upgrade`, `Sec-WebSocket-Version` or `Sec-WebSocket-Key`).";
pub(super) const NO_UPGRADE: &str = "The connection cannot be upgraded (426 Upgrade Required).";
