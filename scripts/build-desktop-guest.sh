#!/usr/bin/env bash
# Builds the "desktop guest" used by the SPICE agent tests: a Debian kernel and
# one initramfs holding a small Debian userland (Xorg with the modesetting
# driver on the QXL KMS device and the evdev input driver, systemd-udevd for
# Xorg's input hotplug, Debian's real spice-vdagentd and spice-vdagent, xclip,
# xrandr, xdotool, xwud, busybox) and an init that starts them and drives test
# hooks. The guest's hook protocol is documented in
# tests/src/desktop_guest/events.rs.
#
# Usage: scripts/build-desktop-guest.sh [CACHE_DIR]
#   CACHE_DIR defaults to $OPENCLOUD_DESKTOP_GUEST_DIR or
#   <repo>/.cache/desktop-guest.
# Output: CACHE_DIR/vmlinuz, CACHE_DIR/initrd.img (an uncompressed cpio),
# CACHE_DIR/packages.txt (what went in) and CACHE_DIR/recipe (the SHA-256 of
# this script). Nothing is redone when vmlinuz and initrd.img exist and were
# built by this very script; an image built by another version of it is
# rebuilt. Delete the directory to rebuild anyway.
#
# Needs: apt-get with Debian bookworm package lists (it runs `apt-get update`
# when they are missing, which needs root), dpkg-deb, cpio, xz, flock, perl
# (perl-base, essential in Debian: it draws the photo images). Every package
# comes from the configured Debian mirror through apt-get; nothing else is
# downloaded. No root is needed otherwise: packages are unpacked with
# `dpkg-deb -x`, never installed, and nothing is mounted.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-${OPENCLOUD_DESKTOP_GUEST_DIR:-$repo/.cache/desktop-guest}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

say() { echo "build-desktop-guest: $*"; }
die() { echo "build-desktop-guest: error: $*" >&2; exit 1; }

# The image is this script's output: one built by another version of it
# (other hooks, other packages) is stale.
recipe="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
built() {
    [[ -s "$out/vmlinuz" && -s "$out/initrd.img" ]] &&
        [[ "$(cat "$out/recipe" 2>/dev/null)" == "$recipe" ]]
}
if built; then
    say "$out/vmlinuz and $out/initrd.img already built"
    exit 0
fi
# Tests running in parallel may all find the guest missing: one builds, the
# others wait for it here and then find it built.
exec 9>"$out/.build.lock"
if ! flock -n 9; then
    say "another build is running in $out; waiting for it"
    flock 9
fi
if built; then
    say "$out/vmlinuz and $out/initrd.img were built meanwhile"
    exit 0
fi
if [[ -e "$out/initrd.img" ]]; then
    say "$out holds an image built by another version of this script: rebuilding"
    rm -f "$out/initrd.img" "$out/recipe"
fi
start_time=$SECONDS

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# What the guest runs. Recommends are left out; the closure of Depends is
# resolved by apt itself (below), so alternatives and virtual packages are
# handled the way apt would install them.
packages=(
    xserver-xorg-core  # Xorg and its modesetting driver (the QXL KMS device)
    xserver-xorg-input-evdev  # Xorg's driver for spice-vdagentd's uinput tablet
    udev               # systemd-udevd: Xorg finds input devices, and hotplugs them, through udev
    spice-vdagent      # spice-vdagentd (daemon) and spice-vdagent (X session agent)
    xclip              # the test hooks' clipboard access
    x11-xserver-utils  # xrandr (screen size) and xsetroot (background colour)
    x11-utils          # xdpyinfo (waits for the X server)
    xinput             # checks that Xorg has the agent's tablet
    xdotool            # the pointer position, and raising the photo windows
    x11-apps           # xwud, which shows the photo images
    busybox-static     # the shell and core tools; static, so no libc surprises
    libc-bin           # the C.UTF-8 locale, for GTK's text conversions
)

