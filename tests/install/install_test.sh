#!/usr/bin/env bash
# Installs the build into a throwaway prefix, then configures, builds and runs the
# consumer project against it, as an application would:
#   find_package(semaphored REQUIRED) + target_link_libraries(app semaphored::client).
# Also checks that the installed public headers include no gRPC or generated code.
#
# Usage: install_test.sh BUILD_DIR WORK_DIR CONSUMER_SOURCE GENERATOR CXX [SANITIZERS]
#   SANITIZERS: the project's SEMAPHORED_SANITIZER value ("" or e.g. "address;undefined"),
#   applied to the consumer too, since a sanitized library needs a sanitized program.
set -euo pipefail
readonly here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)"
source "${here}/lib.sh"

(( $# == 5 || $# == 6 )) ||
  fail "usage: $0 BUILD_DIR WORK_DIR CONSUMER_SOURCE GENERATOR CXX [SANITIZERS]"
readonly build_dir="$1" work="$2" consumer="$3" generator="$4" cxx="$5"
readonly sanitizers="${6:-}"

rm -rf "${work}"
mkdir -p "${work}"
readonly prefix="${work}/prefix"

echo "--- cmake --install ${build_dir} --prefix ${prefix}"
cmake --install "${build_dir}" --prefix "${prefix}" >"${work}/install.log" 2>&1 ||
  { cat "${work}/install.log" >&2; fail "cmake --install failed"; }

headers=("${prefix}"/include/semaphored/*.h)
[[ -f "${headers[0]}" ]] || fail "no public headers installed under ${prefix}/include/semaphored"
echo "installed headers: ${headers[*]##*/}"
if grep -nE '^\s*#\s*include\s*[<"](grpc|grpcpp|google/protobuf)/|\.pb\.h[>"]' "${headers[@]}"; then
  fail "installed public headers include gRPC, protobuf or generated code (above)"
fi
config="$(find "${prefix}" -name 'semaphoredConfig.cmake' -o -name 'semaphored-config.cmake' |
  head -n 1)"
[[ -n "${config}" ]] || fail "no semaphored package config installed under ${prefix}"
echo "package config: ${config#"${prefix}"/}"

args=(-S "${consumer}" -B "${work}/build" -G "${generator}"
      -DCMAKE_CXX_COMPILER="${cxx}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
      -DCMAKE_PREFIX_PATH="${prefix}"
      # Only the installed package may satisfy find_package, never a registry entry.
      -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
      -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON)
if [[ -n "${sanitizers}" ]]; then
  flag="-fsanitize=${sanitizers//;/,}"
  args+=(-DCMAKE_CXX_FLAGS="${flag}" -DCMAKE_EXE_LINKER_FLAGS="${flag}")
fi

echo "--- configure the consumer"
cmake "${args[@]}" >"${work}/configure.log" 2>&1 ||
  { cat "${work}/configure.log" >&2; fail "configuring the consumer failed"; }
found="$(sed -n 's/^-- semaphored_DIR: //p' "${work}/configure.log")"
[[ "${found}" == "${prefix}"/* ]] ||
  fail "find_package(semaphored) found '${found}', not the package in ${prefix}"
echo "find_package(semaphored) -> ${found}"

echo "--- build the consumer"
cmake --build "${work}/build" --parallel 2 >"${work}/build.log" 2>&1 ||
  { cat "${work}/build.log" >&2; fail "building the consumer failed"; }

if [[ -n "$(find "${prefix}" -name 'libsemaphored_client.so*' -print -quit)" ]]; then
  lib="$(ldd "${work}/build/app" | sed -n 's/.*libsemaphored_client[^ ]* => \([^ ]*\).*/\1/p')"
  [[ "${lib}" == "${prefix}"/* ]] ||
    fail "the consumer loads libsemaphored_client from '${lib}', not from ${prefix}"
  echo "the consumer loads ${lib#"${prefix}"/}"
fi

echo "--- run the consumer"
rc=0
timeout 60 "${work}/build/app" >"${work}/app.out" 2>&1 || rc=$?
cat "${work}/app.out"
(( rc == 0 )) || fail "the consumer exited with status ${rc}"
expected="${consumer}/expected_output.txt"
diff -u "${expected}" "${work}/app.out" ||
  fail "the consumer's output differs from ${expected} (diff above)"
echo "PASS"
