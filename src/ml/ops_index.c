/* ops_index.c - indexing ops: Gather, GatherElements, GatherND, Scatter(Elements/ND), OneHot,
 * NonZero, TopK, Compress, ReverseSequence, Unique. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

static void copy_elem(struct ml_tensor *o, int64_t oi, const struct ml_tensor *x, int64_t xi)
{
    size_t es = ml_dtype_size(x->dtype);
    if (x->dtype == ML_STRING) {
        char **d = o->data;
        free(d[oi]);
        d[oi] = strdup(((char *const *)x->data)[xi]);
    } else {
        memcpy((char *)o->data + (size_t)oi * es, (const char *)x->data + (size_t)xi * es, es);
    }
}

/* Normalizes a possibly negative index into [0, n); -1 if out of range. */
static int64_t norm_index(int64_t i, int64_t n)
{
    if (i < 0)
        i += n;
    return i < 0 || i >= n ? -1 : i;
}

static int op_gather(struct ml_kctx *k)
{
    const struct ml_tensor *x, *ind;
    struct ml_tensor *o;
    int axis, nd = 0;
    int64_t dims[ML_MAX_DIMS], outer = 1, inner = 1, len;
    size_t es;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    ind = k->in[1];
    axis = ml_axis(ml_attr_int(k, "axis", 0), x->ndim);
    if (axis < 0 || x->ndim + ind->ndim - 1 > ML_MAX_DIMS)
        return ml_kerr(k, AG_EINVAL, "axis out of range or result rank too high");
    for (int i = 0; i < axis; i++) {
        dims[nd++] = x->dims[i];
        outer *= x->dims[i];
    }
    for (int i = 0; i < ind->ndim; i++)
        dims[nd++] = ind->dims[i];
    for (int i = axis + 1; i < x->ndim; i++) {
        dims[nd++] = x->dims[i];
        inner *= x->dims[i];
    }
    len = x->dims[axis];
    o = ml_out(k, 0, x->dtype, nd, dims);
    if (!o)
        return k->e->code;
    if (x->dtype == ML_STRING)
        memset(o->data, 0, o->cap);
    es = ml_dtype_size(x->dtype);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t j = 0; j < ind->n; j++) {
            int64_t idx = norm_index(ml_get_i64(ind, j), len);
            if (idx < 0)
                return ml_kerr(k, AG_EINVAL, "index %" PRId64 " is out of range",
                               ml_get_i64(ind, j));
            if (x->dtype == ML_STRING) {
                for (int64_t b = 0; b < inner; b++)
                    copy_elem(o, (a * ind->n + j) * inner + b, x, (a * len + idx) * inner + b);
            } else {
                memcpy((char *)o->data + (size_t)((a * ind->n + j) * inner) * es,
                       (const char *)x->data + (size_t)((a * len + idx) * inner) * es,
                       (size_t)inner * es);
            }
        }
    return 0;
}

