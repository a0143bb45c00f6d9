# SEMAPHORED_SANITIZER applies to every target of the project (a sanitizer must cover
# the whole program), through an INTERFACE library that each target links.
add_library(semaphored_sanitizers INTERFACE)
if(SEMAPHORED_SANITIZER)
  string(REPLACE ";" "," _sanitizers "${SEMAPHORED_SANITIZER}")
  target_compile_options(semaphored_sanitizers INTERFACE
    -fsanitize=${_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(semaphored_sanitizers INTERFACE -fsanitize=${_sanitizers})
endif()
