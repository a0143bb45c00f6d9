#ifndef SEMAPHORED_SERVER_SERVICE_PEER_H_
#define SEMAPHORED_SERVER_SERVICE_PEER_H_

// What gRPC's peer strings (ServerContext::peer()) say about a caller. Plain C++, no
// gRPC include; pure functions, thread-safe.
//
// The strings gRPC 1.51 really produces (captured by tests/server/peer_test.cc from a
// real server):
//   ipv4:127.0.0.1:43112            a TCP caller over IPv4 (also a caller reaching a
//                                   [::] listener from 127.0.0.1: gRPC unmaps it)
//   ipv6:%5B::1%5D:43162            a TCP caller over IPv6: brackets %-escaped
//   unix:                           a caller on a gRPC-bound Unix socket (the client's
//                                   socket has no name, so no path follows)
//   fd:13                           a connection handed to gRPC with
//                                   AddInsecureChannelFromFd (this server: only
//                                   connections accepted on its admin socket)

#include <string>

#include "absl/strings/string_view.h"

namespace semaphored::server {

struct Peer {
  enum class Kind { kIpv4, kIpv6, kUnix, kFd, kOther };
  Kind kind = Kind::kOther;
  // kIpv4: the dotted address. kIpv6: the address without brackets or port,
  // %-unescaped ("::1", "fe80::1%eth0"); an IPv4-mapped address becomes its IPv4 form
  // (kind stays kIpv6). kUnix: the socket's path (often empty). kFd: the descriptor
  // number. kOther: the whole peer string.
  std::string host;
  // The port for kIpv4 and kIpv6; 0 otherwise or when unreadable.
  int port = 0;
};

// Parses a gRPC peer string; never fails (what it cannot read is kOther).
Peer ParsePeer(absl::string_view grpc_peer);

// A key naming the caller's machine, for per-peer limits and throttles: the IP address
// for TCP callers (IPv4-mapped IPv6 as IPv4, so that both forms count once), "unix:PATH"
// for a gRPC Unix socket, "fd" for every connection handed over from the admin socket
// (all of them come from this machine's administrators), else the whole peer string.
// Never empty.
std::string PeerHost(absl::string_view grpc_peer);

// True for a TCP caller from a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.x.x.
// Loopback is not a credential (a same-host forwarder makes any caller loopback); use
// it for diagnostics and defaults only. (For a host name or address, see
// IsLoopbackHost in common/local_admin.h.)
bool IsLoopbackPeer(absl::string_view grpc_peer);

}  // namespace semaphored::server

#endif  // SEMAPHORED_SERVER_SERVICE_PEER_H_
