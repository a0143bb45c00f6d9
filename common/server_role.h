#ifndef SEMAPHORED_COMMON_SERVER_ROLE_H_
#define SEMAPHORED_COMMON_SERVER_ROLE_H_

// What a server tells callers about its role, in gRPC metadata: shared by the server
// (its health Check answers and a standby's refusals) and semctl, which reads them.

namespace semaphored::internal {

// The leader's client address (HOST:PORT): trailing metadata of a standby's refusals
// and of its health Check answers.
inline constexpr char kLeaderMetadataKey[] = "semaphored-leader";
// The answering server's role, one of the values below: trailing metadata of every
// health Check answer.
inline constexpr char kRoleMetadataKey[] = "semaphored-role";
// Why a standby cannot reach etcd (its health is then NOT_SERVING): trailing metadata
// of its health Check answers while it cannot.
inline constexpr char kEtcdErrorMetadataKey[] = "semaphored-etcd-error";

// The leader of servers on etcd: it serves.
inline constexpr char kRoleLeader[] = "leader";
// A server on etcd that is not the leader: it names the leader and takes over.
inline constexpr char kRoleStandby[] = "standby";
// A single server, no etcd (state in memory or SQLite): it serves.
inline constexpr char kRoleSingle[] = "single";

}  // namespace semaphored::internal

#endif  // SEMAPHORED_COMMON_SERVER_ROLE_H_
