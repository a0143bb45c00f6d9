#!/usr/bin/env bash
# Proves the Docker packaging end to end on a Debian 12 machine that has at most
# Debian's docker.io and no reachable image registry:
#   1. installs docker.io if missing and starts dockerd if no daemon answers (stopped
#      again at exit when this script started it);
#   2. picks the base image with docker/base-image.sh: debian:12-slim when it is present
#      or can be pulled, else a local Debian 12 base made with debootstrap from the
#      machine's own apt mirror, imported as semaphored-base:bookworm (made once, reused);
#   3. builds docker/Dockerfile and docker/etcd.Dockerfile with that base;
#   4. runs the image with its gRPC port published on 127.0.0.1 only, waits until
#      Docker reports it healthy (its HEALTHCHECK is `semctl health`);
#   5. from the host, with the host-built semctl: health; set (held by a background
#      semctl), refused to other sessions, cleared by its holder; `semctl run`; the admin
#      service refused without/with a wrong token, list and force-clear with it; then
#      scrapes the metrics port;
#   6. `docker restart` while a `semctl run` job holds a semaphore: the image is durable
#      by default (SQLite on its volume), so the restarted server loads the hold and the
#      job's session resumes: the job keeps running and the semaphore keeps its token;
#   7. `docker stop` with a holder: the server drains, logs it and exits 0 by itself;
#      the holder, finding no server for its session's TTL, gives up (exits 6);
#   8. docker/compose.yaml: the server becomes healthy and the one-shot `semctl run` job
#      exits 0 (installs Debian's docker-compose if no compose tool is there);
#   9. docker/compose-ha.yaml (3 etcd members, 3 servers): a `semctl run` job from the
#      host, given the three addresses, holds a semaphore while the leader's container
#      is killed (docker kill), then while the next leader is frozen past its lease
#      (docker pause: thawed, it exits 5 and the restart policy brings it back as a
#      standby); each time another server leads within 30 s and the job's session
#      resumes there with the same holder and fencing token; the job then exits 0.
#      Prints the failover times.
# Every wait is bounded; containers and temporary files are removed at exit. Exits
# non-zero, with the reason, on the first failure.
#
# Usage: docker/test.sh            (as root, or as a user that may use docker)
# Environment (all optional):
#   SEMAPHORED_BUILD_DIR           host build tree with tools/semctl (default: build/)
#   SEMAPHORED_SEMCTL              the host semctl to use (default:
#                                  BUILD_DIR/tools/semctl/semctl, built when missing)
#   SEMAPHORED_DOCKER_IMAGE        tag of the image built (default: semaphored:test)
#   SEMAPHORED_DOCKER_ETCD_IMAGE   tag of the etcd image built (default: semaphored-etcd:test)
#   SEMAPHORED_DOCKER_BASE_IMAGE   base image to use as it is (skips the detection)
#   SEMAPHORED_DOCKER_MIRROR, SEMAPHORED_DOCKER_REBUILD_BASE: see docker/base-image.sh
set -euo pipefail
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"  # REPO, BUILD_DIR, JOBS

readonly IMAGE="${SEMAPHORED_DOCKER_IMAGE:-semaphored:test}"
readonly ETCD_IMAGE="${SEMAPHORED_DOCKER_ETCD_IMAGE:-semaphored-etcd:test}"
# 128 random bits as 32 hex digits: the server refuses shorter admin tokens.
ADMIN_TOKEN="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
readonly ADMIN_TOKEN
readonly TEST_NAME="docker-test/$$"
LOG_DIR="${BUILD_DIR}/test-logs"
SEMCTL="${SEMAPHORED_SEMCTL:-${BUILD_DIR}/tools/semctl/semctl}"
DOCKER="docker"

# State for cleanup().
STARTED_DOCKERD_PID=""
CONTAINERS=()
BASE=""
ADDRESS=""
BACKGROUND=()  # host semctl processes started in the background
HOLDER=""
EXIT_CODE=0
COMPOSE_DOWN=()
COMPOSE=()
PAUSED=""      # a container paused by the test, thawed before compose down

