/* ops_pool.c - MaxPool, AveragePool, LpPool, their Global forms and MaxUnpool. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

#define POOL_MAX_SP 3

enum { P_MAX, P_AVG, P_LP };

struct pool_geom {
    int nsp;
    int64_t in[POOL_MAX_SP], out[POOL_MAX_SP], ker[POOL_MAX_SP], stride[POOL_MAX_SP],
        dil[POOL_MAX_SP], pb[POOL_MAX_SP], pe[POOL_MAX_SP];
    int64_t in_sz, out_sz;
};

static int pool_geometry(struct ml_kctx *k, const struct ml_tensor *x, bool global,
                         struct pool_geom *g)
{
    size_t n;
    const int64_t *a;
    const char *ap = ml_attr_str(k, "auto_pad", "NOTSET");
    bool ceil_mode = ml_attr_int(k, "ceil_mode", 0);

    memset(g, 0, sizeof(*g));
    if (x->ndim < 3 || x->ndim > 2 + POOL_MAX_SP)
        return ml_kerr(k, AG_EUNPROCESSABLE, "needs an input of rank 3 to 5");
    g->nsp = x->ndim - 2;
    a = ml_attr_ints(k, "kernel_shape", &n);
    if (!global && (!a || (int)n != g->nsp))
        return ml_kerr(k, AG_EINVAL, "kernel_shape must have one entry per spatial dimension");
    for (int i = 0; i < g->nsp; i++) {
        g->in[i] = x->dims[2 + i];
        g->ker[i] = global ? g->in[i] : a[i];
        g->stride[i] = g->dil[i] = 1;
    }
    if (!global) {
        if ((a = ml_attr_ints(k, "strides", &n)) && (int)n == g->nsp)
            memcpy(g->stride, a, n * sizeof(int64_t));
        if ((a = ml_attr_ints(k, "dilations", &n)) && (int)n == g->nsp)
            memcpy(g->dil, a, n * sizeof(int64_t));
        if ((a = ml_attr_ints(k, "pads", &n)) && (int)n == 2 * g->nsp) {
            memcpy(g->pb, a, (size_t)g->nsp * sizeof(int64_t));
            memcpy(g->pe, a + g->nsp, (size_t)g->nsp * sizeof(int64_t));
        }
    }
    g->in_sz = g->out_sz = 1;
    for (int i = 0; i < g->nsp; i++) {
        int64_t ek = MIN(g->dil[i], 1 << 24) * (MIN(g->ker[i], 1 << 24) - 1) + 1;
        if (g->ker[i] < 1 || g->stride[i] < 1 || g->dil[i] < 1 || g->pb[i] < 0 || g->pe[i] < 0 ||
            g->ker[i] > (1 << 24) || g->stride[i] > (1 << 24) || g->dil[i] > (1 << 24) ||
            g->pb[i] > (1 << 24) || g->pe[i] > (1 << 24))
            return ml_kerr(k, AG_EINVAL, "kernel, strides, dilations and pads must be positive");
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t o = (g->in[i] + g->stride[i] - 1) / g->stride[i];
            int64_t tot = MAX(0, (o - 1) * g->stride[i] + ek - g->in[i]);
            g->pb[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
            g->pe[i] = tot - g->pb[i];
            g->out[i] = o;
        } else {
            if (!strcmp(ap, "VALID"))
                g->pb[i] = g->pe[i] = 0;
            int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ek;
            if (span < 0)
                return ml_kerr(k, AG_EINVAL, "kernel larger than the padded input");
            g->out[i] = (ceil_mode ? (span + g->stride[i] - 1) / g->stride[i] : span / g->stride[i]) + 1;
            /* The last window must start inside the input or its left padding. */
            if (ceil_mode && (g->out[i] - 1) * g->stride[i] >= g->in[i] + g->pb[i])
                g->out[i]--;
        }
        g->in_sz *= g->in[i];
        g->out_sz *= g->out[i];
    }
    return 0;
}

/* Float 2-D max/average pooling without dilation: the common CNN case. */
struct pool2d_job {
    const struct pool_geom *g;
    const float *x;
    float *y;
    int kind;
    bool incl;
};

