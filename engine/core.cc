// The Core: sessions, the set and wait-for-clear queues, grants, expiry and hand-on.

#include "engine/core.h"

#include <sys/random.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/names.h"
#include "engine/core_internal.h"
#include "engine/request_checks.h"

namespace semaphored::engine {

using internal::FormatSessionId;
using internal::LazyNow;
using internal::QuoteName;

namespace {

// Fills `buf` from the kernel's CSPRNG. getrandom() blocks only before the pool is
// initialised at boot, and never fails for requests this small once it is.
void SecureRandom(void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // No entropy source at all: refuse to run rather than issue guessable secrets.
      std::abort();
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

std::atomic<CoreTracer*> g_tracer{nullptr};

absl::Status UnknownSessionError() {
  return absl::UnauthenticatedError(
      "unknown session: this server never opened it or forgot it after a restart; "
      "open a new session");
}

absl::Status ShuttingDown(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("server is shutting down; ", what));
}

}  // namespace

CoreTracer* Tracer() { return g_tracer.load(std::memory_order_acquire); }

absl::Status Restarting(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(
      "server is restarting with its state; ", what,
      ": send the same request again once it is back"));
}

absl::Status Core::DrainRefusal(absl::string_view what) const {
  return KeptForRestart() ? Restarting(what) : ShuttingDown(what);
}

CoreOptions CoreOptions::InProcess() {
  CoreOptions options;
  options.sessions_expire = false;
  options.time_holds = false;
  // Per-peer limits are meant for network clients; off, they cost no lookup.
  options.max_sessions_per_peer = 0;
  options.session_rate_per_peer = 0;
  return options;
}

void SetCoreTracer(CoreTracer* tracer) { g_tracer.store(tracer, std::memory_order_release); }

Core::Core(internal::Clock* clock, TokenSource* tokens, CoreOptions options)
    : clock_(clock),
      options_(std::move(options)),
      listener_(nullptr),
      tokens_(tokens),
      store_(options_.store != nullptr && options_.store->durable() ? options_.store
                                                                     : nullptr) {
  static CoreListener kNoListener;
  listener_ = &kNoListener;
}

Core::~Core() = default;

void Core::SetDeadlineHook(std::function<void()> hook) { deadline_hook_ = std::move(hook); }

void Core::SetListener(CoreListener* listener) { listener_ = listener; }

// --- Lookup helpers ---

