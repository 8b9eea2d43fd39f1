/* ops_conv.c - Conv and ConvTranspose (1-D to 3-D, groups, dilations): im2col + GEMM on BLAS,
 * and a packed AVX2 path for 2-D convolutions with constant weights. */
#include "core/common.h"
#include "ml/internal.h"

#include <immintrin.h>

#define CONV_MAX_SP 3

struct conv_geom {
    int nsp;                         /* spatial dims */
    int64_t N, C, M, group;
    int64_t in[CONV_MAX_SP], out[CONV_MAX_SP], ker[CONV_MAX_SP];
    int64_t stride[CONV_MAX_SP], dil[CONV_MAX_SP], pb[CONV_MAX_SP], pe[CONV_MAX_SP];
    int64_t in_sz, out_sz, ker_sz;   /* products */
};

/* Reads strides, dilations, pads and auto_pad; for ConvTranspose `transpose`
 * also handles output_padding and output_shape. */
static int conv_geometry(struct ml_kctx *k, const struct ml_tensor *x, const struct ml_tensor *w,
                         bool transpose, struct conv_geom *g)
{
    size_t n;
    const int64_t *a;
    const char *ap = ml_attr_str(k, "auto_pad", "NOTSET");
    int64_t opad[CONV_MAX_SP] = {0}, oshape[CONV_MAX_SP];
    bool have_oshape = false;

    memset(g, 0, sizeof(*g));
    if (x->ndim < 3 || x->ndim > 2 + CONV_MAX_SP || w->ndim != x->ndim)
        return ml_kerr(k, AG_EUNPROCESSABLE, "needs X and W of the same rank, 3 to 5");
    g->nsp = x->ndim - 2;
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->group = ml_attr_int(k, "group", 1);
    if (g->group < 1 || g->group > MAX(g->C, 1) || g->C % g->group)
        return ml_kerr(k, AG_EINVAL, "group does not divide the channels");
    if (transpose) {
        if (w->dims[0] != g->C)
            return ml_kerr(k, AG_EINVAL, "W's first dimension must equal X's channels");
        g->M = w->dims[1] * g->group;
    } else {
        g->M = w->dims[0];
        if (w->dims[1] * g->group != g->C || g->M % g->group)
            return ml_kerr(k, AG_EINVAL, "W's channels do not match X's for group %" PRId64,
                           g->group);
    }
    a = ml_attr_ints(k, "kernel_shape", &n);
    for (int i = 0; i < g->nsp; i++) {
        g->in[i] = x->dims[2 + i];
        g->ker[i] = w->dims[2 + i];
        if (a && (int)n == g->nsp && a[i] != g->ker[i])
            return ml_kerr(k, AG_EINVAL, "kernel_shape disagrees with W");
        g->stride[i] = g->dil[i] = 1;
    }
    if ((a = ml_attr_ints(k, "strides", &n)) && (int)n == g->nsp)
        memcpy(g->stride, a, n * sizeof(int64_t));
    if ((a = ml_attr_ints(k, "dilations", &n)) && (int)n == g->nsp)
        memcpy(g->dil, a, n * sizeof(int64_t));
    if ((a = ml_attr_ints(k, "pads", &n)) && (int)n == 2 * g->nsp) {
        memcpy(g->pb, a, (size_t)g->nsp * sizeof(int64_t));
        memcpy(g->pe, a + g->nsp, (size_t)g->nsp * sizeof(int64_t));
    }
    if ((a = ml_attr_ints(k, "output_padding", &n)) && (int)n == g->nsp)
        memcpy(opad, a, n * sizeof(int64_t));
    if ((a = ml_attr_ints(k, "output_shape", &n)) && (int)n >= g->nsp) {
        memcpy(oshape, a + (n - (size_t)g->nsp), (size_t)g->nsp * sizeof(int64_t));
        have_oshape = true;
    }
    for (int i = 0; i < g->nsp; i++)
        if (opad[i] < 0 || opad[i] > (1 << 24) || (have_oshape && (oshape[i] < 0 || oshape[i] > ((int64_t)1 << 32))))
            return ml_kerr(k, AG_EINVAL, "output_padding or output_shape out of range");
    for (int i = 0; i < g->nsp; i++) {
        int64_t ek = MIN(g->dil[i], 1 << 24) * (MIN(g->ker[i], 1 << 24) - 1) + 1;
        if (g->stride[i] < 1 || g->dil[i] < 1 || g->ker[i] < 1 || g->pb[i] < 0 || g->pe[i] < 0 ||
            g->stride[i] > (1 << 24) || g->dil[i] > (1 << 24) || g->ker[i] > (1 << 24) ||
            g->pb[i] > (1 << 24) || g->pe[i] > (1 << 24))
            return ml_kerr(k, AG_EINVAL, "strides, dilations, kernel and pads must be positive");
        if (!transpose) {
            if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
                int64_t o = (g->in[i] + g->stride[i] - 1) / g->stride[i];
                int64_t tot = MAX(0, (o - 1) * g->stride[i] + ek - g->in[i]);
                g->pb[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
                g->pe[i] = tot - g->pb[i];
            } else if (!strcmp(ap, "VALID")) {
                g->pb[i] = g->pe[i] = 0;
            }
            g->out[i] = (g->in[i] + g->pb[i] + g->pe[i] - ek) / g->stride[i] + 1;
            if (g->in[i] + g->pb[i] + g->pe[i] < ek)
                g->out[i] = 0;
        } else {
            int64_t full = g->stride[i] * (g->in[i] - 1) + opad[i] + ek;
            if (have_oshape || !strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
                int64_t o = have_oshape ? oshape[i] : g->in[i] * g->stride[i];
                int64_t tot = full - o;
                if (tot < 0)
                    tot = 0;
                if (!strcmp(ap, "SAME_UPPER") || (have_oshape && strcmp(ap, "SAME_LOWER"))) {
                    g->pb[i] = tot / 2;
                    g->pe[i] = tot - tot / 2;
                } else {
                    g->pb[i] = tot - tot / 2;
                    g->pe[i] = tot / 2;
                }
                g->out[i] = o;
            } else {
                g->out[i] = full - g->pb[i] - g->pe[i];
            }
        }
        if (g->out[i] < 0)
            return ml_kerr(k, AG_EINVAL, "output size is negative");
    }
    g->in_sz = g->out_sz = g->ker_sz = 1;
    for (int i = 0; i < g->nsp; i++) {
        g->in_sz *= g->in[i];
        g->out_sz *= g->out[i];
        g->ker_sz *= g->ker[i];
    }
    return 0;
}

