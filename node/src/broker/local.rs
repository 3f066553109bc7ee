//! The local provider: each VM is a QEMU process this node starts, with
//! SPICE on the node's VM address, QMP on a unix socket for control, and
//! either a kernel + initramfs or a throw-away qcow2 overlay on a shared
//! base disk, so that VMs are stateless and start fast.
//!
//! A VM belongs to the node that runs it: QEMU is started with a parent
//! death signal, so when the node dies (even by SIGKILL) its VMs die with
//! it, and the broker replaces them on the survivors.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use super::model::ImageSource;
use super::provider::{Provider, ProviderError, ProviderResult, SpiceConsole, VmSpec, VmStatus};

/// Which accelerator QEMU uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// KVM when `/dev/kvm` is usable, else TCG.
    Auto,
    Kvm,
    /// Software emulation: slow, but works anywhere (and inside VMs whose
    /// host offers no nested virtualisation).
    Tcg,
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Accel, String> {
        match s {
            "auto" => Ok(Accel::Auto),
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            other => Err(format!(
                "accelerator must be auto, kvm or tcg, not `{other}`"
            )),
        }
    }
}

impl Accel {
    fn machine_option(self) -> &'static str {
        match self {
            // QEMU falls back to the next one in the list.
            Accel::Auto => "kvm:tcg",
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// How this node runs its VMs.
#[derive(Clone, Debug)]
pub struct LocalSettings {
    pub qemu: PathBuf,
    pub qemu_img: PathBuf,
    pub accel: Accel,
    /// Where each VM's overlay, QMP socket and logs live (`<data>/vms`).
    pub dir: PathBuf,
    /// The address SPICE listens on. Loopback for a single node; in a
    /// cluster, an address the other nodes reach (their translators
    /// connect to it), on a network browsers do not.
    pub spice_ip: IpAddr,
    /// Limit for one QMP exchange.
    pub qmp_timeout: Duration,
}

struct LocalVm {
    child: Child,
    dir: PathBuf,
    port: u16,
    ready_line: Option<String>,
    password: String,
    /// The end of what the guest wrote to its serial port while booting.
    serial: String,
    /// Seen running once: from then on, being alive is enough (no probe
    /// of its SPICE port or serial log at every look).
    booted: bool,
}

/// QEMU processes of this node, by VM id (which is also the provider id).
pub struct LocalProvider {
    settings: LocalSettings,
    vms: Mutex<HashMap<String, LocalVm>>,
}

fn unavailable(what: &str) -> impl FnOnce(std::io::Error) -> ProviderError + '_ {
    move |e| ProviderError::Unavailable(format!("{what}: {e}"))
}

/// VM ids become directory and process names: only what the broker makes.
fn check_id(id: &str) -> ProviderResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Invalid(format!("bad VM id `{id}`")))
    }
}

fn free_port(ip: IpAddr) -> ProviderResult<u16> {
    let l = std::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .map_err(unavailable("finding a free SPICE port"))?;
    Ok(l.local_addr()
        .map_err(unavailable("finding a free SPICE port"))?
        .port())
}

/// The last lines of QEMU's error output, for a failure's reason.
fn qemu_errors(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("qemu.err")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
}

