// Parsing gRPC peer strings: the caller's kind, host and port.

#include "server/service/peer.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/local_admin.h"

namespace semaphored::server {

using ::semaphored::internal::IsLoopbackHost;
namespace {

// gRPC %-escapes the brackets (and a zone's '%') of IPv6 peers: "%5B::1%5D:4000".
std::string PercentUnescape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        absl::SimpleHexAtoi(text.substr(i + 1, 2), &value)) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// "HOST:PORT" with HOST possibly bracketed; false when there is no port.
bool SplitHostPort(absl::string_view text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view h = text.substr(0, colon);
  if (absl::ConsumePrefix(&h, "[") && !absl::ConsumeSuffix(&h, "]")) return false;
  int p = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &p) || p < 0 || p > 65535) p = 0;
  *host = std::string(h);
  *port = p;
  return true;
}

// "::ffff:1.2.3.4" → "1.2.3.4"; any other text unchanged.
std::string Unmap(const std::string& host) {
  in6_addr v6{};
  // A zone ("%eth0") makes inet_pton fail, and a zoned address is never mapped.
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1 || !IN6_IS_ADDR_V4MAPPED(&v6)) {
    return host;
  }
  char text[INET_ADDRSTRLEN];
  in_addr v4{};
  std::memcpy(&v4, &v6.s6_addr[12], sizeof v4);
  if (inet_ntop(AF_INET, &v4, text, sizeof text) == nullptr) return host;
  return text;
}

}  // namespace

Peer ParsePeer(absl::string_view grpc_peer) {
  Peer peer;
  absl::string_view rest = grpc_peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    if (SplitHostPort(rest, &peer.host, &peer.port)) {
      peer.kind = Peer::Kind::kIpv4;
      return peer;
    }
  } else if (absl::ConsumePrefix(&rest, "ipv6:")) {
    if (SplitHostPort(PercentUnescape(rest), &peer.host, &peer.port)) {
      peer.kind = Peer::Kind::kIpv6;
      peer.host = Unmap(peer.host);
      return peer;
    }
  } else if (absl::ConsumePrefix(&rest, "unix:")) {
    peer.kind = Peer::Kind::kUnix;
    peer.host = std::string(rest);
    return peer;
  } else if (absl::ConsumePrefix(&rest, "fd:")) {
    int fd = 0;
    if (absl::SimpleAtoi(rest, &fd) && fd >= 0) {
      peer.kind = Peer::Kind::kFd;
      peer.host = std::string(rest);
      return peer;
    }
  }
  peer.kind = Peer::Kind::kOther;
  peer.host = std::string(grpc_peer);
  peer.port = 0;
  return peer;
}

std::string PeerHost(absl::string_view grpc_peer) {
  Peer peer = ParsePeer(grpc_peer);
  switch (peer.kind) {
    case Peer::Kind::kIpv4:
    case Peer::Kind::kIpv6:
      if (!peer.host.empty()) return peer.host;
      break;
    case Peer::Kind::kUnix:
      return absl::StrCat("unix:", peer.host);
    case Peer::Kind::kFd:
      return "fd";
    case Peer::Kind::kOther:
      break;
  }
  return grpc_peer.empty() ? std::string("unknown") : std::string(grpc_peer);
}

bool IsLoopbackPeer(absl::string_view grpc_peer) {
  Peer peer = ParsePeer(grpc_peer);
  return (peer.kind == Peer::Kind::kIpv4 || peer.kind == Peer::Kind::kIpv6) &&
         IsLoopbackHost(peer.host);
}

}  // namespace semaphored::server
