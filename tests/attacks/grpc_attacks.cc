// The attacks that speak the server's own API: answer amplification, the hand-on,
// and the session and hold floods.

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/attacks/attacks.h"
#include "tests/attacks/grpc_util.h"
#include "tests/attacks/net_util.h"
#include "tests/attacks/tcp_forwarder.h"

namespace semaphored::testing {
namespace {

// The protocol allows at most 64 commands per StreamSessionRequest (semaphore.proto);
// a message with more ends the stream, so the attacks stay within it.
constexpr int kCommandsPerMessage = 64;

v1::SessionCommand SetCommand(uint64_t id, const std::string& name, bool wait) {
  v1::SessionCommand command;
  command.set_command_id(id);
  command.mutable_set()->set_name(name);
  if (wait) command.mutable_set()->set_wait_indefinitely(true);
  return command;
}

// Forwarders from 127.0.0.2, 127.0.0.3, ...: `hosts` peer hosts on loopback, so that
// legitimate-looking setup traffic does not all come from one peer.
std::vector<std::unique_ptr<TcpForwarder>> PeerHosts(const std::string& address,
                                                     int hosts) {
  std::vector<std::unique_ptr<TcpForwarder>> forwarders;
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port).ok()) return forwarders;
  for (int i = 0; i < hosts; ++i) {
    absl::StatusOr<std::unique_ptr<TcpForwarder>> f =
        TcpForwarder::Start(host, port, absl::StrCat("127.0.0.", 2 + i));
    if (f.ok()) forwarders.push_back(*std::move(f));
  }
  return forwarders;
}

// Sets `name` (limit `limit`) for every session in `secrets`, from `threads` threads;
// how many are held.
int64_t HoldAll(const std::string& address, const std::vector<std::string>& secrets,
                const std::string& name, int limit, absl::Time deadline,
                std::string* first_error) {
  constexpr int kThreads = 8;
  std::atomic<int64_t> held{0};
  absl::Mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::SemaphoreService::NewStub(OwnChannel(address));
      for (size_t i = t; i < secrets.size() && absl::Now() < deadline; i += kThreads) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(deadline));
        v1::SetSemaphoreRequest request;
        request.set_session_secret(secrets[i]);
        request.set_name(name);
        request.set_limit(limit);
        v1::SetSemaphoreResponse response;
        const grpc::Status status = stub->SetSemaphore(&context, request, &response);
        if (status.ok() && response.acquired()) {
          held.fetch_add(1);
        } else {
          absl::MutexLock lock(&mu);
          if (first_error->empty()) {
            *first_error = status.ok() ? "not acquired"
                                       : absl::StrCat(status.error_code(), ": ",
                                                      status.error_message());
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return held.load();
}

}  // namespace

// A client as any: a session, a ping on its stream, then quiet for `duration`
// (default 2 s). The control case: the server must pass every check after it.
AttackReport Control(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  Sessions sessions = CreateSessions({OwnChannel(target.grpc_address)}, 1, absl::Minutes(1),
                                     "control", 1, absl::Now() + absl::Seconds(5), 0, true);
  report.Add("sessions", static_cast<int64_t>(sessions.secrets.size()));
  if (sessions.secrets.empty()) return report;
  CountedStream stream(OwnChannel(target.grpc_address), sessions.secrets[0]);
  v1::StreamSessionRequest ping;
  v1::SessionCommand* command = ping.add_commands();
  command->set_command_id(1);
  command->mutable_ping();
  stream.Write(ping);
  stream.WaitFor([](const CountedStream::Counts& c) { return c.pings > 0; },
                 absl::Now() + absl::Seconds(5));
  report.Add("pings", stream.counts().pings);
  if (!stream.counts().first_error.empty()) report.Add("error", stream.counts().first_error);
  absl::SleepFor(options.duration);
  return report;
}

