// semctl's command line: parsing, help texts, exit codes and error reporting.

#include "cli.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace semaphored::semctl {

namespace {

constexpr char kExitCodes[] =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  not acquired: already set / timed out; wait-clear timed out; health not\n"
    "     SERVING (draining, or a standby that cannot reach etcd)\n"
    "  2  usage error (bad option, missing argument, invalid name or value)\n"
    "  3  cannot connect / server unavailable (or shutting down)\n"
    "  4  not permitted (PERMISSION_DENIED or UNAUTHENTICATED)\n"
    "  5  not found\n"
    "  6  session lost (or semaphore force-cleared) while set/run held it\n"
    "  7  other error\n"
    "  run: otherwise the command's own exit code (128+N if it died of signal N)\n";

constexpr char kGlobal[] =
    "Global options (before or after the subcommand):\n"
    "  --server=HOST:PORT   server address (default $SEMAPHORED_SERVER, else\n"
    "                       127.0.0.1:50051)\n"
    "  --timeout=D          how long to wait for the connection (default 5s)\n"
    "  --tls                use TLS; --tls_ca=FILE (PEM roots, default system),\n"
    "                       --tls_cert=FILE --tls_key=FILE (client cert, mTLS);\n"
    "                       defaults $SEMCTL_TLS=1, $SEMCTL_TLS_CA, $SEMCTL_TLS_CERT,\n"
    "                       $SEMCTL_TLS_KEY (any of the files implies TLS)\n"
    "  --client_name=NAME   session's client name (default HOST/PID)\n"
    "  --ttl=D              session TTL (default: the server's)\n"
    "  --admin_token=T      bearer token for admin commands over TCP (default\n"
    "                       $SEMAPHORED_ADMIN_TOKEN)\n"
    "  --admin_socket=PATH  the server's admin socket, for admin commands without a\n"
    "                       token (default $SEMAPHORED_ADMIN_SOCKET, else \"auto\":\n"
    "                       when --server is on this machine, the server's default\n"
    "                       socket for its port if it exists; \"off\": TCP only)\n"
    "  --json               one JSON document on stdout\n"
    "Durations: 500ms, 10s, 2m, 1h (a bare number is seconds).\n";

struct Help {
  const char* command;
  const char* text;
};

constexpr Help kHelps[] = {
    {"set",
     "semctl set NAME [--wait D | --wait-forever] [--limit N] [--permits N]\n"
     "  Sets NAME and HOLDS it while semctl runs: prints the grant, then waits for\n"
     "  SIGINT/SIGTERM/SIGHUP and releases (exit 0). A semaphore belongs to its\n"
     "  session, and semctl's session ends with the process, so a set cannot outlive\n"
     "  semctl. For scripts prefer `semctl run NAME -- COMMAND`. Exits 1 when not\n"
     "  acquired, 6 if the session is lost or the semaphore force-cleared.\n"},
    {"clear",
     "semctl clear NAME\n"
     "  Clears NAME if this semctl's session holds it - which never happens, since\n"
     "  every semctl process has its own new session: it reports 5 (not set) or 4\n"
     "  (set by another session). Scripts use `run` (release is automatic); an\n"
     "  operator uses `force-clear`.\n"},
    {"test",
     "semctl test NAME\n"
     "  Shows whether NAME is set, by whom, since when, the limit and the waiters.\n"
     "  Exit 0 either way (use --json to read it).\n"},
    {"wait-clear",
     "semctl wait-clear NAME [--wait D | --wait-forever]\n"
     "  Waits until NAME is not set, without setting it (default: forever).\n"
     "  Exit 0 when clear, 1 when the wait timed out.\n"},
    {"list",
     "semctl list [--prefix P] [--page-size N]\n"
     "  Admin: every semaphore (holders and waiters), following all pages.\n"
     "  Admin commands use the server's admin socket when it is on this machine\n"
     "  (as root or the server's user: no token needed), else TCP with the token.\n"},
    {"sessions", "semctl sessions\n  Admin: every session.\n"},
    {"force-clear",
     "semctl force-clear NAME --reason R\n"
     "  Admin: clears NAME whoever holds it (logged; the holder is told R; the next\n"
     "  waiter is granted). Exit 5 when NAME is not set.\n"},
    {"drain",
     "semctl drain [--reason R]\n"
     "  Admin: the server stops accepting work, wakes its waiters, tells holders,\n"
     "  and exits.\n"},
    {"cluster",
     "semctl cluster\n"
     "  Admin: the servers sharing the state (address, role, start time; leader\n"
     "  first) and each etcd endpoint's health (member id, Raft role, version, db\n"
     "  size, or why it is unreachable), as the server asked sees them; any server\n"
     "  answers, a standby too. A server without etcd shows itself as the leader:\n"
     "  \"single server, no etcd\".\n"},
    {"health",
     "semctl health\n"
     "  grpc.health.v1 Check of the server, with its role: \"SERVING leader\",\n"
     "  \"SERVING standby (leader at HOST:PORT)\", \"SERVING single server (no etcd)\",\n"
     "  \"NOT_SERVING etcd unreachable: ...\" (a standby cut off from etcd), or\n"
     "  NOT_SERVING while draining. Exit 0 only when SERVING (1 otherwise, 3 when it\n"
     "  cannot be reached).\n"},
    {"run",
     "semctl run NAME [--wait D | --wait-forever] [--limit N] [--permits N]\n"
     "          [--grace D] -- COMMAND [ARG...]\n"
     "  Sets NAME, runs COMMAND while holding it (keeping the session alive), and\n"
     "  releases it when COMMAND ends; exits with COMMAND's code. SIGINT/SIGTERM/\n"
     "  SIGHUP to semctl are forwarded to COMMAND (SIGKILL after --grace, default\n"
     "  5s), then NAME is released. If the session is lost or NAME is force-cleared\n"
     "  while COMMAND runs, COMMAND is stopped (SIGTERM, SIGKILL after --grace) and\n"
     "  semctl exits 6. Exit 1 when NAME could not be set within --wait (default 0:\n"
     "  try once).\n"},
};

absl::StatusOr<absl::Duration> ParseDurationArg(const std::string& flag,
                                                const std::string& value) {
  absl::Duration d;
  double seconds = 0;
  if (absl::SimpleAtod(value, &seconds) && seconds >= 0) return absl::Seconds(seconds);
  if (absl::ParseDuration(value, &d) && d >= absl::ZeroDuration()) return d;
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": \"", value, "\" is not a duration (e.g. 10s, 500ms)"));
}

