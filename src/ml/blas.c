/* blas.c - the one file that calls BLAS (OpenBLAS through CBLAS). */
#include "core/common.h"

#include <strings.h>
#include "ml/internal.h"

#include "core/log.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>

/* OpenBLAS extensions (declared in its cblas.h, repeated for clarity). */
extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);
/* Stops OpenBLAS's thread server (pthread builds; weak: absent elsewhere). */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* One row-major GEMM wrapper per precision: C = alpha*op(A)*op(B) + beta*C.
 * BLAS rejects K = 0 on some builds, so that case (C = beta*C) is done here.
 *
 * OpenBLAS always runs single-threaded (ml_blas_threads): its worker threads
 * busy-wait for each other, and on a shared machine a worker that is not
 * scheduled stalls every GEMM (we measured a 784-512 layer taking 15x longer
 * with two OpenBLAS threads under load). Instead a large GEMM is cut into
 * blocks of rows (or columns) of C that the engine's own pool runs, each
 * block a single-threaded BLAS call; a worker that is late simply takes no
 * block. */
struct gemm_job {
    bool ta, tb, by_rows;
    int64_t M, N, K, lda, ldb, ldc, blk;
    const void *A, *B;
    void *C;
    double alpha, beta;
    bool dbl;
};

/* Products smaller than this many multiply-adds stay on the calling thread.
 * 2^18 (about 15 us of work) splits a transformer's 32x128x128 projections
 * too: at 2^21 its MatMuls did not scale at all from one thread to two
 * (0.34-0.37 ms a run at two threads, 0.28-0.30 ms at 2^18). */
#define GEMM_PAR_MIN (1 << 18)
/* Under run limits, GEMMs are cut into blocks of about this many
 * multiply-adds (a few milliseconds each) so that a huge one stops soon
 * after the deadline: ml_parallel_for() checks the limits between blocks. */
#define GEMM_LIMITED_BLOCK ((double)(1 << 26))

#define DEFINE_GEMM1(name, T, cblas_fn)                                                      \
    static void name(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, \
                     int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc)        \
    {                                                                                        \
        if (M <= 0 || N <= 0)                                                                \
            return;                                                                          \
        if (K <= 0) {                                                                        \
            for (int64_t i = 0; i < M; i++)                                                  \
                for (int64_t j = 0; j < N; j++)                                              \
                    C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];                  \
            return;                                                                          \
        }                                                                                    \
        cblas_fn(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, \
                 (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb, \
                 beta, C, (blasint)ldc);                                                     \
    }

DEFINE_GEMM1(sgemm_blas, float, cblas_sgemm)
DEFINE_GEMM1(dgemm1, double, cblas_dgemm)

/* One single-threaded SGEMM block: on the engine's own kernel when that is
 * the path (ml_blas_path()), else, or when the kernel cannot allocate its
 * packing buffers, on OpenBLAS. */
