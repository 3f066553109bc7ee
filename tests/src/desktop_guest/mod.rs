//! The desktop test guest in QEMU: a Debian kernel and an initramfs (built by
//! `scripts/build-desktop-guest.sh`) running Xorg on the QXL device (qxl KMS
//! driver, modesetting X driver, a solid [`ROOT_COLOUR`] root window) with
//! Debian's real SPICE agent: `spice-vdagentd` on the virtio-serial port
//! `com.redhat.spice.0` and the `spice-vdagent` X session agent. It is
//! reachable over SPICE on a free loopback port, with QMP for ground truth.
//!
//! Input: `systemd-udevd` runs (with the one rule Xorg needs, `input_id`),
//! so Xorg adds input devices through udev with the evdev driver, hotplug
//! included. That is how it gets spice-vdagentd's uinput tablet ("spice
//! vdagent tablet"), which spice-vdagentd creates only once the session
//! agent has reported the screen size, and recreates on every size change.
//! In client (absolute) mouse mode spice-server sends pointer positions to
//! the agent, which moves the X pointer through that tablet; in server mode
//! the relative motion goes to QEMU's PS/2 mouse, also an X device.
//!
//! The serial-port protocol of the guest's test hooks, and how the harness
//! reads it, is in [`events`].
//!
//! # Resizing
//!
//! A client's `VD_AGENT_MONITORS_CONFIG` does not reach the agent in this
//! guest, as in any Linux guest with the qxl KMS driver: spice-server hands
//! it to the QXL device, the kernel driver offers the size as the preferred
//! mode and sends a DRM hotplug uevent, and the init applies it with
//! `xrandr --auto` (the part GNOME's mutter plays in a real desktop). The new size
//! shows up as a `SIZE` event and as a new primary surface. Sizes whose
//! framebuffer exceeds the 64 MiB of VGA memory (beyond 5120x2880) are
//! refused by the driver; the screen then takes another mode. Several
//! monitors are placed side by side, left to right, in output order.
//!
//! Nothing from the guest is trusted: the event log is read with a size
//! bound, overlong lines are dropped and unknown lines are kept as
//! [`Event::Unknown`].
//!
//! Environment:
//! - `OPENCLOUD_TEST_ACCEL`: `tcg` (default), `kvm` or `auto`.
//! - `OPENCLOUD_DESKTOP_GUEST_DIR`: where the kernel and initramfs are
//!   (default `<repo>/.cache/desktop-guest`); they are built there when
//!   missing or built by another version of the script.

mod events;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use crate::browser::Browser;
use crate::guest::{
    accel, compare, free_port, parse_ppm, qmp_at, repo_root, spice_ticketing, Screen,
};
pub use events::Event;
use events::{decode_text, parse_pointer, parse_size, shorten, tail, EventLog};

/// The event the init writes once X, both agent processes and the hooks run.
pub const READY_LINE: &str = "OPENCLOUD-DESKTOP-READY";
/// The colour of the guest's X root window (0x00RRGGBB), i.e. of the whole
/// screen: nothing else is drawn.
pub const ROOT_COLOUR: u32 = 0x2a5d8f;
/// The most clipboard text a `CLIPBOARD` event or `paste` reply carries.
pub const MAX_CLIPBOARD: usize = 1 << 20;
/// Where `photo start` shows its images: (x, y, width, height) in screen
/// pixels.
pub const PHOTO_RECT: (u32, u32, u32, u32) = (192, 144, 640, 480);

/// The longest command line the harness sends.
const MAX_COMMAND: usize = 2 << 20;
/// How much of a log goes into an error message.
const ERROR_TAIL: u64 = 8 << 10;
/// How long a boot may take before it counts as failed. TCG boots in about
/// 15 s on an idle machine; parallel tests can make that much longer.
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);

/// How to boot the desktop guest.
#[derive(Clone, Debug, Default)]
pub struct DesktopGuestOptions {
    /// SPICE password; `None` disables ticketing.
    pub password: Option<String>,
}

