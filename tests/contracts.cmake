# Contract tests: the Solidity sources in contracts/ compiled by solc-js (contracts/build.mjs),
# then exercised with ethers 6 against a real anvil that each test file starts on a free port,
# and the same files again against Ganache 7.9 (contracts.ganache.*, AGORA_TEST_CHAIN=ganache):
# one Shanghai build runs on both. contracts.build compiles into ${CMAKE_BINARY_DIR}/contracts
# (skipped when the sources are unchanged) and is the fixture every other contracts.* test requires.
find_program(NODE node)
set(AGORA_ANVIL ${CMAKE_SOURCE_DIR}/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil)
if(NOT NODE OR NOT EXISTS ${CMAKE_SOURCE_DIR}/node_modules/solc OR NOT EXISTS ${AGORA_ANVIL})
  message(WARNING "node, node_modules/solc or anvil missing: contracts.* tests not registered")
  return()
endif()

set(AGORA_CONTRACTS_OUT ${CMAKE_BINARY_DIR}/contracts)
file(GLOB_RECURSE agora_sol CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/contracts/*.sol)

# `cmake --build <dir> --target contracts` builds the artifacts (ABI + bytecode JSON).
if(NOT TARGET contracts)
  add_custom_command(
    OUTPUT ${AGORA_CONTRACTS_OUT}/build-info.json
    COMMAND ${NODE} ${CMAKE_SOURCE_DIR}/contracts/build.mjs --out ${AGORA_CONTRACTS_OUT} --quiet
    DEPENDS ${agora_sol} ${CMAKE_SOURCE_DIR}/contracts/build.mjs
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    COMMENT "Compiling Solidity contracts with solc-js"
    VERBATIM)
  # Part of the default build: `agora chain deploy` finds them beside the binary.
  add_custom_target(contracts ALL DEPENDS ${AGORA_CONTRACTS_OUT}/build-info.json)
endif()

add_test(NAME contracts.build
         COMMAND ${NODE} ${CMAKE_SOURCE_DIR}/contracts/build.mjs --out ${AGORA_CONTRACTS_OUT})
set_tests_properties(contracts.build PROPERTIES FIXTURES_SETUP agora_contracts TIMEOUT 600)

# deploy.test.mjs also checks `agora chain deploy` (C) against deploy.mjs when it has the binary.
if(TARGET agora)
  set(agora_bin_env "AGORA_BIN=$<TARGET_FILE:agora>")
else()
  set(agora_bin_env "")
endif()

foreach(t token registry market disputes scenario deploy)
  add_test(NAME contracts.${t} COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/contracts/${t}.test.mjs)
  set_tests_properties(contracts.${t} PROPERTIES
    FIXTURES_REQUIRED agora_contracts
    ENVIRONMENT "CONTRACTS_OUT=${AGORA_CONTRACTS_OUT};AGORA_SRC=${CMAKE_SOURCE_DIR};${agora_bin_env}"
    TIMEOUT 600)
endforeach()

# The C deployer's unit tests (tests/unit/chain/test_deploy.c) start anvil and Ganache and need
# the compiled contracts.
foreach(t deploy_anvil deploy_ganache deploy_options)
  if(TEST chain.${t})
    set_tests_properties(chain.${t} PROPERTIES
      FIXTURES_REQUIRED agora_contracts
      ENVIRONMENT "CONTRACTS_OUT=${AGORA_CONTRACTS_OUT};AGORA_SRC=${CMAKE_SOURCE_DIR}"
      TIMEOUT 600)
  endif()
endforeach()

# The same tests on Ganache (chain id 1337, hardfork shanghai), the seed's development chain.
set(AGORA_GANACHE ${CMAKE_SOURCE_DIR}/node_modules/ganache/dist/node/cli.js)
if(EXISTS ${AGORA_GANACHE})
  foreach(t token registry market disputes scenario deploy)
    add_test(NAME contracts.ganache.${t} COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/contracts/${t}.test.mjs)
    set_tests_properties(contracts.ganache.${t} PROPERTIES
      FIXTURES_REQUIRED agora_contracts
      ENVIRONMENT "CONTRACTS_OUT=${AGORA_CONTRACTS_OUT};AGORA_SRC=${CMAKE_SOURCE_DIR};AGORA_TEST_CHAIN=ganache;${agora_bin_env}"
      TIMEOUT 900)
  endforeach()
else()
  message(WARNING "node_modules/ganache missing: contracts.ganache.* tests not registered")
endif()
