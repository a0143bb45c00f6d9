#!/usr/bin/env bash
# The real semaphored, driven only through server reflection with `buf curl` (no local
# .proto files reach buf): lists and describes every service that protos/ declares
# (and grpc.health.v1.Health), as the sources define them, checks health, and walks
# a session through create, set, test, (admin) list, clear, test, close -- with the
# errors a second session and a closed session get along the way.
#
# Usage: reflection_test.sh SEMAPHORED_BINARY BUF_BINARY PROTO_DIR HEALTH_PROTO
set -euo pipefail
readonly here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/lib.sh"

(( $# == 4 )) || fail "usage: $0 SEMAPHORED BUF PROTO_DIR HEALTH_PROTO"
readonly server_bin="$1" buf="$2" proto_dir="$3" health_proto="$4"
[[ -x "${buf}" ]] || fail "buf not found at ${buf}: run scripts/deps.sh"
[[ -x "${server_bin}" ]] || fail "semaphored not found at ${server_bin}"

work="$(mktemp -d "${TMPDIR:-/tmp}/semaphored-reflection.XXXXXX")"
cleanup() {
  kill_server
  rm -rf "${work}"
}
trap cleanup EXIT
export BUF_CACHE_DIR="${work}/buf-cache"

# Admin over TCP always needs the token (the admin socket is semctl's way).
admin_token="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
readonly admin_token
SEMAPHORED_ADMIN_TOKEN="${admin_token}" start_server "${server_bin}" "${work}"
readonly url="http://127.0.0.1:${SERVER_PORT}"
echo "semaphored (pid ${SERVER_PID}) on port ${SERVER_PORT}"
grep -q "semaphored: listening on 127.0.0.1:${SERVER_PORT}" "${SERVER_LOG}" ||
  fail "the server log lacks 'semaphored: listening on 127.0.0.1:${SERVER_PORT}': $(cat "${SERVER_LOG}")"

# bufcurl ARGS...: buf curl over gRPC with reflection only, bounded in time.
bufcurl() {
  timeout 30 "${buf}" curl --protocol grpc --http2-prior-knowledge --connect-timeout 5 \
    "$@"
}

# call METHOD JSON OUT [ARGS...]: a unary call that must succeed; the answer goes to
# OUT. ARGS go to buf curl (e.g. -H for a header).
call() {
  local method="$1" data="$2" out="$3"
  shift 3
  bufcurl --emit-defaults "$@" -d "${data}" "${url}/${method}" >"${out}" 2>"${out}.err" ||
    fail "${method} ${data} failed (exit $?): $(cat "${out}.err")"
}

# call_fails METHOD JSON CODE_NAME CODE_NUMBER: a unary call that must fail with CODE.
# buf curl exits with the gRPC code shifted left by 3 bits and prints the error as JSON.
call_fails() {
  local method="$1" data="$2" name="$3" number="$4" rc=0
  bufcurl -d "${data}" "${url}/${method}" >"${work}/err.out" 2>"${work}/err.json" || rc=$?
  (( rc == number << 3 )) ||
    fail "${method} ${data}: exit ${rc}, want $((number << 3)) (${name}): $(cat "${work}/err.json")"
  grep -q "\"code\": *\"${name}\"" "${work}/err.json" ||
    fail "${method}: error is not ${name}: $(cat "${work}/err.json")"
}

echo "--- services (reflection)"
bufcurl --list-services "${url}" >"${work}/services" ||
  fail "--list-services failed: $(cat "${work}/services")"
cat "${work}/services"
protos=(--proto "${health_proto}")
for f in "${proto_dir}"/semaphored/v1/*.proto; do
  protos+=(--proto "${f}")
done
# Every service our .proto files declare, and the standard health service.
mapfile -t services < <("${PYTHON}" "${here}/reflection_describe.py" "${protos[@]}" \
  --list-services)
(( ${#services[@]} >= 3 )) || fail "found only '${services[*]}' in ${proto_dir} and ${health_proto}"
for s in "${services[@]}"; do
  grep -qx "${s}" "${work}/services" || fail "reflection does not list ${s}"
done
reflection="$(grep -x 'grpc\.reflection\.v1\(alpha\)\{0,1\}\.ServerReflection' \
  "${work}/services" | head -n 1)"
[[ -n "${reflection}" ]] || fail "no server reflection service is listed"

echo "--- methods (reflection)"
bufcurl --list-methods "${url}" >"${work}/methods" ||
  fail "--list-methods failed: $(cat "${work}/methods")"
cat "${work}/methods"

echo "--- describe (reflection's file descriptors, decoded)"
requests=""
for s in "${services[@]}"; do
  requests+="{\"file_containing_symbol\": \"${s}\"} "
done
bufcurl -d "${requests}" "${url}/${reflection}/ServerReflectionInfo" \
  >"${work}/reflection.json" 2>"${work}/reflection.err" ||
  fail "${reflection}/ServerReflectionInfo failed: $(cat "${work}/reflection.err")"
"${PYTHON}" "${here}/reflection_describe.py" "${protos[@]}" "${services[@]}" \
  --methods-out "${work}/expected_methods" <"${work}/reflection.json" ||
  fail "reflection does not describe the services as their sources do"
# --list-methods must list every method the sources declare for the served services.
while read -r method; do
  grep -qx "${method}" "${work}/methods" || fail "--list-methods lacks ${method}"
done <"${work}/expected_methods"
[[ -s "${work}/expected_methods" ]] || fail "no method expected: the .proto parse is broken"

echo "--- health"
call grpc.health.v1.Health/Check '{}' "${work}/health.json"
expect_eq "Health/Check status" "$(json_get "${work}/health.json" status)" SERVING

echo "--- a session sets, tests and clears a semaphore"
readonly sem="reflection/test-$$"
call semaphored.v1.SemaphoreService/CreateSession \
  '{"client_name": "reflection-test", "ttl": "600s"}' "${work}/session.json"
secret="$(json_get "${work}/session.json" sessionSecret)"
session_id="$(json_get "${work}/session.json" sessionId)"
[[ "${secret}" =~ ^[0-9a-f]{32}$ ]] || fail "session_secret '${secret}' is not 32 hex digits"
[[ "${session_id}" =~ ^[0-9a-f]{16}$ ]] || fail "session_id '${session_id}' is not 16 hex digits"
echo "session ${session_id}"

call semaphored.v1.SemaphoreService/SetSemaphore \
  "{\"session_secret\": \"${secret}\", \"name\": \"${sem}\"}" "${work}/set.json"
cat "${work}/set.json"
expect_eq "SetSemaphore acquired" "$(json_get "${work}/set.json" acquired)" true
expect_eq "SetSemaphore already_held" "$(json_get "${work}/set.json" alreadyHeld)" false
expect_eq "SetSemaphore grant.permits" "$(json_get "${work}/set.json" grant.permits)" 1
token="$(json_get "${work}/set.json" grant.fencingToken)"
[[ "${token}" =~ ^[1-9][0-9]*$ ]] || fail "fencing token '${token}' is not a positive number"

call semaphored.v1.SemaphoreService/TestSemaphore "{\"name\": \"${sem}\"}" "${work}/test1.json"
cat "${work}/test1.json"
expect_eq "TestSemaphore set" "$(json_get "${work}/test1.json" state.set)" true
expect_eq "TestSemaphore holder" \
  "$(json_get "${work}/test1.json" state.holders.0.sessionId)" "${session_id}"
expect_eq "TestSemaphore holder name" \
  "$(json_get "${work}/test1.json" state.holders.0.clientName)" reflection-test
expect_eq "TestSemaphore permits_held" "$(json_get "${work}/test1.json" state.permitsHeld)" 1

echo "--- the admin service lists it (with the admin token; none: UNAUTHENTICATED)"
call_fails semaphored.v1.AdminService/ListSemaphores "{\"prefix\": \"${sem}\"}" \
  unauthenticated 16
call semaphored.v1.AdminService/ListSemaphores "{\"prefix\": \"${sem}\"}" "${work}/list.json" \
  -H "authorization: Bearer ${admin_token}"
expect_eq "ListSemaphores name" "$(json_get "${work}/list.json" semaphores.0.state.name)" "${sem}"
expect_eq "ListSemaphores holder" \
  "$(json_get "${work}/list.json" semaphores.0.state.holders.0.sessionId)" "${session_id}"
expect_eq "ListSemaphores count" \
  "$("${PYTHON}" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["semaphores"]))' \
     "${work}/list.json")" 1

echo "--- another session can neither set nor clear it"
call semaphored.v1.SemaphoreService/CreateSession \
  '{"client_name": "reflection-other", "ttl": "600s"}' \
  "${work}/other.json"
other="$(json_get "${work}/other.json" sessionSecret)"
call semaphored.v1.SemaphoreService/SetSemaphore \
  "{\"session_secret\": \"${other}\", \"name\": \"${sem}\"}" "${work}/other_set.json"
expect_eq "second session's try: acquired" "$(json_get "${work}/other_set.json" acquired)" false
expect_eq "second session's try: holder" \
  "$(json_get "${work}/other_set.json" state.holders.0.sessionId)" "${session_id}"
call_fails semaphored.v1.SemaphoreService/ClearSemaphore \
  "{\"session_secret\": \"${other}\", \"name\": \"${sem}\"}" permission_denied 7
cat "${work}/err.json"
grep -qF "${sem}" "${work}/err.json" || fail "PERMISSION_DENIED does not name ${sem}"

echo "--- the owner clears it"
call semaphored.v1.SemaphoreService/ClearSemaphore \
  "{\"session_secret\": \"${secret}\", \"name\": \"${sem}\"}" "${work}/clear.json"
expect_eq "ClearSemaphore released_permits" \
  "$(json_get "${work}/clear.json" releasedPermits)" 1
call semaphored.v1.SemaphoreService/TestSemaphore "{\"name\": \"${sem}\"}" "${work}/test2.json"
cat "${work}/test2.json"
expect_eq "TestSemaphore after clear: set" "$(json_get "${work}/test2.json" state.set)" false
expect_eq "TestSemaphore after clear: holders" \
  "$(json_get "${work}/test2.json" state.holders)" "[]"
call_fails semaphored.v1.SemaphoreService/ClearSemaphore \
  "{\"session_secret\": \"${secret}\", \"name\": \"${sem}\"}" not_found 5

echo "--- closed sessions are refused"
for s in "${secret}" "${other}"; do
  call semaphored.v1.SemaphoreService/CloseSession "{\"session_secret\": \"${s}\"}" \
    "${work}/close.json"
done
call_fails semaphored.v1.SemaphoreService/SetSemaphore \
  "{\"session_secret\": \"${secret}\", \"name\": \"${sem}\"}" unauthenticated 16

echo "--- SIGTERM stops the server cleanly"
rc=0
stop_server || rc=$?
(( rc == 0 )) || fail "semaphored exited with status ${rc} after SIGTERM: $(cat "${SERVER_LOG}")"
echo "PASS"
