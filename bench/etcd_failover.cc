// Failover of semaphored on etcd: the leader is SIGKILLed while a session holds a
// semaphore; the clock runs until that session, resumed on the next leader, is granted.
//
// What bounds it: the dead leader's etcd lease keeps the leader key until it expires
// (--leader_lease_ttl), then a standby (polling every 250 ms) takes the key, loads the
// state from etcd and serves; the library, which has been retrying the servers of its
// list with a backoff, resumes the session there and re-sends the acquire.

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "etcd_bench.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "semaphored/v1/semaphore.grpc.pb.h"

namespace semaphored::bench {
namespace {

namespace v1 = ::semaphored::v1;

// How long one repetition may wait for the grant after the kill.
constexpr absl::Duration kGrantTimeout = absl::Seconds(30);
// The servers' --leader_lease_ttl when the benchmark does not give one (server/main.cc).
constexpr absl::Duration kServerDefaultLease = absl::Seconds(5);

// What one repetition saw.
struct Takeover {
  absl::Duration to_grant;                   // SIGKILL to the new grant
  std::optional<absl::Duration> to_leader;   // SIGKILL to the next leader's key
  std::optional<absl::Duration> to_serving;  // SIGKILL to the next leader's first Ping
  std::optional<absl::Duration> to_resumed;  // SIGKILL to on_session_resumed
  bool hold_kept = false;                    // the held semaphore, same token, after
  bool lost = false;                         // on_session_lost was called
  bool granted = false;                      // within kGrantTimeout
  std::string error;                         // why not
};

// The session's callbacks, seen from the measuring thread.
class SessionEvents {
 public:
  void Resumed() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!resumed_) resumed_ = absl::Now();
  }
  void Lost() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    lost_ = true;
  }
  std::optional<absl::Time> resumed() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return resumed_;
  }
  bool lost() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return lost_;
  }

 private:
  mutable absl::Mutex mu_;
  std::optional<absl::Time> resumed_ ABSL_GUARDED_BY(mu_);
  bool lost_ ABSL_GUARDED_BY(mu_) = false;
};