Core::Session* Core::FindSession(SessionId id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

absl::Status Core::EndedError(SessionId id) const {
  auto it = ended_.find(id);
  return it == ended_.end() ? UnknownSessionError() : it->second;
}

absl::StatusOr<Core::Session*> Core::LiveSession(SessionId id) const {
  if (Session* s = FindSession(id)) return s;
  return EndedError(id);
}

Core::Semaphore* Core::FindSemaphore(absl::string_view name) const {
  auto it = semaphores_.find(name);
  return it == semaphores_.end() ? nullptr : it->second.get();
}

Core::Semaphore* Core::CreateSemaphore(absl::string_view name, int32_t limit) {
  std::unique_ptr<Semaphore> sem = std::move(spare_semaphore_);
  if (sem == nullptr) sem = std::make_unique<Semaphore>();
  sem->name.assign(name.data(), name.size());
  sem->limit = limit;
  sem->stored = false;
  Semaphore* raw = sem.get();
  semaphores_.emplace(absl::string_view(raw->name), std::move(sem));
  return raw;
}

void Core::MaybeErase(Semaphore* sem) {
  if (!sem->unused()) return;
  // After the removals of its last holder and waiter (the store's contract).
  if (sem->stored && Recording()) Emit(SemaphoreErased{sem->name});
  auto it = semaphores_.find(absl::string_view(sem->name));
  std::unique_ptr<Semaphore> owned = std::move(it->second);
  semaphores_.erase(it);
  // Unused: no holders (so nothing held) and empty queues, as a new one starts.
  spare_semaphore_ = std::move(owned);
}

int32_t Core::HolderIndex(const Semaphore& sem, const Session& session) const {
  // A few holders (the usual limit is 1) are compared faster than the index hashes.
  constexpr size_t kScan = 4;
  if (sem.holders.size() <= kScan) {
    for (size_t i = 0; i < sem.holders.size(); ++i) {
      if (sem.holders[i].session == &session) return static_cast<int32_t>(i);
    }
    return -1;
  }
  auto it = session.held.find(&sem);
  return it == session.held.end() ? -1 : it->second;
}

SemaphoreSnapshot Core::Snapshot(const Semaphore& sem, bool with_waiters,
                                  int32_t max_holders) const {
  SemaphoreSnapshot snap;
  snap.name = sem.name;
  snap.limit = sem.limit;
  snap.permits_held = sem.held;
  snap.waiter_count = sem.set_queue.size;
  snap.holder_count = static_cast<int32_t>(sem.holders.size());
  snap.holders.reserve(std::min<size_t>(sem.holders.size(), std::max(max_holders, 0)));
  for (int32_t i = sem.first; i >= 0 && static_cast<int32_t>(snap.holders.size()) < max_holders;
       i = sem.holders[i].next) {
    const Semaphore::Holder& h = sem.holders[i];
    ++work_;
    snap.holders.push_back(HolderSnapshot{h.session->id, h.session->client_name,
                                      GrantInfo{h.fencing_token, h.permits, h.grant_time}});
  }
  if (with_waiters) {
    for (const Waiter* w = sem.set_queue.head; w != nullptr; w = Semaphore::Queue::Next(w)) {
      ++work_;
      snap.waiters.push_back(
          WaiterInfo{w->session->id, w->session->client_name, w->permits, w->enqueue_time});
    }
  }
  return snap;
}

// --- Sessions ---

absl::StatusOr<NewSession> Core::CreateSession(std::string client_name, absl::Duration ttl,
                                               std::string peer) {
  if (absl::Status s = CheckTtlNotNegative(ttl); !s.ok()) return s;
  if (ttl == absl::ZeroDuration()) ttl = options_.default_ttl;
  // Sessions that never expire (in-process) have no use for the TTL: any is accepted.
  if (options_.sessions_expire) {
    if (absl::Status s = CheckTtlInRange(ttl, options_.min_ttl, options_.max_ttl);
        !s.ok()) {
      return s;
    }
  }
  unsigned char secret_bytes[16];
  SecureRandom(secret_bytes, sizeof secret_bytes);
  NewSession result;
  result.secret = absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(secret_bytes), sizeof secret_bytes));
  result.ttl = ttl;

  absl::MutexLock lock(&mu_);
  if (draining_) return DrainRefusal("new sessions are refused");
  if (static_cast<int64_t>(sessions_.size()) >= options_.max_sessions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server already has ", sessions_.size(),
        " sessions, its limit (max_sessions); close unused sessions or raise the limit "
        "(--max_sessions)"));
  }
  const absl::Time now = clock_->Now();
  if (absl::Status s = AdmitPeer(peer, now); !s.ok()) return s;
  SessionId id = 0;
  do {
    SecureRandom(&id, sizeof id);
  } while (id == 0 || sessions_.contains(id) || ended_.contains(id));

  auto session = std::make_unique<Session>();
  session->id = id;
  session->secret = result.secret;
  session->client_name = std::move(client_name);
  session->peer = std::move(peer);
  session->ttl = ttl;
  session->create_time = now;
  session->expire_time = options_.sessions_expire ? session->create_time + ttl
                                                  : absl::InfiniteFuture();
  result.id = id;
  result.expire_time = session->expire_time;
  Session* raw = session.get();
  by_secret_.emplace(raw->secret, raw);
  sessions_.emplace(id, std::move(session));
  ScheduleExpiry(raw);
  if (Recording()) {
    Emit(SessionOpened{id, raw->secret, raw->client_name, raw->peer, raw->ttl});
  }
  return result;
}

void Core::ScheduleExpiry(Session* session) {
  if (!options_.sessions_expire) return;
  session_expiry_.insert({session->expire_time, session->id});
  if (deadline_hook_ && session_expiry_.begin()->second == session->id) deadline_hook_();
}

absl::StatusOr<SessionId> Core::Authenticate(absl::string_view secret) const {
  absl::MutexLock lock(&mu_);
  if (auto it = by_secret_.find(secret); it != by_secret_.end()) return it->second->id;
  if (auto it = ended_secrets_.find(secret); it != ended_secrets_.end()) {
    return EndedError(it->second);
  }
  return UnknownSessionError();
}

absl::StatusOr<absl::Time> Core::Refresh(SessionId id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Session*> session = LiveSession(id);
  if (!session.ok()) return session.status();
  Session* s = *session;
  if (!options_.sessions_expire) return s->expire_time;
  session_expiry_.erase({s->expire_time, s->id});
  s->expire_time = clock_->Now() + s->ttl;
  ScheduleExpiry(s);
  return s->expire_time;
}

absl::StatusOr<int32_t> Core::CloseSession(SessionId id, SessionEndReason reason) {
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  absl::StatusOr<Session*> session = LiveSession(id);
  if (!session.ok()) return session.status();
  if (KeptForRestart()) {
    return Restarting(absl::StrCat("session ", FormatSessionId(id), " was not closed"));
  }
  absl::Status why = absl::UnauthenticatedError(absl::StrCat(
      "session ", FormatSessionId(id),
      reason == SessionEndReason::kStreamEnded
          ? " ended because its session stream ended without a close (client gone)"
          : " was closed by its client",
      "; open a new session"));
  return EndSessionLocked(*session, std::move(why), reason, deferred);
}

