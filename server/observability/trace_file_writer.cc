// TraceFileWriter: the engine's queue/grant/release records, written to a file.

#include "server/observability/trace_file_writer.h"

#include <time.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/session_id.h"
#include "server/observability/server_events.h"

namespace semaphored::server {

using ::semaphored::internal::FormatSessionId;
using ::semaphored::internal::SessionId;

using engine::SessionEndReason;
using engine::WaiterId;

namespace {

// CLOCK_MONOTONIC in nanoseconds: one clock for the server and every client process.
int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TraceFileWriter>> TraceFileWriter::Open(
    const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "a+");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open trace file ", path, ": ", std::strerror(errno)));
  }
  // Records of an earlier process: mark where this one's begin (after a whole line).
  std::string mark;
  if (std::fseek(file, 0, SEEK_END) == 0 && std::ftell(file) > 0) {
    bool torn = true;
    if (std::fseek(file, -1, SEEK_END) == 0) torn = std::fgetc(file) != '\n';
    std::fseek(file, 0, SEEK_END);  // (stdio: a write after a read needs a seek)
    mark = absl::StrCat(torn ? "\n" : "", MonotonicNanos(), " P - ", torn ? 1 : 0, "\n");
  }
  std::unique_ptr<TraceFileWriter> writer(new TraceFileWriter(file));
  if (!mark.empty()) {
    absl::MutexLock lock(&writer->file_mu_);
    writer->WriteOut(mark);
    if (!writer->write_error_.ok()) return writer->write_error_;
  }
  return writer;
}

TraceFileWriter::TraceFileWriter(std::FILE* file) : file_(file) {
  writer_ = std::thread([this] { WriterLoop(); });
}

TraceFileWriter::~TraceFileWriter() { Close().IgnoreError(); }

void TraceFileWriter::WriterLoop() {
  while (true) {
    bool stop = false;
    {
      absl::MutexLock lock(&mu_);
      // Batches writes; wakes early when the buffer grows large or on Close().
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || pending_.size() > (1 << 20);
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(20));
      stop = stopping_;
    }
    WriteBuffered();
    if (stop) return;
  }
}

void TraceFileWriter::WriteBuffered() {
  absl::MutexLock file_lock(&file_mu_);
  std::string chunk;
  {
    absl::MutexLock lock(&mu_);
    chunk.swap(pending_);
  }
  WriteOut(chunk);
}

void TraceFileWriter::OnCommitting() { WriteBuffered(); }

void TraceFileWriter::WriteOut(const std::string& chunk) {
  if (chunk.empty() || file_ == nullptr) return;
  if (std::fwrite(chunk.data(), 1, chunk.size(), file_) != chunk.size() ||
      std::fflush(file_) != 0) {
    if (write_error_.ok()) {
      write_error_ = absl::UnavailableError(
          absl::StrCat("cannot write the trace file: ", std::strerror(errno)));
    }
  }
}

absl::Status TraceFileWriter::Close() {
  absl::MutexLock close_lock(&close_mu_);
  bool already = false;
  {
    absl::MutexLock lock(&mu_);
    already = closed_;
    closed_ = true;
    stopping_ = true;
  }
  if (already) {
    absl::MutexLock file_lock(&file_mu_);
    return write_error_;
  }
  writer_.join();  // it writes the last chunk on its way out
  WriteBuffered();  // anything appended while it wrote
  absl::MutexLock file_lock(&file_mu_);
  if (std::fclose(file_) != 0 && write_error_.ok()) {
    write_error_ = absl::UnavailableError(
        absl::StrCat("cannot close the trace file: ", std::strerror(errno)));
  }
  file_ = nullptr;
  return write_error_;
}

void TraceFileWriter::Append(absl::string_view fields, absl::string_view name) {
  const int64_t now = MonotonicNanos();
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  absl::StrAppend(&pending_, now, " ", fields);
  if (!name.empty()) absl::StrAppend(&pending_, " ", absl::CEscape(name));
  pending_.push_back('\n');
}

void TraceFileWriter::OnQueued(absl::string_view name, SessionId session, WaiterId waiter,
                               int32_t permits) {
  Append(absl::StrCat("Q ", FormatSessionId(session), " ", waiter, " ", permits), name);
}

void TraceFileWriter::OnDequeued(absl::string_view name, SessionId session,
                                 WaiterId waiter) {
  Append(absl::StrCat("D ", FormatSessionId(session), " ", waiter), name);
}

void TraceFileWriter::OnGrant(absl::string_view name, SessionId session, uint64_t token,
                              int32_t permits, int32_t limit) {
  Append(absl::StrCat("G ", FormatSessionId(session), " ", token, " ", permits, " ", limit),
         name);
}

void TraceFileWriter::OnRelease(absl::string_view name, SessionId session, uint64_t token,
                                int32_t permits) {
  Append(absl::StrCat("R ", FormatSessionId(session), " ", token, " ", permits), name);
}

void TraceFileWriter::OnSessionEnded(SessionId session, SessionEndReason reason) {
  Append(absl::StrCat("E ", FormatSessionId(session), " ", SessionEndReasonName(reason)),
         "");
}

void TraceFileWriter::OnRestored(uint64_t token_high_water) {
  Append(absl::StrCat("S - ", token_high_water), "");
}

void TraceFileWriter::OnRestoredSession(SessionId session) {
  Append(absl::StrCat("O ", FormatSessionId(session)), "");
}

void TraceFileWriter::OnRestoredHolder(absl::string_view name, SessionId session,
                                       uint64_t token, int32_t permits, int32_t limit) {
  Append(absl::StrCat("H ", FormatSessionId(session), " ", token, " ", permits, " ", limit),
         name);
}

void TraceFileWriter::OnRestoredWaiter(absl::string_view name, SessionId session,
                                       WaiterId waiter, int32_t permits) {
  Append(absl::StrCat("W ", FormatSessionId(session), " ", waiter, " ", permits), name);
}

}  // namespace semaphored::server
