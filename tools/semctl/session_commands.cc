// set, clear, test and wait-clear: one short-lived session each, on the public client
// library.
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <future>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "commands.h"
#include "session_util.h"
#include "signals.h"

namespace semaphored::semctl {

absl::StatusOr<std::unique_ptr<Client>> ConnectClient(const Options& o) {
  ClientOptions options;
  options.address = o.server;
  options.connect_timeout = o.timeout;
  options.client_name = o.client_name;
  options.tls = o.tls || !o.tls_ca.empty() || !o.tls_cert.empty() || !o.tls_key.empty();
  options.tls_ca_file = o.tls_ca;
  options.tls_cert_file = o.tls_cert;
  options.tls_key_file = o.tls_key;
  return Client::Connect(std::move(options));
}

absl::StatusOr<std::unique_ptr<Session>> OpenCliSession(Client& client,
                                                        const Options& o) {
  SessionOptions options;
  options.client_name = o.client_name;
  options.ttl = o.ttl;
  // A held semaphore outlives a server restart (with a data dir): say so on stderr,
  // so that an operator reading a job's log sees why it paused.
  options.on_session_interrupted = [](const absl::Status& why) {
    std::fprintf(stderr, "semctl: %s\n", std::string(why.message()).c_str());
  };
  options.on_session_resumed = [] { std::fprintf(stderr, "semctl: session resumed\n"); };
  return client.OpenSession(std::move(options));
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string InfoJson(const SemaphoreInfo& info) {
  std::string holders;
  for (const HolderInfo& h : info.holders) {
    absl::StrAppend(&holders, holders.empty() ? "" : ",", "{\"session_id\":",
                    JsonString(h.session_id), ",\"client_name\":",
                    JsonString(h.client_name), ",\"since\":\"", TimeText(h.since),
                    "\",\"permits\":", h.permits, ",\"fencing_token\":",
                    h.fencing_token, "}");
  }
  return absl::StrCat("{\"name\":", JsonString(info.name),
                      ",\"set\":", info.set ? "true" : "false", ",\"limit\":", info.limit,
                      ",\"permits_held\":", info.permits_held, ",\"waiter_count\":",
                      info.waiter_count, ",\"holder_count\":", info.holder_count,
                      ",\"holders\":[", holders, "]}");
}

std::string InfoText(const SemaphoreInfo& info) {
  if (!info.set) {
    return absl::StrCat(info.name, ": not set",
                        info.waiter_count > 0 ? absl::StrCat(", ", info.waiter_count, " waiting") : "");
  }
  std::string text = absl::StrCat(info.name, ": set, ", info.permits_held, "/", info.limit,
                                  " permits held, ", info.waiter_count, " waiting");
  for (const HolderInfo& h : info.holders) {
    absl::StrAppend(&text, "\n  held by ", h.client_name, " (session ", h.session_id,
                    ") since ", TimeText(h.since), ", ", h.permits,
                    " permit(s), fencing token ", h.fencing_token);
  }
  const int64_t unlisted = int64_t{info.holder_count} - info.holders.size();
  if (unlisted > 0) {
    absl::StrAppend(&text, "\n  and ", unlisted, " more holder(s) (`semctl list --prefix ",
                    info.name, "` lists them all)");
  }
  return text;
}

int NotAcquired(const Options& o, const std::string& name, const SemaphoreInfo& state) {
  if (o.json) {
    std::printf("{\"acquired\":false,\"state\":%s}\n", InfoJson(state).c_str());
  }
  std::string holder;
  if (!state.holders.empty()) {
    holder = absl::StrCat(" by ", state.holders[0].client_name, " (session ",
                          state.holders[0].session_id, ") since ",
                          TimeText(state.holders[0].since));
  }
  return Fail(kNotAcquired, absl::StrCat(name, " is already set", holder,
                                         o.wait_given && o.wait > absl::ZeroDuration()
                                             ? absl::StrCat(" (waited ", absl::FormatDuration(o.wait), ")")
                                             : ""));
}

int AcquireForCommand(const Options& o, const std::string& name, HeldName& held) {
  auto client = ConnectClient(o);
  if (!client.ok()) return FailWith(client.status());
  held.client = *std::move(client);
  auto session = OpenCliSession(*held.client, o);
  if (!session.ok()) return FailWith(session.status());
  held.session = *std::move(session);

  AcquireOptions options;
  options.limit = o.limit;
  options.permits = o.permits;
  options.timeout = o.wait;
  options.cancel = std::make_shared<CancelToken>();
  auto result = std::async(std::launch::async,
                           [&] { return held.session->Acquire(name, options); });
  int signal = 0;
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    int sig = WaitSignal(absl::Milliseconds(50));
    if (sig != 0 && sig != SIGCHLD && signal == 0) {
      signal = sig;
      options.cancel->Cancel();
    }
  }
  absl::StatusOr<Permit> permit = result.get();
  if (signal != 0) return Fail(128 + signal, "interrupted while waiting");
  if (!permit.ok()) return FailWith(permit.status());
  if (!permit->acquired()) return NotAcquired(o, name, permit->state());
  held.permit.emplace(*std::move(permit));
  return kOk;
}

namespace {

absl::Status NeedOneName(const Options& o) {
  if (o.args.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "`", o.command, "` takes exactly one NAME (see semctl ", o.command, " --help)"));
  }
  return CheckGlobalName(o.args[0]);
}

}  // namespace