absl::Status Core::SetObserver(SessionId id, std::shared_ptr<SessionObserver> observer) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Session*> session = LiveSession(id);
  if (!session.ok()) return session.status();
  (*session)->observer = std::move(observer);
  return absl::OkStatus();
}

int32_t Core::EndSessionLocked(Session* session, absl::Status why, SessionEndReason reason,
                               Deferred& deferred) {
  if (CoreTracer* tracer = Tracer()) tracer->OnSessionEnded(session->id, reason);
  session->ending = true;  // its waiters' answers below keep no outcome
  LazyNow now(clock_);
  const auto released = static_cast<int32_t>(session->held.size());
  // A large session (up to max_held_per_session holds) would hold the lock for as
  // long as its records take to release: it ends now, and Tick() releases its records
  // in slices. Drain finishes everything at once.
  // With a store, never: the session's end must be committed with its releases
  // before anyone is told it ended.
  const bool in_slices =
      !draining_ && store_ == nullptr &&
      session->held.size() + static_cast<size_t>(session->waiting.size) > kTickWork;
  if (!in_slices) {
    std::vector<Semaphore*> touched;
    touched.reserve(session->held.size() + static_cast<size_t>(session->waiting.size));
    while (Waiter* w = session->waiting.head) {
      touched.push_back(w->sem);
      Answer(RemoveWaiter(w), why, deferred);
    }
    // A release moves another session's record (never this one's: a session has one
    // record per semaphore), so the slots in session->held stay valid.
    for (const auto& [sem, slot] : session->held) {
      ReleaseLocked(sem, slot, now);
      touched.push_back(sem);
    }
    session->held.clear();
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (Semaphore* sem : touched) HandOn(sem, now, deferred);
  }

  ++work_;
  // After the removals of its holders and waiters (the store's contract).
  if (!in_slices && Recording()) Emit(SessionEnded{session->id});
  if (options_.sessions_expire) session_expiry_.erase({session->expire_time, session->id});
  ForgetPeerSession(session->peer, now);
  by_secret_.erase(session->secret);
  RememberEnded(session->id, session->secret, why);
  if (session->observer) {
    deferred.Add([observer = std::move(session->observer), why] {
      observer->OnSessionEnded(why);
    });
  }
  deferred.Add([listener = listener_,
                 end = SessionEnd{session->id, session->client_name, reason, released}] {
    listener->OnSessionEnded(end);
  });
  auto it = sessions_.find(session->id);
  if (in_slices) {
    session->ended = true;
    session->end_status = std::move(why);
    ending_.push_back(std::move(it->second));
    if (deadline_hook_) deadline_hook_();  // NextDeadline() is now
  }
  sessions_.erase(it);
  return released;
}

bool Core::ReleaseRecords(Session* session, uint64_t stop_at, LazyNow& now,
                          Deferred& deferred) {
  // At least one record (each adds to work_), so that every Tick() makes progress.
  stop_at = std::max(stop_at, work_ + 1);
  // Waiters first, so that no release below grants a request of this session. After
  // each, the semaphore is handed on at once: it cannot be erased while this session
  // still has a record on it, and the next record may be on another semaphore.
  while (Waiter* w = session->waiting.head) {
    if (work_ >= stop_at) return false;
    Semaphore* sem = w->sem;
    Answer(RemoveWaiter(w), session->end_status, deferred);
    HandOn(sem, now, deferred);
  }
  if (!session->release_cursor) session->release_cursor = session->held.begin();
  auto& it = *session->release_cursor;
  while (it != session->held.end()) {
    if (work_ >= stop_at) return false;
    const auto [sem, slot] = *it;
    ReleaseLocked(sem, slot, now);
    session->held.erase(it++);
    HandOn(sem, now, deferred);
  }
  return true;
}

void Core::EraseHeld(Session* session, Semaphore* sem) {
  auto it = session->held.find(sem);
  if (session->release_cursor && *session->release_cursor == it) ++*session->release_cursor;
  session->held.erase(it);
}

void Core::RememberEnded(SessionId id, const std::string& secret, const absl::Status& why) {
  const auto capacity = static_cast<size_t>(std::max<int64_t>(1, options_.ended_sessions_remembered));
  if (ended_order_.size() < capacity) {
    ended_order_.emplace_back(id, secret);
  } else {
    auto& slot = ended_order_[ended_next_];
    ended_.erase(slot.first);
    ended_secrets_.erase(slot.second);
    slot = {id, secret};
    ended_next_ = (ended_next_ + 1) % capacity;
  }
  ended_[id] = why;
  ended_secrets_[secret] = id;
}

