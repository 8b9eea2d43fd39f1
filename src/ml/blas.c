/* blas.c - the one file that calls BLAS (OpenBLAS through CBLAS). */
#include "core/common.h"

#include <strings.h>
#include "ml/internal.h"

#include "core/log.h"

#include <cblas.h>
#include <pthread.h>

/* OpenBLAS extensions (declared in its cblas.h, repeated for clarity). */
extern void openblas_set_num_threads(int num_threads);
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

/* One row-major GEMM wrapper per precision: C = alpha*op(A)*op(B) + beta*C.
 * BLAS rejects K = 0 on some builds, so that case (C = beta*C) is done here. */
#define DEFINE_GEMM(name, T, cblas_fn)                                                       \
    void name(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A,       \
              int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc)              \
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

DEFINE_GEMM(ml_sgemm, float, cblas_sgemm)
DEFINE_GEMM(ml_dgemm, double, cblas_dgemm)

/* Debian's OpenBLAS is built with DYNAMIC_ARCH and picks its kernels when it
 * is loaded; on an unknown CPU it falls back to an old core (Prescott,
 * Nehalem...) that runs several times slower. The choice cannot be changed
 * after loading (OPENBLAS_CORETYPE is read by the library's constructor), so
 * the engine checks it once and says so loudly when the kernels are older
 * than the CPU: docs/internals/onnx.md has the measurements and the fix. */
static const char *const old_cores[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                        "Atom", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
                                        "Steamroller", "Excavator", "Sandybridge", "Katmai",
                                        "Coppermine", "Northwood", "Banias", "Opteron"};

static void check_core(void)
{
    const char *core = openblas_get_corename();
    bool old = false;
    for (size_t i = 0; i < ARRAY_SIZE(old_cores) && core; i++)
        old |= !strcasecmp(core, old_cores[i]);
    __builtin_cpu_init();
    if (old && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        log_warn("OpenBLAS chose the %s kernels on a CPU with AVX2 and FMA; GEMM runs several "
                 "times slower than it could. Start agora with OPENBLAS_CORETYPE=Haswell (Intel) "
                 "or OPENBLAS_CORETYPE=Zen (AMD).", core);
}

bool ml_blas_core_is_old(void)
{
    const char *core = openblas_get_corename();
    for (size_t i = 0; i < ARRAY_SIZE(old_cores) && core; i++)
        if (!strcasecmp(core, old_cores[i]))
            return true;
    return false;
}

void ml_blas_threads(int n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, check_core);
    openblas_set_num_threads(n > 0 ? n : 1);
}

const char *ml_blas_info(void)
{
    static char info[160];
    snprintf(info, sizeof(info), "OpenBLAS core %s (%s)", openblas_get_corename(),
             openblas_get_config());
    return info;
}
