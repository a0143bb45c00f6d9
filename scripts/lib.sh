# Shared by scripts/run-server.sh and scripts/test.sh; source it, do not run it.
#
# Settings (environment variables, all optional):
#   SEMAPHORED_BUILD_DIR  build directory (default: build/ in the repository)
#   SEMAPHORED_JOBS       parallel build and test jobs (default: 2)

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${SEMAPHORED_BUILD_DIR:-${REPO}/build}"
JOBS="${SEMAPHORED_JOBS:-2}"
BUF="${REPO}/.tools/node_modules/.bin/buf"

# configure_build [DIR [EXTRA_CMAKE_ARGS...]]: configures DIR (default BUILD_DIR) with
# Ninja and RelWithDebInfo. A directory configured before keeps its generator, so an
# existing build/ is reused as it is.
configure_build() {
  local dir="${1:-${BUILD_DIR}}"
  shift || true
  local args=(-S "${REPO}" -B "${dir}" -DSEMAPHORED_BUF="${BUF}")
  if [[ ! -f "${dir}/CMakeCache.txt" ]]; then
    args+=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  fi
  cmake "${args[@]}" "$@"
}

# build_targets DIR [TARGET...]: builds the targets (all when none) with JOBS jobs.
# With SEMAPHORED_KEEP_GOING=1 (and Ninja) it builds all it can past a failure, so
# that one run shows every broken target.
build_targets() {
  local dir="$1"
  shift
  local targets=() native=()
  if (( $# > 0 )); then
    targets=(--target "$@")
  fi
  if [[ "${SEMAPHORED_KEEP_GOING:-0}" == 1 ]] &&
     grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "${dir}/CMakeCache.txt" 2>/dev/null; then
    native=(-- -k 0)
  fi
  cmake --build "${dir}" --parallel "${JOBS}" "${targets[@]}" "${native[@]}"
}
