/* ops_resize.c - Resize and Upsample: nearest, (multi)linear and cubic with every coordinate mode. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

#define TAPS 4

struct taps {
    int n;
    int64_t idx[TAPS];
    double w[TAPS];
    bool outside;  /* tf_crop_and_resize: use the extrapolation value */
};

enum { M_NEAREST, M_LINEAR, M_CUBIC };

/* lout is the unrounded output length (scale * input length), as the ONNX reference uses. */
static double source_coord(const char *ct, double x, double s, int64_t lin, double lout,
                           double roi_s, double roi_e)
{
    if (!strcmp(ct, "tf_half_pixel_for_nn"))
        return (x + 0.5) / s;
    if (!strcmp(ct, "asymmetric"))
        return x / s;
    if (!strcmp(ct, "align_corners"))
        return lout == 1 ? 0 : x * (double)(lin - 1) / (lout - 1);
    if (!strcmp(ct, "pytorch_half_pixel"))
        return lout > 1 ? (x + 0.5) / s - 0.5 : 0;
    if (!strcmp(ct, "tf_crop_and_resize"))
        return lout > 1 ? roi_s * (double)(lin - 1) + x * (roi_e - roi_s) * (double)(lin - 1) /
                                                          (lout - 1)
                        : 0.5 * (roi_s + roi_e) * (double)(lin - 1);
    if (!strcmp(ct, "half_pixel_symmetric")) {
        double adj = floor(lout) / lout, center = (double)lin / 2;
        return center * (1 - adj) + (x + 0.5) / s - 0.5;
    }
    return (x + 0.5) / s - 0.5; /* half_pixel */
}

static int64_t nearest(const char *nm, double x)
{
    if (!strcmp(nm, "floor"))
        return ml_f2i(floor(x));
    if (!strcmp(nm, "ceil"))
        return ml_f2i(ceil(x));
    if (!strcmp(nm, "round_prefer_ceil"))
        return ml_f2i(floor(x + 0.5));
    /* round_prefer_floor */
    return x == floor(x) + 0.5 ? ml_f2i(floor(x)) : ml_f2i(round(x));
}

static void cubic_coeffs(double r, double A, double *c)
{
    c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    c[2] = ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1;
    c[3] = ((A * (2 - r) - 5 * A) * (2 - r) + 8 * A) * (2 - r) - 4 * A;
}

static void make_taps(struct taps *t, int mode, double x, int64_t lin, const char *nm, double A,
                      bool exclude, bool tf, double roi_lo)
{
    UNUSED(roi_lo);
    memset(t, 0, sizeof(*t));
    if (tf && (x < 0 || x > (double)(lin - 1))) {
        t->outside = true;
        t->n = 1;
        t->w[0] = 1;
        return;
    }
    if (mode == M_NEAREST) {
        int64_t i = nearest(nm, x);
        t->n = 1;
        t->idx[0] = MAX(0, MIN(i, lin - 1));
        t->w[0] = 1;
    } else if (mode == M_LINEAR) {
        double xc = x;
        if (xc < 0)
            xc = 0;
        if (xc > (double)(lin - 1))
            xc = (double)(lin - 1);
        int64_t i0 = ml_f2i(floor(xc));
        double r = xc - (double)i0;
        t->n = 2;
        t->idx[0] = MAX(0, MIN(i0, lin - 1));
        t->idx[1] = MAX(0, MIN(i0 + 1, lin - 1));
        t->w[0] = 1 - r;
        t->w[1] = r;
    } else {
        int64_t i0 = ml_f2i(floor(x));
        double r = x - (double)i0, c[4], sum = 0;
        cubic_coeffs(r, A, c);
        t->n = 4;
        for (int j = 0; j < 4; j++) {
            int64_t i = i0 - 1 + j;
            if (exclude && (i < 0 || i >= lin))
                c[j] = 0;
            t->idx[j] = MAX(0, MIN(i, lin - 1));
            sum += c[j];
        }
        for (int j = 0; j < 4; j++)
            t->w[j] = exclude && sum != 0 ? c[j] / sum : c[j];
    }
}

