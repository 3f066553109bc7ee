use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

const METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

fn doc() -> Value {
    serde_json::to_value(super::document()).unwrap()
}

/// (path, method) of every documented operation.
fn documented() -> BTreeSet<(String, String)> {
    let doc = doc();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(*m).is_some() {
                ops.insert((path.clone(), m.to_string()));
            }
        }
    }
    ops
}

/// The arguments of the call whose `(` is at `open`, and where it ends;
/// string literals are skipped (their brackets do not count).
fn call_args(src: &str, open: usize) -> &str {
    let b = src.as_bytes();
    let (mut depth, mut i, mut in_str) = (0usize, open, false);
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'(' if !in_str => depth += 1,
            b')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return &src[open + 1..i];
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced call at byte {open}");
}

/// The first string literal of `args`, and `args` without literals.
fn split_literals(args: &str) -> (Option<String>, String) {
    let mut first = None;
    let mut code = String::new();
    let mut parts = args.split('"');
    code.push_str(parts.next().unwrap_or(""));
    let mut inside = true;
    for p in parts {
        if inside {
            first.get_or_insert_with(|| p.to_string());
        } else {
            code.push_str(p);
        }
        inside = !inside;
    }
    (first, code)
}

/// (path, method) of every `.route(...)` of the node's router, read
/// from the sources: a route added without being documented (or a
/// documented one removed) fails here.
fn routed() -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut ops = BTreeSet::new();
    let mut scanned = BTreeSet::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // `opencloud spice serve` has its own router; this test's own
        // file looks for `.route(` in string literals.
        if rel == "viewer/serve.rs" || rel == "http/openapi/tests.rs" {
            continue;
        }
        scanned.insert(rel.clone());
        let src: String = std::fs::read_to_string(&f)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for kind in [".nest(", ".route_service(", ".merge(Router"] {
            assert!(!src.contains(kind), "{rel}: teach this test `{kind}`");
        }
        for (at, _) in src.match_indices(".nest_service(") {
            let (prefix, _) = split_literals(call_args(&src, at + ".nest_service".len()));
            let prefix = prefix.unwrap_or_else(|| panic!("{rel}: nest_service without a path"));
            ops.insert((format!("{prefix}/{{path}}"), "get".to_string()));
        }
        for (at, _) in src.match_indices(".route(") {
            let (path, code) = split_literals(call_args(&src, at + ".route".len()));
            let path = path.unwrap_or_else(|| panic!("{rel}: a route without a literal path"));
            let path = path.replace("{*", "{");
            let mut found = 0;
            // `name(` not preceded by a character of an identifier.
            let calls = |name: &str| {
                code.match_indices(&format!("{name}(")).any(|(i, _)| {
                    !code[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            };
            for name in ["any", "on", "any_service", "on_service"] {
                assert!(
                    !calls(name),
                    "{rel}: {path} uses `{name}`: document each method"
                );
            }
            for m in METHODS {
                if calls(m) {
                    ops.insert((path.clone(), m.to_string()));
                    found += 1;
                }
            }
            assert!(found > 0, "{rel}: no method found for {path}");
        }
    }
    // The walk goes into every folder of `src/`.
    for f in [
        "http/mod.rs",
        "desktop/admin.rs",
        "broker/api.rs",
        "viewer/routes.rs",
    ] {
        assert!(scanned.contains(f), "{f} was not scanned: {scanned:?}");
    }
    ops
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let routed = routed();
    let documented = documented();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routed but not documented: {missing:?}\ndocumented but not routed: {extra:?}"
    );
    assert!(routed.len() > 50, "{}", routed.len());
}

#[test]
fn operations_are_complete() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["operator"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "oc_session");
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            assert!(ids.insert(op["operationId"].to_string()), "{what}: id");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{what}"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| t.len() == 1),
                "{what}"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.as_str() < "400"),
                "{what}: no success status"
            );
            for (status, r) in responses {
                assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()));
                if status.as_str() >= "400" {
                    assert!(
                        r["content"]["application/json"]["schema"]["$ref"]
                            .as_str()
                            .is_some(),
                        "{what}: {status} without a JSON error body"
                    );
                }
            }
            let security: Vec<&str> = op["security"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
                        .collect()
                })
                .unwrap_or_default();
            if security.contains(&"operator") {
                assert!(responses.contains_key("401"), "{what}: no 401");
            }
            if path.starts_with("/t/") && method != "get" {
                assert!(responses.contains_key("403"), "{what}: no 403 (cross-site)");
            }
            // Every `{name}` of the path is a declared path parameter.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let in_path: BTreeSet<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split('}').next())
                .collect();
            assert_eq!(declared, in_path, "{what}: path parameters");
        }
    }
}

