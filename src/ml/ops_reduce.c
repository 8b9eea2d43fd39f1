/* ops_reduce.c - reductions (ReduceSum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp,
 * SumSquare) and ArgMax/ArgMin. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

enum red { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ };

/* Works out which axes are reduced; returns 0, or an error. `*noop` is set
 * when the op must return its input unchanged. */
static int reduced_axes(struct ml_kctx *k, bool axes_input, bool *red, bool *noop)
{
    const struct ml_tensor *x = k->in[0];
    int64_t axes[ML_MAX_DIMS];
    int na = 0;
    *noop = false;
    if (axes_input) {
        if (k->nin > 1 && k->in[1]) {
            if (k->in[1]->n > ML_MAX_DIMS)
                return ml_kerr(k, AG_EINVAL, "too many axes");
            na = (int)ml_read_ints(k->in[1], axes, ML_MAX_DIMS);
        }
    } else {
        size_t n;
        const int64_t *a = ml_attr_ints(k, "axes", &n);
        if (n > ML_MAX_DIMS)
            return ml_kerr(k, AG_EINVAL, "too many axes");
        na = (int)n;
        if (n)
            memcpy(axes, a, n * sizeof(int64_t));
    }
    for (int i = 0; i < x->ndim; i++)
        red[i] = na == 0;
    if (na == 0 && axes_input && ml_attr_int(k, "noop_with_empty_axes", 0))
        *noop = true;
    for (int i = 0; i < na; i++) {
        int a = ml_axis(axes[i], x->ndim);
        if (a < 0)
            return ml_kerr(k, AG_EINVAL, "axis %" PRId64 " out of range", axes[i]);
        red[a] = true;
    }
    return 0;
}

struct red_job {
    const struct ml_tensor *x;
    double *acc;
    int op;
    int64_t outer, len, inner;
};

static double red_init(int op)
{
    switch (op) {
    case R_MAX: return -INFINITY;
    case R_MIN: return INFINITY;
    case R_PROD: return 1;
    default: return 0;
    }
}

static inline double red_step(int op, double acc, double v)
{
    switch (op) {
    case R_MAX: return isnan(v) || v > acc ? v : acc;
    case R_MIN: return isnan(v) || v < acc ? v : acc;
    case R_PROD: return acc * v;
    case R_L1: return acc + fabs(v);
    case R_L2:
    case R_SUMSQ: return acc + v * v;
    default: return acc + v;
    }
}

/* Fast path: reduced axes form one contiguous block (outer, len, inner). */
static void red_block(void *arg, int64_t lo, int64_t hi)
{
    const struct red_job *j = arg;
    for (int64_t o = lo; o < hi; o++) {
        for (int64_t i = 0; i < j->inner; i++) {
            double acc = red_init(j->op);
            if (j->op == R_LOGSUMEXP) {
                double mx = -INFINITY, s = 0;
                for (int64_t r = 0; r < j->len; r++)
                    mx = fmax(mx, ml_get_f64(j->x, (o * j->len + r) * j->inner + i));
                for (int64_t r = 0; r < j->len; r++)
                    s += exp(ml_get_f64(j->x, (o * j->len + r) * j->inner + i) - mx);
                acc = isinf(mx) ? mx : mx + log(s);
            } else if (j->x->dtype == ML_FLOAT && j->inner == 1 && j->op == R_SUM) {
                const float *p = (const float *)j->x->data + o * j->len;
                for (int64_t r = 0; r < j->len; r++)
                    acc += p[r];
            } else {
                for (int64_t r = 0; r < j->len; r++)
                    acc = red_step(j->op, acc, ml_get_f64(j->x, (o * j->len + r) * j->inner + i));
            }
            j->acc[o * j->inner + i] = acc;
        }
    }
}