log() { echo "docker/test.sh: $*"; }
fail() {
  echo "docker/test.sh: FAILED: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------
# Cleanup

cleanup() {
  local rc=$? c
  set +e
  for c in "${BACKGROUND[@]}"; do
    kill -TERM "${c}" 2>/dev/null
  done
  [[ -z "${PAUSED}" ]] || timeout 30 "${DOCKER}" unpause "${PAUSED}" >/dev/null 2>&1
  if (( ${#COMPOSE_DOWN[@]} )); then
    timeout 60 "${COMPOSE_DOWN[@]}" >/dev/null 2>&1
  fi
  for c in "${CONTAINERS[@]}"; do
    timeout 30 "${DOCKER}" rm -f -v "${c}" >/dev/null 2>&1
  done
  stop_dockerd
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_dockerd() {
  [[ -n "${STARTED_DOCKERD_PID}" ]] || return 0
  kill -TERM "${STARTED_DOCKERD_PID}" 2>/dev/null || return 0
  local i
  for ((i = 0; i < 30; i++)); do
    kill -0 "${STARTED_DOCKERD_PID}" 2>/dev/null || return 0
    sleep 1
  done
  log "dockerd (pid ${STARTED_DOCKERD_PID}) did not stop in 30s; killing it"
  kill -KILL "${STARTED_DOCKERD_PID}" 2>/dev/null
}

# ---------------------------------------------------------------------------------------
# Docker engine

# shellcheck source=SCRIPTDIR/../scripts/root.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/root.sh"  # as_root, apt_install

daemon_answers() { timeout 20 "${DOCKER}" info >/dev/null 2>&1; }

ensure_docker() {
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
  fi
  daemon_answers && return 0
  local dlog="${LOG_DIR}/dockerd.log"
  [[ "$(id -u)" == 0 ]] || fail "no Docker daemon answers; start dockerd, or run this as root"
  log "no Docker daemon answers; starting dockerd (log: ${dlog})"
  # Started directly (not through a function) so that $! is dockerd itself.
  setsid dockerd >"${dlog}" 2>&1 </dev/null &
  STARTED_DOCKERD_PID=$!
  local i
  for ((i = 0; i < 60; i++)); do
    daemon_answers && return 0
    kill -0 "${STARTED_DOCKERD_PID}" 2>/dev/null || break
    sleep 1
  done
  tail -n 20 "${dlog}" >&2
  fail "dockerd did not answer within 60s (log: ${dlog})"
}

# ---------------------------------------------------------------------------------------
# Image and container

# Builds the server's build stage alone first, tagged IMAGE-build, so that it stays as
# the cache of the next run, then the server's image, then the etcd image
# (docker/etcd.Dockerfile, whose context is docker/: it uses none); then removes older,
# untagged images of ours.
build_image() {
  local base="$1" blog="${LOG_DIR}/docker-build.log" dockerfile="${REPO}/docker/Dockerfile"
  log "building ${IMAGE} and ${ETCD_IMAGE} from base ${base} (log: ${blog})"
  : >"${blog}"
  docker_build "${blog}" "${dockerfile}" "${REPO}" --target build -t "${IMAGE}-build" \
    --build-arg "BASE_IMAGE=${base}"
  docker_build "${blog}" "${dockerfile}" "${REPO}" -t "${IMAGE}" --build-arg "BASE_IMAGE=${base}"
  docker_build "${blog}" "${REPO}/docker/etcd.Dockerfile" "${REPO}/docker" -t "${ETCD_IMAGE}" \
    --build-arg "BASE_IMAGE=${base}"
  "${DOCKER}" image prune -f --filter "label=org.semaphored.stage" >/dev/null 2>&1 || true
}

# docker_build LOG DOCKERFILE CONTEXT ARGS...: docker build, bounded in time; prints the
# steps and the compile progress, appends everything to LOG.
docker_build() {
  local blog="$1" dockerfile="$2" context="$3" rc
  shift 3
  set +e
  timeout --kill-after=30s 45m "${DOCKER}" build --pull=false -f "${dockerfile}" \
      "$@" "${context}" </dev/null 2>&1 \
    | tee -a "${blog}" \
    | grep --line-buffered -E '^Step |^\[[0-9]+/[0-9]+\] (Linking|protoc)|^runtime packages'
  rc=${PIPESTATUS[0]}
  set -e
  if (( rc != 0 )); then
    tail -n 40 "${blog}" >&2
    fail "docker build $* exited ${rc}"
  fi
}

# A free TCP port on the host's loopback, for Docker to publish a container's port on.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_container NAME [DOCKER_RUN_ARGS...]: starts the image detached, gRPC on a free
# loopback port of the host (metrics too); registers it for cleanup.
run_container() {
  local name="$1"
  shift
  CONTAINERS+=("${name}")
  # A fixed host port for gRPC, so that clients find the container again after a
  # restart (Docker may publish an ephemeral one elsewhere on each start).
  local port
  port="$(free_port)"
  "${DOCKER}" run -d --name "${name}" -p "127.0.0.1:${port}:50051" -p 127.0.0.1::9090 \
    -e "SEMAPHORED_ADMIN_TOKEN=${ADMIN_TOKEN}" "$@" "${IMAGE}" >/dev/null \
    || fail "docker run of ${IMAGE} failed"
}

# wait_healthy NAME SECONDS
wait_healthy() {
  local name="$1" limit="$2" i status
  for ((i = 0; i < limit; i++)); do
    status="$("${DOCKER}" inspect -f '{{.State.Status}} {{.State.Health.Status}}' "${name}")"
    case "${status}" in
      "running healthy") log "container ${name:0:20} is healthy after ${i}s"; return 0 ;;
      running*) ;;
      *) "${DOCKER}" logs "${name}" 2>&1 | tail -n 30 >&2
         fail "container ${name} stopped while starting (${status})" ;;
    esac
    sleep 1
  done
  "${DOCKER}" inspect -f '{{json .State.Health}}' "${name}" >&2
  "${DOCKER}" logs "${name}" 2>&1 | tail -n 30 >&2
  fail "container ${name} not healthy after ${limit}s (${status})"
}

# host_address NAME PORT: the host side of the container's PORT, as HOST:PORT.
host_address() {
  local addr
  addr="$("${DOCKER}" port "$1" "$2/tcp" | head -n 1)"
  [[ "${addr}" == 127.0.0.1:* ]] || fail "port $2 of $1 is not published on loopback: '${addr}'"
  echo "${addr}"
}

# ---------------------------------------------------------------------------------------
# Checks

check_image() {
  local user
  user="$("${DOCKER}" image inspect -f '{{.Config.User}}' "${IMAGE}")"
  [[ -n "${user}" && "${user}" != root && "${user}" != 0* ]] \
    || fail "image runs as '${user}', not as a non-root user"
  # shellcheck disable=SC2016  # expanded by the container's shell
  "${DOCKER}" run --rm --entrypoint sh "${IMAGE}" -c \
    'test -x /usr/local/bin/semaphored && test -x /usr/local/bin/semctl \
       && ! dpkg-query -W -f "\${Package}\n" | grep -- "-dev$"' >/dev/null \
    || fail "image lacks semaphored or semctl, or has -dev packages"
  log "image ${IMAGE}: user ${user}, $("${DOCKER}" image inspect -f '{{.Size}}' "${IMAGE}" \
    | awk '{ printf "%.0f MB", $1 / 1e6 }'), binaries present, no -dev packages"
}

# semctl_expect CODE ARGS...: runs the host semctl against the container (without any
# admin token from the environment), fails unless it exits CODE; prints its stdout.
semctl_expect() {
  local want="$1" out code=0
  shift
  out="$(env -u SEMAPHORED_ADMIN_TOKEN -u SEMAPHORED_SERVER timeout 30 "${SEMCTL}" \
    --server="${ADDRESS}" "$@" 2>"${LOG_DIR}/semctl.err")" || code=$?
  if [[ "${code}" != "${want}" ]]; then
    fail "semctl $* exited ${code}, not ${want}: ${out} $(cat "${LOG_DIR}/semctl.err")"
  fi
  printf '%s\n' "${out}"
}

# start_holder NAME LOG SEMCTL_ARGS...: starts semctl in the background (a semaphore
# belongs to the session that set it, and semctl's session lives as long as the
# process); HOLDER is its pid. Returns once `test` shows NAME set (bounded).
start_holder() {
  local name="$1" hlog="$2" i out=""
  shift 2
  env -u SEMAPHORED_ADMIN_TOKEN -u SEMAPHORED_SERVER "${SEMCTL}" --server="${ADDRESS}" \
    --client_name=docker-test "$@" >"${hlog}" 2>&1 &
  HOLDER=$!
  BACKGROUND+=("${HOLDER}")
  for ((i = 0; i < 100; i++)); do
    out="$(semctl_expect 0 test "${name}" --json)"
    [[ "${out}" == *'"set":true'* ]] && return 0
    kill -0 "${HOLDER}" 2>/dev/null || fail "semctl $* ended early: $(cat "${hlog}")"
    sleep 0.1
  done
  fail "semctl $* did not set ${name} within 10s: ${out}"
}

# wait_exit PID SECONDS: waits (bounded) for a background process of ours; sets
# EXIT_CODE to its exit code.
wait_exit() {
  local pid="$1" limit="$2" i
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "${pid}" 2>/dev/null && fail "process ${pid} still running after ${limit}s"
  EXIT_CODE=0
  wait "${pid}" || EXIT_CODE=$?
}

# From the host, through the published loopback port: health, set (held by a
# background semctl), refused to others, cleared by its holder, `run`, and the admin
# service with and without the token (the connection comes from Docker's network, not
# loopback, so the token is required).
check_from_host() {
  local out
  semctl_expect 0 health >/dev/null
  start_holder "${TEST_NAME}" "${LOG_DIR}/semctl-set.log" set "${TEST_NAME}"
  out="$(semctl_expect 0 test "${TEST_NAME}" --json)"
  [[ "${out}" == *'"client_name":"docker-test"'* ]] || fail "test does not show the holder: ${out}"
  semctl_expect 1 set "${TEST_NAME}" >/dev/null    # already set by another session
  semctl_expect 4 clear "${TEST_NAME}" >/dev/null  # only the holder may clear it
  kill -TERM "${HOLDER}"                           # the holder clears it and exits 0
  wait_exit "${HOLDER}" 10
  (( EXIT_CODE == 0 )) || fail "semctl set exited ${EXIT_CODE} on SIGTERM, not 0"
  out="$(semctl_expect 0 test "${TEST_NAME}" --json)"
  [[ "${out}" == *'"set":false'* ]] || fail "${TEST_NAME} still set after its holder cleared it: ${out}"
  semctl_expect 5 clear "${TEST_NAME}" >/dev/null  # not set any more
  log "semctl from the host: health, set, test, refused set/clear, clear: ok"

  out="$(semctl_expect 0 run "${TEST_NAME}" -- "${SEMCTL}" --server="${ADDRESS}" \
    test "${TEST_NAME}" --json)"
  [[ "${out}" == *'"set":true'* ]] || fail "not set while \`semctl run\` ran its command: ${out}"
  semctl_expect 7 run "${TEST_NAME}" -- sh -c 'exit 7' >/dev/null
  log "semctl run: holds the semaphore while the command runs, passes its exit code on"

  start_holder "${TEST_NAME}" "${LOG_DIR}/semctl-set2.log" set "${TEST_NAME}"
  semctl_expect 4 list >/dev/null
  out="$(semctl_expect 0 list --json --admin_token="${ADMIN_TOKEN}")"
  [[ "${out}" == *"${TEST_NAME}"* ]] || fail "admin list does not show ${TEST_NAME}: ${out}"
  semctl_expect 4 force-clear "${TEST_NAME}" --reason=docker-test \
    --admin_token="wrong-${ADMIN_TOKEN}" >/dev/null
  semctl_expect 0 force-clear "${TEST_NAME}" --reason=docker-test \
    --admin_token="${ADMIN_TOKEN}" >/dev/null
  wait_exit "${HOLDER}" 10
  (( EXIT_CODE == 6 )) || fail "force-cleared holder exited ${EXIT_CODE}, not 6 (session lost)"
  log "admin from the host: refused without or with a wrong token; list and force-clear with it"
}

# check_admin_socket NAME: inside the container, semctl (as the image's user) reaches
# the admin service without a token through the server's default admin socket; over
# TCP it is refused without the token.
check_admin_socket() {
  local out code=0
  out="$(timeout 30 "${DOCKER}" exec -e SEMAPHORED_ADMIN_TOKEN= "$1" semctl list --json 2>&1)" \
    || fail "docker exec semctl list (admin socket) failed: ${out}"
  timeout 30 "${DOCKER}" exec -e SEMAPHORED_ADMIN_TOKEN= "$1" semctl --admin_socket=off list \
    >/dev/null 2>&1 || code=$?
  (( code == 4 )) || fail "docker exec semctl list over TCP without a token exited ${code}, not 4"
  log "admin inside the container: the admin socket without a token; TCP refused without it"
}

# check_metrics HOST:PORT: the image serves Prometheus metrics on its port 9090, and
# they count the sessions that check_from_host opened.
check_metrics() {
  local body
  body="$(timeout 20 python3 -c 'import sys, urllib.request
print(urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=10).read().decode())' \
    "$1")" || fail "cannot scrape http://$1/metrics"
  grep -qE '^semaphored_sessions_created_total(\{[^}]*\})? [1-9]' <<<"${body}" \
    || fail "metrics at $1 do not count the sessions opened: $(grep '^semaphored_sessions' <<<"${body}")"
  log "metrics: scraped http://$1/metrics ($(grep -c '^semaphored_' <<<"${body}") samples)"
}

# json_token JSON: the first holder's fencing token in `semctl test --json` output.
json_token() {
  sed -n 's/.*"fencing_token":\([0-9]*\).*/\1/p' <<<"$1"
}

# Starts a job (`semctl run NAME -- sleep`), then `docker restart`: the restarted server
# loads the hold from its data dir, the job's session resumes (semctl says so on
# stderr), the job keeps running and NAME keeps its holder and token; then the job is
# stopped and NAME is free.
check_restart() {
  local name="$1" hlog="${LOG_DIR}/semctl-restart.log" before after i logs out
  start_holder "${TEST_NAME}" "${hlog}" --ttl=30s run "${TEST_NAME}" -- sleep 120
  before="$(json_token "$(semctl_expect 0 test "${TEST_NAME}" --json)")"
  [[ -n "${before}" ]] || fail "no fencing token for ${TEST_NAME} before the restart"
  timeout 90 "${DOCKER}" restart -t 30 "${name}" >/dev/null || fail "docker restart ${name} failed"
  wait_healthy "${name}" 90
  for ((i = 0; i < 200; i++)); do
    grep -q 'session resumed' "${hlog}" && break
    kill -0 "${HOLDER}" 2>/dev/null || fail "semctl run ended across the restart: $(cat "${hlog}")"
    sleep 0.1
  done
  grep -q 'session resumed' "${hlog}" || fail "semctl run did not resume within 20s: $(cat "${hlog}")"
  kill -0 "${HOLDER}" 2>/dev/null || fail "semctl run ended across the restart: $(cat "${hlog}")"
  after="$(json_token "$(semctl_expect 0 test "${TEST_NAME}" --json)")"
  [[ "${after}" == "${before}" ]] \
    || fail "${TEST_NAME} has token '${after}' after the restart, not ${before}"
  logs="$("${DOCKER}" logs "${name}" 2>&1)"
  grep -qE 'store_loaded .*holders=1' <<<"${logs}" \
    || { tail -n 30 <<<"${logs}" >&2; fail "the restarted server did not load the hold"; }
  kill -TERM "${HOLDER}"
  wait_exit "${HOLDER}" 20
  out="$(semctl_expect 0 test "${TEST_NAME}" --json)"
  [[ "${out}" == *'"set":false'* ]] || fail "${TEST_NAME} still set after its job stopped: ${out}"
  log "docker restart: the semctl run job kept running and ${TEST_NAME} kept token ${before}; $(grep -E 'store_loaded' <<<"${logs}" | tail -n 1 | grep -oE 'sessions=[0-9]+ semaphores=[0-9]+ holders=[0-9]+ waiters=[0-9]+ .*took=[^ ]+')"
}

# Starts a holder (`semctl run NAME -- sleep`), then `docker stop`: the server must
# drain, log the drain and exit 0 by itself, well before docker's SIGKILL. It keeps
# the hold on its volume; the holder, with no server for its TTL (3 s here), gives up:
# semctl stops its command and exits 6.
check_drain() {
  local name="$1" start took code logs
  start_holder "${TEST_NAME}" "${LOG_DIR}/semctl-run.log" --ttl=3s run "${TEST_NAME}" -- sleep 120
  start="$(date +%s)"
  timeout 90 "${DOCKER}" stop -t 60 "${name}" >/dev/null || fail "docker stop ${name} failed"
  took=$(( $(date +%s) - start ))
  code="$("${DOCKER}" inspect -f '{{.State.ExitCode}}' "${name}")"
  logs="$("${DOCKER}" logs "${name}" 2>&1)"
  if [[ "${code}" != 0 ]]; then
    tail -n 30 <<<"${logs}" >&2
    fail "server exited ${code} on docker stop (after ${took}s), not 0"
  fi
  grep -qE ' drain( |$)|shutting down' <<<"${logs}" \
    || { tail -n 30 <<<"${logs}" >&2; fail "no drain line in the server's log"; }
  wait_exit "${HOLDER}" 20
  (( EXIT_CODE == 6 )) \
    || fail "holder exited ${EXIT_CODE} when the server drained, not 6: $(cat "${LOG_DIR}/semctl-run.log")"
  log "docker stop: exit code 0 after ${took}s; the holder gave up after its TTL (semctl run exited 6); log: $(grep -E ' drain( |$)|shutting down' <<<"${logs}" | head -n 1)"
}

# Sets COMPOSE to a working compose command, installing Debian's docker-compose when
# neither `docker compose` nor `docker-compose` is there.
ensure_compose() {
  if "${DOCKER}" compose version >/dev/null 2>&1; then
    COMPOSE=("${DOCKER}" compose)
    return 0
  fi
  command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
  COMPOSE=(docker-compose)
}

# check_nightly_report LOG COMPOSE...: waits (60 s) for the stack's one-shot job
# nightly-report to end; it must have exited 0 after running its command. Its output
# goes to LOG.
check_nightly_report() {
  local jlog="$1" job i code
  shift
  job="$("$@" ps -a -q nightly-report)"
  for ((i = 0; i < 60; i++)); do
    [[ -n "${job}" && "$("${DOCKER}" inspect -f '{{.State.Status}}' "${job}")" == exited ]] && break
    sleep 1
    [[ -n "${job}" ]] || job="$("$@" ps -a -q nightly-report)"
  done
  [[ -n "${job}" ]] || fail "compose started no nightly-report container"
  code="$("${DOCKER}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "${job}")"
  "${DOCKER}" logs "${job}" >"${jlog}" 2>&1
  [[ "${code}" == "exited 0" ]] \
    || { cat "${jlog}" >&2; fail "nightly-report job: ${code}, not 'exited 0'"; }
  grep -q 'nightly-report: done' "${jlog}" \
    || { cat "${jlog}" >&2; fail "nightly-report job did not run its command"; }
}

