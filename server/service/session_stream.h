#ifndef SEMAPHORED_SERVER_SERVICE_SESSION_STREAM_H_
#define SEMAPHORED_SERVER_SERVICE_SESSION_STREAM_H_

// The reactor of SemaphoreService.StreamSession: class SessionStream, defined in
// session_stream.cc (gRPC reactions, writing, the stream's end, session events) and
// session_stream_commands.cc (requests and commands).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/alarm.h"
#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.pb.h"
#include "server/service/operations.h"
#include "server/service/service_limits.h"
#include "server/service/call_observer.h"
#include "server/service/wire.h"

namespace semaphored::server {

// The reactor of one SemaphoreService.StreamSession call: a long-lived stream that
// carries one session's keepalives, commands and pushes.
//
// Protocol (server side):
// - The first StreamSessionRequest must carry session_secret: missing, the stream
//   finishes with INVALID_ARGUMENT; unknown, malformed or ended, with UNAUTHENTICATED.
//   It must arrive within limits.stream_first_message_timeout of the call's start, or
//   the stream finishes with DEADLINE_EXCEEDED.
//   Later requests may omit it or repeat it exactly; a different secret finishes the
//   stream with INVALID_ARGUMENT (which, as every stream end, closes the session).
// - A request with more than kMaxCommandsPerMessage commands finishes the stream with
//   RESOURCE_EXHAUSTED (counted before the commands are parsed); none of them runs.
// - Commands run in the order received. Each gets exactly one SessionEvent carrying its
//   command_id: the answer, or a CommandError. command_id must be nonzero (0 marks
//   pushes) and unique among the stream's pending commands (INVALID_ARGUMENT).
//   A session_secret inside a command may be empty or the stream's own.
//   A command that does not parse (e.g. a name that is not UTF-8) is answered
//   INVALID_ARGUMENT on its own; the other commands of its request still run. A
//   request that is not a StreamSessionRequest at all finishes the stream with
//   INVALID_ARGUMENT.
// - Every command goes to the operation layer (Operations), which answers it through a
//   completion; set and wait_clear wait without blocking and are answered when the
//   engine grants, times out or cancels them.
//   cancel answers the target command CANCELLED and then answers itself with an empty
//   `ping` event (the proto has no dedicated answer); a target that is not pending
//   (unknown, or already answered) gets the cancel answered NOT_FOUND.
//   close answers `close`, then the session_ended push follows.
// - Pushes (command_id 0): session_ended when the session ends for any reason (closed,
//   expired, ended by an administrator, server draining) — pending commands are first
//   answered with the session's end status, then the push is sent and the stream
//   finishes with OK; revoked when a held semaphore is force-cleared.
// - When the stream ends from the client side (half-close, cancellation, disconnect,
//   failed write), pending waits are cancelled and the session is CLOSED at once, so a
//   crashed client releases everything without waiting for its TTL
//   (Operations::StreamEnded: SessionEndReason::kStreamEnded).
// - One stream per session: a second stream for the same session takes the session's
//   observer over, so pushes go to the newest stream only.
// - Events produced while a write is in flight are sent together in the next
//   StreamSessionResponse; answers to one request's commands go out together as far
//   as the answer budget allows. One response holds at most kMaxEventsPerWrite events
//   and about kMaxBytesPerWrite bytes.
//   Answer budget (backpressure): before each command, the bytes of the events queued
//   or being written are compared with limits.stream_answer_budget_bytes; past it, the
//   request's remaining commands wait, and no request is read, until writes have
//   brought them back within it. So a client that never reads cannot make the stream
//   queue more than the budget plus one answer, plus the pushes and the answers of
//   commands already waiting in the engine. Reading also pauses while too many events
//   wait.
// - Answers list at most limits.max_listed_holders holders (holder_count gives all).
//
// Lifetime: the reactor is reference-counted; gRPC's reference is dropped in OnDone,
// and completions or session events that arrive later find the stream finished and
// drop their events. Never blocks a gRPC thread.
// Messages are raw bytes (StreamSessionRequest in, StreamSessionResponse out), parsed
// with ParseStreamRequest so that a malformed command is answered on its own.
// `observer` (which must outlive the call) is told about every command
// ("StreamSession.<command>") and every error answer or error end of the stream.
// The reactor (see the protocol above). Reference-counted: self_ is gRPC's reference,
// dropped in OnDone; completions and the session's event forwarder hold weak
// references. Create it with NewSessionStream.
//
// Locking: mu_ guards the state; it is never held while calling the operation layer
// (whose completions may run inline and take mu_) nor while starting a gRPC operation
// (whose reaction may run inline).
class SessionStream final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public std::enable_shared_from_this<SessionStream> {
 public:
  using Raw = grpc::ByteBuffer;
  using Request = v1::StreamSessionRequest;
  using Response = v1::StreamSessionResponse;

