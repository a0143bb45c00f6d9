// The torture test's histories: client operations written and read back, and the server's trace.

#include "tests/torture/history.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace semaphored::torture {
namespace {

// Lines:
//   B <pid> <thread> <seq> <kind> <start_ns> <session|-> <name|-> <limit> <permits> <timeout_ms>
//   E <pid> <thread> <seq> <end_ns> <result> <code> <token>
// Names are C-escaped and must not contain spaces once escaped.
constexpr OpKind kKinds[] = {OpKind::kOpen,      OpKind::kTry,   OpKind::kTimedSet,
                             OpKind::kCancelSet, OpKind::kWaitClear, OpKind::kClear,
                             OpKind::kClose,     OpKind::kLost,  OpKind::kCrash,
                             OpKind::kStuck};
constexpr OpResult kResults[] = {OpResult::kPending,    OpResult::kGranted,
                                 OpResult::kAlreadyHeld, OpResult::kNotGranted,
                                 OpResult::kClear,      OpResult::kNotClear,
                                 OpResult::kOk,         OpResult::kError};

// C-escaped, with spaces as \040 so that a name stays one field.
std::string OrDash(absl::string_view s) {
  if (s.empty()) return "-";
  std::string out;
  for (char c : absl::CEscape(s)) {
    if (c == ' ') {
      out += "\\040";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool FromDash(absl::string_view s, std::string* out) {
  if (s == "-") {
    out->clear();
    return true;
  }
  std::string error;
  return absl::CUnescape(s, out, &error);
}

template <typename Enum, size_t N>
bool ParseEnum(absl::string_view text, const Enum (&values)[N],
               absl::string_view (*name)(Enum), Enum* out) {
  for (Enum v : values) {
    if (name(v) == text) {
      *out = v;
      return true;
    }
  }
  return false;
}

absl::Status ReadWholeFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return absl::OkStatus();
}

// Calls `fn(line, line_number)` for every complete line; a last line without a
// newline (cut by a SIGKILL) is skipped.
template <typename Fn>
absl::Status ForEachLine(absl::string_view text, absl::string_view source, Fn fn) {
  int number = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == absl::string_view::npos) break;
    ++number;
    absl::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line.empty()) continue;
    if (!fn(line)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", number, ": malformed line: ", line));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

absl::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kOpen: return "open";
    case OpKind::kTry: return "try";
    case OpKind::kTimedSet: return "timed_set";
    case OpKind::kCancelSet: return "cancel_set";
    case OpKind::kWaitClear: return "wait_clear";
    case OpKind::kClear: return "clear";
    case OpKind::kClose: return "close";
    case OpKind::kLost: return "lost";
    case OpKind::kCrash: return "crash";
    case OpKind::kStuck: return "stuck";
  }
  return "?";
}

absl::string_view OpResultName(OpResult result) {
  switch (result) {
    case OpResult::kPending: return "pending";
    case OpResult::kGranted: return "granted";
    case OpResult::kAlreadyHeld: return "already_held";
    case OpResult::kNotGranted: return "not_granted";
    case OpResult::kClear: return "clear";
    case OpResult::kNotClear: return "not_clear";
    case OpResult::kOk: return "ok";
    case OpResult::kError: return "error";
  }
  return "?";
}

// --- HistoryWriter ---

absl::StatusOr<std::unique_ptr<HistoryWriter>> HistoryWriter::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<HistoryWriter>(new HistoryWriter(fd));
}

HistoryWriter::~HistoryWriter() { ::close(fd_); }

void HistoryWriter::WriteLine(const std::string& line) {
  // O_APPEND and one write per line: lines of concurrent threads never interleave.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the checker will see a pending operation
    done += static_cast<size_t>(n);
  }
}

void HistoryWriter::Begin(const Op& op) {
  WriteLine(absl::StrCat("B ", op.pid, " ", op.thread, " ", op.seq, " ", OpKindName(op.kind),
                         " ", op.start_ns, " ", OrDash(op.session), " ", OrDash(op.name),
                         " ", op.limit, " ", op.permits, " ", op.timeout_ms, "\n"));
}

