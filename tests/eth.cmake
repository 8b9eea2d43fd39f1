# eth interop tests: our Ethereum stack against ethers (npm) and a live anvil.
# eth_tool drives agora_eth from node scripts in tests/eth/.
find_program(NODE node)
add_executable(eth_tool ${CMAKE_CURRENT_SOURCE_DIR}/eth/eth_tool.c
                        ${CMAKE_CURRENT_SOURCE_DIR}/eth/anvil_scenario.c)
target_link_libraries(eth_tool PRIVATE agora_eth)
# The fuzz driver: libFuzzer with clang (docs/internals/eth.md), or a fixed
# deterministic mutation run here under the sanitizers.
add_executable(eth_fuzz ${CMAKE_CURRENT_SOURCE_DIR}/eth/fuzz_eth.c)
target_link_libraries(eth_fuzz PRIVATE agora_eth)
add_test(NAME eth.fuzz_smoke COMMAND eth_fuzz 30000)
set_tests_properties(eth.fuzz_smoke PROPERTIES TIMEOUT 600)

if(NODE)
  foreach(t tx abi eip712 keystore siwe anvil wallet)
    add_test(NAME eth.interop_${t} COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/eth/${t}.mjs)
    set_tests_properties(eth.interop_${t} PROPERTIES
      ENVIRONMENT "ETH_TOOL=$<TARGET_FILE:eth_tool>;AGORA_BIN=$<TARGET_FILE:agora>;AGORA_SRC=${CMAKE_SOURCE_DIR}"
      TIMEOUT 600)
  endforeach()
endif()
