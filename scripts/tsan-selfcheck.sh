#!/usr/bin/env bash
# Checks that the TSan setup works before the TSan test run trusts it:
#   1. a deliberate data race IS reported;
#   2. absl::Mutex-guarded code is NOT reported with the instrumented Abseil;
#   3. the same code IS reported with the system's Abseil (so check 2 means something);
#   4. when a TSan build directory is given, its binaries load the instrumented
#      Abseil (DT_RPATH), for their own and for libgrpc's dependencies.
#
# Usage: scripts/tsan-selfcheck.sh ABSL_LIBDIR [TSAN_BUILD_DIR]
#   ABSL_LIBDIR: DIR/prefix/lib of scripts/tsan-absl.sh.
set -euo pipefail
(( $# >= 1 )) || { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
libdir="$1"
build_dir="${2:-}"
cxx="${SEMAPHORED_TSAN_CXX:-clang++-14}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

fail() { echo "tsan-selfcheck.sh: FAILED: $*" >&2; exit 1; }

compile() {  # compile OUTPUT [LINK_ARGS...]
  local out="$1"
  shift
  "${cxx}" -std=c++17 -g -O1 -fsanitize=thread "${here}/tsan-selfcheck.cc" -o "${out}" \
    -labsl_synchronization -labsl_base "$@"
}
compile "${work}/instrumented" "-Wl,--disable-new-dtags,-rpath,${libdir}"
compile "${work}/system"

# Exit code 66 marks a TSan report; anything else non-zero is a failure of its own.
# The project's suppressions apply, as they do in the TSan build.
expect() {  # expect reported|quiet NAME BINARY MODE
  local want="$1" name="$2" rc=0
  TSAN_OPTIONS="exitcode=66:suppressions=${here}/../cmake/tsan.supp" "$3" "$4" \
    >"${work}/${name}.log" 2>&1 || rc=$?
  case "${want}:${rc}" in
    reported:66 | quiet:0) echo "tsan-selfcheck.sh: ${name}: ${want}, as it should be" ;;
    *) cat "${work}/${name}.log" >&2; fail "${name}: expected ${want}, exit ${rc}" ;;
  esac
}
expect reported "deliberate race" "${work}/instrumented" race
expect quiet "absl::Mutex, instrumented Abseil" "${work}/instrumented" mutex
expect reported "absl::Mutex, system Abseil" "${work}/system" mutex

if [[ -n "${build_dir}" ]]; then
  bin="${build_dir}/server/semaphored"
  [[ -x "${bin}" ]] || fail "no ${bin}"
  # The loader's choice for every libabsl_* in the process (libgrpc's included).
  loaded="$(LD_TRACE_LOADED_OBJECTS=1 "${bin}" | grep 'libabsl_' || true)"
  [[ -n "${loaded}" ]] || fail "${bin} loads no Abseil at all"
  if grep -v -F "${libdir}/" <<<"${loaded}"; then
    fail "${bin} loads the Abseil libraries above from outside ${libdir}"
  fi
  echo "tsan-selfcheck.sh: ${bin##*/} loads all $(wc -l <<<"${loaded}") Abseil libraries from ${libdir}"
fi
echo "tsan-selfcheck.sh: ok"
