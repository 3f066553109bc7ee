//! Tests of [`super`], hostile inputs included.

use super::*;
use crate::model::*;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

fn invalid(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(Error::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn logins_are_lower_cased_and_restricted() {
    assert_eq!(
        login("Alice.Smith@Example-1_x").unwrap(),
        "alice.smith@example-1_x"
    );
    assert_eq!(login(&"a".repeat(64)).unwrap().len(), 64);
    for bad in [
        "",
        " alice",
        "alice ",
        "al ice",
        "al/ice",
        "a*",
        "a)(uid=*",
        "ali\u{0}ce",
        "ålice",
        "alıce",    // dotless i: must not lower-case into an ASCII login
        "\u{212a}", // Kelvin sign
        &"a".repeat(65),
    ] {
        assert!(login(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ids_names_and_passwords() {
    assert!(id("app id", "shell_2-x").is_ok());
    for bad in ["", "Shell", "a b", "a.b", "../x", &"a".repeat(41)] {
        assert!(id("app id", bad).is_err(), "{bad:?}");
    }
    assert_eq!(name("app name", "  Shell 2 ").unwrap(), "Shell 2");
    assert_eq!(name("n", &"é".repeat(100)).unwrap().chars().count(), 100);
    for bad in [
        "",
        "   ",
        "a\nb",
        "a\u{1b}[31m",
        "a\u{7f}",
        &"é".repeat(101),
    ] {
        assert!(name("n", bad).is_err(), "{bad:?}");
    }
    assert!(password("12345678").is_ok());
    assert!(password(&"x".repeat(1024)).is_ok());
    assert!(password("1234567").is_err());
    assert!(password(&"x".repeat(1025)).is_err());
    // Bytes, not characters: 4 × 3-byte characters are 12 bytes.
    assert!(password("€€€").is_ok());
}

#[test]
fn web_urls_are_http_or_https_only() {
    assert_eq!(
        web_url("https://wiki.example").unwrap(),
        "https://wiki.example/"
    );
    assert!(web_url("http://10.0.0.1:8080/x?y=1").is_ok());
    for bad in [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,<script>",
        "file:///etc/passwd",
        "ftp://x",
        "//evil.example",
        "wiki.example",
        "https://user:pw@wiki.example",
        "http://",
        "",
        &format!("https://x/{}", "a".repeat(3000)),
    ] {
        assert!(web_url(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn colours_are_hex_only() {
    assert_eq!(color("c", "#ABC").unwrap(), "#abc");
    assert_eq!(color("c", "#1a2B3c").unwrap(), "#1a2b3c");
    for bad in [
        "",
        "#",
        "#ab",
        "#abcd",
        "#abcdefa",
        "abc",
        "red",
        "#ggg",
        "#12345é",
        "#fff;}body{x",
        "rgb(1,2,3)",
        "#fff\n",
    ] {
        assert!(color("c", bad).is_err(), "{bad:?}");
    }
}

fn png(len: usize) -> Vec<u8> {
    let mut d = b"\x89PNG\r\n\x1a\n".to_vec();
    d.resize(len, 0);
    d
}

fn input(ct: &str, data: &[u8]) -> PictureInput {
    PictureInput {
        content_type: ct.into(),
        data_base64: STANDARD.encode(data),
    }
}

#[test]
fn pictures_are_checked_by_type_magic_and_size() {
    let p = picture(PictureSlot::Logo, &input("Image/PNG", &png(100))).unwrap();
    assert_eq!(p.content_type, "image/png");
    assert_eq!(p.data.len(), 100);
    assert!(picture(
        PictureSlot::Logo,
        &input("image/jpeg", &[0xff, 0xd8, 0xff, 0xe0])
    )
    .is_ok());
    assert!(picture(PictureSlot::Logo, &input("image/gif", b"GIF89a....")).is_ok());
    assert!(picture(
        PictureSlot::Logo,
        &input("image/webp", b"RIFF\0\0\0\0WEBPVP8 ")
    )
    .is_ok());
    // Exactly at the limits, and one byte over.
    assert!(picture(PictureSlot::Logo, &input("image/png", &png(128 * 1024))).is_ok());
    let m = invalid(picture(
        PictureSlot::Logo,
        &input("image/png", &png(128 * 1024 + 1)),
    ));
    assert!(m.contains("128 KiB"), "{m}");
    assert!(picture(
        PictureSlot::Wallpaper,
        &input("image/png", &png(768 * 1024))
    )
    .is_ok());
    assert!(picture(
        PictureSlot::Wallpaper,
        &input("image/png", &png(768 * 1024 + 1))
    )
    .is_err());
    // Unpadded base64 is accepted too.
    let mut unpadded = input("image/png", &png(10));
    unpadded.data_base64 = unpadded.data_base64.trim_end_matches('=').into();
    assert!(picture(PictureSlot::Logo, &unpadded).is_ok());

    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    for (ct, data) in [
        ("image/svg+xml", &svg[..]),
        ("text/html", b"<html>"),
        ("image/png", b"<html><script>alert(1)</script>"),
        ("image/png", b""),
        ("image/jpeg", &png(20)),
        ("image/webp", b"RIFF\0\0\0\0WAVE"),
        ("image/gif", b"GIF"),
        ("", b""),
    ] {
        assert!(
            picture(PictureSlot::Logo, &input(ct, data)).is_err(),
            "{ct}"
        );
    }
    for garbage in ["%%%%", "AAA=A", "not base64!", "\u{0}"] {
        let bad = PictureInput {
            content_type: "image/png".into(),
            data_base64: garbage.into(),
        };
        assert!(picture(PictureSlot::Logo, &bad).is_err(), "{garbage}");
    }
    // Huge input is refused before it is decoded.
    let huge = PictureInput {
        content_type: "image/png".into(),
        data_base64: "A".repeat(10 * 1024 * 1024),
    };
    assert!(invalid(picture(PictureSlot::Wallpaper, &huge)).contains("768 KiB"));
}

#[test]
fn branding_input_becomes_branding() {
    let b = branding(&BrandingInput {
        product_name: " Acme Desk ".into(),
        colors: Colors {
            primary: "#FFF".into(),
            background: "#000000".into(),
            text: "#123".into(),
        },
        logo: Some(input("image/png", &png(50))),
        wallpaper: None,
    })
    .unwrap();
    assert_eq!(b.product_name, "Acme Desk");
    assert_eq!(b.colors.primary, "#fff");
    assert!(b.logo.is_some() && b.wallpaper.is_none());
    let bad: BrandingInput = serde_json::from_value(json!({
        "product_name": "x",
        "colors": {"primary": "url(javascript:x)", "background": "#000", "text": "#fff"}
    }))
    .unwrap();
    assert!(invalid(branding(&bad)).contains("colors.primary"));
}

#[test]
fn new_users_are_normalised() {
    let u = new_user(&NewUser {
        login: "Bob".into(),
        password: Some("hunter2hunter2".into()),
        display_name: None,
        profiles: vec!["staff".into(), "dev".into(), "staff".into()],
        admin: false,
    })
    .unwrap();
    assert_eq!(u.login, "bob");
    assert_eq!(u.display_name.as_deref(), Some("bob"));
    assert_eq!(u.profiles, vec!["staff", "dev"]);
    let user = User::from_new(u, Some("$argon2id$...".into()), 7);
    assert_eq!(user.source, UserSource::Local);
    assert_eq!(user.created_at, 7);

    let short = NewUser {
        login: "bob".into(),
        password: Some("short".into()),
        display_name: None,
        profiles: vec![],
        admin: false,
    };
    assert!(invalid(new_user(&short)).contains("at least 8"));
    let many = NewUser {
        password: None,
        profiles: (0..65).map(|i| format!("p{i}")).collect(),
        ..short.clone()
    };
    assert!(invalid(new_user(&many)).contains("at most 64"));
    let bad_profile = NewUser {
        password: None,
        profiles: vec!["../admin".into()],
        ..short
    };
    assert!(new_user(&bad_profile).is_err());
}

#[test]
fn patches_are_checked_against_the_user() {
    let mut user = User {
        login: "carol".into(),
        display_name: "Carol".into(),
        password_hash: None,
        source: UserSource::Ldap {
            dn: "uid=carol,dc=x".into(),
        },
        profiles: vec![],
        admin: false,
        disabled: false,
        created_at: 0,
    };
    let pw = UserPatch {
        password: Some("longenough".into()),
        ..UserPatch::default()
    };
    assert!(invalid(user_patch(&user, &pw)).contains("directory"));
    let p = user_patch(
        &user,
        &UserPatch {
            display_name: Some(" Carol C ".into()),
            disabled: Some(true),
            profiles: Some(vec!["a".into(), "a".into()]),
            ..UserPatch::default()
        },
    )
    .unwrap();
    user.apply(p, None);
    assert_eq!(user.display_name, "Carol C");
    assert!(user.disabled);
    assert_eq!(user.profiles, vec!["a"]);
    user.source = UserSource::Local;
    assert!(user_patch(&user, &pw).is_ok());
    let short = UserPatch {
        password: Some("x".into()),
        ..UserPatch::default()
    };
    assert!(user_patch(&user, &short).is_err());
}

#[test]
fn profiles_and_apps() {
    let p = profile(&Profile {
        id: "staff".into(),
        name: "Staff".into(),
        apps: vec!["wiki".into(), "wiki".into(), "shell".into()],
    })
    .unwrap();
    assert_eq!(p.apps, vec!["wiki", "shell"]);
    let too_many = Profile {
        id: "staff".into(),
        name: "Staff".into(),
        apps: (0..257).map(|i| format!("a{i}")).collect(),
    };
    assert!(invalid(profile(&too_many)).contains("256"));

    let a: App = serde_json::from_value(
        json!({"id":"wiki","name":"Wiki","icon":"book","kind":"web","url":"https://wiki.example"}),
    )
    .unwrap();
    assert_eq!(
        app(&a).unwrap().kind,
        AppKind::Web {
            url: "https://wiki.example/".into()
        }
    );
    for bad in [
        json!({"id":"wiki","name":"Wiki","kind":"web","url":"javascript:alert(1)"}),
        json!({"id":"Wiki","name":"Wiki","kind":"web","url":"https://x"}),
        json!({"id":"shell","name":"Shell","kind":"vm","pool":"Bad Pool"}),
        json!({"id":"shell","name":"","kind":"vm","pool":"p"}),
        json!({"id":"shell","name":"S","icon":"javascript:x","kind":"vm","pool":"p"}),
        json!({"id":"shell","name":"S","icon":"<img>","kind":"vm","pool":"p"}),
    ] {
        let a: App = serde_json::from_value(bad.clone()).unwrap();
        assert!(app(&a).is_err(), "{bad}");
    }
}

fn ldap_input() -> LdapInput {
    serde_json::from_value(json!({
        "url": "ldap://dir.example:389",
        "bind_dn": "cn=svc,dc=example,dc=org",
        "bind_password": "secret",
        "base_dn": "dc=example,dc=org",
        "group_profiles": {"cn=staff,ou=groups,dc=example,dc=org": ["staff", "staff"]}
    }))
    .unwrap()
}

#[test]
fn ldap_settings_valid_and_defaults() {
    let c = ldap(&ldap_input(), None).unwrap();
    assert_eq!(c.tls, LdapTls::None);
    assert_eq!(c.user_filter, "(uid={username})");
    assert_eq!(c.group_profiles.values().next().unwrap(), &vec!["staff"]);
    // Without a new password the stored one is kept.
    let keep = LdapInput {
        bind_password: None,
        ..ldap_input()
    };
    assert_eq!(ldap(&keep, Some(&c)).unwrap().bind_password, "secret");
    assert!(invalid(ldap(&keep, None)).contains("bind_password"));
    // ldaps:// implies LDAPS; StartTLS only over ldap://.
    let ldaps = LdapInput {
        url: "ldaps://dir.example".into(),
        ..ldap_input()
    };
    assert_eq!(ldap(&ldaps, None).unwrap().tls, LdapTls::Ldaps);
    let st = LdapInput {
        tls: LdapTls::StartTls,
        ..ldaps.clone()
    };
    assert!(ldap(&st, None).is_err());
    let plain_ldaps = LdapInput {
        tls: LdapTls::Ldaps,
        ..ldap_input()
    };
    assert!(ldap(&plain_ldaps, None).is_err());
    let ad = LdapInput {
        user_filter: "(&(objectClass=user)(sAMAccountName={username}))".into(),
        ..ldap_input()
    };
    assert!(ldap(&ad, None).is_ok());
}

#[test]
fn ldap_settings_hostile() {
    let with = |f: &dyn Fn(&mut LdapInput)| {
        let mut i = ldap_input();
        f(&mut i);
        ldap(&i, None)
    };
    for url in [
        "http://dir",
        "ldap://",
        "ldap:///dc=x",
        "ldapi:///var/run/slapd",
        "ldap://dir/dc=example??sub?(uid=*)",
        "dir.example",
        "",
    ] {
        assert!(with(&|i| i.url = url.into()).is_err(), "{url}");
    }
    for f in [
        "(uid=alice)",
        "uid={username}",
        "(uid={username}",
        "(uid={username}))",
        "(uid={username})(uid=*)",
        ")(uid={username}(",
        "(uid={username}\n)",
    ] {
        assert!(with(&|i| i.user_filter = f.into()).is_err(), "{f}");
    }
    assert!(with(&|i| i.base_dn = " ".into()).is_err());
    assert!(with(&|i| i.bind_dn = "x".repeat(1025)).is_err());
    assert!(with(&|i| i.bind_dn = "cn=a\u{0}b".into()).is_err());
    assert!(with(&|i| i.bind_password = Some(String::new())).is_err());
    assert!(with(&|i| i.timeout_ms = 99).is_err());
    assert!(with(&|i| i.timeout_ms = 60_001).is_err());
    assert!(with(&|i| i.timeout_ms = 100).is_ok());
    assert!(with(&|i| i.group_attribute = "memberOf)(x".into()).is_err());
    assert!(with(&|i| i.display_name_attribute = String::new()).is_err());
    assert!(with(&|i| i.display_name_attribute = "2.5.4.3".into()).is_ok());
    assert!(with(&|i| i.ca_pem = Some("not a pem".into())).is_err());
    assert!(with(&|i| {
        i.group_profiles = (0..257).map(|n| (format!("g{n}"), vec![])).collect()
    })
    .is_err());
    assert!(
        with(&|i| { i.group_profiles = [("g".to_string(), vec!["Bad".to_string()])].into() })
            .is_err()
    );
    assert!(serde_json::from_value::<LdapInput>(json!({
        "url": "ldap://x", "bind_dn": "a", "base_dn": "b", "anonymous": true
    }))
    .is_err());
}
