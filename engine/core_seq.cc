// At most once: the outcomes of sequenced commands kept until acknowledged, and the
// answers to re-sent commands (see "At most once" in core.h).

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "engine/core.h"
#include "engine/core_internal.h"
#include "engine/request_checks.h"

namespace semaphored::engine {

using internal::FormatSessionId;

namespace {

void SetError(const absl::Status& status, CommandOutcome& out) {
  out.code = status.code();
  out.message = std::string(status.message());
}

}  // namespace

CommandOutcome OutcomeOfSet(uint64_t seq, const absl::StatusOr<SetOutcome>& answer) {
  CommandOutcome out;
  out.seq = seq;
  out.kind = CommandKind::kSet;
  if (!answer.ok()) {
    SetError(answer.status(), out);
  } else if (answer->acquired) {
    out.acquired = true;
    out.already_held = answer->already_held;
    out.grant = answer->grant;
  }
  return out;
}

CommandOutcome OutcomeOfWaitClear(uint64_t seq,
                                  const absl::StatusOr<WaitClearOutcome>& answer) {
  CommandOutcome out;
  out.seq = seq;
  out.kind = CommandKind::kWaitClear;
  if (!answer.ok()) {
    SetError(answer.status(), out);
  } else {
    out.clear = answer->clear;
  }
  return out;
}

absl::Status Core::AlreadyAnswered(const Session& session, uint64_t seq) const {
  return absl::FailedPreconditionError(absl::StrCat(
      "command ", seq, " of session ", FormatSessionId(session.id),
      " was already answered and acknowledged (or is older than the last ",
      options_.max_unacked_outcomes_per_session,
      " kept): re-send only commands whose answers were not read"));
}

absl::Status Core::StillPending(const Session& session, uint64_t seq) const {
  return absl::FailedPreconditionError(absl::StrCat(
      "command ", seq, " of session ", FormatSessionId(session.id),
      " is still pending: its first copy waits for its answer; do not send it twice"));
}

absl::Status Core::NotThisCommand(const Session& session, uint64_t seq,
                                  absl::string_view what) const {
  return absl::FailedPreconditionError(absl::StrCat(
      "command ", seq, " of session ", FormatSessionId(session.id),
      " was not a ", what, ": a re-sent command must repeat the command first sent "
      "with its seq"));
}

bool Core::Sequencing(const Session& session) const {
  return !draining_ && !session.ended && !session.ending;
}

void Core::KeepOutcome(Session* session, CommandOutcome outcome) {
  if (!Sequencing(*session)) return;
  ++work_;
  outcome.session = session->id;
  const uint64_t seq = outcome.seq;
  if (Recording()) Emit(outcome);
  session->outcomes.insert_or_assign(seq, std::move(outcome));
  // Bounded: the oldest goes first (the client re-sends in order, so the oldest is
  // the one most likely read already).
  const auto bound =
      static_cast<size_t>(std::max<int64_t>(0, options_.max_unacked_outcomes_per_session));
  while (session->outcomes.size() > bound) {
    auto oldest = session->outcomes.begin();
    if (Recording()) Emit(CommandsAcked{session->id, {oldest->first}});
    session->outcomes.erase(oldest);
  }
}

void Core::KeepSetOutcome(const Waiter& w, const absl::StatusOr<SetOutcome>& answer) {
  if (w.seq == 0) return;
  KeepOutcome(w.session, OutcomeOfSet(w.seq, answer));
}

void Core::KeepClearOutcome(const Waiter& w, const absl::StatusOr<WaitClearOutcome>& answer) {
  if (w.seq == 0) return;
  KeepOutcome(w.session, OutcomeOfWaitClear(w.seq, answer));
}

absl::StatusOr<SetOutcome> Core::SetAnswerOf(const CommandOutcome& kept,
                                             absl::string_view name) const {
  const Session& session = *FindSession(kept.session);
  if (kept.kind != CommandKind::kSet) return NotThisCommand(session, kept.seq, "set");
  if (kept.code != absl::StatusCode::kOk) return absl::Status(kept.code, kept.message);
  SetOutcome out;
  if (kept.acquired) {
    out.acquired = true;
    out.already_held = kept.already_held;
    out.grant = kept.grant;
  } else if (const Semaphore* sem = FindSemaphore(name)) {
    out.state = Snapshot(*sem, /*with_waiters=*/false, options_.max_listed_holders);
  } else {
    out.state.name = std::string(name);
  }
  return out;
}

absl::StatusOr<WaitClearOutcome> Core::WaitClearAnswerOf(const CommandOutcome& kept,
                                                         absl::string_view name) const {
  const Session& session = *FindSession(kept.session);
  if (kept.kind != CommandKind::kWaitClear) {
    return NotThisCommand(session, kept.seq, "wait-for-clear");
  }
  if (kept.code != absl::StatusCode::kOk) return absl::Status(kept.code, kept.message);
  WaitClearOutcome out;
  out.clear = kept.clear;
  if (const Semaphore* sem = FindSemaphore(name)) {
    out.state = Snapshot(*sem, /*with_waiters=*/false, options_.max_listed_holders);
  } else {
    out.state.name = std::string(name);
  }
  return out;
}

std::optional<absl::StatusOr<SetOutcome>> Core::SequencedSetLocked(
    Session* session, const SetArgs& args, const absl::Status& bad_args, SetCallback& done,
    WaiterId& queued) {
  const uint64_t seq = args.seq;
  if (seq <= session->last_seq) {
    // A re-send: nothing is applied again.
    if (auto it = session->outcomes.find(seq); it != session->outcomes.end()) {
      return SetAnswerOf(it->second, args.name);
    }
    auto it = session->seq_waiters.find(seq);
    if (it == session->seq_waiters.end()) return AlreadyAnswered(*session, seq);
    Waiter* w = it->second;
    if (!w->is_set) return NotThisCommand(*session, seq, "set");
    if (!w->orphan) return StillPending(*session, seq);
    ClaimOrphan(w, WaitEnd(args.wait, clock_->Now()));
    w->set_done = std::move(done);
    queued = w->id;
    return std::nullopt;
  }
  session->last_seq = seq;
  std::optional<absl::StatusOr<SetOutcome>> answer;
  if (bad_args.ok()) {
    answer = SetLocked(session->id, args, done, queued);
  } else {
    answer = bad_args;
  }
  // Queued: its outcome is kept when it is answered (it never claims an orphan).
  if (answer) KeepOutcome(session, OutcomeOfSet(seq, *answer));
  return answer;
}

void Core::Acknowledge(SessionId session_id, absl::Span<const uint64_t> seqs) {
  absl::MutexLock lock(&mu_);
  Session* session = FindSession(session_id);
  if (session == nullptr) return;
  CommandsAcked acked{session_id, {}};
  for (const uint64_t seq : seqs) {
    if (session->outcomes.erase(seq) != 0) acked.seqs.push_back(seq);
  }
  work_ += seqs.size();
  if (!acked.seqs.empty() && Recording()) Emit(std::move(acked));
}

}  // namespace semaphored::engine
