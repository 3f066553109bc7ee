//! The broker's HTTP API: images (operator), pools and VMs (tenant admin),
//! quotas (operator).
//!
//! Host paths and cloud names are the operator's: a pool made with an
//! inline image needs the operator's token, and a tenant admin can only
//! name an image the operator registered.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use opencloud_tenant_admin::validate;
use serde::{Deserialize, Serialize};

use super::model::{
    Image, ImageSource, Images, Pool, Pools, ProviderKind, Quota, Quotas, Usage, UsageEvent, Vm,
    VmState,
};
use super::vms::SCAN_LIMIT;
use crate::db::{PlatformDb, TenantDb};
use crate::desktop::admin::{parse, require_admin};
use crate::desktop::TenantSite;
use crate::http::{request_id, require_operator, AppError, AppResult, AppState};

/// An assigned VM is reaped after this long without presence, unless its
/// pool says otherwise.
pub const DEFAULT_IDLE_TIMEOUT_S: u64 = 600;
const MAX_POOL_VMS: u32 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images", get(list_images).post(create_image))
        .route("/api/v1/images/{id}", get(read_image).delete(delete_image))
        .route(
            "/api/v1/tenants/{slug}/quota",
            get(read_quota).put(put_quota),
        )
        .route("/t/{slug}/api/v1/pools", get(list_pools).post(create_pool))
        .route(
            "/t/{slug}/api/v1/pools/{id}",
            get(read_pool).put(put_pool).delete(delete_pool),
        )
        .route("/t/{slug}/api/v1/vms", get(list_vms))
        .route("/t/{slug}/api/v1/usage", get(list_usage))
}

// ---- images ----

fn check_source(provider: ProviderKind, source: &ImageSource) -> AppResult<()> {
    let bad = |m: &str| Err(AppError::BadRequest(m.to_string()));
    match (provider, source) {
        (
            ProviderKind::Local,
            ImageSource::Kernel {
                kernel,
                initrd,
                append,
                ..
            },
        ) => {
            if !kernel.is_absolute() || !initrd.is_absolute() {
                return bad("kernel and initrd must be absolute paths on the nodes");
            }
            if append.len() > 1024 {
                return bad("append is at most 1024 characters");
            }
            Ok(())
        }
        (ProviderKind::Local, ImageSource::Disk { disk, .. }) => {
            if disk.is_absolute() {
                Ok(())
            } else {
                bad("disk must be an absolute path on the nodes")
            }
        }
        (
            ProviderKind::Openstack,
            ImageSource::Cloud {
                cloud_image,
                flavor,
                ..
            },
        ) => {
            if cloud_image.is_empty() || flavor.is_empty() {
                return bad("cloud_image and flavor must not be empty");
            }
            Ok(())
        }
        (ProviderKind::Local, ImageSource::Cloud { .. }) => {
            bad("a cloud image needs the openstack provider")
        }
        (ProviderKind::Openstack, _) => bad(
            "the openstack provider boots cloud images: {\"cloud_image\", \"flavor\", \"network\"}",
        ),
    }
}

