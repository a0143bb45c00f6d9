#!/usr/bin/env bash
# A bounded libFuzzer run, as a CTest test: copies the seed corpus into a scratch
# directory (the repository is never written), fuzzes for SECONDS, and fails on a
# crash, a leak, a timeout or an out-of-memory. The input that failed is kept in the
# scratch directory; add it to the seed corpus as crash-<what> so that every build
# replays it.
#
# Usage: run_fuzz.sh FUZZER CORPUS_DIR SCRATCH_DIR SECONDS
set -euo pipefail
(( $# == 4 )) || { echo "usage: $0 FUZZER CORPUS_DIR SCRATCH_DIR SECONDS" >&2; exit 2; }
fuzzer="$1" corpus="$2" scratch="$3" seconds="$4"

rm -rf "${scratch}"
mkdir -p "${scratch}/corpus" "${scratch}/artifacts"
cp -R "${corpus}/." "${scratch}/corpus/"
rc=0
# -timeout: one input running past 10 s is a hang; -rss_limit_mb: a leak or blow-up.
"${fuzzer}" -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="${scratch}/artifacts/" \
  "${scratch}/corpus" 2>"${scratch}/fuzz.log" || rc=$?
grep -E '^(INFO: Seed|#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss)' \
  "${scratch}/fuzz.log" || true
if (( rc != 0 )); then
  tail -n 60 "${scratch}/fuzz.log"
  echo "run_fuzz.sh: ${fuzzer##*/} failed (exit ${rc}); the input is in ${scratch}/artifacts:"
  ls -l "${scratch}/artifacts"
  exit 1
fi
echo "run_fuzz.sh: ${fuzzer##*/} ran ${seconds}s without a failure"
