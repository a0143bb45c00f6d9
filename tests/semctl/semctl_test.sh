#!/usr/bin/env bash
# Drives the real semctl against a real semaphored on an ephemeral loopback port.
#   semctl_test.sh SEMCTL SEMAPHORED LIB_SH
# Every wait is bounded (lib.sh helpers, `timeout`, counted loops).
set -uo pipefail
SEMCTL="$1"
SEMAPHORED="$2"
# shellcheck source=../tools/lib.sh
source "$3"

DIR="$(mktemp -d)"
CHILDREN=()
cleanup() {
  local pid
  for pid in "${CHILDREN[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
  kill_server
  rm -rf "${DIR}"
}
trap cleanup EXIT

# The server's default admin socket and semctl's default lookup both follow
# XDG_RUNTIME_DIR: a private one keeps this test's socket to itself.
export XDG_RUNTIME_DIR="${DIR}/run"
mkdir -m 700 "${XDG_RUNTIME_DIR}"
unset SEMAPHORED_ADMIN_TOKEN SEMAPHORED_ADMIN_SOCKET
start_server "${SEMAPHORED}" "${DIR}"
export SEMAPHORED_SERVER="127.0.0.1:${SERVER_PORT}"
SOCKET="${XDG_RUNTIME_DIR}/semaphored/${SERVER_PORT}.sock"
S() { timeout 60 "${SEMCTL}" "$@"; }

# Runs semctl, captures stdout/stderr in ${DIR}/out and ${DIR}/err, sets RC.
call() {
  RC=0
  S "$@" >"${DIR}/out" 2>"${DIR}/err" || RC=$?
}
expect_rc() {  # WHAT EXPECTED
  if [[ "${RC}" != "$2" ]]; then
    echo "stdout:"; cat "${DIR}/out"; echo "stderr:"; cat "${DIR}/err"
    fail "$1: exit ${RC}, expected $2"
  fi
}
# Waits (up to 10 s) until FILE contains TEXT.
wait_for_text() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "no \"$2\" in $1 within 10 s: $(cat "$1" 2>/dev/null)"
}
# Waits (up to 10 s) until NAME's "set" (from semctl test --json) is EXPECTED.
wait_set_state() {
  local i
  for ((i = 0; i < 100; i++)); do
    S test "$1" --json >"${DIR}/state.json" 2>/dev/null || true
    [[ "$(json_get "${DIR}/state.json" set 2>/dev/null)" == "$2" ]] && return 0
    sleep 0.1
  done
  fail "$1 set is not $2 within 10 s"
}

echo "== help and usage errors"
call --help; expect_rc "--help" 0
grep -q "Exit codes" "${DIR}/out" || fail "--help lists no exit codes"
for sub in set clear test wait-clear list sessions force-clear drain health cluster run; do
  call "${sub}" --help; expect_rc "${sub} --help" 0
  grep -q "Exit codes" "${DIR}/out" || fail "${sub} --help lists no exit codes"
done
call; expect_rc "no subcommand" 2
call frobnicate; expect_rc "unknown subcommand" 2
grep -q "^semctl: unknown subcommand" "${DIR}/err" || fail "no 'semctl:' message"
call test; expect_rc "test without NAME" 2
call test a --bogus; expect_rc "unknown option" 2
call run jobs; expect_rc "run without COMMAND" 2
call set x --wait nope; expect_rc "bad duration" 2
call test '$local'; expect_rc "invalid (local) name at the server" 2

echo "== cannot connect"
call --server=127.0.0.1:1 --timeout=1s test a; expect_rc "wrong address" 3
grep -q "cannot connect" "${DIR}/err" || fail "no 'cannot connect': $(cat "${DIR}/err")"
call --server=127.0.0.1:1 --timeout=1s health; expect_rc "health, wrong address" 3

echo "== health"
call health; expect_rc "health" 0
expect_eq "health of a single server" "$(cat "${DIR}/out")" "SERVING single server (no etcd)"
call health --json; expect_rc "health --json" 0
expect_eq "health role" "$(json_get "${DIR}/out" role)" single

echo "== admin: the default socket without a token, never TCP without one"
[[ -S "${SOCKET}" ]] || fail "no admin socket at ${SOCKET}"
expect_eq "admin socket mode" "$(stat -c %a "${SOCKET}")" 600
call list; expect_rc "list over the default admin socket" 0
call --server="localhost:${SERVER_PORT}" sessions; expect_rc "localhost finds the socket" 0
call --server="[::1]:${SERVER_PORT}" --timeout=2s sessions
expect_rc "[::1] finds the socket (no IPv6 listener needed)" 0
call --admin_socket=off list; expect_rc "list over TCP, server without a token" 4
grep -q "admin socket" "${DIR}/err" || fail "TCP refusal said: $(cat "${DIR}/err")"
call --admin_socket="${DIR}/nope.sock" --timeout=1s list
expect_rc "an explicit socket that is not there" 3
call --admin_socket=off drain; expect_rc "drain over TCP without a token" 4
call cluster; expect_rc "cluster over the default admin socket" 0
grep -q "^single server, no etcd (answered by 127.0.0.1:${SERVER_PORT})" "${DIR}/out" \
  || fail "cluster printed $(cat "${DIR}/out")"