void HistoryWriter::End(const Op& op) {
  WriteLine(absl::StrCat("E ", op.pid, " ", op.thread, " ", op.seq, " ", op.end_ns, " ",
                         OpResultName(op.result), " ", op.code, " ", op.token, "\n"));
}

void HistoryWriter::Instant(const Op& op) {
  Begin(op);
  End(op);
}

// --- Reading ---

absl::Status ParseHistoryText(absl::string_view text, absl::string_view source,
                              History* history) {
  absl::flat_hash_map<std::tuple<int, int, int64_t>, size_t> open;
  return ForEachLine(text, source, [&](absl::string_view line) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f[0] == "B" && f.size() == 11) {
      Op op;
      if (!absl::SimpleAtoi(f[1], &op.pid) || !absl::SimpleAtoi(f[2], &op.thread) ||
          !absl::SimpleAtoi(f[3], &op.seq) || !ParseEnum(f[4], kKinds, OpKindName, &op.kind) ||
          !absl::SimpleAtoi(f[5], &op.start_ns) || !FromDash(f[6], &op.session) ||
          !FromDash(f[7], &op.name) || !absl::SimpleAtoi(f[8], &op.limit) ||
          !absl::SimpleAtoi(f[9], &op.permits) || !absl::SimpleAtoi(f[10], &op.timeout_ms)) {
        return false;
      }
      open[{op.pid, op.thread, op.seq}] = history->ops.size();
      history->ops.push_back(std::move(op));
      return true;
    }
    if (f[0] == "E" && f.size() == 8) {
      int pid = 0, thread = 0;
      int64_t seq = 0;
      if (!absl::SimpleAtoi(f[1], &pid) || !absl::SimpleAtoi(f[2], &thread) ||
          !absl::SimpleAtoi(f[3], &seq)) {
        return false;
      }
      auto it = open.find({pid, thread, seq});
      if (it == open.end()) return false;  // an end without a begin
      Op& op = history->ops[it->second];
      return absl::SimpleAtoi(f[4], &op.end_ns) &&
             ParseEnum(f[5], kResults, OpResultName, &op.result) &&
             absl::SimpleAtoi(f[6], &op.code) && absl::SimpleAtoi(f[7], &op.token);
    }
    return false;
  });
}

absl::Status ReadHistoryFile(const std::string& path, History* history) {
  std::string text;
  if (absl::Status s = ReadWholeFile(path, &text); !s.ok()) return s;
  return ParseHistoryText(text, path, history);
}

namespace {

// One trace line (trace_file_writer.h) into `r`; false when malformed.
bool ParseTraceLine(absl::string_view line, TraceRecord& r) {
  std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 6));
  if (f.size() < 3 || f[1].size() != 1) return false;
  r.kind = f[1][0];
  r.session = std::string(f[2]);
  if (!absl::SimpleAtoi(f[0], &r.time_ns)) return false;
  // The name is the last field: everything after the fixed ones.
  auto name_after = [&](size_t fixed) {
    if (f.size() < fixed + 1) return false;
    absl::string_view rest = line;
    for (size_t i = 0; i < fixed; ++i) rest.remove_prefix(f[i].size() + 1);
    std::string error;
    return absl::CUnescape(rest, &r.name, &error);
  };
  switch (r.kind) {
    case 'Q':
    case 'W':
      return f.size() > 4 && absl::SimpleAtoi(f[3], &r.waiter) &&
             absl::SimpleAtoi(f[4], &r.permits) && name_after(5);
    case 'D':
      return f.size() > 3 && absl::SimpleAtoi(f[3], &r.waiter) && name_after(4);
    case 'G':
    case 'H':
      return f.size() > 5 && absl::SimpleAtoi(f[3], &r.token) &&
             absl::SimpleAtoi(f[4], &r.permits) && absl::SimpleAtoi(f[5], &r.limit) &&
             name_after(6);
    case 'R':
      return f.size() > 4 && absl::SimpleAtoi(f[3], &r.token) &&
             absl::SimpleAtoi(f[4], &r.permits) && name_after(5);
    case 'E':
      r.reason = f.size() == 4 ? std::string(f[3]) : "";
      return f.size() == 4;
    case 'S':
      return f.size() == 4 && r.session == "-" && absl::SimpleAtoi(f[3], &r.token);
    case 'O':
      return f.size() == 3;
    case 'P':
      r.torn = f.size() == 4 && f[3] == "1";
      return f.size() == 4 && r.session == "-" && (f[3] == "0" || f[3] == "1");
    default:
      return false;
  }
}

}  // namespace

