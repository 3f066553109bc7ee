//! The embedded default's demo tenant: `opencloud up` on a fresh data
//! directory creates tenant `demo` with a user whose password it prints, a
//! profile and a few web apps, so a newcomer can sign in at once.

use std::sync::Arc;

use opencloud_raft::table::{platform_key, seal};
use opencloud_raft::{Command, Outcome, Proposal, Store};
use opencloud_tenant_admin::model::{App, AppKind, Profile, User, UserSource};
use opencloud_tenant_admin::password;
use opencloud_tenant_admin::tables::{Apps, Profiles, Users};

use super::SiteConfig;
use crate::db::{fresh_request_id, TenantDb};
use crate::records::{Tenant, TenantStatus, Tenants};

pub const SLUG: &str = "demo";
pub const USER: &str = "demo";

/// What the newcomer is told.
pub struct Created {
    pub password: String,
}

/// Creates the demo tenant unless a tenant `demo` exists; `None` when it
/// did (its password was printed when it was made).
pub async fn ensure(
    store: &Arc<Store>,
    cfg: &SiteConfig,
    now: u64,
) -> anyhow::Result<Option<Created>> {
    let tenant = Tenant {
        slug: SLUG.into(),
        name: "Demo Company".into(),
        status: TenantStatus::Active,
        created_at: now,
    };
    // The tenant record goes last, so that a crash half-way leaves no
    // tenant without its user: the next start simply does it all again.
    let key = platform_key::<Tenants>(SLUG);
    let exists = matches!(
        store
            .read(opencloud_raft::Query::Get { key: key.clone() })
            .await?,
        opencloud_raft::QueryResult::Value(Some(_))
    );
    if exists {
        return Ok(None);
    }
    let db = TenantDb::new(store.clone(), SLUG);
    let apps = [
        ("wikipedia", "Wikipedia", "https://www.wikipedia.org/"),
        (
            "openstreetmap",
            "OpenStreetMap",
            "https://www.openstreetmap.org/",
        ),
        ("whiteboard", "Whiteboard", "https://excalidraw.com/"),
    ];
    for (id, name, url) in apps {
        let app = App {
            id: id.into(),
            name: name.into(),
            icon: None,
            kind: AppKind::Web { url: url.into() },
            frame: true,
        };
        db.put::<Apps>(id, &app, fresh_request_id()).await?;
    }
    let profile = Profile {
        id: "staff".into(),
        name: "Staff".into(),
        apps: apps.iter().map(|(id, _, _)| id.to_string()).collect(),
    };
    db.put::<Profiles>("staff", &profile, fresh_request_id())
        .await?;
    let pw = crate::viewer::random_hex(8);
    let params = cfg.hash;
    let pw2 = pw.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw2, &params)).await??;
    let user = User {
        login: USER.into(),
        display_name: "Demo User".into(),
        password_hash: Some(hash),
        source: UserSource::Local,
        profiles: vec!["staff".into()],
        admin: true,
        disabled: false,
        created_at: now,
    };
    db.put::<Users>(USER, &user, fresh_request_id()).await?;
    let outcome = store
        .write(Proposal {
            request_id: fresh_request_id(),
            command: Command::Insert {
                key,
                value: seal::<Tenants>(&tenant)?,
            },
        })
        .await?;
    Ok(match outcome {
        Outcome::Done => Some(Created { password: pw }),
        // Another node (or an earlier start) made it meanwhile.
        _ => None,
    })
}
