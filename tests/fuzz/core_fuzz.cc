// Fuzzes the server core with random operation sequences on a fake clock. After every
// step it checks the core's own invariants and compares the core with an independent
// model of who holds what (built only from the answers the core gave); at the end it
// drains and checks that every request got exactly one answer. Sets, clears and
// waits of a session are sequenced (see Core's "At most once"), and every fifth step
// also re-sends its session's last sequenced command: the re-send must be answered at
// once with the first answer (or "still pending" before it), and change nothing.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/core.h"
#include "engine/counter_token_source.h"
#include "tests/fuzz/byte_reader.h"
#include "tests/fuzz/fuzz_check.h"

namespace semaphored::internal {

using engine::Core;
using engine::CoreOptions;
using engine::CounterTokenSource;
using engine::HolderSnapshot;
using engine::SemaphoreSnapshot;
using engine::SessionObserver;
using engine::SetArgs;
using engine::SetOutcome;
using engine::WaitClearOutcome;
using engine::WaiterId;

namespace {

using ::semaphored::fuzz::ByteReader;

constexpr const char* kNames[] = {"a", "b", "c"};
constexpr const char* kPeers[] = {"127.0.0.1", "::1"};
constexpr int kSlots = 4;

// The first answer of a sequenced command, as its re-send must repeat it.
struct FirstAnswer {
  bool answered = false;
  absl::StatusCode code = absl::StatusCode::kOk;
  bool yes = false;  // acquired / clear
  uint64_t token = 0;
  int32_t released = 0;
};

// A session's last sequenced command, for re-sending it as it was.
struct Sent {
  enum Kind { kSet, kClear, kWaitClear } kind = kSet;
  SetArgs set;
  engine::WaitClearArgs wait_clear;
  std::string name;  // kClear
  uint64_t seq = 0;
  std::shared_ptr<FirstAnswer> first;
};

void CheckResend(const Core& core, const FirstAnswer& first, absl::StatusCode code, bool yes,
                 uint64_t token, int32_t released) {
  // An ended session's commands, and a draining core's, keep nothing.
  if (code == absl::StatusCode::kUnauthenticated || core.draining()) return;
  if (!first.answered) {
    FUZZ_CHECK(code == absl::StatusCode::kFailedPrecondition,
               "re-send of a pending command answered with code %d", static_cast<int>(code));
    return;
  }
  FUZZ_CHECK(code == first.code && yes == first.yes && token == first.token &&
                 released == first.released,
             "re-send answered code %d yes %d token %llu released %d; first: code %d yes %d "
             "token %llu released %d",
             static_cast<int>(code), yes, static_cast<unsigned long long>(token), released,
             static_cast<int>(first.code), first.yes,
             static_cast<unsigned long long>(first.token), first.released);
}

struct Model;

class ModelObserver : public SessionObserver {
 public:
  ModelObserver(Model* model, SessionId id) : model_(model), id_(id) {}
  void OnSessionEnded(const absl::Status& reason) override;
  void OnRevoked(const std::string& name, uint64_t token, const std::string& reason) override;

 private:
  Model* model_;
  SessionId id_;
};

struct Model {
  // name -> session -> permits held, as told by the core's answers.
  std::map<std::string, std::map<SessionId, int32_t>> held;
  std::set<WaiterId> outstanding;
  std::set<SessionId> ended;
  uint64_t last_token = 0;
  int64_t answers = 0;