# Packages in that closure which the guest never runs: package managers,
# init systems, perl, the C preprocessor (for xrdb), Mesa's DRI drivers and
# LLVM (the guest disables GLX and glamor and draws in software), icon themes,
# man-db (x11-apps depends on it for its manual pages). Leaving them out
# keeps the initramfs near 110 MB instead of 530. If one of them ever becomes
# necessary, the library check below fails the build. systemd-udevd's shared
# library (libsystemd-shared) and its dependencies are kept.
skip_packages="adduser adwaita-icon-theme bsdextrautils cpp cpp-12 dbus dbus-bin
    dbus-daemon dbus-session-bus-common dbus-system-bus-common dbus-user-session
    dconf-service debconf dmsetup dpkg groff-base gtk-update-icon-cache
    hicolor-icon-theme init-system-helpers keyboard-configuration libargon2-1
    libcryptsetup12 libdevmapper1.02.1 libegl-mesa0 libfdisk1
    libfile-find-rule-perl libgl1-mesa-dri libglx-mesa0 libicu72 libisl23
    libjson-c5 libllvm15 liblocale-gettext-perl libmpc3 libmpfr6
    libnumber-compare-perl libpam-modules libpam-modules-bin libpam-runtime
    libpam-systemd libperl5.36 libpipeline1 libproc2-0 libsemanage-common
    libsemanage2 libsepol2 libtext-glob-perl libuchardet0 libxml2 libz3-4
    lsb-base man-db mount passwd perl perl-base perl-modules-5.36 procps
    shared-mime-info systemd systemd-sysv sysvinit-utils tar usrmerge"
declare -A skip=()
for name in $skip_packages; do
    skip[$name]=1
done

# Kernel modules the init loads (their dependencies are added below): the QXL
# DRM driver (X changes resolution through KMS), virtio PCI and virtio
# console (the agent's virtio-serial port), uinput (spice-vdagentd's tablet)
# and evdev.
modules=(qxl virtio_pci virtio_console uinput evdev)

# 0. Package lists.
if ! apt-cache show spice-vdagent >/dev/null 2>&1 ||
    ! apt-cache depends linux-image-amd64 2>/dev/null | grep -q 'Depends: linux-image-[0-9]'; then
    say "apt-cache does not know the packages; running apt-get update"
    apt-get update -qq
fi

