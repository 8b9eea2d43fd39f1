/* ops_loss.c - NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

/* NLL over log-probabilities lp [N, C, d...] (as doubles), target [N, d...].
 * Writes output 0 in dtype `dt`. */
static int nll(struct ml_kctx *k, const double *lp, const struct ml_tensor *x,
               const struct ml_tensor *target, const struct ml_tensor *weight, int dt)
{
    const char *red = ml_attr_str(k, "reduction", "mean");
    int r = !strcmp(red, "none") ? 0 : !strcmp(red, "sum") ? 1 : !strcmp(red, "mean") ? 2 : -1;
    const Onnx__AttributeProto *ig = ml_attr(k, "ignore_index");
    int64_t N = x->dims[0], C = x->dims[1], D = 1, dims[ML_MAX_DIMS];
    struct ml_tensor *o;
    double sum = 0, wsum = 0;

    if (r < 0)
        return ml_kerr(k, AG_EINVAL, "unknown reduction");
    for (int i = 2; i < x->ndim; i++)
        D *= x->dims[i];
    if (target->n != N * D)
        return ml_kerr(k, AG_EINVAL, "target shape does not match the input");
    if (weight && weight->n != C)
        return ml_kerr(k, AG_EINVAL, "weight must have one value per class");
    if (r == 0)
        o = ml_out(k, 0, dt, target->ndim, target->dims);
    else
        o = ml_out(k, 0, dt, 0, dims);
    if (!o)
        return k->e->code;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t t = ml_get_i64(target, n * D + d);
            double w, l;
            if (ig && t == ig->i) {
                l = 0;
                w = 0;
            } else {
                if (t < 0 || t >= C)
                    return ml_kerr(k, AG_EINVAL, "target %" PRId64 " is out of range", t);
                w = weight ? ml_get_f64(weight, t) : 1;
                l = -lp[(n * C + t) * D + d] * w;
            }
            if (r == 0)
                ml_set_f64(o, n * D + d, l);
            sum += l;
            wsum += w;
        }
    if (r == 1)
        ml_set_f64(o, 0, sum);
    else if (r == 2)
        ml_set_f64(o, 0, wsum != 0 ? sum / wsum : (sum == 0 ? 0 : NAN));
    return 0;
}

static int op_nll(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    double *lp;
    int rc;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    if (x->ndim < 2)
        return ml_kerr(k, AG_EINVAL, "input must have rank 2 or more");
    lp = malloc(sizeof(double) * (size_t)MAX(x->n, 1));
    if (!lp)
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    for (int64_t i = 0; i < x->n; i++)
        lp[i] = ml_get_f64(x, i);
    rc = nll(k, lp, x, k->in[1], k->nin > 2 ? k->in[2] : NULL, x->dtype);
    free(lp);
    return rc;
}

static int op_sce(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    double *lp;
    int64_t N, C, D = 1;
    int rc;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    if (x->ndim < 2)
        return ml_kerr(k, AG_EINVAL, "scores must have rank 2 or more");
    N = x->dims[0];
    C = x->dims[1];
    for (int i = 2; i < x->ndim; i++)
        D *= x->dims[i];
    lp = malloc(sizeof(double) * (size_t)MAX(x->n, 1));
    if (!lp)
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    /* log_softmax over the class axis. */
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            double mx = -INFINITY, s = 0;
            for (int64_t c = 0; c < C; c++)
                mx = fmax(mx, ml_get_f64(x, (n * C + c) * D + d));
            for (int64_t c = 0; c < C; c++)
                s += exp(ml_get_f64(x, (n * C + c) * D + d) - mx);
            for (int64_t c = 0; c < C; c++)
                lp[(n * C + c) * D + d] = ml_get_f64(x, (n * C + c) * D + d) - mx - log(s);
        }
    rc = nll(k, lp, x, k->in[1], k->nin > 2 ? k->in[2] : NULL, x->dtype);
    if (!rc && k->nout > 1 && k->out[1]) {
        struct ml_tensor *o = ml_out_like(k, 1, x->dtype, x);
        if (!o)
            rc = k->e->code;
        else
            for (int64_t i = 0; i < x->n; i++)
                ml_set_f64(o, i, lp[i]);
    }
    free(lp);
    return rc;
}

const struct ml_op ml_ops_loss[] = {
    {"NegativeLogLikelihoodLoss", "", op_nll, ML_K_HALF_VIA_FLOAT},
    {"SoftmaxCrossEntropyLoss", "", op_sce, ML_K_HALF_VIA_FLOAT},
    {NULL, NULL, NULL, 0},
};
