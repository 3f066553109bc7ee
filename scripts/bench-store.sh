#!/usr/bin/env bash
# The replicated store benchmark (issue 2): builds the release `opencloud` and
# the `store_bench` load generator, then runs a fresh 3-node Opencloud cluster
# and a 3-member etcd 3.4 cluster on loopback, one after the other, and writes
# the "Replicated store vs etcd" section of docs/BENCHMARKS.md.
#
#   scripts/bench-store.sh [store_bench options]
#     --warmup S --duration S   per load run (default 3 s + 12 s)
#     --kills N --etcd-kills N  failover samples (default 10 each)
#     --skip-ours --skip-etcd --no-doc --doc PATH
#
# Everything it starts listens on 127.0.0.1 only and is killed when it ends
# (also on Ctrl-C). Takes about 5 minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v etcd >/dev/null 2>&1; then
    echo "bench-store: installing etcd-server and etcd-client (Debian)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server etcd-client
fi
if [ -z "${ETCD_BIN:-}" ] && ! command -v etcd >/dev/null 2>&1; then
    echo "bench-store: etcd is not installed and could not be installed" >&2
    exit 1
fi

echo "bench-store: building (release)"
cargo build --release -p opencloud -p opencloud-tests --bin opencloud --bin store_bench

target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/store_bench" "$@"