impl LocalProvider {
    pub fn new(settings: LocalSettings) -> LocalProvider {
        LocalProvider {
            settings,
            vms: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalVm>> {
        // A poisoned map still holds the children: keep using it.
        self.vms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether QEMU can run here at all.
    pub fn available(&self) -> bool {
        std::process::Command::new(&self.settings.qemu)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The QMP socket of a VM, for operators and tests.
    pub fn qmp_path(&self, id: &str) -> PathBuf {
        self.settings.dir.join(id).join("qmp")
    }

    /// Reads what the guest wrote to its serial port since the last look
    /// and tells whether a line equal to `line` is among it.
    async fn serial_has_line(&self, id: &str, line: &str) -> ProviderResult<bool> {
        /// What is kept of the serial output: enough for a few lines.
        const KEEP: usize = 8192;
        let read = json!({
            "execute": "ringbuf-read",
            "arguments": {"device": "serial0", "size": 65536, "format": "utf8"},
        });
        let fresh = match self.qmp(id, read).await {
            Ok(Value::String(s)) => s,
            Ok(_) => String::new(),
            // QMP is not up yet in the first moments of a boot.
            Err(_) => return Ok(false),
        };
        let mut vms = self.lock();
        let Some(vm) = vms.get_mut(id) else {
            return Ok(false);
        };
        vm.serial.push_str(&fresh);
        if vm.serial.len() > KEEP {
            let mut cut = vm.serial.len() - KEEP;
            while !vm.serial.is_char_boundary(cut) {
                cut += 1;
            }
            vm.serial.drain(..cut);
        }
        Ok(vm.serial.lines().any(|l| l.trim() == line))
    }

    async fn make_overlay(&self, base: &Path, overlay: &Path) -> ProviderResult<()> {
        let out = Command::new(&self.settings.qemu_img)
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(base)
            .arg(overlay)
            .output()
            .await
            .map_err(|e| {
                ProviderError::Unavailable(format!(
                    "cannot run {} (Debian package qemu-utils): {e}",
                    self.settings.qemu_img.display()
                ))
            })?;
        if !out.status.success() {
            return Err(ProviderError::Invalid(format!(
                "qemu-img could not make an overlay on {}: {}",
                base.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn command(&self, spec: &VmSpec, dir: &Path, port: u16) -> ProviderResult<Command> {
        let s = &self.settings;
        let mut cmd = Command::new(&s.qemu);
        cmd.arg("-name")
            .arg(format!("opencloud-{}", spec.vm_id))
            .arg("-machine")
            .arg(format!("pc,accel={}", s.accel.machine_option()))
            .arg("-m")
            .arg(spec.memory_mb.to_string())
            .arg("-smp")
            .arg(spec.vcpus.to_string())
            .args([
                "-nodefaults",
                "-vga",
                "std",
                "-display",
                "none",
                "-nic",
                "none",
            ])
            // The password is read from a file, not the command line that
            // any local user can see in /proc.
            .arg("-object")
            .arg(format!(
                "secret,id=spicepw,file={}",
                dir.join("spice.pw").display()
            ))
            .arg("-spice")
            .arg(format!(
                "port={port},addr={},password-secret=spicepw",
                s.spice_ip
            ))
            // The guest agent's channel (clipboard, resize) when the guest
            // runs spice-vdagent.
            .args(["-device", "virtio-serial-pci"])
            .args(["-chardev", "spicevmc,id=vdagent,name=vdagent"])
            .args([
                "-device",
                "virtserialport,chardev=vdagent,name=com.redhat.spice.0",
            ])
            .arg("-qmp")
            .arg(format!(
                "unix:{},server=on,wait=off",
                dir.join("qmp").display()
            ))
            // The first serial port goes to a bounded ring in QEMU's memory,
            // read over QMP while the VM boots: a guest writing to it for
            // ever fills nothing on the node.
            .args(["-chardev", "ringbuf,id=serial0,size=65536"])
            .args(["-serial", "chardev:serial0"]);
        match &spec.image {
            ImageSource::Kernel {
                kernel,
                initrd,
                append,
                ..
            } => {
                cmd.arg("-kernel")
                    .arg(kernel)
                    .arg("-initrd")
                    .arg(initrd)
                    .arg("-append")
                    .arg(append);
            }
            ImageSource::Disk { .. } => {
                cmd.arg("-drive").arg(format!(
                    "file={},if=virtio,format=qcow2",
                    dir.join("disk.qcow2").display()
                ));
            }
            ImageSource::Cloud { .. } => {
                return Err(ProviderError::Invalid(
                    "a cloud image cannot run on the local provider".into(),
                ))
            }
        }
        let err = std::fs::File::create(dir.join("qemu.err"))
            .map_err(unavailable("creating the VM's log"))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .kill_on_drop(true);
        // SAFETY: the closure only makes one async-signal-safe system call
        // between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        Ok(cmd)
    }

    /// One QMP command on a fresh connection: greeting, capabilities, the
    /// command. Events QEMU sends meanwhile are skipped.
    async fn qmp(&self, id: &str, command: Value) -> ProviderResult<Value> {
        let path = self.qmp_path(id);
        let exchange = async {
            let stream = UnixStream::connect(&path).await?;
            let (r, mut w) = stream.into_split();
            let mut lines = BufReader::new(r).lines();
            lines.next_line().await?;
            for msg in [json!({"execute": "qmp_capabilities"}), command] {
                let mut text = msg.to_string();
                text.push('\n');
                w.write_all(text.as_bytes()).await?;
                loop {
                    let Some(line) = lines.next_line().await? else {
                        return Err(std::io::Error::other("QMP closed the connection"));
                    };
                    let v: Value = serde_json::from_str(&line).map_err(std::io::Error::other)?;
                    if v.get("event").is_some() {
                        continue;
                    }
                    if let Some(e) = v.get("error") {
                        return Err(std::io::Error::other(format!("QMP error: {e}")));
                    }
                    if let Some(ret) = v.get("return") {
                        if msg.get("execute") != Some(&json!("qmp_capabilities")) {
                            return Ok(ret.clone());
                        }
                        break;
                    }
                }
            }
            Err(std::io::Error::other("QMP gave no answer"))
        };
        match tokio::time::timeout(self.settings.qmp_timeout, exchange).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ProviderError::Unavailable(format!("QMP of VM {id}: {e}"))),
            Err(_) => Err(ProviderError::Unavailable(format!(
                "QMP of VM {id} did not answer within {:?}",
                self.settings.qmp_timeout
            ))),
        }
    }
}

impl Provider for LocalProvider {
    async fn create(&self, spec: &VmSpec) -> ProviderResult<String> {
        check_id(&spec.vm_id)?;
        if self.lock().contains_key(&spec.vm_id) {
            return Ok(spec.vm_id.clone());
        }
        let dir = self.settings.dir.join(&spec.vm_id);
        std::fs::create_dir_all(&dir).map_err(unavailable("creating the VM's directory"))?;
        opencloud_raft::tls::write_private(&dir.join("spice.pw"), &spec.password)
            .map_err(|e| ProviderError::Unavailable(format!("writing the SPICE password: {e}")))?;
        match &spec.image {
            ImageSource::Disk { disk, .. } => {
                self.make_overlay(disk, &dir.join("disk.qcow2")).await?
            }
            ImageSource::Kernel { kernel, initrd, .. } => {
                for f in [kernel, initrd] {
                    if !f.is_file() {
                        return Err(ProviderError::Invalid(format!(
                            "{} is missing on this node",
                            f.display()
                        )));
                    }
                }
            }
            ImageSource::Cloud { .. } => {}
        }
        let port = free_port(self.settings.spice_ip)?;
        let child = self.command(spec, &dir, port)?.spawn().map_err(|e| {
            ProviderError::Unavailable(format!(
                "cannot start {} (Debian package qemu-system-x86): {e}",
                self.settings.qemu.display()
            ))
        })?;
        self.lock().insert(
            spec.vm_id.clone(),
            LocalVm {
                child,
                dir,
                port,
                ready_line: spec.image.ready_line().map(str::to_string),
                password: spec.password.clone(),
                booted: false,
                serial: String::new(),
            },
        );
        Ok(spec.vm_id.clone())
    }

    async fn status(&self, id: &str) -> ProviderResult<VmStatus> {
        let (port, ready_line) = {
            let mut vms = self.lock();
            let Some(vm) = vms.get_mut(id) else {
                return Ok(VmStatus::Gone);
            };
            match vm.child.try_wait() {
                Ok(Some(status)) => {
                    let why = qemu_errors(&vm.dir);
                    return Ok(VmStatus::Error(format!("QEMU exited ({status}) {why}")));
                }
                Ok(None) if vm.booted => return Ok(VmStatus::Running),
                Ok(None) => {}
                Err(e) => return Err(ProviderError::Unavailable(format!("QEMU of {id}: {e}"))),
            }
            (vm.port, vm.ready_line.clone())
        };
        let booted = if let Some(line) = ready_line {
            self.serial_has_line(id, &line).await?
        } else {
            let addr = SocketAddr::new(self.settings.spice_ip, port);
            let probe =
                tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr));
            matches!(probe.await, Ok(Ok(_)))
        };
        if !booted {
            return Ok(VmStatus::Booting);
        }
        if let Some(vm) = self.lock().get_mut(id) {
            vm.booted = true;
        }
        Ok(VmStatus::Running)
    }

    async fn console(&self, id: &str) -> ProviderResult<SpiceConsole> {
        let vms = self.lock();
        let vm = vms
            .get(id)
            .ok_or_else(|| ProviderError::NotFound(id.to_string()))?;
        Ok(SpiceConsole {
            addr: SocketAddr::new(self.settings.spice_ip, vm.port).to_string(),
            password: vm.password.clone(),
        })
    }

    async fn set_password(&self, id: &str, password: &str) -> ProviderResult<bool> {
        if !self.lock().contains_key(id) {
            return Err(ProviderError::NotFound(id.to_string()));
        }
        let cmd = json!({
            "execute": "set_password",
            "arguments": {"protocol": "spice", "password": password},
        });
        self.qmp(id, cmd).await?;
        if let Some(vm) = self.lock().get_mut(id) {
            vm.password = password.to_string();
        }
        Ok(true)
    }

    async fn destroy(&self, id: &str) -> ProviderResult<()> {
        let vm = self.lock().remove(id);
        if let Some(mut vm) = vm {
            let _ = vm.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), vm.child.wait()).await;
            let _ = tokio::fs::remove_dir_all(&vm.dir).await;
        } else if check_id(id).is_ok() {
            // Left over from an earlier run of this node.
            let _ = tokio::fs::remove_dir_all(self.settings.dir.join(id)).await;
        }
        Ok(())
    }

    async fn list(&self) -> ProviderResult<Vec<String>> {
        Ok(self.lock().keys().cloned().collect())
    }
}
