#!/usr/bin/env bash
# The SPICE translator benchmark (issue 4): builds the release `opencloud` and
# `viewer_bench`, boots the test guest under TCG and measures, in one run,
# our translate viewer against Debian's spice-html5 through websockify (bytes
# per second, key press → pixel in headless Chromium), then replays the
# guest's recorded SPICE traffic to 1, 10 and 50 viewers of one node (latency
# the node adds per frame, CPU per viewer). Writes the "SPICE translator vs
# spice-html5" section of docs/BENCHMARKS.md.
#
#   scripts/bench-viewer.sh [--seconds S] [--presses N] [--no-doc] [--doc PATH]
#
# Needs what scripts/test.sh installs (QEMU, chromium, spice-html5,
# websockify, tests/browser's playwright-core, the test guest). Everything
# listens on 127.0.0.1 only. Takes about 5 minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in websockify chromium qemu-system-x86_64; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "bench-viewer: $cmd is missing; run scripts/test.sh once to install what it needs" >&2
        exit 1
    fi
done
echo "bench-viewer: building (release)"
cargo build --release -p opencloud -p opencloud-tests --bin opencloud --bin viewer_bench
exec target/release/viewer_bench "$@"
