# README.md's "A device model in 15 lines" is a test: the block is cut out
# of the README at configure time and readme_example.c includes it, built
# once as C11 and once as C++20 (designated initialisers in declaration
# order, no array designators), so the example a user copies compiles in
# both and does what the README says.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/README.md)
file(READ ${PROJECT_SOURCE_DIR}/README.md LIBMSIX_README)
string(REGEX MATCH "## A device model in 15 lines\n+```c\n([^`]*)```"
       LIBMSIX_README_BLOCK "${LIBMSIX_README}")
if(NOT CMAKE_MATCH_1)
  message(FATAL_ERROR "README.md: no \"A device model in 15 lines\" C block")
endif()
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/readme/readme_example.inc
     CONTENT "${CMAKE_MATCH_1}" @ONLY)

add_executable(readme_example_c readme_example.c)
target_include_directories(readme_example_c PRIVATE
                           ${CMAKE_CURRENT_BINARY_DIR}/readme)
target_link_libraries(readme_example_c PRIVATE libmsix::msix PkgConfig::CHECK)
add_test(NAME readme_example_c COMMAND readme_example_c)
set_tests_properties(readme_example_c PROPERTIES LABELS unit)

include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  configure_file(readme_example.c
                 ${CMAKE_CURRENT_BINARY_DIR}/readme/readme_example.cpp COPYONLY)
  add_executable(readme_example_cxx
                 ${CMAKE_CURRENT_BINARY_DIR}/readme/readme_example.cpp)
  # The directory's warning options include C-only ones; set C++'s own.
  set_property(TARGET readme_example_cxx PROPERTY COMPILE_OPTIONS
               -Wall -Wextra -Wno-unused-parameter
               -Wno-missing-field-initializers)
  if(LIBMSIX_WERROR)
    set_property(TARGET readme_example_cxx APPEND PROPERTY COMPILE_OPTIONS
                 -Werror)
  endif()
  if(LIBMSIX_SANITIZE)
    set_property(TARGET readme_example_cxx APPEND PROPERTY COMPILE_OPTIONS
                 -fsanitize=${LIBMSIX_SANITIZE} -fno-omit-frame-pointer)
  endif()
  set_target_properties(readme_example_cxx PROPERTIES
                        CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
                        CXX_EXTENSIONS OFF)
  target_include_directories(readme_example_cxx PRIVATE
                             ${CMAKE_CURRENT_BINARY_DIR}/readme)
  target_link_libraries(readme_example_cxx PRIVATE libmsix::msix
                        PkgConfig::CHECK)
  add_test(NAME readme_example_cxx COMMAND readme_example_cxx)
  set_tests_properties(readme_example_cxx PROPERTIES LABELS unit)
else()
  message(STATUS "No C++ compiler: the README example is tested as C only")
endif()