static void pool2d_planes(void *arg, int64_t lo, int64_t hi)
{
    const struct pool2d_job *j = arg;
    const struct pool_geom *g = j->g;
    int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *x = j->x + pl * H * W;
        float *y = j->y + pl * OH * OW;
        if (j->kind == P_MAX && g->ker[0] == 2 && g->ker[1] == 2 && g->stride[0] == 2 &&
            g->stride[1] == 2 && !g->pb[0] && !g->pb[1] && 2 * OH <= H && 2 * OW <= W) {
            /* The 2x2/2 max pool of every CNN. */
            for (int64_t oh = 0; oh < OH; oh++) {
                const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
                for (int64_t ow = 0; ow < OW; ow++) {
                    float a = r0[2 * ow] > r0[2 * ow + 1] ? r0[2 * ow] : r0[2 * ow + 1];
                    float b = r1[2 * ow] > r1[2 * ow + 1] ? r1[2 * ow] : r1[2 * ow + 1];
                    y[oh * OW + ow] = a > b ? a : b;
                }
            }
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * g->stride[0] - g->pb[0], h1 = MIN(h0 + g->ker[0], H);
            int64_t hp1 = MIN(h0 + g->ker[0], H + g->pe[0]), hs = MAX(h0, 0);
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * g->stride[1] - g->pb[1], w1 = MIN(w0 + g->ker[1], W);
                int64_t wp1 = MIN(w0 + g->ker[1], W + g->pe[1]), ws = MAX(w0, 0);
                float acc = j->kind == P_MAX ? -INFINITY : 0;
                if (j->kind == P_MAX) {
                    for (int64_t h = hs; h < h1; h++)
                        for (int64_t w = ws; w < w1; w++) {
                            float v = x[h * W + w];
                            if (!(v <= acc)) /* NaN wins, like the reference */
                                acc = v;
                        }
                } else {
                    for (int64_t h = hs; h < h1; h++)
                        for (int64_t w = ws; w < w1; w++)
                            acc += x[h * W + w];
                }
                if (j->kind == P_AVG) {
                    int64_t cnt = j->incl ? (hp1 - h0) * (wp1 - w0) : (h1 - hs) * (w1 - ws);
                    acc = cnt > 0 ? acc / (float)cnt : 0;
                }
                y[oh * OW + ow] = acc;
            }
        }
    }
}

static int pool(struct ml_kctx *k, int kind, bool global)
{
    const struct ml_tensor *x;
    struct ml_tensor *y, *ind = NULL;
    struct pool_geom g;
    int64_t dims[ML_MAX_DIMS], planes;
    bool incl = ml_attr_int(k, "count_include_pad", 0);
    int64_t p = ml_attr_int(k, "p", 2), order = ml_attr_int(k, "storage_order", 0);
    int rc;

    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (!ml_is_float(x->dtype) && !(kind == P_MAX && ml_is_int(x->dtype)))
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported", ml_dtype_name(x->dtype));
    if ((rc = pool_geometry(k, x, global, &g)))
        return rc;
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int i = 0; i < g.nsp; i++)
        dims[2 + i] = g.out[i];
    y = ml_out(k, 0, x->dtype, x->ndim, dims);
    if (!y)
        return k->e->code;
    if (kind == P_MAX && k->nout > 1 && k->out[1]) {
        ind = ml_out(k, 1, ML_INT64, x->ndim, dims);
        if (!ind)
            return k->e->code;
    }
    planes = x->dims[0] * x->dims[1];
    if (x->dtype == ML_FLOAT && g.nsp == 2 && !ind && kind != P_LP && g.dil[0] == 1 &&
        g.dil[1] == 1) {
        struct pool2d_job j = {&g, x->data, y->data, kind, incl};
        ml_parallel_for(k->m, planes, 4, pool2d_planes, &j);
        return 0;
    }
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t oidx[POOL_MAX_SP] = {0};
        for (int64_t op = 0; op < g.out_sz; op++) {
            int64_t kidx[POOL_MAX_SP] = {0}, ksz = 1, best_at = -1, cnt = 0, cnt_pad = 0;
            double acc = kind == P_MAX ? -INFINITY : 0;
            for (int d = 0; d < g.nsp; d++)
                ksz *= g.ker[d];
            for (int64_t kp = 0; kp < ksz; kp++) {
                int64_t off = 0, hw = 0;
                bool in = true, inpad = true;
                for (int d = 0; d < g.nsp; d++) {
                    int64_t pos = oidx[d] * g.stride[d] + kidx[d] * g.dil[d] - g.pb[d];
                    if (pos < 0 || pos >= g.in[d])
                        in = false;
                    if (pos >= g.in[d] + g.pe[d])
                        inpad = false;
                    off = off * g.in[d] + pos;
                    UNUSED(hw);
                }
                if (inpad)
                    cnt_pad++;
                if (in) {
                    double v = ml_get_f64(x, pl * g.in_sz + off);
                    cnt++;
                    if (kind == P_MAX) {
                        if (v > acc || best_at < 0) {
                            acc = v;
                            best_at = off;
                        }
                    } else if (kind == P_AVG) {
                        acc += v;
                    } else {
                        acc += pow(fabs(v), (double)p);
                    }
                }
                for (int d = g.nsp - 1; d >= 0; d--) {
                    if (++kidx[d] < g.ker[d])
                        break;
                    kidx[d] = 0;
                }
            }
            if (kind == P_AVG)
                acc = acc / (double)(incl ? cnt_pad : cnt);
            else if (kind == P_LP)
                acc = pow(acc, 1.0 / (double)p);
            ml_set_f64(y, pl * g.out_sz + op, acc);
            if (ind) {
                int64_t flat = best_at;
                if (order == 1 && g.nsp == 2) {
                    /* Column-major index inside the plane. */
                    int64_t h = best_at / g.in[1], w = best_at % g.in[1];
                    flat = w * g.in[0] + h;
                }
                ((int64_t *)ind->data)[pl * g.out_sz + op] = pl * g.in_sz + flat;
            }
            for (int d = g.nsp - 1; d >= 0; d--) {
                if (++oidx[d] < g.out[d])
                    break;
                oidx[d] = 0;
            }
        }
    }
    return 0;
}