# Runs docker/compose.yaml as documented, with the image just built and a free
# loopback port: the server must become healthy and the one-shot job must exit 0
# after running its command under the semaphore.
check_compose() {
  ensure_compose
  local project="semaphored-test-$$" port server
  port="$(free_port)"
  export SEMAPHORED_IMAGE="${IMAGE}" SEMAPHORED_HOST_PORT="${port}" \
    SEMAPHORED_ADMIN_TOKEN="${ADMIN_TOKEN}"
  local compose=("${COMPOSE[@]}" -p "${project}" -f "${REPO}/docker/compose.yaml")
  COMPOSE_DOWN=("${compose[@]}" down -v -t 30)
  log "compose (${COMPOSE[*]}): up, server on 127.0.0.1:${port}"
  timeout 180 "${compose[@]}" up -d --no-build >"${LOG_DIR}/compose-up.log" 2>&1 \
    || { cat "${LOG_DIR}/compose-up.log" >&2; fail "compose up failed"; }
  server="$("${compose[@]}" ps -q semaphored)"
  [[ -n "${server}" ]] || fail "compose started no semaphored container"
  wait_healthy "${server}" 90
  check_nightly_report "${LOG_DIR}/compose-job.log" "${compose[@]}"
  log "compose: server healthy, nightly-report ran under the semaphore and exited 0"
  timeout 90 "${COMPOSE_DOWN[@]}" >/dev/null 2>&1 || fail "compose down failed"
  COMPOSE_DOWN=()
}

