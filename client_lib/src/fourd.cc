// The 4D facade (semaphored/fourd.h): Semaphore, ClearSemaphore, TestSemaphore.

#include "semaphored/fourd.h"

namespace semaphored {

absl::Duration TicksToDuration(int ticks) {
  if (ticks <= 0) return absl::ZeroDuration();
  return absl::Seconds(ticks) / 60;
}

bool Semaphore(Session& session, std::string_view name, int ticks) {
  return Semaphore(session, name, ticks, nullptr);
}

bool Semaphore(Session& session, std::string_view name, int ticks,
               absl::Status* error) {
  AcquireOptions options;
  options.timeout = TicksToDuration(ticks);
  absl::StatusOr<SetResult> result = session.Set(name, options);
  if (error != nullptr) *error = result.status();
  if (!result.ok()) return true;
  return !result->acquired;
}

void ClearSemaphore(Session& session, std::string_view name) {
  ClearSemaphore(session, name, nullptr);
}

void ClearSemaphore(Session& session, std::string_view name, absl::Status* error) {
  absl::Status status = session.Clear(name);
  if (error != nullptr) *error = status;
}

bool TestSemaphore(Session& session, std::string_view name) {
  return TestSemaphore(session, name, nullptr);
}

bool TestSemaphore(Session& session, std::string_view name, absl::Status* error) {
  absl::StatusOr<SemaphoreInfo> info = session.Test(name);
  if (error != nullptr) *error = info.status();
  return info.ok() && info->set;
}

}  // namespace semaphored