absl::Status ParseTraceText(absl::string_view text, absl::string_view source,
                            History* history) {
  history->has_trace = true;
  // Whole lines only: a process killed while writing leaves its last line unfinished,
  // and the next process's P record says so (that line is then skipped).
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // what follows the last newline: empty, or unfinished
  std::vector<bool> skip(lines.size(), false);
  for (size_t i = 1; i < lines.size(); ++i) {
    TraceRecord r;
    if (ParseTraceLine(lines[i], r) && r.kind == 'P' && r.torn) skip[i - 1] = true;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty() || skip[i]) continue;
    TraceRecord r;
    if (!ParseTraceLine(lines[i], r)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", i + 1, ": malformed line: ", lines[i]));
    }
    history->trace.push_back(std::move(r));
  }
  return absl::OkStatus();
}

absl::Status ReadTraceFile(const std::string& path, History* history) {
  std::string text;
  if (absl::Status s = ReadWholeFile(path, &text); !s.ok()) return s;
  return ParseTraceText(text, path, history);
}

absl::Status MergeLeaderTraces(const std::vector<std::vector<TraceRecord>>& traces,
                               History* history) {
  history->has_trace = true;
  struct Leadership {
    const std::vector<TraceRecord>* trace;
    size_t begin;  // its S record
    size_t end;
  };
  std::vector<Leadership> leaderships;
  for (const std::vector<TraceRecord>& trace : traces) {
    for (size_t i = 0; i < trace.size(); ++i) {
      if (trace[i].kind == 'S') {
        if (!leaderships.empty() && leaderships.back().trace == &trace) {
          leaderships.back().end = i;
        }
        leaderships.push_back({&trace, i, trace.size()});
      } else if (trace[i].kind != 'P' &&
                 (leaderships.empty() || leaderships.back().trace != &trace)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "trace record before its process restored (led): kind ",
            std::string(1, trace[i].kind), " at ", trace[i].time_ns));
      }
    }
  }
  std::sort(leaderships.begin(), leaderships.end(),
            [](const Leadership& a, const Leadership& b) {
              return (*a.trace)[a.begin].time_ns < (*b.trace)[b.begin].time_ns;
            });
  for (size_t l = 0; l < leaderships.size(); ++l) {
    const Leadership& leadership = leaderships[l];
    const std::vector<TraceRecord>& trace = *leadership.trace;
    TraceRecord process;
    process.time_ns = trace[leadership.begin].time_ns;
    process.kind = 'P';
    process.session = "-";
    history->trace.push_back(process);
    const bool last = l + 1 == leaderships.size();
    const int64_t successor_ns =
        last ? 0 : (*leaderships[l + 1].trace)[leaderships[l + 1].begin].time_ns;
    for (size_t i = leadership.begin; i < leadership.end; ++i) {
      if (!last && trace[i].time_ns >= successor_ns) break;
      history->trace.push_back(trace[i]);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadLeaderTraceFiles(const std::vector<std::string>& paths, History* history) {
  std::vector<std::vector<TraceRecord>> traces;
  for (const std::string& path : paths) {
    History one;
    if (absl::Status s = ReadTraceFile(path, &one); !s.ok()) return s;
    traces.push_back(std::move(one.trace));
  }
  return MergeLeaderTraces(traces, history);
}

}  // namespace semaphored::torture
