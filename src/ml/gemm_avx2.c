/* gemm_avx2.c - the engine's own SGEMM: cache-blocked, packed, with an AVX2/FMA micro-kernel.
 *
 * blas.c runs it instead of OpenBLAS when Debian's DYNAMIC_ARCH OpenBLAS has
 * fallen back to pre-Haswell kernels (Prescott, Nehalem...) on a CPU with
 * AVX2 and FMA; docs/internals/onnx.md ("BLAS: the choice, measured") has the
 * figures. The structure is the BLIS/GotoBLAS one:
 *
 *   for jc in N by NC:            B block (KC x NC) packed, lives in L3
 *     for pc in K by KC:
 *       pack op(B)[pc.., jc..] into panels of NR columns
 *       for ic in M by MC:        A block (MC x KC) packed, lives in L2
 *         pack op(A)[ic.., pc..] into panels of MR rows
 *         for jr, ir: MR x NR micro-kernel (one B panel, KC x NR, in L1)
 *
 * The micro-kernel is 6x16, the register layout of the convolution kernel in
 * ops_conv.c: 12 ymm accumulators, two loads of B and six broadcasts of A per
 * step of K. Panels are zero-padded to full MR/NR, so the kernel always runs
 * whole; only the store to C looks at the real edge. alpha and beta are
 * applied at the store (beta only for the first KC slice, the later ones
 * add); beta == 0 never reads C, which may hold NaN or garbage.
 *
 * Every function with AVX2 code carries target("avx2,fma"), so the file
 * builds for baseline x86-64; callers check ml_cpu_avx2_fma() first. */
#include "core/common.h"

#include "ml/internal.h"

#include <immintrin.h>

#define MR 6
#define NR 16
/* KC x NR floats of B (16 KiB at KC 256) stay in the 32 KiB L1; MC x KC of
 * A (144 KiB) in the 512 KiB L2; KC x NC of B (4 MiB) in L3. Measured on
 * this Zen 3 (sgemm_bench, 64 to 1024): KC 128, KC 384 with MC 96, MC 72
 * and MC 240 were all no faster, within the noise of a shared machine. */
#define KC 256
#define MC 144
#define NC 4096

/* Packs rows [0, mc) x columns [0, kc) of op(A) (A already offset to the
 * block) into panels of MR rows: panel r holds, for each p, the MR values
 * op(A)[r*MR + i][p] together; rows past mc are zero. */
static void pack_a(bool ta, const float *A, int64_t lda, int64_t mc, int64_t kc, float *dst)
{
    for (int64_t r = 0; r < mc; r += MR) {
        int64_t mr = MIN(MR, mc - r);
        if (ta) {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = A + p * lda + r;
                int64_t i = 0;
                for (; i < mr; i++)
                    dst[p * MR + i] = src[i];
                for (; i < MR; i++)
                    dst[p * MR + i] = 0;
            }
        } else if (mr == MR) {
            /* Six rows read side by side, the panel written in order. */
            const float *s0 = A + r * lda, *s1 = s0 + lda, *s2 = s1 + lda, *s3 = s2 + lda;
            const float *s4 = s3 + lda, *s5 = s4 + lda;
            for (int64_t p = 0; p < kc; p++) {
                float *d = dst + p * MR;
                d[0] = s0[p];
                d[1] = s1[p];
                d[2] = s2[p];
                d[3] = s3[p];
                d[4] = s4[p];
                d[5] = s5[p];
            }
        } else {
            for (int64_t i = 0; i < MR; i++) {
                const float *src = A + (r + i) * lda;
                for (int64_t p = 0; p < kc; p++)
                    dst[p * MR + i] = i < mr ? src[p] : 0;
            }
        }
        dst += MR * kc;
    }
}

/* Writes the transpose of the 8x8 block at src (rows ld apart) to dst
 * (rows ldd apart): dst[q][i] = src[i][q]. */
