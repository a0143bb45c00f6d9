#!/usr/bin/env bash
# Builds Debian's own Abseil (the exact version of the installed libabsl-dev) with
# ThreadSanitizer, for the TSan test build.
#
# Why: Debian's libabsl is not built with -fsanitize=thread, so TSan cannot see the
# synchronization inside absl::Mutex and reports false races on everything it guards —
# in our code and in libgrpc, which syncs through absl::Mutex too. This script builds
# the same shared libraries (same sources and Debian patches, same SONAMEs, same ABI
# options) with TSan; test binaries built with SEMAPHORED_TSAN_ABSL_LIBDIR carry an
# RPATH to them, so the whole process — our code and libgrpc — uses the instrumented
# absl::Mutex. The system's libraries are left alone.
#
# How: the source package comes through apt, from deb-src entries derived from the
# machine's own apt sources (each "deb" entry becomes "deb-src"), with a private apt
# state under DIR/apt: the system's apt configuration and lists are not touched. The
# source is unpacked with dpkg-source (which applies Debian's patches) and built with
# clang-14 (the compiler of the TSan build) and Debian's optimization flags.
#
# Usage: scripts/tsan-absl.sh DIR
#   Builds into DIR (created); the libraries end up in DIR/prefix/lib. Does nothing
#   when DIR already holds a build of the installed version. Prints the library
#   directory on its last line. Needs network access to the Debian source mirror on
#   the first run only. Takes about 5-8 minutes on 2 cores (SEMAPHORED_JOBS jobs).
set -euo pipefail

if (( $# != 1 )); then
  sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
mkdir -p "$1"
readonly dir="$(cd "$1" && pwd)"
readonly jobs="${SEMAPHORED_JOBS:-2}"
readonly cxx="${SEMAPHORED_TSAN_CXX:-clang++-14}"
readonly libdir="${dir}/prefix/lib"
readonly stamp="${dir}/prefix/.built"

log() { echo "tsan-absl.sh: $*" >&2; }

# The installed libabsl-dev: its headers are what our code compiles against.
version="$(dpkg-query -W -f='${Version}' libabsl-dev 2>/dev/null || true)"
if [[ -z "${version}" ]]; then
  log "libabsl-dev is not installed (run scripts/deps.sh)"
  exit 1
fi
source_pkg="$(dpkg-query -W -f='${source:Package}' libabsl-dev)"
readonly version source_pkg
readonly want="${source_pkg} ${version} ${cxx} -fsanitize=thread"

if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${want}" ]]; then
  log "up to date: ${want}"
  echo "${libdir}"
  exit 0
fi

# --- Fetch the source package through a private apt state ---

apt_dir="${dir}/apt"
rm -rf "${apt_dir}"
mkdir -p "${apt_dir}/sources.list.d" "${apt_dir}/lists/partial" \
  "${apt_dir}/cache/archives/partial"
shopt -s nullglob
n=0
for f in /etc/apt/sources.list.d/*.sources; do
  sed 's/^Types:.*/Types: deb-src/' "${f}" >"${apt_dir}/sources.list.d/${n}.sources"
  n=$((n + 1))
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [[ -f "${f}" ]] || continue
  sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "${f}" \
    >"${apt_dir}/sources.list.d/${n}.list"
  n=$((n + 1))
done
shopt -u nullglob
apt_opts=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=${apt_dir}/sources.list.d"
  -o "Dir::State::Lists=${apt_dir}/lists"
  -o "Dir::Cache=${apt_dir}/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
log "fetching the ${source_pkg} ${version} source package"
apt-get -q "${apt_opts[@]}" update >"${apt_dir}/update.log" 2>&1 ||
  { cat "${apt_dir}/update.log" >&2; exit 1; }
src_dir="${dir}/src"
rm -rf "${src_dir}"
mkdir -p "${src_dir}"
(cd "${src_dir}" &&
  apt-get -q "${apt_opts[@]}" source --download-only "${source_pkg}=${version}" </dev/null)
dsc=("${src_dir}"/*.dsc)
# Unpacking applies Debian's patches (SONAMEs, ABI options, fixes). apt checked the
# files against the signed Sources index; dpkg-source would only warn that it has no
# keyring for the .dsc's own signature.
dpkg-source --no-check -x "${dsc[0]}" "${src_dir}/tree" >/dev/null

# --- Build the shared libraries with TSan ---

build_dir="${dir}/build"
rm -rf "${build_dir}" "${dir}/prefix"
log "building with ${cxx} -fsanitize=thread (${jobs} jobs)"
# Debian's flags (-g -O2, no NDEBUG: CMAKE_BUILD_TYPE None) plus TSan.
flags="-g -O2 -fsanitize=thread"
cmake -S "${src_dir}/tree" -B "${build_dir}" -G Ninja \
  -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON \
  -DBUILD_TESTING=OFF -DABSL_PROPAGATE_CXX_STD=ON \
  -DCMAKE_CXX_COMPILER="${cxx}" -DCMAKE_CXX_FLAGS="${flags}" \
  -DCMAKE_INSTALL_PREFIX="${dir}/prefix" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
cmake --build "${build_dir}" --parallel "${jobs}"
cmake --install "${build_dir}" >/dev/null

# Same SONAMEs as the system's libraries, or the loader would not substitute them.
missing=0
for lib in /usr/lib/*/libabsl_*.so."${version%%.*}"; do
  if [[ ! -e "${libdir}/$(basename "${lib}")" ]]; then
    log "missing $(basename "${lib}")"
    missing=1
  fi
done
(( missing == 0 )) || exit 1
echo "${want}" >"${stamp}"
log "built into ${libdir}"
echo "${libdir}"
