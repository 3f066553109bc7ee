//! Unit tests of [`super`] that need no directory; the ones against a real
//! slapd are in `tests/tests/ldap_directory.rs`.

use super::*;
use ldap3::asn1::TagClass;
use std::collections::BTreeMap;

fn cfg() -> LdapConfig {
    LdapConfig {
        url: "ldap://127.0.0.1:1".into(),
        bind_dn: "cn=svc,dc=example,dc=org".into(),
        bind_password: "pw".into(),
        base_dn: "dc=example,dc=org".into(),
        user_filter: "(uid={username})".into(),
        group_attribute: "memberOf".into(),
        group_profiles: BTreeMap::from([
            (
                "cn=Staff, ou=groups, dc=example, dc=org".to_string(),
                vec!["staff".to_string(), "common".to_string()],
            ),
            (
                "developers".to_string(),
                vec!["dev".to_string(), "common".to_string()],
            ),
            (
                "cn=admins,ou=groups,dc=example,dc=org".to_string(),
                vec!["admin".to_string()],
            ),
        ]),
        tls: LdapTls::None,
        ca_pem: None,
        timeout_ms: 500,
        display_name_attribute: "cn".into(),
    }
}

#[test]
fn groups_map_to_sorted_unique_profiles() {
    let c = cfg();
    let groups = vec![
        "CN=staff,OU=Groups,DC=example,DC=org".to_string(),
        "cn=developers,ou=groups,dc=example,dc=org".to_string(),
        "cn=unmapped,dc=example,dc=org".to_string(),
    ];
    assert_eq!(profiles_for(&c, &groups), vec!["common", "dev", "staff"]);
    // Plain group names (e.g. from a non-DN group attribute) match too.
    assert_eq!(profiles_for(&c, &["Admins".to_string()]), vec!["admin"]);
    assert!(profiles_for(&c, &[]).is_empty());
    // A DN in another subtree with the same first RDN is not the same group.
    assert!(profiles_for(&c, &["cn=admins,ou=other,dc=example,dc=org".into()]).is_empty());
}

fn prim(id: u64, v: &[u8]) -> StructureTag {
    StructureTag {
        class: TagClass::Universal,
        id,
        payload: PL::P(v.to_vec()),
    }
}

fn cons(id: u64, v: Vec<StructureTag>) -> StructureTag {
    StructureTag {
        class: TagClass::Universal,
        id,
        payload: PL::C(v),
    }
}

#[test]
fn entries_parse_and_malformed_ones_do_not_panic() {
    let good = cons(
        4,
        vec![
            prim(4, b"uid=a,dc=x"),
            cons(
                16,
                vec![cons(
                    16,
                    vec![prim(4, b"cn"), cons(17, vec![prim(4, b"A")])],
                )],
            ),
        ],
    );
    let (dn, attrs) = parse_entry(&good).unwrap();
    assert_eq!(dn, "uid=a,dc=x");
    assert_eq!(attrs, vec![("cn".to_string(), vec![b"A".to_vec()])]);
    for bad in [
        prim(4, b"x"),
        cons(4, vec![]),
        cons(4, vec![prim(4, b"uid=a")]),
        cons(4, vec![cons(4, vec![]), cons(16, vec![])]),
        cons(4, vec![prim(4, b"\xff\xfe"), cons(16, vec![])]),
        cons(4, vec![prim(4, b"uid=a"), cons(16, vec![prim(4, b"cn")])]),
        cons(
            4,
            vec![
                prim(4, b"uid=a"),
                cons(16, vec![cons(16, vec![prim(4, b"cn")])]),
            ],
        ),
        cons(
            4,
            vec![
                prim(4, b"uid=a"),
                cons(
                    16,
                    vec![cons(
                        16,
                        vec![prim(4, b"cn"), cons(17, vec![cons(4, vec![])])],
                    )],
                ),
            ],
        ),
    ] {
        assert!(parse_entry(&bad).is_none(), "{bad:?}");
    }
}

#[tokio::test]
async fn bad_credentials_are_refused_before_any_connection() {
    // The URL points nowhere: these must fail without trying it.
    let c = cfg();
    for (user, pw) in [
        ("alice", ""),
        ("", "pw"),
        ("al\u{0}ice", "pw"),
        ("al\nice", "pw"),
        (&*"a".repeat(257), "pw"),
    ] {
        assert_eq!(
            authenticate(&c, user, pw).await,
            Err(Error::InvalidCredentials),
            "{user:?}"
        );
    }
    let long_pw = "p".repeat(1025);
    assert_eq!(
        authenticate(&c, "alice", &long_pw).await,
        Err(Error::InvalidCredentials)
    );
}

#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = LdapConfig {
        url: format!("ldap://127.0.0.1:{port}"),
        ..cfg()
    };
    match authenticate(&c, "alice", "secret").await {
        Err(Error::DirectoryUnavailable(m)) => assert!(m.contains("connecting"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unusable_settings_are_misconfigured() {
    for c in [
        LdapConfig {
            url: "ldap://".into(),
            ..cfg()
        },
        LdapConfig {
            url: "http://x".into(),
            ..cfg()
        },
        LdapConfig {
            tls: LdapTls::StartTls,
            ca_pem: Some(
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
            ),
            ..cfg()
        },
        LdapConfig {
            tls: LdapTls::StartTls,
            ca_pem: Some("no pem at all".into()),
            ..cfg()
        },
        LdapConfig {
            url: "ldaps://127.0.0.1:1".into(),
            tls: LdapTls::StartTls,
            ..cfg()
        },
    ] {
        assert!(
            matches!(
                authenticate(&c, "alice", "secret").await,
                Err(Error::DirectoryMisconfigured(_))
            ),
            "{c:?}"
        );
    }
}

#[test]
fn directory_users_keep_local_flags() {
    let found = DirectoryUser {
        dn: "uid=alice,dc=x".into(),
        display_name: Some("Alice\u{7}".into()),
        groups: vec![],
    };
    let first = User::from_directory("alice".into(), &found, vec!["staff".into()], None, 10);
    assert_eq!(
        first.display_name, "alice",
        "a name with control characters is not used"
    );
    assert_eq!(first.created_at, 10);
    assert!(!first.admin && first.password_hash.is_none());
    let prev = User {
        admin: true,
        disabled: true,
        ..first.clone()
    };
    let again = User::from_directory("alice".into(), &found, vec![], Some(&prev), 20);
    assert!(again.admin && again.disabled);
    assert_eq!(again.created_at, 10);
    assert!(again.profiles.is_empty());
}