# 1. Downloads. apt-get resolves the Depends closure as if it were installing
# into an empty system (an empty dpkg status file), but only downloads, into
# a private directory, without locks; nothing on the host changes.
kernel_pkg="$(apt-cache depends linux-image-amd64 |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
[[ -n "$kernel_pkg" ]] || die "cannot resolve linux-image-amd64"
mkdir -p "$work/debs/partial" "$work/state"
: >"$work/state/status"
apt_opts=(
    -q -y
    -o Debug::NoLocking=1
    -o Dir::State::status="$work/state/status"
    -o Dir::Cache::archives="$work/debs"
    -o APT::Install-Recommends=false
    -o APT::Install-Suggests=false
)
# As root, apt drops privileges to _apt for downloads, which cannot write
# into a mktemp directory; download as root instead.
[[ "$(id -u)" == 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
say "downloading ${packages[*]} and their dependencies"
apt-get "${apt_opts[@]}" --download-only install "${packages[@]}" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; die "apt-get could not download the packages"; }
say "downloading the kernel, $kernel_pkg"
(cd "$work" && apt-get "${apt_opts[@]}" download "$kernel_pkg" >>"$work/apt.log" 2>&1) ||
    { cat "$work/apt.log" >&2; die "apt-get could not download $kernel_pkg"; }

# 2. The root: every downloaded package but the skipped ones, unpacked.
root="$work/root"
mkdir -p "$root"
: >"$work/packages.txt"
count=0
for deb in "$work"/debs/*.deb; do
    name="$(dpkg-deb -f "$deb" Package)"
    if [[ -n "${skip[$name]:-}" ]]; then
        continue
    fi
    dpkg-deb -x "$deb" "$root"
    echo "$name $(dpkg-deb -f "$deb" Version)" >>"$work/packages.txt"
    count=$((count + 1))
done
say "unpacked $count packages"
# Documentation, translations and icons are never read by the guest.
rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,icons,perl5} "$root"/usr/include
# udev's own rules (and the hardware database they consult) serve a whole
# system: under TCG every rule costs boot time, and some would start services
# through systemd. The guest's udevd runs the one rule Xorg needs, written
# below; /lib/udev keeps udevd's helpers.
rm -rf "$root"/lib/udev/rules.d "$root"/lib/udev/hwdb.d "$root"/etc/udev/rules.d

# Every program the init starts, and the X modules it loads, must find all
# their libraries in the root. The root's own dynamic loader answers that
# without running the programs (and without root or a chroot).
# (udevadm finds libsystemd-shared through a RUNPATH naming the guest's
# /usr/lib/x86_64-linux-gnu/systemd; the library path must name the root's
# copy, or a host with systemd would answer for it.)
loader="$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
libpath="$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu/systemd"
for f in usr/lib/xorg/Xorg usr/lib/xorg/modules/drivers/modesetting_drv.so \
    usr/lib/xorg/modules/libshadow.so usr/lib/xorg/modules/input/evdev_drv.so \
    usr/bin/xkbcomp bin/udevadm \
    usr/sbin/spice-vdagentd usr/bin/spice-vdagent \
    usr/bin/xclip usr/bin/xrandr usr/bin/xsetroot usr/bin/xdpyinfo \
    usr/bin/xinput usr/bin/xdotool usr/bin/xwud; do
    [[ -e "$root/$f" ]] || die "the root has no /$f"
    missing="$("$loader" --library-path "$libpath" --list "$root/$f" 2>&1 | grep 'not found' || true)"
    [[ -z "$missing" ]] || die "/$f lacks libraries (a skipped package?): $missing"
done

# busybox provides the shell and the core tools; its applets are linked only
# where the packages put no program of that name.
[[ -x "$root/bin/busybox" ]] || die "busybox-static did not provide /bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [[ -e "$root/bin/$applet" || -e "$root/usr/bin/$applet" ||
        -e "$root/sbin/$applet" || -e "$root/usr/sbin/$applet" ]] ||
        ln -s busybox "$root/bin/$applet"
done

# 3. The kernel and its modules.
say "unpacking $kernel_pkg"
dpkg-deb -x "$work/$kernel_pkg"_*.deb "$work/kernel"
kver="$(ls "$work/kernel/lib/modules" | head -n1)"
[[ -n "$kver" ]] || die "$kernel_pkg holds no modules"
kmods="$work/kernel/lib/modules/$kver"
declare -A modfile=() modstate=()
while IFS= read -r -d '' f; do
    n="$(basename "$f")"
    n="${n%%.ko*}"
    modfile[${n//-/_}]="$f"
done < <(find "$kmods" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' \) -print0)
mkdir -p "$root/lib/modules/$kver"
load_order=()
# Adds module $1 after the modules it depends on. Debian's modules may be
# compressed; they are decompressed here because busybox's insmod cannot
# read compressed modules. Dependencies come from each module's .modinfo
# ("depends=a,b"), so no depmod is needed.
add_module() {
    local name="${1//-/_}" f dst deps dep
    case "${modstate[$name]:-}" in
        done) return ;;
        busy) die "module dependency cycle at $name" ;;
    esac
    f="${modfile[$name]:-}"
    if [[ -z "$f" ]]; then
        # Built into the kernel: nothing to load.
        if grep -q "/${name}.ko" "$kmods/modules.builtin" 2>/dev/null ||
            grep -q "/${name//_/-}.ko" "$kmods/modules.builtin" 2>/dev/null; then
            modstate[$name]=done
            return
        fi
        die "kernel $kver has no module $name"
    fi
    modstate[$name]=busy
    dst="$root/lib/modules/$kver/$name.ko"
    case "$f" in
        *.ko.xz) xz -dc "$f" >"$dst" ;;
        *.ko.zst) zstd -qdc "$f" >"$dst" || die "decompressing $f needs zstd" ;;
        *) cp "$f" "$dst" ;;
    esac
    deps="$(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | head -n1)"
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
    modstate[$name]=done
    load_order+=("$name")
}
for m in "${modules[@]}"; do
    add_module "$m"
done
for m in "${load_order[@]}"; do
    echo "/lib/modules/$kver/$m.ko"
done >"$root/etc/opencloud-modules"
say "kernel $kver; modules in load order: ${load_order[*]}"

# 4. Configuration.
mkdir -p "$root"/{dev,proc,sys,tmp,run,root,var/log,var/lib/xkb,etc/X11}
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
echo desktop-guest >"$root/etc/hostname"

# Xorg: one modesetting screen on the QXL KMS device; input devices from
# udev, hotplugged (spice-vdagentd creates its tablet long after Xorg starts,
# and recreates it whenever the screen size changes), all with the evdev
# driver. No GLX or glamor (Mesa is not in the guest), no screen saver or
# DPMS (a blanked screen would break long tests).
cat >"$root/etc/X11/xorg.conf" <<'EOF'
Section "ServerFlags"
    Option "AutoAddGPU" "false"
    Option "DontVTSwitch" "true"
    Option "BlankTime" "0"
    Option "StandbyTime" "0"
    Option "SuspendTime" "0"
    Option "OffTime" "0"
EndSection
Section "Module"
    Disable "glx"
EndSection
Section "InputClass"
    Identifier "evdev"
    MatchDevicePath "/dev/input/event*"
    Driver "evdev"
EndSection
Section "Device"
    Identifier "qxl"
    Driver "modesetting"
    Option "kmsdev" "/dev/dri/card0"
    Option "AccelMethod" "none"
EndSection
Section "Screen"
    Identifier "screen"
    Device "qxl"
EndSection
EOF

# udev's one rule here: Xorg's udev backend adds only input devices that
# carry ID_INPUT (and uses ID_INPUT_MOUSE, _KEY, ... to pick their class),
# which udev's input_id builtin sets.
mkdir -p "$root/etc/udev/rules.d"
cat >"$root/etc/udev/rules.d/60-input-id.rules" <<'EOF'
ACTION!="remove", SUBSYSTEM=="input", IMPORT{builtin}="input_id"
EOF

# Photo-like images for the viewer's JPEG path: smooth gradients plus noise,
# so that every 64x16 tile holds well over 64 distinct colours (the viewer's
# threshold for "photographic"). Each is an XWD file (24-bit TrueColor,
# ZPixmap) that xwud shows as it is; its window name, oc-photo-N, lets the
# init find the window (xwud names it "xwud: oc-photo-N").
say "drawing the photo images"
mkdir -p "$root/usr/share/opencloud"
for n in 1 2 3; do
    perl - "$n" 640 480 "$root/usr/share/opencloud/photo-$n.xwd" <<'EOF'
use strict;
use warnings;
my ($n, $w, $h, $out) = @ARGV;
srand(1000 + $n);    # the same images on every build
my $name = "oc-photo-$n\0";
open(my $f, '>:raw', $out) or die "$out: $!";
# XWDFileHeader: 25 big-endian CARD32, then the window name.
print $f pack('N25', 100 + length($name), 7, 2, 24, $w, $h, 0, 0, 32, 0, 32, 32,
    $w * 4, 4, 0xff0000, 0xff00, 0xff, 8, 256, 0, $w, $h, 0, 0, 0), $name;
my @phase = map { rand(6.283) } 1 .. 6;
my @freq = map { 0.004 + rand(0.012) } 1 .. 6;
for my $y (0 .. $h - 1) {
    my $row = '';
    for my $x (0 .. $w - 1) {
        my @c;
        for my $k (0 .. 2) {
            my $v = 128 + 90 * sin($x * $freq[$k] + $y * $freq[$k + 3] + $phase[$k])
                + 30 * sin(($x - $y) * $freq[5 - $k] + $phase[$k + 3])
                + int(rand(41)) - 20;
            push @c, $v < 0 ? 0 : $v > 255 ? 255 : int($v);
        }
        # Pixels in LSBFirst byte order: blue, green, red, pad.
        $row .= pack('C4', $c[2], $c[1], $c[0], 0);
    }
    print $f $row;
}
close($f) or die "$out: $!";
EOF
done

# SPICE clients ask for a new monitor layout with VD_AGENT_MONITORS_CONFIG.
# With the qxl KMS driver in the guest, spice-server hands that message to
# the QXL device instead of the agent; the kernel driver then offers the
# requested size as the preferred mode and sends a DRM hotplug uevent. Some
# program in the session has to apply it: GNOME's mutter does; here this
# handler, run by busybox's uevent for every kernel uevent, does the same.
mkdir -p "$root/etc/opencloud"
cat >"$root/etc/opencloud/drm-hotplug" <<'EOF'
#!/bin/sh
[ "$SUBSYSTEM" = drm ] && [ "$HOTPLUG" = 1 ] || exit 0
export DISPLAY=:0
# Connected outputs side by side, left to right; the others off.
args=$(xrandr 2>/dev/null | awk '
    / connected/ {
        printf " --output %s --auto", $1
        if (prev != "") printf " --right-of %s", prev
        prev = $1
    }
    / disconnected/ { printf " --output %s --off", $1 }')
echo "desktop-guest: drm hotplug: xrandr$args"
[ -n "$args" ] && xrandr $args
EOF
chmod +x "$root/etc/opencloud/drm-hotplug"

# The init: starts everything, reports on ttyS0, takes commands on ttyS1,
# logs on ttyS2 (also the kernel console). Keep the protocol in sync with
# tests/src/desktop_guest.rs.
cat >"$root/init" <<'EOF'
#!/bin/sh
# PID 1 of the Opencloud desktop guest.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
chmod 1777 /tmp
mkdir -p /run/opencloud /run/spice-vdagentd /run/user/0
chmod 0700 /run/user/0
echo 1 > /proc/sys/kernel/printk

EVENTS=/dev/ttyS0 COMMANDS=/dev/ttyS1
# Raw mode: no "\r\n" translation on the way out, no echo and no line length
# limit on the way in.
stty -F "$EVENTS" raw -echo 2>/dev/null
stty -F "$COMMANDS" raw -echo 2>/dev/null

# Several loops write events; a mkdir lock keeps each line whole.
emit() {
    while ! mkdir /run/opencloud/emit.lock 2>/dev/null; do usleep 10000; done
    printf '%s\n' "$*" > "$EVENTS"
    rmdir /run/opencloud/emit.lock
}
# Log lines carry the guest's uptime, to see where boot time goes.
log() {
    read -r up _ < /proc/uptime
    echo "desktop-guest: [$up] $*"
}
fail() {
    log "FAILED: $*"
    dmesg | tail -n 60
    emit "OPENCLOUD-DESKTOP-FAILED $*"
    while true; do sleep 3600; done
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
    local tries=$(( $1 * 5 )); shift
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries - 1)); [ "$tries" -gt 0 ] || return 1
        usleep 200000
    done
}

emit OPENCLOUD-DESKTOP-BOOT
log "loading modules"
while read -r m; do
    insmod "$m" || log "insmod $m failed"
done < /etc/opencloud-modules

wait_for 30 test -e /dev/dri/card0 || fail "no /dev/dri/card0 (qxl)"
wait_for 30 test -e /dev/uinput || fail "no /dev/uinput"
# udev's default rules would name the agent's port /dev/virtio-ports/<name>;
# the guest's udevd runs only the input rule, so the symlinks are made here
# the same way.
port_link() {
    for p in /sys/class/virtio-ports/*; do
        [ -e "$p/name" ] || continue
        name=$(cat "$p/name")
        [ -n "$name" ] || continue
        mkdir -p /dev/virtio-ports
        ln -sf "../${p##*/}" "/dev/virtio-ports/$name"
    done
    test -e /dev/virtio-ports/com.redhat.spice.0
}
wait_for 30 port_link || fail "no virtio port com.redhat.spice.0"

