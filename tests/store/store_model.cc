// StoreModel, RandomBatch, ReplaceEverything, Dump and TempDir for the store tests.
#include "tests/store/store_model.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace semaphored::store::testing {
namespace {

using engine::Effect;

struct ApplyTo {
  std::map<engine::SessionId, engine::SessionOpened>& sessions;
  std::map<std::string, StoreModel::Semaphore>& semaphores;
  std::map<std::pair<engine::SessionId, uint64_t>, engine::CommandOutcome>& outcomes;
  std::map<engine::WaiterId, std::string>& waiter_semaphore;
  uint64_t& token_high_water;
  uint64_t& last_waiter;
  uint64_t& last_session;
  uint64_t& last_token;

  void operator()(const engine::SessionOpened& e) {
    sessions[e.session] = e;
    last_session = std::max(last_session, e.session);
  }
  void operator()(const engine::SessionEnded& e) {
    sessions.erase(e.session);
    outcomes.erase(outcomes.lower_bound({e.session, 0}),
                   outcomes.lower_bound({e.session + 1, 0}));
  }
  void RaiseLastSeq(engine::SessionId session, uint64_t seq) {
    uint64_t& last = sessions[session].last_seq;
    last = std::max(last, seq);
  }
  void operator()(const engine::SemaphoreCreated& e) { semaphores[e.name].limit = e.limit; }
  void operator()(const engine::SemaphoreErased& e) { semaphores.erase(e.name); }
  void operator()(const engine::HolderAdded& e) {
    auto& holders = semaphores[e.name].holders;
    // A holder added again becomes the newest grant.
    holders.erase(std::remove_if(holders.begin(), holders.end(),
                                 [&](const auto& h) { return h.session == e.session; }),
                  holders.end());
    holders.push_back(engine::StoredHolder{e.session, e.permits, e.fencing_token, e.since});
    last_token = std::max(last_token, e.fencing_token);
  }
  void operator()(const engine::HolderRemoved& e) {
    auto& holders = semaphores[e.name].holders;
    holders.erase(std::remove_if(holders.begin(), holders.end(),
                                 [&](const auto& h) { return h.session == e.session; }),
                  holders.end());
  }
  void operator()(const engine::WaiterQueued& e) {
    semaphores[e.name].waiters[e.waiter] = engine::StoredWaiter{
        e.waiter, e.session, e.wait_for_clear, e.permits, e.deadline, e.enqueued, e.seq};
    if (e.seq != 0) RaiseLastSeq(e.session, e.seq);
    waiter_semaphore[e.waiter] = e.name;
    last_waiter = std::max(last_waiter, e.waiter);
  }
  void operator()(const engine::WaiterRemoved& e) {
    semaphores[waiter_semaphore[e.waiter]].waiters.erase(e.waiter);
    waiter_semaphore.erase(e.waiter);
  }
  void operator()(const engine::TokenHighWater& e) {
    token_high_water = std::max(token_high_water, e.high_water);
  }
  void operator()(const engine::CommandOutcome& e) {
    outcomes[{e.session, e.seq}] = e;
    RaiseLastSeq(e.session, e.seq);
  }
  void operator()(const engine::CommandsAcked& e) {
    for (const uint64_t seq : e.seqs) outcomes.erase({e.session, seq});
  }
};

template <typename Map>
auto Pick(const Map& map, std::mt19937_64& rng) {
  return std::next(map.begin(), static_cast<long>(rng() % map.size()));
}

absl::Time RandomTime(std::mt19937_64& rng) {
  // Around 2026, to the nanosecond.
  return absl::FromUnixNanos(int64_t{1'780'000'000'000'000'000} +
                             static_cast<int64_t>(rng() % 1'000'000'000'000'000));
}

std::string RandomBytes(std::mt19937_64& rng, size_t size) {
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() % 256);
  return out;
}

// The holders and waiters of `session` removed, then the session: as the engine ends one.
void EndSession(const StoreModel& m, engine::SessionId session, std::vector<Effect>& out) {
  for (const auto& [name, sem] : m.semaphores()) {
    for (const auto& h : sem.holders) {
      if (h.session == session) out.push_back(engine::HolderRemoved{name, session});
    }
    for (const auto& [id, w] : sem.waiters) {
      if (w.session == session) out.push_back(engine::WaiterRemoved{id});
    }
  }
  out.push_back(engine::SessionEnded{session});
}

// A random outcome of every kind, of the next seq of `session`.
engine::CommandOutcome RandomOutcome(const StoreModel& m, engine::SessionId session,
                                     std::mt19937_64& rng) {
  engine::CommandOutcome o;
  o.session = session;
  o.seq = m.sessions().at(session).last_seq + 1 + rng() % 3;
  o.kind = static_cast<engine::CommandKind>(1 + rng() % 3);
  if (rng() % 4 == 0) {
    o.code = static_cast<absl::StatusCode>(1 + rng() % 16);
    o.message = absl::StrCat("error ", RandomBytes(rng, rng() % 8), " of ", o.seq);
    return o;
  }
  switch (o.kind) {
    case engine::CommandKind::kSet:
      o.acquired = rng() % 2 == 0;
      if (o.acquired) {
        o.already_held = rng() % 3 == 0;
        o.grant = engine::GrantInfo{rng() % 100000 + 1, static_cast<int32_t>(1 + rng() % 5),
                                    RandomTime(rng)};
      }
      break;
    case engine::CommandKind::kClear:
      o.released = static_cast<int32_t>(1 + rng() % 5);
      break;
    case engine::CommandKind::kWaitClear:
      o.clear = rng() % 2 == 0;
      break;
  }
  return o;
}

}  // namespace

void StoreModel::Apply(const Effect& effect) {
  std::visit(ApplyTo{sessions_, semaphores_, outcomes_, waiter_semaphore_, token_high_water_,
                     last_waiter_, last_session_, last_token_},
             effect);
}

engine::StoredState StoreModel::State() const {
  engine::StoredState out;
  for (const auto& [id, s] : sessions_) out.sessions.push_back(s);
  for (const auto& [name, sem] : semaphores_) {
    engine::StoredSemaphore& s = out.semaphores.emplace_back();
    s.name = name;
    s.limit = sem.limit;
    s.holders = sem.holders;
    for (const auto& [id, w] : sem.waiters) s.waiters.push_back(w);
  }
  for (const auto& [key, o] : outcomes_) out.outcomes.push_back(o);
  out.token_high_water = token_high_water_;
  out.last_waiter = last_waiter_;
  out.last_session = last_session_;
  return out;
}

engine::EffectBatch RandomBatch(const StoreModel& model, std::mt19937_64& rng, int count) {
  StoreModel m = model;  // advanced effect by effect, so that the batch is consistent
  engine::EffectBatch batch;
  while (static_cast<int>(batch.effects.size()) < count) {
    std::vector<Effect> step;
    switch (rng() % 13) {
      case 0:
        step.push_back(engine::SessionOpened{m.last_session() + 1 + rng() % 3,
                                             RandomBytes(rng, 1 + rng() % 32),
                                             absl::StrCat("client-", rng() % 100),
                                             absl::StrCat("10.0.0.", rng() % 256),
                                             absl::Milliseconds(1 + rng() % 100000),
                                             rng() % 3 == 0 ? rng() % 100 : 0});
        break;
      case 1:
        if (m.sessions().size() > 2) EndSession(m, Pick(m.sessions(), rng)->first, step);
        break;
      case 2: {
        std::string name = absl::StrCat("sem-", rng() % 40);
        if (m.semaphores().count(name) == 0) {
          step.push_back(engine::SemaphoreCreated{name, static_cast<int32_t>(1 + rng() % 5)});
        }
        break;
      }
      case 3:
        if (!m.semaphores().empty()) {
          auto it = Pick(m.semaphores(), rng);
          if (it->second.holders.empty() && it->second.waiters.empty()) {
            step.push_back(engine::SemaphoreErased{it->first});
          }
        }
        break;
      case 4:
      case 5:
        if (!m.semaphores().empty() && !m.sessions().empty()) {
          auto sem = Pick(m.semaphores(), rng);
          const uint64_t token = std::max(m.last_token(), m.token_high_water()) + 1;
          step.push_back(engine::HolderAdded{
              sem->first, Pick(m.sessions(), rng)->first,
              static_cast<int32_t>(1 + rng() % sem->second.limit), token, RandomTime(rng)});
          if (rng() % 2 == 0) step.push_back(engine::TokenHighWater{token + rng() % 3});
        }
        break;
      case 6:
        if (!m.semaphores().empty()) {
          auto sem = Pick(m.semaphores(), rng);
          if (!sem->second.holders.empty()) {
            const auto& h = sem->second.holders[rng() % sem->second.holders.size()];
            step.push_back(engine::HolderRemoved{sem->first, h.session});
          }
        }
        break;
      case 7:
        if (!m.semaphores().empty() && !m.sessions().empty()) {
          engine::WaiterQueued w;
          w.waiter = m.last_waiter() + 1 + rng() % 2;
          w.name = Pick(m.semaphores(), rng)->first;
          w.session = Pick(m.sessions(), rng)->first;
          w.wait_for_clear = rng() % 3 == 0;
          w.permits = w.wait_for_clear ? 0 : static_cast<int32_t>(1 + rng() % 3);
          w.enqueued = RandomTime(rng);
          w.deadline = rng() % 4 == 0 ? absl::InfiniteFuture()
                                      : w.enqueued + absl::Nanoseconds(rng() % 1'000'000'000'000);
          // Sequenced or not; a sequenced one raises its session's last_seq.
          if (rng() % 2 == 0) w.seq = m.sessions().at(w.session).last_seq + 1 + rng() % 2;
          step.push_back(w);
        }
        break;
      case 8:
        for (const auto& [name, sem] : m.semaphores()) {
          if (!sem.waiters.empty() && rng() % 2 == 0) {
            step.push_back(engine::WaiterRemoved{Pick(sem.waiters, rng)->first});
            break;
          }
        }
        break;
      case 10:
      case 11:
        if (!m.sessions().empty()) {
          step.push_back(RandomOutcome(m, Pick(m.sessions(), rng)->first, rng));
        }
        break;
      case 12:
        if (!m.outcomes().empty()) {
          // Some of one session's outcomes, from a random one on.
          auto first = Pick(m.outcomes(), rng);
          engine::CommandsAcked acked{first->first.first, {}};
          for (auto it = first; it != m.outcomes().end() && it->first.first == acked.session &&
                                acked.seqs.size() < 4;
               ++it) {
            if (rng() % 3 != 0) acked.seqs.push_back(it->first.second);
          }
          if (!acked.seqs.empty()) step.push_back(acked);
        }
        break;
      default:
        // Sometimes below the stored value: the store keeps the larger.
        step.push_back(engine::TokenHighWater{
            std::max<uint64_t>(m.token_high_water(), 2) + rng() % 5 - 2});
        break;
    }
    for (Effect& e : step) {
      m.Apply(e);
      batch.effects.push_back(std::move(e));
    }
  }
  return batch;
}

engine::EffectBatch ReplaceEverything(const StoreModel& model, int count) {
  engine::EffectBatch batch;
  for (const auto& [id, session] : model.sessions()) EndSession(model, id, batch.effects);
  for (const auto& [name, sem] : model.semaphores()) {
    batch.effects.push_back(engine::SemaphoreErased{name});
  }
  const engine::SessionId session = model.last_session() + 1;
  batch.effects.push_back(engine::SessionOpened{session, absl::StrCat("secret-", session),
                                                "torn", "127.0.0.1", absl::Seconds(30)});
  uint64_t token = model.token_high_water();
  engine::WaiterId waiter = model.last_waiter();
  const absl::Time now = absl::FromUnixSeconds(1'780'000'000);
  for (int i = 0; i < count; ++i) {
    const std::string name = absl::StrCat("s", session, "-", i);
    batch.effects.push_back(engine::SemaphoreCreated{name, 2});
    batch.effects.push_back(engine::HolderAdded{name, session, 1, ++token, now});
    batch.effects.push_back(engine::WaiterQueued{++waiter, name, session, false, 2,
                                                 absl::InfiniteFuture(), now,
                                                 static_cast<uint64_t>(2 * i + 1)});
    engine::CommandOutcome outcome;
    outcome.session = session;
    outcome.seq = static_cast<uint64_t>(2 * i + 2);
    outcome.kind = engine::CommandKind::kSet;
    outcome.acquired = true;
    outcome.grant = engine::GrantInfo{token, 1, now};
    batch.effects.push_back(outcome);
  }
  batch.effects.push_back(engine::TokenHighWater{token});
  return batch;
}

std::string Dump(const engine::StoredState& state) {
  auto time = [](absl::Time t) {
    return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
  };
  std::vector<const engine::SessionOpened*> sessions;
  for (const auto& s : state.sessions) sessions.push_back(&s);
  std::sort(sessions.begin(), sessions.end(),
            [](auto* a, auto* b) { return a->session < b->session; });
  std::vector<const engine::StoredSemaphore*> semaphores;
  for (const auto& s : state.semaphores) semaphores.push_back(&s);
  std::sort(semaphores.begin(), semaphores.end(),
            [](auto* a, auto* b) { return a->name < b->name; });
  std::string out = absl::StrCat("token_high_water ", state.token_high_water,
                                 " last_waiter ", state.last_waiter, " last_session ",
                                 state.last_session, "\n");
  for (const auto* s : sessions) {
    absl::StrAppend(&out, "session ", s->session, " secret ", absl::CHexEscape(s->secret),
                    " client ", s->client_name, " peer ", s->peer, " ttl ",
                    absl::FormatDuration(s->ttl), " last_seq ", s->last_seq, "\n");
  }
  std::vector<const engine::CommandOutcome*> outcomes;
  for (const auto& o : state.outcomes) outcomes.push_back(&o);
  std::sort(outcomes.begin(), outcomes.end(), [](auto* a, auto* b) {
    return std::make_pair(a->session, a->seq) < std::make_pair(b->session, b->seq);
  });
  for (const auto* o : outcomes) {
    absl::StrAppend(&out, "outcome ", o->session, "/", o->seq, " kind ",
                    static_cast<int>(o->kind), " code ", static_cast<int>(o->code), " '",
                    absl::CHexEscape(o->message), "' acquired ", o->acquired, " already ",
                    o->already_held, " token ", o->grant.fencing_token, " permits ",
                    o->grant.permits, " at ", time(o->grant.grant_time), " released ",
                    o->released, " clear ", o->clear, "\n");
  }
  for (const auto* s : semaphores) {
    absl::StrAppend(&out, "semaphore ", s->name, " limit ", s->limit, "\n");
    for (const auto& h : s->holders) {
      absl::StrAppend(&out, "  holder ", h.session, " permits ", h.permits, " token ",
                      h.fencing_token, " since ", time(h.since), "\n");
    }
    for (const auto& w : s->waiters) {
      absl::StrAppend(&out, "  waiter ", w.waiter, " seq ", w.seq, " session ", w.session,
                      w.wait_for_clear ? " clear" : " set", " permits ", w.permits,
                      " deadline ", time(w.deadline), " enqueued ", time(w.enqueued), "\n");
    }
  }
  return out;
}

TempDir::TempDir() {
  std::string tmpl = ::testing::TempDir() + "store_test.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
    return;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  // A test may have taken the permissions away.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path_, ec)) {
    std::filesystem::permissions(entry.path(), std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
  }
  std::filesystem::remove_all(path_, ec);
}

}  // namespace semaphored::store::testing