// --- Semaphores ---

WaiterId Core::Set(SessionId session_id, SetArgs args, SetCallback done) {
  std::optional<absl::StatusOr<SetOutcome>> answer;
  // Checked before the session and draining are: a bad request is bad whatever the
  // engine's state. Answered in order with the session's other answers. (A sequenced
  // one is checked under the lock: a re-send is answered with its first answer.)
  absl::Status bad_args = CheckSetArgs(args);
  if (!bad_args.ok() && args.seq == 0) {
    WhenDurable([done = std::move(done), s = std::move(bad_args)]() mutable {
      done(std::move(s));
    });
    return 0;
  }
  {
    absl::MutexLock lock(&mu_);
    WaiterId queued = 0;
    Session* sequenced = args.seq == 0 || draining_ ? nullptr : FindSession(session_id);
    if (sequenced != nullptr) {
      answer = SequencedSetLocked(sequenced, args, bad_args, done, queued);
    } else if (!bad_args.ok()) {
      answer = std::move(bad_args);
    } else {
      answer = SetLocked(session_id, args, done, queued);
    }
    if (!answer) return queued;  // queued: `done` now belongs to the waiter
    if (!Durable()) {
      HoldBack([done = std::move(done), result = *std::move(answer)]() mutable {
        done(std::move(result));
      });
      return 0;
    }
  }
  // Answered at once: here, after the lock (as Deferred would, without wrapping).
  done(*std::move(answer));
  return 0;
}

std::optional<absl::StatusOr<SetOutcome>> Core::SetLocked(SessionId session_id,
                                                         const SetArgs& args,
                                                         SetCallback& done,
                                                         WaiterId& queued) {
  if (draining_) {
    return DrainRefusal(absl::StrCat("semaphore ", QuoteName(args.name), " was not set"));
  }
  absl::StatusOr<Session*> found = LiveSession(session_id);
  if (!found.ok()) return found.status();
  Session* session = *found;
  Semaphore* sem = FindSemaphore(args.name);
  if (sem != nullptr && args.limit && *args.limit != sem->limit) {
    return absl::FailedPreconditionError(absl::StrCat(
        "semaphore ", QuoteName(args.name), " exists with limit ", sem->limit,
        " but this request asks for limit ", *args.limit,
        "; the limit is fixed while the semaphore exists (leave it unset to use ",
        sem->limit, ")"));
  }
  const int32_t limit = sem != nullptr ? sem->limit : args.limit.value_or(1);
  if (absl::Status s = CheckPermitsWithinLimit(args.name, args.permits, limit); !s.ok()) {
    return s;
  }
  if (sem != nullptr) {
    if (int32_t i = HolderIndex(*sem, *session); i >= 0) {
      const auto& h = sem->holders[i];
      SetOutcome out;
      out.acquired = out.already_held = true;
      out.grant = GrantInfo{h.fencing_token, h.permits, h.grant_time};
      return out;
    }
  }
  const absl::Time now = clock_->Now();
  if (sem == nullptr) {
    if (static_cast<int64_t>(semaphores_.size()) >= options_.max_semaphores) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the server already has ", semaphores_.size(),
          " semaphores, its limit (max_semaphores); semaphore ", QuoteName(args.name),
          " was not set; clear unused semaphores or raise --max_semaphores"));
    }
    sem = CreateSemaphore(args.name, limit);
  }
  if (sem->set_queue.size == 0 && sem->limit - sem->held >= args.permits) {
    if (absl::Status s = CheckHeldLimit(*session, *sem); !s.ok()) {
      MaybeErase(sem);
      return s;
    }
    absl::StatusOr<GrantInfo> grant = GrantLocked(sem, session, args.permits, now);
    if (!grant.ok()) {
      MaybeErase(sem);
      return grant.status();
    }
    SetOutcome out;
    out.acquired = true;
    out.grant = *grant;
    listener_->OnGrant(absl::ZeroDuration());
    return out;
  }
  const absl::Time wait_end = WaitEnd(args.wait, now);
  // A try while an orphan of this session waits here lands below too: the queue is
  // not empty, so it is "not acquired", and the orphan keeps its place.
  if (wait_end <= now) {
    SetOutcome out;
    out.state = Snapshot(*sem, /*with_waiters=*/false, options_.max_listed_holders);
    return out;
  }
  // Only an unsequenced retry claims an orphan this way (a sequenced one claims the
  // waiter of its own seq: SequencedSetLocked).
  Waiter* orphan = args.seq == 0 ? FindSetOrphan(*session, *sem, args.permits) : nullptr;
  if (orphan != nullptr) {
    ClaimOrphan(orphan, wait_end);
    orphan->set_done = std::move(done);
    queued = orphan->id;
    return std::nullopt;
  }
  if (absl::Status s = CheckWaiterLimits(*session, *sem); !s.ok()) return s;
  auto w = std::make_unique<Waiter>();
  w->id = ++last_waiter_id_;
  w->is_set = true;
  w->session = session;
  w->sem = sem;
  w->permits = args.permits;
  w->deadline = wait_end;
  w->enqueue_time = now;
  w->seq = args.seq;
  w->set_done = std::move(done);
  queued = w->id;
  Enqueue(std::move(w));
  return std::nullopt;
}

