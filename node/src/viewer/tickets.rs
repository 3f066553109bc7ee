//! Viewer tickets and grants, kept in the replicated store so that any node
//! accepts them.
//!
//! A *ticket* is what a viewer page is opened with: short-lived, single-use,
//! naming the VM's SPICE address and password so that the browser never sees
//! either in translate mode. Redeeming it is a compare-and-swap in the store,
//! so two nodes cannot both accept it. A translate-mode redemption yields a
//! *grant*: a resume key the page keeps to reconnect after a network blip
//! (the ticket itself is spent by then).
//!
//! Both are stored under the SHA-256 of their secret: the store (and its
//! snapshots and backups) never holds a usable ticket or resume key.

use opencloud_raft::table::{json_decode, json_encode, open, platform_key, seal, Scope, Table};
use opencloud_raft::{Command, Outcome, Proposal, Query, QueryResult, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Target;

/// A tenant session that an open viewer keeps present (a VM app's viewer,
/// launched from that session): the broker reaps a VM when its user shows
/// no presence, and a viewer open in a tab of its own is presence too.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Keepalive {
    /// The tenant's id (its store scope).
    pub tenant: String,
    /// The store key of the session.
    pub session: String,
}

/// How the viewer reaches the VM.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// SPICE is decoded on the node; the browser gets images.
    Translate,
    /// Raw SPICE bytes over the websocket, for stock SPICE web clients.
    Passthrough,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ticket {
    pub addr: String,
    pub password: String,
    pub mode: Mode,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
    /// When it was first redeemed.
    pub used_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<Keepalive>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    pub addr: String,
    pub password: String,
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<Keepalive>,
}

/// What a ticket or resume key opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    pub target: Target,
    pub keepalive: Option<Keepalive>,
}

pub struct Tickets;

impl Table for Tickets {
    const NAME: &'static str = "viewer_tickets";
    const SCOPE: Scope = Scope::Platform;
    type Value = Ticket;
    fn encode_value(v: &Ticket) -> opencloud_raft::Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> opencloud_raft::Result<Ticket> {
        json_decode(Self::NAME, b)
    }
}

pub struct Grants;

impl Table for Grants {
    const NAME: &'static str = "viewer_grants";
    const SCOPE: Scope = Scope::Platform;
    type Value = Grant;
    fn encode_value(v: &Grant) -> opencloud_raft::Result<Vec<u8>> {
        json_encode(Self::NAME, v)
    }
    fn decode_value(b: &[u8]) -> opencloud_raft::Result<Grant> {
        json_decode(Self::NAME, b)
    }
}

/// Why a ticket or resume key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Unknown, expired or already used: asking again will not help.
    #[error("{0}")]
    Refused(&'static str),
    /// The store could not answer; the same key may work later.
    #[error("the cluster cannot check the ticket now: {0}")]
    Unavailable(String),
}

impl From<opencloud_raft::Error> for TicketError {
    fn from(e: opencloud_raft::Error) -> Self {
        TicketError::Unavailable(e.to_string())
    }
}

/// Passthrough clients (spice-html5) open one websocket per SPICE channel,
/// all with the same URL: a passthrough ticket admits further sockets for
/// this many seconds after its first use.
pub const PASSTHROUGH_WINDOW_S: u64 = 10;

/// The longest life an operator may give a ticket.
pub const MAX_TICKET_TTL_S: u64 = 600;

fn secret() -> String {
    super::random_hex(24)
}

