#ifndef SEMAPHORED_FOURD_H_
#define SEMAPHORED_FOURD_H_

// A thin facade in the style of 4D's Semaphore / CLEAR SEMAPHORE / Test semaphore,
// for code ported from 4D. Time is counted in ticks: 60 ticks = 1 second.
//
//   if (!semaphored::Semaphore(*session, "invoice", 300)) {  // wait up to 5 s
//     ...                                                     // we have it
//     semaphored::ClearSemaphore(*session, "invoice");
//   }
//
// The grants are not RAII (as in 4D): they stay until ClearSemaphore or the end of
// the session. Names starting with '$' are local to the process, as in 4D.
// Thread-safe, as Session is.

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "semaphored/export.h"
#include "semaphored/session.h"

namespace semaphored {

// 60 ticks = 1 second. Negative ticks count as zero.
SEMAPHORED_EXPORT absl::Duration TicksToDuration(int ticks);

// Tries to set `name`, waiting up to `ticks`. Returns TRUE when the semaphore was
// ALREADY SET by another session, so this call did NOT get it; FALSE when the session
// now holds it (setting your own semaphore again returns false, as in 4D). Any error
// (bad name, lost session...) also returns true; the overload below tells which.
SEMAPHORED_EXPORT bool Semaphore(Session& session, std::string_view name,
                                 int ticks = 0);
// As above; `*error` (if not null) receives OK or the error.
SEMAPHORED_EXPORT bool Semaphore(Session& session, std::string_view name, int ticks,
                                 absl::Status* error);

// Clears `name` if this session holds it. Like 4D, errors (not set, set by another
// session) are ignored; the overload below reports them.
SEMAPHORED_EXPORT void ClearSemaphore(Session& session, std::string_view name);
SEMAPHORED_EXPORT void ClearSemaphore(Session& session, std::string_view name,
                                      absl::Status* error);

// TRUE when `name` is set (by any session, this one included); false when it is not,
// or on error (the overload below tells which).
SEMAPHORED_EXPORT bool TestSemaphore(Session& session, std::string_view name);
SEMAPHORED_EXPORT bool TestSemaphore(Session& session, std::string_view name,
                                     absl::Status* error);

}  // namespace semaphored

#endif  // SEMAPHORED_FOURD_H_