void Core::Enqueue(std::unique_ptr<Waiter> w) {
  Waiter* raw = w.get();
  if (CoreTracer* tracer = Tracer(); tracer != nullptr && raw->is_set) {
    tracer->OnQueued(raw->sem->name, raw->session->id, raw->id, raw->permits);
  }
  if (Recording()) {
    EmitCreated(raw->sem);
    Emit(WaiterQueued{raw->id, raw->sem->name, raw->session->id, !raw->is_set,
                      raw->permits, raw->deadline, raw->enqueue_time, raw->seq});
  }
  LinkWaiter(std::move(w));
}

void Core::LinkWaiter(std::unique_ptr<Waiter> w) {
  Waiter* raw = w.get();
  ++work_;
  (raw->is_set ? raw->sem->set_queue : raw->sem->clear_queue).PushBack(raw);
  raw->session->waiting.PushBack(raw);
  if (raw->is_set) {
    raw->session->set_waiting[raw->sem].PushBack(raw);
  } else if (raw->orphan && raw->seq == 0) {
    raw->session->clear_orphans[raw->sem].PushBack(raw);
  }
  if (raw->seq != 0) raw->session->seq_waiters[raw->seq] = raw;
  if (raw->deadline != absl::InfiniteFuture()) {
    waiter_deadlines_.insert({raw->deadline, raw->id});
    if (waiter_deadlines_.begin()->second == raw->id && deadline_hook_) deadline_hook_();
  }
  waiters_.emplace(raw->id, std::move(w));
}

std::unique_ptr<Core::Waiter> Core::RemoveWaiter(Waiter* w) {
  ++work_;
  if (Recording()) Emit(WaiterRemoved{w->id});
  (w->is_set ? w->sem->set_queue : w->sem->clear_queue).Remove(w);
  if (CoreTracer* tracer = Tracer(); tracer != nullptr && w->is_set) {
    tracer->OnDequeued(w->sem->name, w->session->id, w->id);
  }
  w->session->waiting.Remove(w);
  if (w->is_set) {
    auto it = w->session->set_waiting.find(w->sem);
    it->second.Remove(w);
    if (it->second.size == 0) w->session->set_waiting.erase(it);
  } else if (w->orphan && w->seq == 0) {
    auto it = w->session->clear_orphans.find(w->sem);
    it->second.Remove(w);
    if (it->second.size == 0) w->session->clear_orphans.erase(it);
  }
  if (w->seq != 0) w->session->seq_waiters.erase(w->seq);
  if (w->deadline != absl::InfiniteFuture()) waiter_deadlines_.erase({w->deadline, w->id});
  auto it = waiters_.find(w->id);
  std::unique_ptr<Waiter> owned = std::move(it->second);
  waiters_.erase(it);
  return owned;
}

void Core::Answer(std::unique_ptr<Waiter> w, absl::Status error, Deferred& deferred) {
  // Kept even for an orphan: its re-send gets it. (Not when its session ends.)
  if (w->is_set) {
    KeepSetOutcome(*w, error);
  } else {
    KeepClearOutcome(*w, error);
  }
  if (w->orphan) return;  // nobody asked yet: the answer goes nowhere
  if (w->is_set) {
    deferred.Add([cb = std::move(w->set_done), error = std::move(error)]() mutable {
      cb(std::move(error));
    });
  } else {
    deferred.Add([cb = std::move(w->clear_done), error = std::move(error)]() mutable {
      cb(std::move(error));
    });
  }
}

absl::StatusOr<GrantInfo> Core::GrantLocked(Semaphore* sem, Session* session,
                                            int32_t permits, absl::Time now) {
  const absl::StatusOr<uint64_t> next = tokens_->Next();
  if (!next.ok()) return next.status();
  const uint64_t token = *next;
  if (CoreTracer* tracer = Tracer()) {
    tracer->OnGrant(sem->name, session->id, token, permits, sem->limit);
  }
  ++work_;
  const int32_t slot = sem->AddHolder(Semaphore::Holder{session, permits, -1, -1, token, now});
  sem->held += permits;
  session->held.emplace(sem, slot);
  ++held_pairs_;
  if (Recording()) {
    EmitCreated(sem);
    Emit(HolderAdded{sem->name, session->id, permits, token, now});
    token_high_water_ = std::max(token_high_water_, token);
  }
  return GrantInfo{token, permits, now};
}