/* Resizes x into output 0 with per-dim output sizes and scales. */
static int resize_core(struct ml_kctx *k, const struct ml_tensor *x, const int64_t *odims,
                       const double *scales, const double *roi, int mode, bool upsample)
{
    const char *ct = upsample ? "asymmetric"
                              : ml_attr_str(k, "coordinate_transformation_mode", "half_pixel");
    char ctb[64], nmb[64];
    const char *nm;
    double A = ml_attr_float(k, "cubic_coeff_a", -0.75f);
    bool exclude = ml_attr_int(k, "exclude_outside", 0);
    double extrap = ml_attr_float(k, "extrapolation_value", 0);
    struct taps *tap[ML_MAX_DIMS] = {0};
    struct ml_tensor *o;
    int nd = x->ndim, rc = 0;
    int64_t xs[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0};

    snprintf(ctb, sizeof(ctb), "%s", ct);
    ct = ctb;
    snprintf(nmb, sizeof(nmb), "%s",
             upsample ? "floor" : ml_attr_str(k, "nearest_mode", "round_prefer_floor"));
    nm = nmb;
    o = ml_out(k, 0, x->dtype, nd, odims);
    if (!o)
        return k->e->code;
    for (int d = 0; d < nd; d++) {
        if (x->dims[d] == 0 && odims[d]) {
            rc = ml_kerr(k, AG_EINVAL, "cannot resize an empty dimension");
            goto out;
        }
        tap[d] = calloc((size_t)MAX(odims[d], 1), sizeof(struct taps));
        if (!tap[d]) {
            rc = ml_kerr(k, AG_ENOMEM, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < odims[d]; i++) {
            bool ident = odims[d] == x->dims[d] && scales[d] == 1 &&
                         strcmp(ct, "tf_crop_and_resize");
            if (ident) {
                tap[d][i].n = 1;
                tap[d][i].idx[0] = i;
                tap[d][i].w[0] = 1;
                continue;
            }
            double xo = source_coord(ct, (double)i, scales[d], x->dims[d],
                                     scales[d] * (double)x->dims[d],
                                     roi ? roi[d] : 0, roi ? roi[d + nd] : 1);
            make_taps(&tap[d][i], mode, xo, x->dims[d], nm, A, exclude,
                      !strcmp(ct, "tf_crop_and_resize"), 0);
        }
    }
    ml_strides(nd, x->dims, xs);
    for (int64_t i = 0; i < o->n; i++) {
        int64_t t[ML_MAX_DIMS] = {0};
        double acc = 0;
        bool outside = false;
        for (int d = 0; d < nd; d++)
            outside |= tap[d][idx[d]].outside;
        if (outside) {
            ml_set_f64(o, i, extrap);
        } else {
            for (;;) {
                double w = 1;
                int64_t off = 0;
                for (int d = 0; d < nd; d++) {
                    const struct taps *tp = &tap[d][idx[d]];
                    w *= tp->w[t[d]];
                    off += tp->idx[t[d]] * xs[d];
                }
                if (w != 0)
                    acc += w * ml_get_f64(x, off);
                int d = nd - 1;
                for (; d >= 0; d--) {
                    if (++t[d] < tap[d][idx[d]].n)
                        break;
                    t[d] = 0;
                }
                if (d < 0)
                    break;
            }
            if (ml_is_int(o->dtype))
                acc = nearbyint(acc);
            ml_set_f64(o, i, acc);
        }
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < odims[d])
                break;
            idx[d] = 0;
        }
    }
out:
    for (int d = 0; d < nd; d++)
        free(tap[d]);
    return rc;
}

static int parse_mode(const char *m)
{
    if (!strcmp(m, "nearest"))
        return M_NEAREST;
    if (!strcmp(m, "linear") || !strcmp(m, "bilinear"))
        return M_LINEAR;
    if (!strcmp(m, "cubic"))
        return M_CUBIC;
    return -1;
}

