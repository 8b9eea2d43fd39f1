# Contract tests: the Solidity sources in contracts/ compiled by solc-js (contracts/build.mjs),
# then exercised with ethers 6 against a real anvil that each test file starts on a free port.
# contracts.build compiles into ${CMAKE_BINARY_DIR}/contracts (skipped when the sources are
# unchanged) and is the fixture every other contracts.* test requires.
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
  add_custom_target(contracts DEPENDS ${AGORA_CONTRACTS_OUT}/build-info.json)
endif()

add_test(NAME contracts.build
         COMMAND ${NODE} ${CMAKE_SOURCE_DIR}/contracts/build.mjs --out ${AGORA_CONTRACTS_OUT})
set_tests_properties(contracts.build PROPERTIES FIXTURES_SETUP agora_contracts TIMEOUT 600)

foreach(t token registry market disputes scenario deploy)
  add_test(NAME contracts.${t} COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/contracts/${t}.test.mjs)
  set_tests_properties(contracts.${t} PROPERTIES
    FIXTURES_REQUIRED agora_contracts
    ENVIRONMENT "CONTRACTS_OUT=${AGORA_CONTRACTS_OUT};AGORA_SRC=${CMAKE_SOURCE_DIR}"
    TIMEOUT 600)
endforeach()
