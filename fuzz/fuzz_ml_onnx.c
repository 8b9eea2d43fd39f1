/* fuzz_ml_onnx.c - the ONNX loader (protobuf decoding, validation, planning)
 * and one run of each model that loads (src/ml) under `make fuzz` and the
 * corpus replay of `make test`.
 *
 * The entry point is that of tests/ml/fuzz_loader.c (CTest
 * ml.fuzz_loader_replay mutates Debian's libonnx-testdata models with it);
 * the corpus (fuzz/corpus/ml_onnx) keeps small models from that suite and
 * every input that ever crashed the loader.
 */
#define AGORA_LIBFUZZER 1
#include "../tests/ml/fuzz_loader.c"