# ---------------------------------------------------------------------------------------
# High availability: docker/compose-ha.yaml

# State of check_compose_ha, for the helpers below.
HA_COMPOSE=()    # the compose command for the HA stack
HA_ADDRESSES=()  # the servers' published addresses, semaphored-1 first
HA_CONTAINERS=() # their containers, in the same order
LEADER=""        # set by wait_ha_leader

# now_ms: the wall clock in milliseconds. seconds_since MS: seconds since then, as 5.9.
now_ms() {
  local t="${EPOCHREALTIME//[.,]/}"
  echo $(( t / 1000 ))
}
seconds_since() {
  local d=$(( $(now_ms) - $1 ))
  echo "$(( d / 1000 )).$(( d % 1000 / 100 ))"
}

# compose_container PROJECT SERVICE: the container of SERVICE (by the labels both
# compose tools set: quicker than asking the compose tool).
compose_container() {
  local id
  id="$("${DOCKER}" ps -a -q --filter "label=com.docker.compose.project=$1" \
    --filter "label=com.docker.compose.service=$2")"
  [[ -n "${id}" && "${id}" != *$'\n'* ]] || fail "compose project $1 has not one $2 container: '${id}'"
  echo "${id}"
}

# ha_container ADDRESS: the container of the server published at ADDRESS.
ha_container() {
  local i
  for i in "${!HA_ADDRESSES[@]}"; do
    if [[ "${HA_ADDRESSES[i]}" == "$1" ]]; then
      echo "${HA_CONTAINERS[i]}"
      return 0
    fi
  done
  fail "no server of the HA stack at $1"
}