/* im2col for one image and one group: cols[c*ker_sz + kpos][opos]. */
struct i2c_job {
    const struct conv_geom *g;
    const float *x;  /* first channel of the group */
    float *cols;
    int64_t cg;      /* channels in the group */
};

static void im2col_rows(void *arg, int64_t lo, int64_t hi)
{
    const struct i2c_job *j = arg;
    const struct conv_geom *g = j->g;
    for (int64_t row = lo; row < hi; row++) {
        int64_t c = row / g->ker_sz, kp = row % g->ker_sz, kidx[CONV_MAX_SP] = {0};
        float *dst = j->cols + row * g->out_sz;
        const float *src = j->x + c * g->in_sz;
        for (int d = g->nsp - 1, r = (int)kp; d >= 0; d--) {
            kidx[d] = r % g->ker[d];
            r /= (int)g->ker[d];
        }
        if (g->nsp == 2) {
            int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
            int64_t kh = kidx[0] * g->dil[0] - g->pb[0], kw = kidx[1] * g->dil[1] - g->pb[1];
            for (int64_t oh = 0; oh < OH; oh++) {
                int64_t ih = oh * g->stride[0] + kh;
                float *drow = dst + oh * OW;
                if (ih < 0 || ih >= H) {
                    memset(drow, 0, sizeof(float) * (size_t)OW);
                    continue;
                }
                const float *srow = src + ih * W;
                if (g->stride[1] == 1) {
                    /* Valid columns ow in [lo, hi) read srow[ow + kw]; the rest is padding. */
                    int64_t c0 = MAX(0, -kw), c1 = MIN(OW, W - kw);
                    if (c1 < c0)
                        c1 = c0 = 0;
                    if (c0)
                        memset(drow, 0, sizeof(float) * (size_t)c0);
                    if (c1 > c0)
                        memcpy(drow + c0, srow + c0 + kw, sizeof(float) * (size_t)(c1 - c0));
                    if (c1 < OW)
                        memset(drow + c1, 0, sizeof(float) * (size_t)(OW - c1));
                    continue;
                }
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t iw = ow * g->stride[1] + kw;
                    drow[ow] = iw >= 0 && iw < W ? srow[iw] : 0;
                }
            }
            continue;
        }
        /* Generic 1-D / 3-D. */
        int64_t oidx[CONV_MAX_SP] = {0};
        for (int64_t op = 0; op < g->out_sz; op++) {
            int64_t off = 0;
            bool in = true;
            for (int d = 0; d < g->nsp; d++) {
                int64_t p = oidx[d] * g->stride[d] + kidx[d] * g->dil[d] - g->pb[d];
                if (p < 0 || p >= g->in[d]) {
                    in = false;
                    break;
                }
                off = off * g->in[d] + p;
            }
            dst[op] = in ? src[off] : 0;
            for (int d = g->nsp - 1; d >= 0; d--) {
                if (++oidx[d] < g->out[d])
                    break;
                oidx[d] = 0;
            }
        }
    }
}

/* ---- the packed path: im2col, packing and GEMM fused per panel ----
 *
 * For 2-D convolutions whose weights are constant and small enough to stay
 * in L2, a register-blocked AVX2/FMA kernel beats im2col + BLAS SGEMM: the
 * small channel counts of CNN layers (M = 16..128) are a poor fit for BLAS's
 * blocking, and BLAS needs the whole im2col matrix written out first. Here
 * the weights are packed once at load (panels of PK_MR output channels, each
 * column of PK_MR values contiguous), and at run time the output positions
 * are cut into panels of PK_NR: a worker gathers one panel's im2col columns
 * into a contiguous K x PK_NR block, which stays in cache while the kernel
 * multiplies it by every weight panel and applies bias and Relu on the way
 * out. Panels are independent, so threads split them. */
