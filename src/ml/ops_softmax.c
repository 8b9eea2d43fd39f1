/* ops_softmax.c - Softmax, LogSoftmax and Hardmax (both the pre-13 2-D coercion and the per-axis form). */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

enum { SM_SOFT, SM_LOG, SM_HARD };

struct sm_job {
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int64_t len, inner;
    int kind;
};

static void sm_float(void *arg, int64_t lo, int64_t hi)
{
    const struct sm_job *j = arg;
    const float *x = j->x->data;
    float *y = j->y->data;
    for (int64_t r = lo; r < hi; r++) {
        int64_t o = r / j->inner, in = r % j->inner, base = o * j->len * j->inner + in;
        float mx = -INFINITY;
        double s = 0;
        for (int64_t i = 0; i < j->len; i++)
            mx = fmaxf(mx, x[base + i * j->inner]);
        if (j->kind == SM_HARD) {
            int64_t at = -1;
            for (int64_t i = 0; i < j->len; i++) {
                y[base + i * j->inner] = 0;
                if (at < 0 && x[base + i * j->inner] == mx)
                    at = i;
            }
            if (at >= 0)
                y[base + at * j->inner] = 1;
            continue;
        }
        for (int64_t i = 0; i < j->len; i++) {
            float e = expf(x[base + i * j->inner] - mx);
            s += e;
            if (j->kind == SM_SOFT)
                y[base + i * j->inner] = e;
        }
        if (j->kind == SM_SOFT) {
            float inv = (float)(1.0 / s);
            for (int64_t i = 0; i < j->len; i++)
                y[base + i * j->inner] *= inv;
        } else {
            float ls = (float)log(s);
            for (int64_t i = 0; i < j->len; i++)
                y[base + i * j->inner] = x[base + i * j->inner] - mx - ls;
        }
    }
}

static void sm_double(void *arg, int64_t lo, int64_t hi)
{
    const struct sm_job *j = arg;
    const double *x = j->x->data;
    double *y = j->y->data;
    for (int64_t r = lo; r < hi; r++) {
        int64_t o = r / j->inner, in = r % j->inner, base = o * j->len * j->inner + in;
        double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < j->len; i++)
            mx = fmax(mx, x[base + i * j->inner]);
        if (j->kind == SM_HARD) {
            int64_t at = -1;
            for (int64_t i = 0; i < j->len; i++) {
                y[base + i * j->inner] = 0;
                if (at < 0 && x[base + i * j->inner] == mx)
                    at = i;
            }
            if (at >= 0)
                y[base + at * j->inner] = 1;
            continue;
        }
        for (int64_t i = 0; i < j->len; i++)
            s += exp(x[base + i * j->inner] - mx);
        for (int64_t i = 0; i < j->len; i++) {
            double v = x[base + i * j->inner] - mx;
            y[base + i * j->inner] = j->kind == SM_SOFT ? exp(v) / s : v - log(s);
        }
    }
}

static int softmax(struct ml_kctx *k, int kind)
{
    const struct ml_tensor *x;
    struct sm_job j;
    int axis;
    int64_t outer = 1;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (x->dtype != ML_FLOAT && x->dtype != ML_DOUBLE)
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported", ml_dtype_name(x->dtype));
    if (x->ndim == 0)
        return ml_kerr(k, AG_EINVAL, "input must have rank 1 or more");
    axis = ml_axis(ml_attr_int(k, "axis", k->opset < 13 ? 1 : -1), x->ndim);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    j.x = x;
    j.kind = kind;
    j.len = 1;
    j.inner = 1;
    if (k->opset < 13) {
        /* Coerced to 2-D: [prod(dims[:axis]), prod(dims[axis:])]. */
        for (int i = 0; i < x->ndim; i++)
            *(i < axis ? &outer : &j.len) *= x->dims[i];
    } else {
        for (int i = 0; i < x->ndim; i++)
            *(i < axis ? &outer : i == axis ? &j.len : &j.inner) *= x->dims[i];
    }
    j.y = ml_out_like(k, 0, x->dtype, x);
    if (!j.y)
        return k->e->code;
    if (j.len == 0)
        return 0;
    ml_parallel_for(k->m, outer * j.inner, MAX(1, 4096 / j.len),
                    x->dtype == ML_FLOAT ? sm_float : sm_double, &j);
    return 0;
}

static int op_softmax(struct ml_kctx *k) { return softmax(k, SM_SOFT); }
static int op_logsoftmax(struct ml_kctx *k) { return softmax(k, SM_LOG); }
static int op_hardmax(struct ml_kctx *k) { return softmax(k, SM_HARD); }

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_softmax[] = {
    {"Softmax", "", op_softmax, H},
    {"LogSoftmax", "", op_logsoftmax, H},
    {"Hardmax", "", op_hardmax, H},
    {NULL, NULL, NULL, 0},
};
