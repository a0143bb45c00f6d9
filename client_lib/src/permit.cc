// Permit: a shared grant, given back to the session backend that holds it.

#include "semaphored/permit.h"

#include <utility>

#include "errors_internal.h"
#include "grant_holder.h"
#include "grant_state.h"

namespace semaphored {

Permit::Permit() = default;

Permit::~Permit() { Drop(); }

Permit::Permit(Permit&& other) noexcept
    : name_(std::move(other.name_)),
      already_held_(other.already_held_),
      state_(std::move(other.state_)),
      grant_(std::move(other.grant_)) {}

Permit& Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Drop();
    name_ = std::move(other.name_);
    already_held_ = other.already_held_;
    state_ = std::move(other.state_);
    grant_ = std::move(other.grant_);
  }
  return *this;
}

void Permit::Drop() {
  if (grant_ == nullptr) return;
  if (auto holder = grant_->holder.lock()) holder->DropPermit(grant_);
  grant_.reset();
}

bool Permit::held() const { return grant_ != nullptr && grant_->held(); }

absl::Status Permit::status() const {
  if (grant_ == nullptr) return internal::NotAcquiredError(name_, state_);
  return grant_->status();
}

uint64_t Permit::fencing_token() const {
  return grant_ != nullptr ? grant_->fencing_token : 0;
}

int32_t Permit::permits() const { return grant_ != nullptr ? grant_->permits : 0; }

absl::Time Permit::since() const {
  return grant_ != nullptr ? grant_->since : absl::InfinitePast();
}

absl::Status Permit::Release() {
  if (grant_ == nullptr) return status();
  if (auto holder = grant_->holder.lock()) return holder->ReleaseGrant(grant_);
  return grant_->status();
}

}  // namespace semaphored
