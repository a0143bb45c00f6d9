#ifndef SEMAPHORED_EXPORT_H_
#define SEMAPHORED_EXPORT_H_

// The client library is built with hidden symbols; SEMAPHORED_EXPORT marks the public
// API, which alone is visible from the shared library.
#if defined(__GNUC__) || defined(__clang__)
#define SEMAPHORED_EXPORT __attribute__((visibility("default")))
#else
#define SEMAPHORED_EXPORT
#endif

#endif  // SEMAPHORED_EXPORT_H_
