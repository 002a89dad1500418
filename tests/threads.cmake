# The thread-safety proof (test_threads.c) under ThreadSanitizer.
#
# Helgrind and DRD are not registered: both report the seqlock in
# libmsix_notify() (relaxed C11 atomic loads of the table entry racing
# relaxed stores under the device lock) as data races, because on x86 those
# atomics are plain moves they cannot tell from ordinary accesses. TSan
# understands C11 atomics and is the authority here.
#
#   Whole tree instrumented:  cmake -DLIBMSIX_SANITIZE=thread ...;
#                             ctest -R test_threads   (label tsan)
#   Any other tree:           tsan_test_threads below, when the toolchain
#                             builds and runs a TSan program.
#   Soak:                     LIBMSIX_STRESS_SECONDS=60 ctest -R threads

set(LIBMSIX_TSAN_OPTIONS "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1")

if(LIBMSIX_SANITIZE MATCHES "thread")
  set_property(TEST test_threads APPEND PROPERTY LABELS tsan)
  set_property(TEST test_threads APPEND PROPERTY ENVIRONMENT
               "${LIBMSIX_TSAN_OPTIONS}")
elseif(NOT LIBMSIX_SANITIZE)
  include(CheckCSourceRuns)
  set(CMAKE_REQUIRED_FLAGS -fsanitize=thread)
  set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=thread)
  set(CMAKE_REQUIRED_LIBRARIES Threads::Threads)
  # Runs, not just links: some kernels' address-space layouts make the
  # TSan runtime abort at start-up.
  check_c_source_runs([[
    #include <pthread.h>
    static void *run(void *arg) { return arg; }
    int main(void)
    {
      pthread_t t;
      return pthread_create(&t, 0, run, 0) || pthread_join(t, 0);
    }]] LIBMSIX_HAVE_TSAN)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  unset(CMAKE_REQUIRED_LIBRARIES)

  if(LIBMSIX_HAVE_TSAN)
    # The library's own sources, instrumented too: TSan needs to see both
    # sides of every access.
    add_executable(test_threads_tsan ${CMAKE_CURRENT_SOURCE_DIR}/test_threads.c
                   ${LIBMSIX_SOURCES})
    target_include_directories(test_threads_tsan PRIVATE
      ${CMAKE_CURRENT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/include)
    target_compile_definitions(test_threads_tsan PRIVATE LIBMSIX_BUILDING
                               _GNU_SOURCE)
    target_compile_options(test_threads_tsan PRIVATE -fsanitize=thread -g)
    # GCC warns that TSan does not model atomic_thread_fence(); the fenced
    # words are themselves atomics, so nothing it checks depends on them.
    include(CheckCCompilerFlag)
    check_c_compiler_flag(-Wtsan LIBMSIX_HAVE_WTSAN)
    if(LIBMSIX_HAVE_WTSAN)
      target_compile_options(test_threads_tsan PRIVATE -Wno-tsan)
    endif()
    target_link_options(test_threads_tsan PRIVATE -fsanitize=thread)
    target_link_libraries(test_threads_tsan PRIVATE PkgConfig::CHECK
                          Threads::Threads)
    add_test(NAME tsan_test_threads COMMAND test_threads_tsan)
    set_tests_properties(tsan_test_threads PROPERTIES
      ENVIRONMENT "${LIBMSIX_TSAN_OPTIONS}"
      SKIP_RETURN_CODE 77 LABELS tsan)
  endif()
endif()