/* Global pools have a fast path: one reduction per plane. */
static int global_pool(struct ml_kctx *k, int kind)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int64_t dims[ML_MAX_DIMS], plane = 1, planes;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (x->ndim < 3 || x->dtype != ML_FLOAT)
        return pool(k, kind, true);
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int i = 2; i < x->ndim; i++) {
        dims[i] = 1;
        plane *= x->dims[i];
    }
    y = ml_out(k, 0, x->dtype, x->ndim, dims);
    if (!y)
        return k->e->code;
    planes = dims[0] * dims[1];
    for (int64_t p = 0; p < planes; p++) {
        const float *src = (const float *)x->data + p * plane;
        double acc = kind == P_MAX ? -INFINITY : 0;
        for (int64_t i = 0; i < plane; i++)
            acc = kind == P_MAX ? fmax(acc, src[i]) : acc + src[i];
        ((float *)y->data)[p] = (float)(kind == P_MAX ? acc : acc / (double)plane);
    }
    return 0;
}

static int op_maxpool(struct ml_kctx *k) { return pool(k, P_MAX, false); }
static int op_avgpool(struct ml_kctx *k) { return pool(k, P_AVG, false); }
static int op_lppool(struct ml_kctx *k) { return pool(k, P_LP, false); }
static int op_gmaxpool(struct ml_kctx *k) { return global_pool(k, P_MAX); }
static int op_gavgpool(struct ml_kctx *k) { return global_pool(k, P_AVG); }
static int op_glppool(struct ml_kctx *k) { return pool(k, P_LP, true); }

