#ifndef SEMAPHORED_TESTS_ATTACKS_H2_CLIENT_H_
#define SEMAPHORED_TESTS_ATTACKS_H2_CLIENT_H_

// A raw HTTP/2 client (RFC 9113) for the attack suite: it writes whatever frames its
// caller builds, valid or abusive, on one plaintext TCP connection to a loopback
// server. No third-party code: frames and HPACK (RFC 7541, literal fields without
// Huffman coding) are built here.
//
// What it does for the caller, on its own reader thread: acknowledges the server's
// SETTINGS and PINGs, keeps the connection's receive window open, tracks the
// connection-level send window, and counts what the server sends (frames, streams it
// ended, RST_STREAMs, GOAWAY).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace semaphored::testing {

enum class H2Type : uint8_t {
  kData = 0,
  kHeaders = 1,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
inline constexpr uint8_t kH2EndStream = 0x1;
inline constexpr uint8_t kH2Ack = 0x1;
inline constexpr uint8_t kH2EndHeaders = 0x4;
inline constexpr uint32_t kH2Cancel = 0x8;  // RST_STREAM error code CANCEL
inline constexpr size_t kH2MaxFrame = 16384;  // SETTINGS_MAX_FRAME_SIZE's default

// One frame: 9-byte header and `payload`, appended to `out`.
void AppendH2Frame(std::string* out, H2Type type, uint8_t flags, uint32_t stream,
                   absl::string_view payload);
// An HPACK integer with a `prefix_bits`-bit prefix; `first` holds the bits above it.
void AppendHpackInt(std::string* out, uint8_t first, int prefix_bits, uint64_t value);
// An HPACK "literal header field without indexing -- new name", no Huffman coding.
void AppendHpackLiteral(std::string* out, absl::string_view name, absl::string_view value);
// The header block of a gRPC request to `path` ("/package.Service/Method") at
// `authority` ("127.0.0.1:PORT"), plus `extra` (already HPACK-encoded fields).
std::string GrpcRequestHeaderBlock(absl::string_view authority, absl::string_view path,
                                   absl::string_view extra = "");

class H2Connection {
 public:
  struct Counts {
    int64_t frames_in = 0;
    int64_t bytes_in = 0;
    // Server frames with END_STREAM, plus RST_STREAMs: streams the server ended.
    int64_t streams_ended = 0;
    int64_t rst_in = 0;
    bool goaway = false;
    uint32_t goaway_error = 0;
    // The server's SETTINGS_MAX_CONCURRENT_STREAMS; -1 when it sent none (no limit).
    int64_t max_concurrent_streams = -1;
    // The server's SETTINGS_INITIAL_WINDOW_SIZE (a stream's send window).
    int64_t initial_window = 65535;
    // The server closed the connection, or reading or writing failed.
    bool closed = false;
  };

  // Connects to the IPv4 address `host` at `port`, sends the client preface and an
  // empty SETTINGS, and starts the reader. Writes block at most `io_timeout` each.
  static absl::StatusOr<std::unique_ptr<H2Connection>> Connect(
      const std::string& host, int port, absl::Duration io_timeout = absl::Seconds(2));
  // Closes the socket and joins the reader.
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Writes `bytes` (whole frames) in order with other writers. UNAVAILABLE when the
  // connection is closed, DEADLINE_EXCEEDED when the server read nothing for
  // `io_timeout` (the bytes may then be partly written: treat the connection as lost).
  absl::Status Send(absl::string_view bytes) ABSL_LOCKS_EXCLUDED(write_mu_);
  // Sends DATA frames carrying `payload` on `stream` (END_STREAM on the last), each
  // after the connection's send window has room, waiting at most until `deadline`.
  absl::Status SendData(uint32_t stream, absl::string_view payload, bool end_stream,
                        absl::Time deadline);
  Counts counts() const ABSL_LOCKS_EXCLUDED(mu_);
  bool closed() const { return closed_.load(); }

 private:
  H2Connection(int fd, absl::Duration io_timeout);
  void ReadLoop();
  void OnFrame(H2Type type, uint8_t flags, uint32_t stream, absl::string_view payload);
  absl::Status SendLocked(absl::string_view bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  const int fd_;
  const absl::Duration io_timeout_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};

  absl::Mutex write_mu_;  // one writer at a time: frames must not interleave

  mutable absl::Mutex mu_;
  // State below is protected by mu_.
  Counts counts_ ABSL_GUARDED_BY(mu_);
  int64_t send_window_ ABSL_GUARDED_BY(mu_) = 65535;  // the connection's

  std::thread reader_;
};

}  // namespace semaphored::testing

#endif  // SEMAPHORED_TESTS_ATTACKS_H2_CLIENT_H_
