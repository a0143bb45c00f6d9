#ifndef SEMAPHORED_TESTS_ENGINE_STORE_WORKLOAD_H_
#define SEMAPHORED_TESTS_ENGINE_STORE_WORKLOAD_H_

// For the durability tests: a random workload on a Core with a store (every
// operation, waits with and without timeouts, cancels, expiries, admin operations;
// half the sets, clears and waits sequenced, some of them re-sent, some outcomes
// acknowledged), committing at random points. Single-threaded and deterministic for a seed.

#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/core.h"

namespace semaphored::internal {

struct WorkloadStats {
  int asked = 0;     // set and wait-for-clear requests made
  int answered = 0;  // their answers given so far (a request is answered once)
};

// Runs `steps` random operations on `core`. `stats` must outlive the core (the
// callbacks of requests still queued count into it when they are answered).
inline void RunStoreWorkload(engine::Core& core, FakeClock& clock, uint64_t seed,
                             int steps, WorkloadStats& stats) {
  using engine::NewSession;
  using engine::SetArgs;
  using engine::SetOutcome;
  using engine::WaitClearArgs;
  using engine::WaitClearOutcome;
  using engine::WaiterId;
  std::mt19937_64 rng(seed);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  auto name = [&] { return absl::StrCat("n", pick(6)); };
  std::vector<SessionId> sessions;
  std::vector<WaiterId> waiters;
  auto session = [&] {
    return sessions.empty() ? SessionId{1} : sessions[pick(sessions.size())];
  };
  // The last seq given per session: a command is unsequenced, new, or a re-send of
  // an earlier seq (answered with its first answer, or refused).
  std::map<SessionId, uint64_t> last_seq;
  auto seq_for = [&](SessionId s) -> uint64_t {
    if (pick(2) == 0) return 0;
    uint64_t& last = last_seq[s];
    if (last > 0 && pick(4) == 0) return 1 + pick(last);
    return ++last;
  };

  for (int step = 0; step < steps; ++step) {
    switch (pick(12)) {
      case 0: {
        absl::StatusOr<NewSession> s =
            core.CreateSession("c", absl::Seconds(static_cast<int64_t>(5 + pick(15))));
        if (s.ok()) sessions.push_back(s->id);
        break;
      }
      case 1:
        if (!sessions.empty()) {
          const size_t i = pick(sessions.size());
          core.CloseSession(sessions[i]).IgnoreError();
          sessions.erase(sessions.begin() + static_cast<std::ptrdiff_t>(i));
        }
        break;
      case 2:
      case 3:
      case 4: {
        SetArgs args;
        args.name = name();
        args.permits = static_cast<int32_t>(1 + pick(2));
        if (pick(3) == 0) args.limit = static_cast<int32_t>(1 + pick(3));
        const absl::Duration timeouts[] = {absl::ZeroDuration(), absl::Seconds(1),
                                           absl::Seconds(5), absl::InfiniteDuration()};
        args.wait.timeout = timeouts[pick(4)];
        ++stats.asked;
        const SessionId s = session();
        args.seq = seq_for(s);
        const WaiterId w = core.Set(s, std::move(args),
                                    [&stats](absl::StatusOr<SetOutcome>) { ++stats.answered; });
        if (w != 0) waiters.push_back(w);
        break;
      }
      case 5:
      case 6: {
        // Drawn one by one: the order of a call's arguments differs between compilers.
        const SessionId s = session();
        const std::string n = name();
        const uint64_t seq = seq_for(s);
        core.Clear(s, n, seq).IgnoreError();
        break;
      }
      case 7: {
        WaitClearArgs args;
        args.name = name();
        args.wait.timeout = pick(2) == 0 ? absl::Seconds(2) : absl::InfiniteDuration();
        ++stats.asked;
        const SessionId s = session();
        args.seq = seq_for(s);
        const WaiterId w =
            core.WaitClear(s, std::move(args),
                           [&stats](absl::StatusOr<WaitClearOutcome>) { ++stats.answered; });
        if (w != 0) waiters.push_back(w);
        break;
      }
      case 8:
        if (!waiters.empty()) core.Cancel(waiters[pick(waiters.size())]);
        break;
      case 9:
        clock.Advance(absl::Milliseconds(static_cast<int64_t>(100 + pick(1000))));
        for (int i = 0; i < 100 && core.NextDeadline() <= clock.Now(); ++i) core.Tick();
        break;
      case 10: {
        const SessionId s = session();
        core.Refresh(s).IgnoreError();
        if (const uint64_t last = last_seq[s]; last > 0) {
          std::vector<uint64_t> acked;
          for (int i = 0; i < 3; ++i) acked.push_back(1 + pick(last));
          core.Acknowledge(s, acked);
        }
        break;
      }
      case 11:
        if (pick(8) == 0) core.ForceClear(name(), "test").IgnoreError();
        if (pick(8) == 0) core.EndSession(session(), "test").IgnoreError();
        core.CommitBatch();
        break;
    }
  }
}

}  // namespace semaphored::internal

#endif  // SEMAPHORED_TESTS_ENGINE_STORE_WORKLOAD_H_