#define PK_MR 6
#define PK_NR 16
/* Weights of one group beyond this many bytes do not stay in L2: loop over
 * weight panels outside, output panels inside (pk_rows_inplace), or for
 * large strides use BLAS. */
#define PK_MAX_W_BYTES (320 * 1024)

int ml_conv_pack(struct ml_model *m, struct ml_node *n, struct ag_err *e)
{
    const struct ml_tensor *w = n->fw.data ? &n->fw : NULL;
    int64_t group = 1, M, mg, kdim, npan;
    float *wp;

    if (!w && n->nin > 1 && n->in[1] >= 0 && m->values[n->in[1]].is_init &&
        !m->values[n->in[1]].is_input)
        w = &m->values[n->in[1]].init;
    if (!ml_cpu_avx2_fma() || !w || w->dtype != ML_FLOAT || w->ndim != 4 || w->dims[0] < 1 || n->wpack)
        return 0;
    for (size_t i = 0; i < n->p->n_attribute; i++)
        if (n->p->attribute[i]->name && !strcmp(n->p->attribute[i]->name, "group"))
            group = n->p->attribute[i]->i;
    M = w->dims[0];
    if (group < 1 || M % group)
        return 0;
    mg = M / group;
    kdim = w->n / M;
    /* Depthwise and other thin groups would waste most of a 6-row panel. */
    if (mg < 4 || kdim < 1)
        return 0;
    npan = (mg + PK_MR - 1) / PK_MR;
    wp = calloc((size_t)(group * npan * PK_MR * kdim), sizeof(float));
    if (!wp)
        return ag_err_set(e, AG_ENOMEM);
    for (int64_t gi = 0; gi < group; gi++)
        for (int64_t r = 0; r < mg; r++) {
            const float *src = (const float *)w->data + (gi * mg + r) * kdim;
            float *dst = wp + (gi * npan + r / PK_MR) * PK_MR * kdim + r % PK_MR;
            for (int64_t kk = 0; kk < kdim; kk++)
                dst[kk * PK_MR] = src[kk];
        }
    n->wpack = wp;
    n->wpack_k = kdim;
    return 0;
}

#define PK_FMA_ROW(b0, b1)                                                                      \
    do {                                                                                        \
        __m256 a0 = _mm256_broadcast_ss(a), a1 = _mm256_broadcast_ss(a + 1);                    \
        c00 = _mm256_fmadd_ps(a0, b0, c00);                                                     \
        c01 = _mm256_fmadd_ps(a0, b1, c01);                                                     \
        c10 = _mm256_fmadd_ps(a1, b0, c10);                                                     \
        c11 = _mm256_fmadd_ps(a1, b1, c11);                                                     \
        a0 = _mm256_broadcast_ss(a + 2);                                                        \
        a1 = _mm256_broadcast_ss(a + 3);                                                        \
        c20 = _mm256_fmadd_ps(a0, b0, c20);                                                     \
        c21 = _mm256_fmadd_ps(a0, b1, c21);                                                     \
        c30 = _mm256_fmadd_ps(a1, b0, c30);                                                     \
        c31 = _mm256_fmadd_ps(a1, b1, c31);                                                     \
        a0 = _mm256_broadcast_ss(a + 4);                                                        \
        a1 = _mm256_broadcast_ss(a + 5);                                                        \
        c40 = _mm256_fmadd_ps(a0, b0, c40);                                                     \
        c41 = _mm256_fmadd_ps(a0, b1, c41);                                                     \
        c50 = _mm256_fmadd_ps(a1, b0, c50);                                                     \
        c51 = _mm256_fmadd_ps(a1, b1, c51);                                                     \
        a += PK_MR;                                                                             \
    } while (0)

#define PK_STORE_TMP(tmp)                                                                       \
    do {                                                                                        \
        _mm256_store_ps(tmp[0], c00);                                                           \
        _mm256_store_ps(tmp[0] + 8, c01);                                                       \
        _mm256_store_ps(tmp[1], c10);                                                           \
        _mm256_store_ps(tmp[1] + 8, c11);                                                       \
        _mm256_store_ps(tmp[2], c20);                                                           \
        _mm256_store_ps(tmp[2] + 8, c21);                                                       \
        _mm256_store_ps(tmp[3], c30);                                                           \
        _mm256_store_ps(tmp[3] + 8, c31);                                                       \
        _mm256_store_ps(tmp[4], c40);                                                           \
        _mm256_store_ps(tmp[4] + 8, c41);                                                       \
        _mm256_store_ps(tmp[5], c50);                                                           \
        _mm256_store_ps(tmp[5] + 8, c51);                                                       \
    } while (0)

