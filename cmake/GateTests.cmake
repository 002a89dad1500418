# libmsix_gate_tests(): call at the end of every CMakeLists.txt that adds
# tests. Unless LIBMSIX_GUEST_TESTS is on, each test of the directory
# labelled guest (boots a QEMU guest: guest/run-in-guest.sh) or linux (needs
# /dev/kvm, root or a real device on the build host) is disabled: CTest
# lists it as "Not Run (Disabled)" and a plain `ctest` passes without it.
# Generic on purpose: a new test only needs its label.
function(libmsix_gate_tests)
  if(LIBMSIX_GUEST_TESTS)
    return()
  endif()
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS tests)
    get_test_property(${t} LABELS labels)
    if("guest" IN_LIST labels OR "linux" IN_LIST labels)
      set_tests_properties(${t} PROPERTIES DISABLED TRUE)
    endif()
  endforeach()
endfunction()
