// The client-side checks of checker.h; the server-record checks are in
// trace_checker.cc.

#include "tests/torture/checker.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace semaphored::torture {
namespace internal {

void Violations::Add(absl::string_view category, const std::string& message) {
  ++report_->violations;
  if (report_->messages.size() < max_messages_) {
    report_->messages.push_back(absl::StrCat("[", category, "] ", message));
  }
}

std::string Describe(const Op& op) {
  std::string s = absl::StrCat(OpKindName(op.kind), " pid ", op.pid, " thread ", op.thread,
                               " #", op.seq);
  if (!op.session.empty()) absl::StrAppend(&s, " session ", op.session);
  if (!op.name.empty()) {
    absl::StrAppend(&s, " name ", op.name, " permits ", op.permits, "/", op.limit);
  }
  if (op.timeout_ms > 0) absl::StrAppend(&s, " timeout ", op.timeout_ms, "ms");
  absl::StrAppend(&s, " at ", op.start_ns);
  if (op.ended()) {
    absl::StrAppend(&s, "..", op.end_ns, " -> ", OpResultName(op.result));
    if (op.result == OpResult::kError) {
      absl::StrAppend(&s, " ", absl::StatusCodeToString(static_cast<absl::StatusCode>(op.code)));
    }
    if (op.token != 0) absl::StrAppend(&s, " token ", op.token);
  } else {
    absl::StrAppend(&s, " (never returned)");
  }
  return s;
}

}  // namespace internal