/* tmp = A-panel (K x PK_MR) times a B-panel packed as K rows of PK_NR. */
__attribute__((target("avx2,fma"))) static void pk_kernel(int64_t K, const float *a,
                                                          const float *b,
                                                          float tmp[PK_MR][PK_NR])
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t kk = 0; kk < K; kk++, b += PK_NR)
        PK_FMA_ROW(_mm256_loadu_ps(b), _mm256_loadu_ps(b + 8));
    PK_STORE_TMP(tmp);
}

/* The same with row kk of B read in place at b + off[kk] (the padded input:
 * a stride-1 convolution needs no im2col copy at all). */
__attribute__((target("avx2,fma"))) static void pk_kernel_off(int64_t K, const float *a,
                                                              const float *b, const int64_t *off,
                                                              float tmp[PK_MR][PK_NR])
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t kk = 0; kk < K; kk++) {
        const float *r = b + off[kk];
        PK_FMA_ROW(_mm256_loadu_ps(r), _mm256_loadu_ps(r + 8));
    }
    PK_STORE_TMP(tmp);
}

/* Stores columns [t0, t0 + len) of tmp's first mr rows at c (rows ldc apart)
 * with bias[i] added and Relu applied when asked. */
__attribute__((target("avx2,fma"))) static void pk_store(float tmp[PK_MR][PK_NR], int t0,
                                                         int len, float *c, int64_t ldc, int mr,
                                                         const float *bias, bool relu)
{
    for (int i = 0; i < mr; i++) {
        float bv = bias ? bias[i] : 0;
        float *row = c + i * ldc;
        if (len == PK_NR && t0 == 0) {
            __m256 vb = _mm256_set1_ps(bv), z = _mm256_setzero_ps();
            __m256 v0 = _mm256_add_ps(_mm256_load_ps(tmp[i]), vb);
            __m256 v1 = _mm256_add_ps(_mm256_load_ps(tmp[i] + 8), vb);
            if (relu) {
                v0 = _mm256_max_ps(v0, z);
                v1 = _mm256_max_ps(v1, z);
            }
            _mm256_storeu_ps(row, v0);
            _mm256_storeu_ps(row + 8, v1);
            continue;
        }
        for (int j = 0; j < len; j++) {
            float v = tmp[i][t0 + j] + bv;
            row[j] = relu && !(v > 0) ? 0 : v;
        }
    }
}

struct pk_job {
    const struct conv_geom *g;
    const float *x;      /* image n, first channel of group gi */
    const float *wp;     /* packed weights of group gi */
    const float *bias;   /* bias of group gi, or NULL */
    float *y;            /* output of image n, first channel of group gi */
    float *pb;           /* one K x PK_NR block per panel (fill path) */
    const float *xp;     /* the zero-padded input (in-place path) */
    const int64_t *off;  /* in-place path: offset of B's row kk in xp */
    int64_t wp_w;        /* in-place path: row width of the phase planes */
    int64_t cg, mg, kdim;
    bool relu;
    struct ml_model *m;  /* for the run limits' checks */
};

/* Gathers the im2col columns [p0, p0 + nr) into dst (kdim rows of PK_NR). */
static void pk_fill(const struct pk_job *j, float *dst, int64_t p0, int nr)
{
    const struct conv_geom *g = j->g;
    int64_t H = g->in[0], W = g->in[1], OW = g->out[1], sh = g->stride[0], sw = g->stride[1];
    struct { int64_t oh, ow, len, off; } seg[PK_NR];
    int nseg = 0;
    for (int64_t pos = p0; pos < p0 + nr;) {
        int64_t oh = pos / OW, ow = pos % OW, len = MIN(p0 + nr - pos, OW - ow);
        seg[nseg].oh = oh;
        seg[nseg].ow = ow;
        seg[nseg].len = len;
        seg[nseg++].off = pos - p0;
        pos += len;
    }
    for (int64_t c = 0; c < j->cg; c++) {
        const float *xc = j->x + c * g->in_sz;
        for (int64_t kh = 0; kh < g->ker[0]; kh++) {
            int64_t dh = kh * g->dil[0] - g->pb[0];
            for (int64_t kw = 0; kw < g->ker[1]; kw++, dst += PK_NR) {
                int64_t dw = kw * g->dil[1] - g->pb[1];
                if (nr < PK_NR)
                    memset(dst + nr, 0, sizeof(float) * (size_t)(PK_NR - nr));
                for (int s = 0; s < nseg; s++) {
                    int64_t ih = seg[s].oh * sh + dh, iw0 = seg[s].ow * sw + dw, len = seg[s].len;
                    float *d = dst + seg[s].off;
                    const float *row = xc + ih * W;
                    if (ih < 0 || ih >= H) {
                        memset(d, 0, sizeof(float) * (size_t)len);
                    } else if (sw == 1) {
                        int64_t t0 = MIN(len, MAX(0, -iw0)), t1 = MAX(t0, MIN(len, W - iw0));
                        if (t0)
                            memset(d, 0, sizeof(float) * (size_t)t0);
                        memcpy(d + t0, row + iw0 + t0, sizeof(float) * (size_t)(t1 - t0));
                        if (t1 < len)
                            memset(d + t1, 0, sizeof(float) * (size_t)(len - t1));
                    } else {
                        for (int64_t t = 0; t < len; t++) {
                            int64_t iw = iw0 + t * sw;
                            d[t] = iw >= 0 && iw < W ? row[iw] : 0;
                        }
                    }
                }
            }
        }
    }
}

