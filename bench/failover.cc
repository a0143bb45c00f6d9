// W6: how fast a waiter gets a semaphore whose holder is gone: a frozen holder (no
// keepalive, connection open: bound by the TTL), a holder process killed with SIGKILL
// (its connection breaks), and a holder that closes its session cleanly.

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "workloads.h"

extern char** environ;

namespace semaphored::bench {
namespace {

namespace v1 = ::semaphored::v1;

// Acquires `name` on a new thread with `session`; Join() returns when it was granted.
class Waiter {
 public:
  Waiter(Session* session, std::string name, absl::Duration timeout) {
    thread_ = std::thread([this, session, name, timeout] {
      AcquireOptions options;
      options.timeout = timeout;
      absl::StatusOr<Permit> p = session->Acquire(name, options);
      granted_at_ = absl::Now();
      ok_ = p.ok() && p->acquired();
    });
  }
  // The grant time, or nullopt when the acquire failed.
  std::optional<absl::Time> Join() {
    thread_.join();
    return ok_ ? std::optional<absl::Time>(granted_at_) : std::nullopt;
  }

 private:
  std::thread thread_;
  absl::Time granted_at_;
  bool ok_ = false;
};

// Polls until `name` has a waiter (at most 5 s).
bool AwaitWaiter(Client& client, const std::string& name) {
  absl::Time end = absl::Now() + absl::Seconds(5);
  while (absl::Now() < end) {
    absl::StatusOr<SemaphoreInfo> info = client.Test(name);
    if (info.ok() && info->waiter_count > 0) return true;
    absl::SleepFor(absl::Microseconds(200));
  }
  return false;
}

absl::StatusOr<double> FrozenHolderMs(BenchContext& ctx, Session& waiter_session,
                                      absl::Duration ttl) {
  const std::string name = "bench/w6/frozen";
  auto stub = v1::SemaphoreService::NewStub(ctx.channel);
  grpc::ClientContext c1;
  v1::CreateSessionRequest create;
  create.set_client_name("bench-w6-frozen");
  create.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
  create.mutable_ttl()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(ttl % absl::Seconds(1))));
  v1::CreateSessionResponse session;
  grpc::Status s = stub->CreateSession(&c1, create, &session);
  if (!s.ok()) return absl::UnavailableError("CreateSession: " + s.error_message());
  grpc::ClientContext c2;
  v1::SetSemaphoreRequest set;
  set.set_session_secret(session.session_secret());
  set.set_name(name);
  v1::SetSemaphoreResponse set_response;
  s = stub->SetSemaphore(&c2, set, &set_response);
  absl::Time last_contact = absl::Now();
  if (!s.ok() || !set_response.acquired()) return absl::InternalError("frozen set failed");
  Waiter waiter(&waiter_session, name, ttl + absl::Seconds(5));
  std::optional<absl::Time> granted = waiter.Join();
  if (!granted) return absl::DeadlineExceededError("frozen holder: waiter not granted");
  return absl::ToDoubleMilliseconds(*granted - last_contact);
}

