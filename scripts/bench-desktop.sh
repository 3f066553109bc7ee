#!/usr/bin/env bash
# The sign-in and desktop benchmark: builds the release `opencloud` and
# `desktop_bench`, then measures, in one run, sign-in → desktop ready in
# headless Chromium on a 3-node cluster (p50/p95, with the argon2id verify
# cost measured beside it), and the presence pings one node absorbs on one
# core (the node pinned to core 0 with taskset, the load generator on
# core 1; K events websockets ramped, closed loop, then an open loop at a
# fixed rate). Writes the "Sign-in and presence" section of
# docs/BENCHMARKS.md.
#
#   scripts/bench-desktop.sh [--runs N] [--sessions LIST] [--seconds S]
#                            [--rate R] [--no-doc] [--doc PATH]
#
# Needs chromium, node and tests/browser's playwright-core (scripts/test.sh
# installs them) and taskset (util-linux). Everything listens on 127.0.0.1
# only. Takes about 5 minutes after the build (most of it signing in the
# presence sessions: each sign-in pays argon2id).
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in chromium node taskset; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "bench-desktop: $cmd is missing; run scripts/test.sh once to install what it needs" >&2
        exit 1
    fi
done
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "bench-desktop: tests/browser has no playwright-core; run scripts/test.sh (or npm ci there)" >&2
    exit 1
fi
echo "bench-desktop: building (release)"
cargo build --release -p opencloud -p opencloud-tests --bin opencloud --bin desktop_bench
exec target/release/desktop_bench "$@"