grep -Eq "^127.0.0.1:${SERVER_PORT} +leader +20" "${DIR}/out" || fail "cluster printed $(cat "${DIR}/out")"
call cluster --json; expect_rc "cluster --json" 0
expect_eq "cluster mode" "$(json_get "${DIR}/out" mode)" CLUSTER_MODE_SINGLE_SERVER
expect_eq "cluster server role" "$(json_get "${DIR}/out" servers.0.role)" SERVER_ROLE_LEADER
call cluster extra; expect_rc "cluster with an argument" 2
call --admin_socket=off cluster; expect_rc "cluster over TCP without a token" 4
call health; expect_rc "still serving after the refused drain" 0

echo "== test on a free name"
call test free.name --json; expect_rc "test free" 0
expect_eq "free set" "$(json_get "${DIR}/out" set)" false
expect_eq "free name" "$(json_get "${DIR}/out" name)" free.name

echo "== run holds the semaphore while the command runs"
S run --client_name=holder jobs -- bash -c "echo started >'${DIR}/started'; while [[ ! -e '${DIR}/go' ]]; do sleep 0.05; done; exit 42" \
  >"${DIR}/run1.out" 2>"${DIR}/run1.err" &
RUN1=$!; CHILDREN+=("${RUN1}")
wait_for_text "${DIR}/started" started
call test jobs --json; expect_rc "test set" 0
expect_eq "jobs set" "$(json_get "${DIR}/out" set)" true
expect_eq "holder name" "$(json_get "${DIR}/out" holders.0.client_name)" holder
call run jobs --wait 0 -- true; expect_rc "second run while held" 1
grep -q "already set" "${DIR}/err" || fail "second run said: $(cat "${DIR}/err")"
call run jobs --wait 300ms -- true; expect_rc "second run with a short wait" 1
call wait-clear jobs --wait 200ms; expect_rc "wait-clear times out" 1
call clear jobs; expect_rc "clear from another session" 4
call list --json; expect_rc "list" 0
grep -q '"jobs"' "${DIR}/out" || fail "list --json lacks jobs: $(cat "${DIR}/out")"
call sessions --json; expect_rc "sessions" 0
grep -q '"holder"' "${DIR}/out" || fail "sessions --json lacks holder: $(cat "${DIR}/out")"
touch "${DIR}/go"
RC=0; wait "${RUN1}" || RC=$?
expect_eq "run passes the command's exit code" "${RC}" 42
wait_set_state jobs false
call wait-clear jobs --wait 1s; expect_rc "wait-clear when clear" 0
call run jobs -- true; expect_rc "run true" 0
call run jobs -- bash -c 'kill -TERM $$'; expect_rc "child killed by SIGTERM" 143
call run jobs -- /nonexistent/command; expect_rc "command not found" 127

echo "== SIGTERM to semctl run stops the command and releases"
# Not under `timeout`: it would signal the whole process group itself.
"${SEMCTL}" run jobs -- bash -c "trap 'echo got-term >\"${DIR}/term\"; exit 3' TERM; echo started >'${DIR}/started2'; while true; do sleep 0.05; done" \
  >/dev/null 2>"${DIR}/run2.err" &
RUN2=$!; CHILDREN+=("${RUN2}")
wait_for_text "${DIR}/started2" started
kill -TERM "${RUN2}"
RC=0; wait "${RUN2}" || RC=$?
expect_eq "run after SIGTERM exits with the child's code" "${RC}" 3
wait_for_text "${DIR}/term" got-term
wait_set_state jobs false

echo "== force-clear while run holds it: the command is stopped, exit 6"
S run jobs --grace 2s -- bash -c "echo started >'${DIR}/started3'; while true; do sleep 0.05; done" \
  >/dev/null 2>"${DIR}/run3.err" &
RUN3=$!; CHILDREN+=("${RUN3}")
wait_for_text "${DIR}/started3" started
call force-clear jobs; expect_rc "force-clear without --reason" 2
call force-clear jobs --reason "test revocation"; expect_rc "force-clear" 0
RC=0; wait "${RUN3}" || RC=$?
expect_eq "run exit after the semaphore was revoked" "${RC}" 6
grep -q "lost jobs" "${DIR}/run3.err" || fail "run said: $(cat "${DIR}/run3.err")"
call force-clear jobs --reason again; expect_rc "force-clear of a free name" 5

