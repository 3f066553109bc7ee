//! Directory sign-in (`opencloud_tenant_admin::directory`) against a real
//! OpenLDAP slapd with the memberof overlay, a directory that goes down,
//! and one that accepts connections but never answers.

use std::time::{Duration, Instant};

use opencloud_tenant_admin::{authenticate, profiles_for, Error, LdapConfig, LdapTls};
use opencloud_tests::slapd::{
    Blackhole, Slapd, ADMINS_GROUP, ALICE, BOB, CAROL, DEVELOPERS_GROUP, STAFF_GROUP,
};

#[tokio::test]
async fn the_right_password_gives_dn_display_name_groups_and_profiles() {
    let slapd = Slapd::start().await.expect("slapd");
    let cfg = slapd.config();

    let alice = authenticate(&cfg, ALICE.uid, ALICE.password)
        .await
        .unwrap_or_else(|e| panic!("alice: {e}\n{}", slapd.log()));
    assert_eq!(alice.dn, ALICE.dn());
    assert_eq!(alice.display_name.as_deref(), Some(ALICE.cn));
    let mut groups: Vec<String> = alice.groups.iter().map(|g| g.to_lowercase()).collect();
    groups.sort();
    assert_eq!(groups, vec![DEVELOPERS_GROUP, STAFF_GROUP]);
    // STAFF_GROUP is mapped by DN, "developers" by plain name.
    assert_eq!(profiles_for(&cfg, &alice.groups), vec!["dev", "staff"]);

    let bob = authenticate(&cfg, BOB.uid, BOB.password)
        .await
        .expect("bob");
    assert_eq!(profiles_for(&cfg, &bob.groups), vec!["staff"]);

    // Carol's password is stored as {SSHA}; logins match case-insensitively
    // as the directory's uid attribute does.
    let carol = authenticate(&cfg, "CAROL", CAROL.password)
        .await
        .expect("carol");
    assert_eq!(carol.dn, CAROL.dn());
    assert_eq!(carol.groups.len(), 1);
    assert!(carol.groups[0].eq_ignore_ascii_case(ADMINS_GROUP));
    assert_eq!(profiles_for(&cfg, &carol.groups), vec!["admin"]);
}

#[tokio::test]
async fn wrong_unknown_empty_and_injected_are_invalid_credentials() {
    let slapd = Slapd::start().await.expect("slapd");
    let cfg = slapd.config();
    let cases: &[(&str, &str)] = &[
        (ALICE.uid, "wrong-password"),
        (ALICE.uid, BOB.password),
        (ALICE.uid, ""),
        ("nobody", "whatever-1"),
        ("", ALICE.password),
        // Filter metacharacters must be literal, never widen the search.
        ("*", ALICE.password),
        ("*)(uid=*", ALICE.password),
        ("alice)(|(uid=*", ALICE.password),
        ("ali*", ALICE.password),
        ("alice\\", ALICE.password),
        ("*)(objectClass=*))(|(uid=*", ALICE.password),
        // The service account is not a user.
        ("service", "service-secret"),
    ];
    for (user, password) in cases {
        let got = authenticate(&cfg, user, password).await;
        assert_eq!(
            got,
            Err(Error::InvalidCredentials),
            "{user:?} / {password:?}"
        );
    }
    // Escaping also holds with a filter of the admin's own shape.
    let ad_like = LdapConfig {
        user_filter: "(&(objectClass=inetOrgPerson)(|(uid={username})(cn={username})))".into(),
        ..cfg.clone()
    };
    assert!(authenticate(&ad_like, "Alice Liddell", ALICE.password)
        .await
        .is_ok());
    assert_eq!(
        authenticate(&ad_like, "*", ALICE.password).await,
        Err(Error::InvalidCredentials)
    );
}

#[tokio::test]
async fn a_search_that_matches_several_people_signs_in_nobody() {
    let slapd = Slapd::start().await.expect("slapd");
    // Bob and Carol share a surname: two entries.
    let by_surname = LdapConfig {
        user_filter: "(sn={username})".into(),
        ..slapd.config()
    };
    assert_eq!(
        authenticate(&by_surname, "Smith", BOB.password).await,
        Err(Error::InvalidCredentials)
    );
    // Three entries exceed the search's size limit of 2.
    let everyone = LdapConfig {
        user_filter: "(|(uid={username})(objectClass=inetOrgPerson))".into(),
        ..slapd.config()
    };
    assert_eq!(
        authenticate(&everyone, ALICE.uid, ALICE.password).await,
        Err(Error::InvalidCredentials)
    );
    // One match still works with the same filter style.
    let by_surname_alice = authenticate(&by_surname, "Liddell", ALICE.password).await;
    assert_eq!(by_surname_alice.map(|u| u.dn), Ok(ALICE.dn()));
}

