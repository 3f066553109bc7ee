//! Sign-in: local accounts (argon2id) and the tenant's directory (LDAP),
//! with failures counted per account and per address in the store, a
//! captcha from the third failure on and growing delays after it. Answers
//! never tell whether an account exists.

use opencloud_tenant_admin::model::{User, UserSource};
use opencloud_tenant_admin::tables::{LdapTable, Users};
use opencloud_tenant_admin::{directory, password, Error as DomainError};
use sha2::{Digest, Sha256};

use super::captcha::{self, Issued};
use super::records::{Failures, LoginFailures};
use super::{SiteConfig, TenantSite};
use crate::db::{fresh_request_id, TenantDb};
use crate::http::{AppError, AppResult};

/// What a sign-in attempt carries.
pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub captcha: Option<(&'a str, &'a str)>,
    /// The client's address, for the per-address counter.
    pub addr: String,
}

/// How an attempt ended.
pub enum SignIn {
    /// Signed in: the session secret for the cookie.
    Done { secret: String },
    /// Refused; with a captcha to show when one is now required.
    Denied {
        captcha_required: bool,
        /// The captcha was missing or wrong (the password was not checked).
        captcha_wrong: bool,
        captcha: Option<Issued>,
    },
    /// Too many failures: try again after this many seconds.
    Wait { retry_after_s: u64 },
}

fn account_key(username: &str) -> String {
    // Hashed: whatever a visitor types becomes a well-formed, bounded key.
    let h = Sha256::digest(username.trim().to_lowercase().as_bytes());
    format!("a:{}", hex::encode(&h[..16]))
}

fn address_key(addr: &str) -> String {
    let h = Sha256::digest(addr.as_bytes());
    format!("i:{}", hex::encode(&h[..16]))
}

/// The failures still counting at `now`.
fn live(f: Option<Failures>, cfg: &SiteConfig, now: u64) -> Failures {
    f.filter(|f| now < f.first_at.saturating_add(cfg.failure_window_s))
        .unwrap_or_default()
}

/// The wait imposed after `count` failures: none up to the captcha
/// threshold, then 1, 2, 4 ... seconds up to `max_delay_s`.
pub fn delay_after(count: u32, cfg: &SiteConfig) -> u64 {
    if count <= cfg.captcha_after {
        return 0;
    }
    let exp = (count - cfg.captcha_after - 1).min(16);
    (1u64 << exp).min(cfg.max_delay_s)
}

async fn bump(db: &TenantDb, key: &str, cfg: &SiteConfig, now: u64) -> AppResult<u32> {
    let after = db
        .update::<LoginFailures, _>(key, |f| {
            let mut f = live(f, cfg, now);
            if f.count == 0 {
                f.first_at = now;
            }
            f.count = f.count.saturating_add(1);
            f.last_at = now;
            Ok(Some(f))
        })
        .await?;
    Ok(after.map_or(0, |f| f.count))
}

/// Runs one sign-in attempt against `site`'s tenant.
pub async fn attempt(site: &TenantSite, a: Attempt<'_>, now: u64) -> AppResult<SignIn> {
    let cfg = &site.cfg;
    let db = &site.db;
    let (acct_key, addr_key) = (account_key(a.username), address_key(&a.addr));
    let acct = live(db.get::<LoginFailures>(&acct_key).await?, cfg, now);
    let from = live(db.get::<LoginFailures>(&addr_key).await?, cfg, now);
    let worst = acct.count.max(from.count);
    let last = acct.last_at.max(from.last_at);
    let wait = delay_after(worst, cfg);
    if wait > 0 && now < last + wait {
        return Ok(SignIn::Wait {
            retry_after_s: last + wait - now,
        });
    }
    let needs_captcha = worst >= cfg.captcha_after;
    if needs_captcha {
        let solved = match a.captcha {
            Some((id, answer)) => captcha::redeem(db, id, answer, now).await?,
            None => false,
        };
        if !solved {
            // A missing or wrong captcha counts as a failure too, or a
            // script could probe passwords by skipping it.
            bump(db, &addr_key, cfg, now).await?;
            return Ok(SignIn::Denied {
                captcha_required: true,
                captcha_wrong: true,
                captcha: Some(captcha::issue(db, cfg.fixed_captcha.as_deref(), now).await?),
            });
        }
    }
    match check_credentials(site, a.username, a.password, now).await {
        Ok(login) => {
            db.delete::<LoginFailures>(&acct_key, fresh_request_id())
                .await?;
            let secret = super::session::create(db, cfg, &login, now).await?;
            super::touch_access(db, &login, now).await?;
            Ok(SignIn::Done { secret })
        }
        Err(AppError::Unauthorized) => {
            let a_count = bump(db, &acct_key, cfg, now).await?;
            let i_count = bump(db, &addr_key, cfg, now).await?;
            let required = a_count.max(i_count) >= cfg.captcha_after;
            let captcha = if required {
                Some(captcha::issue(db, cfg.fixed_captcha.as_deref(), now).await?)
            } else {
                None
            };
            Ok(SignIn::Denied {
                captcha_required: required,
                captcha_wrong: false,
                captcha,
            })
        }
        Err(e) => Err(e),
    }
}

