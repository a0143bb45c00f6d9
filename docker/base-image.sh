#!/usr/bin/env bash
# Prints the name of a Debian 12 base image for docker/Dockerfile (its BASE_IMAGE build
# argument), making one when needed:
#   - debian:12-slim when it is present or can be pulled;
#   - else semaphored-base:bookworm, made once with debootstrap (variant minbase) from
#     the Debian mirror of this machine's apt sources, slimmed like the official -slim
#     images, imported with `docker import`, then reused.
# Needs a running Docker daemon; installs debootstrap with apt-get when it is missing
# (root, or sudo). Progress goes to stderr, the image name alone to stdout.
#
# Usage: docker/base-image.sh
#   docker build -f docker/Dockerfile --build-arg BASE_IMAGE="$(docker/base-image.sh)" .
# Environment (all optional):
#   SEMAPHORED_DOCKER_MIRROR          Debian mirror for debootstrap (default: the apt
#                                     sources' mirror of bookworm)
#   SEMAPHORED_DOCKER_REBUILD_BASE=1  remake semaphored-base:bookworm even if present
#   SEMAPHORED_DOCKER_LOG_DIR         where debootstrap.log goes (default: a temp dir)
set -euo pipefail

readonly DEFAULT_BASE="debian:12-slim"
readonly LOCAL_BASE="semaphored-base:bookworm"
readonly SUITE="bookworm"
DOCKER="docker"
LOG_DIR="${SEMAPHORED_DOCKER_LOG_DIR:-}"
ROOTFS=""

log() { echo "docker/base-image.sh: $*" >&2; }
fail() {
  echo "docker/base-image.sh: FAILED: $*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  set +e
  remove_rootfs
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Removes the debootstrap tree, unmounting whatever a failed debootstrap left mounted in
# it first, so that rm never walks into /proc or /sys.
remove_rootfs() {
  [[ -n "${ROOTFS}" && -d "${ROOTFS}" ]] || return 0
  local m
  awk -v prefix="${ROOTFS}/" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts \
    | sort -r | while read -r m; do as_root umount -l "${m}" || true; done
  as_root rm -rf --one-file-system "${ROOTFS}"
  ROOTFS=""
}

# shellcheck source=SCRIPTDIR/../scripts/root.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/root.sh"  # as_root, apt_install

# Prints "URI SUITE SIGNED_BY" for every enabled `deb` source of the machine, from the
# one-line format (sources.list, *.list) and the deb822 format (*.sources).
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r "${f}" ]] || continue
    awk '{ sub(/#.*/, "") }
      $1 == "deb" {
        i = 2; opts = ""
        if ($i ~ /^\[/) {
          for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) break }
          i++
        }
        sb = "-"
        if (match(opts, /signed-by=[^] ]+/)) sb = substr(opts, RSTART + 10, RLENGTH - 10)
        if (i + 1 <= NF) print $i, $(i + 1), sb
      }' "${f}"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r "${f}" ]] || continue
    awk 'function flush(   n, m, i, j, u, s) {
        if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
          n = split(uris, u, " "); m = split(suites, s, " ")
          for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
            print u[i], s[j], (signed ~ /^\// ? signed : "-")
        }
        types = uris = suites = signed = enabled = ""
      }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { next }
      { i = index($0, ":"); key = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
        gsub(/^[ \t]+|[ \t]+$/, "", val)
        if (key == "types") types = val
        else if (key == "uris") uris = val
        else if (key == "suites") suites = val
        else if (key == "signed-by") signed = val
        else if (key == "enabled") enabled = val }
      END { flush() }' "${f}"
  done
}

