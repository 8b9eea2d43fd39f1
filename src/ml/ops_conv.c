/* ops_conv.c - Conv and ConvTranspose (1-D to 3-D, groups, dilations) as im2col + GEMM on BLAS. */
#include "core/common.h"
#include "ml/internal.h"

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

int ml_conv_f32(struct ml_kctx *k, const struct ml_tensor *x, const struct ml_tensor *w,
                const float *bias)
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
    direct = g.ker_sz == 1;
    for (int i = 0; i < g.nsp; i++)
        direct &= g.stride[i] == 1 && g.pb[i] == 0 && g.pe[i] == 0;
    if (!direct && g.out_sz) {
        colsz = sizeof(float) * (size_t)(kdim * g.out_sz);
        cols = ml_scratch(k, colsz);
        if (!cols)
            return k->e->code;
    }
    for (int64_t n = 0; n < g.N; n++) {
        for (int64_t gi = 0; gi < g.group; gi++) {
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
            ml_sgemm(false, false, mg, g.out_sz, kdim, 1, wg, kdim, b, g.out_sz, 0, yg, g.out_sz);
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

static int op_conv(struct ml_kctx *k)
{
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    if (k->node->fw.data)
        return ml_conv_f32(k, k->in[0], &k->node->fw, k->node->fb.data);
    if (k->in[0]->dtype != ML_FLOAT || k->in[1]->dtype != ML_FLOAT)
        return ml_kerr(k, AG_EUNPROCESSABLE, "only float convolution is supported, not %s",
                       ml_dtype_name(k->in[0]->dtype));
    if (k->nin > 2 && k->in[2] && k->in[2]->n != k->in[1]->dims[0])
        return ml_kerr(k, AG_EINVAL, "bias must have one value per output channel");
    return ml_conv_f32(k, k->in[0], k->in[1], k->nin > 2 && k->in[2] ? k->in[2]->data : NULL);
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
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t gi = 0; gi < g.group; gi++) {
            const float *xg = (const float *)x->data + (n * g.C + gi * cg) * g.in_sz;
            const float *wg = (const float *)w->data + gi * cg * rows;
            float *yg = (float *)y->data + (n * g.M + gi * mg) * g.out_sz;
            /* cols[m*ker + kp][ip] = sum_c W[c][m*ker+kp] * X[c][ip] */
            ml_sgemm(true, false, rows, g.in_sz, cg, 1, wg, rows, xg, g.in_sz, 0, cols, g.in_sz);
            /* col2im: scatter-add into the output. */
            for (int64_t r = 0; r < rows; r++) {
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