namespace {

using internal::Describe;
using internal::Violations;

bool IsInstant(OpKind kind) {
  return kind == OpKind::kLost || kind == OpKind::kCrash || kind == OpKind::kStuck;
}
bool IsSet(OpKind kind) {
  return kind == OpKind::kTry || kind == OpKind::kTimedSet || kind == OpKind::kCancelSet;
}

// The processes the parent SIGKILLed: when the signal was sent (nothing they held was
// released before), when they were reaped (nothing they began after ran), and
// whether they were killed because they were stuck.
struct Kills {
  absl::flat_hash_map<int, int64_t> time;
  absl::flat_hash_map<int, int64_t> reaped;
  absl::flat_hash_set<int> stuck;
};

Kills FindKills(const History& h) {
  Kills k;
  for (const Op& op : h.ops) {
    if (op.kind != OpKind::kCrash && op.kind != OpKind::kStuck) continue;
    auto [it, inserted] = k.time.emplace(op.pid, op.start_ns);
    if (!inserted) it->second = std::min(it->second, op.start_ns);
    auto [rit, rinserted] = k.reaped.emplace(op.pid, op.end_ns);
    if (!rinserted) rit->second = std::min(rit->second, op.end_ns);
    if (op.kind == OpKind::kStuck) k.stuck.insert(op.pid);
  }
  return k;
}

// Every call returned (unless its process was killed on purpose), in time, with a
// result and error code the operation can give.
void CheckCompletion(const History& h, const Kills& kills, const CheckOptions& options,
                     Violations& out) {
  const int64_t slack = absl::ToInt64Nanoseconds(options.wait_slack);
  for (const Op& op : h.ops) {
    if (IsInstant(op.kind)) continue;
    if (!op.ended()) {
      auto k = kills.reaped.find(op.pid);
      const bool excused =
          k != kills.reaped.end() && op.start_ns <= k->second && !kills.stuck.contains(op.pid);
      if (!excused) out.Add("hung", Describe(op));
      continue;
    }
    if (op.end_ns - op.start_ns > op.timeout_ms * 1'000'000 + slack) {
      out.Add("hung", absl::StrCat("answered long after its timeout: ", Describe(op)));
    }
    bool result_ok = false;
    switch (op.kind) {
      case OpKind::kTry:
      case OpKind::kTimedSet:
        result_ok = op.result == OpResult::kGranted || op.result == OpResult::kAlreadyHeld ||
                    op.result == OpResult::kNotGranted;
        break;
      case OpKind::kCancelSet:  // an indefinite wait never answers "not granted"
        result_ok = op.result == OpResult::kGranted || op.result == OpResult::kAlreadyHeld;
        break;
      case OpKind::kWaitClear:
        result_ok = op.result == OpResult::kClear || op.result == OpResult::kNotClear;
        break;
      default:
        result_ok = op.result == OpResult::kOk;
        break;
    }
    if (op.result == OpResult::kError) {
      const auto code = static_cast<absl::StatusCode>(op.code);
      result_ok = std::find(options.allowed_errors.begin(), options.allowed_errors.end(),
                            code) != options.allowed_errors.end() ||
                  (op.kind == OpKind::kOpen &&
                   std::find(options.allowed_open_errors.begin(),
                             options.allowed_open_errors.end(),
                             code) != options.allowed_open_errors.end()) ||
                  (op.kind == OpKind::kCancelSet && code == absl::StatusCode::kCancelled) ||
                  (op.kind == OpKind::kClear && (code == absl::StatusCode::kNotFound ||
                                                 code == absl::StatusCode::kPermissionDenied));
    }
    if (!result_ok) out.Add("result", absl::StrCat("unexpected result: ", Describe(op)));
  }
}

struct Interval {
  std::string name;
  std::string session;
  int32_t limit = 0;
  int32_t permits = 0;
  int64_t start = 0;
  int64_t end = 0;
};

// Walks one session's operations (one thread, in order) and returns its holding
// intervals; reports ownership answers that contradict what the session holds.
void WalkSession(std::vector<const Op*> ops, const Kills& kills, Violations& out,
                 std::vector<Interval>* intervals) {
  std::sort(ops.begin(), ops.end(), [](const Op* a, const Op* b) {
    return std::tie(a->start_ns, a->seq) < std::tie(b->start_ns, b->seq);
  });
  struct Hold {
    int64_t start;
    uint64_t token;
    int32_t permits;
    int32_t limit;
  };
  absl::flat_hash_map<std::string, Hold> held;
  const std::string& session = ops.front()->session;
  auto end_hold = [&](const std::string& name, const Hold& hold, int64_t at) {
    intervals->push_back(Interval{name, session, hold.limit, hold.permits, hold.start, at});
  };
  auto end_all = [&](int64_t at) {
    for (const auto& [name, hold] : held) end_hold(name, hold, at);
    held.clear();
  };
  for (const Op* op : ops) {
    if (!op->ended()) {
      // Cut off by a kill: the request may still have reached the server, so a clear
      // or close may have released at any moment after it began.
      if (op->kind == OpKind::kClear) {
        if (auto it = held.find(op->name); it != held.end()) {
          end_hold(op->name, it->second, op->start_ns);
          held.erase(it);
        }
      } else if (op->kind == OpKind::kClose) {
        end_all(op->start_ns);
      }
      continue;
    }
    // A lost session: the server released at some unknown earlier time. Dropping its
    // open intervals keeps the check sound.
    if (op->kind == OpKind::kLost ||
        (op->result == OpResult::kError &&
         op->code == static_cast<int>(absl::StatusCode::kUnauthenticated))) {
      held.clear();
      continue;
    }
    auto it = held.find(op->name);
    if (IsSet(op->kind)) {
      if (op->result == OpResult::kGranted) {
        if (it != held.end()) {
          out.Add("ownership", absl::StrCat("granted anew while the session held it (expected "
                                            "already_held): ", Describe(*op)));
        } else {
          held[op->name] = Hold{op->end_ns, op->token, op->permits, op->limit};
        }
      } else if (op->result == OpResult::kAlreadyHeld) {
        if (it == held.end()) {
          out.Add("ownership", absl::StrCat("already_held but the session did not hold it: ",
                                            Describe(*op)));
        } else if (it->second.token != op->token) {
          out.Add("ownership", absl::StrCat("already_held with token ", op->token,
                                            " but the grant had token ", it->second.token,
                                            ": ", Describe(*op)));
        }
      } else if (op->result == OpResult::kNotGranted && it != held.end()) {
        out.Add("ownership", absl::StrCat("not granted though the session holds it: ",
                                          Describe(*op)));
      }
    } else if (op->kind == OpKind::kClear) {
      const bool refused = op->result == OpResult::kError &&
                           (op->code == static_cast<int>(absl::StatusCode::kNotFound) ||
                            op->code == static_cast<int>(absl::StatusCode::kPermissionDenied));
      if (op->result == OpResult::kOk && it == held.end()) {
        out.Add("ownership", absl::StrCat("clear succeeded but the session did not hold it: ",
                                          Describe(*op)));
      } else if (refused && it != held.end()) {
        out.Add("ownership", absl::StrCat("clear of a semaphore the session holds was "
                                          "refused: ", Describe(*op)));
      }
      if (it != held.end()) {
        end_hold(op->name, it->second, op->start_ns);
        held.erase(it);
      }
    } else if (op->kind == OpKind::kClose) {
      end_all(op->start_ns);
    }
  }
  if (held.empty()) return;
  if (auto k = kills.time.find(ops.front()->pid); k != kills.time.end()) {
    end_all(k->second);
  } else {
    out.Add("ownership", absl::StrCat("session ", session, " of pid ", ops.front()->pid,
                                      " still held ", held.size(),
                                      " semaphore(s) when its history ended without a close"));
  }
}

// No moment where the intervals of a name carry more permits than its limit.
void CheckClientLimits(std::vector<Interval> intervals, Violations& out) {
  absl::flat_hash_map<std::string, std::vector<const Interval*>> by_name;
  for (const Interval& i : intervals) by_name[i.name].push_back(&i);
  for (auto& [name, list] : by_name) {
    // (time, delta, interval): at equal times ends (-) come before starts (+).
    std::vector<std::tuple<int64_t, int32_t, const Interval*>> events;
    for (const Interval* i : list) {
      if (i->end <= i->start) continue;  // empty: no moment held
      events.emplace_back(i->start, i->permits, i);
      events.emplace_back(i->end, -i->permits, i);
    }
    std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
      return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
    });
    int32_t sum = 0;
    absl::flat_hash_set<const Interval*> active;
    for (const auto& [time, delta, interval] : events) {
      sum += delta;
      if (delta < 0) {
        active.erase(interval);
        continue;
      }
      active.insert(interval);
      if (sum > interval->limit) {
        std::vector<std::string> who;
        for (const Interval* a : active) {
          who.push_back(absl::StrCat(a->session, "x", a->permits, "[", a->start, "..", a->end,
                                     "]"));
        }
        std::sort(who.begin(), who.end());
        out.Add("limit", absl::StrCat("clients held ", sum, " permits of ", name, " (limit ",
                                      interval->limit, ") at ", time, ": ",
                                      absl::StrJoin(who, ", ")));
      }
    }
  }
}

