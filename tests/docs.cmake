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
