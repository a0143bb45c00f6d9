// The client library's conversions from proto and engine semaphore states to SemaphoreInfo.

#include "convert.h"

#include <algorithm>
#include <string>

#include "common/proto_time.h"
#include "common/session_id.h"

namespace semaphored::internal {

using engine::SemaphoreSnapshot;

SemaphoreInfo InfoFromProto(const semaphored::v1::SemaphoreState& state,
                            absl::string_view name) {
  SemaphoreInfo info;
  info.name = state.name().empty() ? std::string(name) : state.name();
  info.set = state.set() || state.permits_held() > 0;
  info.limit = state.limit();
  info.permits_held = state.permits_held();
  info.waiter_count = state.waiter_count();
  info.holders.reserve(state.holders_size());
  for (const auto& h : state.holders()) {
    ::semaphored::HolderInfo holder;
    holder.session_id = h.session_id();
    holder.client_name = h.client_name();
    holder.since = FromProtoTimestamp(h.grant().grant_time());
    holder.permits = h.grant().permits();
    holder.fencing_token = h.grant().fencing_token();
    info.holders.push_back(std::move(holder));
  }
  // A server from before holder_count leaves it 0 and lists every holder.
  info.holder_count = std::max(state.holder_count(), state.holders_size());
  return info;
}

SemaphoreInfo InfoFromSnapshot(const SemaphoreSnapshot& snapshot,
                               absl::string_view name) {
  SemaphoreInfo info;
  info.name = snapshot.name.empty() ? std::string(name) : snapshot.name;
  info.set = snapshot.set();
  info.limit = snapshot.limit;
  info.permits_held = snapshot.permits_held;
  info.waiter_count = snapshot.waiter_count;
  info.holders.reserve(snapshot.holders.size());
  for (const auto& h : snapshot.holders) {
    ::semaphored::HolderInfo holder;
    holder.session_id = FormatSessionId(h.session_id);
    holder.client_name = h.client_name;
    holder.since = h.grant.grant_time;
    holder.permits = h.grant.permits;
    holder.fencing_token = h.grant.fencing_token;
    info.holders.push_back(std::move(holder));
  }
  info.holder_count = snapshot.holder_count;
  return info;
}

}  // namespace semaphored::internal