# Xorg learns of input devices only from udev: the properties udevd stores
# (ID_INPUT...) for the devices present when it starts, and udevd's events
# for the ones added later, such as spice-vdagentd's tablet.
log "starting udevd"
/lib/systemd/systemd-udevd --resolve-names=never > /dev/console 2>&1 &
upid=$!
wait_for 30 test -S /run/udev/control || fail "systemd-udevd did not start"
udevadm trigger --action=add --subsystem-match=input
udevadm settle --timeout=30 || log "udevadm settle timed out"

log "starting Xorg"
export DISPLAY=:0
Xorg :0 -config /etc/X11/xorg.conf -logfile /tmp/Xorg.0.log -nolisten tcp \
    -noreset -novtswitch -s 0 -dpms vt1 > /tmp/Xorg.out 2>&1 &
xpid=$!
if ! wait_for 90 xdpyinfo; then
    cat /tmp/Xorg.out /tmp/Xorg.0.log
    fail "the X server did not start"
fi
xsetroot -solid '#2a5d8f'
uevent /etc/opencloud/drm-hotplug > /dev/console 2>&1 &

log "starting spice-vdagentd"
spice-vdagentd -x -X -d &
dpid=$!
has_port() {
    for fd in /proc/$dpid/fd/*; do
        case "$(readlink "$fd")" in /dev/vport*) return 0 ;; esac
    done
    return 1
}
wait_for 30 test -S /run/spice-vdagentd/spice-vdagent-sock ||
    fail "spice-vdagentd made no socket"

log "starting spice-vdagent"
# No accessibility bus, session bus or dconf in this guest: tell GTK so
# instead of letting it time out looking for them.
NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory XDG_RUNTIME_DIR=/run/user/0 \
    DBUS_SESSION_BUS_ADDRESS=unix:path=/run/no-session-bus \
    spice-vdagent -x -d &
apid=$!
# The agent is up once the daemon has accepted its connection: then the
# socket shows up twice in /proc/net/unix (listener and connection).
agent_connected() {
    [ "$(grep -c /run/spice-vdagentd/spice-vdagent-sock /proc/net/unix)" -ge 2 ]
}
wait_for 60 agent_connected || fail "spice-vdagent did not connect to spice-vdagentd"
# spice-vdagentd opens the virtio port once an X session agent has told it
# the screen's resolution.
wait_for 30 has_port || fail "spice-vdagentd did not open the virtio port"
emit AGENT-PORT-OK
# In client mouse mode spice-server hands pointer positions to
# spice-vdagentd, which injects them through a uinput tablet; it creates the
# tablet together with the port (it needs the screen size from the session
# agent), and Xorg adds it through udev.
TABLET='spice vdagent tablet'
tablet_in_kernel() { grep -qxF "$TABLET" /sys/class/input/*/name; }
tablet_in_x() { xinput list --name-only | grep -qxF "$TABLET"; }
wait_for 30 tablet_in_kernel || fail "spice-vdagentd made no uinput tablet"
if ! wait_for 30 tablet_in_x; then
    xinput list; grep -i 'input\|evdev' /tmp/Xorg.0.log
    fail "Xorg did not add the agent's tablet"
