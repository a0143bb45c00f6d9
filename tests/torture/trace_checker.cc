// The server-record checks of checker.h: an exact replay of the core's queues and
// grants from `semaphored --trace_file`, and its agreement with what clients saw.

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "tests/torture/checker.h"

namespace semaphored::torture::internal {
namespace {

std::string DescribeRecord(const TraceRecord& r, size_t index) {
  std::string s = absl::StrCat("record #", index, " ", std::string(1, r.kind), " session ",
                               r.session, " at ", r.time_ns);
  if (!r.name.empty()) absl::StrAppend(&s, " name ", r.name);
  if (r.kind == 'Q' || r.kind == 'D') absl::StrAppend(&s, " waiter ", r.waiter);
  if (r.kind == 'G' || r.kind == 'R') absl::StrAppend(&s, " token ", r.token);
  if (r.permits != 0) absl::StrAppend(&s, " permits ", r.permits);
  return s;
}

// One semaphore as the replay sees it.
struct Sem {
  int32_t limit = 0;  // 0: unknown (no grant seen since it came into existence)
  int32_t held = 0;
  struct Holder {
    uint64_t token;
    int32_t permits;
  };
  absl::flat_hash_map<std::string, Holder> holders;  // by session
  struct Waiter {
    uint64_t id;
    std::string session;
    int32_t permits;
  };
  std::deque<Waiter> queue;
  bool HeadGrantable() const {
    return !queue.empty() && limit > 0 && limit - held >= queue.front().permits;
  }
};

class Replay {
 public:
  Replay(const std::vector<TraceRecord>& trace, Violations& out) : trace_(trace), out_(out) {}

  void Run(bool complete) {
    for (size_t i = 0; i < trace_.size(); ++i) Step(i);
    if (!complete) return;
    for (const auto& [name, sem] : sems_) {
      if (!sem.holders.empty()) {
        out_.Add("lost", absl::StrCat(name, " is still held by ", sem.holders.size(),
                                      " session(s) after the server drained"));
      }
      if (!sem.queue.empty()) {
        out_.Add("lost", absl::StrCat(name, " still has ", sem.queue.size(),
                                      " queued request(s) after the server drained (head ",
                                      sem.queue.front().id, ")"));
      }
    }
  }

 private:
  void Step(size_t i) {
    const TraceRecord& r = trace_[i];
    switch (r.kind) {
      case 'Q': Queued(r, i); break;
      case 'D': Dequeued(r, i); break;
      case 'G': Granted(r, i); break;
      case 'R': Released(r, i); break;
      case 'E': ended_.insert(r.session); break;
      case 'P': NextProcess(); break;
      case 'S': last_token_ = r.token; break;
      case 'O': ended_.erase(r.session); break;
      case 'H': RestoredHolder(r, i); break;
      case 'W': RestoredWaiter(r, i); break;
      default: out_.Add("trace", absl::StrCat("unknown ", DescribeRecord(r, i)));
    }
  }

  // A new request arrives only after the previous operation handed on all it could.
  void CheckNoGrantableHead(const Sem& sem, const TraceRecord& r, size_t i) {
    if (sem.HeadGrantable()) {
      out_.Add("fifo", absl::StrCat("waiter ", sem.queue.front().id, " (", sem.queue.front().session,
                                    ") left waiting although ", sem.limit - sem.held,
                                    " permit(s) were free, seen at ", DescribeRecord(r, i)));
    }
  }

  // Another server process: it starts from nothing, or from what its store kept (the
  // S, O, H and W records that follow). A session it does not restore stays ended.
  void NextProcess() {
    sems_.clear();
    from_queue_ = static_cast<size_t>(-1);
  }

