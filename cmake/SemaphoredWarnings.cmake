# semaphored_warnings(target): warnings for our own targets only.
#
# With clang (the sanitizer builds of scripts/test.sh), the thread-safety analysis is
# an error: every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED / ABSL_LOCKS_EXCLUDED
# must hold, and -Wthread-safety-beta also checks the declared lock orders
# (ABSL_ACQUIRED_BEFORE / ABSL_ACQUIRED_AFTER).
function(semaphored_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety -Wthread-safety-beta
      -Werror=thread-safety)
  endif()
endfunction()