fi
log "Xorg has the agent's tablet"
for p in $upid $xpid $dpid $apid; do
    kill -0 "$p" 2>/dev/null || fail "process $p died during start-up"
done

screen_size() {
    xrandr --current 2>/dev/null |
        sed -n 's/.* current \([0-9]*\) x \([0-9]*\),.*/\1x\2/p' | head -n1
}
# clip_read FILE: prints the CLIPBOARD text (at most 1 MiB) in base64, using
# FILE as scratch space (the two loops below read concurrently).
clip_read() {
    # The owner may be the agent, which asks the SPICE client: bounded.
    timeout 5 xclip -o -selection clipboard > "$1" 2>/dev/null &&
        head -c 1048576 "$1" | base64 -w 0
}
# A key of the CLIPBOARD selection's current ownership, without fetching
# its content (which, when the agent owns the selection, would make it ask
# the SPICE client every time): the owner's TARGETS and, for owners that
# offer it (GTK, so the agent), the TIMESTAMP at which it took the
# selection. Fails when nobody owns the selection. The copy command forces a
# read instead, since xclip offers no TIMESTAMP.
clip_key() {
    t=$(timeout 2 xclip -o -selection clipboard -t TARGETS 2>/dev/null) || return 1
    ts=
    case "$t" in
        *TIMESTAMP*) ts=$(timeout 2 xclip -o -selection clipboard -t TIMESTAMP 2>/dev/null |
            head -c 64 | od -An -tx1 | tr -d ' \n') ;;
    esac
    echo "$t $ts" | md5sum
}

