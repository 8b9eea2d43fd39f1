# Browser tests: playwright-core (npm) driving Debian's chromium against a
# real `agora serve`; one CTest entry per tests/browser/test_*.mjs, named
# browser.<name>. Screenshots land in tests/out/screenshots of the build.
# browser.market and browser.disputes also run a real anvil and `agora
# chain deploy`; browser.a11y runs axe-core (npm) on every main page.
find_program(AGORA_NODE_FOR_TESTS node)
if(AGORA_NODE_FOR_TESTS)
  file(GLOB browser_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/browser/test_*.mjs)
  foreach(t ${browser_tests})
    get_filename_component(name ${t} NAME_WE)
    string(REGEX REPLACE "^test_" "" name ${name})
    add_test(NAME browser.${name} COMMAND ${AGORA_NODE_FOR_TESTS} ${t})
    set_tests_properties(browser.${name} PROPERTIES
      ENVIRONMENT "AGORA_BIN=$<TARGET_FILE:agora>;AGORA_TEST_OUT=${CMAKE_BINARY_DIR}/tests/out/screenshots"
      TIMEOUT 900
      RESOURCE_LOCK chromium)
  endforeach()
  # browser.market and browser.disputes deploy the contracts: let the
  # compile happen once, in the contracts' fixture agora_contracts
  # (tests/contracts.cmake).
  foreach(t browser.market browser.disputes)
    if(TEST ${t})
      set_tests_properties(${t} PROPERTIES FIXTURES_REQUIRED agora_contracts)
    endif()
  endforeach()
endif()
