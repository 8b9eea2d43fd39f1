/* ops_norm.c - BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization,
 * LRN, MeanVarianceNormalization, LpNormalization. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

/* Training mode: normalize with the batch statistics and return the updated
 * running mean and (population) variance, as the reference does. */
static int batchnorm_training(struct ml_kctx *k)
{
    const struct ml_tensor *x = k->in[0], *sc = k->in[1], *b = k->in[2], *mean = k->in[3],
                           *var = k->in[4];
    double eps = ml_attr_float(k, "epsilon", 1e-5f), mom = ml_attr_float(k, "momentum", 0.9f);
    int64_t C, plane = 1, N;
    struct ml_tensor *y, *rm = NULL, *rv = NULL;
    if (x->ndim < 2 || k->opset < 14)
        return ml_kerr(k, AG_EUNPROCESSABLE, "training-mode batch normalization before opset 14 "
                       "is not supported");
    C = x->dims[1];
    N = x->dims[0];
    if (sc->n != C || b->n != C || mean->n != C || var->n != C)
        return ml_kerr(k, AG_EINVAL, "scale, bias, mean and var need %" PRId64 " values", C);
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y || (k->nout > 1 && k->out[1] && !(rm = ml_out_like(k, 1, mean->dtype, mean))) ||
        (k->nout > 2 && k->out[2] && !(rv = ml_out_like(k, 2, var->dtype, var))))
        return k->e->code;
    for (int64_t c = 0; c < C; c++) {
        double s = 0, ss = 0, cnt = (double)(N * plane), mu, v, inv;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < plane; i++)
                s += ml_get_f64(x, (n * C + c) * plane + i);
        mu = cnt ? s / cnt : 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < plane; i++) {
                double d = ml_get_f64(x, (n * C + c) * plane + i) - mu;
                ss += d * d;
            }
        v = cnt ? ss / cnt : 0;
        inv = 1 / sqrt(v + eps);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < plane; i++) {
                int64_t at = (n * C + c) * plane + i;
                ml_set_f64(y, at, (ml_get_f64(x, at) - mu) * inv * ml_get_f64(sc, c) + ml_get_f64(b, c));
            }
        if (rm)
            ml_set_f64(rm, c, ml_get_f64(mean, c) * mom + mu * (1 - mom));
        if (rv)
            ml_set_f64(rv, c, ml_get_f64(var, c) * mom + v * (1 - mom));
    }
    return 0;
}

static int op_batchnorm(struct ml_kctx *k)
{
    const struct ml_tensor *x, *sc, *b, *mean, *var;
    struct ml_tensor *y;
    double eps = ml_attr_float(k, "epsilon", 1e-5f);
    int64_t C, plane = 1;
    for (int i = 0; i < 5; i++)
        ML_REQUIRE_IN(k, i);
    x = k->in[0];
    sc = k->in[1];
    b = k->in[2];
    mean = k->in[3];
    var = k->in[4];
    if (ml_attr_int(k, "training_mode", 0) || (k->nout > 1 && k->out[1] && k->opset >= 9))
        return batchnorm_training(k);
    if (x->ndim < 2)
        return ml_kerr(k, AG_EINVAL, "input must have rank 2 or more");
    C = x->dims[1];
    if (sc->n != C || b->n != C || mean->n != C || var->n != C)
        return ml_kerr(k, AG_EINVAL, "scale, bias, mean and var need %" PRId64 " values", C);
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y)
        return k->e->code;
    for (int64_t n = 0; n < x->dims[0]; n++)
        for (int64_t c = 0; c < C; c++) {
            double s = ml_get_f64(sc, c) / sqrt(ml_get_f64(var, c) + eps);
            double sh = ml_get_f64(b, c) - ml_get_f64(mean, c) * s;
            int64_t base = (n * C + c) * plane;
            if (x->dtype == ML_FLOAT) {
                const float *xs = (const float *)x->data + base;
                float *ys = (float *)y->data + base, fs = (float)s, fh = (float)sh;
                for (int64_t i = 0; i < plane; i++)
                    ys[i] = xs[i] * fs + fh;
            } else {
                for (int64_t i = 0; i < plane; i++)
                    ml_set_f64(y, base + i, ml_get_f64(x, base + i) * s + sh);
            }
        }
    return 0;
}

