# SEMAPHORED_SANITIZER applies to every target of the project (a sanitizer must cover
# the whole program), through an INTERFACE library that each target links.
#
#   SEMAPHORED_SANITIZER='address;undefined'  ASan + UBSan (clang or gcc); any report
#                                             aborts the program (no recovery).
#   SEMAPHORED_SANITIZER=thread               TSan (clang-14). Needs an Abseil built
#                                             with TSan: scripts/tsan-absl.sh DIR, then
#                                             SEMAPHORED_TSAN_ABSL_LIBDIR=DIR/prefix/lib.
#   SEMAPHORED_FUZZ=ON                        libFuzzer targets (clang) and their
#                                             bounded runs in CTest; with ASan every
#                                             target also gets coverage
#                                             instrumentation, so the fuzzers see
#                                             inside our libraries.
option(SEMAPHORED_FUZZ "Build libFuzzer targets and their bounded runs (needs clang)" OFF)
set(SEMAPHORED_TSAN_ABSL_LIBDIR "" CACHE PATH
  "TSan builds: directory of a TSan-instrumented Abseil with the system's SONAMEs")

add_library(semaphored_sanitizers INTERFACE)
if(SEMAPHORED_SANITIZER)
  string(REPLACE ";" "," _sanitizers "${SEMAPHORED_SANITIZER}")
  target_compile_options(semaphored_sanitizers INTERFACE
    -fsanitize=${_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(semaphored_sanitizers INTERFACE -fsanitize=${_sanitizers})
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # clang links the sanitizer runtime into executables only; a shared library's
    # __asan_*/__tsan_* references are resolved by the executable that loads it. So a
    # shared library of ours must allow undefined symbols (-z undefs overrides an
    # earlier --no-undefined), in sanitizer builds only.
    target_link_options(semaphored_sanitizers INTERFACE
      "$<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,SHARED_LIBRARY>:LINKER:-z,undefs>")
  endif()
endif()

if("thread" IN_LIST SEMAPHORED_SANITIZER)
  if(SEMAPHORED_TSAN_ABSL_LIBDIR)
    if(NOT EXISTS "${SEMAPHORED_TSAN_ABSL_LIBDIR}/libabsl_synchronization.so")
      message(FATAL_ERROR "SEMAPHORED_TSAN_ABSL_LIBDIR=${SEMAPHORED_TSAN_ABSL_LIBDIR} "
        "holds no Abseil: build it with scripts/tsan-absl.sh")
    endif()
    # Link against the system's Abseil (same SONAMEs, same headers) but load the
    # instrumented one at run time. DT_RPATH, not DT_RUNPATH (--disable-new-dtags):
    # only DT_RPATH also covers the libraries' own dependencies, so that libgrpc's
    # libabsl_* resolve to the instrumented copies too and the process holds one
    # Abseil, which TSan sees.
    target_link_options(semaphored_sanitizers INTERFACE
      "LINKER:--disable-new-dtags,-rpath,${SEMAPHORED_TSAN_ABSL_LIBDIR}")
  else()
    message(WARNING "SEMAPHORED_SANITIZER=thread without SEMAPHORED_TSAN_ABSL_LIBDIR: "
      "the system's Abseil is not instrumented, so TSan will report false races on "
      "every absl::Mutex (see scripts/tsan-absl.sh)")
  endif()
  # The narrow suppressions of cmake/tsan.supp, compiled into every TSan binary
  # (__tsan_default_suppressions), so that they hold for tests, for the child
  # processes they start and for binaries run by hand, without TSAN_OPTIONS.
  set(_supp_file "${PROJECT_SOURCE_DIR}/cmake/tsan.supp")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_supp_file}")
  file(READ "${_supp_file}" SEMAPHORED_TSAN_SUPPRESSIONS)
  file(CONFIGURE OUTPUT "${PROJECT_BINARY_DIR}/tsan_suppressions.cc" @ONLY CONTENT
"// Generated from cmake/tsan.supp by cmake/SemaphoredSanitizers.cmake.
extern \"C\" const char* __tsan_default_suppressions() {
  return R\"supp(@SEMAPHORED_TSAN_SUPPRESSIONS@)supp\";
}
")
  # Executables only: a process must hold one definition.
  target_sources(semaphored_sanitizers INTERFACE
    "$<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:${PROJECT_BINARY_DIR}/tsan_suppressions.cc>")
endif()

if(SEMAPHORED_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SEMAPHORED_FUZZ=ON needs clang (e.g. -DCMAKE_CXX_COMPILER=clang++-14)")
  endif()
  # Coverage for libFuzzer in all our code. Plain executables then need the coverage
  # callbacks, which ASan's runtime provides; without ASan only the fuzz targets' own
  # sources are instrumented.
  if("address" IN_LIST SEMAPHORED_SANITIZER)
    target_compile_options(semaphored_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
  else()
    message(STATUS "SEMAPHORED_FUZZ without ASan: fuzzers see coverage of their own "
      "sources only; add SEMAPHORED_SANITIZER='address;undefined' for full coverage")
  endif()
endif()
