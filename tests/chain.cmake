# Chain tests beyond the unit tests: the CLI purchase scenario (tests/e2e/test_chain_cli.py) runs
# against anvil as e2e.test_chain_cli (registered by the e2e glob in tests/CMakeLists.txt) and,
# with AGORA_TEST_CHAIN=ganache, against Ganache 7 (npm `ganache`, offline, chain id 1337) here.
find_program(AGORA_CHAIN_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
# The signed-quote scenario (tests/e2e/test_chain_quote.py) and the node's chain tests
# (tests/e2e/test_chain.py: indexer, reorgs, SIWE, licences) run on Ganache the same way.
if(AGORA_CHAIN_PYTHON3 AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/.bin/ganache)
  foreach(t test_chain test_chain_cli test_chain_quote)
    add_test(NAME e2e.${t}_ganache
             COMMAND ${AGORA_CHAIN_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${t}.py)
    set_tests_properties(e2e.${t}_ganache PROPERTIES
      ENVIRONMENT "AGORA_BIN=$<TARGET_FILE:agora>;AGORA_SRC=${CMAKE_SOURCE_DIR};AGORA_TEST_CHAIN=ganache"
      TIMEOUT 900)
  endforeach()
endif()

# Unit tests of the chain commands' pure helpers (src/cli/chainctx.c): CTest chaincli.<name>.
if(TARGET agora_cli)
  agora_unit_tests(chaincli agora_cli)
endif()