int32_t Core::ReleaseLocked(Semaphore* sem, int32_t slot, LazyNow& now) {
  const auto& h = sem->holders[slot];
  const int32_t permits = h.permits;
  if (CoreTracer* tracer = Tracer()) {
    tracer->OnRelease(sem->name, h.session->id, h.fencing_token, permits);
  }
  if (options_.time_holds) listener_->OnRelease(now.Get() - h.grant_time);
  if (Recording()) Emit(HolderRemoved{sem->name, h.session->id});
  ++work_;
  sem->held -= permits;
  if (Session* moved = sem->RemoveHolder(slot)) moved->held.find(sem)->second = slot;
  --held_pairs_;
  return permits;
}

void Core::HandOn(Semaphore* sem, LazyNow& now, Deferred& deferred) {
  while (Waiter* w = sem->set_queue.head) {
    ++work_;
    Session* session = w->session;
    if (session->ended) {
      // Its session ended and Tick() has not reached this request yet: it leaves now,
      // as it would have when the session ended, instead of blocking the queue.
      Answer(RemoveWaiter(w), session->end_status, deferred);
      continue;
    }
    if (draining_ || sem->limit - sem->held < w->permits) break;
    std::unique_ptr<Waiter> owned = RemoveWaiter(w);
    if (absl::Status s = CheckHeldLimit(*session, *sem); !s.ok()) {
      Answer(std::move(owned), std::move(s), deferred);
      continue;
    }
    absl::StatusOr<GrantInfo> grant = GrantLocked(sem, session, owned->permits, now.Get());
    if (!grant.ok()) {
      Answer(std::move(owned), grant.status(), deferred);
      continue;
    }
    SetOutcome out;
    out.acquired = true;
    out.grant = *grant;
    listener_->OnGrant(now.Get() - owned->enqueue_time);
    KeepSetOutcome(*owned, out);
    // An orphan granted becomes a holder; its retry then finds it "already held" (or,
    // when sequenced, its kept outcome).
    if (!owned->orphan) {
      deferred.Add([cb = std::move(owned->set_done), out]() mutable { cb(out); });
    }
    // Other requests of the same session for this semaphore are satisfied too: a
    // session that holds a semaphore gets "already held" at once. Found through the
    // session's index by semaphore: a scan of all its waiters would make handing on
    // N names to one session cost N^2.
    for (auto it = session->set_waiting.find(sem); it != session->set_waiting.end();
         it = session->set_waiting.find(sem)) {
      std::unique_ptr<Waiter> o = RemoveWaiter(it->second.head);
      SetOutcome again = out;
      again.already_held = true;
      KeepSetOutcome(*o, again);
      if (o->orphan) continue;
      deferred.Add([cb = std::move(o->set_done), again]() mutable { cb(again); });
    }
  }
  if (sem->held == 0 && sem->clear_queue.size > 0) {
    WaitClearOutcome out;
    out.clear = true;
    out.state = Snapshot(*sem, /*with_waiters=*/false, options_.max_listed_holders);
    while (Waiter* w = sem->clear_queue.head) {
      const Session* session = w->session;
      std::unique_ptr<Waiter> owned = RemoveWaiter(w);
      if (session->ended) {
        Answer(std::move(owned), session->end_status, deferred);
        continue;
      }
      KeepClearOutcome(*owned, out);
      if (owned->orphan) continue;
      deferred.Add([cb = std::move(owned->clear_done), out]() mutable { cb(out); });
    }
  }
  MaybeErase(sem);
}

absl::StatusOr<int32_t> Core::Clear(SessionId session_id, absl::string_view name,
                                    uint64_t seq) {
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  absl::StatusOr<Session*> found = LiveSession(session_id);
  if (!found.ok()) return found.status();
  if (KeptForRestart()) {
    return Restarting(absl::StrCat("semaphore ", QuoteName(name), " was not cleared"));
  }
  Session* session = *found;
  if (seq == 0 || !Sequencing(*session)) return ClearLocked(session, name, deferred);
  if (seq <= session->last_seq) {
    if (auto it = session->outcomes.find(seq); it != session->outcomes.end()) {
      const CommandOutcome& kept = it->second;
      if (kept.kind != CommandKind::kClear) return NotThisCommand(*session, seq, "clear");
      if (kept.code != absl::StatusCode::kOk) return absl::Status(kept.code, kept.message);
      return kept.released;
    }
    if (session->seq_waiters.contains(seq)) return NotThisCommand(*session, seq, "clear");
    return AlreadyAnswered(*session, seq);
  }
  session->last_seq = seq;
  absl::StatusOr<int32_t> released = ClearLocked(session, name, deferred);
  CommandOutcome outcome;
  outcome.seq = seq;
  outcome.kind = CommandKind::kClear;
  if (released.ok()) {
    outcome.released = *released;
  } else {
    outcome.code = released.status().code();
    outcome.message = std::string(released.status().message());
  }
  KeepOutcome(session, std::move(outcome));
  return released;
}