# ha_ask ADDRESS: semctl test on that one server: exit 0 from the leader only (given a
# single address semctl follows no hint: a standby's answer is exit 3, and its message
# "standby: the leader is at HOST:PORT" goes to stdout here with everything else).
ha_ask() {
  env -u SEMAPHORED_ADMIN_TOKEN -u SEMAPHORED_SERVER timeout 10 "${SEMCTL}" --server="$1" \
    --timeout=1s test "${TEST_NAME}" 2>&1
}

# wait_ha_leader SECONDS [EXCEPT]: waits (bounded) until a server other than EXCEPT
# answers as the leader; sets LEADER to its address.
wait_ha_leader() {
  local limit="$1" except="${2:-}" deadline a
  deadline=$(( $(now_ms) + limit * 1000 ))
  while (( $(now_ms) < deadline )); do
    for a in "${HA_ADDRESSES[@]}"; do
      [[ "${a}" != "${except}" ]] || continue
      if ha_ask "${a}" >/dev/null; then
        LEADER="${a}"
        return 0
      fi
    done
    sleep 0.1
  done
  fail "no server of ${HA_ADDRESSES[*]} but '${except}' answered as the leader within ${limit}s"
}

# wait_ha_standby ADDRESS LEADER SECONDS: waits (bounded) until the server at ADDRESS
# is a standby that sends clients to LEADER.
wait_ha_standby() {
  local address="$1" leader="$2" limit="$3" i out=""
  for ((i = 0; i < limit * 5; i++)); do
    out="$(ha_ask "${address}")" && out="answers as the leader: ${out}"
    [[ "${out}" == *"standby: the leader is at ${leader}"* ]] && return 0
    sleep 0.2
  done
  fail "${address} is no standby naming ${leader} after ${limit}s: ${out}"
}

