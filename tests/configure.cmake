# The configure a user who only installs runs: no check, no build type.
find_program(LIBMSIX_BASH bash REQUIRED)
add_test(NAME configure_plain
  COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/configure-plain.sh
          ${PROJECT_SOURCE_DIR} ${CMAKE_COMMAND} "${CMAKE_GENERATOR}")
set_tests_properties(configure_plain PROPERTIES LABELS consumer)