static void pk_panels(void *arg, int64_t lo, int64_t hi)
{
    const struct pk_job *j = arg;
    int64_t osz = j->g->out_sz;
    float tmp[PK_MR][PK_NR] __attribute__((aligned(32)));
    for (int64_t p = lo; p < hi; p++) {
        float *b = j->pb + p * j->kdim * PK_NR;
        int64_t p0 = p * PK_NR;
        int nr = (int)MIN(PK_NR, osz - p0);
        pk_fill(j, b, p0, nr);
        for (int64_t i0 = 0; i0 < j->mg; i0 += PK_MR) {
            int mr = (int)MIN(PK_MR, j->mg - i0);
            pk_kernel(j->kdim, j->wp + i0 * j->kdim, b, tmp);
            pk_store(tmp, 0, nr, j->y + i0 * osz + p0, osz, mr, j->bias ? j->bias + i0 : NULL,
                     j->relu);
        }
    }
}

/* Runs of valid output columns in the in-place panel starting at q0: seg_t
 * (column in the panel), seg_len, seg_out (output position). Returns the count. */
static int pk_segments(const struct pk_job *j, int64_t q0, int *seg_t, int *seg_len,
                       int64_t *seg_out)
{
    int64_t OW = j->g->out[1], OH = j->g->out[0], wpw = j->wp_w;
    int nseg = 0;
    for (int t = 0; t < PK_NR;) {
        int64_t q = q0 + t, oh = q / wpw, ow = q % wpw;
        int len = (int)MIN(PK_NR - t, wpw - ow);
        if (oh >= OH)
            break;
        if (ow < OW) {
            seg_t[nseg] = t;
            seg_len[nseg] = (int)MIN(len, OW - ow);
            seg_out[nseg++] = oh * OW + ow;
        }
        t += len;
    }
    return nseg;
}

/* In-place path for large weights: each task takes one panel of PK_MR
 * output channels (PK_MR x K weights, which stay in L2) through every
 * output panel, instead of streaming all the weights once per panel. */
static void pk_rows_inplace(void *arg, int64_t lo, int64_t hi)
{
    const struct pk_job *j = arg;
    int64_t osz = j->g->out_sz, npanel = (j->g->out[0] * j->wp_w + PK_NR - 1) / PK_NR;
    float tmp[PK_MR][PK_NR] __attribute__((aligned(32)));
    int seg_t[PK_NR], seg_len[PK_NR];
    int64_t seg_out[PK_NR];
    for (int64_t r = lo; r < hi; r++) {
        int64_t i0 = r * PK_MR;
        int mr = (int)MIN(PK_MR, j->mg - i0);
        const float *bias = j->bias ? j->bias + i0 : NULL;
        for (int64_t p = 0; p < npanel; p++) {
            int64_t q0 = p * PK_NR;
            int nseg = pk_segments(j, q0, seg_t, seg_len, seg_out);
            /* A task here spans every panel: check the run limits as it goes. */
            if ((p & 255) == 255 && ml_stop_check(j->m))
                return;
            if (!nseg)
                continue;
            pk_kernel_off(j->kdim, j->wp + i0 * j->kdim, j->xp + q0, j->off, tmp);
            for (int s = 0; s < nseg; s++)
                pk_store(tmp, seg_t[s], seg_len[s], j->y + i0 * osz + seg_out[s], osz, mr, bias,
                         j->relu);
        }
    }
}

/* In-place path: output position q of the phase-plane grid (row q / wp_w,
 * column q % wp_w) reads xp[q + off[kk]]; columns past the output width are
 * computed and dropped. */
static void pk_panels_inplace(void *arg, int64_t lo, int64_t hi)
{
    const struct pk_job *j = arg;
    int64_t osz = j->g->out_sz;
    float tmp[PK_MR][PK_NR] __attribute__((aligned(32)));
    int seg_t[PK_NR], seg_len[PK_NR];
    int64_t seg_out[PK_NR];
    for (int64_t p = lo; p < hi; p++) {
        int64_t q0 = p * PK_NR;
        int nseg = pk_segments(j, q0, seg_t, seg_len, seg_out);
        if (!nseg)
            continue;
        for (int64_t i0 = 0; i0 < j->mg; i0 += PK_MR) {
            int mr = (int)MIN(PK_MR, j->mg - i0);
            const float *bias = j->bias ? j->bias + i0 : NULL;
            pk_kernel_off(j->kdim, j->wp + i0 * j->kdim, j->xp + q0, j->off, tmp);
            for (int s = 0; s < nseg; s++)
                pk_store(tmp, seg_t[s], seg_len[s], j->y + i0 * osz + seg_out[s], osz, mr, bias,
                         j->relu);
        }
    }
}