// count: holders (default 1,000); bytes: the size of the one message of `test`
// commands (default 48 KiB); duration: how long its answers are left unread.
AttackReport TestAmplification(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  const absl::Time setup_deadline = absl::Now() + absl::Seconds(30);
  // Holders come from ten peer hosts, as a busy deployment's clients would.
  std::vector<std::unique_ptr<TcpForwarder>> hosts = PeerHosts(target.grpc_address, 10);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const auto& h : hosts) channels.push_back(OwnChannel(h->address()));
  if (channels.empty()) channels.push_back(OwnChannel(target.grpc_address));
  const std::string client_name(64, 'c');
  Sessions holders = CreateSessions(channels, options.count, absl::Hours(1), client_name,
                                    64, setup_deadline, 0, true);
  std::string set_error;
  const int64_t held = HoldAll(target.grpc_address, holders.secrets, "amplified",
                               static_cast<int>(options.count), setup_deadline, &set_error);
  report.Add("holders", held);
  if (!set_error.empty()) report.Add("set_error", set_error);
  if (!holders.calls.first_error.empty()) report.Add("create_error", holders.calls.first_error);

  // The attacker: its own session, one message of `test` commands, never reading.
  Sessions attacker = CreateSessions({OwnChannel(target.grpc_address)}, 1, absl::Minutes(1),
                                     "attacker", 1, setup_deadline, 0, true);
  if (attacker.secrets.empty()) {
    report.Add("error", absl::StrCat("no attacker session: ", attacker.calls.first_error));
    return report;
  }
  v1::StreamSessionRequest message;
  for (uint64_t id = 1; message.ByteSizeLong() < static_cast<size_t>(options.bytes); ++id) {
    v1::SessionCommand* command = message.add_commands();
    command->set_command_id(id);
    command->mutable_test()->set_name("amplified");
  }
  message.set_session_secret(attacker.secrets[0]);
  report.Add("tests", static_cast<int64_t>(message.commands_size()));
  report.Add("message_bytes", static_cast<int64_t>(message.ByteSizeLong()));
  CountedStream stream(OwnChannel(target.grpc_address), attacker.secrets[0], /*read=*/false);
  report.Add("written", stream.Write(message) ? "yes" : "no");
  absl::SleepFor(options.duration);
  stream.Cancel();
  report.Add("stream_end", stream.counts().end_status);
  return report;
}

// count: N, the names A holds and B waits for (default 10,000: by default one session
// may queue at most 10,000 requests, --max_waiters_per_session); duration: the most the
// hand-on may take before the attack gives up waiting.
AttackReport HandOn(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  const absl::Time setup_deadline = absl::Now() + absl::Seconds(30);
  Sessions sessions = CreateSessions({OwnChannel(target.grpc_address)}, 2, absl::Minutes(2),
                                     "hand-on", 2, setup_deadline, 0, true);
  if (sessions.secrets.size() != 2) {
    report.Add("error", absl::StrCat("sessions: ", sessions.calls.first_error));
    return report;
  }
  const std::string& a_secret = sessions.secrets[0];
  CountedStream a(OwnChannel(target.grpc_address), a_secret);
  CountedStream b(OwnChannel(target.grpc_address), sessions.secrets[1]);
  const int64_t n = options.count;
  auto name = [](int64_t i) { return absl::StrFormat("hand-on-%07d", i); };

  // A sets every name.
  for (int64_t i = 0; i < n;) {
    v1::StreamSessionRequest message;
    for (int k = 0; k < kCommandsPerMessage && i < n; ++k, ++i) {
      *message.add_commands() = SetCommand(i + 1, name(i), false);
    }
    if (!a.Write(message)) break;
  }
  a.WaitFor([n](const CountedStream::Counts& c) { return c.events >= n; }, setup_deadline);
  const int64_t held = a.counts().acquired;
  report.Add("held", held);
  if (!a.counts().first_error.empty()) report.Add("a_error", a.counts().first_error);

  // B waits for each of them; a ping after the waits answers once all are queued.
  for (int64_t i = 0; i < n;) {
    v1::StreamSessionRequest message;
    for (int k = 0; k < kCommandsPerMessage && i < n; ++k, ++i) {
      *message.add_commands() = SetCommand(i + 1, name(i), true);
    }
    if (!b.Write(message)) break;
  }
  v1::StreamSessionRequest ping;
  v1::SessionCommand* command = ping.add_commands();
  command->set_command_id(n + 1);
  command->mutable_ping();
  b.Write(ping);
  b.WaitFor([](const CountedStream::Counts& c) { return c.pings > 0; }, setup_deadline);
  const CountedStream::Counts queued = b.counts();
  report.Add("waiting", n - queued.errors - queued.acquired - queued.not_acquired);
  if (!queued.first_error.empty()) report.Add("b_error", queued.first_error);

  // Another client meanwhile tests an unrelated name every 10 ms on a connection of
  // its own, made beforehand: how long the core keeps everyone else waiting.
  absl::Notification probe_stop;
  absl::Duration probe_max = absl::ZeroDuration();
  int64_t probes = 0;
  auto probe_stub = v1::SemaphoreService::NewStub(OwnChannel(target.grpc_address));
  auto test_once = [&] {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options.duration));
    v1::TestSemaphoreRequest request;
    request.set_name("hand-on-bystander");
    v1::TestSemaphoreResponse response;
    const absl::Time sent = absl::Now();
    probe_stub->TestSemaphore(&context, request, &response);
    return absl::Now() - sent;
  };
  test_once();  // connected
  std::thread prober([&] {
    while (!probe_stop.HasBeenNotified()) {
      probe_max = std::max(probe_max, test_once());
      ++probes;
      probe_stop.WaitForNotificationWithTimeout(absl::Milliseconds(10));
    }
  });

  // A closes: every name passes to B.
  const absl::Time start = absl::Now();
  {
    auto stub = v1::SemaphoreService::NewStub(OwnChannel(target.grpc_address));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(start + options.duration));
    v1::CloseSessionRequest close;
    close.set_session_secret(a_secret);
    v1::CloseSessionResponse closed;
    const grpc::Status status = stub->CloseSession(&context, close, &closed);
    report.Add("close", status.ok() ? "ok" : absl::StrCat(status.error_code()));
  }
  b.WaitFor([held](const CountedStream::Counts& c) { return c.acquired >= held; },
            start + options.duration);
  const absl::Duration hand_on = absl::Now() - start;
  probe_stop.Notify();
  prober.join();
  report.Add("granted", b.counts().acquired);
  report.Add("hand_on_ms", absl::ToInt64Milliseconds(hand_on));
  report.Add("bystander_tests", probes);
  report.Add("bystander_max_ms", absl::ToInt64Milliseconds(probe_max));
  return report;
}

