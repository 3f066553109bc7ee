//! A real OpenLDAP `slapd` (Debian's `slapd` package) for the directory
//! sign-in tests: its own slapd.conf, MDB database and TLS certificates in a
//! temporary directory, listening only on free loopback ports, so it neither
//! needs nor disturbs a system slapd on port 389 (which the package's
//! postinst may have started).
//!
//! The directory `dc=example,dc=org` holds three people and three groups,
//! with the memberof overlay so people carry `memberOf` like on Active
//! Directory. [`Blackhole`] is the other kind of bad directory: one that
//! accepts connections and never answers.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use opencloud_tenant_admin::{LdapConfig, LdapTls};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const BASE_DN: &str = "dc=example,dc=org";
/// The database's root: writes the fixture, and nothing else uses it.
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PASSWORD: &str = "root-secret";
/// The service account the node binds as to search for users.
pub const SERVICE_DN: &str = "cn=service,ou=system,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-secret";

pub const STAFF_GROUP: &str = "cn=staff,ou=groups,dc=example,dc=org";
pub const DEVELOPERS_GROUP: &str = "cn=developers,ou=groups,dc=example,dc=org";
pub const ADMINS_GROUP: &str = "cn=admins,ou=groups,dc=example,dc=org";

/// A person in the fixture.
#[derive(Clone, Copy, Debug)]
pub struct Person {
    pub uid: &'static str,
    pub password: &'static str,
    pub cn: &'static str,
    pub sn: &'static str,
}

impl Person {
    pub fn dn(&self) -> String {
        format!("uid={},ou=people,{BASE_DN}", self.uid)
    }
}

/// In staff and developers; cleartext `userPassword`.
pub const ALICE: Person = Person {
    uid: "alice",
    password: "alice-Secret-1",
    cn: "Alice Liddell",
    sn: "Liddell",
};
/// In staff; cleartext `userPassword`.
pub const BOB: Person = Person {
    uid: "bob",
    password: "bob-Secret-2",
    cn: "Bob Smith",
    sn: "Smith",
};
/// In admins; `userPassword` stored as `{SSHA}` (from slappasswd), and the
/// same surname as Bob, for searches that match two people.
pub const CAROL: Person = Person {
    uid: "carol",
    password: "carol-Secret-3",
    cn: "Carol Smith",
    sn: "Smith",
};

/// A running slapd, killed on drop.
pub struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    tls_port: u16,
    ca_pem: String,
    child: Option<Child>,
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