  // A holder the store kept: granted before (that grant's record is in the file, since
  // records are written before their batch commits), with a token within the
  // restored high-water.
  void RestoredHolder(const TraceRecord& r, size_t i) {
    auto g = grants_.find(r.token);
    if (g == grants_.end() || trace_[g->second].session != r.session ||
        trace_[g->second].name != r.name || trace_[g->second].permits != r.permits) {
      out_.Add("lost", absl::StrCat("restored a grant that was never made: ",
                                    DescribeRecord(r, i)));
    }
    if (r.token > last_token_) {
      out_.Add("token", absl::StrCat("restored token ", r.token,
                                     " above the restored high-water ", last_token_, ": ",
                                     DescribeRecord(r, i)));
    }
    Sem& sem = sems_[r.name];
    sem.limit = r.limit;
    sem.holders[r.session] = Sem::Holder{r.token, r.permits};
    sem.held += r.permits;
    if (sem.held > sem.limit) {
      out_.Add("limit", absl::StrCat(sem.held, " permits restored of limit ", sem.limit,
                                     ": ", DescribeRecord(r, i)));
    }
  }

  // A queued set request the store kept, in its queue's restored order: it was queued
  // before, and the restored queue keeps the order in which its requests were queued.
  void RestoredWaiter(const TraceRecord& r, size_t i) {
    auto q = queued_.find(std::make_pair(r.name, r.waiter));
    if (q == queued_.end() || trace_[q->second].session != r.session ||
        trace_[q->second].permits != r.permits) {
      out_.Add("lost", absl::StrCat("restored a request that was never queued: ",
                                    DescribeRecord(r, i)));
    }
    Sem& sem = sems_[r.name];
    if (q != queued_.end() && !sem.queue.empty()) {
      auto before = queued_.find(std::make_pair(r.name, sem.queue.back().id));
      if (before != queued_.end() && before->second > q->second) {
        out_.Add("fifo", absl::StrCat("restored waiter ", r.waiter, " behind waiter ",
                                      sem.queue.back().id,
                                      ", which was queued after it: ", DescribeRecord(r, i)));
      }
    }
    sem.queue.push_back(Sem::Waiter{r.waiter, r.session, r.permits});
  }

  void Queued(const TraceRecord& r, size_t i) {
    if (ended_.contains(r.session)) {
      out_.Add("fifo", absl::StrCat("ended session queued: ", DescribeRecord(r, i)));
    }
    Sem& sem = sems_[r.name];
    CheckNoGrantableHead(sem, r, i);
    if (sem.queue.empty() && (sem.holders.empty() || sem.limit - sem.held >= r.permits)) {
      out_.Add("fifo", absl::StrCat("queued although it could be granted at once: ",
                                    DescribeRecord(r, i)));
    }
    sem.queue.push_back(Sem::Waiter{r.waiter, r.session, r.permits});
    queued_[std::make_pair(r.name, r.waiter)] = i;
  }

  void Dequeued(const TraceRecord& r, size_t i) {
    Sem& sem = sems_[r.name];
    auto it = std::find_if(sem.queue.begin(), sem.queue.end(),
                           [&](const Sem::Waiter& w) { return w.id == r.waiter; });
    if (it == sem.queue.end()) {
      out_.Add("fifo", absl::StrCat("dequeued a request that was not queued: ",
                                    DescribeRecord(r, i)));
      return;
    }
    const bool granted = i + 1 < trace_.size() && trace_[i + 1].kind == 'G' &&
                         trace_[i + 1].session == r.session && trace_[i + 1].name == r.name;
    if (granted && it != sem.queue.begin()) {
      out_.Add("fifo", absl::StrCat("waiter ", r.waiter, " granted while waiter ",
                                    sem.queue.front().id, " (", sem.queue.front().session,
                                    ") was ahead of it: ", DescribeRecord(trace_[i + 1], i + 1)));
    }
    if (granted) from_queue_ = i + 1;
    sem.queue.erase(it);
    MaybeErase(r.name);
  }

