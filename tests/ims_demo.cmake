# The IMS example is also a test: it checks what it prints (slot use,
# faults, deliveries) and exits non-zero when a check fails.
if(LIBMSIX_EXAMPLES)
  add_test(NAME example_msix_ims_demo COMMAND msix-ims-demo --quiet)
  add_test(NAME example_msix_ims_demo_sizes
    COMMAND msix-ims-demo --quiet --vectors 2048 --slots 100 --emulated 0)
  set_tests_properties(example_msix_ims_demo example_msix_ims_demo_sizes
    PROPERTIES LABELS example)
  if(VALGRIND AND NOT LIBMSIX_SANITIZE)
    add_test(NAME memcheck_example_msix_ims_demo
      COMMAND ${VALGRIND} --quiet --error-exitcode=1 --leak-check=full
              --errors-for-leak-kinds=definite,indirect
              $<TARGET_FILE:msix-ims-demo> --quiet)
    set_tests_properties(memcheck_example_msix_ims_demo PROPERTIES
      LABELS memcheck)
  endif()
endif()
