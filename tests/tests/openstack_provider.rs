//! The OpenStack provider end to end: the real `opencloud openstack …`
//! binary against the stand-in cloud (`opencloud_tests::nova`), with its
//! credentials from `OS_*` variables or a clouds.yaml.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use opencloud_tests::cluster_options::opencloud_bin;
use opencloud_tests::nova::{NovaStandIn, Served, FLAVOR, IMAGE, NETWORK};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> Result<&str> {
        ensure!(
            self.code == Some(0),
            "exit {:?}\nstdout: {}\nstderr: {}",
            self.code,
            self.stdout,
            self.stderr
        );
        Ok(self.stdout.trim())
    }

    /// The command failed the way an operator should see: exit code 1, and
    /// its error as the last line of stderr, once, without a panic.
    fn failed(&self) -> Result<String> {
        ensure!(
            self.code == Some(1),
            "expected exit 1, got {:?}\nstdout: {}\nstderr: {}",
            self.code,
            self.stdout,
            self.stderr
        );
        ensure!(
            !self.stderr.contains("panicked") && !self.stderr.contains("backtrace"),
            "a panic: {}",
            self.stderr
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let errors = lines.iter().filter(|l| l.contains("error")).count();
        let last = lines.last().copied().unwrap_or_default();
        ensure!(
            errors == 1 && last.starts_with("opencloud: error: "),
            "expected one error line at the end of stderr: {}",
            self.stderr
        );
        Ok(last.to_string())
    }
}

