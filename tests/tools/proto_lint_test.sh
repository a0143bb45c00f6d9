#!/usr/bin/env bash
# `buf lint` over protos/ with the committed protos/buf.yaml (STANDARD rules). Fails,
# never skips, when buf is missing: scripts/deps.sh installs it.
# First proves on a throwaway module that this buf really enforces STANDARD, so that a
# lint run which checks nothing cannot pass.
#
# Usage: proto_lint_test.sh BUF_BINARY PROTO_DIR
set -euo pipefail
readonly here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/lib.sh"

(( $# == 2 )) || fail "usage: $0 BUF PROTO_DIR"
[[ -x "$1" ]] || fail "buf not found at $1: run scripts/deps.sh"
buf="$(realpath "$1")"
proto_dir="$(realpath "$2")"
readonly buf proto_dir
[[ -f "${proto_dir}/buf.yaml" ]] || fail "no buf.yaml in ${proto_dir}"
grep -qE '^\s*-\s*STANDARD\s*$' "${proto_dir}/buf.yaml" ||
  fail "${proto_dir}/buf.yaml does not use the STANDARD lint rules"

work="$(mktemp -d "${TMPDIR:-/tmp}/semaphored-buf-lint.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
export BUF_CACHE_DIR="${work}/cache"

# A module that breaks STANDARD (unversioned package, enum without _UNSPECIFIED zero).
mkdir -p "${work}/bad/bad"
cp "${proto_dir}/buf.yaml" "${work}/bad/"
cat >"${work}/bad/bad/bad.proto" <<'PROTO'
syntax = "proto3";
package bad;
enum color { red = 0; }
PROTO
rc=0
(cd "${work}/bad" && timeout 60 "${buf}" lint >"${work}/bad.out" 2>&1) || rc=$?
# buf lint exits 100 when it found lint problems (other codes: it could not run).
if (( rc != 100 )) || ! grep -q 'ENUM_ZERO_VALUE_SUFFIX\|UNSPECIFIED' "${work}/bad.out"; then
  cat "${work}/bad.out" >&2
  fail "buf lint (exit ${rc}) did not reject a module that breaks STANDARD"
fi

echo "buf $("${buf}" --version) lint in ${proto_dir}"
cd "${proto_dir}"
timeout 120 "${buf}" lint || fail "buf lint found problems (above) in ${proto_dir}"
echo "PASS: $(find . -name '*.proto' | wc -l) proto files are clean under STANDARD"