/// The directory holding the desktop guest's `vmlinuz` and `initrd.img`,
/// building them with `scripts/build-desktop-guest.sh` when they are missing
/// or were built by another version of the script (its `recipe` file holds
/// the SHA-256 of the script that built it).
pub async fn ensure_desktop_guest_image() -> Result<PathBuf> {
    let dir = std::env::var_os("OPENCLOUD_DESKTOP_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/desktop-guest"));
    let script = repo_root().join("scripts/build-desktop-guest.sh");
    let files = ["vmlinuz", "initrd.img"];
    let built = |d: &Path| crate::guest::built_by(&script, d, &files);
    if built(&dir)? {
        return Ok(dir);
    }
    eprintln!(
        "desktop guest missing or stale in {}: running {}",
        dir.display(),
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .arg(&dir)
        .status()
        .await
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); it needs apt-get with Debian package lists, dpkg-deb and cpio",
            script.display()
        );
    }
    if !built(&dir)? {
        bail!(
            "{} ran but {} has no vmlinuz and initrd.img of this recipe",
            script.display(),
            dir.display()
        );
    }
    Ok(dir)
}

/// A running desktop guest; QEMU is killed when this is dropped.
pub struct DesktopGuest {
    child: Mutex<Child>,
    dir: tempfile::TempDir,
    events: EventLog,
    commands: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    drain: Mutex<Option<tokio::task::JoinHandle<()>>>,
    next_id: AtomicU64,
    pub spice_port: u16,
}

impl Drop for DesktopGuest {
    fn drop(&mut self) {
        if let Some(task) = self.drain.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        // kill_on_drop ends QEMU with the Child.
    }
}