static int op_maxunpool(struct ml_kctx *k)
{
    const struct ml_tensor *x, *ind;
    struct ml_tensor *y;
    int64_t dims[ML_MAX_DIMS], idims[ML_MAX_DIMS];
    size_t n;
    const int64_t *ks = ml_attr_ints(k, "kernel_shape", &n), *st, *pads;
    size_t ns, np;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    ind = k->in[1];
    st = ml_attr_ints(k, "strides", &ns);
    pads = ml_attr_ints(k, "pads", &np);
    if (x->ndim < 3 || !ks || (int)n != x->ndim - 2 || ind->n != x->n)
        return ml_kerr(k, AG_EINVAL, "bad kernel_shape or indices");
    for (size_t i = 0; i < n; i++)
        if (ks[i] < 1 || ks[i] > (1 << 24) || (st && i < ns && (st[i] < 1 || st[i] > (1 << 24))) ||
            (pads && 2 * i + 1 < np * 2 && i < np && (pads[i] < 0 || pads[i] > (1 << 24))))
            return ml_kerr(k, AG_EINVAL, "kernel_shape, strides or pads out of range");
    for (size_t i = 0; pads && i < np; i++)
        if (pads[i] < 0 || pads[i] > (1 << 24))
            return ml_kerr(k, AG_EINVAL, "pads out of range");
    /* The shape MaxPool's input had: indices are flat offsets into it. */
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int i = 0; i < x->ndim - 2; i++) {
        int64_t s = st && (int)ns == x->ndim - 2 ? st[i] : 1;
        int64_t pb = pads && (int)np == 2 * (x->ndim - 2) ? pads[i] + pads[i + x->ndim - 2] : 0;
        dims[2 + i] = (x->dims[2 + i] - 1) * s + ks[i] - pb;
        if (dims[2 + i] < 0)
            return ml_kerr(k, AG_EINVAL, "inferred output size is negative");
    }
    memcpy(idims, dims, sizeof(dims));
    if (k->nin > 2 && k->in[2]) {
        if (k->in[2]->n != x->ndim)
            return ml_kerr(k, AG_EINVAL, "output_shape has the wrong rank");
        ml_read_ints(k->in[2], dims, ML_MAX_DIMS);
        for (int i = 0; i < x->ndim; i++)
            if (dims[i] < idims[i])
                return ml_kerr(k, AG_EINVAL, "output_shape is smaller than the pooled input");
    }
    y = ml_out(k, 0, x->dtype, x->ndim, dims);
    if (!y)
        return k->e->code;
    memset(y->data, 0, (size_t)y->n * ml_dtype_size(y->dtype));
    for (int64_t i = 0; i < x->n; i++) {
        int64_t at = ml_get_i64(ind, i), rem, flat = 0;
        if (at < 0 || at >= ml_numel(x->ndim, idims))
            return ml_kerr(k, AG_EINVAL, "index %" PRId64 " is out of range", at);
        /* Re-linearize the index from the inferred shape into the output shape. */
        rem = at;
        int64_t mi[ML_MAX_DIMS];
        for (int d = x->ndim - 1; d >= 0; d--) {
            mi[d] = rem % idims[d];
            rem /= idims[d];
        }
        for (int d = 0; d < x->ndim; d++)
            flat = flat * dims[d] + mi[d];
        ml_set_f64(y, flat, ml_get_f64(x, i));
    }
    return 0;
}

/* RoiAlign: each region of interest (x1, y1, x2, y2 in input coordinates
 * times spatial_scale) is cut into output_height x output_width bins; each
 * bin averages (or, mode "max", takes the largest of) sampling_ratio^2
 * bilinear samples (sampling_ratio 0: ceil(bin size) per axis). The
 * sampling and border rules are onnxruntime's and the reference's. */
struct roi_sample {
    int64_t o[4];   /* offsets of the four corners in the plane */
    double w[4];    /* their weights; all 0 outside the input */
};

static void roi_bilinear(int64_t H, int64_t W, double y, double x, struct roi_sample *s)
{
    int64_t yl, xl, yh, xh;
    double ly, lx;
    memset(s, 0, sizeof(*s));
    if (y < -1.0 || y > (double)H || x < -1.0 || x > (double)W)
        return;
    y = MAX(y, 0.0);
    x = MAX(x, 0.0);
    yl = ml_f2i(y);
    xl = ml_f2i(x);
    if (yl >= H - 1) {
        yh = yl = H - 1;
        y = (double)yl;
    } else {
        yh = yl + 1;
    }
    if (xl >= W - 1) {
        xh = xl = W - 1;
        x = (double)xl;
    } else {
        xh = xl + 1;
    }
    ly = y - (double)yl;
    lx = x - (double)xl;
    s->o[0] = yl * W + xl;
    s->o[1] = yl * W + xh;
    s->o[2] = yh * W + xl;
    s->o[3] = yh * W + xh;
    s->w[0] = (1 - ly) * (1 - lx);
    s->w[1] = (1 - ly) * lx;
    s->w[2] = ly * (1 - lx);
    s->w[3] = ly * lx;
}