  void Granted(SessionId s, const std::string& name, const SetOutcome& out) {
    if (out.already_held) {
      FUZZ_CHECK(held[name].count(s) == 1, "already_held but model has no holder %s",
                 name.c_str());
      return;
    }
    FUZZ_CHECK(out.grant.fencing_token > last_token, "token did not increase");
    last_token = out.grant.fencing_token;
    FUZZ_CHECK(held[name].count(s) == 0, "granted twice to one session on %s", name.c_str());
    FUZZ_CHECK(ended.count(s) == 0, "granted to an ended session");
    held[name][s] = out.grant.permits;
  }
  void Released(SessionId s, const std::string& name) {
    held[name].erase(s);
    if (held[name].empty()) held.erase(name);
  }
  void SessionEnded(SessionId s) {
    ended.insert(s);
    for (auto it = held.begin(); it != held.end();) {
      it->second.erase(s);
      it = it->second.empty() ? held.erase(it) : std::next(it);
    }
  }
};

void ModelObserver::OnSessionEnded(const absl::Status&) { model_->SessionEnded(id_); }
void ModelObserver::OnRevoked(const std::string& name, uint64_t, const std::string&) {
  model_->Released(id_, name);
}

void CompareWithCore(const Core& core, Model& model) {
  absl::Status inv = core.CheckInvariants();
  FUZZ_CHECK(inv.ok(), "%s", inv.ToString().c_str());
  for (const char* name : kNames) {
    SemaphoreSnapshot snap = core.Test(name);
    const auto& expected = model.held[name];
    FUZZ_CHECK(snap.holders.size() == expected.size(), "holders of %s: core %zu, model %zu",
               name, snap.holders.size(), expected.size());
    int32_t sum = 0;
    for (const HolderSnapshot& h : snap.holders) {
      auto it = expected.find(h.session_id);
      FUZZ_CHECK(it != expected.end(), "core has a holder the model never saw granted");
      FUZZ_CHECK(it->second == h.grant.permits, "permits differ on %s", name);
      sum += h.grant.permits;
    }
    FUZZ_CHECK(sum <= snap.limit || snap.holders.empty(), "over the limit on %s", name);
    if (expected.empty()) model.held.erase(name);
  }
}

void RunOne(ByteReader& in) {
  FakeClock clock;
  CounterTokenSource tokens;
  CoreOptions options;
  options.min_ttl = absl::Milliseconds(1);
  options.max_waiters_per_semaphore = 1 + in.Below(8);
  options.max_held_per_session = 1 + in.Below(4);
  options.max_sessions = 1 + in.Below(kSlots + 1);
  // The global caps and per-peer limits (0 turns a per-peer limit off).
  options.max_semaphores = 1 + in.Below(4);
  options.max_holds = 1 + in.Below(8);
  options.max_waiters = 1 + in.Below(12);
  options.max_waiters_per_session = 1 + in.Below(6);
  options.max_sessions_per_peer = in.Below(4);
  options.session_rate_per_peer = in.Below(3);
  options.session_burst_per_peer = 1 + in.Below(3);
  Core core(&clock, &tokens, options);
  Model model;
  SessionId slots[kSlots] = {};
  std::vector<WaiterId> waiters;

  // Each callback learns its own waiter id through `id` once Set/WaitClear returns
  // (a queued request cannot be answered before that: this loop is the only thread).
  auto set_callback = [&model](SessionId s, std::string name, std::shared_ptr<WaiterId> id,
                               std::shared_ptr<FirstAnswer> first) {
    return [&model, s, name, id, first](absl::StatusOr<SetOutcome> out) {
      ++model.answers;
      if (*id != 0) model.outstanding.erase(*id);
      if (out.ok() && out->acquired) model.Granted(s, name, *out);
      *first = FirstAnswer{true, out.status().code(), out.ok() && out->acquired,
                           out.ok() && out->acquired ? out->grant.fencing_token : 0, 0};
    };
  };
  std::map<SessionId, uint64_t> last_seq;
  std::map<SessionId, Sent> last_sent;
  // The next seq of a live slot's session (0 for an empty slot: unsequenced).
  auto next_seq = [&last_seq](SessionId s) -> uint64_t { return s == 0 ? 0 : ++last_seq[s]; };

  for (int step = 0; step < 400 && !in.empty(); ++step) {
    const int slot = static_cast<int>(in.Below(kSlots));
    const std::string name = kNames[in.Below(3)];
    SessionId s = slots[slot];
    switch (in.Below(12)) {
      case 0: {
        auto ns = core.CreateSession("fuzz", absl::Milliseconds(1 + in.Below(2000)),
                                     kPeers[in.Below(2)]);
        if (ns.ok()) {
          slots[slot] = ns->id;
          (void)core.SetObserver(ns->id, std::make_shared<ModelObserver>(&model, ns->id));
        }
        break;
      }
      case 1:
      case 2: {  // set: try, timed wait or indefinite wait
        SetArgs args;
        args.name = name;
        args.permits = static_cast<int32_t>(in.Below(4));  // 0 is invalid on purpose
        const uint32_t lim = in.Below(4);
        if (lim > 0) args.limit = static_cast<int32_t>(lim);
        const uint32_t mode = in.Below(3);
        args.wait.timeout = mode == 0   ? absl::ZeroDuration()
                            : mode == 1 ? absl::Milliseconds(in.Below(1000))
                                        : absl::InfiniteDuration();
        auto id = std::make_shared<WaiterId>(0);
        auto first = std::make_shared<FirstAnswer>();
        args.seq = next_seq(s);
        if (args.seq != 0) last_sent[s] = Sent{Sent::kSet, args, {}, "", args.seq, first};
        if (WaiterId got = core.Set(s, args, set_callback(s, name, id, first)); got != 0) {
          *id = got;
          model.outstanding.insert(got);
          waiters.push_back(got);
        }
        break;
      }
      case 3:
      case 4: {
        const uint64_t seq = next_seq(s);
        const absl::StatusOr<int32_t> released = core.Clear(s, name, seq);
        if (released.ok()) model.Released(s, name);
        if (seq != 0) {
          last_sent[s] = Sent{Sent::kClear, {}, {}, name, seq,
                              std::make_shared<FirstAnswer>(FirstAnswer{
                                  true, released.status().code(), false, 0,
                                  released.value_or(0)})};
        }
        break;
      }
      case 5:
        if (!waiters.empty()) core.Cancel(waiters[in.Below(static_cast<uint32_t>(waiters.size()))]);
        break;
      case 6: {
        auto id = std::make_shared<WaiterId>(0);
        engine::WaitClearArgs wait;
        wait.name = name;
        wait.wait.timeout = absl::Milliseconds(in.Below(500));
        wait.seq = next_seq(s);
        auto first = std::make_shared<FirstAnswer>();
        if (wait.seq != 0) last_sent[s] = Sent{Sent::kWaitClear, {}, wait, "", wait.seq, first};
        WaiterId got = core.WaitClear(s, std::move(wait),
                                      [&model, id, first](absl::StatusOr<WaitClearOutcome> out) {
                                        ++model.answers;
                                        if (*id != 0) model.outstanding.erase(*id);
                                        *first = FirstAnswer{true, out.status().code(),
                                                             out.ok() && out->clear, 0, 0};
                                      });
        if (got != 0) {
          *id = got;
          model.outstanding.insert(got);
          waiters.push_back(got);
        }
        break;
      }
      case 7:
        clock.Advance(absl::Milliseconds(in.Below(300)));
        core.Tick();
        break;
      case 8:
        (void)core.Refresh(s);
        break;
      case 9:
        (void)core.CloseSession(s);
        break;
      case 10:
        if (in.Below(2) == 0) {
          (void)core.ForceClear(name, "fuzz");
        } else {
          (void)core.EndSession(s, "fuzz");
        }
        break;
      case 11:
        if (in.Below(16) == 0) core.Drain();
        break;
    }
    if (auto it = last_sent.find(s); step % 5 == 4 && it != last_sent.end()) {
      const Sent& sent = it->second;
      if (sent.kind == Sent::kSet) {
        std::optional<absl::StatusOr<SetOutcome>> got;
        FUZZ_CHECK(core.Set(s, sent.set, [&got](absl::StatusOr<SetOutcome> a) { got = a; }) == 0,
                   "a re-sent set was queued");
        FUZZ_CHECK(got.has_value(), "a re-sent set was not answered at once");
        const bool acquired = got->ok() && (*got)->acquired;
        CheckResend(core, *sent.first, got->status().code(), acquired,
                    acquired ? (*got)->grant.fencing_token : 0, 0);
      } else if (sent.kind == Sent::kWaitClear) {
        std::optional<absl::StatusOr<WaitClearOutcome>> got;
        FUZZ_CHECK(core.WaitClear(s, sent.wait_clear,
                                  [&got](absl::StatusOr<WaitClearOutcome> a) { got = a; }) == 0,
                   "a re-sent wait-for-clear was queued");
        FUZZ_CHECK(got.has_value(), "a re-sent wait-for-clear was not answered at once");
        CheckResend(core, *sent.first, got->status().code(), got->ok() && (*got)->clear, 0, 0);
      } else {
        const absl::StatusOr<int32_t> released = core.Clear(s, sent.name, sent.seq);
        CheckResend(core, *sent.first, released.status().code(), false, 0,
                    released.value_or(0));
      }
    }
    CompareWithCore(core, model);
  }
  core.Drain();
  CompareWithCore(core, model);
  FUZZ_CHECK(model.outstanding.empty(), "%zu waiters never answered", model.outstanding.size());
  FUZZ_CHECK(core.Counts().waiters == 0 && core.Counts().semaphores == 0, "drain left state");
}

}  // namespace
}  // namespace semaphored::internal

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  semaphored::fuzz::ByteReader in(data, size);
  semaphored::internal::RunOne(in);
  return 0;
}