impl DesktopGuest {
    /// Boots the guest and waits until it reports `OPENCLOUD-DESKTOP-READY`.
    pub async fn boot(opts: DesktopGuestOptions) -> Result<DesktopGuest> {
        let image = ensure_desktop_guest_image().await?;
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let path = |name: &str| dir.path().join(name);
        // Lossless images only, and no video streams (which our client does
        // not decode): spice-server would otherwise pick JPEG for photo-like
        // images whenever it guesses the client's bandwidth is low, and the
        // screen could never match QEMU's screendump exactly. (QEMU already
        // defaults to no streaming; saying so keeps it that way.)
        let mut spice =
            format!("port={port},addr=127.0.0.1,jpeg-wan-compression=never,streaming-video=off");
        let mut cmd = Command::new("qemu-system-x86_64");
        spice_ticketing(&mut cmd, &mut spice, opts.password.as_deref());
        cmd.arg("-machine")
            .arg(format!("pc,accel={}", accel()?))
            .args(["-m", "1024", "-vga", "qxl", "-display", "none"])
            // The qxl KMS driver only offers modes whose framebuffer fits in
            // the VGA memory: QEMU's default 16 MiB stops at 2560x1600,
            // 64 MiB allows 5120x2880 (for clients on large screens).
            .args(["-global", "qxl-vga.vgamem_mb=64"])
            // A guest panic ends QEMU instead of rebooting it.
            .args(["-net", "none", "-no-reboot"])
            .arg("-kernel")
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd.img"))
            .args(["-append", "console=ttyS2 quiet panic=1"])
            // The agent's channel: a virtio-serial port named as spice-vdagentd
            // expects, backed by spice-server's vdagent char device.
            .args(["-device", "virtio-serial-pci"])
            .args(["-chardev", "spicevmc,id=vdagent,name=vdagent"])
            .args([
                "-device",
                "virtserialport,chardev=vdagent,name=com.redhat.spice.0",
            ])
            .arg("-spice")
            .arg(spice)
            .arg("-qmp")
            .arg(format!("unix:{},server,nowait", path("qmp").display()))
            // ttyS0: events; ttyS1: commands; ttyS2: console and logs.
            .arg("-serial")
            .arg(format!("file:{}", path("events.log").display()))
            .arg("-chardev")
            .arg(format!(
                "socket,id=commands,path={},server=on,wait=off",
                path("commands.sock").display()
            ))
            .args(["-serial", "chardev:commands"])
            .arg("-serial")
            .arg(format!("file:{}", path("debug.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(path("qemu.err"))?)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .context("cannot start qemu-system-x86_64 (Debian package qemu-system-x86)")?;
        let guest = DesktopGuest {
            child: Mutex::new(child),
            events: EventLog {
                path: path("events.log"),
                state: Mutex::default(),
            },
            dir,
            commands: tokio::sync::Mutex::new(None),
            drain: Mutex::new(None),
            next_id: AtomicU64::new(1),
            spice_port: port,
        };
        let start = Instant::now();
        guest
            .wait_event(0, BOOT_TIMEOUT, |e| *e == Event::Ready)
            .await
            .context("the desktop guest did not boot")?;
        eprintln!(
            "desktop guest ready in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        Ok(guest)
    }

    pub fn spice_addr(&self) -> String {
        format!("127.0.0.1:{}", self.spice_port)
    }

    /// Everything the guest wrote to its event port (ttyS0), line by line.
    pub fn serial_lines(&self) -> Result<Vec<String>> {
        self.events.lines()
    }

    /// Everything the guest wrote to its event port, as text (empty when
    /// the log cannot be read).
    pub fn serial_log(&self) -> String {
        self.serial_lines().unwrap_or_default().join("\n")
    }

    /// The end of the guest's log port (kernel console, init, Xorg and the
    /// agent's debug output).
    pub fn debug_log(&self) -> String {
        tail(&self.dir.path().join("debug.log"), 256 << 10)
    }

    /// The guest's events so far, parsed.
    pub fn events(&self) -> Result<Vec<Event>> {
        Ok(self
            .serial_lines()?
            .iter()
            .map(|l| Event::parse(l))
            .collect())
    }

    /// How many events the guest has written: a mark for [`Self::wait_event`].
    pub fn event_count(&self) -> usize {
        self.serial_lines().map(|l| l.len()).unwrap_or(0)
    }

    /// The X screen size from the last `SIZE` event.
    pub fn last_size(&self) -> Option<(u32, u32)> {
        self.events().ok()?.iter().rev().find_map(|e| match e {
            Event::Size { width, height } => Some((*width, *height)),
            _ => None,
        })
    }

    /// Waits for the first event at index `from` or later that `pred`
    /// accepts and returns its index and the event. Fails at once when the
    /// guest reports a failure or QEMU exits.
    pub async fn wait_event(
        &self,
        from: usize,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Result<(usize, Event)> {
        let start = Instant::now();
        loop {
            let lines = self.serial_lines()?;
            for (i, line) in lines.iter().enumerate().skip(from) {
                let e = Event::parse(line);
                if pred(&e) {
                    return Ok((i, e));
                }
                if let Event::Failed(reason) = e {
                    bail!("the guest failed: {reason}{}", self.diagnostics());
                }
            }
            let exited = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait()?;
            if let Some(status) = exited {
                bail!("QEMU exited ({status}){}", self.diagnostics());
            }
            if start.elapsed() > timeout {
                bail!(
                    "no such event within {timeout:?}; events since #{from}: {:?}{}",
                    lines
                        .iter()
                        .skip(from)
                        .map(|l| shorten(l, 120))
                        .collect::<Vec<_>>(),
                    self.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an event line starting with `prefix` (at any time since
    /// boot) and returns it.
    pub async fn wait_serial_line_prefix(&self, prefix: &str, timeout: Duration) -> Result<String> {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .serial_lines()?
                .into_iter()
                .find(|l| l.starts_with(prefix))
            {
                return Ok(l);
            }
            if start.elapsed() > timeout {
                bail!(
                    "no event line starting with {prefix:?} within {timeout:?}{}",
                    self.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for a `SIZE` event of `width`x`height` at index `from` or later.
    pub async fn wait_size(
        &self,
        from: usize,
        width: u32,
        height: u32,
        timeout: Duration,
    ) -> Result<()> {
        self.wait_event(from, timeout, |e| *e == Event::Size { width, height })
            .await
            .with_context(|| format!("the guest screen did not become {width}x{height}"))?;
        Ok(())
    }

    /// Waits for a `CLIPBOARD` event with `text` at index `from` or later.
    pub async fn wait_clipboard(&self, from: usize, text: &str, timeout: Duration) -> Result<()> {
        self.wait_event(
            from,
            timeout,
            |e| matches!(e, Event::Clipboard(t) if t == text),
        )
        .await
        .with_context(|| format!("the guest clipboard did not become {text:?}"))?;
        Ok(())
    }

    /// Sends one command to the guest's hooks and returns the data of its
    /// `ok` reply; an `err` reply is an error. `arg` must be one word of
    /// printable ASCII (base64 for texts).
    pub async fn send_command(&self, verb: &str, arg: Option<&str>) -> Result<String> {
        let printable_word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !printable_word(verb) || arg.is_some_and(|a| !printable_word(a)) {
            bail!("a guest command and its argument must be printable ASCII words");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = format!("{id} {verb}");
        if let Some(a) = arg {
            line.push(' ');
            line.push_str(a);
        }
        line.push('\n');
        if line.len() > MAX_COMMAND {
            bail!(
                "guest command of {} bytes (limit {MAX_COMMAND})",
                line.len()
            );
        }
        let mark = self.event_count();
        {
            let mut w = self.commands.lock().await;
            if w.is_none() {
                *w = Some(self.connect_commands().await?);
            }
            let stream = w.as_mut().expect("connected above");
            stream
                .write_all(line.as_bytes())
                .await
                .context("writing to the guest's command port")?;
            stream.flush().await?;
        }
        // The guest reads the serial port a byte at a time: allow for it.
        let timeout = Duration::from_secs(60) + Duration::from_millis(line.len() as u64 / 2);
        let (_, e) = self
            .wait_event(
                mark,
                timeout,
                |e| matches!(e, Event::Reply { id: r, .. } if *r == id),
            )
            .await
            .with_context(|| format!("no reply to guest command {verb}"))?;
        match e {
            Event::Reply { result: Ok(d), .. } => Ok(d),
            Event::Reply { result: Err(r), .. } => bail!("guest command {verb} failed: {r}"),
            _ => unreachable!("wait_event matched a reply"),
        }
    }

    async fn connect_commands(&self) -> Result<OwnedWriteHalf> {
        let stream = UnixStream::connect(self.dir.path().join("commands.sock"))
            .await
            .context("connecting to the guest's command port")?;
        let (mut r, w) = stream.into_split();
        // The guest does not echo, but whatever it writes to ttyS1 is read
        // and dropped so that it can never block on us.
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        if let Some(old) = self
            .drain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
        Ok(w)
    }

    /// Checks that the command channel works.
    pub async fn ping(&self) -> Result<()> {
        let token = format!("p{}", rand::random::<u32>());
        let echo = self.send_command("ping", Some(&token)).await?;
        if echo != token {
            bail!("the guest answered ping {token} with {echo:?}");
        }
        Ok(())
    }

    /// Puts `text` on the guest's CLIPBOARD (through xclip) and returns
    /// once xclip owns the selection; the agent then grabs the client's
    /// clipboard, and a `CLIPBOARD` event follows.
    pub async fn copy(&self, text: &str) -> Result<()> {
        if text.len() > MAX_CLIPBOARD {
            bail!(
                "clipboard text of {} bytes (limit {MAX_CLIPBOARD})",
                text.len()
            );
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        // An empty text has an empty base64: no argument at all.
        self.send_command("copy", Some(b64.as_str()).filter(|b| !b.is_empty()))
            .await?;
        Ok(())
    }

    /// The guest's CLIPBOARD text, read now (invalid UTF-8 replaced).
    pub async fn paste(&self) -> Result<String> {
        let b64 = self.send_command("paste", None).await?;
        decode_text(&b64).ok_or_else(|| anyhow!("the guest's paste reply is not base64"))
    }

    /// The X screen size, asked now.
    pub async fn screen_size(&self) -> Result<(u32, u32)> {
        let s = self.send_command("size", None).await?;
        parse_size(&s).ok_or_else(|| anyhow!("the guest reported the screen size {s:?}"))
    }

    /// The X pointer position in screen pixels, asked now.
    pub async fn pointer(&self) -> Result<(i32, i32)> {
        let s = self.send_command("pointer", None).await?;
        parse_pointer(&s).ok_or_else(|| anyhow!("the guest reported the pointer at {s:?}"))
    }

    /// Polls [`Self::pointer`] until it is `want`; fails after `limit` with
    /// the last position seen.
    pub async fn wait_pointer(&self, want: (i32, i32), limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let at = self.pointer().await?;
            if at == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                // What X and the kernel make of the input devices, into the
                // log port and so into the diagnostics.
                if let Err(e) = self.send_command("diag", None).await {
                    eprintln!("guest diag: {e:#}");
                }
                bail!(
                    "the guest pointer is at {at:?}, not {want:?}, after {limit:?}{}",
                    self.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts cycling the photo images (`photo start`): the screen in
    /// [`PHOTO_RECT`] changes five times a second until [`Self::photo_stop`].
    pub async fn photo_start(&self) -> Result<()> {
        self.send_command("photo", Some("start")).await.map(|_| ())
    }

    /// Stops the cycle (`photo stop`), leaving the first image still on
    /// screen.
    pub async fn photo_stop(&self) -> Result<()> {
        self.send_command("photo", Some("stop")).await.map(|_| ())
    }

    /// Waits until the canvas at `selector` in `browser` equals this
    /// guest's screendump, as [`Browser::wait_canvas_matches`] does for the
    /// text guest: the page may still be drawing the last change when a
    /// screendump is taken, so the two are compared until they agree or
    /// `limit` passes.
    pub async fn wait_canvas_matches(
        &self,
        browser: &mut Browser,
        selector: &str,
        limit: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let truth = self.screendump().await?;
            let seen = browser.canvas(selector).await?;
            match compare(&truth, &seen) {
                None => return Ok(()),
                Some(d) if Instant::now() >= deadline => {
                    bail!("the canvas ({selector}) differs from the guest's screendump: {d}")
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// Runs one QMP command and returns its `return` value.
    pub async fn qmp(&self, command: Value) -> Result<Value> {
        qmp_at(&self.dir.path().join("qmp"), command).await
    }

    /// Whether the guest has the agent's virtio-serial port open, as QEMU
    /// sees it (`frontend-open` of the `vdagent` chardev).
    pub async fn agent_port_open(&self) -> Result<bool> {
        let devs = self.qmp(json!({"execute": "query-chardev"})).await?;
        let dev = devs
            .as_array()
            .and_then(|a| a.iter().find(|d| d["label"] == "vdagent"))
            .ok_or_else(|| anyhow!("QEMU has no vdagent chardev: {devs}"))?;
        dev["frontend-open"]
            .as_bool()
            .ok_or_else(|| anyhow!("query-chardev without frontend-open: {dev}"))
    }

    /// QEMU's own picture of the screen.
    pub async fn screendump(&self) -> Result<Screen> {
        let path = self.dir.path().join("screen.ppm");
        self.qmp(json!({"execute": "screendump", "arguments": {"filename": path}}))
            .await?;
        let data = std::fs::read(&path).context("reading the screendump")?;
        parse_ppm(&data)
    }

    /// The ends of the event log, the log port and QEMU's stderr, for errors.
    fn diagnostics(&self) -> String {
        let dir = self.dir.path();
        format!(
            "\n--- events (end) ---\n{}\n--- guest log (end) ---\n{}\n--- qemu stderr (end) ---\n{}",
            tail(&dir.join("events.log"), ERROR_TAIL),
            tail(&dir.join("debug.log"), 2 * ERROR_TAIL),
            tail(&dir.join("qemu.err"), ERROR_TAIL / 2),
        )
    }
}