__attribute__((target("avx2,fma"))) static void transpose_8x8(const float *src, int64_t ld,
                                                              float *dst, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld);
    __m256 r2 = _mm256_loadu_ps(src + 2 * ld), r3 = _mm256_loadu_ps(src + 3 * ld);
    __m256 r4 = _mm256_loadu_ps(src + 4 * ld), r5 = _mm256_loadu_ps(src + 5 * ld);
    __m256 r6 = _mm256_loadu_ps(src + 6 * ld), r7 = _mm256_loadu_ps(src + 7 * ld);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
    __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* Packs rows [0, kc) x columns [0, nc) of op(B) into panels of NR columns:
 * panel c holds, for each p, the NR values op(B)[p][c*NR + j] together;
 * columns past nc are zero. Whole panels move 8 floats at a time (B^T in
 * 8x8 transposes), the last, partial panel one float at a time. */
__attribute__((target("avx2,fma"))) static void pack_b(bool tb, const float *B, int64_t ldb,
                                                       int64_t kc, int64_t nc, float *dst)
{
    for (int64_t c = 0; c < nc; c += NR) {
        int64_t nr = MIN(NR, nc - c), p = 0;
        if (nr == NR && tb) {
            for (; p + 8 <= kc; p += 8) {
                transpose_8x8(B + c * ldb + p, ldb, dst + p * NR, NR);
                transpose_8x8(B + (c + 8) * ldb + p, ldb, dst + p * NR + 8, NR);
            }
        } else if (nr == NR) {
            for (; p < kc; p++) {
                const float *src = B + p * ldb + c;
                _mm256_storeu_ps(dst + p * NR, _mm256_loadu_ps(src));
                _mm256_storeu_ps(dst + p * NR + 8, _mm256_loadu_ps(src + 8));
            }
        }
        for (; p < kc; p++)
            for (int64_t j = 0; j < NR; j++)
                dst[p * NR + j] = j >= nr ? 0 : tb ? B[(c + j) * ldb + p] : B[p * ldb + c + j];
        dst += NR * kc;
    }
}

/* One output row of the kernel: c[0..16) = alpha*acc + beta*c, C untouched
 * when beta is 0. */
#define STORE_ROW(row, v0, v1)                                                                     \
    do {                                                                                           \
        float *c_ = c + (row)*ldc;                                                                 \
        __m256 r0_ = _mm256_mul_ps(v0, va), r1_ = _mm256_mul_ps(v1, va);                           \
        if (beta != 0) {                                                                           \
            r0_ = _mm256_fmadd_ps(_mm256_loadu_ps(c_), vb, r0_);                                   \
            r1_ = _mm256_fmadd_ps(_mm256_loadu_ps(c_ + 8), vb, r1_);                               \
        }                                                                                          \
        _mm256_storeu_ps(c_, r0_);                                                                 \
        _mm256_storeu_ps(c_ + 8, r1_);                                                             \
    } while (0)

/* C[0..mr) x [0..nr) = alpha * (a-panel x b-panel) + beta * C, over kc steps
 * of K. a is kc x MR, b is kc x NR (packed); mr <= MR and nr <= NR say how
 * much of the tile is real. */
