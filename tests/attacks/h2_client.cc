// The attack suite's raw HTTP/2 client: builds frames and counts what the server sends back.

#include "tests/attacks/h2_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/attacks/net_util.h"

namespace semaphored::testing {
namespace {

constexpr absl::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint16_t kSettingsInitialWindow = 0x4;
constexpr uint16_t kSettingsMaxConcurrentStreams = 0x3;

void AppendBigEndian(std::string* out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>(value >> (8 * i)));
}

uint64_t ReadBigEndian(absl::string_view in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

}  // namespace

void AppendH2Frame(std::string* out, H2Type type, uint8_t flags, uint32_t stream,
                   absl::string_view payload) {
  AppendBigEndian(out, payload.size(), 3);
  out->push_back(static_cast<char>(type));
  out->push_back(static_cast<char>(flags));
  AppendBigEndian(out, stream & 0x7fffffffu, 4);
  out->append(payload.data(), payload.size());
}

void AppendHpackInt(std::string* out, uint8_t first, int prefix_bits, uint64_t value) {
  const uint64_t max_prefix = (uint64_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    out->push_back(static_cast<char>(first | value));
    return;
  }
  out->push_back(static_cast<char>(first | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out->push_back(static_cast<char>(0x80 | (value & 0x7f)));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void AppendHpackLiteral(std::string* out, absl::string_view name,
                        absl::string_view value) {
  out->push_back(0x00);  // literal without indexing, new name
  AppendHpackInt(out, 0x00, 7, name.size());  // H = 0: no Huffman coding
  out->append(name.data(), name.size());
  AppendHpackInt(out, 0x00, 7, value.size());
  out->append(value.data(), value.size());
}

std::string GrpcRequestHeaderBlock(absl::string_view authority, absl::string_view path,
                                   absl::string_view extra) {
  std::string block;
  AppendHpackLiteral(&block, ":method", "POST");
  AppendHpackLiteral(&block, ":scheme", "http");
  AppendHpackLiteral(&block, ":path", path);
  AppendHpackLiteral(&block, ":authority", authority);
  AppendHpackLiteral(&block, "content-type", "application/grpc");
  AppendHpackLiteral(&block, "te", "trailers");
  block.append(extra.data(), extra.size());
  return block;
}

absl::StatusOr<std::unique_ptr<H2Connection>> H2Connection::Connect(
    const std::string& host, int port, absl::Duration io_timeout) {
  absl::StatusOr<int> fd = ConnectTcp(host, port, io_timeout);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<H2Connection> connection(new H2Connection(*fd, io_timeout));
  std::string hello(kPreface);
  AppendH2Frame(&hello, H2Type::kSettings, 0, 0, "");
  if (absl::Status s = connection->Send(hello); !s.ok()) return s;
  return connection;
}

H2Connection::H2Connection(int fd, absl::Duration io_timeout)
    : fd_(fd), io_timeout_(io_timeout), reader_([this] { ReadLoop(); }) {}

H2Connection::~H2Connection() {
  stop_.store(true);
  ::shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) reader_.join();
  ::close(fd_);
}

absl::Status H2Connection::Send(absl::string_view bytes) {
  absl::MutexLock lock(&write_mu_);
  return SendLocked(bytes);
}

absl::Status H2Connection::SendLocked(absl::string_view bytes) {
  if (closed_.load()) return absl::UnavailableError("the server closed the connection");
  absl::Status s = SendAll(fd_, bytes, io_timeout_);
  if (absl::IsUnavailable(s)) closed_.store(true);
  return s;
}

absl::Status H2Connection::SendData(uint32_t stream, absl::string_view payload,
                                    bool end_stream, absl::Time deadline) {
  do {
    const size_t chunk = std::min(payload.size(), kH2MaxFrame);
    {
      absl::MutexLock lock(&mu_);
      auto room = [this, chunk]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return send_window_ >= static_cast<int64_t>(chunk) || closed_.load();
      };
      if (!mu_.AwaitWithDeadline(absl::Condition(&room), deadline)) {
        return absl::DeadlineExceededError(
            "the server's connection window stayed closed until the deadline");
      }
      send_window_ -= static_cast<int64_t>(chunk);
    }
    std::string frame;
    const bool last = chunk == payload.size();
    AppendH2Frame(&frame, H2Type::kData, last && end_stream ? kH2EndStream : 0, stream,
                  payload.substr(0, chunk));
    if (absl::Status s = Send(frame); !s.ok()) return s;
    payload.remove_prefix(chunk);
  } while (!payload.empty());
  return absl::OkStatus();
}

H2Connection::Counts H2Connection::counts() const {
  absl::MutexLock lock(&mu_);
  Counts counts = counts_;
  counts.closed = closed_.load();
  return counts;
}

void H2Connection::ReadLoop() {
  std::string buffer;
  while (!stop_.load()) {
    absl::StatusOr<std::string> some = RecvSome(fd_, absl::Milliseconds(100));
    if (absl::IsDeadlineExceeded(some.status())) continue;
    if (!some.ok() || some->empty()) break;
    buffer += *some;
    {
      absl::MutexLock lock(&mu_);
      counts_.bytes_in += static_cast<int64_t>(some->size());
    }
    size_t at = 0;
    while (buffer.size() - at >= 9) {
      const absl::string_view header(buffer.data() + at, 9);
      const size_t length = ReadBigEndian(header, 3);
      if (buffer.size() - at < 9 + length) break;
      OnFrame(static_cast<H2Type>(header[3]), static_cast<uint8_t>(header[4]),
              static_cast<uint32_t>(ReadBigEndian(header.substr(5), 4) & 0x7fffffff),
              absl::string_view(buffer.data() + at + 9, length));
      at += 9 + length;
    }
    buffer.erase(0, at);
  }
  closed_.store(true);
  absl::MutexLock lock(&mu_);  // wakes SendData's waits
}

void H2Connection::OnFrame(H2Type type, uint8_t flags, uint32_t stream,
                           absl::string_view payload) {
  std::string reply;
  {
    absl::MutexLock lock(&mu_);
    ++counts_.frames_in;
    switch (type) {
      case H2Type::kSettings:
        if ((flags & kH2Ack) != 0) break;
        for (size_t i = 0; i + 6 <= payload.size(); i += 6) {
          const uint16_t id = static_cast<uint16_t>(ReadBigEndian(payload.substr(i), 2));
          const int64_t value = static_cast<int64_t>(ReadBigEndian(payload.substr(i + 2), 4));
          if (id == kSettingsMaxConcurrentStreams) counts_.max_concurrent_streams = value;
          if (id == kSettingsInitialWindow) counts_.initial_window = value;
        }
        AppendH2Frame(&reply, H2Type::kSettings, kH2Ack, 0, "");
        break;
      case H2Type::kPing:
        if ((flags & kH2Ack) == 0) AppendH2Frame(&reply, H2Type::kPing, kH2Ack, 0, payload);
        break;
      case H2Type::kWindowUpdate:
        if (stream == 0 && payload.size() >= 4) {
          send_window_ += static_cast<int64_t>(ReadBigEndian(payload, 4) & 0x7fffffff);
        }
        break;
      case H2Type::kGoAway:
        counts_.goaway = true;
        if (payload.size() >= 8) {
          counts_.goaway_error = static_cast<uint32_t>(ReadBigEndian(payload.substr(4), 4));
        }
        break;
      case H2Type::kRstStream:
        ++counts_.rst_in;
        ++counts_.streams_ended;
        break;
      case H2Type::kData:
        if (!payload.empty()) {
          // Keep the server's writes flowing: give back what it used, on the
          // connection (streams' own windows are not our concern here).
          std::string increment;
          AppendBigEndian(&increment, payload.size(), 4);
          AppendH2Frame(&reply, H2Type::kWindowUpdate, 0, 0, increment);
        }
        [[fallthrough]];
      case H2Type::kHeaders:
        if ((flags & kH2EndStream) != 0) ++counts_.streams_ended;
        break;
      default:
        break;
    }
  }
  if (!reply.empty()) Send(reply).IgnoreError();
}

}  // namespace semaphored::testing