absl::StatusOr<int32_t> Core::ClearLocked(Session* session, absl::string_view name,
                                          Deferred& deferred) {
  Semaphore* sem = FindSemaphore(name);
  if (sem == nullptr || sem->holders.empty()) {
    return absl::NotFoundError(absl::StrCat("semaphore ", QuoteName(name),
                                            " is not set; there is nothing to clear"));
  }
  const int32_t i = HolderIndex(*sem, *session);
  if (i < 0) {
    const Session* holder = sem->holders[sem->first].session;
    return absl::PermissionDeniedError(absl::StrCat(
        "semaphore ", QuoteName(name), " is held by session ", FormatSessionId(holder->id),
        " (client ", QuoteName(holder->client_name), "), not by this session",
        holder->ended ? ", which has ended and is being released: wait for it to clear"
                      : "; only the holder can clear it"));
  }
  LazyNow now(clock_);
  const int32_t released = ReleaseLocked(sem, i, now);
  session->held.erase(sem);
  HandOn(sem, now, deferred);
  return released;
}

SemaphoreSnapshot Core::Test(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  if (const Semaphore* sem = FindSemaphore(name)) {
    return Snapshot(*sem, false, options_.max_listed_holders);
  }
  SemaphoreSnapshot snap;
  snap.name = std::string(name);
  return snap;
}

WaiterId Core::WaitClear(SessionId session_id, WaitClearArgs args,
                         WaitClearCallback done) {
  // Checked before the session and draining are, as in Set.
  absl::Status bad_args = CheckWaitClearArgs(args);
  if (!bad_args.ok() && args.seq == 0) {
    WhenDurable([done = std::move(done), s = std::move(bad_args)]() mutable {
      done(std::move(s));
    });
    return 0;
  }
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  auto answer = [&](absl::StatusOr<WaitClearOutcome> a) {
    deferred.Add([done = std::move(done), a = std::move(a)]() mutable { done(std::move(a)); });
    return WaiterId{0};
  };
  // Sequenced only for a live session while not draining (see "At most once").
  Session* sequenced = args.seq == 0 || draining_ ? nullptr : FindSession(session_id);
  if (sequenced == nullptr && !bad_args.ok()) return answer(std::move(bad_args));
  if (draining_) return answer(DrainRefusal("waits are refused"));
  absl::StatusOr<Session*> found = LiveSession(session_id);
  if (!found.ok()) return answer(found.status());
  const uint64_t seq = sequenced != nullptr ? args.seq : 0;
  if (seq != 0) {
    Session* session = *found;
    if (seq <= session->last_seq) {
      if (auto it = session->outcomes.find(seq); it != session->outcomes.end()) {
        return answer(WaitClearAnswerOf(it->second, args.name));
      }
      auto it = session->seq_waiters.find(seq);
      if (it == session->seq_waiters.end()) return answer(AlreadyAnswered(*session, seq));
      Waiter* w = it->second;
      if (w->is_set) return answer(NotThisCommand(*session, seq, "wait-for-clear"));
      if (!w->orphan) return answer(StillPending(*session, seq));
      ClaimOrphan(w, WaitEnd(args.wait, clock_->Now()));
      w->clear_done = std::move(done);
      return w->id;
    }
    session->last_seq = seq;
  }
  // The final answers below are kept as the command's outcome when sequenced.
  auto decided = [&](absl::StatusOr<WaitClearOutcome> a)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (seq != 0) KeepOutcome(*found, OutcomeOfWaitClear(seq, a));
    return answer(std::move(a));
  };
  if (!bad_args.ok()) return decided(std::move(bad_args));
  Semaphore* sem = FindSemaphore(args.name);
  const bool clear = sem == nullptr || sem->held == 0;
  // The clock is read only when the answer may have to wait.
  const absl::Time now = clear ? absl::InfinitePast() : clock_->Now();
  const absl::Time wait_end = clear ? now : WaitEnd(args.wait, now);
  if (clear || wait_end <= now) {
    WaitClearOutcome out;
    out.clear = clear;
    if (sem != nullptr) {
      out.state = Snapshot(*sem, false, options_.max_listed_holders);
    } else {
      out.state.name = std::move(args.name);
    }
    return decided(std::move(out));
  }
  if (auto it = (*found)->clear_orphans.find(sem);
      seq == 0 && it != (*found)->clear_orphans.end()) {
    Waiter* orphan = it->second.head;
    ClaimOrphan(orphan, wait_end);  // unlinks it from clear_orphans
    orphan->clear_done = std::move(done);
    return orphan->id;
  }
  if (absl::Status s = CheckWaiterLimits(**found, *sem); !s.ok()) {
    return decided(std::move(s));
  }
  auto w = std::make_unique<Waiter>();
  w->id = ++last_waiter_id_;
  w->is_set = false;
  w->session = *found;
  w->sem = sem;
  w->deadline = wait_end;
  w->enqueue_time = now;
  w->seq = seq;
  w->clear_done = std::move(done);
  const WaiterId id = w->id;
  Enqueue(std::move(w));
  return id;
}

