# Man pages: libmsix_*(3), one per function declared in include/*.h, and
# libmsix(7), generated from the headers' doc comments by
# scripts/man-pages.py and pandoc (target "man", part of "all"), installed
# under ${CMAKE_INSTALL_MANDIR}. The function list is read from the headers
# at build time, so a new declaration gets its page with no change here.
option(LIBMSIX_MAN "Build and install the man pages (needs pandoc, python3)" ON)

set(LIBMSIX_MAN_DIR ${PROJECT_BINARY_DIR}/man)
set(LIBMSIX_MAN_BUILT OFF)
if(LIBMSIX_MAN)
  find_program(LIBMSIX_PANDOC pandoc)
  find_package(Python3 COMPONENTS Interpreter)
  if(NOT LIBMSIX_PANDOC OR NOT Python3_Interpreter_FOUND)
    message(STATUS "libmsix: man pages off: pandoc or python3 not found "
                   "(apt-get install pandoc python3, or -DLIBMSIX_MAN=OFF)")
  else()
    set(LIBMSIX_MAN_BUILT ON)
    set(stamp ${LIBMSIX_MAN_DIR}/man.stamp)
    add_custom_command(OUTPUT ${stamp}
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/man-pages.py
              --pandoc ${LIBMSIX_PANDOC} --version ${PROJECT_VERSION}
              --out ${LIBMSIX_MAN_DIR} ${LIBMSIX_HEADERS}
      COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
      DEPENDS ${LIBMSIX_HEADERS} ${PROJECT_SOURCE_DIR}/scripts/man-pages.py
      COMMENT "Generating man pages from include/*.h"
      VERBATIM)
    add_custom_target(man ALL DEPENDS ${stamp})
    # Directory installs: the page list is whatever the build generated.
    install(DIRECTORY ${LIBMSIX_MAN_DIR}/man3 ${LIBMSIX_MAN_DIR}/man7
      DESTINATION ${CMAKE_INSTALL_MANDIR}
      FILES_MATCHING PATTERN "*.[37]")
  endif()
endif()
