// The load tests' driver: many client-library sessions churning on a server for a bounded time.

#include "tests/load/load_driver.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace semaphored::testing {

namespace {

std::string OwnName(int slot) { return absl::StrCat("load/own/", slot); }
std::string HotName(int i) { return absl::StrCat("load/hot/", i); }
int32_t HotLimit(int i) { return 1 + i % 3; }

}  // namespace

// One session of the load, and the name it holds all along.
struct LoadDriver::Slot {
  int index = 0;
  Client* client = nullptr;
  std::unique_ptr<Session> session;
};

// A thread's share of the sessions, and the calls it makes on them.
class LoadDriver::Worker {
 public:
  Worker(const LoadOptions& options, int seed) : options_(options), random_(seed) {}

  void AddSlot(int index, Client* client) {
    slots_.push_back(Slot{index, client, nullptr});
  }

  absl::Status OpenAll() {
    for (Slot& slot : slots_) {
      if (absl::Status s = OpenSlot(slot); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  void Churn(absl::Time deadline, LoadStats& stats) {
    while (absl::Now() < deadline && !slots_.empty()) {
      Slot& slot = slots_[Uniform(0, static_cast<int>(slots_.size()) - 1)];
      ++stats.calls;
      Step(slot, stats);
    }
    held_.clear();  // releases in the background
  }

  absl::Status CloseAll() {
    held_.clear();
    absl::Status first;
    for (Slot& slot : slots_) {
      if (slot.session == nullptr) continue;
      absl::Status s = slot.session->Close();
      if (first.ok() && !s.ok()) first = s;
      slot.session.reset();
    }
    return first;
  }

 private:
  struct Held {
    int slot;
    Permit permit;
  };

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(random_);
  }

  absl::Status OpenSlot(Slot& slot) {
    SessionOptions session_options;
    session_options.ttl = options_.session_ttl;
    absl::StatusOr<std::unique_ptr<Session>> session =
        slot.client->OpenSession(session_options);
    if (!session.ok()) return session.status();
    slot.session = *std::move(session);
    return SetOwn(slot);
  }

  absl::Status SetOwn(Slot& slot) {
    absl::StatusOr<SetResult> set = slot.session->Set(OwnName(slot.index));
    if (!set.ok()) return set.status();
    if (!set->acquired) {
      return absl::InternalError(absl::StrCat(OwnName(slot.index), " was not free"));
    }
    return absl::OkStatus();
  }

  static void Note(const absl::Status& s, LoadStats& stats) {
    if (s.ok()) return;
    if (stats.errors++ == 0) stats.first_error = s.ToString();
  }

  // One random call (see the mix below).
  void Step(Slot& slot, LoadStats& stats) {
    const int hot = Uniform(0, options_.hot_names - 1);
    const int r = Uniform(0, 99);
    if (r < 50) {  // a holder or a waiter: try, or wait up to 80 ms
      AcquireOptions acquire;
      acquire.limit = HotLimit(hot);
      acquire.timeout =
          r < 12 ? absl::ZeroDuration() : absl::Milliseconds(Uniform(1, 80));
      absl::StatusOr<Permit> permit = slot.session->Acquire(HotName(hot), acquire);
      Note(permit.status(), stats);
      if (!permit.ok()) return;
      if (!permit->acquired()) {
        ++stats.not_acquired;
        return;
      }
      ++stats.grants;
      held_.push_back(Held{slot.index, *std::move(permit)});
      if (held_.size() > 1) held_.pop_front();  // destroyed: released in the background
    } else if (r < 60) {  // an explicit release, waiting for the answer
      if (held_.empty()) return;
      Permit permit = std::move(held_.front().permit);
      held_.pop_front();
      if (permit.held()) Note(permit.Release(), stats);
    } else if (r < 70) {  // wait for clear
      ++stats.wait_clears;
      Note(slot.session->WaitClear(HotName(hot), absl::Milliseconds(20)).status(), stats);
    } else if (r < 80) {
      Note(slot.session->Test(HotName(hot)).status(), stats);
    } else if (r < 97) {  // clear and set again the session's own name
      Note(slot.session->Clear(OwnName(slot.index)), stats);
      Note(SetOwn(slot), stats);
    } else {  // the session ends cleanly and a new one takes its place
      held_.erase(std::remove_if(held_.begin(), held_.end(),
                                 [&](const Held& h) { return h.slot == slot.index; }),
                  held_.end());
      Note(slot.session->Close(), stats);
      slot.session.reset();
      Note(OpenSlot(slot), stats);
      ++stats.sessions_replaced;
    }
  }

  const LoadOptions& options_;
  std::mt19937 random_;
  std::vector<Slot> slots_;
  std::deque<Held> held_;
};

LoadDriver::LoadDriver(LoadOptions options) : options_(std::move(options)) {}

LoadDriver::~LoadDriver() { CloseAll().IgnoreError(); }

namespace {

// Runs `body(i)` on `n` threads and joins them.
void Parallel(int n, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back(body, i);
  for (std::thread& t : threads) t.join();
}

}  // namespace

absl::Status LoadDriver::Open() {
  for (int c = 0; c < options_.clients; ++c) {
    ClientOptions client_options;
    client_options.address = options_.address;
    client_options.client_name = absl::StrCat("load-", c);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(client_options);
    if (!client.ok()) return client.status();
    clients_.push_back(*std::move(client));
  }
  for (int t = 0; t < options_.threads; ++t) {
    workers_.push_back(std::make_unique<Worker>(options_, 1000 + t));
  }
  for (int s = 0; s < options_.sessions; ++s) {
    workers_[s % options_.threads]->AddSlot(s, clients_[s % options_.clients].get());
  }
  std::vector<absl::Status> results(workers_.size());
  Parallel(static_cast<int>(workers_.size()),
           [&](int t) { results[t] = workers_[t]->OpenAll(); });
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

LoadStats LoadDriver::Run(absl::Duration duration) {
  const absl::Time deadline = absl::Now() + duration;
  std::vector<LoadStats> per_thread(workers_.size());
  Parallel(static_cast<int>(workers_.size()),
           [&](int t) { workers_[t]->Churn(deadline, per_thread[t]); });
  LoadStats total;
  for (const LoadStats& s : per_thread) {
    total.calls += s.calls;
    total.grants += s.grants;
    total.not_acquired += s.not_acquired;
    total.wait_clears += s.wait_clears;
    total.sessions_replaced += s.sessions_replaced;
    total.errors += s.errors;
    if (total.first_error.empty()) total.first_error = s.first_error;
  }
  return total;
}

absl::Status LoadDriver::CloseAll() {
  std::vector<absl::Status> results(workers_.size());
  Parallel(static_cast<int>(workers_.size()),
           [&](int t) { results[t] = workers_[t]->CloseAll(); });
  workers_.clear();
  clients_.clear();
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace semaphored::testing