void Core::Cancel(WaiterId id, absl::Status why) {
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  Waiter* w = it->second.get();
  Semaphore* sem = w->sem;
  if (why.code() == absl::StatusCode::kCancelled && why.message().empty()) {
    why = absl::CancelledError(absl::StrCat("the wait for semaphore ", QuoteName(sem->name),
                                            " was cancelled"));
  }
  Answer(RemoveWaiter(w), std::move(why), deferred);
  // The head may have left: later waiters may now fit; the semaphore may be unused.
  LazyNow now(clock_);
  HandOn(sem, now, deferred);
}

// --- Time ---

void Core::Tick() {
  Locked locked(this);
  Deferred& deferred = locked.deferred();
  LazyNow lazy(clock_);
  const absl::Time now = lazy.Get();
  // A mass expiry is handled in slices, the lock released between them (the caller
  // calls again while NextDeadline() has passed), so other calls are not stalled.
  const uint64_t stop_at = work_ + kTickWork;
  while (!waiter_deadlines_.empty() && waiter_deadlines_.begin()->first <= now &&
         work_ < stop_at) {
    Waiter* w = waiters_.at(waiter_deadlines_.begin()->second).get();
    Semaphore* sem = w->sem;
    const Session* session = w->session;
    std::unique_ptr<Waiter> owned = RemoveWaiter(w);
    if (session->ended) {
      // Ended in slices, not yet reached: answered as its session's end, not a timeout.
      Answer(std::move(owned), session->end_status, deferred);
    } else if (owned->orphan) {
      // Restored and never claimed: it leaves its queue (an effect); nobody to tell,
      // but a sequenced one keeps its outcome for its re-send.
      listener_->OnWaitTimeout();
      if (owned->is_set) {
        KeepSetOutcome(*owned, SetOutcome{});
      } else {
        KeepClearOutcome(*owned, WaitClearOutcome{});
      }
    } else if (owned->is_set) {
      listener_->OnWaitTimeout();
      SetOutcome out;
      out.state = Snapshot(*sem, false, options_.max_listed_holders);
      KeepSetOutcome(*owned, out);
      deferred.Add([cb = std::move(owned->set_done), out]() mutable { cb(out); });
    } else {
      listener_->OnWaitTimeout();
      WaitClearOutcome out;
      out.state = Snapshot(*sem, false, options_.max_listed_holders);
      KeepClearOutcome(*owned, out);
      deferred.Add([cb = std::move(owned->clear_done), out]() mutable { cb(out); });
    }
    HandOn(sem, lazy, deferred);
  }
  while (!ending_.empty() && work_ < stop_at) {
    if (!ReleaseRecords(ending_.front().get(), stop_at, lazy, deferred)) break;
    // Not reached with a store (sessions end at once), kept for the contract's sake.
    if (Recording()) Emit(SessionEnded{ending_.front()->id});
    ending_.pop_front();
  }
  while (!KeptForRestart() && !session_expiry_.empty() &&
         session_expiry_.begin()->first <= now && work_ < stop_at) {
    Session* s = FindSession(session_expiry_.begin()->second);
    absl::Status why = absl::UnauthenticatedError(absl::StrCat(
        "session ", FormatSessionId(s->id), " expired: no keepalive arrived within its TTL of ",
        absl::FormatDuration(s->ttl), "; open a new session"));
    EndSessionLocked(s, std::move(why), SessionEndReason::kExpired, deferred);
  }
}

absl::Time Core::NextDeadline() const {
  absl::MutexLock lock(&mu_);
  absl::Time next = absl::InfiniteFuture();
  if (!ending_.empty()) next = clock_->Now();
  if (!waiter_deadlines_.empty()) next = std::min(next, waiter_deadlines_.begin()->first);
  if (!session_expiry_.empty()) next = std::min(next, session_expiry_.begin()->first);
  return next;
}

}  // namespace semaphored::engine
