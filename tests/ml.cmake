# ml.cmake - the ONNX engine's tests beyond the unit tests (included by tests/CMakeLists.txt).
#
# agora_onnx is `agora onnx` built alone (the same src/cli/cmd_onnx.c, linked
# with agora_ml only) so these tests do not wait for the rest of the node.
add_executable(agora_onnx ${CMAKE_CURRENT_SOURCE_DIR}/ml/onnx_main.c
               ${CMAKE_SOURCE_DIR}/src/cli/cmd_onnx.c)
target_link_libraries(agora_onnx PRIVATE agora_ml)
set_target_properties(agora_onnx PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# The SGEMM benchmark (bench/onnx/sgemm_bench.c; not a test, built on request:
# `cmake --build build-rel --target sgemm_bench`).
add_executable(sgemm_bench EXCLUDE_FROM_ALL ${CMAKE_SOURCE_DIR}/bench/onnx/sgemm_bench.c)
target_include_directories(sgemm_bench PRIVATE ${OPENBLAS_INCLUDE})
target_link_libraries(sgemm_bench PRIVATE agora_ml)
set_target_properties(sgemm_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# (b) The ONNX backend node suite from Debian's libonnx-testdata: fails below
# the pass count recorded in tests/ml/node_pass_count.txt, or on any crash or
# hang. The whole suite takes a few seconds even under ASan, so the
# sanitized binary itself runs it (no separate optimized build needed).
set(ONNX_TESTDATA /usr/share/libonnx-testdata/data CACHE PATH "ONNX backend test data")
if(EXISTS ${ONNX_TESTDATA}/node)
  add_test(NAME ml.conformance_node
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/ml/conformance.sh $<TARGET_FILE:agora_onnx>
                   ${ONNX_TESTDATA}/node ${CMAKE_CURRENT_SOURCE_DIR}/ml/node_pass_count.txt)
  set_tests_properties(ml.conformance_node PROPERTIES TIMEOUT 600)
  # The other suites: no case may crash, and no fewer may pass than today
  # (simple: the rest are the two Gradient cases; the PyTorch suites: all).
  set(ML_FLOOR_simple 21)
  set(ML_FLOOR_pytorch-converted 82)
  set(ML_FLOOR_pytorch-operator 35)
  foreach(suite simple pytorch-converted pytorch-operator)
    if(EXISTS ${ONNX_TESTDATA}/${suite})
      add_test(NAME ml.conformance_${suite}
               COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/ml/conformance.sh $<TARGET_FILE:agora_onnx>
                       ${ONNX_TESTDATA}/${suite} ${ML_FLOOR_${suite}})
      set_tests_properties(ml.conformance_${suite} PROPERTIES TIMEOUT 600)
    endif()
  endforeach()
endif()

# (c) Parity with onnxruntime-node on real models (MLP, CNN, ResNet-style,
# transformer encoder with embedding, LSTM, GRU, RNN, depthwise convolution,
# logistic regression), generated into the build directory at test time.
find_program(NODE_EXE node)
set(ML_PYTHON /usr/bin/python3)
if(NODE_EXE AND EXISTS ${CMAKE_SOURCE_DIR}/node_modules/onnxruntime-node AND EXISTS ${ML_PYTHON})
  add_test(NAME ml.parity_onnxruntime
           COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/parity.py
                   $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-parity)
  set_tests_properties(ml.parity_onnxruntime PROPERTIES TIMEOUT 900)
  # The same against real PyTorch modules exported with torch.onnx.export
  # (Debian's python3-torch); skipped (exit 77) where torch is not installed.
  add_test(NAME ml.parity_onnxruntime_torch
           COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/parity.py
                   $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-parity-torch --torch)
  set_tests_properties(ml.parity_onnxruntime_torch PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()

# (c') The committed parity fixtures (tests/ml/fixtures, PyTorch exports with
# onnxruntime-node's outputs, written by gen_torch_models.py --fixtures):
# needs neither torch nor node, so it always runs.
add_test(NAME ml.parity_fixtures
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/parity.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-parity-fixtures
                 --fixtures ${CMAKE_CURRENT_SOURCE_DIR}/ml/fixtures)
# The same with two threads (split GEMMs, convolution panels, element-wise work).
add_test(NAME ml.parity_fixtures_2threads
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/parity.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-parity-fixtures-2
                 --threads 2 --fixtures ${CMAKE_CURRENT_SOURCE_DIR}/ml/fixtures)
# The same with every single-precision GEMM forced onto the engine's own
# AVX2/FMA kernel (the path taken when OpenBLAS runs pre-Haswell kernels;
# here OpenBLAS picks Zen, so only the hidden --gemm flag reaches it).
add_test(NAME ml.parity_fixtures_gemm_own
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/parity.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-parity-fixtures-own
                 --gemm own --fixtures ${CMAKE_CURRENT_SOURCE_DIR}/ml/fixtures)
add_test(NAME ml.parity_fixtures_gemm_own_2threads
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/parity.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-parity-fixtures-own-2
                 --threads 2 --gemm own --fixtures ${CMAKE_CURRENT_SOURCE_DIR}/ml/fixtures)

# Every convolution path (packed in place, packed panels, im2col + BLAS)
# against a float64 NumPy reference.
add_test(NAME ml.conv_paths
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/conv_paths.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-conv-paths)

# Scan with non-default scan axes and directions, against NumPy.
add_test(NAME ml.scan_axes
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/scan_axes.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-scan-axes)

# Einsum with ellipses, against numpy.einsum.
add_test(NAME ml.einsum_ellipsis
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/einsum_ellipsis.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-einsum)

# Sequences and optionals through `agora onnx run` (one .npy per element),
# against NumPy, and their error messages.
add_test(NAME ml.sequences_cli
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/sequences_cli.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-sequences)

# The single-precision Erf (AVX2 and scalar) against math.erf.
add_test(NAME ml.erf_accuracy
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/erf_accuracy.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-erf)

# (d) Hostile inputs through the CLI: clear errors, never a crash.
add_test(NAME ml.hostile_models
         COMMAND ${ML_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ml/hostile.py
                 $<TARGET_FILE:agora_onnx> ${CMAKE_BINARY_DIR}/ml-hostile)

# (e) The loader fuzz driver: a libFuzzer target with clang and
# -DAGORA_FUZZ=ON, otherwise a replay driver run over the node suite's
# models with deterministic truncations and bit flips.
option(AGORA_FUZZ "Build libFuzzer targets (clang only)" OFF)
add_executable(fuzz_ml_loader ${CMAKE_CURRENT_SOURCE_DIR}/ml/fuzz_loader.c)
target_link_libraries(fuzz_ml_loader PRIVATE agora_ml)
if(AGORA_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  target_compile_definitions(fuzz_ml_loader PRIVATE AGORA_LIBFUZZER)
  target_compile_options(fuzz_ml_loader PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_ml_loader PRIVATE -fsanitize=fuzzer)
elseif(EXISTS ${ONNX_TESTDATA}/node)
  # Every node-suite model, each also run on zero-filled inputs, with 71
  # mutations apiece: about 66,000 loads in a few seconds under ASan.
  file(GLOB fuzz_seeds ${ONNX_TESTDATA}/node/test_*/model.onnx)
  add_test(NAME ml.fuzz_loader_replay COMMAND fuzz_ml_loader ${fuzz_seeds})
endif()
