/* sgemm_bench.c - measures single-precision GEMM GFLOP/s of the BLAS it is linked
 * with (OpenBLAS or BLIS through CBLAS), at 1 and N threads, for the BLAS choice
 * recorded in docs/internals/onnx.md. Build: see bench/onnx/run.sh. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_OPENBLAS
extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);
#endif
#ifdef HAVE_BLIS
extern void bli_thread_set_num_threads(long);
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void set_threads(int n)
{
#ifdef HAVE_OPENBLAS
    openblas_set_num_threads(n);
#endif
#ifdef HAVE_BLIS
    bli_thread_set_num_threads(n);
#endif
}

int main(int argc, char **argv)
{
    int sizes[] = {64, 256, 512, 1024};
    int threads = argc > 1 ? atoi(argv[1]) : 1;
#ifdef HAVE_OPENBLAS
    printf("core: %s\n", openblas_get_corename());
#endif
    set_threads(threads);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int n = sizes[s], iters = n <= 64 ? 2000 : n <= 256 ? 100 : n <= 512 ? 20 : 5;
        float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
              *c = malloc(sizeof(float) * n * n);
        for (int i = 0; i < n * n; i++) {
            a[i] = (float)(i % 7) * 0.1f;
            b[i] = (float)(i % 5) * 0.2f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            double t0 = now();
            for (int i = 0; i < iters; i++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
            double t = (now() - t0) / iters;
            if (t < best)
                best = t;
        }
        printf("sgemm %4d threads %d: %7.1f GFLOP/s\n", n, threads, 2.0 * n * n * n / best / 1e9);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
