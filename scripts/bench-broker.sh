#!/usr/bin/env bash
# The VM broker benchmark: builds the release `opencloud` and
# `broker_bench`, then measures, in one run, with real TCG guests (the test
# guest: a kernel and a busybox initramfs, built by scripts/build-guest.sh
# when missing):
#   1. warm launch → first frame in headless Chromium on a 3-node cluster
#      (the app icon's dblclick to the viewer iframe's first frame), p50/p95
#      with the split;
#   2. cold launch (a pool with warm: 0) and the VM's boot alone;
#   3. memory per idle VM (RSS and PSS of each QEMU, MemAvailable's drop);
#   4. how many idle VMs one node holds (the warm count stepped up).
# Writes the "VM broker" section of docs/BENCHMARKS.md.
#
#   scripts/bench-broker.sh [--runs N] [--warmups N] [--warm W] [--cold N]
#                           [--idle K] [--steps LIST] [--fill-timeout S]
#                           [--no-doc] [--doc PATH]
#                           [--skip-launch] [--skip-capacity]
#
# Needs qemu-system-x86_64, chromium, node and tests/browser's
# playwright-core (scripts/test.sh installs them). QEMU runs with TCG
# (nested KVM is not relied on). Everything listens on 127.0.0.1 only.
# Takes 15-30 minutes after the build on 2 cores (the TCG boots: each
# refill, each cold launch and each capacity step boots guests).
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in qemu-system-x86_64 chromium node; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "bench-broker: $cmd is missing; run scripts/test.sh once to install what it needs" >&2
        exit 1
    fi
done
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "bench-broker: tests/browser has no playwright-core; run scripts/test.sh (or npm ci there)" >&2
    exit 1
fi
echo "bench-broker: building (release)"
cargo build --release -p opencloud -p opencloud-tests --bin opencloud --bin broker_bench
exec target/release/broker_bench "$@"
