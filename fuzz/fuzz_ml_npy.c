/* fuzz_ml_npy.c - .npy files (src/ml/npy.c): header dictionary, shape, dtype, data length.
 *
 * A parse that succeeds must describe exactly the bytes it holds (every
 * element is read, so ASan sees any over-read), and writing the tensor out
 * and reading it back must give the same tensor.
 */
#include "core/common.h"
#include "ml/ml.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct ml_tensor *t, size_t bytes)
{
    static char path[64];
    struct ml_tensor u;

    if (!path[0])
        snprintf(path, sizeof(path), "/tmp/agora-fuzz-npy-%d.npy", (int)getpid());
    ml_tensor_init(&u);
    if (ml_npy_write(t, path, NULL) == 0) {
        if (ml_npy_read(&u, path, NULL) != 0 || u.dtype != t->dtype || u.ndim != t->ndim ||
            u.n != t->n || memcmp(u.dims, t->dims, sizeof(t->dims[0]) * (size_t)t->ndim) ||
            (bytes && memcmp(u.data, t->data, bytes)))
            abort();
    }
    ml_tensor_release(&u);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ml_tensor t;
    size_t esize, bytes;
    volatile uint8_t sink = 0;

    ml_tensor_init(&t);
    if (ml_npy_parse(&t, data, size, NULL) == 0) {
        esize = ml_dtype_size(t.dtype);
        if (t.n < 0 || t.ndim < 0 || t.ndim > ML_MAX_DIMS)
            abort();
        bytes = t.dtype == ML_STRING ? 0 : (size_t)t.n * esize;
        /* The data cannot be longer than the file that held it. */
        if (t.dtype != ML_STRING && bytes > size)
            abort();
        for (size_t i = 0; i < bytes; i++)
            sink ^= ((const uint8_t *)t.data)[i];
        if (t.dtype != ML_STRING && bytes <= 1 << 16)
            roundtrip(&t, bytes);
    }
    ml_tensor_release(&t);
    (void)sink;
    return 0;
}
