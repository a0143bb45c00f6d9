// The gRPC transport's limits, applied to a ServerBuilder and checked.

#include "server/transport_limits.h"

#include <climits>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/server_builder.h"

namespace semaphored::server {
namespace {

// gRPC takes times as int milliseconds, INT_MAX meaning "never".
int Millis(absl::Duration d) {
  if (d >= absl::Milliseconds(INT_MAX)) return INT_MAX;
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

absl::Status PositiveDuration(absl::Duration d, const char* flag) {
  if (d < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be at least 1ms (or inf); got ",
                     absl::FormatDuration(d)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTransportLimits(const TransportLimits& limits) {
  if (limits.max_concurrent_streams < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_concurrent_streams must be at least 1; got ", limits.max_concurrent_streams));
  }
  if (limits.memory_quota_bytes != 0 && limits.memory_quota_bytes < (int64_t{16} << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc_memory_quota_bytes must be 0 (no quota) or at least 16 MiB "
                     "(16777216); got ",
                     limits.memory_quota_bytes));
  }
  // gRPC's synchronous server needs a polling thread and a worker at the least.
  if (limits.max_threads != 0 && limits.max_threads < 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--grpc_max_threads must be 0 (no limit) or at least 4; got ", limits.max_threads));
  }
  const struct {
    absl::Duration value;
    const char* flag;
  } durations[] = {
      {limits.max_connection_idle, "max_connection_idle"},
      {limits.max_connection_age, "max_connection_age"},
      {limits.max_connection_age_grace, "max_connection_age_grace"},
      {limits.min_ping_interval, "min_ping_interval"},
      {limits.keepalive_time, "keepalive_time"},
      {limits.keepalive_timeout, "keepalive_timeout"},
      {limits.handshake_timeout, "handshake_timeout"},
  };
  for (const auto& d : durations) {
    if (absl::Status s = PositiveDuration(d.value, d.flag); !s.ok()) return s;
  }
  if (limits.max_ping_strikes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_ping_strikes must be at least 0 (0: no limit); got ", limits.max_ping_strikes));
  }
  if (limits.max_metadata_bytes < 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_metadata_bytes must be at least 1024; got ", limits.max_metadata_bytes));
  }
  return absl::OkStatus();
}

void ApplyTransportLimits(const TransportLimits& limits, grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams);
  if (limits.memory_quota_bytes > 0 || limits.max_threads > 0) {
    // The builder keeps its own reference to the quota.
    grpc::ResourceQuota quota("semaphored");
    if (limits.memory_quota_bytes > 0) {
      quota.Resize(static_cast<size_t>(limits.memory_quota_bytes));
    }
    if (limits.max_threads > 0) quota.SetMaxThreads(limits.max_threads);
    builder.SetResourceQuota(quota);
  }
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             Millis(limits.max_connection_idle));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             Millis(limits.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(limits.max_connection_age_grace));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Millis(limits.min_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, limits.max_ping_strikes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(limits.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Millis(limits.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             Millis(limits.handshake_timeout));
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, limits.max_metadata_bytes);
  // The builder turns these into GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET;
  // a request compressed with a disabled algorithm is refused (UNIMPLEMENTED) when
  // its headers arrive, before its message is read or inflated.
  for (grpc_compression_algorithm algorithm : {GRPC_COMPRESS_DEFLATE, GRPC_COMPRESS_GZIP}) {
    builder.SetCompressionAlgorithmSupportStatus(algorithm, limits.allow_compression);
  }
}

}  // namespace semaphored::server
