/* test_gemm.c - the engine's own SGEMM (gemm_avx2.c) against OpenBLAS and a double-precision
 * reference. */
#include "core/common.h"
#include "ml/internal.h"
#include "test.h"

#include <math.h>

/* Relative tolerance: |got - want| <= TOL * (|alpha| sum_k |a||b| + |beta c|)
 * per element. Float accumulation over K <= 600 stays well inside it. */
#define TOL 1e-5

struct shape {
    bool ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    int64_t pad_a, pad_b, pad_c; /* lda, ldb, ldc beyond the minimum */
    bool nan_c;                  /* C holds NaN before the call (beta 0 only) */
};

static uint32_t rng = 12345;

static float rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / (float)(1u << 23) - 1.0f; /* [-1, 1) */
}

/* Runs ml_sgemm() (unsplit: no model) on the given path into C. */
static void run_path(enum ml_gemm_path path, const struct shape *s, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float *C, int64_t ldc)
{
    ml_blas_force_path(path);
    ASSERT_EQ(ml_blas_path(), path == ML_GEMM_OWN && !ml_cpu_avx2_fma() ? ML_GEMM_OPENBLAS : path);
    ml_sgemm(NULL, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, C, ldc);
    ml_blas_force_path(ML_GEMM_AUTO);
}

/* Checks one shape: our kernel against OpenBLAS and both against a double
 * reference; the padding columns of C must stay untouched. */
static void check(const struct shape *s)
{
    int64_t lda = (s->ta ? s->M : s->K) + s->pad_a, ldb = (s->tb ? s->K : s->N) + s->pad_b;
    int64_t ldc = s->N + s->pad_c;
    int64_t ra = s->ta ? s->K : s->M, rb = s->tb ? s->N : s->K;
    size_t na = (size_t)(ra * lda), nb = (size_t)(rb * ldb), nc = (size_t)(s->M * ldc);
    float *A = malloc(MAX(na, 1) * sizeof(float)), *B = malloc(MAX(nb, 1) * sizeof(float));
    float *C0 = malloc(MAX(nc, 1) * sizeof(float)), *Cb = malloc(MAX(nc, 1) * sizeof(float));
    float *Co = malloc(MAX(nc, 1) * sizeof(float));
    ASSERT(A && B && C0 && Cb && Co);
    for (size_t i = 0; i < na; i++)
        A[i] = rnd();
    for (size_t i = 0; i < nb; i++)
        B[i] = rnd();
    for (size_t i = 0; i < nc; i++)
        C0[i] = (int64_t)(i % (size_t)ldc) >= s->N ? 777.0f : s->nan_c ? NAN : rnd();
    memcpy(Cb, C0, nc * sizeof(float));
    memcpy(Co, C0, nc * sizeof(float));
    run_path(ML_GEMM_OPENBLAS, s, A, lda, B, ldb, Cb, ldc);
    run_path(ML_GEMM_OWN, s, A, lda, B, ldb, Co, ldc);

    for (int64_t i = 0; i < s->M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double want = 0, mag = 0, c0 = C0[i * ldc + j];
            float got = Co[i * ldc + j], blas = Cb[i * ldc + j];
            if (j >= s->N) {
                if (got != 777.0f)
                    test_fail(__FILE__, __LINE__,
                              "%s%s %" PRId64 "x%" PRId64 "x%" PRId64 ": padding C[%" PRId64
                              "][%" PRId64 "] written (%g)",
                              s->ta ? "T" : "N", s->tb ? "T" : "N", s->M, s->N, s->K, i, j, got);
                continue;
            }
            for (int64_t p = 0; p < s->K; p++) {
                double a = s->ta ? A[p * lda + i] : A[i * lda + p];
                double b = s->tb ? B[j * ldb + p] : B[p * ldb + j];
                want += a * b;
                mag += fabs(a * b);
            }
            want *= s->alpha;
            mag *= fabs(s->alpha);
            if (s->beta != 0) {
                want += s->beta * c0;
                mag += fabs(s->beta * c0);
            }
            double tol = TOL * mag + 1e-30;
            if (!(fabs(got - want) <= tol) || !(fabs(got - blas) <= 2 * tol))
                test_fail(__FILE__, __LINE__,
                          "%s%s %" PRId64 "x%" PRId64 "x%" PRId64 " alpha %g beta %g: C[%" PRId64
                          "][%" PRId64 "] own %.9g, OpenBLAS %.9g, double %.9g (tol %.3g)",
                          s->ta ? "T" : "N", s->tb ? "T" : "N", s->M, s->N, s->K, s->alpha, s->beta,
                          i, j, got, blas, want, tol);
        }
    free(A);
    free(B);
    free(C0);
    free(Cb);
    free(Co);
}

/* Checks each shape with all four transpose combinations. */
static void check_all_trans(struct shape s)
{
    for (int t = 0; t < 4; t++) {
        s.ta = t & 1;
        s.tb = t & 2;
        check(&s);
    }
}

