#!/usr/bin/env bash
# Runs Opencloud's whole test suite on a Debian machine, installing first what
# the tests need and skipping what is already there:
#   - Debian packages listed in scripts/apt-packages.txt (QEMU, etcd, ...);
#   - the browser tests' npm packages (tests/browser/package-lock.json);
#   - the test guest (kernel + busybox initramfs), built by scripts/build-guest.sh;
#   - the desktop guest (kernel + Xorg and Debian's SPICE agent in an
#     initramfs), built by scripts/build-desktop-guest.sh;
# then builds the workspace once, checks formatting and lints, and runs every
# test (unit and end-to-end) in parallel where they don't share resources.
#
# Usage: scripts/test.sh [extra arguments for the test runner]
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# 1. Debian packages.
missing=()
while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="${pkg// /}"
    [ -z "$pkg" ] && continue
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done < scripts/apt-packages.txt
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    say "Debian packages: all present"
fi

# 1b. Node.js packages for the browser tests: playwright-core drives Debian's
# chromium (it never downloads a browser). Reinstalled when the lock changes.
browser_lock_sum="$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)"
browser_stamp=tests/browser/node_modules/.opencloud-lock-sha256
if [ ! -d tests/browser/node_modules/playwright-core ] ||
    [ "$(cat "$browser_stamp" 2>/dev/null)" != "$browser_lock_sum" ]; then
    say "installing browser test packages: npm ci in tests/browser"
    (cd tests/browser && npm ci --no-audit --no-fund)
    echo "$browser_lock_sum" >"$browser_stamp"
else
    say "browser test packages: present"
fi

# 2. Rust tools.
if ! cargo nextest --version >/dev/null 2>&1; then
    say "installing cargo-nextest"
    cargo install --locked cargo-nextest
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# 3. The test guests.
scripts/build-guest.sh
scripts/build-desktop-guest.sh

# 4. Build once, then lint and test. A clean clone never reuses incremental
# state, so CI skips writing it (it would double the build's disk use).
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
free_gib=$(( $(df -Pk "$target_dir" | awk 'NR==2 {print $4}') / 1048576 ))
say "disk: ${free_gib} GiB free for $target_dir (a clean build and test run needs about 3 GiB)"
if [ "$free_gib" -lt 4 ]; then
    say "warning: less than 4 GiB free; the build may fail with 'No space left on device'"
fi
say "checking formatting"
cargo fmt --all -- --check
say "building (debug, all targets)"
cargo build --workspace --all-targets
say "linting"
cargo clippy --workspace --all-targets -- -D warnings
say "running the tests"
cargo nextest run --workspace --no-fail-fast "$@"
