# Consumers of the installed package: consumer_install builds the library
# targets and installs them into a private prefix (a fixture); the others
# build tests/consumer/ against that prefix through pkg-config and through
# find_package(libmsix), and check the installed headers as C11 and C++.
find_program(LIBMSIX_BASH bash REQUIRED)

set(LIBMSIX_CONSUMER_WORK ${CMAKE_CURRENT_BINARY_DIR}/consumer)
set(LIBMSIX_CONSUMER_RUN ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh)
set(LIBMSIX_CONSUMER_ARGS
  --build-dir ${PROJECT_BINARY_DIR}
  --prefix ${LIBMSIX_CONSUMER_WORK}/prefix
  --libdir ${CMAKE_INSTALL_LIBDIR}
  --work ${LIBMSIX_CONSUMER_WORK}
  --src ${CMAKE_CURRENT_SOURCE_DIR}/consumer
  --src-include ${PROJECT_SOURCE_DIR}/include
  --cc ${CMAKE_C_COMPILER}
  --cmake ${CMAKE_COMMAND}
  "--generator=${CMAKE_GENERATOR}"
  "--sanitize=${LIBMSIX_SANITIZE}")

add_test(NAME consumer_install
  COMMAND ${LIBMSIX_CONSUMER_RUN} install ${LIBMSIX_CONSUMER_ARGS})
# RUN_SERIAL: it checks that the install writes nothing into the build tree,
# which no other test may be writing meanwhile.
set_tests_properties(consumer_install PROPERTIES
  FIXTURES_SETUP libmsix_installed LABELS consumer RUN_SERIAL TRUE)
foreach(step pkgconfig cmake headers cxx)
  add_test(NAME consumer_${step}
    COMMAND ${LIBMSIX_CONSUMER_RUN} ${step} ${LIBMSIX_CONSUMER_ARGS})
  set_tests_properties(consumer_${step} PROPERTIES
    FIXTURES_REQUIRED libmsix_installed LABELS consumer SKIP_RETURN_CODE 77)
endforeach()