/* Copies the cg channels at x into xp zero-padded and split into stride
 * phases: plane (c, ph, pw) holds the padded input's rows ph, ph + sh, ...
 * and columns pw, pw + sw, ..., as hh rows of whw. Then output (oh, ow)
 * reads, for kernel tap (kh, kw), plane (c, kh*dh % sh, kw*dw % sw) at row
 * oh + kh*dh / sh and column ow + kw*dw / sw: consecutive outputs read
 * consecutive floats, whatever the stride. `slack` zeros follow. */
static void pk_pad_channels(const struct conv_geom *g, const float *x, int64_t c0, int64_t c1,
                            float *xp, int64_t hh, int64_t whw)
{
    int64_t H = g->in[0], W = g->in[1], sh = g->stride[0], sw = g->stride[1];
    int64_t plane = hh * whw;
    memset(xp + c0 * sh * sw * plane, 0, sizeof(float) * (size_t)((c1 - c0) * sh * sw * plane));
    for (int64_t c = c0; c < c1; c++)
        for (int64_t h = 0; h < H; h++) {
            int64_t hp = h + g->pb[0];
            const float *src = x + (c * H + h) * W;
            float *rows = xp + (c * sh + hp % sh) * sw * plane + (hp / sh) * whw;
            if (sw == 1) {
                memcpy(rows + g->pb[1], src, sizeof(float) * (size_t)W);
                continue;
            }
            for (int64_t w = 0; w < W; w++) {
                int64_t wp = w + g->pb[1];
                rows[(wp % sw) * plane + wp / sw] = src[w];
            }
        }
}

struct pad_job {
    const struct conv_geom *g;
    const float *x;
    float *xp;
    int64_t hh, whw;
};

static void pad_chunk(void *arg, int64_t lo, int64_t hi)
{
    const struct pad_job *j = arg;
    pk_pad_channels(j->g, j->x, lo, hi, j->xp, j->hh, j->whw);
}

/* The copy is a few percent of a ResNet's time: split over the pool by
 * channels (each channel's planes are contiguous), so it does not stay
 * serial when the convolution itself runs on two threads. */
static void pk_pad_input(struct ml_model *m, const struct conv_geom *g, const float *x,
                         int64_t cg, float *xp, int64_t hh, int64_t whw, int64_t slack)
{
    struct pad_job j = {g, x, xp, hh, whw};
    int64_t per = g->stride[0] * g->stride[1] * hh * whw;
    memset(xp + cg * per, 0, sizeof(float) * (size_t)slack);
    ml_parallel_for(m, cg, MAX(1, 16384 / MAX(1, per)), pad_chunk, &j);
}

/* Runs the packed path for Conv node k->node (weights packed at load): the
 * kernel reads the zero-padded, phase-split input in place; only when the
 * phase planes would be much larger than the input (strides far beyond the
 * kernel) does it gather im2col panels instead. Returns 0 or the scratch
 * allocation's error. */
static int conv_packed(struct ml_kctx *k, const struct ml_tensor *x, const struct conv_geom *g,
                       struct ml_tensor *y, const float *bias)
{
    int64_t cg = g->C / g->group, mg = g->M / g->group, kdim = cg * g->ker_sz;
    int64_t wstride = (mg + PK_MR - 1) / PK_MR * PK_MR, sh = g->stride[0], sw = g->stride[1];
    int64_t hp = g->in[0] + g->pb[0] + g->pe[0], wpw = g->in[1] + g->pb[1] + g->pe[1];
    int64_t hh = (hp + sh - 1) / sh, whw = (wpw + sw - 1) / sw;
    int64_t slack = whw + PK_NR + g->dil[1] * g->ker[1];
    bool inplace = sh <= 4 && sw <= 4;
    int64_t npanel = inplace ? (g->out[0] * whw + PK_NR - 1) / PK_NR
                             : (g->out_sz + PK_NR - 1) / PK_NR;
    double need = inplace ? (double)cg * (double)(sh * sw) * (double)hh * (double)whw
                          : (double)npanel * (double)kdim * PK_NR;
    size_t bsz = need < 1e15 ? sizeof(float) * (size_t)(inplace ? cg * sh * sw * hh * whw + slack
                                                               : npanel * kdim * PK_NR)
                             : 0;
    size_t osz = inplace ? sizeof(int64_t) * (size_t)kdim : 0;
    float *buf = bsz ? ml_scratch(k, bsz) : NULL;
    int64_t *off = osz ? ml_scratch(k, osz) : NULL;
    /* Each panel is 2*mg*kdim*PK_NR flops: aim for chunks of about 0.5 MFLOP. */
    int64_t grain = MAX(1, 262144 / MAX(1, mg * kdim * PK_NR));
    int rc = 0;

