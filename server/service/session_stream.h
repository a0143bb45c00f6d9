#ifndef SEMAPHORED_SERVER_SERVICE_SESSION_STREAM_H_
#define SEMAPHORED_SERVER_SERVICE_SESSION_STREAM_H_

#include "grpcpp/grpcpp.h"
#include "semaphored/v1/semaphore.grpc.pb.h"
#include "common/clock.h"
#include "engine/core.h"
#include "server/service/service_limits.h"
#include "server/service/service_observer.h"

namespace semaphored::internal {

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
// - set and wait_clear wait without blocking and are answered when the core answers.
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
//   (Core::CloseSession with SessionEndReason::kStreamEnded).
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
//   commands already waiting in the core. Reading also pauses while too many events
//   wait.
// - Answers list at most limits.max_listed_holders holders (holder_count gives all).
//
// Lifetime: the reactor is reference-counted; gRPC's reference is dropped in OnDone,
// and core callbacks or the session observer that arrive later find the stream
// finished and drop their events. Never blocks a gRPC thread.
// Messages are raw bytes (StreamSessionRequest in, StreamSessionResponse out), parsed
// with ParseStreamRequest so that a malformed command is answered on its own.
// `observer` (which must outlive the call) is told about every command
// ("StreamSession.<command>") and every error answer or error end of the stream.
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* NewSessionStream(
    engine::Core* core, Clock* clock, ServiceObserver* observer, const ServiceLimits& limits,
    grpc::CallbackServerContext* context);

}  // namespace semaphored::internal

#endif  // SEMAPHORED_SERVER_SERVICE_SESSION_STREAM_H_
