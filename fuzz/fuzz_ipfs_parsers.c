/* fuzz_ipfs_parsers.c - CIDs (binary, and text in every multibase the parser
 * takes), dag-pb nodes, UnixFS data and CAR files (src/ipfs) under `make fuzz`
 * and the corpus replay of `make test`.
 *
 * The entry point and its invariants (what decodes re-encodes and decodes
 * again) are those of tests/ipfs/fuzz_ipfs.c, whose own mutation loop CTest
 * runs as ipfs.fuzz_parsers; here they get libFuzzer and a kept corpus
 * (fuzz/corpus/ipfs_parsers: CIDs, blocks and CARs made by the JS reference
 * implementation, see fuzz/seeds.mjs).
 */
#define AGORA_LIBFUZZER 1
#include "../tests/ipfs/fuzz_ipfs.c"
