# Helpers for the shell-driven tests; source it, do not run it. Every wait is bounded.
#
#   fail MESSAGE...                 prints "FAIL: MESSAGE" and exits 1
#   start_server BINARY DIR [ARG...] starts semaphored on 127.0.0.1:0 with its port,
#                                   state and log files in DIR; sets SERVER_PID and
#                                   SERVER_PORT once the port file is written
#   stop_server                     SIGTERM, then waits up to 10 s for a clean exit;
#                                   returns the server's exit status
#   kill_server                     SIGKILL if still running (for traps)
#   json_get FILE PATH              prints a value from a JSON file; PATH is dotted,
#                                   list indexes are numbers ("state.holders.0.sessionId");
#                                   strings print raw, other values as JSON
#   expect_eq WHAT ACTUAL EXPECTED  fails unless equal
#   PYTHON                          the python3 to run helper scripts with

# Debian's python3 (scripts/deps.sh installs it) starts in milliseconds, where a
# version-manager shim earlier in PATH can take half a second per call.
if [[ -x /usr/bin/python3 ]]; then
  PYTHON=/usr/bin/python3
else
  PYTHON=python3
fi

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

SERVER_PID=""
SERVER_PORT=""
SERVER_LOG=""

start_server() {
  local binary="$1" dir="$2" i port
  shift 2
  SERVER_LOG="${dir}/server.log"
  "${binary}" --listen=127.0.0.1:0 --port_file="${dir}/port" \
    --state_file="${dir}/state" "$@" </dev/null 2>"${SERVER_LOG}" &
  SERVER_PID=$!
  for ((i = 0; i < 300; i++)); do  # up to 30 s
    port="$(cat "${dir}/port" 2>/dev/null || true)"
    port="${port##*:}"             # "PORT" or "HOST:PORT"
    port="${port//[[:space:]]/}"
    if [[ "${port}" =~ ^[1-9][0-9]*$ ]]; then
      SERVER_PORT="${port}"
      return 0
    fi
    if ! kill -0 "${SERVER_PID}" 2>/dev/null; then
      cat "${SERVER_LOG}" >&2
      SERVER_PID=""
      fail "semaphored exited before writing its port file"
    fi
    sleep 0.1
  done
  cat "${SERVER_LOG}" >&2
  fail "semaphored wrote no port to ${dir}/port within 30 s"
}

stop_server() {
  local i rc
  [[ -n "${SERVER_PID}" ]] || return 0
  kill -TERM "${SERVER_PID}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do  # up to 10 s
    if ! kill -0 "${SERVER_PID}" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  if kill -0 "${SERVER_PID}" 2>/dev/null; then
    kill -KILL "${SERVER_PID}" 2>/dev/null || true
    wait "${SERVER_PID}" 2>/dev/null
    SERVER_PID=""
    echo "semaphored did not exit within 10 s of SIGTERM" >&2
    return 1
  fi
  rc=0
  wait "${SERVER_PID}" || rc=$?
  SERVER_PID=""
  return "${rc}"
}

kill_server() {
  if [[ -n "${SERVER_PID}" ]]; then
    kill -KILL "${SERVER_PID}" 2>/dev/null || true
    wait "${SERVER_PID}" 2>/dev/null || true
    SERVER_PID=""
  fi
}

json_get() {
  "${PYTHON}" - "$1" "$2" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    try:
        value = value[int(key)] if isinstance(value, list) else value[key]
    except (KeyError, IndexError, ValueError, TypeError):
        sys.exit(f"json_get: no '{sys.argv[2]}' in {sys.argv[1]}: "
                 + open(sys.argv[1]).read())
print(value if isinstance(value, str) else json.dumps(value))
PY
}

expect_eq() {
  if [[ "$2" != "$3" ]]; then
    fail "$1: got '$2', want '$3'"
  fi
}