TEST(gemm_own_edges)
{
    /* Below, at and just past the 6x16 tile, and odd sizes everywhere. */
    static const int64_t dims[][3] = {{1, 1, 1},    {7, 13, 5},  {6, 16, 1},  {5, 15, 3},
                                      {6, 17, 2},   {12, 32, 8}, {13, 33, 9}, {1, 100, 37},
                                      {100, 1, 37}, {2, 3, 300}, {31, 47, 1}};
    for (size_t i = 0; i < ARRAY_SIZE(dims); i++)
        check_all_trans((struct shape){
            .M = dims[i][0], .N = dims[i][1], .K = dims[i][2], .alpha = 1, .beta = 0});
}

TEST(gemm_own_blocks)
{
    /* 64^3 and 256^3; 130x257x67 (edges in M and N); K across two KC slices
     * (257, 600); M across MC (300); N across NC (4200). */
    static const int64_t dims[][3] = {{64, 64, 64},  {130, 257, 67}, {256, 256, 256}, {37, 41, 600},
                                      {300, 20, 10}, {5, 4200, 3},   {9, 70, 257}};
    for (size_t i = 0; i < ARRAY_SIZE(dims); i++)
        check_all_trans((struct shape){
            .M = dims[i][0], .N = dims[i][1], .K = dims[i][2], .alpha = 1, .beta = 0});
}

TEST(gemm_own_alpha_beta)
{
    static const float alphas[] = {1, -0.5f, 2.25f, 0};
    static const float betas[] = {0, 1, 0.25f, -1};
    for (size_t a = 0; a < ARRAY_SIZE(alphas); a++)
        for (size_t b = 0; b < ARRAY_SIZE(betas); b++) {
            check_all_trans(
                (struct shape){.M = 7, .N = 13, .K = 5, .alpha = alphas[a], .beta = betas[b]});
            check_all_trans(
                (struct shape){.M = 40, .N = 50, .K = 300, .alpha = alphas[a], .beta = betas[b]});
        }
}

TEST(gemm_own_beta0_nan_c)
{
    /* beta 0 must not read C: NaN there must not reach the result, also
     * when K spans several slices (the later ones add to the first). */
    static const int64_t dims[][3] = {{1, 1, 1}, {7, 13, 5}, {64, 64, 64}, {19, 35, 600}};
    for (size_t i = 0; i < ARRAY_SIZE(dims); i++)
        check_all_trans((struct shape){.M = dims[i][0],
                                       .N = dims[i][1],
                                       .K = dims[i][2],
                                       .alpha = 1.5f,
                                       .beta = 0,
                                       .nan_c = true});
}

TEST(gemm_own_strides)
{
    /* lda, ldb, ldc larger than the matrices: only the real part is read,
     * only C's real columns written. */
    static const int64_t dims[][3] = {{7, 13, 5}, {64, 64, 64}, {130, 257, 67}, {3, 40, 290}};
    for (size_t i = 0; i < ARRAY_SIZE(dims); i++) {
        check_all_trans((struct shape){.M = dims[i][0],
                                       .N = dims[i][1],
                                       .K = dims[i][2],
                                       .alpha = 1,
                                       .beta = 0,
                                       .pad_a = 3,
                                       .pad_b = 17,
                                       .pad_c = 5});
        check_all_trans((struct shape){.M = dims[i][0],
                                       .N = dims[i][1],
                                       .K = dims[i][2],
                                       .alpha = -1,
                                       .beta = 0.5f,
                                       .pad_a = 64,
                                       .pad_b = 1,
                                       .pad_c = 16});
    }
}

TEST(gemm_own_k0)
{
    /* K = 0: C = beta * C on either path (beta 0 writes zeros over NaN). */
    float C[6] = {1, 2, 3, NAN, NAN, NAN}, A[1] = {0}, B[1] = {0};
    ml_blas_force_path(ML_GEMM_OWN);
    ml_sgemm(NULL, false, false, 1, 3, 0, 1, A, 1, B, 3, 2, C, 3);
    ml_sgemm(NULL, false, false, 1, 3, 0, 1, A, 1, B, 3, 0, C + 3, 3);
    ml_blas_force_path(ML_GEMM_AUTO);
    ASSERT(C[0] == 2 && C[1] == 4 && C[2] == 6);
    ASSERT(C[3] == 0 && C[4] == 0 && C[5] == 0);
}

TEST(gemm_path_force)
{
    /* Auto: our kernel exactly when OpenBLAS runs old kernels on a CPU with
     * AVX2 and FMA (on this machine OpenBLAS picks Zen: OpenBLAS). */
    enum ml_gemm_path want =
        ml_blas_core_is_old() && ml_cpu_avx2_fma() ? ML_GEMM_OWN : ML_GEMM_OPENBLAS;
    ASSERT_EQ(ml_blas_path(), want);
    ml_blas_force_path(ML_GEMM_OWN);
    ASSERT_EQ(ml_blas_path(), ml_cpu_avx2_fma() ? ML_GEMM_OWN : ML_GEMM_OPENBLAS);
    ASSERT(
        strstr(ml_blas_info(), ml_cpu_avx2_fma() ? "sgemm on the engine's" : "sgemm on OpenBLAS"));
    ml_blas_force_path(ML_GEMM_OPENBLAS);
    ASSERT_EQ(ml_blas_path(), ML_GEMM_OPENBLAS);
    ASSERT(strstr(ml_blas_info(), "sgemm on OpenBLAS"));
    ml_blas_force_path(ML_GEMM_AUTO);
    ASSERT_EQ(ml_blas_path(), want);
}