static int op_resize(struct ml_kctx *k)
{
    const struct ml_tensor *x, *roi_t = NULL, *sc = NULL, *sz = NULL;
    int64_t odims[ML_MAX_DIMS], axes[ML_MAX_DIMS];
    double scales[ML_MAX_DIMS], roi[2 * ML_MAX_DIMS], *roip = NULL;
    int mode = parse_mode(ml_attr_str(k, "mode", "nearest")), nd, na;
    size_t nax;
    const int64_t *ax = ml_attr_ints(k, "axes", &nax);
    const char *policy = ml_attr_str(k, "keep_aspect_ratio_policy", "stretch");
    char pol[32];

    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    nd = x->ndim;
    snprintf(pol, sizeof(pol), "%s", policy);
    if (mode < 0)
        return ml_kerr(k, AG_EINVAL, "unknown mode");
    if (ml_attr_int(k, "antialias", 0))
        return ml_kerr(k, AG_EUNPROCESSABLE, "antialiased resize is not supported");
    if (k->opset < 11) {
        sc = k->nin > 1 ? k->in[1] : NULL;
    } else {
        roi_t = k->nin > 1 ? k->in[1] : NULL;
        sc = k->nin > 2 ? k->in[2] : NULL;
        sz = k->nin > 3 ? k->in[3] : NULL;
    }
    if (sc && sc->n == 0)
        sc = NULL;
    if (sz && sz->n == 0)
        sz = NULL;
    if (!sc == !sz)
        return ml_kerr(k, AG_EINVAL, "exactly one of scales and sizes must be given");
    na = ax ? (int)nax : nd;
    if (na > nd)
        return ml_kerr(k, AG_EINVAL, "too many axes");
    for (int i = 0; i < na; i++) {
        axes[i] = ax ? ml_axis(ax[i], nd) : i;
        if (axes[i] < 0)
            return ml_kerr(k, AG_EINVAL, "axis out of range");
    }
    for (int d = 0; d < nd; d++) {
        odims[d] = x->dims[d];
        scales[d] = 1;
        roi[d] = 0;
        roi[d + nd] = 1;
    }
    if (roi_t && roi_t->n == 2 * na) {
        for (int i = 0; i < na; i++) {
            roi[axes[i]] = ml_get_f64(roi_t, i);
            roi[axes[i] + nd] = ml_get_f64(roi_t, i + na);
        }
        roip = roi;
    }
    if (sc) {
        if (sc->n != na)
            return ml_kerr(k, AG_EINVAL, "scales must have one entry per axis");
        for (int i = 0; i < na; i++) {
            double s = ml_get_f64(sc, i);
            if (!(s > 0) || s * (double)x->dims[axes[i]] > 1e9)
                return ml_kerr(k, AG_EINVAL, "scale must be positive and sane");
            scales[axes[i]] = s;
            odims[axes[i]] = ml_f2i(floor((double)x->dims[axes[i]] * s));
        }
    } else {
        double s_all = strcmp(pol, "not_larger") ? 0 : INFINITY;
        if (sz->n != na)
            return ml_kerr(k, AG_EINVAL, "sizes must have one entry per axis");
        for (int i = 0; i < na; i++) {
            int64_t v = ml_get_i64(sz, i);
            if (v < 0 || v > ((int64_t)1 << 30))
                return ml_kerr(k, AG_EINVAL, "size out of range");
            double s = x->dims[axes[i]] ? (double)v / (double)x->dims[axes[i]] : 1;
            if (!strcmp(pol, "not_larger"))
                s_all = fmin(s_all, s);
            else if (!strcmp(pol, "not_smaller"))
                s_all = fmax(s_all, s);
            odims[axes[i]] = v;
            scales[axes[i]] = s;
        }
        if (strcmp(pol, "stretch"))
            for (int i = 0; i < na; i++) {
                scales[axes[i]] = s_all;
                odims[axes[i]] = ml_f2i(round(s_all * (double)x->dims[axes[i]]));
            }
    }
    return resize_core(k, x, odims, scales, roip, mode, false);
}

static int op_upsample(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    int64_t odims[ML_MAX_DIMS];
    double scales[ML_MAX_DIMS];
    int mode = parse_mode(ml_attr_str(k, "mode", "nearest"));
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (mode < 0 || mode == M_CUBIC)
        return ml_kerr(k, AG_EINVAL, "mode must be nearest or linear");
    if (k->opset >= 9) {
        ML_REQUIRE_IN(k, 1);
        if (k->in[1]->n != x->ndim)
            return ml_kerr(k, AG_EINVAL, "scales must have one entry per dimension");
        for (int d = 0; d < x->ndim; d++)
            scales[d] = ml_get_f64(k->in[1], d);
    } else {
        size_t n;
        const float *s = ml_attr_floats(k, "scales", &n);
        if ((int)n != x->ndim)
            return ml_kerr(k, AG_EINVAL, "scales must have one entry per dimension");
        for (int d = 0; d < x->ndim; d++)
            scales[d] = s[d];
    }
    for (int d = 0; d < x->ndim; d++) {
        if (!(scales[d] > 0) || scales[d] * (double)x->dims[d] > 1e9)
            return ml_kerr(k, AG_EINVAL, "scale must be positive and sane");
        odims[d] = ml_f2i(floor((double)x->dims[d] * scales[d]));
    }
    /* Upsample is Resize with asymmetric coordinates and nearest rounding down. */
    return resize_core(k, x, odims, scales, NULL, mode, true);
}

/* ---- GridSample (2-D) ---- */

static double reflect_coord(double x, double lo, double hi)
{
    double span = hi - lo;
    if (span <= 0)
        return 0;
    if (x < lo) {
        double d = lo - x;
        int64_t flips = (int64_t)(d / span);
        double r = d - (double)flips * span;
        return flips % 2 ? hi - r : lo + r;
    }
    if (x > hi) {
        double d = x - hi;
        int64_t flips = (int64_t)(d / span);
        double r = d - (double)flips * span;
        return flips % 2 ? lo + r : hi - r;
    }
    return x;
}

