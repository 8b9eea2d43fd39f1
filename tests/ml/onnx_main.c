/* onnx_main.c - a standalone `agora onnx` for tests and benchmarks: the same
 * cmd_onnx() as the agora binary, linked with the engine alone, so the
 * conformance suite runs without the rest of the node. Invoked either as
 * `agora_onnx onnx run ...` (like `agora onnx run ...`) or `agora_onnx run ...`. */
#include "core/common.h"
#include "cli/cli.h"


int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "onnx"))
        return cmd_onnx(argc - 1, argv + 1);
    return cmd_onnx(argc, argv);
}