static int op_roialign(struct ml_kctx *k)
{
    const struct ml_tensor *x, *rois, *bi;
    struct ml_tensor *y;
    const char *mode = ml_attr_str(k, "mode", "avg"),
               *ctm = ml_attr_str(k, "coordinate_transformation_mode",
                                  k->opset < 16 ? "output_half_pixel" : "half_pixel");
    int64_t oh = ml_attr_int(k, "output_height", 1), ow = ml_attr_int(k, "output_width", 1);
    int64_t sr = ml_attr_int(k, "sampling_ratio", 0), dims[4], C, H, W, R;
    double scale = ml_attr_float(k, "spatial_scale", 1.0f), off;
    bool is_max = !strcmp(mode, "max"), half = !strcmp(ctm, "half_pixel");

    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    ML_REQUIRE_IN(k, 2);
    x = k->in[0];
    rois = k->in[1];
    bi = k->in[2];
    if ((!is_max && strcmp(mode, "avg")) || (!half && strcmp(ctm, "output_half_pixel")))
        return ml_kerr(k, AG_EINVAL, "unknown mode or coordinate_transformation_mode");
    if (x->ndim != 4 || rois->ndim != 2 || rois->dims[1] != 4 || bi->ndim != 1 ||
        bi->dims[0] != rois->dims[0] || !ml_is_float(x->dtype) || !ml_is_float(rois->dtype) ||
        !ml_is_int(bi->dtype))
        return ml_kerr(k, AG_EINVAL, "needs X (N, C, H, W), rois (R, 4) and batch_indices (R)");
    if (oh < 1 || ow < 1 || oh > (1 << 16) || ow > (1 << 16) || sr < 0 || sr > 1024)
        return ml_kerr(k, AG_EINVAL, "output size or sampling_ratio out of range");
    C = x->dims[1];
    H = x->dims[2];
    W = x->dims[3];
    R = rois->dims[0];
    if (H < 1 || W < 1)
        return ml_kerr(k, AG_EINVAL, "X has an empty image");
    dims[0] = R;
    dims[1] = C;
    dims[2] = oh;
    dims[3] = ow;
    y = ml_out(k, 0, x->dtype, 4, dims);
    if (!y)
        return k->e->code;
    off = half ? 0.5 : 0.0;
    for (int64_t r = 0; r < R; r++) {
        int64_t b = ml_get_i64(bi, r);
        double x1 = ml_get_f64(rois, r * 4) * scale - off, y1 = ml_get_f64(rois, r * 4 + 1) * scale - off;
        double x2 = ml_get_f64(rois, r * 4 + 2) * scale - off, y2 = ml_get_f64(rois, r * 4 + 3) * scale - off;
        double rw = x2 - x1, rh = y2 - y1, bw, bh;
        int64_t gh, gw;
        if (b < 0 || b >= x->dims[0])
            return ml_kerr(k, AG_EINVAL, "batch index %" PRId64 " is out of range", b);
        if (!(rw == rw && rh == rh && fabs(rw) < 1e9 && fabs(rh) < 1e9 && fabs(x1) < 1e9 &&
              fabs(y1) < 1e9))
            return ml_kerr(k, AG_EINVAL, "region %" PRId64 " is not finite or too large", r);
        if (!half) {
            rw = MAX(rw, 1.0);
            rh = MAX(rh, 1.0);
        }
        bh = rh / (double)oh;
        bw = rw / (double)ow;
        gh = sr > 0 ? sr : MAX(1, MIN(1024, ml_f2i(ceil(rh / (double)oh))));
        gw = sr > 0 ? sr : MAX(1, MIN(1024, ml_f2i(ceil(rw / (double)ow))));
        for (int64_t c = 0; c < C; c++) {
            int64_t plane = (b * C + c) * H * W;
            for (int64_t ph = 0; ph < oh; ph++)
                for (int64_t pw = 0; pw < ow; pw++) {
                    double acc = 0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y1 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x1 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            struct roi_sample s;
                            roi_bilinear(H, W, yy, xx, &s);
                            for (int q = 0; q < 4; q++) {
                                double v = s.w[q] * ml_get_f64(x, plane + s.o[q]);
                                if (!is_max)
                                    acc += v;
                                else if (first || v > acc)
                                    acc = v;
                                first = false;
                            }
                        }
                    }
                    ml_set_f64(y, ((r * C + c) * oh + ph) * ow + pw,
                               is_max ? acc : acc / (double)(gh * gw));
                }
        }
    }
    return 0;
}

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_pool[] = {
    {"RoiAlign", "", op_roialign, H},
    {"MaxPool", "", op_maxpool, H},           {"AveragePool", "", op_avgpool, H},
    {"LpPool", "", op_lppool, H},             {"GlobalMaxPool", "", op_gmaxpool, H},
    {"GlobalAveragePool", "", op_gavgpool, H}, {"GlobalLpPool", "", op_glppool, H},
    {"MaxUnpool", "", op_maxunpool, H},       {NULL, NULL, NULL, 0},
};