// Whether `address` answers a Ping before `deadline` (tried every 10 ms, each time on a
// new channel).
bool AwaitPing(const std::string& address, absl::Time deadline) {
  while (absl::Now() < deadline) {
    auto stub = v1::SemaphoreService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
    v1::PingResponse response;
    if (stub->Ping(&context, v1::PingRequest(), &response).ok()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

// One repetition: kills the current leader and times the takeover.
absl::StatusOr<Takeover> FailOnce(ServerGroup& group, int repetition, absl::Duration settle) {
  absl::StatusOr<ServerGroup::Leader> leader = group.AwaitLeader(absl::Seconds(30));
  if (!leader.ok()) return leader.status();
  ClientOptions client_options;
  client_options.address = group.addresses();
  client_options.client_name = "semaphored_bench-failover";
  client_options.connect_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(client_options);
  if (!client.ok()) return client.status();
  // The library's and the server's default session TTL.
  SessionEvents events;
  SessionOptions session_options;
  session_options.on_session_resumed = [&events] { events.Resumed(); };
  session_options.on_session_lost = [&events](const absl::Status&) { events.Lost(); };
  absl::StatusOr<std::unique_ptr<Session>> session = (*client)->OpenSession(session_options);
  if (!session.ok()) return session.status();
  const std::string held = absl::StrCat("bench/failover/", repetition, "/held");
  absl::StatusOr<Permit> permit = (*session)->Acquire(held);
  if (!permit.ok()) return permit.status();
  const uint64_t token = permit->fencing_token();

  const absl::Time killed = absl::Now();
  group.Kill(leader->index);
  // Meanwhile, when the next leader's key appears in etcd, and when that server
  // answers a Ping (a new channel each time: no reconnect backoff), polled every 10 ms.
  std::optional<absl::Duration> to_leader, to_serving;
  std::thread election([&group, &to_leader, &to_serving, killed, old = leader->revision] {
    absl::StatusOr<ServerGroup::Leader> next = group.AwaitLeader(kGrantTimeout, old);
    if (!next.ok()) return;
    to_leader = absl::Now() - killed;
    if (AwaitPing(group.address(next->index), killed + kGrantTimeout)) {
      to_serving = absl::Now() - killed;
    }
  });
  // Calls made while the session is interrupted wait for the resume; one that fails
  // (UNAVAILABLE while no server leads) is made again, until kGrantTimeout.
  AcquireOptions wait;
  wait.timeout = kGrantTimeout;
  const std::string probe = absl::StrCat("bench/failover/", repetition, "/probe");
  absl::StatusOr<Permit> granted = absl::UnavailableError("not tried");
  while (absl::Now() - killed < kGrantTimeout && !events.lost()) {
    granted = (*session)->Acquire(probe, wait);
    if (granted.ok() && granted->acquired()) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  Takeover t;
  t.to_grant = absl::Now() - killed;
  t.lost = events.lost();
  election.join();
  t.to_leader = to_leader;
  t.to_serving = to_serving;
  t.granted = granted.ok() && granted->acquired();
  if (!t.granted) {
    t.error = absl::StrCat("run ", repetition, ": no grant within ",
                           absl::FormatDuration(kGrantTimeout),
                           t.lost ? " (the session was lost)" : "", "; last: ",
                           granted.status().ToString());
  } else {
    if (std::optional<absl::Time> resumed = events.resumed()) t.to_resumed = *resumed - killed;
    absl::StatusOr<SemaphoreInfo> info = (*client)->Test(held);
    t.hold_kept = info.ok() && info->holders.size() == 1 &&
                  info->holders[0].fencing_token == token;
    *granted = Permit();
    *permit = Permit();
    (*session)->Close().IgnoreError();
  }
  // The group's supervisor has started the killed server again (a standby); the next
  // kill comes one lease and a second (`settle`) later.
  absl::SleepFor(settle);
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

absl::Status RunEtcdFailover(const BenchContext& ctx, ServerGroup& group, int repeats,
                             const std::string& lease) {
  absl::Duration lease_ttl = kServerDefaultLease;
  if (!lease.empty() && !absl::ParseDuration(lease, &lease_ttl)) {
    return absl::InvalidArgumentError(absl::StrCat("not a duration: ", lease));
  }
  const ServerGroup::Exits before = group.exits();
  std::vector<double> grant_ms, resumed_ms, leader_ms, serving_ms;
  int kept = 0, lost = 0, failed = 0;
  absl::Status error;
  const std::string label = "failover etcd";
  for (int i = 0; i < repeats; ++i) {
    const absl::Duration settle =
        i + 1 < repeats ? lease_ttl + absl::Seconds(1) : absl::ZeroDuration();
    absl::StatusOr<Takeover> t = FailOnce(group, i, settle);
    if (!t.ok()) {  // the servers are not as they should be: the next runs would not be
      error = t.status();
      break;
    }
    lost += t->lost;
    if (t->to_leader) leader_ms.push_back(absl::ToDoubleMilliseconds(*t->to_leader));
    if (t->to_serving) serving_ms.push_back(absl::ToDoubleMilliseconds(*t->to_serving));
    if (!t->granted) {
      ++failed;
      ctx.report->Note(absl::StrCat(label, ": ", t->error));
      std::cerr << "failover " << i << ": " << t->error << "\n";
      continue;
    }
    grant_ms.push_back(absl::ToDoubleMilliseconds(t->to_grant));
    if (t->to_resumed) resumed_ms.push_back(absl::ToDoubleMilliseconds(*t->to_resumed));
    kept += t->hold_kept;
    std::cerr << "failover " << i << ": " << grant_ms.back() << " ms\n";
  }
  if (grant_ms.empty() && failed == 0) return error;
  const int n = static_cast<int>(grant_ms.size());
  const std::string with = lease.empty() ? "default lease" : "lease " + lease;
  Report& r = *ctx.report;
  const int runs = n + failed;
  r.Add({label, "runs granted within 30 s", static_cast<double>(n), "", std::nullopt,
         absl::StrCat("== ", runs), n == runs});
  if (n > 0) {
    const double median = Median(grant_ms);
    r.Add({label, absl::StrCat("SIGKILL to grant, median (", n, " runs, ", with, ")"),
           median, "ms", std::nullopt, "<= 3000 ms", median <= 3000});
    r.Add({label, "SIGKILL to grant, min", *std::min_element(grant_ms.begin(), grant_ms.end()),
           "ms", std::nullopt, "", {}});
    r.Add({label, "SIGKILL to grant, max", *std::max_element(grant_ms.begin(), grant_ms.end()),
           "ms", std::nullopt, "", {}});
  }
  if (!leader_ms.empty()) {
    r.Add({label, "SIGKILL to the next leader's key, median", Median(leader_ms), "ms",
           std::nullopt, "", {}});
  }
  if (!serving_ms.empty()) {
    r.Add({label, "SIGKILL to the next leader answering a Ping, median", Median(serving_ms),
           "ms", std::nullopt, "", {}});
  }
  if (!resumed_ms.empty()) {
    r.Add({label, "SIGKILL to session resumed, median", Median(resumed_ms), "ms",
           std::nullopt, "", {}});
  }
  r.Add({label, "holds kept (same fencing token)", static_cast<double>(kept), "",
         std::nullopt, absl::StrCat("== ", n), kept == n});
  r.Add({label, "sessions lost", static_cast<double>(lost), "", std::nullopt, "== 0",
         lost == 0});
  const ServerGroup::Exits after = group.exits();
  const int lease_lost = after.lease_lost - before.lease_lost;
  r.Add({label, "leaders that exited on losing their lease (code 5)",
         static_cast<double>(lease_lost), "", std::nullopt, "== 0", lease_lost == 0});
  r.Note(absl::StrCat(
      label, ": ", group.size(), " semaphored processes on the etcd cluster, ", with,
      "; each run a session (the library given every server's address, default session "
      "TTL) holds a semaphore, the leader is SIGKILLed, and the clock runs until the same "
      "session is granted another semaphore by the next leader; the benchmark restarts "
      "every server that exits or is killed within 20 ms, as a supervisor would, and "
      "kills the next leader one lease and a second later. The dead leader's key lives "
      "until its lease expires: between the lease less the keepalive interval (a third "
      "of it) and the whole lease after the kill"));
  if (!error.ok()) {
    r.Note(absl::StrCat(label, ": stopped after ", runs, " runs: ", error.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace semaphored::bench