// count: how many CreateSession calls (default 110,000: past the default
// --max_sessions of 100,000); duration: the most time (default 20 s); concurrency:
// calls in flight (default 256), over 4 connections.
AttackReport SessionFlood(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 4; ++i) channels.push_back(OwnChannel(target.grpc_address));
  const absl::Time start = absl::Now();
  // Each asks for the longest TTL a server allows by default (1 h).
  Sessions flood = CreateSessions(channels, options.count, absl::Hours(1), "flood",
                                  static_cast<int>(options.concurrency),
                                  start + options.duration, 0, false);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  report.Add("created", flood.calls.ok);
  report.Add("refused", flood.calls.resource_exhausted);
  report.Add("failed", flood.calls.other);
  report.Add("per_second", static_cast<int64_t>(flood.calls.ok / std::max(seconds, 0.001)));
  if (!flood.calls.first_error.empty()) report.Add("first_error", flood.calls.first_error);
  return report;
}

// duration: how long names are set (default 8 s); count: the most holds (default
// 2,000,000); concurrency: sessions of the one client (default 16), each on a stream.
AttackReport HoldFlood(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  const absl::Time deadline = absl::Now() + options.duration;
  Sessions sessions =
      CreateSessions({OwnChannel(target.grpc_address)}, options.concurrency, absl::Hours(1),
                     "hold-flood", 16, deadline, 0, true);
  report.Add("sessions", static_cast<int64_t>(sessions.secrets.size()));
  std::atomic<int64_t> budget{options.count};
  std::atomic<int64_t> held{0}, refused{0}, sent{0};
  absl::Mutex mu;
  std::string first_error;
  std::vector<std::thread> threads;
  for (size_t s = 0; s < sessions.secrets.size(); ++s) {
    threads.emplace_back([&, s] {
      CountedStream stream(OwnChannel(target.grpc_address), sessions.secrets[s]);
      int64_t written = 0;
      while (absl::Now() < deadline && budget.fetch_sub(kCommandsPerMessage) > 0) {
        // At most four messages unanswered: the server's pace, not our buffers.
        if (!stream.WaitFor(
                [&](const CountedStream::Counts& c) {
                  return c.events >= written - 3 * kCommandsPerMessage;
                },
                deadline)) {
          break;
        }
        if (stream.counts().resource_exhausted >= kCommandsPerMessage) break;  // refused
        v1::StreamSessionRequest message;
        for (int k = 0; k < kCommandsPerMessage; ++k, ++written) {
          *message.add_commands() =
              SetCommand(written + 1, absl::StrFormat("flood-%02d-%08d", s, written), false);
        }
        if (!stream.Write(message)) break;
        sent.fetch_add(kCommandsPerMessage);
      }
      stream.WaitFor([&](const CountedStream::Counts& c) { return c.events >= written; },
                     deadline + absl::Seconds(5));
      const CountedStream::Counts c = stream.counts();
      held.fetch_add(c.acquired);
      refused.fetch_add(c.resource_exhausted);
      absl::MutexLock lock(&mu);
      if (first_error.empty()) first_error = c.first_error;
      // Hold until every session has set its names: the server holds them all at once.
      stream.WaitFor([](const CountedStream::Counts&) { return false; }, deadline);
    });
  }
  for (std::thread& t : threads) t.join();
  report.Add("sent", sent.load());
  report.Add("held", held.load());
  report.Add("refused", refused.load());
  if (!first_error.empty()) report.Add("first_error", first_error);
  return report;
}

}  // namespace semaphored::testing