static void sgemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                   const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                   int64_t ldc)
{
    if (M > 0 && N > 0 && K > 0 && ml_blas_path() == ML_GEMM_OWN &&
        !ml_sgemm_avx2(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    sgemm_blas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Runs blocks [lo, hi) of a split GEMM. */
static void gemm_blocks(void *arg, int64_t lo, int64_t hi)
{
    const struct gemm_job *j = arg;
    size_t es = j->dbl ? sizeof(double) : sizeof(float);
    for (int64_t b = lo; b < hi; b++) {
        int64_t o = b * j->blk, len = MIN(j->blk, (j->by_rows ? j->M : j->N) - o);
        const char *A = j->A, *B = j->B;
        char *C = j->C;
        int64_t M = j->M, N = j->N;
        if (j->by_rows) {
            A += (size_t)(j->ta ? o : o * j->lda) * es;
            C += (size_t)(o * j->ldc) * es;
            M = len;
        } else {
            B += (size_t)(j->tb ? o * j->ldb : o) * es;
            C += (size_t)o * es;
            N = len;
        }
        if (j->dbl)
            dgemm1(j->ta, j->tb, M, N, j->K, j->alpha, (const double *)A, j->lda,
                   (const double *)B, j->ldb, j->beta, (double *)C, j->ldc);
        else
            sgemm1(j->ta, j->tb, M, N, j->K, (float)j->alpha, (const float *)A, j->lda,
                   (const float *)B, j->ldb, (float)j->beta, (float *)C, j->ldc);
    }
}

/* Splits the GEMM over the model's pool when it is large enough to pay;
 * returns false when the caller should run it in one piece. */
static bool gemm_split(struct ml_model *m, struct gemm_job *j)
{
    struct ml_threads *t = m ? (m->tp ? m->tp : &m->threads) : NULL;
    int64_t len, nblk, parts;
    bool limited = m && ml_run_has_limits(m);
    double macs = (double)j->M * (double)j->N * (double)j->K;
    if (!t || (t->n <= 1 && !limited) || j->M <= 0 || j->N <= 0 || j->K <= 0 ||
        macs < GEMM_PAR_MIN)
        return false;
    /* Cut the longer side of C into one block per thread, rounded to 16
     * (under run limits, into blocks of GEMM_LIMITED_BLOCK multiply-adds). */
    j->by_rows = j->M >= j->N;
    len = j->by_rows ? j->M : j->N;
    parts = t->n;
    if (limited && macs / GEMM_LIMITED_BLOCK > parts)
        parts = (int64_t)MIN(macs / GEMM_LIMITED_BLOCK, (double)len);
    j->blk = ((len + parts - 1) / parts + 15) / 16 * 16;
    nblk = (len + j->blk - 1) / j->blk;
    if (nblk < 2)
        return false;
    ml_parallel_for(m, nblk, 1, gemm_blocks, j);
    return true;
}

void ml_sgemm(struct ml_model *m, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc)
{
    struct gemm_job j = {ta, tb, false, M, N, K, lda, ldb, ldc, 0, A, B, C, alpha, beta, false};
    if (!gemm_split(m, &j))
        sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ml_dgemm(struct ml_model *m, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
              double alpha, const double *A, int64_t lda, const double *B, int64_t ldb,
              double beta, double *C, int64_t ldc)
{
    struct gemm_job j = {ta, tb, false, M, N, K, lda, ldb, ldc, 0, A, B, C, alpha, beta, true};
    if (!gemm_split(m, &j))
        dgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Debian's OpenBLAS is built with DYNAMIC_ARCH and picks its kernels when it
 * is loaded; on an unknown CPU it falls back to an old core (Prescott,
 * Nehalem...) that runs several times slower. The choice cannot be changed
 * after loading (OPENBLAS_CORETYPE is read by the library's constructor), so
 * the engine checks it once and, when the kernels are older than the CPU,
 * runs single-precision GEMM on its own AVX2/FMA kernel (gemm_avx2.c)
 * instead: docs/internals/onnx.md has the measurements. Double precision
 * stays on OpenBLAS (no model in our benchmarks spends time there). */
static const char *const old_cores[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                        "Atom", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
                                        "Steamroller", "Excavator", "Sandybridge", "Katmai",
                                        "Coppermine", "Northwood", "Banias", "Opteron"};

/* The path ml_blas_force_path() set (enum ml_gemm_path), and the one
 * chosen on ML_GEMM_AUTO, decided once by path_decide(). */
static atomic_int forced_path = ML_GEMM_AUTO;
static enum ml_gemm_path auto_path = ML_GEMM_OPENBLAS;
static pthread_once_t path_once = PTHREAD_ONCE_INIT;

static void path_decide(void)
{
    const char *core = openblas_get_corename();
    if (ml_blas_core_is_old() && ml_cpu_avx2_fma()) {
        auto_path = ML_GEMM_OWN;
        log_info("sgemm runs on the engine's AVX2/FMA kernel: OpenBLAS chose its old %s kernels "
                 "on a CPU with AVX2 and FMA", core);
    } else {
        log_debug("sgemm runs on OpenBLAS (%s kernels)", core ? core : "unknown");
    }
}

enum ml_gemm_path ml_blas_path(void)
{
    int f = atomic_load_explicit(&forced_path, memory_order_relaxed);
    if (f == ML_GEMM_OPENBLAS)
        return ML_GEMM_OPENBLAS;
    if (f == ML_GEMM_OWN)
        return ml_cpu_avx2_fma() ? ML_GEMM_OWN : ML_GEMM_OPENBLAS;
    pthread_once(&path_once, path_decide);
    return auto_path;
}

void ml_blas_force_path(enum ml_gemm_path path)
{
    static const char *const names[] = {"auto", "OpenBLAS", "the engine's AVX2/FMA kernel"};
    int old;
    assert(path >= ML_GEMM_AUTO && path <= ML_GEMM_OWN);
    old = atomic_exchange(&forced_path, (int)path);
    if (old == (int)path)
        return;
    /* A caller who forces a path knows it: debug level only, except when
     * the request cannot be met. */
    if (path == ML_GEMM_OWN && !ml_cpu_avx2_fma())
        log_warn("sgemm forced to %s, but this CPU lacks AVX2 or FMA: it stays on OpenBLAS",
                 names[path]);
    else if (path != ML_GEMM_AUTO)
        log_debug("sgemm forced to %s (OpenBLAS core %s)", names[path],
                 openblas_get_corename());
}

static bool cpu_avx2_fma;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_detect(void)
{
    __builtin_cpu_init();
    cpu_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool ml_cpu_avx2_fma(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_avx2_fma;
}

bool ml_blas_core_is_old(void)
{
    const char *core = openblas_get_corename();
    for (size_t i = 0; i < ARRAY_SIZE(old_cores) && core; i++)
        if (!strcasecmp(core, old_cores[i]))
            return true;
    return false;
}

static pthread_once_t stop_once = PTHREAD_ONCE_INIT;

static void stop_server(void)
{
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

void ml_blas_threads(int n)
{
    (void)ml_blas_path(); /* decides (and logs) the SGEMM path at the first load */
    UNUSED(n); /* the engine's pool splits GEMMs; see ml_sgemm() */
    openblas_set_num_threads(1);
    /* The pthread build starts one server thread per core when the library
     * loads, and they busy-wait for a while: at one thread a short benchmark
     * measured twice the CPU time of its wall time, a core taken from us or
     * from other work. Single-threaded OpenBLAS never uses them. */
    pthread_once(&stop_once, stop_server);
}

const char *ml_blas_info(void)
{
    static char info[256];
    snprintf(info, sizeof(info), "OpenBLAS core %s (%s); sgemm on %s", openblas_get_corename(),
             openblas_get_config(),
             ml_blas_path() == ML_GEMM_OWN ? "the engine's AVX2/FMA kernel" : "OpenBLAS");
    return info;
}