/// Runs `opencloud openstack ARGS` with only `env` (nothing of this
/// process's OS_* or clouds.yaml leaks in), in `dir`.
async fn run_in(env: &[(String, String)], dir: &Path, args: &[&str]) -> Result<Run> {
    let mut cmd = tokio::process::Command::new(opencloud_bin(false)?);
    cmd.arg("openstack")
        .args(args)
        .env_clear()
        .envs(env.iter().cloned())
        .env("HOME", dir)
        .current_dir(dir)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .with_context(|| format!("opencloud openstack {args:?} did not finish"))??;
    Ok(Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

async fn run(cloud: &NovaStandIn, args: &[&str]) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    run_in(&cloud.os_env(), dir.path(), args).await
}

fn posts_to<'a>(requests: &'a [Served], suffix: &str) -> Vec<&'a Served> {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(suffix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_what_the_account_sees() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    let out = run(&cloud, &["check"]).await?;
    let stdout = out.ok()?;
    for (name, id) in [
        (IMAGE, cloud.image_id(IMAGE)),
        (FLAVOR, cloud.flavor_id(FLAVOR)),
        (NETWORK, cloud.network_id(NETWORK)),
    ] {
        let id = id.context("fixture missing")?;
        ensure!(
            stdout.contains(&format!("{id}  {name}")),
            "{name} ({id}) not listed: {stdout}"
        );
    }
    ensure!(
        stdout.contains("microversions 2.1 to 2.99") && stdout.contains("available"),
        "{stdout}"
    );
    // Every call but Keystone's token POST carried the token it issued.
    let requests = cloud.requests();
    ensure!(requests
        .iter()
        .any(|r| r.path == "/identity/v3/auth/tokens"));
    for r in &requests {
        if r.path != "/identity/v3/auth/tokens" {
            ensure!(r.authenticated, "unauthenticated request: {r:?}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_wait_console_list_delete() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    cloud.set(|k| {
        k.build_delay = Duration::from_secs(2);
        k.spice_host = "198.51.100.7".into();
        k.spice_port = 61000;
    });
    let out = run(
        &cloud,
        &[
            "boot",
            "--image",
            IMAGE,
            "--flavor",
            FLAVOR,
            "--network",
            NETWORK,
            "--wait-s",
            "20",
        ],
    )
    .await?;
    let id = out.ok()?.to_string();
    ensure!(
        out.stderr.contains("ACTIVE"),
        "no progress on stderr: {}",
        out.stderr
    );
    let server = cloud
        .server(&id)
        .context("the stand-in has no such server")?;
    ensure!(server.status == "ACTIVE", "{server:?}");
    // Named {prefix}{tenant}-{vm_id}, with the broker's metadata.
    let vm = server
        .metadata
        .get("opencloud_vm")
        .context("no opencloud_vm")?;
    ensure!(server.name == format!("oc-operator-{vm}"), "{server:?}");
    ensure!(server.metadata.get("opencloud_tenant").map(String::as_str) == Some("operator"));
    ensure!(server.metadata.get("opencloud_pool").map(String::as_str) == Some("cli"));
    // Names were resolved to ids before Nova saw them.
    ensure!(Some(server.image_id.clone()) == cloud.image_id(IMAGE));
    ensure!(Some(server.flavor_id.clone()) == cloud.flavor_id(FLAVOR));
    ensure!(server.networks == vec![cloud.network_id(NETWORK).context("network")?]);

    ensure!(run(&cloud, &["status", &id]).await?.ok()? == "running");
    ensure!(run(&cloud, &["list"]).await?.ok()? == id);

    cloud.clear_requests();
    let console = run(&cloud, &["console", &id]).await?;
    ensure!(console.ok()? == "198.51.100.7:61000", "{}", console.stdout);
    let requests = cloud.requests();
    let consoles = posts_to(&requests, &format!("/servers/{id}/remote-consoles"));
    ensure!(consoles.len() == 1, "{requests:?}");
    let body = consoles[0].body.as_ref().context("no body")?;
    ensure!(
        body["remote_console"]["protocol"] == "spice"
            && body["remote_console"]["type"] == "spice-direct",
        "{body}"
    );
    ensure!(consoles[0].microversion.as_deref() == Some("2.99"));
    let lookup = requests
        .iter()
        .find(|r| r.path.contains("/os-console-auth-tokens/"))
        .context("the console token was not looked up")?;
    ensure!(lookup.status == 200 && lookup.microversion.as_deref() == Some("2.99"));

    ensure!(run(&cloud, &["delete", &id]).await?.ok()? == format!("deleted {id}"));
    ensure!(cloud.server(&id).is_none(), "still there after delete");
    ensure!(run(&cloud, &["status", &id]).await?.ok()? == "gone");
    // Deleting what is gone already is not an error.
    run(&cloud, &["delete", &id]).await?.ok()?;
    ensure!(run(&cloud, &["list"]).await?.ok()?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_is_the_clusters_servers_only() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    let a = run(&cloud, &["boot", "--image", IMAGE, "--flavor", FLAVOR]).await?;
    let a = a.ok()?.to_string();
    let b = run(
        &cloud,
        &[
            "--name-prefix",
            "other-",
            "boot",
            "--image",
            IMAGE,
            "--flavor",
            FLAVOR,
        ],
    )
    .await?;
    let b = b.ok()?.to_string();
    ensure!(cloud.servers().len() == 2);
    // The second has another prefix but Opencloud's metadata: it is listed
    // too; a listing with its prefix finds both as well.
    let listed = run(&cloud, &["list"]).await?;
    let mut ids: Vec<&str> = listed.ok()?.lines().collect();
    ids.sort_unstable();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort_unstable();
    ensure!(ids == want, "{ids:?} vs {want:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_is_a_clear_error() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    cloud.set(|k| k.instance_quota = Some(0));
    let out = run(&cloud, &["boot", "--image", IMAGE, "--flavor", FLAVOR]).await?;
    let line = out.failed()?;
    ensure!(
        line.contains("no room") && line.contains("Quota exceeded for instances"),
        "{line}"
    );
    ensure!(
        out.stdout.trim().is_empty(),
        "an id was printed: {}",
        out.stdout
    );
    ensure!(cloud.servers().is_empty(), "a server was left");
    let requests = cloud.requests();
    let creates = posts_to(&requests, "/compute/v2.1/servers");
    ensure!(
        creates.len() == 1 && creates[0].status == 403,
        "{requests:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_flavor_or_network_is_named() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    for (args, named) in [
        (
            ["--image", "no-such-image", "--flavor", FLAVOR],
            "no-such-image",
        ),
        (["--image", IMAGE, "--flavor", "m9.huge"], "m9.huge"),
    ] {
        let mut all = vec!["boot"];
        all.extend(args);
        let line = run(&cloud, &all).await?.failed()?;
        ensure!(
            line.contains(&format!("{named:?}")),
            "{named} not named: {line}"
        );
    }
    let line = run(
        &cloud,
        &[
            "boot",
            "--image",
            IMAGE,
            "--flavor",
            FLAVOR,
            "--network",
            "dmz",
        ],
    )
    .await?
    .failed()?;
    ensure!(line.contains("Neutron has no network \"dmz\""), "{line}");
    // Nothing reached Nova's create.
    ensure!(posts_to(&cloud.requests(), "/compute/v2.1/servers").is_empty());
    ensure!(cloud.servers().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_leaves_build_times_out() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    cloud.set(|k| k.never_active = true);
    let start = Instant::now();
    let out = run(
        &cloud,
        &[
            "boot", "--image", IMAGE, "--flavor", FLAVOR, "--wait-s", "2",
        ],
    )
    .await?;
    let line = out.failed()?;
    let elapsed = start.elapsed();
    ensure!(line.contains("did not become ACTIVE within 2 s"), "{line}");
    ensure!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(15),
        "took {elapsed:?}"
    );
    // The id was printed, and the message says how to remove it.
    let id = out.stdout.trim();
    ensure!(cloud.server(id).is_some_and(|s| s.status == "BUILD"));
    ensure!(
        line.contains(&format!("opencloud openstack delete {id}")),
        "{line}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_state_reports_its_fault() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    let fault = "No valid host was found. There are not enough hosts available.";
    cloud.set(|k| k.error_fault = Some(fault.into()));
    let out = run(
        &cloud,
        &[
            "boot", "--image", IMAGE, "--flavor", FLAVOR, "--wait-s", "20",
        ],
    )
    .await?;
    let line = out.failed()?;
    ensure!(
        line.contains("went to ERROR") && line.contains(fault),
        "{line}"
    );
    let id = out.stdout.trim();
    let status = run(&cloud, &["status", id]).await?;
    ensure!(status.ok()? == format!("error: {fault}"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_clear_auth_error() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    let mut env = cloud.os_env();
    for (k, v) in env.iter_mut() {
        if k == "OS_PASSWORD" {
            *v = "not-the-password".into();
        }
    }
    let dir = tempfile::tempdir()?;
    let line = run_in(&env, dir.path(), &["check"]).await?.failed()?;
    ensure!(
        line.contains("Keystone refused the credentials")
            && line.contains("requires authentication"),
        "{line}"
    );
    // Nothing but the token POST was tried.
    ensure!(cloud
        .requests()
        .iter()
        .all(|r| r.path == "/identity/v3/auth/tokens"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_clouds_yaml() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("clouds.yaml"), cloud.clouds_yaml("standin"))?;
    let out = run_in(&[], dir.path(), &["--cloud", "standin", "check"]).await?;
    ensure!(out.ok()?.contains(IMAGE), "{}", out.stdout);
    let id = run_in(
        &[],
        dir.path(),
        &[
            "--cloud", "standin", "boot", "--image", IMAGE, "--flavor", FLAVOR,
        ],
    )
    .await?;
    let id = id.ok()?.to_string();
    ensure!(cloud.server(&id).is_some());
    // OS_CLOUD picks the entry too (osauth reads it), and an unknown entry
    // is named.
    let env = [("OS_CLOUD".to_string(), "standin".to_string())];
    ensure!(run_in(&env, dir.path(), &["list"]).await?.ok()? == id);
    let line = run_in(&[], dir.path(), &["--cloud", "nowhere", "list"])
        .await?
        .failed()?;
    ensure!(line.contains("nowhere"), "{line}");
    Ok(())
}

/// Boots a server and waits for ACTIVE; its id.
async fn active_server(cloud: &NovaStandIn) -> Result<String> {
    cloud.set(|k| k.build_delay = Duration::ZERO);
    let out = run(
        cloud,
        &[
            "boot", "--image", IMAGE, "--flavor", FLAVOR, "--wait-s", "10",
        ],
    )
    .await?;
    Ok(out.ok()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consoles_on_an_older_nova_need_2_99() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    let id = active_server(&cloud).await?;
    // Nova 2024.2 (Dalmatian) stops at 2.96.
    cloud.set(|k| k.max_microversion = (2, 96));
    let line = run(&cloud, &["console", &id]).await?.failed()?;
    ensure!(
        line.contains("Nova 2025.1") && line.contains("2.99") && line.contains("2.96"),
        "{line}"
    );
    ensure!(posts_to(&cloud.requests(), "/remote-consoles").is_empty());
    let check = run(&cloud, &["check"]).await?;
    ensure!(check.ok()?.contains("NOT available"), "{}", check.stdout);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_errors_say_what_the_cloud_lacks() -> Result<()> {
    let cloud = NovaStandIn::start().await?;
    let id = active_server(&cloud).await?;

    cloud.set(|k| k.console_tokens_allowed = false);
    let line = run(&cloud, &["console", &id]).await?.failed()?;
    ensure!(
        line.contains("admin-only") && line.contains("os-console-auth-tokens"),
        "{line}"
    );

    cloud.set(|k| {
        k.console_tokens_allowed = true;
        k.spice_enabled = false;
    });
    let line = run(&cloud, &["console", &id]).await?.failed()?;
    ensure!(
        line.contains("Unavailable console type spice-direct") && line.contains("[spice]"),
        "{line}"
    );

    let line = run(&cloud, &["console", "00000000-0000-4000-8000-000000000000"])
        .await?
        .failed()?;
    ensure!(line.contains("no such VM"), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cloud_fails_within_the_timeout() -> Result<()> {
    // A port that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let env: Vec<(String, String)> = [
        ("OS_AUTH_URL", format!("http://{addr}/identity/v3")),
        ("OS_USERNAME", "demo".into()),
        ("OS_PASSWORD", "secret".into()),
        ("OS_PROJECT_NAME", "demo".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let out = run_in(&env, dir.path(), &["--api-timeout-s", "2", "check"]).await?;
    hold.abort();
    let line = out.failed()?;
    ensure!(line.contains("within 2 s"), "{line}");
    if start.elapsed() > Duration::from_secs(10) {
        bail!("took {:?}", start.elapsed());
    }
    Ok(())
}