fn hashed(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Secrets are 48 hex digits; anything else is refused before a store read.
fn well_formed(secret: &str) -> bool {
    secret.len() == 48 && secret.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn put<T: Table>(store: &Store, key: &str, value: &T::Value) -> Result<(), TicketError> {
    let proposal = Proposal {
        request_id: format!("g:{}", secret()),
        command: Command::Insert {
            key: platform_key::<T>(key),
            value: seal::<T>(value)?,
        },
    };
    match store.write(proposal).await? {
        Outcome::Done => Ok(()),
        other => Err(TicketError::Unavailable(format!("unexpected {other:?}"))),
    }
}

async fn get<T: Table>(
    store: &Store,
    key: &str,
) -> Result<Option<(Vec<u8>, T::Value)>, TicketError> {
    match store
        .read(Query::Get {
            key: platform_key::<T>(key),
        })
        .await?
    {
        QueryResult::Value(Some(raw)) => {
            let v = open::<T>(&raw)?;
            Ok(Some((raw, v)))
        }
        QueryResult::Value(None) => Ok(None),
        QueryResult::Pairs(_) => Err(TicketError::Unavailable("scan answer to a get".into())),
    }
}

/// Stores a new ticket; returns its secret.
pub async fn issue(
    store: &Store,
    now: u64,
    target: &Target,
    mode: Mode,
    ttl_s: u64,
    keepalive: Option<Keepalive>,
) -> Result<String, TicketError> {
    let token = secret();
    let ticket = Ticket {
        addr: target.addr.clone(),
        password: target.password.clone(),
        mode,
        expires_at: now.saturating_add(ttl_s.min(MAX_TICKET_TTL_S)),
        used_at: None,
        keepalive,
    };
    put::<Tickets>(store, &hashed(&token), &ticket).await?;
    Ok(token)
}

/// Spends a ticket for `mode`. A translate ticket works once; a passthrough
/// ticket admits sockets for [`PASSTHROUGH_WINDOW_S`] after its first use.
pub async fn redeem(
    store: &Store,
    now: u64,
    token: &str,
    mode: Mode,
) -> Result<Admitted, TicketError> {
    if !well_formed(token) {
        return Err(TicketError::Refused("malformed viewer token"));
    }
    let key = hashed(token);
    let Some((raw, ticket)) = get::<Tickets>(store, &key).await? else {
        return Err(TicketError::Refused("unknown viewer token"));
    };
    if ticket.mode != mode {
        return Err(TicketError::Refused(
            "this token is for the other viewer mode",
        ));
    }
    let admitted = Admitted {
        target: Target {
            addr: ticket.addr.clone(),
            password: ticket.password.clone(),
        },
        keepalive: ticket.keepalive.clone(),
    };
    if let Some(used) = ticket.used_at {
        let within = mode == Mode::Passthrough && now <= used.saturating_add(PASSTHROUGH_WINDOW_S);
        return if within {
            Ok(admitted)
        } else {
            Err(TicketError::Refused("this viewer token was already used"))
        };
    }
    if now > ticket.expires_at {
        return Err(TicketError::Refused("this viewer token has expired"));
    }
    let spent = Ticket {
        used_at: Some(now),
        ..ticket
    };
    let proposal = Proposal {
        request_id: format!("g:{}", secret()),
        command: Command::CompareAndSwap {
            key: platform_key::<Tickets>(&key),
            expected: Some(raw),
            new: Some(seal::<Tickets>(&spent)?),
        },
    };
    match store.write(proposal).await? {
        Outcome::Done => Ok(admitted),
        // Someone redeemed it between our read and our swap.
        Outcome::Conflict { .. } => Err(TicketError::Refused("this viewer token was already used")),
        other => Err(TicketError::Unavailable(format!("unexpected {other:?}"))),
    }
}

/// Stores a grant to reconnect to what a ticket admitted until
/// `now + ttl_s`; returns the resume key.
pub async fn grant(
    store: &Store,
    now: u64,
    admitted: &Admitted,
    ttl_s: u64,
) -> Result<String, TicketError> {
    let key = secret();
    let grant = Grant {
        addr: admitted.target.addr.clone(),
        password: admitted.target.password.clone(),
        expires_at: now.saturating_add(ttl_s),
        keepalive: admitted.keepalive.clone(),
    };
    put::<Grants>(store, &hashed(&key), &grant).await?;
    Ok(key)
}

/// What a resume key reconnects to.
pub async fn resume(store: &Store, now: u64, key: &str) -> Result<Admitted, TicketError> {
    if !well_formed(key) {
        return Err(TicketError::Refused("malformed resume key"));
    }
    match get::<Grants>(store, &hashed(key)).await? {
        Some((_, g)) if now <= g.expires_at => Ok(Admitted {
            target: Target {
                addr: g.addr,
                password: g.password,
            },
            keepalive: g.keepalive,
        }),
        Some(_) => Err(TicketError::Refused("this viewer session has expired")),
        None => Err(TicketError::Refused("unknown resume key")),
    }
}

/// Deletes expired tickets and grants; returns how many. Run on the leader
/// only, now and then: expired records are refused anyway, this only keeps
/// the store small.
pub async fn sweep(store: &Store, now: u64) -> Result<usize, TicketError> {
    let mut removed = 0;
    // A spent passthrough ticket is kept through its window, then goes.
    removed += sweep_table::<Tickets>(store, |t| {
        now > t
            .expires_at
            .max(t.used_at.unwrap_or(0) + PASSTHROUGH_WINDOW_S)
    })
    .await?;
    removed += sweep_table::<Grants>(store, |g| now > g.expires_at).await?;
    Ok(removed)
}

async fn sweep_table<T: Table>(
    store: &Store,
    expired: impl Fn(&T::Value) -> bool,
) -> Result<usize, TicketError> {
    let prefix = opencloud_raft::table::platform_prefix::<T>();
    let QueryResult::Pairs(pairs) = store
        .read(Query::Scan {
            prefix,
            limit: 10_000,
        })
        .await?
    else {
        return Ok(0);
    };
    let mut removed = 0;
    for (key, raw) in pairs {
        // Records from a newer version that this node cannot read are left.
        let Ok(v) = open::<T>(&raw) else { continue };
        if !expired(&v) {
            continue;
        }
        let proposal = Proposal {
            request_id: format!("g:{}", secret()),
            command: Command::CompareAndSwap {
                key,
                expected: Some(raw),
                new: None,
            },
        };
        if let Outcome::Done = store.write(proposal).await? {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_well_formed_and_distinct() {
        let a = secret();
        let b = secret();
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
        assert!(!well_formed("../../etc"));
        assert!(!well_formed(&a[..47]));
        assert_ne!(hashed(&a), a);
    }
}