__attribute__((target("avx2,fma"))) static void kernel_6x16(int64_t kc, const float *a,
                                                            const float *b, float *c, int64_t ldc,
                                                            int mr, int nr, float alpha, float beta)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);

    /* C's tile is needed only at the end; asking for it now hides the miss
     * (1024^3: own/OpenBLAS 0.90-1.02 with, 0.82-0.89 without, 4 paired runs). */
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
    }

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 a0 = _mm256_broadcast_ss(a), a1 = _mm256_broadcast_ss(a + 1);
        c00 = _mm256_fmadd_ps(a0, b0, c00);
        c01 = _mm256_fmadd_ps(a0, b1, c01);
        c10 = _mm256_fmadd_ps(a1, b0, c10);
        c11 = _mm256_fmadd_ps(a1, b1, c11);
        a0 = _mm256_broadcast_ss(a + 2);
        a1 = _mm256_broadcast_ss(a + 3);
        c20 = _mm256_fmadd_ps(a0, b0, c20);
        c21 = _mm256_fmadd_ps(a0, b1, c21);
        c30 = _mm256_fmadd_ps(a1, b0, c30);
        c31 = _mm256_fmadd_ps(a1, b1, c31);
        a0 = _mm256_broadcast_ss(a + 4);
        a1 = _mm256_broadcast_ss(a + 5);
        c40 = _mm256_fmadd_ps(a0, b0, c40);
        c41 = _mm256_fmadd_ps(a0, b1, c41);
        c50 = _mm256_fmadd_ps(a1, b0, c50);
        c51 = _mm256_fmadd_ps(a1, b1, c51);
        a += MR;
        b += NR;
    }
    if (mr == MR && nr == NR) {
        STORE_ROW(0, c00, c01);
        STORE_ROW(1, c10, c11);
        STORE_ROW(2, c20, c21);
        STORE_ROW(3, c30, c31);
        STORE_ROW(4, c40, c41);
        STORE_ROW(5, c50, c51);
        return;
    }
    /* An edge tile: through a buffer, the real part only. */
    float t[MR][NR] __attribute__((aligned(32)));
    _mm256_store_ps(t[0], c00);
    _mm256_store_ps(t[0] + 8, c01);
    _mm256_store_ps(t[1], c10);
    _mm256_store_ps(t[1] + 8, c11);
    _mm256_store_ps(t[2], c20);
    _mm256_store_ps(t[2] + 8, c21);
    _mm256_store_ps(t[3], c30);
    _mm256_store_ps(t[3] + 8, c31);
    _mm256_store_ps(t[4], c40);
    _mm256_store_ps(t[4] + 8, c41);
    _mm256_store_ps(t[5], c50);
    _mm256_store_ps(t[5] + 8, c51);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = beta == 0 ? alpha * t[i][j] : alpha * t[i][j] + beta * c[i * ldc + j];
}

/* Multiplies the packed A block (mc x kc) by the packed B block (kc x nc)
 * into C (already offset to the block). */
static void macro_kernel(int64_t mc, int64_t nc, int64_t kc, const float *pa, const float *pb,
                         float alpha, float beta, float *C, int64_t ldc)
{
    for (int64_t j = 0; j < nc; j += NR)
        for (int64_t i = 0; i < mc; i += MR)
            kernel_6x16(kc, pa + i * kc, pb + j * kc, C + i * ldc + j, ldc, (int)MIN(MR, mc - i),
                        (int)MIN(NR, nc - j), alpha, beta);
}

static int64_t round_up(int64_t v, int64_t to)
{
    return (v + to - 1) / to * to;
}

int ml_sgemm_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    int64_t kcmax = MIN(K, KC), mcmax = round_up(MIN(M, MC), MR);
    int64_t ncmax = round_up(MIN(N, NC), NR);
    size_t na = (size_t)round_up(mcmax * kcmax, 16), nb = (size_t)round_up(ncmax * kcmax, 16);
    float *pa, *pb;

    assert(M > 0 && N > 0 && K > 0);
    assert(ml_cpu_avx2_fma());
    pa = aligned_alloc(64, (na + nb) * sizeof(float));
    if (!pa)
        return AG_ENOMEM;
    pb = pa + na;
    for (int64_t jc = 0; jc < N; jc += NC) {
        int64_t nc = MIN(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = MIN(KC, K - pc);
            /* Later slices of K add to what the first one stored. */
            float b = pc ? 1.0f : beta;
            pack_b(tb, tb ? B + jc * ldb + pc : B + pc * ldb + jc, ldb, kc, nc, pb);
            for (int64_t ic = 0; ic < M; ic += MC) {
                int64_t mc = MIN(MC, M - ic);
                pack_a(ta, ta ? A + pc * lda + ic : A + ic * lda + pc, lda, mc, kc, pa);
                macro_kernel(mc, nc, kc, pa, pb, alpha, b, C + ic * ldc + jc, ldc);
            }
        }
    }
    free(pa);
    return 0;
}
