#!/usr/bin/env bash
# Runs the semaphored server from a fresh Debian 12 checkout with one command:
# installs missing Debian packages, configures build/ (Ninja, RelWithDebInfo), builds
# only the server binary, then replaces itself with the server, listening on
# 127.0.0.1:50051 unless a --listen flag is given.
#
# Usage: scripts/run-server.sh [SERVER_FLAGS...]    (flags go to semaphored as they are)
# Environment: SEMAPHORED_BUILD_DIR, SEMAPHORED_JOBS (see scripts/lib.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "${REPO}/scripts/deps.sh" --no-buf
configure_build "${BUILD_DIR}" >/dev/null
build_targets "${BUILD_DIR}" semaphored

# The binary is wherever server/CMakeLists.txt puts it; usually build/server/.
server="${BUILD_DIR}/server/semaphored"
if [[ ! -x "${server}" ]]; then
  server="$(find "${BUILD_DIR}" -path '*/CMakeFiles' -prune -o \
              -type f -name semaphored -perm -u+x -print | head -n 1)"
fi
if [[ -z "${server}" || ! -x "${server}" ]]; then
  echo "run-server.sh: built target 'semaphored' but found no binary under ${BUILD_DIR}" >&2
  exit 1
fi

listen=(--listen=127.0.0.1:50051)
for arg in "$@"; do
  case "${arg}" in
    --listen|--listen=*|-listen|-listen=*) listen=() ;;
  esac
done
echo "run-server.sh: exec ${server} ${listen[*]} $*" >&2
exec "${server}" "${listen[@]}" "$@"