    if (!bsz) {
        rc = ml_kerr(k, AG_ETOOBIG, "the padded input is too large");
        goto out;
    }
    if (!buf || (osz && !off)) {
        rc = k->e->code;
        goto out;
    }
    if (inplace)
        for (int64_t c = 0, kk = 0; c < cg; c++)
            for (int64_t kh = 0; kh < g->ker[0]; kh++)
                for (int64_t kw = 0; kw < g->ker[1]; kw++) {
                    int64_t eh = kh * g->dil[0], ew = kw * g->dil[1];
                    off[kk++] = ((c * sh + eh % sh) * sw + ew % sw) * hh * whw +
                                (eh / sh) * whw + ew / sw;
                }
    for (int64_t n = 0; n < g->N && !ml_stop_check(k->m); n++)
        for (int64_t gi = 0; gi < g->group && !ml_stop_check(k->m); gi++) {
            struct pk_job j = {
                .g = g,
                .x = (const float *)x->data + (n * g->C + gi * cg) * g->in_sz,
                .wp = k->node->wpack + gi * wstride * kdim,
                .bias = bias ? bias + gi * mg : NULL,
                .y = (float *)y->data + (n * g->M + gi * mg) * g->out_sz,
                .pb = buf,
                .xp = buf,
                .off = off,
                .wp_w = whw,
                .cg = cg, .mg = mg, .kdim = kdim,
                .relu = k->node->act == ML_ACT_RELU,
                .m = k->m,
            };
            if (inplace) {
                pk_pad_input(k->m, g, j.x, cg, buf, hh, whw, slack);
                /* Equal tasks, many of them: small chunks keep both threads
                 * busy to the end of the layer. */
                if ((uint64_t)(mg * kdim) * sizeof(float) > PK_MAX_W_BYTES)
                    ml_parallel_for_chunks(k->m, wstride / PK_MR, 1, 16, pk_rows_inplace, &j);
                else
                    ml_parallel_for_chunks(k->m, npanel, grain, 16, pk_panels_inplace, &j);
            } else {
                ml_parallel_for_chunks(k->m, npanel, grain, 16, pk_panels, &j);
            }
        }
out:
    if (buf)
        ml_scratch_free(k, buf, bsz);
    if (off)
        ml_scratch_free(k, off, osz);
    return rc;
}

/* The im2col + BLAS path; `packed` allows the packed path when the node's
 * weights were packed at load (only op_conv passes true: ConvInteger and
 * QLinearConv hand in converted weights that were not). */
static int conv_f32(struct ml_kctx *k, const struct ml_tensor *x, const struct ml_tensor *w,
                    const float *bias, bool packed)
{
    struct conv_geom g;
    struct ml_tensor *y;
    int64_t dims[ML_MAX_DIMS], cg, mg, kdim;
    float *cols = NULL;
    size_t colsz = 0;
    bool direct;
    int rc;

    if ((rc = conv_geometry(k, x, w, false, &g)))
        return rc;
    dims[0] = g.N;
    dims[1] = g.M;
    for (int i = 0; i < g.nsp; i++)
        dims[2 + i] = g.out[i];
    y = ml_out(k, 0, ML_FLOAT, x->ndim, dims);
    if (!y)
        return k->e->code;
    cg = g.C / g.group;
    mg = g.M / g.group;
    kdim = cg * g.ker_sz;
    if (packed && k->node->wpack && g.nsp == 2 && k->node->wpack_k == kdim && g.out_sz &&
        ((g.stride[0] <= 4 && g.stride[1] <= 4) ||
         (uint64_t)(mg * kdim) * sizeof(float) <= PK_MAX_W_BYTES))
        return conv_packed(k, x, &g, y, bias);
    direct = g.ker_sz == 1;
    for (int i = 0; i < g.nsp; i++)
        direct &= g.stride[i] == 1 && g.pb[i] == 0 && g.pe[i] == 0;
    if (!direct && g.out_sz) {
        colsz = sizeof(float) * (size_t)(kdim * g.out_sz);
        cols = ml_scratch(k, colsz);
        if (!cols)
            return k->e->code;
    }
    for (int64_t n = 0; n < g.N && !ml_stop_check(k->m); n++) {
        for (int64_t gi = 0; gi < g.group && !ml_stop_check(k->m); gi++) {
            const float *xg = (const float *)x->data + (n * g.C + gi * cg) * g.in_sz;
            const float *wg = (const float *)w->data + gi * mg * kdim;
            float *yg = (float *)y->data + (n * g.M + gi * mg) * g.out_sz;
            const float *b = xg;
            if (!g.out_sz)
                continue;
            if (!direct) {
                struct i2c_job j = {&g, xg, cols, cg};
                ml_parallel_for(k->m, kdim, 4, im2col_rows, &j);
                b = cols;
            }
            ml_sgemm(k->m, false, false, mg, g.out_sz, kdim, 1, wg, kdim, b, g.out_sz, 0, yg, g.out_sz);
            if (bias || k->node->act == ML_ACT_RELU)
                for (int64_t m = 0; m < mg; m++) {
                    float bv = bias ? bias[gi * mg + m] : 0;
                    float *row = yg + m * g.out_sz;
                    if (k->node->act == ML_ACT_RELU)
                        for (int64_t i = 0; i < g.out_sz; i++)
                            row[i] = row[i] + bv > 0 ? row[i] + bv : 0;
                    else
                        for (int64_t i = 0; i < g.out_sz; i++)
                            row[i] += bv;
                }
        }
    }
    if (cols)
        ml_scratch_free(k, cols, colsz);
    return 0;
}

