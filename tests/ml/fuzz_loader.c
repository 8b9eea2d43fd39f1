/* fuzz_loader.c - fuzz driver for the ONNX loader (protobuf decoding, validation, planning)
 * and, for models that load, one run on small zero-filled inputs (the kernels'
 * attribute and shape checks).
 *
 * Built with clang and -fsanitize=fuzzer (cmake -DAGORA_FUZZ=ON) it is a
 * libFuzzer target: `fuzz_ml_loader CORPUS_DIR`. Built with any other
 * compiler it is a replay driver: for every file named on the command line it
 * loads the file, then deterministic mutations of it (truncations and byte
 * flips), and fails only on a crash, which the sanitizers turn into a report.
 */
#include "core/common.h"
#include "core/buf.h"
#include "ml/internal.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the model once on zero-filled inputs of the declared shapes (unknown
 * dimensions become 2); errors are fine, crashes are not. */
static void run_once(struct ml_model *m)
{
    int n = ml_model_n_inputs(m), no = ml_model_n_outputs(m);
    struct ml_tensor ins[16], outs[16];
    const struct ml_tensor *inp[16];
    bool ok = n <= 16 && no <= 16;
    memset(ins, 0, sizeof(ins));
    memset(outs, 0, sizeof(outs));
    for (int i = 0; i < n && ok; i++) {
        const struct ml_value *v = &m->values[m->inputs[i]];
        int64_t dims[ML_MAX_DIMS];
        int nd = v->ndecl < 0 ? 1 : MIN(v->ndecl, ML_MAX_DIMS);
        for (int d = 0; d < nd; d++)
            dims[d] = 2;
        inp[i] = &ins[i];
        if (v->kind == ML_KIND_OPTIONAL || v->kind == ML_KIND_OPTIONAL_SEQUENCE) {
            if (i % 2) { /* every other optional input is empty */
                ins[i].dtype = ML_NONE;
                continue;
            }
        }
        if (v->kind == ML_KIND_SEQUENCE || v->kind == ML_KIND_OPTIONAL_SEQUENCE) {
            /* A sequence of two such tensors. */
            int64_t two = 2;
            ok = v->dtype != ML_UNDEFINED && v->dtype != ML_STRING &&
                 !ml_tensor_alloc(&ins[i], ML_SEQUENCE, 1, &two, NULL);
            for (int j = 0; j < 2 && ok; j++)
                ok = !ml_tensor_alloc(&((struct ml_tensor *)ins[i].data)[j], v->dtype, nd, dims,
                                      NULL);
            ins[i].elem_dtype = v->dtype;
            continue;
        }
        ok = v->dtype != ML_UNDEFINED && v->dtype != ML_STRING &&
             !ml_tensor_alloc(&ins[i], v->dtype, nd, dims, NULL);
    }
    if (ok && !ml_model_run(m, inp, outs, NULL))
        for (int i = 0; i < no; i++)
            ml_tensor_release(&outs[i]);
    for (int i = 0; i < n && i < 16; i++)
        ml_tensor_release(&ins[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ml_model *m = NULL;
    struct ml_opts o = {.threads = 1, .mem_limit = (size_t)64 << 20,
                        .max_model_bytes = (size_t)16 << 20, .sequence_io = true};
    if (ml_model_load_buf(&m, data, size, NULL, &o, NULL) == 0) {
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            ml_model_info(m, f);
            fclose(f);
        }
        run_once(m);
        ml_model_free(m);
    }
    return 0;
}

#ifndef AGORA_LIBFUZZER
int main(int argc, char **argv)
{
    int runs = 0;
    for (int i = 1; i < argc; i++) {
        struct buf b;
        buf_init(&b, (size_t)16 << 20);
        if (buf_read_file(&b, argv[i])) {
            fprintf(stderr, "fuzz_loader: cannot read %s\n", argv[i]);
            buf_release(&b);
            return 1;
        }
        uint8_t *d = (uint8_t *)b.p;
        LLVMFuzzerTestOneInput(d, b.n);
        for (size_t cut = 1; cut < 8 && b.n; cut++, runs++)
            LLVMFuzzerTestOneInput(d, b.n * cut / 8);
        uint32_t seed = 2166136261u;
        for (int flip = 0; flip < 64 && b.n; flip++, runs++) {
            seed = seed * 1664525u + 1013904223u;
            size_t at = seed % b.n;
            uint8_t old = d[at];
            d[at] ^= (uint8_t)(1u << (seed >> 29));
            LLVMFuzzerTestOneInput(d, b.n);
            d[at] = old;
        }
        buf_release(&b);
    }
    printf("fuzz_loader: %d mutated inputs loaded without a crash\n", runs);
    return 0;
}
#endif