echo "== set holds until SIGTERM"
"${SEMCTL}" set held.name --json >"${DIR}/set.out" 2>"${DIR}/set.err" &
SET=$!; CHILDREN+=("${SET}")
wait_for_text "${DIR}/set.out" acquired
expect_eq "set acquired" "$(json_get "${DIR}/set.out" acquired)" true
call set held.name; expect_rc "set while held" 1
kill -TERM "${SET}"
RC=0; wait "${SET}" || RC=$?
expect_eq "set exit after SIGTERM" "${RC}" 0
wait_set_state held.name false

echo "== drain"
call drain --reason "test over"; expect_rc "drain" 0
stop_server || true
grep -q 'admin_drain by="fd:[0-9]* (admin socket, uid' "${SERVER_LOG}" \
  || fail "the drain's audit line: $(grep admin_drain "${SERVER_LOG}")"
[[ ! -e "${SOCKET}" ]] || fail "the admin socket ${SOCKET} outlived its server"

echo "== a server with a token: TCP needs it, the socket does not"
TOKEN="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir "${DIR}/token"
SEMAPHORED_ADMIN_TOKEN="${TOKEN}" start_server "${SEMAPHORED}" "${DIR}/token" \
  --admin_socket="${DIR}/token/admin.sock"
export SEMAPHORED_SERVER="127.0.0.1:${SERVER_PORT}"
call --admin_socket=off list; expect_rc "TCP without the token" 4
call --admin_socket=off --admin_token="wrong-${TOKEN}" list; expect_rc "TCP, wrong token" 4
SEMAPHORED_ADMIN_TOKEN="${TOKEN}" call --admin_socket=off list
expect_rc "TCP with the token from the environment" 0
call --admin_socket="${DIR}/token/admin.sock" sessions; expect_rc "explicit socket" 0
SEMAPHORED_ADMIN_SOCKET="${DIR}/token/admin.sock" call sessions
expect_rc "socket from the environment" 0
echo "-- a socket left by a killed server is replaced"
kill -KILL "${SERVER_PID}"; wait "${SERVER_PID}" 2>/dev/null; SERVER_PID=""
[[ -S "${DIR}/token/admin.sock" ]] || fail "SIGKILL should leave the socket behind"
rm -f "${DIR}/token/port"
SEMAPHORED_ADMIN_TOKEN="${TOKEN}" start_server "${SEMAPHORED}" "${DIR}/token" \
  --admin_socket="${DIR}/token/admin.sock"
export SEMAPHORED_SERVER="127.0.0.1:${SERVER_PORT}"
call --admin_socket="${DIR}/token/admin.sock" sessions; expect_rc "replaced socket" 0
echo "-- refused attempts are throttled"
for ((i = 0; i < 5; i++)); do
  call --admin_socket=off --admin_token="wrong-${TOKEN}" list
  expect_rc "wrong token ${i}" 4
done
SEMAPHORED_ADMIN_TOKEN="${TOKEN}" call --admin_socket=off list
expect_rc "right token while the address is blocked" 7
grep -q "too many failed admin attempts" "${DIR}/err" || fail "said: $(cat "${DIR}/err")"
call --admin_socket="${DIR}/token/admin.sock" list; expect_rc "the socket is not throttled" 0
stop_server || fail "the token server did not stop cleanly"

echo "== TLS (certificate made now with openssl)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "${DIR}/key.pem" -out "${DIR}/cert.pem" \
  -days 1 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null \
  || fail "openssl could not make a certificate"
mkdir "${DIR}/tls"
start_server "${SEMAPHORED}" "${DIR}/tls" --tls_cert="${DIR}/cert.pem" --tls_key="${DIR}/key.pem"
export SEMAPHORED_SERVER="127.0.0.1:${SERVER_PORT}"
call --tls --tls_ca="${DIR}/cert.pem" run tls.job -- true; expect_rc "run over TLS" 0
SEMCTL_TLS_CA="${DIR}/cert.pem" call health; expect_rc "TLS from the environment" 0
call list; expect_rc "admin over the default socket of a TLS server" 0
SEMCTL_TLS=1 SEMCTL_TLS_CA="${DIR}/missing.pem" call health
expect_rc "unreadable CA file from the environment" 2
call --timeout=1s health; expect_rc "plaintext to a TLS server" 3
call --tls_ca="${DIR}/missing.pem" health; expect_rc "unreadable CA file" 2
grep -q "cannot read the TLS CA file" "${DIR}/err" || fail "said: $(cat "${DIR}/err")"
stop_server || fail "the TLS server did not stop cleanly"
echo "PASS"