  // At most this many events go into one StreamSessionResponse (keeps each message
  // far below the client's default 4 MiB receive limit).
  static constexpr int kMaxEventsPerWrite = 512;
  // A message also stops taking events once it holds this many bytes (it always takes
  // one event; answers list at most ServiceLimits::max_listed_holders holders).
  static constexpr int64_t kMaxBytesPerWrite = 1 << 20;
  // Reading also pauses while this many events wait to be written (besides the
  // answer budget in bytes, ServiceLimits::stream_answer_budget_bytes).
  static constexpr int kMaxBacklogEvents = 4096;
  // Waiting commands one stream may have at a time.
  static constexpr size_t kMaxPendingCommands = 100'000;

  SessionStream(Operations* operations, CallObserver* observer,
                const ServiceLimits& limits, absl::Time call_deadline)
      : operations_(operations),
        observer_(observer),
        limits_(limits),
        call_deadline_(call_deadline) {}

  // Takes gRPC's reference, arms the first-message deadline and starts reading. Call
  // once, right after construction.
  void Start() ABSL_LOCKS_EXCLUDED(mu_);

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    EndStream(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was cancelled"));
  }
  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_) {
    std::shared_ptr<SessionStream> me;
    absl::MutexLock lock(&mu_);
    me = std::move(self_);  // may destroy *this when `me` goes out of scope
  }

  // From the session observer (any thread).
  void SessionEnded(const absl::Status& reason) ABSL_LOCKS_EXCLUDED(mu_);
  void Revoked(const std::string& name, uint64_t token, const std::string& reason)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // An error answer to a command (reported to the observer).
  v1::SessionEvent ErrorEvent(uint64_t command_id, const absl::Status& status) const {
    v1::SessionEvent event;
    event.set_command_id(command_id);
    *event.mutable_error() = AnswerError(*observer_, status);
    return event;
  }
  // Ends the stream with an error (reported to the observer); see EndStream.
  void EndStreamWithError(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    EndStream(AnswerStatus(*observer_, status));
  }

  struct PendingCommand {
    uint64_t ticket = 0;     // tells a reused command_id from the original
    engine::WaiterId waiter = 0;  // 0 until Set/WaitClear returns
  };

