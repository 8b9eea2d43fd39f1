/* ops_training.c - the optimizers of ai.onnx.preview.training: Adagrad, Adam and Momentum. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

#define TRAINING "ai.onnx.preview.training"

/* The shared layout: R (learning rate, scalar), T (step, int64 scalar), then
 * `groups` runs of n tensors each (X..., G..., and the optimizer's state);
 * outputs are the updated X and state tensors, one run each. Checks the
 * layout and shapes; returns n, or a negative error code after recording it. */
static int layout(struct ml_kctx *k, int groups, int out_groups)
{
    int n;
    if (k->nin < 2 + groups || (k->nin - 2) % groups)
        return ml_kerr(k, AG_EINVAL, "expected R, T and %d groups of tensors", groups);
    n = (k->nin - 2) / groups;
    if (k->nout != n * out_groups)
        return ml_kerr(k, AG_EINVAL, "expected %d outputs, not %d", n * out_groups, k->nout);
    for (int i = 0; i < k->nin; i++)
        ML_REQUIRE_IN(k, i);
    if (k->in[0]->n != 1 || !ml_is_float(k->in[0]->dtype))
        return ml_kerr(k, AG_EINVAL, "R must be one floating-point value");
    if (k->in[1]->n != 1 || k->in[1]->dtype != ML_INT64)
        return ml_kerr(k, AG_EINVAL, "T must be one int64 value");
    for (int j = 0; j < n; j++) {
        const struct ml_tensor *x = k->in[2 + j];
        if (x->dtype != ML_FLOAT && x->dtype != ML_DOUBLE)
            return ml_kerr(k, AG_EINVAL, "X must be float32 or float64");
        for (int g = 1; g < groups; g++) {
            const struct ml_tensor *t = k->in[2 + g * n + j];
            if (t->dtype != x->dtype || t->ndim != x->ndim ||
                memcmp(t->dims, x->dims, sizeof(int64_t) * (size_t)x->ndim))
                return ml_kerr(k, AG_EINVAL, "tensor group %d, entry %d differs from X in type "
                               "or shape", g, j);
        }
    }
    return n;
}

/* Allocates output run `g` entry `j` like X_j; NULL after an error. */
static struct ml_tensor *out_like_x(struct ml_kctx *k, int n, int g, int j)
{
    return ml_out_like(k, g * n + j, k->in[2 + j]->dtype, k->in[2 + j]);
}

/* Adagrad: r' = r / (1 + t * decay); g' = lambda * x + g; h' = h + g'^2;
 * x' = x - r' * g' / (sqrt(h') + epsilon). */
static int op_adagrad(struct ml_kctx *k)
{
    int n = layout(k, 3, 2);
    double r = ml_first_f64(k->in[0]), t = (double)ml_first_i64(k->in[1]);
    double decay = ml_attr_float(k, "decay_factor", 0), eps = ml_attr_float(k, "epsilon", 0);
    double lambda = ml_attr_float(k, "norm_coefficient", 0), ra = r / (1 + t * decay);
    if (n < 0)
        return n;
    for (int j = 0; j < n; j++) {
        const struct ml_tensor *x = k->in[2 + j], *g = k->in[2 + n + j], *h = k->in[2 + 2 * n + j];
        struct ml_tensor *xo = out_like_x(k, n, 0, j), *ho = xo ? out_like_x(k, n, 1, j) : NULL;
        if (!ho)
            return k->e->code;
        for (int64_t i = 0; i < x->n; i++) {
            double xv = ml_get_f64(x, i), gr = lambda * xv + ml_get_f64(g, i);
            double hn = ml_get_f64(h, i) + gr * gr;
            ml_set_f64(ho, i, hn);
            ml_set_f64(xo, i, xv - ra * gr / (sqrt(hn) + eps));
        }
    }
    return 0;
}

/* Adam: g' = lambda * x + g; v' = alpha v + (1 - alpha) g'; h' = beta h +
 * (1 - beta) g'^2; with bias correction from the second step on, x' =
 * (1 - lambda_post) (x - r' v' / (sqrt(h') + epsilon)). */
