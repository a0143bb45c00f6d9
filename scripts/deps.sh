#!/usr/bin/env bash
# Installs what building and testing semaphored needs on Debian 12, and nothing else:
#   - the Debian packages below, only those not installed yet (apt-get update runs only
#     when something is missing);
#   - the `buf` CLI (npm package @bufbuild/buf, pinned) into the repository's .tools/,
#     only when that exact version is not there yet. Tests find it at
#     .tools/node_modules/.bin/buf.
# Idempotent and quiet when everything is present. Uses sudo only when not root.
#
# Usage: scripts/deps.sh [--no-buf]
#   --no-buf   skip Node.js/npm and buf (enough to build and run the server).
set -euo pipefail

readonly BUF_VERSION="1.75.0"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo
readonly tools_dir="${repo}/.tools"
readonly buf_bin="${tools_dir}/node_modules/.bin/buf"

# Build, test and tool packages (Debian 12 names).
readonly build_packages=(
  build-essential g++ cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  clang-14 libclang-rt-14-dev dpkg-dev
  openssl iproute2 procps python3
  zlib1g-dev
  libsqlite3-dev
  # etcd: its .proto files (compiled into the etcd store's client) and the server and
  # etcdctl the HA tests run as a three-member cluster on loopback.
  golang-etcd-server-dev etcd-server etcd-client
)

with_buf=1
for arg in "$@"; do
  case "${arg}" in
    --no-buf) with_buf=0 ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deps.sh: unknown argument '${arg}' (try --help)" >&2; exit 2 ;;
  esac
done

log() { echo "deps.sh: $*" >&2; }

# shellcheck source=SCRIPTDIR/root.sh
source "$(dirname "${BASH_SOURCE[0]}")/root.sh"  # as_root, apt_install

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

install_debian_packages() {
  local wanted=("${build_packages[@]}") missing=() pkg
  # Node.js and npm: any working install will do (Debian's, or one that bundles npm,
  # which conflicts with Debian's npm package), so check the commands, not packages.
  if (( with_buf )); then
    command -v node >/dev/null 2>&1 || wanted+=(nodejs)
    command -v npm >/dev/null 2>&1 || wanted+=(npm)
  fi
  for pkg in "${wanted[@]}"; do
    is_installed "${pkg}" || missing+=("${pkg}")
  done
  if (( ${#missing[@]} == 0 )); then
    return 0
  fi
  apt_install "${missing[@]}"
}

install_buf() {
  if [[ -x "${buf_bin}" ]] && [[ "$("${buf_bin}" --version 2>/dev/null)" == "${BUF_VERSION}" ]]; then
    return 0
  fi
  log "installing buf ${BUF_VERSION} (npm @bufbuild/buf) into ${tools_dir}"
  mkdir -p "${tools_dir}"
  # Uses npm's configured registry; the package ships the prebuilt binary.
  npm install --prefix "${tools_dir}" --no-audit --no-fund --no-update-notifier \
    --loglevel=error "@bufbuild/buf@${BUF_VERSION}" </dev/null
  if [[ "$("${buf_bin}" --version 2>/dev/null)" != "${BUF_VERSION}" ]]; then
    log "buf ${BUF_VERSION} did not install at ${buf_bin}"
    return 1
  fi
}

install_debian_packages
if (( with_buf )); then
  install_buf
fi
