/* ops_activation.c - activation functions: Relu, Sigmoid, Tanh, Gelu, Clip, PRelu and friends. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

enum act {
    A_RELU, A_SIGMOID, A_TANH, A_LEAKY, A_ELU, A_SELU, A_CELU, A_HSIGMOID, A_HSWISH, A_SOFTPLUS,
    A_SOFTSIGN, A_THRELU, A_SHRINK, A_MISH, A_GELU, A_GELU_TANH, A_CLIP
};

struct act_job {
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int op;
    double a, b;  /* the op's parameters */
};

static inline double act_f(int op, double x, double a, double b)
{
    switch (op) {
    case A_RELU: return x > 0 ? x : 0;
    case A_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    case A_TANH: return tanh(x);
    case A_LEAKY: return x >= 0 ? x : a * x;
    case A_ELU: return x >= 0 ? x : a * (exp(x) - 1);
    case A_SELU: return x > 0 ? b * x : b * (a * exp(x) - a);
    case A_CELU: return fmax(0, x) + fmin(0, a * (exp(x / a) - 1));
    case A_HSIGMOID: return fmax(0, fmin(1, a * x + b));
    case A_HSWISH: return x * fmax(0, fmin(1, x / 6 + 0.5));
    case A_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
    case A_SOFTSIGN: return x / (1 + fabs(x));
    case A_THRELU: return x > a ? x : 0;
    case A_SHRINK: return x < -b ? x + a : (x > b ? x - a : 0);
    case A_MISH: return x * tanh(x > 30 ? x : log1p(exp(x)));
    case A_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case A_GELU_TANH:
        return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case A_CLIP: return isnan(x) ? x : fmin(fmax(x, a), b);
    default: return x;
    }
}

static void act_float(void *arg, int64_t lo, int64_t hi)
{
    const struct act_job *j = arg;
    const float *x = j->x->data;
    float *y = j->y->data;
    switch (j->op) {
    case A_RELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case A_SIGMOID:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] >= 0 ? 1 / (1 + expf(-x[i])) : expf(x[i]) / (1 + expf(x[i]));
        break;
    case A_TANH:
        for (int64_t i = lo; i < hi; i++)
            y[i] = tanhf(x[i]);
        break;
    case A_LEAKY: {
        float a = (float)j->a;
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] >= 0 ? x[i] : a * x[i];
        break;
    }
    case A_CLIP: {
        float a = (float)j->a, b = (float)j->b;
        for (int64_t i = lo; i < hi; i++)
            y[i] = isnan(x[i]) ? x[i] : (x[i] < a ? a : (x[i] > b ? b : x[i]));
        break;
    }
    default:
        for (int64_t i = lo; i < hi; i++)
            y[i] = (float)act_f(j->op, x[i], j->a, j->b);
        break;
    }
}

static void act_generic(void *arg, int64_t lo, int64_t hi)
{
    const struct act_job *j = arg;
    for (int64_t i = lo; i < hi; i++)
        ml_set_f64(j->y, i, act_f(j->op, ml_get_f64(j->x, i), j->a, j->b));
}

static int act(struct ml_kctx *k, int op, double a, double b)
{
    struct act_job j;
    ML_REQUIRE_IN(k, 0);
    if (!ml_is_float(k->in[0]->dtype) && !(op == A_RELU || op == A_CLIP || op == A_LEAKY))
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported",
                       ml_dtype_name(k->in[0]->dtype));
    if (!ml_is_float(k->in[0]->dtype) && !ml_is_int(k->in[0]->dtype))
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported",
                       ml_dtype_name(k->in[0]->dtype));
    j.x = k->in[0];
    j.y = ml_out_like(k, 0, k->in[0]->dtype, k->in[0]);
    if (!j.y)
        return k->e->code;
    j.op = op;
    j.a = a;
    j.b = b;
    ml_parallel_for(k->m, j.x->n, 16384, j.x->dtype == ML_FLOAT ? act_float : act_generic, &j);
    return 0;
}

static int op_relu(struct ml_kctx *k) { return act(k, A_RELU, 0, 0); }
static int op_sigmoid(struct ml_kctx *k) { return act(k, A_SIGMOID, 0, 0); }
static int op_tanh(struct ml_kctx *k) { return act(k, A_TANH, 0, 0); }
static int op_leaky(struct ml_kctx *k) { return act(k, A_LEAKY, ml_attr_float(k, "alpha", 0.01f), 0); }
static int op_elu(struct ml_kctx *k) { return act(k, A_ELU, ml_attr_float(k, "alpha", 1.0f), 0); }
static int op_celu(struct ml_kctx *k) { return act(k, A_CELU, ml_attr_float(k, "alpha", 1.0f), 0); }
static int op_softplus(struct ml_kctx *k) { return act(k, A_SOFTPLUS, 0, 0); }
static int op_softsign(struct ml_kctx *k) { return act(k, A_SOFTSIGN, 0, 0); }
static int op_hswish(struct ml_kctx *k) { return act(k, A_HSWISH, 0, 0); }
static int op_mish(struct ml_kctx *k) { return act(k, A_MISH, 0, 0); }

static int op_selu(struct ml_kctx *k)
{
    return act(k, A_SELU, ml_attr_float(k, "alpha", 1.67326319217681884765625f),
               ml_attr_float(k, "gamma", 1.05070102214813232421875f));
}

