// Session: the public API of a session, over its SessionRouter.

#include "semaphored/session.h"

#include <utility>

#include "absl/strings/string_view.h"
#include "permit_access.h"
#include "session_router.h"

namespace semaphored {
namespace {
absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

Session::Session(std::shared_ptr<internal::SessionRouter> impl)
    : impl_(std::move(impl)) {}

Session::~Session() { impl_->Close().IgnoreError(); }

absl::StatusOr<Permit> Session::Acquire(std::string_view name, AcquireOptions options) {
  auto answer = impl_->Set(View(name), options, /*for_permit=*/true);
  if (!answer.ok()) return answer.status();
  return internal::PermitAccess::Make(name, *std::move(answer));
}

absl::StatusOr<SetResult> Session::Set(std::string_view name, AcquireOptions options) {
  auto answer = impl_->Set(View(name), options, /*for_permit=*/false);
  if (!answer.ok()) return answer.status();
  SetResult result;
  result.acquired = answer->acquired;
  result.already_held = answer->already_held;
  if (answer->grant != nullptr) {
    result.fencing_token = answer->grant->fencing_token;
    result.permits = answer->grant->permits;
    result.since = answer->grant->since;
  }
  result.state = std::move(answer->state);
  return result;
}

absl::Status Session::Clear(std::string_view name) { return impl_->Clear(View(name)); }

absl::StatusOr<SemaphoreInfo> Session::Test(std::string_view name) {
  return impl_->Test(View(name));
}

absl::StatusOr<bool> Session::WaitClear(std::string_view name, absl::Duration timeout,
                                        std::shared_ptr<CancelToken> cancel) {
  return impl_->WaitClear(View(name), timeout, std::move(cancel));
}

absl::Status Session::Close() { return impl_->Close(); }

absl::Status Session::status() const { return impl_->status(); }

const std::string& Session::id() const { return impl_->id(); }

const std::string& Session::local_id() const { return impl_->local_id(); }

const std::string& Session::client_name() const { return impl_->client_name(); }

absl::Duration Session::ttl() const { return impl_->ttl(); }

}  // namespace semaphored