# Prints "URI SIGNED_BY" of the Debian mirror to debootstrap from: a source of the suite
# itself, else any release suite (no "-security"/"-updates") of a non-security archive.
debian_mirror() {
  if [[ -n "${SEMAPHORED_DOCKER_MIRROR:-}" ]]; then
    echo "${SEMAPHORED_DOCKER_MIRROR} -"
    return 0
  fi
  local sources
  sources="$(apt_sources)"
  awk -v suite="${SUITE}" '$2 == suite { print $1, $3; found = 1; exit }
    END { if (!found) exit 1 }' <<<"${sources}" && return 0
  awk '$2 !~ /-/ && $1 !~ /security/ { print $1, $3; found = 1; exit }
    END { if (!found) exit 1 }' <<<"${sources}" && return 0
  fail "found no Debian mirror in /etc/apt/sources.list{,.d/}; set SEMAPHORED_DOCKER_MIRROR"
}

# Makes LOCAL_BASE: a minbase Debian with the mirror in its sources.list, slimmed like
# the official -slim images (no docs, man pages or locales; dpkg keeps them out later).
make_local_base() {
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  local found mirror keyring args=()
  found="$(debian_mirror)"
  read -r mirror keyring <<<"${found}"
  [[ "${keyring}" != "-" && -r "${keyring}" ]] && args+=("--keyring=${keyring}")
  ROOTFS="$(mktemp -d /var/tmp/semaphored-base.XXXXXX)"
  log "debootstrap --variant=minbase ${SUITE} from ${mirror} (log: ${LOG_DIR}/debootstrap.log)"
  if ! as_root timeout 20m debootstrap --variant=minbase "${args[@]}" "${SUITE}" \
      "${ROOTFS}" "${mirror}" >"${LOG_DIR}/debootstrap.log" 2>&1; then
    tail -n 20 "${LOG_DIR}/debootstrap.log" >&2
    fail "debootstrap of ${SUITE} from ${mirror} failed"
  fi
  as_root tee "${ROOTFS}/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
EOF
  as_root find "${ROOTFS}/usr/share/doc" -type f ! -name copyright -delete
  as_root rm -rf "${ROOTFS}"/usr/share/{man,info,groff,lintian,locale}/* \
    "${ROOTFS}"/var/lib/apt/lists/* "${ROOTFS}"/var/cache/apt/archives/*.deb \
    "${ROOTFS}"/var/cache/apt/*.bin "${ROOTFS}"/var/log/*.log
  as_root tar -C "${ROOTFS}" --numeric-owner -c . \
    | timeout 10m "${DOCKER}" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --change 'LABEL org.semaphored.stage=base' \
        --message "debootstrap --variant=minbase ${SUITE} ${mirror}" \
        - "${LOCAL_BASE}" >/dev/null \
    || fail "docker import of the debootstrap tree failed"
  remove_rootfs
}

main() {
  if [[ -n "${SEMAPHORED_DOCKER_BASE_IMAGE:-}" ]]; then
    echo "${SEMAPHORED_DOCKER_BASE_IMAGE}"
    return 0
  fi
  timeout 20 "${DOCKER}" info >/dev/null 2>&1 || fail "no Docker daemon answers"
  if "${DOCKER}" image inspect "${DEFAULT_BASE}" >/dev/null 2>&1 \
      || timeout 120 "${DOCKER}" pull "${DEFAULT_BASE}" >/dev/null 2>&1; then
    echo "${DEFAULT_BASE}"
    return 0
  fi
  log "cannot pull ${DEFAULT_BASE} (no registry reachable); using ${LOCAL_BASE}"
  if [[ "${SEMAPHORED_DOCKER_REBUILD_BASE:-0}" == 1 ]] \
      || ! "${DOCKER}" image inspect "${LOCAL_BASE}" >/dev/null 2>&1; then
    if [[ -z "${LOG_DIR}" ]]; then
      LOG_DIR="$(mktemp -d /tmp/semaphored-base-log.XXXXXX)"
    fi
    make_local_base
  else
    log "reusing ${LOCAL_BASE} (SEMAPHORED_DOCKER_REBUILD_BASE=1 remakes it)"
  fi
  echo "${LOCAL_BASE}"
}

main "$@"
