#!/usr/bin/env bash
# Builds the tiny test guest used by the SPICE tests: a Debian kernel and a
# busybox-static initramfs whose init hides the text cursor (so the screen
# settles), runs a shell on tty0 and writes a readiness line to ttyS0.
#
# Usage: scripts/build-guest.sh [CACHE_DIR]
#   CACHE_DIR defaults to $OPENCLOUD_GUEST_DIR or <repo>/.cache/guest.
# Output: CACHE_DIR/vmlinuz, CACHE_DIR/initrd.gz and CACHE_DIR/recipe (the
# SHA-256 of this script). Nothing is redone when both exist and were built
# by this very script; an image built by another version of it is rebuilt.
#
# Needs: apt-get (with package lists), dpkg, busybox-static, cpio, gzip, flock.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-${OPENCLOUD_GUEST_DIR:-$repo/.cache/guest}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The image is this script's output: one built by another version of it is
# stale.
recipe="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
built() {
    [[ -s "$out/vmlinuz" && -s "$out/initrd.gz" ]] &&
        [[ "$(cat "$out/recipe" 2>/dev/null)" == "$recipe" ]]
}
if built; then
    echo "build-guest: $out/vmlinuz and $out/initrd.gz already built"
    exit 0
fi
# Tests running in parallel may all find the guest missing: one builds, the
# others wait for it here and then find it built.
exec 9>"$out/.build.lock"
if ! flock -n 9; then
    echo "build-guest: another build is running in $out; waiting for it"
    flock 9
fi
if built; then
    echo "build-guest: $out/vmlinuz and $out/initrd.gz were built meanwhile"
    exit 0
fi
if [[ -e "$out/initrd.gz" ]]; then
    echo "build-guest: $out holds an image built by another version of this script: rebuilding"
    rm -f "$out/vmlinuz" "$out/initrd.gz" "$out/recipe"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The kernel. linux-image-amd64 is a metapackage; the kernel itself is in
# the linux-image-<version>-amd64 package it depends on.
if [[ ! -s "$out/vmlinuz" ]]; then
    pkg="$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    if [[ -z "$pkg" ]]; then
        echo "build-guest: apt-cache knows no linux-image-amd64; running apt-get update" >&2
        apt-get update -qq
        pkg="$(apt-cache depends linux-image-amd64 |
            awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
    fi
    [[ -n "$pkg" ]] || { echo "build-guest: cannot resolve linux-image-amd64" >&2; exit 1; }
    echo "build-guest: downloading $pkg"
    (cd "$work" && apt-get download -q "$pkg")
    echo "build-guest: extracting the kernel from $pkg"
    dpkg -x "$work"/"$pkg"_*.deb "$work/kernel"
    cp "$(ls "$work"/kernel/boot/vmlinuz-* | head -n1)" "$out/vmlinuz.tmp"
    mv "$out/vmlinuz.tmp" "$out/vmlinuz"
fi

# The initramfs: busybox-static and an init script.
# busybox-static installs /bin/busybox; a dynamically linked busybox would
# not run inside an initramfs that has no libc.
busybox=/bin/busybox
[[ -x "$busybox" ]] || { echo "build-guest: busybox-static is not installed" >&2; exit 1; }
echo "build-guest: building the initramfs around $busybox"
root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
done
cat > "$root/init" <<'EOF'
#!/bin/sh
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# Kernel messages would scribble over the screen at random times.
echo 1 > /proc/sys/kernel/printk
# A blinking cursor would keep the display from ever settling.
printf '\033[?25l' > /dev/tty0
# Keep the console from blanking during long tests.
printf '\033[9;0]' > /dev/tty0
export PS1='guest# ' HOME=/ PATH=/bin:/sbin
echo OPENCLOUD-GUEST-READY > /dev/ttyS0
while true; do
    setsid sh -c 'exec sh </dev/tty0 >/dev/tty0 2>&1'
done
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initrd.gz.tmp"
mv "$out/initrd.gz.tmp" "$out/initrd.gz"
printf '%s\n' "$recipe" >"$out/recipe.tmp"
mv "$out/recipe.tmp" "$out/recipe"
echo "build-guest: done: $out/vmlinuz $out/initrd.gz"