  void Granted(const TraceRecord& r, size_t i) {
    Sem& sem = sems_[r.name];
    if (from_queue_ != i) {
      // Granted at once: only when nobody waits (no overtaking).
      CheckNoGrantableHead(sem, r, i);
      if (!sem.queue.empty()) {
        out_.Add("fifo", absl::StrCat("granted at once while ", sem.queue.size(),
                                      " request(s) waited (head ", sem.queue.front().id,
                                      "): ", DescribeRecord(r, i)));
      }
    }
    if (ended_.contains(r.session)) {
      out_.Add("lost", absl::StrCat("granted to an ended session: ", DescribeRecord(r, i)));
    }
    if (sem.limit != 0 && sem.limit != r.limit) {
      out_.Add("limit", absl::StrCat("limit changed from ", sem.limit, " while it existed: ",
                                     DescribeRecord(r, i)));
    }
    sem.limit = r.limit;
    if (sem.holders.contains(r.session)) {
      out_.Add("limit", absl::StrCat("granted again to a session holding it: ",
                                     DescribeRecord(r, i)));
    }
    sem.holders[r.session] = Sem::Holder{r.token, r.permits};
    sem.held += r.permits;
    if (sem.held > sem.limit) {
      out_.Add("limit", absl::StrCat(sem.held, " permits held of limit ", sem.limit, " by ",
                                     sem.holders.size(), " sessions after ",
                                     DescribeRecord(r, i)));
    }
    if (r.token <= last_token_) {
      out_.Add("token", absl::StrCat("token ", r.token, " not above the previous grant's ",
                                     last_token_, ": ", DescribeRecord(r, i)));
    }
    last_token_ = std::max(last_token_, r.token);
    grants_[r.token] = i;
  }

  void Released(const TraceRecord& r, size_t i) {
    Sem& sem = sems_[r.name];
    auto it = sem.holders.find(r.session);
    if (it == sem.holders.end() || it->second.token != r.token ||
        it->second.permits != r.permits) {
      out_.Add("limit", absl::StrCat("release of a grant not held: ", DescribeRecord(r, i)));
      if (it == sem.holders.end()) return;
    }
    sem.held -= it->second.permits;
    sem.holders.erase(it);
    MaybeErase(r.name);
  }

  // A semaphore with no holders and no waiters ceases to exist (its limit with it).
  void MaybeErase(const std::string& name) {
    auto it = sems_.find(name);
    if (it != sems_.end() && it->second.holders.empty() && it->second.queue.empty()) {
      sems_.erase(it);
    }
  }

