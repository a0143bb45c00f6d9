# shellcheck shell=bash
# as_root and apt_install, shared by scripts/deps.sh, docker/test.sh and
# docker/base-image.sh; source it (after defining log) rather than run it.

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root to run '$*' and sudo is not installed; run this script as root"
    return 1
  fi
}

# apt_install PACKAGE...: installs Debian packages (without recommends). apt's output
# goes to stderr: docker/base-image.sh prints only the image name on stdout.
apt_install() {
  log "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "$@" </dev/null >&2
}