// A grant that ended before another started has the smaller token; tokens unique.
void CheckClientTokens(const History& h, CheckReport* report, Violations& out) {
  std::vector<const Op*> grants;
  absl::flat_hash_map<uint64_t, const Op*> by_token;
  for (const Op& op : h.ops) {
    if (!op.ended() || op.result != OpResult::kGranted) continue;
    grants.push_back(&op);
    auto [it, inserted] = by_token.emplace(op.token, &op);
    if (!inserted) {
      out.Add("token", absl::StrCat("two grants share token ", op.token, ": ",
                                    Describe(*it->second), " and ", Describe(op)));
    }
  }
  report->client_grants = static_cast<int64_t>(grants.size());
  std::vector<const Op*> by_end = grants;
  std::sort(grants.begin(), grants.end(),
            [](const Op* a, const Op* b) { return a->start_ns < b->start_ns; });
  std::sort(by_end.begin(), by_end.end(),
            [](const Op* a, const Op* b) { return a->end_ns < b->end_ns; });
  const Op* max_before = nullptr;  // the largest token among grants ended so far
  size_t j = 0;
  for (const Op* op : grants) {
    while (j < by_end.size() && by_end[j]->end_ns < op->start_ns) {
      if (max_before == nullptr || by_end[j]->token > max_before->token) max_before = by_end[j];
      ++j;
    }
    if (max_before != nullptr && max_before->token >= op->token) {
      out.Add("token", absl::StrCat("token went backwards: ", Describe(*max_before),
                                    " ended before ", Describe(*op), " started"));
    }
  }
}

}  // namespace

std::string CheckReport::Summary() const {
  return absl::StrCat("operations checked ", ops_checked, ", server records checked ",
                      trace_records_checked, ", client grants ", client_grants,
                      ", server grants ", server_grants, ", queued ", server_queued,
                      ", restored states ", server_restores, " (", restored_records,
                      " holders and waiters), grants undone by a restart ", undone_grants,
                      ", holding intervals ", holding_intervals,
                      ", violations ", violations);
}

CheckReport CheckHistory(const History& history, const CheckOptions& options) {
  CheckReport report;
  Violations out(&report, options.max_messages);
  report.ops_checked = static_cast<int64_t>(history.ops.size());
  const Kills kills = FindKills(history);
  CheckCompletion(history, kills, options, out);

  absl::flat_hash_map<std::string, std::vector<const Op*>> by_session;
  for (const Op& op : history.ops) {
    if (!op.session.empty() && op.kind != OpKind::kCrash && op.kind != OpKind::kStuck) {
      by_session[op.session].push_back(&op);
    }
  }
  std::vector<Interval> intervals;
  for (auto& [session, ops] : by_session) WalkSession(std::move(ops), kills, out, &intervals);
  report.holding_intervals = static_cast<int64_t>(intervals.size());
  CheckClientLimits(std::move(intervals), out);
  CheckClientTokens(history, &report, out);
  internal::CheckTrace(history, options, &report, out);
  return report;
}

}  // namespace semaphored::torture