# Watches the screen size and the clipboard.
watch_loop() {
    size=$(screen_size); last_key=none
    while true; do
        s=$(screen_size)
        if [ -n "$s" ] && [ "$s" != "$size" ]; then size=$s; emit "SIZE $s"; fi
        if key=$(clip_key); then
            if [ -e /run/opencloud/clip-force ] || [ "$key" != "$last_key" ]; then
                rm -f /run/opencloud/clip-force
                last_key=$key
                if b=$(clip_read /run/opencloud/watch.clip); then emit "CLIPBOARD $b"
                else log "could not read the clipboard"; fi
            fi
        elif [ "$last_key" != none ]; then
            last_key=none
            emit CLIPBOARD-NONE
        fi
        for p in $upid $xpid $dpid $apid; do
            kill -0 "$p" 2>/dev/null || fail "process $p died"
        done
        usleep 500000
    done
}

# The X pointer position as "<x> <y>".
pointer_pos() {
    xdotool getmouselocation 2>/dev/null |
        sed -n 's/^x:\(-*[0-9]*\) y:\(-*[0-9]*\) .*/\1 \2/p' | grep .
}

# Photos: one xwud window per image, all at the same place; the loop raises
# them in turn, so that the area changes five times a second while X only
# restacks windows and xwud redraws from memory (no process start per
# change). One xdotool runs a chain of raises; the loop ends after the chain
# in which the flag file disappeared.
PHOTOS="1 2 3"
photo_window() { xdotool search --name "oc-photo-$1\$" 2>/dev/null | head -n1 | grep .; }
photo_loop() {
    set -- $(cat /run/opencloud/photo-ids)
    chain=
    for round in 1 2; do
        for w in "$@"; do chain="$chain windowraise $w sleep 0.2"; done
    done
    while [ -e /run/opencloud/photo-on ]; do
        xdotool $chain > /dev/null 2>&1 || { log "photo: xdotool failed"; sleep 1; }
    done
    rm -f /run/opencloud/photo-loop
}
# (-raw: the pixels are the screen's own TrueColor values, so xwud puts the
# image as it is instead of allocating a colour per pixel.)
photo_start() {
    ids=
    for k in $PHOTOS; do
        if ! photo_window "$k" > /dev/null; then
            ( xwud -noclick -raw -geometry +192+144 -in "/usr/share/opencloud/photo-$k.xwd"
              log "photo: xwud $k exited ($?)" ) &
        fi
    done
    for k in $PHOTOS; do
        if ! wait_for 30 photo_window "$k"; then
            log "photo: no window oc-photo-$k; the root's children are:"
            xwininfo -root -children
            return 1
        fi
        ids="$ids $(photo_window "$k")"
    done
    echo $ids > /run/opencloud/photo-ids
    touch /run/opencloud/photo-on
    if [ ! -e /run/opencloud/photo-loop ]; then
        touch /run/opencloud/photo-loop
        photo_loop &
    fi
}
# Ends the loop and leaves the first image on top, still.
photo_stop() {
    rm -f /run/opencloud/photo-on
    wait_for 30 test ! -e /run/opencloud/photo-loop || return 1
    [ -s /run/opencloud/photo-ids ] || return 0
    set -- $(cat /run/opencloud/photo-ids)
    xdotool windowraise "$1"
}