/* Normalizes `groups` contiguous blocks of `len` elements: (x - mean) / sqrt(var + eps). Writes
 * the per-block mean and inverse std-dev when asked. */
static void normalize_blocks(const struct ml_tensor *x, struct ml_tensor *y, int64_t groups,
                             int64_t len, double eps, double *means, double *invstd)
{
    for (int64_t g = 0; g < groups; g++) {
        double s = 0, ss = 0, mu, inv;
        int64_t base = g * len;
        for (int64_t i = 0; i < len; i++)
            s += ml_get_f64(x, base + i);
        mu = len ? s / (double)len : 0;
        for (int64_t i = 0; i < len; i++) {
            double d = ml_get_f64(x, base + i) - mu;
            ss += d * d;
        }
        inv = 1.0 / sqrt((len ? ss / (double)len : 0) + eps);
        for (int64_t i = 0; i < len; i++)
            ml_set_f64(y, base + i, (ml_get_f64(x, base + i) - mu) * inv);
        if (means)
            means[g] = mu;
        if (invstd)
            invstd[g] = inv;
    }
}

static int op_instancenorm(struct ml_kctx *k)
{
    const struct ml_tensor *x, *sc, *b;
    struct ml_tensor *y;
    int64_t C, plane = 1;
    double eps = ml_attr_float(k, "epsilon", 1e-5f);
    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    x = k->in[0];
    sc = k->in[1];
    b = k->in[2];
    if (x->ndim < 3)
        return ml_kerr(k, AG_EINVAL, "input must have rank 3 or more");
    C = x->dims[1];
    if (sc->n != C || b->n != C)
        return ml_kerr(k, AG_EINVAL, "scale and bias need one value per channel");
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y)
        return k->e->code;
    normalize_blocks(x, y, x->dims[0] * C, plane, eps, NULL, NULL);
    for (int64_t g = 0; g < x->dims[0] * C; g++) {
        double s = ml_get_f64(sc, g % C), h = ml_get_f64(b, g % C);
        for (int64_t i = 0; i < plane; i++)
            ml_set_f64(y, g * plane + i, ml_get_f64(y, g * plane + i) * s + h);
    }
    return 0;
}

struct ln_job {
    const float *x, *scale, *bias;
    float *y, *mean, *inv;
    int64_t len, sst, bst; /* scale/bias length for broadcasting (len or 1) */
    float eps;
};

static void ln_rows(void *arg, int64_t lo, int64_t hi)
{
    const struct ln_job *j = arg;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * j->len;
        float *y = j->y + r * j->len;
        double s = 0, ss = 0;
        for (int64_t i = 0; i < j->len; i++)
            s += x[i];
        float mu = (float)(s / (double)j->len);
        for (int64_t i = 0; i < j->len; i++) {
            float d = x[i] - mu;
            ss += (double)d * d;
        }
        float inv = (float)(1.0 / sqrt(ss / (double)j->len + j->eps));
        for (int64_t i = 0; i < j->len; i++) {
            float v = (x[i] - mu) * inv * j->scale[j->sst == 1 ? 0 : i];
            y[i] = j->bias ? v + j->bias[j->bst == 1 ? 0 : i] : v;
        }
        if (j->mean)
            j->mean[r] = mu;
        if (j->inv)
            j->inv[r] = inv;
    }
}