absl::StatusOr<int32_t> ParseIntArg(const std::string& flag, const std::string& value) {
  int32_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": \"", value, "\" is not a non-negative number"));
  }
  return n;
}

// Applies one "--flag[=value]" option; `next` yields the following argument when the
// flag takes a value and none was attached.
absl::Status ApplyOption(const std::string& flag, std::optional<std::string> value,
                         int& i, int argc, char** argv, Options& o) {
  static const char* kBool[] = {"json", "tls", "wait-forever", "help"};
  for (const char* b : kBool) {
    if (flag != b) continue;
    if (value) return absl::InvalidArgumentError(absl::StrCat("--", flag, " takes no value"));
    if (flag == "json") o.json = true;
    if (flag == "tls") o.tls = true;
    if (flag == "help") o.help = true;
    if (flag == "wait-forever") {
      o.wait = absl::InfiniteDuration();
      o.wait_given = true;
    }
    return absl::OkStatus();
  }
  if (!value) {
    if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("--", flag, " needs a value"));
    value = argv[++i];
  }
  const std::string& v = *value;
  auto duration = [&](absl::Duration& out) -> absl::Status {
    auto d = ParseDurationArg(flag, v);
    if (!d.ok()) return d.status();
    out = *d;
    return absl::OkStatus();
  };
  auto integer = [&](auto setter) -> absl::Status {
    auto n = ParseIntArg(flag, v);
    if (!n.ok()) return n.status();
    setter(*n);
    return absl::OkStatus();
  };
  if (flag == "server") { o.server = v; return absl::OkStatus(); }
  if (flag == "timeout") return duration(o.timeout);
  if (flag == "tls_ca") { o.tls_ca = v; return absl::OkStatus(); }
  if (flag == "tls_cert") { o.tls_cert = v; return absl::OkStatus(); }
  if (flag == "tls_key") { o.tls_key = v; return absl::OkStatus(); }
  if (flag == "client_name") { o.client_name = v; return absl::OkStatus(); }
  if (flag == "ttl") return duration(o.ttl);
  if (flag == "admin_token") { o.admin_token = v; return absl::OkStatus(); }
  if (flag == "admin_socket") { o.admin_socket = v; return absl::OkStatus(); }
  if (flag == "wait") { o.wait_given = true; return duration(o.wait); }
  if (flag == "grace") return duration(o.grace);
  if (flag == "limit") return integer([&](int32_t n) { o.limit = n; });
  if (flag == "permits") return integer([&](int32_t n) { o.permits = n; });
  if (flag == "page-size" || flag == "page_size") {
    return integer([&](int32_t n) { o.page_size = n; });
  }
  if (flag == "prefix") { o.prefix = v; return absl::OkStatus(); }
  if (flag == "reason") { o.reason = v; return absl::OkStatus(); }
  return absl::InvalidArgumentError(absl::StrCat("unknown option --", flag));
}

}  // namespace