struct gs {
    const struct ml_tensor *x;
    int64_t H, W, base;
    int pad; /* 0 zeros, 1 border, 2 reflection */
};

static double gs_pixel(const struct gs *g, int64_t h, int64_t w)
{
    if (g->pad == 0) {
        if (h < 0 || h >= g->H || w < 0 || w >= g->W)
            return 0;
    } else {
        h = MAX(0, MIN(h, g->H - 1));
        w = MAX(0, MIN(w, g->W - 1));
    }
    return ml_get_f64(g->x, g->base + h * g->W + w);
}

static int op_grid_sample(struct ml_kctx *k)
{
    const struct ml_tensor *x, *grid;
    struct ml_tensor *y;
    char mode[16], padm[16];
    bool align = ml_attr_int(k, "align_corners", 0);
    int64_t N, C, Ho, Wo, dims[4];
    struct gs g;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    grid = k->in[1];
    snprintf(mode, sizeof(mode), "%s", ml_attr_str(k, "mode", "bilinear"));
    snprintf(padm, sizeof(padm), "%s", ml_attr_str(k, "padding_mode", "zeros"));
    if (x->ndim != 4 || grid->ndim != 4 || grid->dims[3] != 2 || grid->dims[0] != x->dims[0])
        return ml_kerr(k, AG_EUNPROCESSABLE, "only 2-D grid sampling is supported");
    g.pad = !strcmp(padm, "border") ? 1 : !strcmp(padm, "reflection") ? 2 : 0;
    N = x->dims[0];
    C = x->dims[1];
    g.H = x->dims[2];
    g.W = x->dims[3];
    Ho = grid->dims[1];
    Wo = grid->dims[2];
    dims[0] = N;
    dims[1] = C;
    dims[2] = Ho;
    dims[3] = Wo;
    y = ml_out(k, 0, x->dtype, 4, dims);
    if (!y)
        return k->e->code;
    g.x = x;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            g.base = (n * C + c) * g.H * g.W;
            for (int64_t i = 0; i < Ho * Wo; i++) {
                double gx = ml_get_f64(grid, (n * Ho * Wo + i) * 2),
                       gy = ml_get_f64(grid, (n * Ho * Wo + i) * 2 + 1), v = 0;
                double px = align ? (gx + 1) / 2 * (double)(g.W - 1) : ((gx + 1) * (double)g.W - 1) / 2;
                double py = align ? (gy + 1) / 2 * (double)(g.H - 1) : ((gy + 1) * (double)g.H - 1) / 2;
                if (g.pad == 1) {
                    px = fmin(fmax(px, 0), (double)(g.W - 1));
                    py = fmin(fmax(py, 0), (double)(g.H - 1));
                } else if (g.pad == 2) {
                    px = align ? reflect_coord(px, 0, (double)(g.W - 1)) : reflect_coord(px, -0.5, (double)g.W - 0.5);
                    py = align ? reflect_coord(py, 0, (double)(g.H - 1)) : reflect_coord(py, -0.5, (double)g.H - 0.5);
                }
                if (!strcmp(mode, "nearest")) {
                    v = gs_pixel(&g, ml_f2i(nearbyint(py)), ml_f2i(nearbyint(px)));
                } else if (!strcmp(mode, "bicubic") || !strcmp(mode, "cubic")) {
                    int64_t x0 = ml_f2i(floor(px)), y0 = ml_f2i(floor(py));
                    double cx[4], cy[4];
                    cubic_coeffs(px - (double)x0, -0.75, cx);
                    cubic_coeffs(py - (double)y0, -0.75, cy);
                    for (int a = 0; a < 4; a++)
                        for (int b = 0; b < 4; b++)
                            v += cy[a] * cx[b] * gs_pixel(&g, y0 - 1 + a, x0 - 1 + b);
                } else {
                    int64_t x0 = ml_f2i(floor(px)), y0 = ml_f2i(floor(py));
                    double fx = px - (double)x0, fy = py - (double)y0;
                    v = (1 - fy) * ((1 - fx) * gs_pixel(&g, y0, x0) + fx * gs_pixel(&g, y0, x0 + 1)) +
                        fy * ((1 - fx) * gs_pixel(&g, y0 + 1, x0) + fx * gs_pixel(&g, y0 + 1, x0 + 1));
                }
                ml_set_f64(y, (n * C + c) * Ho * Wo + i, v);
            }
        }
    return 0;
}

const struct ml_op ml_ops_resize[] = {
    {"GridSample", "", op_grid_sample, ML_K_HALF_VIA_FLOAT},
    {"Resize", "", op_resize, ML_K_HALF_VIA_FLOAT},
    {"Upsample", "", op_upsample, ML_K_HALF_VIA_FLOAT},
    {NULL, NULL, NULL, 0},
};