static int op_layernorm(struct ml_kctx *k)
{
    const struct ml_tensor *x, *sc, *b;
    struct ml_tensor *y, *mo = NULL, *io = NULL;
    int axis;
    int64_t rows = 1, len = 1, sdims[ML_MAX_DIMS];
    struct ln_job j;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    sc = k->in[1];
    b = k->nin > 2 ? k->in[2] : NULL;
    if (x->dtype != ML_FLOAT || sc->dtype != ML_FLOAT || (b && b->dtype != ML_FLOAT))
        return ml_kerr(k, AG_EUNPROCESSABLE, "only float is supported");
    axis = ml_axis(ml_attr_int(k, "axis", -1), x->ndim);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    for (int i = 0; i < x->ndim; i++) {
        *(i < axis ? &rows : &len) *= x->dims[i];
        sdims[i] = i < axis ? x->dims[i] : 1;
    }
    if ((sc->n != len && sc->n != 1) || (b && b->n != len && b->n != 1))
        return ml_kerr(k, AG_EINVAL, "scale and bias must cover the normalized dimensions");
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y)
        return k->e->code;
    if (k->nout > 1 && k->out[1] && !(mo = ml_out(k, 1, ML_FLOAT, x->ndim, sdims)))
        return k->e->code;
    if (k->nout > 2 && k->out[2] && !(io = ml_out(k, 2, ML_FLOAT, x->ndim, sdims)))
        return k->e->code;
    j = (struct ln_job){x->data, sc->data, b ? b->data : NULL, y->data,
                        mo ? mo->data : NULL, io ? io->data : NULL, len, sc->n, b ? b->n : 0,
                        ml_attr_float(k, "epsilon", 1e-5f)};
    if (len)
        ml_parallel_for(k->m, rows, MAX(1, 8192 / MAX(len, 1)), ln_rows, &j);
    return 0;
}

static int op_groupnorm(struct ml_kctx *k)
{
    const struct ml_tensor *x, *sc, *b;
    struct ml_tensor *y;
    int64_t G = ml_attr_int(k, "num_groups", 0), C, plane = 1;
    double eps = ml_attr_float(k, "epsilon", 1e-5f);
    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    x = k->in[0];
    sc = k->in[1];
    b = k->in[2];
    if (x->ndim < 3 || G < 1 || x->dims[1] % G)
        return ml_kerr(k, AG_EINVAL, "num_groups must divide the channels");
    C = x->dims[1];
    if ((sc->n != C && sc->n != G) || b->n != sc->n)
        return ml_kerr(k, AG_EINVAL, "scale and bias need one value per channel or group");
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y)
        return k->e->code;
    normalize_blocks(x, y, x->dims[0] * G, C / G * plane, eps, NULL, NULL);
    /* Scale and bias per channel (opset 21) or per group (opset 18). */
    for (int64_t n = 0; n < x->dims[0]; n++)
        for (int64_t c = 0; c < C; c++) {
            int64_t si = sc->n == C ? c : c / (C / G);
            double s = ml_get_f64(sc, si), h = ml_get_f64(b, si);
            for (int64_t i = 0; i < plane; i++) {
                int64_t at = (n * C + c) * plane + i;
                ml_set_f64(y, at, ml_get_f64(y, at) * s + h);
            }
        }
    return 0;
}

static int op_lrn(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    double alpha = ml_attr_float(k, "alpha", 1e-4f), beta = ml_attr_float(k, "beta", 0.75f),
           bias = ml_attr_float(k, "bias", 1.0f);
    int64_t size = ml_attr_int(k, "size", 0), C, plane = 1;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (x->ndim < 3 || size < 1 || size > (1 << 24))
        return ml_kerr(k, AG_EINVAL, "needs rank >= 3 and a positive size");
    C = x->dims[1];
    for (int i = 2; i < x->ndim; i++)
        plane *= x->dims[i];
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y)
        return k->e->code;
    for (int64_t n = 0; n < x->dims[0]; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < plane; i++) {
                double s = 0;
                int64_t lo = MAX(0, c - (size - 1) / 2), hi = MIN(C - 1, c + (size - 1) - (size - 1) / 2);
                for (int64_t cc = lo; cc <= hi; cc++) {
                    double v = ml_get_f64(x, (n * C + cc) * plane + i);
                    s += v * v;
                }
                int64_t at = (n * C + c) * plane + i;
                ml_set_f64(y, at, ml_get_f64(x, at) / pow(bias + alpha / (double)size * s, beta));
            }
    return 0;
}