/// Runs the argon2 check off the async threads.
async fn verify(hash: Option<String>, password: &str) -> AppResult<bool> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => password::verify(&h, &password),
        None => {
            password::dummy_verify(&password);
            false
        }
    })
    .await
    .map_err(|e| AppError::Internal(format!("password check: {e}")))
}

/// The login of the account these credentials open, or `Unauthorized`.
async fn check_credentials(
    site: &TenantSite,
    username: &str,
    pw: &str,
    now: u64,
) -> AppResult<String> {
    let login = username.trim().to_lowercase();
    let valid_login = opencloud_tenant_admin::validate::login(&login).is_ok();
    let user = if valid_login {
        site.db.get::<Users>(&login).await?
    } else {
        None
    };
    let ldap = site.db.get::<LdapTable>("ldap").await?;
    match (&user, &ldap) {
        (Some(u), _) if u.disabled => {
            verify(None, pw).await?;
            Err(AppError::Unauthorized)
        }
        (
            Some(
                u @ User {
                    source: UserSource::Local,
                    ..
                },
            ),
            _,
        ) => {
            if verify(u.password_hash.clone(), pw).await? {
                Ok(login)
            } else {
                Err(AppError::Unauthorized)
            }
        }
        (_, Some(cfg)) if valid_login => match directory::authenticate(cfg, &login, pw).await {
            Ok(found) => {
                provision(site, &login, cfg, found, now).await?;
                Ok(login)
            }
            Err(DomainError::InvalidCredentials) => Err(AppError::Unauthorized),
            Err(DomainError::DirectoryUnavailable(why)) => {
                tracing::warn!("tenant {}: directory unavailable: {why}", site.db.tenant());
                Err(AppError::Unavailable(
                    "the company directory is not answering; try again shortly".into(),
                ))
            }
            Err(e) => {
                tracing::warn!("tenant {}: directory sign-in failed: {e}", site.db.tenant());
                Err(AppError::Unavailable(
                    "sign-in through the company directory is not working; tell your administrator"
                        .into(),
                ))
            }
        },
        _ => {
            verify(None, pw).await?;
            Err(AppError::Unauthorized)
        }
    }
}

/// Creates or refreshes a directory user's record: profiles follow the
/// directory's groups at every sign-in.
async fn provision(
    site: &TenantSite,
    login: &str,
    cfg: &opencloud_tenant_admin::model::LdapConfig,
    found: directory::DirectoryUser,
    now: u64,
) -> AppResult<()> {
    let profiles = directory::profiles_for(cfg, &found.groups);
    let display = found.display_name.clone();
    site.db
        .update::<Users, _>(login, |current| {
            let mut u = current.unwrap_or_else(|| User {
                login: login.to_string(),
                display_name: login.to_string(),
                password_hash: None,
                source: UserSource::Ldap {
                    dn: found.dn.clone(),
                },
                profiles: Vec::new(),
                admin: false,
                disabled: false,
                created_at: now,
            });
            u.source = UserSource::Ldap {
                dn: found.dn.clone(),
            };
            u.profiles = profiles.clone();
            if let Some(d) = &display {
                u.display_name = d.clone();
            }
            Ok(Some(u))
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_captcha_threshold_and_are_capped() {
        let cfg = SiteConfig::default();
        assert_eq!(delay_after(0, &cfg), 0);
        assert_eq!(delay_after(cfg.captcha_after, &cfg), 0);
        assert_eq!(delay_after(cfg.captcha_after + 1, &cfg), 1);
        assert_eq!(delay_after(cfg.captcha_after + 2, &cfg), 2);
        assert_eq!(delay_after(cfg.captcha_after + 3, &cfg), 4);
        assert_eq!(delay_after(u32::MAX, &cfg), cfg.max_delay_s);
    }

    #[test]
    fn counter_keys_are_bounded_and_case_blind() {
        assert_eq!(account_key("Alice "), account_key("alice"));
        assert_ne!(account_key("alice"), account_key("bob"));
        assert_eq!(account_key(&"x".repeat(10_000)).len(), 34);
        assert_ne!(address_key("127.0.0.1"), account_key("127.0.0.1"));
    }

    #[test]
    fn old_failures_stop_counting() {
        let cfg = SiteConfig::default();
        let f = Failures {
            count: 5,
            first_at: 100,
            last_at: 200,
        };
        assert_eq!(live(Some(f.clone()), &cfg, 150).count, 5);
        assert_eq!(live(Some(f), &cfg, 100 + cfg.failure_window_s).count, 0);
    }
}