  // Handles one received message: refuses one with too many commands, parses it,
  // authenticates it and queues its commands in inbox_ (running what the answer
  // budget allows).
  void HandleMessage(absl::string_view bytes) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleRequest(ParsedStreamRequest parsed) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs the inbox's commands in order while the unsent answers stay within the
  // budget. The caller counts itself in busy_.
  void RunInbox() ABSL_LOCKS_EXCLUDED(mu_);
  // The first-message deadline passed: ends the stream unless a message came.
  void FirstMessageTimedOut() ABSL_LOCKS_EXCLUDED(mu_);
  bool AuthenticateFirst(const ParsedStreamRequest& parsed) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleCommand(const v1::SessionCommand& command) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleSet(uint64_t id, uint64_t seq, const v1::SetSemaphoreRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandleWaitClear(uint64_t id, uint64_t seq,
                       const v1::WaitSemaphoreClearRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandleCancel(uint64_t id, uint64_t target) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleClose(uint64_t id, const v1::CloseSessionRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  // What the operation layer needs to know about a command: the stream's session,
  // the call's deadline and the command's number in its session (SessionCommand.seq).
  CallInfo CommandCall(uint64_t seq = 0) const ABSL_LOCKS_EXCLUDED(mu_) {
    CallInfo call;
    call.session = session();
    call.deadline = call_deadline_;
    call.seq = seq;
    return call;
  }
  // The event answering command `id`: the response in the SessionEvent field that
  // `field` (a mutable_<answer> accessor) returns, or the error.
  template <typename Response>
  v1::SessionEvent AnswerEvent(uint64_t id, absl::StatusOr<Response> answer,
                               Response* (v1::SessionEvent::*field)()) const {
    if (!answer.ok()) return ErrorEvent(id, answer.status());
    v1::SessionEvent event;
    event.set_command_id(id);
    *(event.*field)() = *std::move(answer);
    return event;
  }
  // A completion that queues the answer to command `id` (see AnswerEvent), whenever
  // and on whatever thread it comes.
  template <typename Response>
  Done<Response> AnswerTo(uint64_t id, Response* (v1::SessionEvent::*field)()) {
    return [weak = weak_from_this(), id, field](absl::StatusOr<Response> answer) {
      std::shared_ptr<SessionStream> stream = weak.lock();
      if (stream == nullptr) return;
      stream->Push(stream->AnswerEvent(id, std::move(answer), field));
      stream->Pump();
    };
  }
  // As AnswerTo, for a pending command (see Complete).
  template <typename Response>
  Done<Response> CompletePending(uint64_t id, uint64_t ticket,
                                 Response* (v1::SessionEvent::*field)()) {
    return [weak = weak_from_this(), id, ticket, field](absl::StatusOr<Response> answer) {
      std::shared_ptr<SessionStream> stream = weak.lock();
      if (stream == nullptr) return;
      stream->Complete(id, ticket, stream->AnswerEvent(id, std::move(answer), field));
    };
  }
  absl::Status CheckCommandSecret(absl::string_view secret) const
      ABSL_LOCKS_EXCLUDED(mu_);
  internal::SessionId session() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return session_id_;
  }

  // Registers a waiting command; returns its ticket (never 0), which tells its answer
  // from that of an earlier command with the same reused command_id; 0 when refused.
  uint64_t AddPending(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the engine's waiter id of a pending command (cancelling it if the stream
  // has ended meanwhile).
  void SetPendingWaiter(uint64_t id, uint64_t ticket, engine::WaiterId waiter)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The answer to a pending command; dropped when no longer pending.
  void Complete(uint64_t id, uint64_t ticket, v1::SessionEvent event)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Queues an event (answer or push) for writing.
  // Queues an answer the stream gives itself (a malformed or refused command) behind
  // every answer decided before it (Operations::AfterAnswers), then pumps.
  void PushInOrder(v1::SessionEvent event) ABSL_LOCKS_EXCLUDED(mu_);
  void Push(v1::SessionEvent event) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    PushLocked(std::move(event));
  }
  void PushLocked(v1::SessionEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || broken_) return;
    queued_bytes_ += static_cast<int64_t>(event.ByteSizeLong());
    *out_.add_events() = std::move(event);
    if (limits_.stream_stats != nullptr) limits_.stream_stats->RecordUnsent(UnsentLocked());
  }
  // Bytes of answers and pushes queued or being written, not yet sent.
  int64_t UnsentLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queued_bytes_ + writing_bytes_;
  }
  bool OverBudgetLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return UnsentLocked() > limits_.stream_answer_budget_bytes;
  }
  bool InboxEmptyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return inbox_next_ >= inbox_.request.commands_size();
  }
  void ClearInboxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    inbox_ = ParsedStreamRequest();
    inbox_next_ = 0;
  }
  // The client side of the stream has ended (or broke the protocol): cancels the
  // pending waits, closes the session and finishes with `status` once the remaining
  // events are written. Idempotent.
  void EndStream(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts whatever can start now: the next read, the next write, or Finish.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);
  void TakeBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Operations* const operations_;
  CallObserver* const observer_;
  const ServiceLimits limits_;
  const absl::Time call_deadline_;
  // Ends a stream whose first message is late; set once in Start (before any read),
  // cancelled by the first read.
  grpc::Alarm first_message_alarm_;
  // The message being read; touched only by the read that fills it and by
  // OnReadDone, which gRPC never runs concurrently with itself.
  Raw request_;

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  std::shared_ptr<SessionStream> self_ ABSL_GUARDED_BY(mu_);  // gRPC's reference
  bool first_message_ ABSL_GUARDED_BY(mu_) = false;  // a message has arrived
  bool alarm_armed_ ABSL_GUARDED_BY(mu_) = false;    // first_message_alarm_ was set
  bool authenticated_ ABSL_GUARDED_BY(mu_) = false;
  internal::SessionId session_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string secret_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, PendingCommand> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t last_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  // While a close command runs, the session_ended push waits here so that it
  // follows the close answer.
  bool holding_ended_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<v1::SessionEvent> held_ended_ ABSL_GUARDED_BY(mu_);
  // The commands of the last message not run yet (from inbox_next_ on): they wait
  // while the unsent answers pass the budget. No message is read while any wait.
  ParsedStreamRequest inbox_ ABSL_GUARDED_BY(mu_);
  int inbox_next_ ABSL_GUARDED_BY(mu_) = 0;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;  // the inbox waits for the budget
  // Events waiting to be written, and the message being written, with their sizes
  // (the sum of the events' serialized sizes) for the answer budget.
  Response out_ ABSL_GUARDED_BY(mu_);
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t writing_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // writing_buf_ is read by gRPC while write_in_flight_.
  Response writing_ ABSL_GUARDED_BY(mu_);
  Raw writing_buf_;
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // Threads between deciding on a read or write and starting it: Finish waits.
  int issuing_ ABSL_GUARDED_BY(mu_) = 0;
  // Threads handling a request or ending the stream: writes and Finish wait, so
  // that the events they produce go out together and before the end.
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_ended_ ABSL_GUARDED_BY(mu_) = false;  // EndStream ran
  bool ending_ ABSL_GUARDED_BY(mu_) = false;        // finish once everything is written
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // a write failed: the client is gone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Forwards the engine's events about a session (its end, revocations) to the session's
// stream while the stream exists.
class SessionEventForwarder final : public engine::SessionObserver {
 public:
  explicit SessionEventForwarder(std::weak_ptr<SessionStream> stream)
      : stream_(std::move(stream)) {}
  void OnSessionEnded(const absl::Status& reason) override {
    if (auto stream = stream_.lock()) stream->SessionEnded(reason);
  }
  void OnRevoked(const std::string& name, uint64_t fencing_token,
                 const std::string& reason) override {
    if (auto stream = stream_.lock()) stream->Revoked(name, fencing_token, reason);
  }

 private:
  const std::weak_ptr<SessionStream> stream_;
};

// Starts the reactor of one StreamSession call (see above). `operations` and
// `observer` must outlive the call; a null observer means CallObserver::Null().
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* NewSessionStream(
    Operations* operations, CallObserver* observer, const ServiceLimits& limits,
    grpc::CallbackServerContext* context);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_SESSION_STREAM_H_