#[test]
fn the_schemas_of_the_admin_api_are_the_domain_types() {
    let doc = doc();
    let s = &doc["components"]["schemas"];
    // App is described by its flat wire form.
    let app = &s["App"]["properties"];
    for field in ["id", "name", "icon", "kind", "url", "pool"] {
        assert!(app.get(field).is_some(), "App.{field}");
    }
    assert_eq!(s["AppKindName"]["enum"], serde_json::json!(["web", "vm"]));
    assert_eq!(s["LdapInput"]["properties"]["timeout_ms"]["default"], 5000);
    assert_eq!(s["NewUser"]["additionalProperties"], false);
    for name in [
        "UserView",
        "UserSource",
        "NewUser",
        "UserPatch",
        "Profile",
        "App",
        "BrandingInput",
        "PictureInput",
        "Colors",
        "LdapInput",
        "LdapView",
        "LdapTls",
    ] {
        assert!(s.get(name).is_some(), "schema {name}");
    }
}

/// The broker's schemas are mirrors of its types (which stay free of
/// utoipa): each lists exactly the fields the broker's type serializes.
#[test]
fn the_broker_schemas_mirror_the_broker_types() {
    use crate::broker::api::Counts;
    use crate::broker::launch::Launched;
    use crate::broker::model::{Image, ImageSource, Pool, ProviderKind, Quota, VmState};
    use serde_json::{json, to_value};

    let doc = doc();
    let s = &doc["components"]["schemas"];
    let props = |name: &str| -> BTreeSet<String> {
        s[name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {name} has no properties"))
            .keys()
            .cloned()
            .collect()
    };
    let keys = |v: Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let ready = Some("ready".to_string());
    let kernel = ImageSource::Kernel {
        kernel: "/k".into(),
        initrd: "/i".into(),
        append: "console=ttyS0".into(),
        ready_line: ready.clone(),
    };
    let disk = ImageSource::Disk {
        disk: "/d".into(),
        ready_line: ready,
    };
    let cloud = ImageSource::Cloud {
        cloud_image: "debian".into(),
        flavor: "m1.small".into(),
        network: Some("private".into()),
    };
    for (name, source) in [
        ("KernelImage", &kernel),
        ("DiskImage", &disk),
        ("CloudImage", &cloud),
    ] {
        assert_eq!(keys(to_value(source).unwrap()), props(name), "{name}");
        assert_eq!(s[name]["additionalProperties"], false, "{name}");
    }
    assert_eq!(s["ImageSource"]["oneOf"].as_array().unwrap().len(), 3);
    assert_eq!(s["ImageChoice"]["oneOf"].as_array().unwrap().len(), 2);
    let image = Image {
        id: "tiny".into(),
        name: "Tiny".into(),
        provider: ProviderKind::Local,
        source: kernel.clone(),
    };
    assert_eq!(keys(to_value(&image).unwrap()), props("Image"));
    let pool = Pool {
        id: "office".into(),
        provider: ProviderKind::Local,
        image_id: Some("tiny".into()),
        image: kernel,
        memory_mb: 512,
        vcpus: 1,
        warm: 1,
        max: 10,
        idle_timeout_s: 600,
    };
    // The answer is the pool with `counts`, `last_failure` and `problem`.
    let mut pool_keys = keys(to_value(&pool).unwrap());
    pool_keys.extend(["counts", "last_failure", "problem"].map(String::from));
    assert_eq!(pool_keys, props("Pool"));
    assert_eq!(
        keys(to_value(Counts::default()).unwrap()),
        props("PoolCounts")
    );
    assert_eq!(
        keys(to_value(Quota { max_vms: Some(3) }).unwrap()),
        props("Quota")
    );
    let launched = Launched {
        vm: "vm-1".into(),
        viewer_url: "/viewer/#token=t".into(),
        expires_in_s: 60,
        resumed: false,
    };
    assert_eq!(keys(to_value(&launched).unwrap()), props("Launched"));
    assert_eq!(
        s["ProviderKind"]["enum"],
        json!([ProviderKind::Local, ProviderKind::Openstack])
    );
    assert_eq!(
        s["VmState"]["enum"],
        json!([
            VmState::Starting,
            VmState::Ready,
            VmState::Assigned,
            VmState::Stopping,
            VmState::Failed
        ])
    );
    // Admins never see a VM's SPICE password.
    assert!(props("Vm").iter().all(|k| !k.contains("password")));
    assert_eq!(s["PoolInput"]["additionalProperties"], false);
}