#[tokio::test]
async fn bad_service_settings_are_misconfigured_with_a_clear_message() {
    let slapd = Slapd::start().await.expect("slapd");
    let wrong_password = LdapConfig {
        bind_password: "not-the-service-password".into(),
        ..slapd.config()
    };
    match authenticate(&wrong_password, ALICE.uid, ALICE.password).await {
        Err(Error::DirectoryMisconfigured(m)) => {
            assert!(m.contains("service account"), "{m}");
            assert!(!m.contains("not-the-service-password"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let wrong_base = LdapConfig {
        base_dn: "dc=nowhere,dc=org".into(),
        ..slapd.config()
    };
    match authenticate(&wrong_base, ALICE.uid, ALICE.password).await {
        Err(Error::DirectoryMisconfigured(m)) => assert!(m.contains("base_dn"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_stopped_directory_is_unavailable_at_once() {
    let mut slapd = Slapd::start().await.expect("slapd");
    let cfg = LdapConfig {
        timeout_ms: 20_000,
        ..slapd.config()
    };
    assert!(authenticate(&cfg, ALICE.uid, ALICE.password).await.is_ok());
    slapd.stop();
    let t = Instant::now();
    let got = authenticate(&cfg, ALICE.uid, ALICE.password).await;
    assert!(
        matches!(got, Err(Error::DirectoryUnavailable(_))),
        "{got:?}"
    );
    // A refused connection must not wait for the 20 s timeout.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_directory_that_never_answers_is_unavailable_within_the_timeout() {
    let hole = Blackhole::start().await.expect("blackhole");
    for (url, tls) in [
        (hole.url(), LdapTls::None),
        (hole.url(), LdapTls::StartTls),
        (hole.ldaps_url(), LdapTls::Ldaps),
    ] {
        let cfg = LdapConfig {
            url,
            bind_dn: "cn=service,dc=example,dc=org".into(),
            bind_password: "x".into(),
            base_dn: "dc=example,dc=org".into(),
            user_filter: "(uid={username})".into(),
            group_attribute: "memberOf".into(),
            group_profiles: Default::default(),
            tls,
            ca_pem: None,
            timeout_ms: 500,
            display_name_attribute: "cn".into(),
        };
        let t = Instant::now();
        // The outer timeout only keeps a broken implementation from hanging
        // the test run; the assertion is on what authenticate returns.
        let got = tokio::time::timeout(
            Duration::from_secs(30),
            authenticate(&cfg, ALICE.uid, ALICE.password),
        )
        .await
        .unwrap_or_else(|_| panic!("{tls:?}: authenticate hung"));
        match got {
            Err(Error::DirectoryUnavailable(m)) => assert!(m.contains("500 ms"), "{m}"),
            other => panic!("{tls:?}: {other:?}"),
        }
        // At least the budget, and nowhere near the outer bound.
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(450), "{tls:?}: {took:?}");
        assert!(took < Duration::from_secs(10), "{tls:?}: {took:?}");
    }
}

#[tokio::test]
async fn starttls_and_ldaps_with_the_tenants_ca() {
    let slapd = Slapd::start().await.expect("slapd");
    let starttls = LdapConfig {
        tls: LdapTls::StartTls,
        ca_pem: Some(slapd.ca_pem().to_string()),
        ..slapd.config()
    };
    let alice = authenticate(&starttls, ALICE.uid, ALICE.password)
        .await
        .unwrap_or_else(|e| panic!("StartTLS: {e}\n{}", slapd.log()));
    assert_eq!(alice.dn, ALICE.dn());
    assert_eq!(
        authenticate(&starttls, ALICE.uid, "wrong-password").await,
        Err(Error::InvalidCredentials)
    );

    let ldaps = LdapConfig {
        url: slapd.ldaps_url(),
        tls: LdapTls::Ldaps,
        ..starttls.clone()
    };
    let alice = authenticate(&ldaps, ALICE.uid, ALICE.password)
        .await
        .unwrap_or_else(|e| panic!("LDAPS: {e}\n{}", slapd.log()));
    assert_eq!(alice.display_name.as_deref(), Some(ALICE.cn));

    // Without the tenant's CA the certificate is not trusted: a settings
    // problem, said as such, and the password is never sent.
    for cfg in [
        LdapConfig {
            ca_pem: None,
            ..starttls.clone()
        },
        LdapConfig {
            ca_pem: None,
            ..ldaps.clone()
        },
    ] {
        match authenticate(&cfg, ALICE.uid, ALICE.password).await {
            Err(Error::DirectoryMisconfigured(m)) => assert!(m.contains("TLS"), "{m}"),
            other => panic!("{:?}: {other:?}", cfg.tls),
        }
    }
}