int ml_conv_f32(struct ml_kctx *k, const struct ml_tensor *x, const struct ml_tensor *w,
                const float *bias)
{
    return conv_f32(k, x, w, bias, false);
}

static int op_conv(struct ml_kctx *k)
{
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    if (k->node->fw.data)
        return conv_f32(k, k->in[0], &k->node->fw, k->node->fb.data, true);
    if (k->in[0]->dtype != ML_FLOAT || k->in[1]->dtype != ML_FLOAT)
        return ml_kerr(k, AG_EUNPROCESSABLE, "only float convolution is supported, not %s",
                       ml_dtype_name(k->in[0]->dtype));
    if (k->nin > 2 && k->in[2] && k->in[2]->n != k->in[1]->dims[0])
        return ml_kerr(k, AG_EINVAL, "bias must have one value per output channel");
    return conv_f32(k, k->in[0], k->in[1], k->nin > 2 && k->in[2] ? k->in[2]->data : NULL, true);
}

static int op_conv_transpose(struct ml_kctx *k)
{
    const struct ml_tensor *x, *w;
    struct conv_geom g;
    struct ml_tensor *y;
    int64_t dims[ML_MAX_DIMS], cg, mg, rows;
    float *cols;
    size_t colsz;
    int rc;

    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    w = k->in[1];
    if (x->dtype != ML_FLOAT || w->dtype != ML_FLOAT)
        return ml_kerr(k, AG_EUNPROCESSABLE, "only float is supported");
    if ((rc = conv_geometry(k, x, w, true, &g)))
        return rc;
    dims[0] = g.N;
    dims[1] = g.M;
    for (int i = 0; i < g.nsp; i++)
        dims[2 + i] = g.out[i];
    y = ml_out(k, 0, ML_FLOAT, x->ndim, dims);
    if (!y)
        return k->e->code;
    memset(y->data, 0, sizeof(float) * (size_t)y->n);
    cg = g.C / g.group;
    mg = g.M / g.group;
    rows = mg * g.ker_sz;
    colsz = sizeof(float) * (size_t)MAX(1, rows * g.in_sz);
    cols = ml_scratch(k, colsz);
    if (!cols)
        return k->e->code;
    for (int64_t n = 0; n < g.N && !ml_stop_check(k->m); n++)
        for (int64_t gi = 0; gi < g.group && !ml_stop_check(k->m); gi++) {
            const float *xg = (const float *)x->data + (n * g.C + gi * cg) * g.in_sz;
            const float *wg = (const float *)w->data + gi * cg * rows;
            float *yg = (float *)y->data + (n * g.M + gi * mg) * g.out_sz;
            /* cols[m*ker + kp][ip] = sum_c W[c][m*ker+kp] * X[c][ip] */
            ml_sgemm(k->m, true, false, rows, g.in_sz, cg, 1, wg, rows, xg, g.in_sz, 0, cols, g.in_sz);
            /* col2im: scatter-add into the output. */
            for (int64_t r = 0; r < rows && !((r & 63) == 63 && ml_stop_check(k->m)); r++) {
                int64_t m = r / g.ker_sz, kp = r % g.ker_sz, kidx[CONV_MAX_SP], iidx[CONV_MAX_SP] = {0};
                for (int d = g.nsp - 1, t = (int)kp; d >= 0; d--) {
                    kidx[d] = t % g.ker[d];
                    t /= (int)g.ker[d];
                }
                for (int64_t ip = 0; ip < g.in_sz; ip++) {
                    int64_t off = 0;
                    bool in = true;
                    for (int d = 0; d < g.nsp; d++) {
                        int64_t p = iidx[d] * g.stride[d] + kidx[d] * g.dil[d] - g.pb[d];
                        if (p < 0 || p >= g.out[d]) {
                            in = false;
                            break;
                        }
                        off = off * g.out[d] + p;
                    }
                    if (in)
                        yg[m * g.out_sz + off] += cols[r * g.in_sz + ip];
                    for (int d = g.nsp - 1; d >= 0; d--) {
                        if (++iidx[d] < g.in[d])
                            break;
                        iidx[d] = 0;
                    }
                }
            }
        }
    ml_scratch_free(k, cols, colsz);
    if (k->nin > 2 && k->in[2]) {
        const struct ml_tensor *b = k->in[2];
        if (b->n != g.M)
            return ml_kerr(k, AG_EINVAL, "bias must have one value per output channel");
        for (int64_t n = 0; n < g.N; n++)
            for (int64_t m = 0; m < g.M; m++) {
                float *row = (float *)y->data + (n * g.M + m) * g.out_sz;
                for (int64_t i = 0; i < g.out_sz; i++)
                    row[i] += ((const float *)b->data)[m];
            }
    }
    return 0;
}

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_conv[] = {
    {"Conv", "", op_conv, H},
    {"ConvTranspose", "", op_conv_transpose, H},
    {NULL, NULL, NULL, 0},
};