absl::StatusOr<double> KilledHolderMs(BenchContext& ctx, Session& waiter_session) {
  const std::string name = "bench/w6/killed";
  int out[2];
  if (pipe(out) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::string a1 = "--w6_child_holder=" + ctx.address;
  std::string a2 = "--w6_child_name=" + name;
  char* argv[] = {ctx.self_path.data(), a1.data(), a2.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, ctx.self_path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return absl::InternalError("posix_spawn failed");
  }
  pollfd pfd{out[0], POLLIN, 0};
  char buf[16] = {};
  bool held = poll(&pfd, 1, 10000) == 1 && read(out[0], buf, sizeof(buf) - 1) > 0 &&
              std::string(buf).rfind("held", 0) == 0;
  close(out[0]);
  std::optional<double> ms;
  if (held) {
    Waiter waiter(&waiter_session, name, absl::Seconds(10));
    bool queued = AwaitWaiter(*ctx.client, name);
    absl::Time killed_at = absl::Now();
    kill(pid, SIGKILL);
    std::optional<absl::Time> granted = waiter.Join();
    if (queued && granted) ms = absl::ToDoubleMilliseconds(*granted - killed_at);
  } else {
    kill(pid, SIGKILL);
  }
  waitpid(pid, nullptr, 0);
  if (!ms) return absl::InternalError("killed holder: child or waiter failed");
  return *ms;
}

absl::StatusOr<Samples> CleanCloseUs(BenchContext& ctx, Session& waiter_session,
                                     int repeats) {
  const std::string name = "bench/w6/close";
  Samples samples;
  for (int i = 0; i < repeats; ++i) {
    absl::StatusOr<std::unique_ptr<Session>> holder = ctx.client->OpenSession();
    if (!holder.ok()) return holder.status();
    absl::StatusOr<SetResult> set = (*holder)->Set(name);
    if (!set.ok() || !set->acquired) return absl::InternalError("clean close: set failed");
    Waiter waiter(&waiter_session, name, absl::Seconds(10));
    bool queued = AwaitWaiter(*ctx.client, name);
    absl::Time closed_at = absl::Now();
    (*holder)->Close().IgnoreError();
    std::optional<absl::Time> granted = waiter.Join();
    if (!queued || !granted) return absl::InternalError("clean close: waiter failed");
    samples.Add(*granted - closed_at);
    waiter_session.Clear(name).IgnoreError();
  }
  return samples;
}

}  // namespace

absl::Status RunW6(BenchContext& ctx, absl::Duration ttl, int close_repeats) {
  absl::StatusOr<std::unique_ptr<Session>> waiter = ctx.client->OpenSession();
  if (!waiter.ok()) return waiter.status();
  Report& r = *ctx.report;
  const Floor& f = ctx.floor;
  double ttl_ms = absl::ToDoubleMilliseconds(ttl);
  absl::StatusOr<double> frozen = FrozenHolderMs(ctx, **waiter, ttl);
  if (frozen.ok()) {
    r.Add({"W6", "frozen holder -> grant (since last contact)", *frozen, "ms",
           *frozen * 1e3 / f.rt_p50_us(), absl::StrFormat("<= TTL + 100 ms (%.0f ms)", ttl_ms + 100),
           *frozen <= ttl_ms + 100});
  } else {
    r.Note(absl::StrCat("W6 frozen holder failed: ", frozen.status().ToString()));
  }
  absl::StatusOr<double> killed = KilledHolderMs(ctx, **waiter);
  if (killed.ok()) {
    r.Add({"W6", "SIGKILLed holder process -> grant", *killed, "ms",
           *killed * 1e3 / f.rt_p50_us(), absl::StrFormat("<= TTL + 100 ms (%.0f ms)", ttl_ms + 100),
           *killed <= ttl_ms + 100});
  } else {
    r.Note(absl::StrCat("W6 killed holder failed: ", killed.status().ToString()));
  }
  absl::StatusOr<Samples> close = CleanCloseUs(ctx, **waiter, close_repeats);
  if (close.ok()) {
    double p50 = close->PercentileUs(50);
    r.Add({"W6", absl::StrCat("clean close -> grant p50 (", close_repeats, " runs)"), p50,
           "us", p50 / f.rt_p50_us(), "<= 2 x floor RT p50", p50 <= 2 * f.rt_p50_us()});
  } else {
    r.Note(absl::StrCat("W6 clean close failed: ", close.status().ToString()));
  }
  r.Note(absl::StrCat("W6: session TTL ", ttl_ms,
                      " ms; frozen = a unary session that never refreshes (connection kept); "
                      "killed = a child process holding via the library, SIGKILLed; clean "
                      "close = Session::Close() while a waiter is queued."));
  return (*waiter)->Close();
}

int RunChildHolder(const std::string& address, const std::string& name) {
  ClientOptions options;
  options.address = address;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  if (!client.ok()) return 2;
  absl::StatusOr<std::unique_ptr<Session>> session = (*client)->OpenSession();
  if (!session.ok()) return 2;
  absl::StatusOr<SetResult> set = (*session)->Set(name);
  if (!set.ok() || !set->acquired) return 2;
  if (write(STDOUT_FILENO, "held\n", 5) != 5) return 2;
  absl::SleepFor(absl::Seconds(60));  // until killed
  return 0;
}

}  // namespace semaphored::bench