static int op_gather_elements(struct ml_kctx *k)
{
    const struct ml_tensor *x, *ind;
    struct ml_tensor *o;
    int axis;
    int64_t xs[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0};
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    ind = k->in[1];
    axis = ml_axis(ml_attr_int(k, "axis", 0), x->ndim);
    if (axis < 0 || ind->ndim != x->ndim)
        return ml_kerr(k, AG_EINVAL, "axis out of range or ranks differ");
    for (int d = 0; d < x->ndim; d++)
        if (d != axis && ind->dims[d] > x->dims[d])
            return ml_kerr(k, AG_EINVAL, "indices are larger than the data in dimension %d", d);
    o = ml_out_like(k, 0, x->dtype, ind);
    if (!o)
        return k->e->code;
    if (x->dtype == ML_STRING)
        memset(o->data, 0, o->cap);
    ml_strides(x->ndim, x->dims, xs);
    for (int64_t i = 0; i < ind->n; i++) {
        int64_t off = 0, v = norm_index(ml_get_i64(ind, i), x->dims[axis]);
        if (v < 0)
            return ml_kerr(k, AG_EINVAL, "index out of range");
        for (int d = 0; d < x->ndim; d++)
            off += (d == axis ? v : idx[d]) * xs[d];
        copy_elem(o, i, x, off);
        for (int d = ind->ndim - 1; d >= 0; d--) {
            if (++idx[d] < ind->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

static void apply_reduction(struct ml_tensor *o, int64_t at, const struct ml_tensor *u, int64_t ui,
                            int red)
{
    if (red == 0) {
        copy_elem(o, at, u, ui);
        return;
    }
    if (ml_is_int(o->dtype)) {
        int64_t a = ml_get_i64(o, at), b = ml_get_i64(u, ui);
        ml_set_i64(o, at, red == 1 ? a + b : red == 2 ? a * b : red == 3 ? MAX(a, b) : MIN(a, b));
    } else {
        double a = ml_get_f64(o, at), b = ml_get_f64(u, ui);
        ml_set_f64(o, at, red == 1 ? a + b : red == 2 ? a * b : red == 3 ? fmax(a, b) : fmin(a, b));
    }
}

static int reduction_kind(struct ml_kctx *k)
{
    const char *r = ml_attr_str(k, "reduction", "none");
    return !strcmp(r, "none") ? 0 : !strcmp(r, "add") ? 1 : !strcmp(r, "mul") ? 2
           : !strcmp(r, "max") ? 3 : !strcmp(r, "min") ? 4 : -1;
}

static int op_scatter_elements(struct ml_kctx *k)
{
    const struct ml_tensor *x, *ind, *u;
    struct ml_tensor *o;
    int axis, red = reduction_kind(k);
    int64_t xs[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0};
    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    x = k->in[0];
    ind = k->in[1];
    u = k->in[2];
    axis = ml_axis(ml_attr_int(k, "axis", 0), x->ndim);
    if (axis < 0 || ind->ndim != x->ndim || u->n != ind->n || red < 0 || u->dtype != x->dtype)
        return ml_kerr(k, AG_EINVAL, "bad axis, shapes, types or reduction");
    for (int d = 0; d < x->ndim; d++)
        if (d != axis && ind->dims[d] > x->dims[d])
            return ml_kerr(k, AG_EINVAL, "indices are larger than the data in dimension %d", d);
    o = ml_out_like(k, 0, x->dtype, x);
    if (!o)
        return k->e->code;
    ml_cast_into(o, x, false);
    ml_strides(x->ndim, x->dims, xs);
    for (int64_t i = 0; i < ind->n; i++) {
        int64_t off = 0, v = norm_index(ml_get_i64(ind, i), x->dims[axis]);
        if (v < 0)
            return ml_kerr(k, AG_EINVAL, "index out of range");
        for (int d = 0; d < x->ndim; d++)
            off += (d == axis ? v : idx[d]) * xs[d];
        apply_reduction(o, off, u, i, red);
        for (int d = ind->ndim - 1; d >= 0; d--) {
            if (++idx[d] < ind->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

static int op_scatter_nd(struct ml_kctx *k)
{
    const struct ml_tensor *x, *ind, *u;
    struct ml_tensor *o;
    int64_t q, xs[ML_MAX_DIMS], slice = 1, nidx;
    int red = reduction_kind(k);
    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    x = k->in[0];
    ind = k->in[1];
    u = k->in[2];
    if (ind->ndim < 1 || red < 0 || u->dtype != x->dtype)
        return ml_kerr(k, AG_EINVAL, "indices must have rank 1 or more, updates the data's type");
    q = ind->dims[ind->ndim - 1];
    if (q > x->ndim)
        return ml_kerr(k, AG_EINVAL, "index depth exceeds the data rank");
    for (int d = (int)q; d < x->ndim; d++)
        slice *= x->dims[d];
    nidx = q ? ind->n / q : 0;
    if (u->n != nidx * slice)
        return ml_kerr(k, AG_EINVAL, "updates have the wrong size");
    o = ml_out_like(k, 0, x->dtype, x);
    if (!o)
        return k->e->code;
    ml_cast_into(o, x, false);
    ml_strides(x->ndim, x->dims, xs);
    for (int64_t i = 0; i < nidx; i++) {
        int64_t off = 0;
        for (int64_t d = 0; d < q; d++) {
            int64_t v = norm_index(ml_get_i64(ind, i * q + d), x->dims[d]);
            if (v < 0)
                return ml_kerr(k, AG_EINVAL, "index out of range");
            off += v * xs[d];
        }
        for (int64_t s = 0; s < slice; s++)
            apply_reduction(o, off + s, u, i * slice + s, red);
    }
    return 0;
}

static int op_gather_nd(struct ml_kctx *k)
{
    const struct ml_tensor *x, *ind;
    struct ml_tensor *o;
    int64_t b = ml_attr_int(k, "batch_dims", 0), q, dims[ML_MAX_DIMS], xs[ML_MAX_DIMS], slice = 1,
            nb = 1, per_batch, xbatch = 1;
    int nd = 0;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    ind = k->in[1];
    if (ind->ndim < 1)
        return ml_kerr(k, AG_EINVAL, "indices must have rank 1 or more");
    q = ind->dims[ind->ndim - 1];
    if (b < 0 || b >= ind->ndim || b + q > x->ndim)
        return ml_kerr(k, AG_EINVAL, "bad batch_dims or index depth");
    for (int d = 0; d < ind->ndim - 1; d++)
        dims[nd++] = ind->dims[d];
    for (int d = (int)(b + q); d < x->ndim; d++) {
        if (nd >= ML_MAX_DIMS)
            return ml_kerr(k, AG_EUNPROCESSABLE, "result rank too high");
        dims[nd++] = x->dims[d];
        slice *= x->dims[d];
    }
    for (int d = 0; d < b; d++) {
        nb *= ind->dims[d];
        xbatch *= x->dims[d];
    }
    UNUSED(xbatch);
    o = ml_out(k, 0, x->dtype, nd, dims);
    if (!o)
        return k->e->code;
    if (x->dtype == ML_STRING)
        memset(o->data, 0, o->cap);
    ml_strides(x->ndim, x->dims, xs);
    per_batch = q ? ind->n / q / nb : 0;
    for (int64_t bi = 0; bi < nb; bi++)
        for (int64_t i = 0; i < per_batch; i++) {
            int64_t off = b ? bi * xs[b - 1] : 0, row = bi * per_batch + i;
            for (int64_t d = 0; d < q; d++) {
                int64_t v = norm_index(ml_get_i64(ind, row * q + d), x->dims[b + d]);
                if (v < 0)
                    return ml_kerr(k, AG_EINVAL, "index out of range");
                off += v * xs[b + d];
            }
            for (int64_t s = 0; s < slice; s++)
                copy_elem(o, row * slice + s, x, off + s);
        }
    return 0;
}

static int op_onehot(struct ml_kctx *k)
{
    const struct ml_tensor *ind, *depth, *vals;
    struct ml_tensor *o;
    int64_t d, dims[ML_MAX_DIMS], outer = 1, inner = 1;
    int axis;
    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    ind = k->in[0];
    depth = k->in[1];
    vals = k->in[2];
    if (depth->n < 1 || !(ml_first_f64(depth) >= 1 && ml_first_f64(depth) <= (double)(1 << 24)))
        return ml_kerr(k, AG_EINVAL, "depth must be between 1 and 2^24");
    d = (int64_t)ml_first_f64(depth);
    if (vals->n != 2 || ind->ndim + 1 > ML_MAX_DIMS)
        return ml_kerr(k, AG_EINVAL, "bad depth or values");
    axis = ml_axis(ml_attr_int(k, "axis", -1), ind->ndim + 1);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    for (int i = 0, j = 0; i <= ind->ndim; i++) {
        if (i == axis) {
            dims[i] = d;
        } else {
            dims[i] = ind->dims[j];
            *(i < axis ? &outer : &inner) *= ind->dims[j];
            j++;
        }
    }
    o = ml_out(k, 0, vals->dtype, ind->ndim + 1, dims);
    if (!o)
        return k->e->code;
    for (int64_t i = 0; i < o->n; i++)
        copy_elem(o, i, vals, 0);
    for (int64_t a = 0; a < outer; a++)
        for (int64_t b = 0; b < inner; b++) {
            double dv = ml_get_f64(ind, a * inner + b);
            int64_t v = dv >= -(double)d && dv < (double)d ? (int64_t)dv : d;
            if (v < 0)
                v += d;
            if (v >= 0 && v < d)
                copy_elem(o, (a * d + v) * inner + b, vals, 1);
        }
    return 0;
}

static int op_nonzero(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t cnt = 0, dims[2], idx[ML_MAX_DIMS] = {0}, j = 0;
    int rank;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    rank = x->ndim;
    for (int64_t i = 0; i < x->n; i++)
        cnt += x->dtype == ML_STRING ? ((char *const *)x->data)[i][0] != 0 : ml_get_f64(x, i) != 0;
    dims[0] = MAX(rank, 1);
    dims[1] = cnt;
    o = ml_out(k, 0, ML_INT64, 2, dims);
    if (!o)
        return k->e->code;
    for (int64_t i = 0; i < x->n; i++) {
        if (ml_get_f64(x, i) != 0) {
            for (int d = 0; d < rank; d++)
                ((int64_t *)o->data)[d * cnt + j] = idx[d];
            if (!rank)
                ((int64_t *)o->data)[j] = 0;
            j++;
        }
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

struct topk_item {
    double v;
    int64_t i;
};

static int topk_largest(const void *a, const void *b)
{
    const struct topk_item *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : 1;
}

static int topk_smallest(const void *a, const void *b)
{
    const struct topk_item *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : 1;
}

static int op_topk(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *vo, *io;
    int axis;
    int64_t kk, dims[ML_MAX_DIMS], outer = 1, inner = 1, len;
    bool largest = ml_attr_int(k, "largest", 1);
    struct topk_item *items;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    axis = ml_axis(ml_attr_int(k, "axis", -1), x->ndim);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    if (k->opset < 10) {
        kk = ml_attr_int(k, "k", 0);
    } else {
        ML_REQUIRE_IN(k, 1);
        kk = ml_first_i64(k->in[1]);
    }
    len = x->dims[axis];
    if (kk < 0 || kk > len)
        return ml_kerr(k, AG_EINVAL, "k=%" PRId64 " is out of range", kk);
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
    dims[axis] = kk;
    for (int i = 0; i < x->ndim; i++)
        if (i < axis)
            outer *= x->dims[i];
        else if (i > axis)
            inner *= x->dims[i];
    vo = ml_out(k, 0, x->dtype, x->ndim, dims);
    io = vo ? ml_out(k, 1, ML_INT64, x->ndim, dims) : NULL;
    if (!vo || !io)
        return k->e->code;
    items = malloc(sizeof(*items) * (size_t)MAX(len, 1));
    if (!items)
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    for (int64_t a = 0; a < outer; a++)
        for (int64_t b = 0; b < inner; b++) {
            for (int64_t i = 0; i < len; i++) {
                items[i].v = ml_get_f64(x, (a * len + i) * inner + b);
                items[i].i = i;
            }
            qsort(items, (size_t)len, sizeof(*items), largest ? topk_largest : topk_smallest);
            for (int64_t i = 0; i < kk; i++) {
                copy_elem(vo, (a * kk + i) * inner + b, x, (a * len + items[i].i) * inner + b);
                ((int64_t *)io->data)[(a * kk + i) * inner + b] = items[i].i;
            }
        }
    free(items);
    return 0;
}

static int op_compress(struct ml_kctx *k)
{
    const struct ml_tensor *x, *c;
    struct ml_tensor *o;
    const Onnx__AttributeProto *ax = ml_attr(k, "axis");
    int64_t cnt = 0, dims[ML_MAX_DIMS], outer = 1, inner = 1, len, j = 0;
    int axis = 0;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    c = k->in[1];
    if (ax) {
        axis = ml_axis(ax->i, x->ndim);
        if (axis < 0)
            return ml_kerr(k, AG_EINVAL, "axis out of range");
        len = x->dims[axis];
        for (int i = 0; i < x->ndim; i++)
            if (i < axis)
                outer *= x->dims[i];
            else if (i > axis)
                inner *= x->dims[i];
    } else {
        len = x->n;
    }
    for (int64_t i = 0; i < MIN(len, c->n); i++)
        cnt += ml_get_i64(c, i) != 0;
    if (ax) {
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
        dims[axis] = cnt;
        o = ml_out(k, 0, x->dtype, x->ndim, dims);
    } else {
        o = ml_out(k, 0, x->dtype, 1, &cnt);
    }
    if (!o)
        return k->e->code;
    if (x->dtype == ML_STRING)
        memset(o->data, 0, o->cap);
    for (int64_t a = 0; a < outer; a++) {
        j = 0;
        for (int64_t i = 0; i < MIN(len, c->n); i++) {
            if (!ml_get_i64(c, i))
                continue;
            for (int64_t b = 0; b < inner; b++)
                copy_elem(o, (a * cnt + j) * inner + b, x, (a * len + i) * inner + b);
            j++;
        }
    }
    return 0;
}

static int op_reverse_sequence(struct ml_kctx *k)
{
    const struct ml_tensor *x, *sl;
    struct ml_tensor *o;
    int64_t ba = ml_attr_int(k, "batch_axis", 1), ta = ml_attr_int(k, "time_axis", 0);
    int64_t xs[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0};
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    sl = k->in[1];
    if (x->ndim < 2 || (ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta ||
        sl->n != x->dims[ba])
        return ml_kerr(k, AG_EINVAL, "bad axes or sequence lengths");
    o = ml_out_like(k, 0, x->dtype, x);
    if (!o)
        return k->e->code;
    if (x->dtype == ML_STRING)
        memset(o->data, 0, o->cap);
    ml_strides(x->ndim, x->dims, xs);
    for (int64_t i = 0; i < x->n; i++) {
        int64_t b = idx[ba], t = idx[ta], L = ml_get_i64(sl, b), src = i;
        if (t < L && L <= x->dims[ta])
            src = i + (L - 1 - 2 * t) * xs[ta];
        copy_elem(o, i, x, src);
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

const struct ml_op ml_ops_index[] = {
    {"Gather", "", op_gather, 0},
    {"GatherElements", "", op_gather_elements, 0},
    {"GatherND", "", op_gather_nd, 0},
    {"ScatterElements", "", op_scatter_elements, 0},
    {"Scatter", "", op_scatter_elements, 0},
    {"ScatterND", "", op_scatter_nd, 0},
    {"OneHot", "", op_onehot, 0},
    {"NonZero", "", op_nonzero, 0},
    {"TopK", "", op_topk, 0},
    {"Compress", "", op_compress, 0},
    {"ReverseSequence", "", op_reverse_sequence, 0},
    {NULL, NULL, NULL, 0},
};
