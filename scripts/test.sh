#!/usr/bin/env bash
# Runs the whole semaphored test suite from a fresh Debian 12 checkout with one command:
# installs missing packages (scripts/deps.sh), configures and builds build/, runs every
# test with CTest. Exits non-zero when any stage fails.
#
# Usage: scripts/test.sh [STAGE...]      (default: every stage, in order)
#        scripts/test.sh --list          (prints the stages)
# Stages: deps configure build ctest docker asan tsan. The sanitizer stages build on
# their own, in ${BUILD_DIR}-asan and ${BUILD_DIR}-tsan (and ${BUILD_DIR}-tsan-absl),
# so `scripts/test.sh deps asan` or `scripts/test.sh deps tsan` runs one alone.
# Environment: SEMAPHORED_BUILD_DIR, SEMAPHORED_JOBS (see scripts/lib.sh);
#   SEMAPHORED_SUITE_BUDGET, SEMAPHORED_CTEST_BUDGET (seconds, see below).
#
# Adding a stage: write a function stage_NAME and add NAME to SETUP_STAGES (later
# stages need it to pass) or CHECK_STAGES (the run goes on after a failure, and fails
# at the end). A stage runs in a subshell under `set -e`: any failing command fails it.
# A stage that runs CTest should call run_ctest (or run_sanitized_ctest) so that its
# counts reach the closing summary line.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The build goes on past a broken target and the tests that did build still run, so
# that one run shows everything that is wrong; the run fails all the same.
SETUP_STAGES=(deps configure)
CHECK_STAGES=(build ctest docker asan tsan)

# Time limits, in seconds, well inside CI's 90 minutes: the whole run, and one CTest run
# (each test also has its own TIMEOUT). A stage that would start after the suite's
# deadline is not run, and the run fails.
SUITE_BUDGET="${SEMAPHORED_SUITE_BUDGET:-4800}"
CTEST_BUDGET="${SEMAPHORED_CTEST_BUDGET:-2400}"
SUITE_DEADLINE=$(( $(date +%s) + SUITE_BUDGET ))
LOG_DIR="${BUILD_DIR}/test-logs"
COUNTS_FILE="${LOG_DIR}/counts"  # one "passed failed" line per CTest run

# --- Stages ---

stage_deps() {
  bash "${REPO}/scripts/deps.sh"
}

stage_configure() {
  configure_build "${BUILD_DIR}"
}

stage_build() {
  SEMAPHORED_KEEP_GOING=1 build_targets "${BUILD_DIR}"
}

stage_ctest() {
  run_ctest "${BUILD_DIR}" ctest
}

# The Docker image, container, drain and compose stack (docker/test.sh). It prints no
# test counts of its own, so it adds one line to the summary: 1 passed or 1 failed.
stage_docker() {
  mkdir -p "${LOG_DIR}"
  if bash "${REPO}/docker/test.sh" </dev/null; then
    echo "1 0" >>"${COUNTS_FILE}"
  else
    echo "0 1" >>"${COUNTS_FILE}"
    return 1
  fi
}

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer (clang-14), with
# the libFuzzer targets and their bounded fuzz runs (SEMAPHORED_FUZZ=ON: about a
# minute per fuzzer, labels "fuzz").
stage_asan() {
  local dir="${BUILD_DIR}-asan"
  configure_build "${dir}" "${SANITIZER_CMAKE_ARGS[@]}" \
    -DSEMAPHORED_SANITIZER='address;undefined' -DSEMAPHORED_FUZZ=ON
  build_targets "${dir}"
  run_sanitized_ctest "${dir}" asan
}

# ThreadSanitizer (clang-14), against Debian's Abseil rebuilt with TSan
# (scripts/tsan-absl.sh; see there why), after a self-check that TSan does report a
# deliberate race and does not report absl::Mutex-guarded code. Everything is built;
# the tests run are those that do not run gRPC (etcd's tests talk gRPC to etcd): Debian's libgrpc is not instrumented
# and hands data between threads on its own atomics, which TSan cannot see, so every
# gRPC test draws hundreds of false reports inside gRPC (cmake/tsan.supp says more).
# They would need a TSan build of gRPC too, which does not fit CI's time on 2 cores.
# SEMAPHORED_TSAN_ALL=1 runs every test anyway (to look at the reports).
TSAN_GRPC_LABELS='^(integration|faults|load|multiprocess|tools|install|semctl|torture|etcd)$'
stage_tsan() {
  local dir="${BUILD_DIR}-tsan" absl="${BUILD_DIR}-tsan-absl"
  bash "${REPO}/scripts/tsan-absl.sh" "${absl}" </dev/null
  configure_build "${dir}" "${SANITIZER_CMAKE_ARGS[@]}" -DSEMAPHORED_SANITIZER=thread \
    -DSEMAPHORED_TSAN_ABSL_LIBDIR="${absl}/prefix/lib"
  build_targets "${dir}"
  bash "${REPO}/scripts/tsan-selfcheck.sh" "${absl}/prefix/lib" "${dir}" </dev/null
  if [[ "${SEMAPHORED_TSAN_ALL:-0}" == 1 ]]; then
    run_sanitized_ctest "${dir}" tsan
  else
    run_sanitized_ctest "${dir}" tsan --label-exclude "${TSAN_GRPC_LABELS}"
  fi
}

# Sanitizer builds: clang-14, no benchmarks; -O1 and line tables only (reports keep
# file:line, the build is much faster than with full debug info).
SANITIZER_CMAKE_ARGS=(
  -DCMAKE_CXX_COMPILER=clang++-14 -DSEMAPHORED_BUILD_BENCH=OFF
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG"
)

