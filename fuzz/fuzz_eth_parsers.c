/* fuzz_eth_parsers.c - RLP, ABI decoding, signed transactions, ABI type
 * strings and signatures, SIWE messages, EIP-712 documents and keystore files
 * (src/eth) under `make fuzz` and the corpus replay of `make test`.
 *
 * The entry point and its invariants are those of tests/eth/fuzz_eth.c (CTest
 * eth.fuzz_smoke runs its own mutation loop): the first byte picks the parser
 * (mod 9: 0 RLP, 1 ABI decoding, 2 signed transaction, 3 ABI type, 4 function
 * signature, 5 SIWE, 6 EIP-712, 7-8 keystore), the rest is its input. The
 * corpus (fuzz/corpus/eth_parsers) holds encodings made by ethers, see
 * fuzz/seeds.mjs.
 */
#define AGORA_LIBFUZZER 1
#include "../tests/eth/fuzz_eth.c"