impl Slapd {
    /// Writes the configuration and certificates, starts slapd, waits until
    /// it accepts connections and loads the fixture.
    pub async fn start() -> Result<Slapd> {
        if !Path::new(SLAPD).exists() {
            bail!("{SLAPD} is missing: install the Debian packages slapd and ldap-utils (scripts/apt-packages.txt)");
        }
        let dir = tempfile::Builder::new()
            .prefix("opencloud-slapd-")
            .tempdir()
            .context("creating slapd temp dir")?;
        let ca_pem = write_certificates(dir.path())?;
        std::fs::create_dir(dir.path().join("db")).context("creating the database dir")?;
        std::fs::write(dir.path().join("slapd.conf"), config(dir.path()))
            .context("writing slapd.conf")?;
        let mut slapd = Slapd {
            port: free_port()?,
            tls_port: free_port()?,
            dir,
            ca_pem,
            child: None,
        };
        // A free port is only free when we look: another test may take it
        // before slapd binds it, and then slapd exits. Such a start is
        // retried on fresh ports with an empty database.
        let mut attempt = 1;
        loop {
            slapd.spawn()?;
            let started = match slapd.wait_listening(Duration::from_secs(20)).await {
                Ok(()) => slapd.load_fixture().await,
                Err(e) => Err(e),
            };
            let exited = match slapd.child.as_mut() {
                Some(child) => child.try_wait()?.is_some(),
                None => true,
            };
            match started {
                Ok(()) => return Ok(slapd),
                Err(_) if exited && attempt < 3 => {
                    attempt += 1;
                    slapd.stop();
                    let db = slapd.dir.path().join("db");
                    std::fs::remove_dir_all(&db).context("clearing the database dir")?;
                    std::fs::create_dir(&db).context("creating the database dir")?;
                    slapd.port = free_port()?;
                    slapd.tls_port = free_port()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(&mut self) -> Result<()> {
        let log = File::create(self.log_path()).context("creating slapd.log")?;
        let log2 = log.try_clone().context("cloning log handle")?;
        let mut cmd = Command::new(SLAPD);
        // SAFETY: prctl is async-signal-safe and the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                // slapd dies with the thread that started it, so a test
                // that is killed leaks no directory.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // `-d` keeps slapd in the foreground as our child; level 256 (stats)
        // logs each operation, which is what a failing test wants to see.
        let child = cmd
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(format!("{} {}", self.url(), self.ldaps_url()))
            .arg("-d")
            .arg("256")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .with_context(|| format!("starting {SLAPD}"))?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait_listening(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!("slapd exited with {status} while starting:\n{}", self.log());
                }
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "slapd did not listen on port {} within {limit:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn load_fixture(&self) -> Result<()> {
        let mut hash = tokio::process::Command::new("/usr/sbin/slappasswd");
        hash.args(["-h", "{SSHA}", "-s", CAROL.password]);
        let carol_hash = run(hash).await?;
        let path = self.dir.path().join("fixture.ldif");
        std::fs::write(&path, fixture(carol_hash.trim())).context("writing fixture.ldif")?;
        // Through slapd rather than slapadd: the memberof overlay fills in
        // memberOf only for groups added online.
        let mut add = tokio::process::Command::new("ldapadd");
        add.args([
            "-x",
            "-H",
            &self.url(),
            "-D",
            ROOT_DN,
            "-w",
            ROOT_PASSWORD,
            "-f",
        ])
        .arg(&path);
        run(add)
            .await
            .with_context(|| format!("loading the fixture; slapd says:\n{}", self.log()))?;
        Ok(())
    }

    /// `ldap://127.0.0.1:PORT` (plain, StartTLS offered).
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// The test CA that signed slapd's certificate (for 127.0.0.1 and
    /// localhost), PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Settings that work against this directory: the service account,
    /// `(uid={username})`, `memberOf`, plain LDAP, a 5 s timeout, and the
    /// groups mapped to profiles `staff`, `dev` and `admin`.
    pub fn config(&self) -> LdapConfig {
        LdapConfig {
            url: self.url(),
            bind_dn: SERVICE_DN.into(),
            bind_password: SERVICE_PASSWORD.into(),
            base_dn: BASE_DN.into(),
            user_filter: "(uid={username})".into(),
            group_attribute: "memberOf".into(),
            group_profiles: [
                (STAFF_GROUP.to_string(), vec!["staff".to_string()]),
                ("developers".to_string(), vec!["dev".to_string()]),
                (ADMINS_GROUP.to_string(), vec!["admin".to_string()]),
            ]
            .into(),
            tls: LdapTls::None,
            ca_pem: None,
            timeout_ms: 5000,
            display_name_attribute: "cn".into(),
        }
    }

    /// Kills slapd (SIGKILL) and waits for it, to simulate the directory
    /// going down. Its ports then refuse connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Same as [`Slapd::stop`].
    pub fn kill(&mut self) {
        self.stop();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("slapd.log")
    }

    /// What slapd printed so far (the last 8 KiB).
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let start = text.len().saturating_sub(8192);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..].to_string()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a command to completion; its stdout, or an error with its output.
async fn run(mut cmd: tokio::process::Command) -> Result<String> {
    let program = format!("{:?}", cmd.as_std().get_program());
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} failed with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key
# Accept a DN with an empty password as an anonymous ("unauthenticated")
# bind, as many directories do: the client must refuse empty passwords.
allow bind_anon_dn

database mdb
# MDB maps its whole maximum size; keep it small for a test.
maxsize 33554432
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {d}/db

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE

# Passwords are only for binding; signed-in accounts (the service account
# above all) may read the rest, anonymous clients nothing.
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
"#
    )
}

fn fixture(carol_password_hash: &str) -> String {
    let person = |p: &Person, password: &str| {
        format!(
            "dn: {}\nobjectClass: inetOrgPerson\nuid: {}\ncn: {}\nsn: {}\nuserPassword: {password}\n\n",
            p.dn(),
            p.uid,
            p.cn,
            p.sn
        )
    };
    let mut ldif = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: ou=system,{BASE_DN}\nobjectClass: organizationalUnit\nou: system\n\n\
         dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: service\nuserPassword: {SERVICE_PASSWORD}\n\n"
    );
    ldif += &person(&ALICE, ALICE.password);
    ldif += &person(&BOB, BOB.password);
    ldif += &person(&CAROL, carol_password_hash);
    // Groups last: the overlay adds memberOf to members that exist.
    for (group, members) in [
        (STAFF_GROUP, vec![ALICE, BOB]),
        (DEVELOPERS_GROUP, vec![ALICE]),
        (ADMINS_GROUP, vec![CAROL]),
    ] {
        let cn = group
            .split(',')
            .next()
            .and_then(|rdn| rdn.strip_prefix("cn="))
            .unwrap_or("group");
        ldif += &format!("dn: {group}\nobjectClass: groupOfNames\ncn: {cn}\n");
        for m in members {
            ldif += &format!("member: {}\n", m.dn());
        }
        ldif += "\n";
    }
    ldif
}

/// A test CA and a server certificate for 127.0.0.1 and localhost, written
/// where slapd.conf expects them. Returns the CA's PEM.
fn write_certificates(dir: &Path) -> Result<String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    let ca_key = KeyPair::generate().context("CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Opencloud test LDAP CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).context("signing the CA")?;

    let key = KeyPair::generate().context("server key")?;
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).context("params")?;
    server
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let cert = server
        .signed_by(&key, &ca_cert, &ca_key)
        .context("signing the server certificate")?;

    let ca_pem = ca_cert.pem();
    std::fs::write(dir.join("ca.pem"), &ca_pem)?;
    std::fs::write(dir.join("server.pem"), cert.pem())?;
    std::fs::write(dir.join("server.key"), key.serialize_pem())?;
    Ok(ca_pem)
}

/// A server that accepts TCP connections and never sends a byte: what a
/// directory behind a broken firewall or a hung process looks like.
pub struct Blackhole {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Blackhole {
    pub async fn start() -> Result<Blackhole> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the blackhole")?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            // Held, never read or written, until the blackhole is dropped.
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Ok(Blackhole { port, task })
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.port)
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.task.abort();
    }
}
