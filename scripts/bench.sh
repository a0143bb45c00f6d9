#!/usr/bin/env bash
# Runs the semaphored benchmark (bench/README.md) from a fresh Debian 12 checkout with
# one command: installs missing Debian packages, configures build-bench/ (Ninja,
# Release), builds semaphored_bench (and the semaphored binary it runs for
# --stores=etcd), and runs it; it starts its own server on 127.0.0.1 and prints every
# target with its ratio and PASS/MISS.
#
# Usage: scripts/bench.sh [BENCH_FLAGS...]   (e.g. --json_out=bench.json,
#        --workloads=w5 --w5_sessions=10000 --w5_per_session=100,
#        --stores=memory,sqlite,etcd: also a 3-member etcd on loopback, ~1.5 min more)
# Environment: SEMAPHORED_BENCH_BUILD_DIR (default build-bench/), SEMAPHORED_JOBS.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="${SEMAPHORED_BENCH_BUILD_DIR:-${REPO}/build-bench}"
bash "${REPO}/scripts/deps.sh" --no-buf
if [[ ! -f "${dir}/CMakeCache.txt" ]]; then
  cmake -S "${REPO}" -B "${dir}" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
build_targets "${dir}" semaphored_bench
exec "${dir}/bench/semaphored_bench" "$@"
