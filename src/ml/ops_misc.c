/* ops_misc.c - constants, casts, Identity, Dropout, Shape/Size, Range, EyeLike, Trilu, CumSum. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

#define ML_RANGE_MAX ((int64_t)1 << 31)

/* Copies src into output i (deep copy, strings included). */
static int out_copy(struct ml_kctx *k, int i, const struct ml_tensor *src)
{
    struct ml_tensor *o = ml_out_like(k, i, src->dtype, src);
    if (!o)
        return k->e->code;
    return ml_cast_into(o, src, false) ? ml_kerr(k, AG_ENOMEM, "out of memory") : 0;
}

static int op_identity(struct ml_kctx *k)
{
    ML_REQUIRE_IN(k, 0);
    if (ml_is_value(k->in[0]->dtype)) /* a sequence or an optional */
        return ml_value_out(k, 0, k->in[0]);
    return out_copy(k, 0, k->in[0]);
}

static int op_constant(struct ml_kctx *k)
{
    const Onnx__NodeProto *p = k->node->p;
    struct ml_tensor t;
    int rc = 0;

    ml_tensor_init(&t);
    if (p->n_attribute != 1)
        return ml_kerr(k, AG_EINVAL, "needs exactly one value attribute");
    {
        const Onnx__AttributeProto *a = p->attribute[0];
        const char *n = a->name ? a->name : "";
        int64_t one = 1, cnt;
        if (!strcmp(n, "value") && a->t) {
            rc = ml_tensor_from_proto(&t, a->t, k->m->dir, k->m->opts.max_model_bytes, k->e);
        } else if (!strcmp(n, "value_float")) {
            if (!(rc = ml_tensor_alloc(&t, ML_FLOAT, 0, NULL, k->e)))
                ((float *)t.data)[0] = a->f;
        } else if (!strcmp(n, "value_int")) {
            if (!(rc = ml_tensor_alloc(&t, ML_INT64, 0, NULL, k->e)))
                ((int64_t *)t.data)[0] = a->i;
        } else if (!strcmp(n, "value_floats")) {
            cnt = (int64_t)a->n_floats;
            if (!(rc = ml_tensor_alloc(&t, ML_FLOAT, 1, &cnt, k->e)) && cnt)
                memcpy(t.data, a->floats, sizeof(float) * (size_t)cnt);
        } else if (!strcmp(n, "value_ints")) {
            cnt = (int64_t)a->n_ints;
            if (!(rc = ml_tensor_alloc(&t, ML_INT64, 1, &cnt, k->e)) && cnt)
                memcpy(t.data, a->ints, sizeof(int64_t) * (size_t)cnt);
        } else if (!strcmp(n, "value_string")) {
            if (!(rc = ml_tensor_alloc(&t, ML_STRING, 0, NULL, k->e)))
                ((char **)t.data)[0] = strndup((const char *)a->s.data, a->s.len);
        } else if (!strcmp(n, "value_strings")) {
            cnt = (int64_t)a->n_strings;
            if (!(rc = ml_tensor_alloc(&t, ML_STRING, 1, &cnt, k->e)))
                for (int64_t i = 0; i < cnt; i++)
                    ((char **)t.data)[i] = strndup((const char *)a->strings[i].data,
                                                   a->strings[i].len);
        } else {
            UNUSED(one);
            return ml_kerr(k, AG_EUNPROCESSABLE, "attribute \"%s\" is not supported", n);
        }
    }
    if (!rc)
        rc = out_copy(k, 0, &t);
    ml_tensor_release(&t);
    return rc;
}

static int op_cast(struct ml_kctx *k)
{
    int to = (int)ml_attr_int(k, "to", 0);
    struct ml_tensor *o;
    ML_REQUIRE_IN(k, 0);
    if (to <= 0 || to >= ML_DTYPE_COUNT_ || to == ML_COMPLEX64 || to == ML_COMPLEX128)
        return ml_kerr(k, AG_EUNPROCESSABLE, "cast to type %d is not supported", to);
    o = ml_out_like(k, 0, to, k->in[0]);
    if (!o)
        return k->e->code;
    if (ml_cast_into(o, k->in[0], ml_attr_int(k, "saturate", 1)))
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    return 0;
}

static int op_castlike(struct ml_kctx *k)
{
    struct ml_tensor *o;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    o = ml_out_like(k, 0, k->in[1]->dtype, k->in[0]);
    if (!o)
        return k->e->code;
    if (ml_cast_into(o, k->in[0], ml_attr_int(k, "saturate", 1)))
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    return 0;
}