# ha_holder NAME: "SESSION TOKEN" of NAME's holder, asked through every server.
ha_holder() {
  local out
  out="$(semctl_expect 0 test "$1" --json)"
  sed -n 's/.*"session_id":"\([0-9a-f]*\)".*"fencing_token":\([0-9]*\).*/\1 \2/p' <<<"${out}"
}

# wait_ha_resumed LOG COUNT SECONDS: waits (bounded) until the job (HOLDER) has said
# "session resumed" COUNT times in LOG, and fails if it ended.
wait_ha_resumed() {
  local hlog="$1" count="$2" limit="$3" i
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "${HOLDER}" 2>/dev/null || fail "the semctl run job ended: $(cat "${hlog}")"
    (( $(grep -c 'session resumed' "${hlog}") >= count )) && return 0
    sleep 0.1
  done
  fail "the semctl run job did not resume its session (${count}) within ${limit}s: $(cat "${hlog}")"
}

# Runs docker/compose-ha.yaml with the images just built and three free loopback ports.
# The etcd members become healthy and one server leads. A `semctl run` job from the
# host, given the three addresses, holds TEST_NAME. Then, twice, the leader goes and
# another server must lead within 30 s, the job's session resume there and TEST_NAME
# keep its holder and fencing token: first `docker kill` (SIGKILL; Docker does not
# restart a killed container) — started again, it must be a standby naming the new
# leader; then `docker pause` past the lease — thawed, the old leader must exit 5 and
# the restart policy bring it back as a standby. The job then ends and exits 0, and
# the stack's example job (on the host network) has exited 0. Prints the times.
check_compose_ha() {
  ensure_compose
  local project="semaphored-ha-test-$$" i port start first second hlog done_file
  local before after deposed took_up
  hlog="${LOG_DIR}/semctl-ha.log"
  done_file="${LOG_DIR}/semctl-ha.done"
  HA_ADDRESSES=()
  HA_CONTAINERS=()
  export SEMAPHORED_IMAGE="${IMAGE}" SEMAPHORED_ETCD_IMAGE="${ETCD_IMAGE}" \
    SEMAPHORED_ADMIN_TOKEN="${ADMIN_TOKEN}" SEMAPHORED_HA_HOST=127.0.0.1
  for i in 1 2 3; do
    port="$(free_port)"
    while [[ " ${HA_ADDRESSES[*]} " == *":${port} "* ]]; do port="$(free_port)"; done
    export "SEMAPHORED_HA_PORT_${i}=${port}"
    HA_ADDRESSES+=("127.0.0.1:${port}")
  done
  HA_COMPOSE=("${COMPOSE[@]}" -p "${project}" -f "${REPO}/docker/compose-ha.yaml")
  COMPOSE_DOWN=("${HA_COMPOSE[@]}" down -v -t 30)
  log "compose-ha: up, servers on ${HA_ADDRESSES[*]}"
  start="$(now_ms)"
  timeout 180 "${HA_COMPOSE[@]}" up -d --no-build >"${LOG_DIR}/compose-ha-up.log" 2>&1 \
    || { cat "${LOG_DIR}/compose-ha-up.log" >&2; fail "compose-ha up failed"; }
  took_up="$(seconds_since "${start}")"
  start="$(now_ms)"
  for i in 1 2 3; do
    HA_CONTAINERS+=("$(compose_container "${project}" "semaphored-${i}")")
  done
  for i in 1 2 3; do
    wait_healthy "$(compose_container "${project}" "etcd-${i}")" 60
  done
  wait_ha_leader 60
  first="${LEADER}"
  log "compose-ha: up in ${took_up}s; 3 etcd members healthy and ${first} leads $(seconds_since "${start}")s later"

  ADDRESS="$(IFS=,; echo "${HA_ADDRESSES[*]}")"
  rm -f "${done_file}"
  # The job's command runs until the test says it is done (at most 2 minutes).
  # shellcheck disable=SC2016  # expanded by the job's shell
  start_holder "${TEST_NAME}" "${hlog}" --ttl=30s run "${TEST_NAME}" -- \
    timeout 120 sh -c 'until [ -e "$0" ]; do sleep 0.2; done' "${done_file}"
  before="$(ha_holder "${TEST_NAME}")"
  [[ -n "${before}" ]] || fail "no holder of ${TEST_NAME} before the failover"

  start="$(now_ms)"
  timeout 30 "${DOCKER}" kill "$(ha_container "${first}")" >/dev/null \
    || fail "docker kill of the leader failed"
  wait_ha_leader 30 "${first}"
  second="${LEADER}"
  log "compose-ha: docker kill of the leader ${first}: ${second} leads after $(seconds_since "${start}")s"
  wait_ha_resumed "${hlog}" 1 30
  after="$(ha_holder "${TEST_NAME}")"
  [[ "${after}" == "${before}" ]] \
    || fail "${TEST_NAME} held by '${after}' (session token) after the failover, not '${before}'"
  log "compose-ha: the semctl run job resumed its session on ${second} $(seconds_since "${start}")s after the kill and runs on; ${TEST_NAME} kept its holder and token (${before})"
  timeout 30 "${DOCKER}" start "$(ha_container "${first}")" >/dev/null \
    || fail "docker start of the killed server failed"
  wait_ha_standby "${first}" "${second}" 30
  log "compose-ha: the killed server, started again, is a standby naming ${second}"

  start="$(now_ms)"
  deposed="$(ha_container "${second}")"
  PAUSED="${deposed}"
  timeout 30 "${DOCKER}" pause "${deposed}" >/dev/null || fail "docker pause of the leader failed"
  wait_ha_leader 30 "${second}"
  timeout 30 "${DOCKER}" unpause "${deposed}" >/dev/null || fail "docker unpause failed"
  PAUSED=""
  log "compose-ha: docker pause of the leader ${second}: ${LEADER} leads after $(seconds_since "${start}")s"
  wait_ha_resumed "${hlog}" 2 30
  wait_ha_standby "${second}" "${LEADER}" 30
  [[ "$("${DOCKER}" inspect -f '{{.RestartCount}}' "${deposed}")" -ge 1 ]] \
    || fail "the paused leader, thawed, was not restarted by the restart policy"
  grep -q 'leadership lost.*exiting (5)' <<<"$("${DOCKER}" logs "${deposed}" 2>&1)" \
    || fail "the paused leader, thawed, did not exit 5 for leadership lost"
  after="$(ha_holder "${TEST_NAME}")"
  [[ "${after}" == "${before}" ]] \
    || fail "${TEST_NAME} held by '${after}' (session token) after the second failover, not '${before}'"
  log "compose-ha: thawed, ${second} exited 5 and was restarted as a standby; the job resumed on ${LEADER} with the same holder and token"

  touch "${done_file}"
  wait_exit "${HOLDER}" 20
  (( EXIT_CODE == 0 )) || fail "the semctl run job exited ${EXIT_CODE}, not 0: $(cat "${hlog}")"
  [[ -z "$(ha_holder "${TEST_NAME}")" ]] || fail "${TEST_NAME} still held after its job ended"
  check_nightly_report "${LOG_DIR}/compose-ha-job.log" "${HA_COMPOSE[@]}"
  log "compose-ha: the job ended and exited 0 (${TEST_NAME} free); nightly-report (host network, three addresses) exited 0"
  timeout 90 "${COMPOSE_DOWN[@]}" >/dev/null 2>&1 || fail "compose-ha down failed"
  COMPOSE_DOWN=()
}