static int op_adam(struct ml_kctx *k)
{
    int n = layout(k, 4, 3);
    double r = ml_first_f64(k->in[0]), t = (double)ml_first_i64(k->in[1]);
    double alpha = ml_attr_float(k, "alpha", 0.9f), beta = ml_attr_float(k, "beta", 0.999f);
    double eps = ml_attr_float(k, "epsilon", 0), lambda = ml_attr_float(k, "norm_coefficient", 0);
    double post = ml_attr_float(k, "norm_coefficient_post", 0), ra = r;
    if (n < 0)
        return n;
    if (t > 0)
        ra = r * sqrt(1 - pow(beta, t)) / (1 - pow(alpha, t));
    for (int j = 0; j < n; j++) {
        const struct ml_tensor *x = k->in[2 + j], *g = k->in[2 + n + j], *v = k->in[2 + 2 * n + j],
                               *h = k->in[2 + 3 * n + j];
        struct ml_tensor *xo = out_like_x(k, n, 0, j), *vo = xo ? out_like_x(k, n, 1, j) : NULL,
                         *ho = vo ? out_like_x(k, n, 2, j) : NULL;
        if (!ho)
            return k->e->code;
        for (int64_t i = 0; i < x->n; i++) {
            double xv = ml_get_f64(x, i), gr = lambda * xv + ml_get_f64(g, i);
            double vn = alpha * ml_get_f64(v, i) + (1 - alpha) * gr;
            double hn = beta * ml_get_f64(h, i) + (1 - beta) * gr * gr;
            ml_set_f64(vo, i, vn);
            ml_set_f64(ho, i, hn);
            ml_set_f64(xo, i, (1 - post) * (xv - ra * (vn / (sqrt(hn) + eps))));
        }
    }
    return 0;
}

/* Momentum: g' = lambda * x + g; v' = alpha v + beta' g' (beta' = 1 at the
 * first step); x' = x - r v' (standard) or x - r (g' + alpha v') (nesterov). */
static int op_momentum(struct ml_kctx *k)
{
    int n = layout(k, 3, 2);
    double r = ml_first_f64(k->in[0]);
    int64_t t = ml_first_i64(k->in[1]);
    const char *mode = ml_attr_str(k, "mode", "standard");
    double alpha = ml_attr_float(k, "alpha", 0), beta = ml_attr_float(k, "beta", 0);
    double lambda = ml_attr_float(k, "norm_coefficient", 0);
    bool nesterov;
    if (n < 0)
        return n;
    if (!ml_attr(k, "alpha") || !ml_attr(k, "beta") || !ml_attr(k, "mode") ||
        !ml_attr(k, "norm_coefficient"))
        return ml_kerr(k, AG_EINVAL, "alpha, beta, mode and norm_coefficient are required");
    if (strcmp(mode, "standard") && strcmp(mode, "nesterov"))
        return ml_kerr(k, AG_EINVAL, "mode must be \"standard\" or \"nesterov\", not \"%s\"", mode);
    nesterov = !strcmp(mode, "nesterov");
    if (t <= 0)
        beta = 1;
    for (int j = 0; j < n; j++) {
        const struct ml_tensor *x = k->in[2 + j], *g = k->in[2 + n + j], *v = k->in[2 + 2 * n + j];
        struct ml_tensor *xo = out_like_x(k, n, 0, j), *vo = xo ? out_like_x(k, n, 1, j) : NULL;
        if (!vo)
            return k->e->code;
        for (int64_t i = 0; i < x->n; i++) {
            double xv = ml_get_f64(x, i), gr = lambda * xv + ml_get_f64(g, i);
            double vn = alpha * ml_get_f64(v, i) + beta * gr;
            ml_set_f64(vo, i, vn);
            ml_set_f64(xo, i, nesterov ? xv - r * (gr + alpha * vn) : xv - r * vn);
        }
    }
    return 0;
}

const struct ml_op ml_ops_training[] = {
    {"Adagrad", TRAINING, op_adagrad, 0},
    {"Adam", TRAINING, op_adam, 0},
    {"Momentum", TRAINING, op_momentum, 0},
    {NULL, NULL, NULL, 0},
};