/* Dropout at inference: y = x, mask all true. Training mode with a non-zero
 * ratio draws random numbers that no reference can reproduce: refused. */
static int op_dropout(struct ml_kctx *k)
{
    double ratio = k->opset < 12 ? ml_attr_float(k, "ratio", 0.5f)
                                 : (k->nin > 1 && k->in[1] ? ml_first_f64(k->in[1]) : 0.5);
    bool training = k->opset < 7 ? ml_attr_int(k, "is_test", 0) == 0 && false
                                 : (k->nin > 2 && k->in[2] && ml_first_i64(k->in[2]));
    int rc;
    ML_REQUIRE_IN(k, 0);
    if (training && ratio != 0)
        return ml_kerr(k, AG_EUNPROCESSABLE, "training-mode dropout (random) is not supported");
    if ((rc = out_copy(k, 0, k->in[0])))
        return rc;
    if (k->nout > 1 && k->out[1]) {
        struct ml_tensor *m = ml_out_like(k, 1, ML_BOOL, k->in[0]);
        if (!m)
            return k->e->code;
        memset(m->data, 1, (size_t)m->n);
    }
    return 0;
}

static int op_shape(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    int64_t start, end, n;
    struct ml_tensor *o;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    start = ml_attr_int(k, "start", 0);
    end = ml_attr_int(k, "end", x->ndim);
    if (start < 0)
        start += x->ndim;
    if (end < 0)
        end += x->ndim;
    start = MAX(0, MIN(start, x->ndim));
    end = MAX(0, MIN(end, x->ndim));
    n = MAX(0, end - start);
    o = ml_out(k, 0, ML_INT64, 1, &n);
    if (!o)
        return k->e->code;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)o->data)[i] = x->dims[start + i];
    return 0;
}

static int op_size(struct ml_kctx *k)
{
    struct ml_tensor *o;
    ML_REQUIRE_IN(k, 0);
    o = ml_out(k, 0, ML_INT64, 0, NULL);
    if (!o)
        return k->e->code;
    ((int64_t *)o->data)[0] = k->in[0]->n;
    return 0;
}

static int op_constant_of_shape(struct ml_kctx *k)
{
    int64_t dims[ML_MAX_DIMS];
    const Onnx__AttributeProto *a = ml_attr(k, "value");
    struct ml_tensor v, *o;
    int rc = 0;
    size_t es;

    ML_REQUIRE_IN(k, 0);
    if (k->in[0]->n > ML_MAX_DIMS)
        return ml_kerr(k, AG_EUNPROCESSABLE, "rank above %d", ML_MAX_DIMS);
    ml_read_ints(k->in[0], dims, ML_MAX_DIMS);
    ml_tensor_init(&v);
    if (a && a->t) {
        if ((rc = ml_tensor_from_proto(&v, a->t, NULL, (size_t)1 << 20, k->e)))
            return rc;
        if (v.n != 1) {
            ml_tensor_release(&v);
            return ml_kerr(k, AG_EINVAL, "value must hold one element");
        }
    } else if ((rc = ml_tensor_alloc(&v, ML_FLOAT, 0, NULL, k->e))) {
        return rc;
    }
    o = ml_out(k, 0, v.dtype, (int)k->in[0]->n, dims);
    if (!o) {
        ml_tensor_release(&v);
        return k->e->code;
    }
    es = ml_dtype_size(v.dtype);
    for (int64_t i = 0; i < o->n; i++)
        memcpy((char *)o->data + (size_t)i * es, v.data, es);
    ml_tensor_release(&v);
    return 0;
}

