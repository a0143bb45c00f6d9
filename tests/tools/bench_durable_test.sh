#!/usr/bin/env bash
# semaphored_bench's durable rows, at a tiny size: W1 on both stores in one run, the
# durable floor, the comparison rows, and a restart with held semaphores that must all
# come back. Figures are not checked (timing is not asserted); the rows, the restart's
# checks and the removal of every data dir are.
#
# Usage: bench_durable_test.sh SEMAPHORED_BENCH
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench="$1"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir "${work}/data"

holders=2000
timeout 120 "${bench}" --workloads=floor,w1,restart --stores=memory,sqlite \
  --floor_duration=0.2s --duration=0.3s --w2_clients=2 --commit_samples=20 \
  --restart_holders="${holders}" --bench_dir="${work}/data" \
  --json_out="${work}/bench.json" >"${work}/out.txt" 2>&1 ||
  fail "semaphored_bench exited $?: $(cat "${work}/out.txt")"

# Prints "pass value" of the row WORKLOAD / METRIC (the metric's start), or fails.
row() {
  "${PYTHON}" - "${work}/bench.json" "$1" "$2" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
for r in rows:
    if r["workload"] == sys.argv[2] and r["metric"].startswith(sys.argv[3]):
        print(json.dumps(r["pass"]), r["value"])
        sys.exit(0)
sys.exit(f"no row {sys.argv[2]} / {sys.argv[3]} in: "
         + ", ".join(f'{r["workload"]} / {r["metric"]}' for r in rows))
PY
}

# The durable floor was measured, and W1 ran on both stores, labelled by store.
for wanted in "durable floor|commit p50 (1 effect)" "durable floor|CPU per effect" \
              "W1 memory|pair p50" "W1 sqlite|pair p50" "W1 sqlite|commits (batches)" \
              "sqlite/memory|W1 sqlite pair p50 vs RT" "sqlite/memory|W1 pair p50 ratio"; do
  found="$(row "${wanted%%|*}" "${wanted#*|}")" || fail "${found}"
  value="${found#* }"
  "${PYTHON}" -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "${value}" ||
    fail "${wanted}: value ${value}, want > 0"
done
# The durable W1 committed batches that released answers.
found="$(row "W1 sqlite" "answers per commit")" || fail "${found}"
"${PYTHON}" -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 1 else 1)" "${found#* }" ||
  fail "W1 sqlite answers per commit: ${found#* }, want >= 1"

# The restart loaded every holder, and one of them still tests as held.
found="$(row restart "holders loaded")" || fail "${found}"
expect_eq "restart: holders loaded (pass value)" "${found}" "true ${holders}"
found="$(row restart "a loaded semaphore tests as held")" || fail "${found}"
expect_eq "restart: loaded semaphore held (pass value)" "${found}" "true 1"
found="$(row restart "start to first Ping")" || fail "${found}"

# Every data dir the run made is gone.
left="$(ls -A "${work}/data")"
expect_eq "data dirs left under --bench_dir" "${left}" ""
echo "PASS"