# --- Helpers ---

# run_sanitized_ctest DIR LOG_NAME [CTEST_ARGS...]: run_ctest with every sanitizer
# report written to DIR/sanitizer-reports/ — from the tests and from every child
# process they start, whether or not the test looks at the child's exit — and each
# process stopped at its first report. Any report fails the stage, and is printed.
run_sanitized_ctest() {
  local dir="$1" name="$2" reports="$1/sanitizer-reports" rc=0
  shift 2
  rm -rf "${reports}"
  mkdir -p "${reports}"
  local log="log_path=${reports}/report:halt_on_error=1"
  ASAN_OPTIONS="${log}:detect_leaks=1:strict_string_checks=1" \
  UBSAN_OPTIONS="${log}:print_stacktrace=1" \
  TSAN_OPTIONS="${log}:second_deadlock_stack=1" \
    run_ctest "${dir}" "${name}" "$@" || rc=$?
  local files=("${reports}"/report*)
  if [[ -e "${files[0]}" ]]; then
    echo "test.sh: ${#files[@]} sanitizer report(s) in ${reports}:"
    local f
    for f in "${files[@]}"; do
      echo "----- ${f}"
      cat "${f}"
    done
    echo "0 1" >>"${COUNTS_FILE}"
    return 1
  fi
  return "${rc}"
}

# run_ctest DIR LOG_NAME [CTEST_ARGS...]: runs CTest in DIR with JOBS parallel tests,
# fails when there is no test at all, and adds the counts to the closing summary.
run_ctest() {
  local dir="$1" name="$2"
  shift 2
  local log="${LOG_DIR}/${name}.log" rc=0 budget
  budget=$(( SUITE_DEADLINE - $(date +%s) ))
  (( budget < CTEST_BUDGET )) || budget="${CTEST_BUDGET}"
  (( budget > 0 )) || budget=1  # "timeout 0s" would mean no limit at all
  mkdir -p "${LOG_DIR}"
  timeout --kill-after=30s "${budget}s" \
    ctest --test-dir "${dir}" --output-on-failure --no-tests=error \
      --parallel "${JOBS}" "$@" </dev/null 2>&1 | tee "${log}" || rc=$?
  if (( rc == 124 || rc == 137 )); then
    echo "test.sh: ctest in ${dir} ran past its ${budget}s budget and was stopped"
  fi
  # CTest closes with "N% tests passed, F tests failed out of T".
  local counts
  counts="$(sed -n 's/.*tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' \
    "${log}" | tail -n 1)"
  if [[ -n "${counts}" ]]; then
    local failed="${counts% *}" total="${counts#* }"
    echo "$((total - failed)) ${failed}" >>"${COUNTS_FILE}"
  elif (( rc != 0 )); then
    echo "0 1" >>"${COUNTS_FILE}"  # ctest itself failed before counting
  fi
  return "${rc}"
}

declare -a SUMMARY=()

# run_stage NAME: prints a header, runs stage_NAME, records its result and duration.
run_stage() {
  local name="$1" start rc
  start="$(date +%s)"
  echo
  echo "==================== stage: ${name} ===================="
  # Not in a conditional context, so that set -e holds inside the stage.
  ( set -e; "stage_${name}" )
  rc=$?
  local took=$(( $(date +%s) - start ))
  local result="ok"
  (( rc == 0 )) || result="FAILED (exit ${rc})"
  echo "-------------------- stage ${name}: ${result} in ${took}s --------------------"
  SUMMARY+=("$(printf '%-12s %-20s %6ss' "${name}" "${result}" "${took}")")
  return "${rc}"
}

# print_summary STATUS SECONDS: the stage table, then the counts as the last line.
print_summary() {
  echo
  echo "==================== summary ===================="
  printf '%s\n' "${SUMMARY[@]}"
  echo "test.sh: $1 in $2s"
  local passed=0 failed=0 p f
  while read -r p f; do
    passed=$((passed + p))
    failed=$((failed + f))
  done <"${COUNTS_FILE}"
  echo "Tests: ${passed} passed, ${failed} failed"
}

main() {
  local all=("${SETUP_STAGES[@]}" "${CHECK_STAGES[@]}") selected=() s
  if [[ "${1:-}" == "--list" ]]; then
    printf '%s\n' "${all[@]}"
    return 0
  fi
  if (( $# == 0 )); then
    selected=("${all[@]}")
  else
    for s in "$@"; do
      if ! declare -F "stage_${s}" >/dev/null; then
        echo "test.sh: unknown stage '${s}'; stages: ${all[*]}" >&2
        return 2
      fi
      selected+=("${s}")
    done
  fi

  local failed=0 suite_start rc
  suite_start="$(date +%s)"
  mkdir -p "${LOG_DIR}"
  : >"${COUNTS_FILE}"
  for s in "${selected[@]}"; do
    if (( $(date +%s) >= SUITE_DEADLINE )); then
      echo "test.sh: the ${SUITE_BUDGET}s budget is spent; stage '${s}' not run"
      SUMMARY+=("$(printf '%-12s %-20s' "${s}" "NOT RUN (no time)")")
      failed=1
      continue
    fi
    run_stage "${s}"
    rc=$?
    (( rc == 0 )) || failed=1
    if (( rc != 0 )) && [[ " ${SETUP_STAGES[*]} " == *" ${s} "* ]]; then
      echo "test.sh: setup stage '${s}' failed; later stages need it, stopping"
      break
    fi
  done
  local status="all stages passed"
  (( failed )) && status="FAILED"
  print_summary "${status}" "$(( $(date +%s) - suite_start ))"
  return "${failed}"
}

main "$@"
