/* sgemm_bench.c - single-precision GEMM GFLOP/s: OpenBLAS as loaded, the engine's own AVX2/FMA
 * kernel, and OpenBLAS forced onto its old Prescott kernels, for docs/internals/onnx.md.
 *
 * Build and run (Release):
 *   cmake --build build-rel --target sgemm_bench && build-rel/sgemm_bench [THREADS]
 * prints one row per size (64, 256, 512, 1024, square, row-major, C = A*B):
 *   - "openblas": cblas_sgemm of the OpenBLAS the process loaded, THREADS
 *     OpenBLAS threads (default 1);
 *   - "own": ml_sgemm() with the path forced to the engine's kernel
 *     (ml_blas_force_path), one thread, timed in turns with "openblas";
 *   - "prescott": the same cblas_sgemm in a child process started with
 *     OPENBLAS_CORETYPE=Prescott, the kernels Debian's OpenBLAS falls back
 *     to on CPUs it does not know. Only this benchmark sets the variable: the
 *     engine and its tests never do (OpenBLAS reads it when it loads).
 * At one thread the times are this thread's CPU time (the machine is shared;
 * preempted time is not the kernel's), best of 7 rounds.
 * `sgemm_bench --openblas-only [THREADS]` prints just the first measure, as
 * "N GFLOPS" lines (the child's mode).
 *
 * Built with -DHAVE_BLIS against BLIS's CBLAS instead of agora_ml, it
 * measures that library alone (the "openblas" column is then BLIS). */
#ifndef HAVE_BLIS
#include "core/common.h"
#include "ml/internal.h"
#else
#define _POSIX_C_SOURCE 200809L
#endif

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_BLIS
extern void bli_thread_set_num_threads(long);
#else
extern char *openblas_get_corename(void);
extern void openblas_set_num_threads(int);
#endif

static const int sizes[] = {64, 256, 512, 1024};
#define NSIZES ((int)(sizeof(sizes) / sizeof(sizes[0])))

/* The clock: this thread's CPU time when every GEMM runs on this thread
 * (one thread), so that time the scheduler gives other processes on a shared
 * machine is not counted; wall-clock time otherwise. */
static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;

static double now(void)
{
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_threads(int n)
{
#ifdef HAVE_BLIS
    bli_thread_set_num_threads(n);
#else
    openblas_set_num_threads(n);
#endif
}

static void gemm(int own, int n, const float *a, const float *b, float *c)
{
#ifndef HAVE_BLIS
    if (own) {
        ml_sgemm(NULL, false, false, n, n, n, 1, a, n, b, n, 0, c, n);
        return;
    }
#endif
    (void)own;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
}

/* Measures each of the nw GEMMs which[] (0: cblas, 1: ml_sgemm) at size n,
 * alternating them over 7 timed rounds (after a warm-up call) so that load
 * from elsewhere falls on all of them alike; g[w] gets the GFLOP/s of the
 * best round of which[w]. */
static void measure(int n, int nw, const int *which, double *g)
{
    int iters = n <= 64 ? 1000 : n <= 256 ? 50 : n <= 512 ? 8 : 2;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    if (!a || !b || !c || nw > 4)
        exit(1);
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.2f;
    }
    for (int w = 0; w < nw; w++)
        gemm(which[w], n, a, b, c);
    for (int r = 0; r < 7; r++)
        for (int w = 0; w < nw; w++) {
            double t0 = now(), t;
            for (int i = 0; i < iters; i++)
                gemm(which[w], n, a, b, c);
            t = (now() - t0) / iters;
            if (t < best[w])
                best[w] = t;
        }
    for (int w = 0; w < nw; w++)
        g[w] = 2.0 * n * n * n / best[w] / 1e9;
    free(a);
    free(b);
    free(c);
}

#ifndef HAVE_BLIS
/* Runs this program as `OPENBLAS_CORETYPE=Prescott self --openblas-only`
 * and reads its figures into g; returns 0, or -1 if it did not run. */
static int measure_prescott(const char *self, int threads, double *g, char core[64])
{
    char cmd[4200];
    FILE *p;
    int n, got = 0;
    double v;
    if (snprintf(cmd, sizeof(cmd), "OPENBLAS_CORETYPE=Prescott '%s' --openblas-only %d", self,
                 threads) >= (int)sizeof(cmd) ||
        strchr(self, '\'') || !(p = popen(cmd, "r")))
        return -1;
    if (fscanf(p, "core %63s ", core) != 1)
        core[0] = 0;
    while (fscanf(p, "%d %lf", &n, &v) == 2)
        for (int s = 0; s < NSIZES; s++)
            if (sizes[s] == n) {
                g[s] = v;
                got++;
            }
    return pclose(p) == 0 && got == NSIZES && !strcmp(core, "Prescott") ? 0 : -1;
}
#endif

int main(int argc, char **argv)
{
    int only = argc > 1 && !strcmp(argv[1], "--openblas-only");
    int threads = argc > 1 + only ? atoi(argv[1 + only]) : 1;
    double blas[NSIZES], own[NSIZES], old[NSIZES];
    char self[4096], core[64] = "";
    ssize_t len;

    set_threads(threads < 1 ? 1 : threads);
    if (threads > 1)
        clock_id = CLOCK_MONOTONIC;
    if (only) {
#ifndef HAVE_BLIS
        printf("core %s\n", openblas_get_corename());
#endif
        for (int s = 0; s < NSIZES; s++) {
            int which = 0;
            double g;
            measure(sizes[s], 1, &which, &g);
            printf("%d %.2f\n", sizes[s], g);
        }
        return 0;
    }
#ifdef HAVE_BLIS
    for (int s = 0; s < NSIZES; s++) {
        int which = 0;
        measure(sizes[s], 1, &which, blas + s);
        printf("sgemm %4d threads %d: %7.1f GFLOP/s\n", sizes[s], threads, blas[s]);
    }
    (void)blas, (void)own, (void)old, (void)self, (void)core, (void)len;
    return 0;
#else
    len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        return 1;
    self[len] = 0;
    ml_blas_force_path(ML_GEMM_OWN);
    for (int s = 0; s < NSIZES; s++) {
        static const int which[2] = {0, 1};
        double g[2];
        measure(sizes[s], 2, which, g);
        blas[s] = g[0];
        own[s] = g[1];
    }
    if (measure_prescott(self, threads, old, core)) {
        fprintf(stderr, "sgemm_bench: the Prescott run failed (child's core: %s)\n",
                core[0] ? core : "unknown");
        for (int s = 0; s < NSIZES; s++)
            old[s] = 0;
    }
    printf("sgemm GFLOP/s (%s), square, C = A*B; OpenBLAS core %s, %d OpenBLAS thread(s), "
           "own kernel on 1 thread\n",
           threads > 1 ? "wall clock" : "thread CPU time", openblas_get_corename(), threads);
    printf("%6s %10s %10s %10s %10s %10s\n", "n", "openblas", "own", "prescott", "own/blas",
           "own/presc");
    for (int s = 0; s < NSIZES; s++)
        printf("%6d %10.1f %10.1f %10.1f %10.2f %10.2f\n", sizes[s], blas[s], own[s], old[s],
               own[s] / blas[s], old[s] > 0 ? own[s] / old[s] : 0.0);
    return 0;
#endif
}
