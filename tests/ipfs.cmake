# IPFS tests beyond the unit cases: our CLI checked against the JS reference
# importer (ipfs-unixfs-importer) and @ipld/car, both from node_modules.
find_program(NODE node)
if(NODE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/ipfs-unixfs-importer)
  foreach(suite v1 v0 deep options car memory)
    add_test(NAME ipfs.js_${suite}
             COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/ipfs/compare.mjs ${suite}
                     $<TARGET_FILE:agora>)
    set_tests_properties(ipfs.js_${suite} PROPERTIES TIMEOUT 900)
  endforeach()
else()
  message(WARNING "node or node_modules/ipfs-unixfs-importer missing: ipfs.js_* tests not registered")
endif()

# A real IPFS client: @helia/verified-fetch with our node as its only
# trustless gateway fetches model files and must get identical bytes.
if(NODE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/@helia/verified-fetch)
  add_test(NAME ipfs.helia_verified_fetch
           COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/ipfs/helia.mjs $<TARGET_FILE:agora>)
  set_tests_properties(ipfs.helia_verified_fetch PROPERTIES TIMEOUT 300)
else()
  message(WARNING "node or node_modules/@helia/verified-fetch missing: ipfs.helia_verified_fetch not registered")
endif()

# Parser fuzzing: the driver's own mutation loop under the sanitizers (see
# tests/ipfs/fuzz_ipfs.c for the libFuzzer build).
add_executable(fuzz_ipfs ${CMAKE_CURRENT_SOURCE_DIR}/ipfs/fuzz_ipfs.c)
target_link_libraries(fuzz_ipfs PRIVATE agora_ipfs)
add_test(NAME ipfs.fuzz_parsers COMMAND fuzz_ipfs 100000)
set_tests_properties(ipfs.fuzz_parsers PROPERTIES TIMEOUT 600)