ensure_semctl() {
  [[ -x "${SEMCTL}" ]] && return 0
  [[ -n "${SEMAPHORED_SEMCTL:-}" ]] && fail "SEMAPHORED_SEMCTL=${SEMCTL} is not executable"
  log "no host semctl at ${SEMCTL}; building it in ${BUILD_DIR}"
  bash "${REPO}/scripts/deps.sh" --no-buf
  configure_build "${BUILD_DIR}" >/dev/null
  build_targets "${BUILD_DIR}" semctl
  [[ -x "${SEMCTL}" ]] || fail "built semctl but found no ${SEMCTL}"
}

main() {
  local start name
  start="$(date +%s)"
  mkdir -p "${LOG_DIR}"
  ensure_semctl
  ensure_docker
  BASE="$(SEMAPHORED_DOCKER_LOG_DIR="${LOG_DIR}" bash "${REPO}/docker/base-image.sh")" \
    || fail "found or made no base image (see above)"
  build_image "${BASE}"
  check_image

  name="semaphored-test-$$"
  run_container "${name}"
  wait_healthy "${name}" 90
  ADDRESS="$(host_address "${name}" 50051)"
  log "server published at ${ADDRESS}"
  check_from_host
  check_admin_socket "${name}"
  check_metrics "$(host_address "${name}" 9090)"
  check_restart "${name}"
  check_drain "${name}"
  check_compose
  check_compose_ha

  log "passed in $(( $(date +%s) - start ))s"
}

main "$@"
