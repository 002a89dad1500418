# Linkage: libmsix.so exports exactly the LIBMSIX_EXPORT declarations of
# include/*.h (read at test time, so new headers need no change here), all
# versioned by lib/libmsix.map, none named like QEMU's msix_*; libmsix.a
# defines only libmsix_* globals, so a VMM with its own kvm_commit_prepare
# links it statically.
# linkage_selftest proves the check rejects each kind of breach.
find_program(LIBMSIX_BASH bash REQUIRED)

add_test(NAME linkage
  COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/linkage.sh
          --cc ${CMAKE_C_COMPILER}
          --include ${PROJECT_SOURCE_DIR}/include
          --map ${PROJECT_SOURCE_DIR}/lib/libmsix.map
          --so $<TARGET_FILE:msix>
          --archive $<TARGET_FILE:msix_static>
          "--sanitize=${LIBMSIX_SANITIZE}"
          --symbols ${PROJECT_SOURCE_DIR}/debian/libmsix0.symbols)
add_test(NAME linkage_selftest
  COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/linkage.sh
          --cc ${CMAKE_C_COMPILER} --selftest)
set_tests_properties(linkage linkage_selftest PROPERTIES LABELS linkage)