async fn list_images(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> AppResult<Json<Vec<Image>>> {
    require_operator(&state, &headers)?;
    let all = PlatformDb::new(state.store.clone())
        .list::<Images>(SCAN_LIMIT)
        .await?;
    Ok(Json(all.into_iter().map(|(_, i)| i).collect()))
}

async fn create_image(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<Image>)> {
    require_operator(&state, &headers)?;
    let image: Image = parse(&body, "image")?;
    validate::id("image id", &image.id)?;
    let name = validate::name("image name", &image.name)?;
    check_source(image.provider, &image.source)?;
    let image = Image { name, ..image };
    if !PlatformDb::new(state.store.clone())
        .insert::<Images>(&image.id, &image, request_id(&headers)?)
        .await?
    {
        return Err(AppError::Conflict(format!(
            "an image `{}` already exists",
            image.id
        )));
    }
    Ok((StatusCode::CREATED, Json(image)))
}

async fn read_image(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<Json<Image>> {
    require_operator(&state, &headers)?;
    PlatformDb::new(state.store.clone())
        .get::<Images>(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no image `{id}`")))
}

async fn delete_image(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    require_operator(&state, &headers)?;
    if PlatformDb::new(state.store.clone())
        .delete::<Images>(&id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("no image `{id}`")))
    }
}

// ---- quotas ----

async fn tenant_db(state: &AppState, slug: &str) -> AppResult<TenantDb> {
    let db = PlatformDb::new(state.store.clone());
    if db.get::<crate::records::Tenants>(slug).await?.is_none() {
        return Err(AppError::NotFound(format!("no tenant `{slug}`")));
    }
    Ok(TenantDb::new(state.store.clone(), slug))
}

async fn read_quota(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> AppResult<Json<Quota>> {
    require_operator(&state, &headers)?;
    let db = tenant_db(&state, &slug).await?;
    Ok(Json(db.get::<Quotas>("quota").await?.unwrap_or_default()))
}

async fn put_quota(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<Json<Quota>> {
    require_operator(&state, &headers)?;
    let quota: Quota = parse(&body, "quota")?;
    let db = tenant_db(&state, &slug).await?;
    db.put::<Quotas>("quota", &quota, request_id(&headers)?)
        .await?;
    Ok(Json(quota))
}

// ---- pools ----

/// A pool as asked for: the image by registered id, or inline (operator).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolInput {
    id: String,
    #[serde(default)]
    provider: Option<ProviderKind>,
    /// A registered image's id, or (operator) an image source; parsed by
    /// [`image_choice`] for a clear error.
    image: serde_json::Value,
    #[serde(default = "default_memory")]
    memory_mb: u32,
    #[serde(default = "default_vcpus")]
    vcpus: u32,
    #[serde(default = "default_warm")]
    warm: u32,
    #[serde(default = "default_max")]
    max: u32,
    #[serde(default = "default_idle")]
    idle_timeout_s: u64,
}

#[derive(Debug)]
enum ImageChoice {
    Registered(String),
    Inline(ImageSource),
}

const IMAGE_FORMS: &str = "image must be a registered image's id, or (operator only) \
    {\"kernel\", \"initrd\", \"append\"?, \"ready_line\"?}, {\"disk\", \"ready_line\"?} or \
    {\"cloud_image\", \"flavor\", \"network\"?}";

fn image_choice(v: serde_json::Value) -> AppResult<ImageChoice> {
    match v {
        serde_json::Value::String(id) => Ok(ImageChoice::Registered(id)),
        v @ serde_json::Value::Object(_) => serde_json::from_value(v)
            .map(ImageChoice::Inline)
            .map_err(|_| AppError::BadRequest(IMAGE_FORMS.into())),
        _ => Err(AppError::BadRequest(IMAGE_FORMS.into())),
    }
}

fn default_memory() -> u32 {
    512
}
fn default_vcpus() -> u32 {
    1
}
fn default_warm() -> u32 {
    1
}
fn default_max() -> u32 {
    10
}
fn default_idle() -> u64 {
    DEFAULT_IDLE_TIMEOUT_S
}

/// How many of a pool's VMs are in each state.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub starting: u32,
    pub ready: u32,
    pub assigned: u32,
    pub stopping: u32,
    pub failed: u32,
}

#[derive(Debug, Serialize)]
struct PoolView {
    #[serde(flatten)]
    pool: Pool,
    counts: Counts,
    /// Why its latest VM failed, if one did lately.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_failure: Option<String>,
    /// Why no VM of it can start on this cluster, if none can.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

async fn build_pool(state: &AppState, headers: &HeaderMap, input: PoolInput) -> AppResult<Pool> {
    validate::id("pool id", &input.id)?;
    let (provider, image, image_id) = match image_choice(input.image)? {
        ImageChoice::Inline(source) => {
            if require_operator(state, headers).is_err() {
                return Err(AppError::Forbidden(
                    "only the operator may give a pool's image inline; pick a registered image by its id".into(),
                ));
            }
            let provider = input.provider.unwrap_or(match source {
                ImageSource::Cloud { .. } => ProviderKind::Openstack,
                _ => ProviderKind::Local,
            });
            (provider, source, None)
        }
        ImageChoice::Registered(id) => {
            let image = PlatformDb::new(state.store.clone())
                .get::<Images>(&id)
                .await?
                .ok_or_else(|| AppError::BadRequest(format!("there is no image `{id}`")))?;
            if input.provider.is_some_and(|p| p != image.provider) {
                return Err(AppError::BadRequest(format!(
                    "image `{id}` is for the {} provider",
                    image.provider.name()
                )));
            }
            (image.provider, image.source, Some(id))
        }
    };
    check_source(provider, &image)?;
    if !(64..=262_144).contains(&input.memory_mb) {
        return Err(AppError::BadRequest(
            "memory_mb must be 64 to 262144".into(),
        ));
    }
    if !(1..=64).contains(&input.vcpus) {
        return Err(AppError::BadRequest("vcpus must be 1 to 64".into()));
    }
    if input.max == 0 || input.max > MAX_POOL_VMS {
        return Err(AppError::BadRequest(format!(
            "max must be 1 to {MAX_POOL_VMS}"
        )));
    }
    if input.warm > input.max {
        return Err(AppError::BadRequest("warm must not exceed max".into()));
    }
    if input.idle_timeout_s == 0 || input.idle_timeout_s > 7 * 86_400 {
        return Err(AppError::BadRequest(
            "idle_timeout_s must be 1 to 604800".into(),
        ));
    }
    Ok(Pool {
        id: input.id,
        provider,
        image_id,
        image,
        memory_mb: input.memory_mb,
        vcpus: input.vcpus,
        warm: input.warm,
        max: input.max,
        idle_timeout_s: input.idle_timeout_s,
    })
}

fn view(state: &AppState, pool: Pool, vms: &[Vm]) -> PoolView {
    let mut counts = Counts::default();
    let mut last: Option<&Vm> = None;
    for vm in vms.iter().filter(|v| v.pool == pool.id) {
        match vm.state {
            VmState::Starting => counts.starting += 1,
            VmState::Ready => counts.ready += 1,
            VmState::Assigned => counts.assigned += 1,
            VmState::Stopping => counts.stopping += 1,
            VmState::Failed => {
                counts.failed += 1;
                if last.is_none_or(|l| l.since <= vm.since) {
                    last = Some(vm);
                }
            }
        }
    }
    // `--openstack` is a node setting, meant to be the same on every node:
    // without it here, the leader's planner has none either and starts
    // nothing for such a pool.
    let problem = (pool.provider == ProviderKind::Openstack && state.broker.openstack.is_none())
        .then(|| {
            "this cluster has no OpenStack connection (--openstack): no VM of this pool starts"
                .to_string()
        });
    PoolView {
        pool,
        counts,
        last_failure: last.and_then(|v| v.reason.clone()),
        problem,
    }
}

async fn all_vms(site: &TenantSite) -> AppResult<Vec<Vm>> {
    super::vms::all(&site.db).await
}

type Admin = (State<AppState>, TenantSite, HeaderMap);

async fn list_pools((State(state), site, headers): Admin) -> AppResult<Json<Vec<PoolView>>> {
    require_admin(&state, &site, &headers).await?;
    let vms = all_vms(&site).await?;
    let pools = site.db.list::<Pools>(SCAN_LIMIT).await?;
    Ok(Json(
        pools
            .into_iter()
            .map(|(_, p)| view(&state, p, &vms))
            .collect(),
    ))
}

async fn create_pool(
    (State(state), site, headers): Admin,
    body: axum::body::Bytes,
) -> AppResult<(StatusCode, Json<PoolView>)> {
    require_admin(&state, &site, &headers).await?;
    let pool = build_pool(&state, &headers, parse(&body, "pool")?).await?;
    if !site
        .db
        .insert::<Pools>(&pool.id, &pool, request_id(&headers)?)
        .await?
    {
        return Err(AppError::Conflict(format!(
            "a pool `{}` already exists",
            pool.id
        )));
    }
    Ok((StatusCode::CREATED, Json(view(&state, pool, &[]))))
}

async fn read_pool(
    (State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<Json<PoolView>> {
    require_admin(&state, &site, &headers).await?;
    let pool = site
        .db
        .get::<Pools>(&id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no pool `{id}`")))?;
    Ok(Json(view(&state, pool, &all_vms(&site).await?)))
}

async fn put_pool(
    (State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> AppResult<Json<PoolView>> {
    require_admin(&state, &site, &headers).await?;
    let pool = build_pool(&state, &headers, parse(&body, "pool")?).await?;
    if pool.id != id {
        return Err(AppError::BadRequest(
            "the body's id differs from the URL's".into(),
        ));
    }
    site.db
        .put::<Pools>(&id, &pool, request_id(&headers)?)
        .await?;
    Ok(Json(view(&state, pool, &all_vms(&site).await?)))
}

/// Removes a pool; its idle VMs stop at the planner's next pass, assigned
/// ones when their users leave.
async fn delete_pool(
    (State(state), site, headers): Admin,
    Path((_, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    require_admin(&state, &site, &headers).await?;
    if site.db.delete::<Pools>(&id, request_id(&headers)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("no pool `{id}`")))
    }
}

/// A VM as admins see it: never its SPICE password.
#[derive(Debug, Serialize)]
struct VmView {
    id: String,
    pool: String,
    provider: ProviderKind,
    node: Option<u64>,
    state: VmState,
    user: Option<String>,
    assigned_at: Option<u64>,
    created_at: u64,
    since: u64,
    reason: Option<String>,
}

async fn list_vms((State(state), site, headers): Admin) -> AppResult<Json<Vec<VmView>>> {
    require_admin(&state, &site, &headers).await?;
    let vms = all_vms(&site).await?;
    Ok(Json(
        vms.into_iter()
            .map(|v| VmView {
                user: v.assigned.as_ref().map(|a| a.login.clone()),
                assigned_at: v.assigned.as_ref().map(|a| a.at),
                id: v.id,
                pool: v.pool,
                provider: v.provider,
                node: v.node,
                state: v.state,
                created_at: v.created_at,
                since: v.since,
                reason: v.reason,
            })
            .collect(),
    ))
}

/// The tenant's metered usage: VM-seconds per VM assignment, in periods
/// while it runs and the rest at its end (what billing reads).
async fn list_usage((State(state), site, headers): Admin) -> AppResult<Json<Vec<UsageEvent>>> {
    require_admin(&state, &site, &headers).await?;
    let events = site.db.list::<Usage>(SCAN_LIMIT).await?;
    Ok(Json(events.into_iter().map(|(_, e)| e).collect()))
}
