# The fuzz harness fuzz/fuzz_msix.c (generic-fuzz op model + reference
# model oracle), built twice:
#
#  fuzz_msix_stream  any compiler, with fuzz/fuzz_main.c: a fixed
#                    pseudo-random stream of inputs (same every run), or
#                    the files given as arguments (reproducers, a corpus).
#                    A CTest test and, under Valgrind, a memcheck test.
#  fuzz_msix         libFuzzer + ASan + UBSan, when clang is found. Not part
#                    of 'all' (it recompiles the library with clang): the
#                    test fuzz_msix_libfuzzer builds it through a fixture
#                    and runs a bounded, seeded campaign. For a real run:
#                      cmake --build <dir> --target fuzz_msix
#                      <dir>/tests/fuzz_msix -max_total_time=600 corpus/
set(LIBMSIX_FUZZ_DIR ${PROJECT_SOURCE_DIR}/fuzz)

add_executable(fuzz_msix_stream ${LIBMSIX_FUZZ_DIR}/fuzz_msix.c
                                ${LIBMSIX_FUZZ_DIR}/fuzz_main.c)
target_compile_definitions(fuzz_msix_stream PRIVATE _GNU_SOURCE)
target_link_libraries(fuzz_msix_stream PRIVATE libmsix::msix)
add_test(NAME fuzz_msix_stream COMMAND fuzz_msix_stream)
set_tests_properties(fuzz_msix_stream PROPERTIES LABELS "unit;fuzz")
if(VALGRIND AND NOT LIBMSIX_SANITIZE)
  add_test(NAME memcheck_fuzz_msix_stream
    COMMAND ${VALGRIND} --quiet --error-exitcode=1 --leak-check=full
            --errors-for-leak-kinds=definite,indirect
            $<TARGET_FILE:fuzz_msix_stream>)
  set_tests_properties(memcheck_fuzz_msix_stream PROPERTIES
    ENVIRONMENT "LIBMSIX_UNDER_VALGRIND=1" LABELS memcheck)
endif()

option(LIBMSIX_LIBFUZZER "Build and run the libFuzzer harness when clang is found" ON)
if(NOT LIBMSIX_LIBFUZZER)
  return()
endif()
find_program(LIBMSIX_CLANG NAMES clang clang-16 clang-15 clang-14)
if(NOT LIBMSIX_CLANG)
  message(STATUS "libmsix: no clang, libFuzzer harness fuzz_msix not built")
  return()
endif()
# The library sources go into the harness itself: libFuzzer's coverage and
# the sanitizers must see them, and the regular library is built by $CC.
file(GLOB LIBMSIX_FUZZ_HEADERS CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/lib/*.h ${PROJECT_SOURCE_DIR}/include/*.h)
set(LIBMSIX_FUZZ_BIN ${CMAKE_CURRENT_BINARY_DIR}/fuzz_msix)
add_custom_command(OUTPUT ${LIBMSIX_FUZZ_BIN}
  COMMAND ${LIBMSIX_CLANG} -g -O1 -fsanitize=fuzzer,address,undefined
          -fno-sanitize-recover=all -fno-omit-frame-pointer
          -D_GNU_SOURCE -DLIBMSIX_BUILDING
          -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR}/lib
          ${LIBMSIX_SOURCES} ${LIBMSIX_FUZZ_DIR}/fuzz_msix.c
          -o ${LIBMSIX_FUZZ_BIN} -lpthread
  DEPENDS ${LIBMSIX_SOURCES} ${LIBMSIX_FUZZ_HEADERS}
          ${LIBMSIX_FUZZ_DIR}/fuzz_msix.c
  COMMENT "libFuzzer harness fuzz_msix (clang, ASan, UBSan)"
  VERBATIM)
add_custom_target(fuzz_msix DEPENDS ${LIBMSIX_FUZZ_BIN})

add_test(NAME fuzz_msix_build
  COMMAND ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target fuzz_msix)
set_tests_properties(fuzz_msix_build PROPERTIES
  FIXTURES_SETUP libmsix_fuzzer LABELS fuzz)
# 20000 seeded runs from an empty corpus: a smoke test that the harness
# builds and holds; the campaign behind the report ran for minutes.
add_test(NAME fuzz_msix_libfuzzer
  COMMAND ${LIBMSIX_FUZZ_BIN} -runs=20000 -seed=1 -max_len=2048)
set_tests_properties(fuzz_msix_libfuzzer PROPERTIES
  FIXTURES_REQUIRED libmsix_fuzzer LABELS fuzz)