// Holds the grant until a signal, or the grant is lost.
int SetCommand(const Options& o) {
  if (absl::Status s = NeedOneName(o); !s.ok()) return Fail(kUsage, std::string(s.message()));
  const std::string& name = o.args[0];
  HeldName held;
  if (int code = AcquireForCommand(o, name, held); code != kOk) return code;
  Permit& permit = *held.permit;
  if (o.json) {
    std::printf("{\"acquired\":true,\"name\":%s,\"fencing_token\":%llu,\"permits\":%d}\n",
                JsonString(name).c_str(),
                static_cast<unsigned long long>(permit.fencing_token()), permit.permits());
  } else {
    std::printf("set %s (fencing token %llu); holding until SIGINT/SIGTERM/SIGHUP\n",
                name.c_str(), static_cast<unsigned long long>(permit.fencing_token()));
  }
  std::fflush(stdout);
  while (permit.held()) {
    int sig = WaitSignal(absl::Milliseconds(100));
    if (sig != 0 && sig != SIGCHLD) {
      absl::Status released = permit.Release();
      (void)held.session->Close();
      return released.ok() ? kOk : FailWith(released);
    }
  }
  return Fail(kSessionLost, absl::StrCat("lost ", name, ": ", permit.status().message()));
}

int ClearCommand(const Options& o) {
  if (absl::Status s = NeedOneName(o); !s.ok()) return Fail(kUsage, std::string(s.message()));
  auto client = ConnectClient(o);
  if (!client.ok()) return FailWith(client.status());
  auto session = OpenCliSession(**client, o);
  if (!session.ok()) return FailWith(session.status());
  absl::Status cleared = (*session)->Clear(o.args[0]);
  if (cleared.ok()) return kOk;
  return Fail(ExitCodeFor(cleared),
              absl::StrCat(cleared.message(),
                           " (semctl's session is new, so it holds nothing: scripts use "
                           "`semctl run`; operators use `semctl force-clear`)"));
}

int TestCommand(const Options& o) {
  if (absl::Status s = NeedOneName(o); !s.ok()) return Fail(kUsage, std::string(s.message()));
  auto client = ConnectClient(o);
  if (!client.ok()) return FailWith(client.status());
  auto info = (*client)->Test(o.args[0]);
  if (!info.ok()) return FailWith(info.status());
  std::printf("%s\n", o.json ? InfoJson(*info).c_str() : InfoText(*info).c_str());
  return kOk;
}

int WaitClearCommand(const Options& o) {
  if (absl::Status s = NeedOneName(o); !s.ok()) return Fail(kUsage, std::string(s.message()));
  auto client = ConnectClient(o);
  if (!client.ok()) return FailWith(client.status());
  auto session = OpenCliSession(**client, o);
  if (!session.ok()) return FailWith(session.status());
  absl::Duration timeout = o.wait_given ? o.wait : absl::InfiniteDuration();
  auto cancel = std::make_shared<CancelToken>();
  auto result = std::async(std::launch::async, [&] {
    return (*session)->WaitClear(o.args[0], timeout, cancel);
  });
  int signal = 0;
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    int sig = WaitSignal(absl::Milliseconds(50));
    if (sig != 0 && sig != SIGCHLD && signal == 0) {
      signal = sig;
      cancel->Cancel();
    }
  }
  auto clear = result.get();
  if (signal != 0) return Fail(128 + signal, "interrupted while waiting");
  if (!clear.ok()) return FailWith(clear.status());
  if (!*clear) {
    return Fail(kNotAcquired, absl::StrCat(o.args[0], " is still set after ",
                                           absl::FormatDuration(timeout)));
  }
  return kOk;
}

}  // namespace semaphored::semctl