static int op_range(struct ml_kctx *k)
{
    double s, l, d, cnt;
    int64_t n;
    struct ml_tensor *o;
    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    s = ml_first_f64(k->in[0]);
    l = ml_first_f64(k->in[1]);
    d = ml_first_f64(k->in[2]);
    if (d == 0)
        return ml_kerr(k, AG_EINVAL, "delta is zero");
    cnt = ceil((l - s) / d);
    if (!(cnt <= (double)ML_RANGE_MAX))
        return ml_kerr(k, AG_ETOOBIG, "range has more than %" PRId64 " elements", ML_RANGE_MAX);
    n = cnt > 0 ? (int64_t)cnt : 0;
    o = ml_out(k, 0, k->in[0]->dtype, 1, &n);
    if (!o)
        return k->e->code;
    if (ml_is_int(o->dtype)) {
        int64_t si = ml_first_i64(k->in[0]), di = ml_first_i64(k->in[2]);
        for (int64_t i = 0; i < n; i++)
            ml_set_i64(o, i, (int64_t)((uint64_t)si + (uint64_t)i * (uint64_t)di));
    } else if (o->dtype == ML_FLOAT) {
        /* Accumulate in float like numpy's arange for float32. */
        float fs = (float)s, fd = (float)d;
        for (int64_t i = 0; i < n; i++)
            ((float *)o->data)[i] = fs + (float)i * fd;
    } else {
        for (int64_t i = 0; i < n; i++)
            ml_set_f64(o, i, s + (double)i * d);
    }
    return 0;
}

static int op_eyelike(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t kk = ml_attr_int(k, "k", 0);
    int dt;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    dt = (int)ml_attr_int(k, "dtype", x->dtype);
    if (x->ndim != 2 || kk > ((int64_t)1 << 40) || kk < -((int64_t)1 << 40))
        return ml_kerr(k, AG_EINVAL, "input must be 2-D and k in range");
    o = ml_out_like(k, 0, dt, x);
    if (!o)
        return k->e->code;
    memset(o->data, 0, (size_t)o->n * ml_dtype_size(dt));
    for (int64_t i = 0; i < x->dims[0]; i++) {
        int64_t j = i + kk;
        if (j >= 0 && j < x->dims[1])
            ml_set_f64(o, i * x->dims[1] + j, 1);
    }
    return 0;
}

static int op_trilu(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t kk = 0, rows, cols, mats;
    bool upper = ml_attr_int(k, "upper", 1);
    size_t es;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (x->ndim < 2)
        return ml_kerr(k, AG_EINVAL, "input must have rank 2 or more");
    if (k->nin > 1 && k->in[1] && k->in[1]->n)
        kk = ml_first_i64(k->in[1]);
    o = ml_out_like(k, 0, x->dtype, x);
    if (!o)
        return k->e->code;
    es = ml_dtype_size(x->dtype);
    rows = x->dims[x->ndim - 2];
    cols = x->dims[x->ndim - 1];
    mats = (rows * cols) != 0 ? x->n / (rows * cols) : 0;
    memcpy(o->data, x->data, (size_t)x->n * es);
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                bool keep = upper ? j - i >= kk : j - i <= kk;
                if (!keep)
                    memset((char *)o->data + (size_t)((m * rows + i) * cols + j) * es, 0, es);
            }
    return 0;
}

static int op_cumsum(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int axis;
    int64_t outer = 1, inner = 1, len;
    bool excl = ml_attr_int(k, "exclusive", 0), rev = ml_attr_int(k, "reverse", 0);
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    axis = ml_axis(ml_first_i64(k->in[1]), x->ndim);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    o = ml_out_like(k, 0, x->dtype, x);
    if (!o)
        return k->e->code;
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    len = x->dims[axis];
    for (int64_t a = 0; a < outer; a++)
        for (int64_t b = 0; b < inner; b++) {
            double acc = 0;
            int64_t iacc = 0;
            for (int64_t t = 0; t < len; t++) {
                int64_t i = rev ? len - 1 - t : t, off = (a * len + i) * inner + b;
                if (ml_is_float(x->dtype)) {
                    double v = ml_get_f64(x, off);
                    if (!excl)
                        acc += v;
                    ml_set_f64(o, off, acc);
                    if (excl)
                        acc += v;
                } else {
                    int64_t v = ml_get_i64(x, off);
                    if (!excl)
                        iacc += v;
                    ml_set_i64(o, off, iacc);
                    if (excl)
                        iacc += v;
                }
            }
        }
    return 0;
}

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_misc[] = {
    {"Identity", "", op_identity, ML_K_VALUES},   {"Constant", "", op_constant, 0},
    {"Cast", "", op_cast, 0},           {"CastLike", "", op_castlike, 0},
    {"Dropout", "", op_dropout, 0},     {"Shape", "", op_shape, 0},
    {"Size", "", op_size, 0},           {"ConstantOfShape", "", op_constant_of_shape, 0},
    {"Range", "", op_range, 0},         {"EyeLike", "", op_eyelike, 0},
    {"Trilu", "", op_trilu, 0},         {"CumSum", "", op_cumsum, H},
    {NULL, NULL, NULL, 0},
};