absl::Status ParseCommandLine(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) o.argv.push_back(argv[i]);
      break;
    }
    if (arg == "-h") arg = "--help";
    if (absl::StartsWith(arg, "--")) {
      std::string flag = arg.substr(2);
      std::optional<std::string> value;
      if (size_t eq = flag.find('='); eq != std::string::npos) {
        value = flag.substr(eq + 1);
        flag.resize(eq);
      }
      if (absl::Status s = ApplyOption(flag, value, i, argc, argv, o); !s.ok()) return s;
    } else if (o.command.empty()) {
      o.command = arg;
    } else {
      o.args.push_back(arg);
    }
  }
  if (o.server.empty()) {
    const char* env = std::getenv("SEMAPHORED_SERVER");
    o.server = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  }
  // Each setting not given as a flag may come from the environment.
  const std::pair<const char*, std::string*> from_env[] = {
      {"SEMAPHORED_ADMIN_TOKEN", &o.admin_token},
      {"SEMAPHORED_ADMIN_SOCKET", &o.admin_socket},
      {"SEMCTL_TLS_CA", &o.tls_ca},
      {"SEMCTL_TLS_CERT", &o.tls_cert},
      {"SEMCTL_TLS_KEY", &o.tls_key},
  };
  for (const auto& [name, value] : from_env) {
    const char* env = std::getenv(name);
    if (value->empty() && env != nullptr) *value = env;
  }
  if (const char* env = std::getenv("SEMCTL_TLS"); env != nullptr && *env != '\0') {
    o.tls = o.tls || std::string_view(env) != "0";
  }
  if (o.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout must be positive");
  }
  return absl::OkStatus();
}

std::string HelpText(const std::string& command) {
  for (const Help& h : kHelps) {
    if (command == h.command) return absl::StrCat("Usage: ", h.text, "\n", kGlobal, "\n", kExitCodes);
  }
  std::string text =
      "semctl - command-line client of semaphored (global semaphores)\n\n"
      "Usage: semctl [GLOBAL OPTIONS] SUBCOMMAND [ARGS] [OPTIONS]\n"
      "       semctl SUBCOMMAND --help\n\nSubcommands:\n";
  for (const Help& h : kHelps) absl::StrAppend(&text, "  ", h.text, "\n");
  absl::StrAppend(&text, "\n", kGlobal, "\n", kExitCodes);
  return text;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "semctl: %s\n", message.c_str());
  return code;
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return kOk;
    case absl::StatusCode::kInvalidArgument: return kUsage;
    case absl::StatusCode::kUnavailable: return kCannotConnect;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated: return kNotPermitted;
    case absl::StatusCode::kNotFound: return kNotFound;
    case absl::StatusCode::kDeadlineExceeded: return kNotAcquired;
    default: return kOtherError;
  }
}

int FailWith(const absl::Status& status) {
  return Fail(ExitCodeFor(status), std::string(status.message()));
}

absl::Status CheckGlobalName(const std::string& name) {
  if (!name.empty() && name[0] == '$') {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name, "\" is a local ('$') name, private to one process; semctl works on "
        "the server's global semaphores"));
  }
  return absl::OkStatus();
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace semaphored::semctl