  const std::vector<TraceRecord>& trace_;
  Violations& out_;
  absl::flat_hash_map<std::string, Sem> sems_;
  absl::flat_hash_set<std::string> ended_;
  // The latest G record of each token, and Q record of each (name, waiter id): what a
  // restarted server's restored holders and waiters must come from.
  absl::flat_hash_map<uint64_t, size_t> grants_;
  absl::flat_hash_map<std::pair<std::string, uint64_t>, size_t> queued_;
  uint64_t last_token_ = 0;
  size_t from_queue_ = static_cast<size_t>(-1);  // the G record that follows a granted D
};

// What clients saw agrees with the server's records. Across restarts a token may be
// granted twice: once by a process killed before that grant committed (nobody was told
// of it), once after the restart; a grant of the first kind is "undone".
void CheckAgreement(const History& h, CheckReport* report, Violations& out) {
  absl::flat_hash_map<uint64_t, std::vector<size_t>> grants_by_token;
  // (session, token) -> release records
  absl::flat_hash_map<std::pair<std::string, uint64_t>, std::vector<size_t>> releases;
  // Undone: granted by a process whose successor restored a lower token high-water
  // (or nothing at all: a server without a store).
  std::vector<size_t> process_of(h.trace.size());
  std::vector<uint64_t> restored_high_water = {0};  // per process; unused for the first
  std::vector<bool> restored = {false};
  for (size_t i = 0; i < h.trace.size(); ++i) {
    const TraceRecord& r = h.trace[i];
    if (r.kind == 'P') {
      restored_high_water.push_back(0);
      restored.push_back(false);
    }
    if (r.kind == 'S') {
      restored_high_water.back() = r.token;
      restored.back() = true;
    }
    process_of[i] = restored.size() - 1;
    if (r.kind == 'G') grants_by_token[r.token].push_back(i);
    if (r.kind == 'R') releases[{r.session, r.token}].push_back(i);
  }
  auto undone = [&](size_t i) {
    const size_t next = process_of[i] + 1;
    return next < restored.size() &&
           (!restored[next] || restored_high_water[next] < h.trace[i].token);
  };
  absl::flat_hash_set<size_t> seen_grants;
  absl::flat_hash_map<std::string, uint64_t> held_token;  // session/name -> token
  // session/name -> the start of a set call that never returned (its process was
  // killed): the server may have granted it without the client seeing it.
  absl::flat_hash_map<std::string, int64_t> in_flight;
  for (const Op& op : h.ops) {
    if (op.ended() || (op.kind != OpKind::kTry && op.kind != OpKind::kTimedSet &&
                       op.kind != OpKind::kCancelSet)) {
      continue;
    }
    in_flight[absl::StrCat(op.session, "/", op.name)] = op.start_ns;
  }
  std::vector<const Op*> ops;
  for (const Op& op : h.ops) ops.push_back(&op);
  std::sort(ops.begin(), ops.end(), [](const Op* a, const Op* b) {
    return a->start_ns < b->start_ns;
  });
  for (const Op* op : ops) {
    if (!op->ended()) continue;
    const std::string key = absl::StrCat(op->session, "/", op->name);
    if (op->result == OpResult::kGranted || op->result == OpResult::kAlreadyHeld) {
      auto g = grants_by_token.find(op->token);
      if (g == grants_by_token.end()) {
        out.Add("agreement", absl::StrCat("the server has no grant with this token: ",
                                          Describe(*op)));
        continue;
      }
      auto agrees = [&](const TraceRecord& r) {
        return r.session == op->session && r.name == op->name &&
               (op->result != OpResult::kGranted ||
                (r.permits == op->permits && r.time_ns >= op->start_ns &&
                 r.time_ns <= op->end_ns));
      };
      // A grant that stood, if one agrees (a re-sent set may have been granted the
      // same token twice: first by a process killed before it committed).
      auto match = std::find_if(g->second.begin(), g->second.end(), [&](size_t i) {
        return agrees(h.trace[i]) && !undone(i);
      });
      if (match == g->second.end()) {
        match = std::find_if(g->second.begin(), g->second.end(),
                             [&](size_t i) { return agrees(h.trace[i]); });
      }
      if (match == g->second.end()) {
        out.Add("agreement", absl::StrCat("client saw ", Describe(*op), " but the server ",
                                          DescribeRecord(h.trace[g->second.front()],
                                                         g->second.front())));
        continue;
      }
      seen_grants.insert(*match);
      if (undone(*match)) {
        out.Add("lost", absl::StrCat("a client was told of a grant that a restart undid: ",
                                     Describe(*op)));
      }
      if (op->result == OpResult::kGranted) held_token[key] = op->token;
    } else if (op->kind == OpKind::kClear && op->result == OpResult::kOk) {
      auto t = held_token.find(key);
      auto rel = t == held_token.end() ? releases.end() : releases.find({op->session, t->second});
      const bool during =
          rel != releases.end() &&
          std::any_of(rel->second.begin(), rel->second.end(), [&](size_t i) {
            return h.trace[i].time_ns >= op->start_ns && h.trace[i].time_ns <= op->end_ns;
          });
      if (!during) {
        out.Add("agreement", absl::StrCat("no server release during the successful ",
                                          Describe(*op)));
      }
    }
  }
  for (const auto& [token, records] : grants_by_token) {
    for (size_t i : records) {
      if (undone(i)) ++report->undone_grants;
      if (seen_grants.contains(i) || undone(i)) continue;
      const TraceRecord& r = h.trace[i];
      auto pending = in_flight.find(absl::StrCat(r.session, "/", r.name));
      if (pending != in_flight.end() && pending->second <= r.time_ns) continue;
      out.Add("agreement", absl::StrCat("no client call returned this grant: ",
                                        DescribeRecord(r, i)));
    }
  }
}

}  // namespace

void CheckTrace(const History& history, const CheckOptions& options, CheckReport* report,
                Violations& out) {
  if (!history.has_trace) return;
  report->trace_records_checked = static_cast<int64_t>(history.trace.size());
  for (const TraceRecord& r : history.trace) {
    if (r.kind == 'G') ++report->server_grants;
    if (r.kind == 'Q') ++report->server_queued;
    if (r.kind == 'S') ++report->server_restores;
    if (r.kind == 'H' || r.kind == 'W') ++report->restored_records;
  }
  Replay(history.trace, out).Run(options.trace_complete);
  if (options.check_agreement) CheckAgreement(history, report, out);
}

}  // namespace semaphored::torture::internal