# Commands from the host, one a line: "<id> <verb> [<argument>]"; each gets
# one "REPLY <id> ok [<data>]" or "REPLY <id> err <reason>".
command_loop() {
    set -f
    while IFS= read -r line; do
        set -- $line
        id=${1:-0} verb=${2:-} arg=${3:-}
        case "$verb" in
            ping) emit "REPLY $id ok $arg" ;;
            size) emit "REPLY $id ok $(screen_size)" ;;
            copy)
                if ! printf '%s' "$arg" | base64 -d > /run/opencloud/copy 2>/dev/null; then
                    emit "REPLY $id err bad base64"
                    continue
                fi
                # xclip forks and keeps serving the selection until someone
                # else takes it.
                xclip -selection clipboard -i < /run/opencloud/copy > /dev/null 2>&1
                if wait_for 10 sh -c 'xclip -o -selection clipboard -t TARGETS | grep -q UTF8_STRING'; then
                    touch /run/opencloud/clip-force
                    emit "REPLY $id ok"
                else
                    emit "REPLY $id err xclip did not take the clipboard"
                fi ;;
            paste)
                if b=$(clip_read /run/opencloud/paste.clip); then emit "REPLY $id ok $b"
                else emit "REPLY $id err cannot read the clipboard"; fi ;;
            diag)
                {
                    log "diag: kernel input devices:"
                    (set +f; grep . /sys/class/input/*/name)
                    log "diag: X input devices:"
                    xinput list
                    log "diag: Xorg log (end):"
                    tail -n 60 /tmp/Xorg.0.log
                } 2>&1
                emit "REPLY $id ok" ;;
            pointer)
                if p=$(pointer_pos); then emit "REPLY $id ok $p"
                else emit "REPLY $id err cannot read the pointer position"; fi ;;
            photo)
                case "$arg" in
                    start)
                        if photo_start; then emit "REPLY $id ok"
                        else emit "REPLY $id err the photo windows did not appear"; fi ;;
                    stop)
                        if photo_stop; then emit "REPLY $id ok"
                        else emit "REPLY $id err the photo loop did not stop"; fi ;;
                    *) emit "REPLY $id err photo takes start or stop" ;;
                esac ;;
            *) emit "REPLY $id err unknown command" ;;
        esac
    done <&3
}

emit "SIZE $(screen_size)"
# The command port is opened here, before READY: a byte the host sends to a
# closed serial port is lost when the port is opened (the UART is reset),
# and the host sends its first command as soon as it sees READY.
exec 3<"$COMMANDS"
watch_loop &
command_loop &
log "ready"
emit OPENCLOUD-DESKTOP-READY
while true; do sleep 3600; done
EOF
chmod +x "$root/init"

# 5. The initramfs, uncompressed: the kernel unpacks a plain cpio far faster
# than it decompresses one under TCG, and the file is only read, not sent.
# Everything belongs to root in the guest, whoever built it.
say "writing the initramfs ($(du -sh "$root" | cut -f1) unpacked)"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/initrd.img"
# The files appear under their final names only when complete (initrd.img
# last: its presence means "built").
cp "$work/packages.txt" "$out/packages.txt"
cp "$(ls "$work"/kernel/boot/vmlinuz-* | head -n1)" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
cp "$work/initrd.img" "$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
printf '%s\n' "$recipe" >"$out/recipe.tmp"
mv "$out/recipe.tmp" "$out/recipe"
say "done in $((SECONDS - start_time)) s: $out/vmlinuz $out/initrd.img ($(du -h "$out/initrd.img" | cut -f1))"