static int reduce(struct ml_kctx *k, int op, int axes_input_since)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    bool red[ML_MAX_DIMS], noop, keep = ml_attr_int(k, "keepdims", 1);
    int64_t odims[ML_MAX_DIMS], kdims[ML_MAX_DIMS], count = 1;
    int nd = 0, rc, first = -1, last = -1;
    double *acc;
    struct red_job j;

    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (!ml_is_float(x->dtype) && !ml_is_int(x->dtype) && x->dtype != ML_BOOL)
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported", ml_dtype_name(x->dtype));
    if ((rc = reduced_axes(k, k->opset >= axes_input_since, red, &noop)))
        return rc;
    if (noop) {
        y = ml_out_like(k, 0, x->dtype, x);
        if (!y)
            return k->e->code;
        memcpy(y->data, x->data, (size_t)x->n * ml_dtype_size(x->dtype));
        return 0;
    }
    for (int i = 0; i < x->ndim; i++) {
        kdims[i] = red[i] ? 1 : x->dims[i];
        if (red[i]) {
            count *= x->dims[i];
            if (first < 0)
                first = i;
            last = i;
        }
        if (!red[i] || keep)
            odims[nd++] = kdims[i];
    }
    y = ml_out(k, 0, x->dtype, nd, odims);
    if (!y)
        return k->e->code;
    acc = ml_scratch(k, sizeof(double) * (size_t)MAX(y->n, 1));
    if (!acc)
        return k->e->code;
    bool contiguous = first >= 0;
    for (int i = first; i >= 0 && i <= last; i++)
        contiguous &= red[i];
    j.x = x;
    j.acc = acc;
    j.op = op;
    if (first < 0) {
        /* Nothing reduced (rank 0): the identity over one element. */
        for (int64_t i = 0; i < y->n; i++)
            acc[i] = red_step(op, red_init(op), ml_get_f64(x, i));
    } else if (contiguous) {
        j.outer = 1;
        j.len = 1;
        j.inner = 1;
        for (int i = 0; i < x->ndim; i++)
            *(i < first ? &j.outer : i <= last ? &j.len : &j.inner) *= x->dims[i];
        ml_parallel_for(k->m, j.outer, 1, red_block, &j);
    } else {
        int64_t ost[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0};
        ml_strides(x->ndim, kdims, ost);
        for (int i = 0; i < x->ndim; i++)
            if (red[i])
                ost[i] = 0;
        for (int64_t i = 0; i < y->n; i++)
            acc[i] = op == R_LOGSUMEXP ? 0 : red_init(op);
        for (int64_t i = 0; i < x->n; i++) {
            int64_t o = 0;
            for (int d = 0; d < x->ndim; d++)
                o += idx[d] * ost[d];
            double v = ml_get_f64(x, i);
            acc[o] = op == R_LOGSUMEXP ? acc[o] + exp(v) : red_step(op, acc[o], v);
            for (int d = x->ndim - 1; d >= 0; d--) {
                if (++idx[d] < x->dims[d])
                    break;
                idx[d] = 0;
            }
        }
        if (op == R_LOGSUMEXP)
            for (int64_t i = 0; i < y->n; i++)
                acc[i] = log(acc[i]);
    }
    for (int64_t i = 0; i < y->n; i++) {
        double v = acc[i];
        if (op == R_MEAN)
            v = count ? v / (double)count : NAN;
        else if (op == R_L2)
            v = sqrt(v);
        else if (op == R_LOGSUM)
            v = log(v);
        if (ml_is_int(y->dtype) && (op == R_MAX || op == R_MIN) && count == 0)
            v = op == R_MAX ? (double)(ml_is_signed(y->dtype) ? INT64_MIN : 0) : 0;
        if (ml_is_int(y->dtype) && op == R_MEAN)
            v = trunc(v);
        ml_set_f64(y, i, v);
    }
    ml_scratch_free(k, acc, sizeof(double) * (size_t)MAX(y->n, 1));
    return 0;
}

static int op_rsum(struct ml_kctx *k) { return reduce(k, R_SUM, 13); }
static int op_rmean(struct ml_kctx *k) { return reduce(k, R_MEAN, 18); }
static int op_rmax(struct ml_kctx *k) { return reduce(k, R_MAX, 18); }
static int op_rmin(struct ml_kctx *k) { return reduce(k, R_MIN, 18); }
static int op_rprod(struct ml_kctx *k) { return reduce(k, R_PROD, 18); }
static int op_rl1(struct ml_kctx *k) { return reduce(k, R_L1, 18); }
static int op_rl2(struct ml_kctx *k) { return reduce(k, R_L2, 18); }
static int op_rlogsum(struct ml_kctx *k) { return reduce(k, R_LOGSUM, 18); }
static int op_rlogsumexp(struct ml_kctx *k) { return reduce(k, R_LOGSUMEXP, 18); }
static int op_rsumsq(struct ml_kctx *k) { return reduce(k, R_SUMSQ, 18); }

static int arg_extreme(struct ml_kctx *k, bool want_max)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int axis;
    bool keep = ml_attr_int(k, "keepdims", 1), lastidx = ml_attr_int(k, "select_last_index", 0);
    int64_t odims[ML_MAX_DIMS], outer = 1, inner = 1, len;
    int nd = 0;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    axis = ml_axis(ml_attr_int(k, "axis", 0), x->ndim);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    for (int i = 0; i < x->ndim; i++) {
        if (i != axis || keep)
            odims[nd++] = i == axis ? 1 : x->dims[i];
        if (i < axis)
            outer *= x->dims[i];
        else if (i > axis)
            inner *= x->dims[i];
    }
    len = x->dims[axis];
    if (len == 0)
        return ml_kerr(k, AG_EINVAL, "cannot take the arg-extreme of an empty axis");
    y = ml_out(k, 0, ML_INT64, nd, odims);
    if (!y)
        return k->e->code;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t best = 0;
            double bv = ml_get_f64(x, o * len * inner + i);
            for (int64_t r = 1; r < len; r++) {
                double v = ml_get_f64(x, (o * len + r) * inner + i);
                bool better = want_max ? (v > bv || (lastidx && v == bv))
                                       : (v < bv || (lastidx && v == bv));
                if (better) {
                    bv = v;
                    best = r;
                }
            }
            ((int64_t *)y->data)[o * inner + i] = best;
        }
    return 0;
}

static int op_argmax(struct ml_kctx *k) { return arg_extreme(k, true); }
static int op_argmin(struct ml_kctx *k) { return arg_extreme(k, false); }

const struct ml_op ml_ops_reduce[] = {
    {"ReduceSum", "", op_rsum, 0},         {"ReduceMean", "", op_rmean, 0},
    {"ReduceMax", "", op_rmax, 0},         {"ReduceMin", "", op_rmin, 0},
    {"ReduceProd", "", op_rprod, 0},       {"ReduceL1", "", op_rl1, 0},
    {"ReduceL2", "", op_rl2, 0},           {"ReduceLogSum", "", op_rlogsum, 0},
    {"ReduceLogSumExp", "", op_rlogsumexp, 0}, {"ReduceSumSquare", "", op_rsumsq, 0},
    {"ArgMax", "", op_argmax, 0},          {"ArgMin", "", op_argmin, 0},
    {NULL, NULL, NULL, 0},
};
