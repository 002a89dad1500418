# Documentation: every R/V citation in the tree is defined in docs/rules.md,
# nothing cites material outside the repository, and the paths and links in
# README.md and docs/ resolve. docs_rules_cited_selftest proves the check
# rejects each kind of breach.
find_program(LIBMSIX_BASH bash REQUIRED)

add_test(NAME docs_rules_cited
  COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/rules-cited.sh
          ${PROJECT_SOURCE_DIR})
add_test(NAME docs_rules_cited_selftest
  COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/rules-cited.sh --selftest)
set_tests_properties(docs_rules_cited docs_rules_cited_selftest
  PROPERTIES LABELS docs)

# Man pages (cmake/ManPages.cmake): one per public function, each its own,
# each rendering without a warning; the selftest proves the check rejects
# each kind of breach.
if(LIBMSIX_MAN_BUILT)
  add_test(NAME docs_man_pages
    COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/man-pages.sh
            --cc ${CMAKE_C_COMPILER} --include ${PROJECT_SOURCE_DIR}/include
            --man ${LIBMSIX_MAN_DIR})
  add_test(NAME docs_man_pages_selftest
    COMMAND ${LIBMSIX_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/man-pages.sh
            --cc ${CMAKE_C_COMPILER}
            --selftest ${PROJECT_SOURCE_DIR}/scripts/man-pages.py ${LIBMSIX_PANDOC})
  set_tests_properties(docs_man_pages docs_man_pages_selftest PROPERTIES
    LABELS docs SKIP_RETURN_CODE 77
    ENVIRONMENT "PYTHON=${Python3_EXECUTABLE}")
endif()
