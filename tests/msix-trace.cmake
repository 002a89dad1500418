# The msix-trace tool (tools/msix-trace, docs/trace.md): counts on the
# traces of tests/data/traces, the line-numbered errors, hostile input, and
# a memcheck replay.
if(LIBMSIX_TOOLS)
  find_program(LIBMSIX_BASH bash REQUIRED)
  add_test(NAME msix_trace
    COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/msix-trace.sh
            $<TARGET_FILE:msix-trace> ${CMAKE_CURRENT_SOURCE_DIR}/data/traces)
  set_tests_properties(msix_trace PROPERTIES LABELS tools)
  if(VALGRIND AND NOT LIBMSIX_SANITIZE)
    add_test(NAME memcheck_msix_trace
      COMMAND ${VALGRIND} --quiet --error-exitcode=1 --leak-check=full
              --errors-for-leak-kinds=definite,indirect
              $<TARGET_FILE:msix-trace>
              ${CMAKE_CURRENT_SOURCE_DIR}/data/traces/linux-virtio-net-17.jsonl)
    set_tests_properties(memcheck_msix_trace PROPERTIES LABELS memcheck)
  endif()
endif()