static int op_hsigmoid(struct ml_kctx *k)
{
    return act(k, A_HSIGMOID, ml_attr_float(k, "alpha", 0.2f), ml_attr_float(k, "beta", 0.5f));
}

static int op_threlu(struct ml_kctx *k)
{
    return act(k, A_THRELU, ml_attr_float(k, "alpha", 1.0f), 0);
}

static int op_shrink(struct ml_kctx *k)
{
    int rc;
    ML_REQUIRE_IN(k, 0);
    if (ml_is_int(k->in[0]->dtype)) {
        /* Integer Shrink: compute in double, results are exact for these ranges. */
        struct act_job j = {k->in[0], NULL, A_SHRINK, ml_attr_float(k, "bias", 0),
                            ml_attr_float(k, "lambd", 0.5f)};
        j.y = ml_out_like(k, 0, k->in[0]->dtype, k->in[0]);
        if (!j.y)
            return k->e->code;
        act_generic(&j, 0, j.x->n);
        return 0;
    }
    rc = act(k, A_SHRINK, ml_attr_float(k, "bias", 0), ml_attr_float(k, "lambd", 0.5f));
    return rc;
}

static int op_gelu(struct ml_kctx *k)
{
    const char *ap = ml_attr_str(k, "approximate", "none");
    return act(k, !strcmp(ap, "tanh") ? A_GELU_TANH : A_GELU, 0, 0);
}

/* Clip: bounds are attributes before opset 11, optional inputs after. */
static int op_clip(struct ml_kctx *k)
{
    double lo = -INFINITY, hi = INFINITY;
    ML_REQUIRE_IN(k, 0);
    if (k->opset < 11) {
        lo = ml_attr_float(k, "min", -INFINITY);
        hi = ml_attr_float(k, "max", INFINITY);
    } else {
        if (k->nin > 1 && k->in[1] && k->in[1]->n)
            lo = ml_first_f64(k->in[1]);
        if (k->nin > 2 && k->in[2] && k->in[2]->n)
            hi = ml_first_f64(k->in[2]);
    }
    if (ml_is_int(k->in[0]->dtype)) {
        const struct ml_tensor *x = k->in[0];
        struct ml_tensor *y = ml_out_like(k, 0, x->dtype, x);
        if (!y)
            return k->e->code;
        for (int64_t i = 0; i < x->n; i++) {
            int64_t v = ml_get_i64(x, i);
            if (k->nin > 1 && k->in[1] && k->in[1]->n && v < ml_first_i64(k->in[1]))
                v = ml_first_i64(k->in[1]);
            if (k->nin > 2 && k->in[2] && k->in[2]->n && v > ml_first_i64(k->in[2]))
                v = ml_first_i64(k->in[2]);
            ml_set_i64(y, i, v);
        }
        return 0;
    }
    return act(k, A_CLIP, lo, hi);
}

/* PRelu: y = x < 0 ? slope * x : x, slope broadcast to x (unidirectionally). */
static int op_prelu(struct ml_kctx *k)
{
    const struct ml_tensor *x, *s;
    struct ml_tensor *y, sview;
    int64_t st[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0}, dims[ML_MAX_DIMS];
    int nd;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    s = k->in[1];
    /* Before opset 7 a 1-D slope of C values applies per channel (axis 1),
     * as PyTorch's nn.PReLU exported it. */
    if (k->opset < 7 && s->ndim == 1 && x->ndim > 2 && s->dims[0] == x->dims[1]) {
        sview = *s;
        sview.borrowed = true;
        sview.ndim = x->ndim - 1;
        for (int i = 1; i < sview.ndim; i++)
            sview.dims[i] = 1;
        s = &sview;
    }
    if (ml_broadcast_shape(x->ndim, x->dims, s->ndim, s->dims, &nd, dims))
        return ml_kerr(k, AG_EINVAL, "slope does not broadcast to the input");
    y = ml_out(k, 0, x->dtype, nd, dims);
    if (!y)
        return k->e->code;
    {
        int64_t sx[ML_MAX_DIMS];
        ml_bcast_strides(s, nd, dims, st);
        ml_bcast_strides(x, nd, dims, sx);
        for (int64_t i = 0; i < y->n; i++) {
            int64_t os = 0, ox = 0;
            for (int d = 0; d < nd; d++) {
                os += idx[d] * st[d];
                ox += idx[d] * sx[d];
            }
            double v = ml_get_f64(x, ox);
            ml_set_f64(y, i, v < 0 ? v * ml_get_f64(s, os) : v);
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < dims[d])
                    break;
                idx[d] = 0;
            }
        }
    }
    return 0;
}

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_activation[] = {
    {"Relu", "", op_relu, H},          {"Sigmoid", "", op_sigmoid, H},
    {"Tanh", "", op_tanh, H},          {"LeakyRelu", "", op_leaky, H},
    {"Elu", "", op_elu, H},            {"Selu", "", op_selu, H},
    {"Celu", "", op_celu, H},          {"HardSigmoid", "", op_hsigmoid, H},
    {"HardSwish", "", op_hswish, H},   {"Softplus", "", op_softplus, H},
    {"Softsign", "", op_softsign, H},  {"ThresholdedRelu", "", op_threlu, H},
    {"Shrink", "", op_shrink, H},      {"Mish", "", op_mish, H},
    {"Gelu", "", op_gelu, H},          {"Clip", "", op_clip, H},
    {"PRelu", "", op_prelu, H},        {NULL, NULL, NULL, 0},
};