static int op_mvn(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    size_t na;
    const int64_t *axes = ml_attr_ints(k, "axes", &na);
    bool red[ML_MAX_DIMS] = {false};
    int64_t cnt = 1, ost[ML_MAX_DIMS], kd[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0}, nout = 1;
    double *mean, *sq;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    for (size_t i = 0; i < (axes ? na : 3); i++) {
        int a = ml_axis(axes ? axes[i] : (int64_t[]){0, 2, 3}[i], x->ndim);
        if (a < 0)
            return ml_kerr(k, AG_EINVAL, "axis out of range");
        red[a] = true;
    }
    for (int d = 0; d < x->ndim; d++) {
        kd[d] = red[d] ? 1 : x->dims[d];
        nout *= kd[d];
        if (red[d])
            cnt *= x->dims[d];
    }
    ml_strides(x->ndim, kd, ost);
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y)
        return k->e->code;
    mean = calloc((size_t)nout, sizeof(double));
    sq = calloc((size_t)nout, sizeof(double));
    if (!mean || !sq) {
        free(mean);
        free(sq);
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    }
    for (int pass = 0; pass < 2; pass++) {
        memset(idx, 0, sizeof(idx));
        for (int64_t i = 0; i < x->n; i++) {
            int64_t o = 0;
            for (int d = 0; d < x->ndim; d++)
                o += red[d] ? 0 : idx[d] * ost[d];
            double v = ml_get_f64(x, i);
            if (pass == 0) {
                mean[o] += v;
                sq[o] += v * v;
            } else {
                double mu = mean[o] / (double)cnt, var = sq[o] / (double)cnt - mu * mu;
                ml_set_f64(y, i, (v - mu) / (sqrt(var) + 1e-9));
            }
            for (int d = x->ndim - 1; d >= 0; d--) {
                if (++idx[d] < x->dims[d])
                    break;
                idx[d] = 0;
            }
        }
    }
    free(mean);
    free(sq);
    return 0;
}

static int op_lpnorm(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int axis;
    int64_t p = ml_attr_int(k, "p", 2), outer = 1, len, inner = 1;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    axis = ml_axis(ml_attr_int(k, "axis", -1), x->ndim);
    if (axis < 0 || (p != 1 && p != 2))
        return ml_kerr(k, AG_EINVAL, "axis out of range or p not 1 or 2");
    for (int i = 0; i < x->ndim; i++)
        if (i < axis)
            outer *= x->dims[i];
        else if (i > axis)
            inner *= x->dims[i];
    len = x->dims[axis];
    y = ml_out_like(k, 0, x->dtype, x);
    if (!y)
        return k->e->code;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            double s = 0;
            for (int64_t i = 0; i < len; i++) {
                double v = ml_get_f64(x, (o * len + i) * inner + in);
                s += p == 1 ? fabs(v) : v * v;
            }
            s = p == 1 ? s : sqrt(s);
            for (int64_t i = 0; i < len; i++) {
                int64_t at = (o * len + i) * inner + in;
                ml_set_f64(y, at, s == 0 ? 0 : ml_get_f64(x, at) / s);
            }
        }
    return 0;
}

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_norm[] = {
    {"BatchNormalization", "", op_batchnorm, H},
    {"InstanceNormalization", "", op_instancenorm, H},
    {"LayerNormalization", "", op_layernorm, H},
    {"GroupNormalization", "", op_groupnorm, H},
    {"LRN", "", op_lrn, H},
    {"MeanVarianceNormalization", "", op_mvn, H},
    {"LpNormalization", "", op_lpnorm, H},
    {NULL, NULL, NULL, 0},
};
