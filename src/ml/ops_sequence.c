/* ops_sequence.c - Sequence*, SplitToSequence, ConcatFromSequence and the Optional ops. */
#include "core/common.h"
#include "ml/internal.h"

/* Copies `cnt` elements of `src` from index `so` to `dst` at index `d0`;
 * strings are duplicated. Returns 0 or AG_ENOMEM. */
static int copy_elems(struct ml_tensor *dst, int64_t d0, const struct ml_tensor *src, int64_t so,
                      int64_t cnt)
{
    size_t es = ml_dtype_size(src->dtype);
    if (cnt <= 0)
        return 0;
    if (src->dtype == ML_STRING) {
        char **d = dst->data, *const *s = src->data;
        for (int64_t i = 0; i < cnt; i++)
            if (!(d[d0 + i] = strdup(s[so + i] ? s[so + i] : "")))
                return AG_ENOMEM;
        return 0;
    }
    memcpy((char *)dst->data + (size_t)d0 * es, (const char *)src->data + (size_t)so * es,
           (size_t)cnt * es);
    return 0;
}

/* Requires input i to be a sequence; returns it or NULL after an error. */
static const struct ml_tensor *seq_in(struct ml_kctx *k, int i)
{
    if (i >= k->nin || !k->in[i]) {
        ml_kerr(k, AG_EINVAL, "input %d is required", i);
        return NULL;
    }
    if (k->in[i]->dtype != ML_SEQUENCE) {
        ml_kerr(k, AG_EINVAL, "input %d must be a sequence, not %s", i,
                ml_dtype_name(k->in[i]->dtype));
        return NULL;
    }
    return k->in[i];
}

/* Requires input i to be a tensor; returns it or NULL after an error. */
static const struct ml_tensor *tensor_in(struct ml_kctx *k, int i)
{
    if (i >= k->nin || !k->in[i]) {
        ml_kerr(k, AG_EINVAL, "input %d is required", i);
        return NULL;
    }
    if (ml_is_value(k->in[i]->dtype)) {
        ml_kerr(k, AG_EINVAL, "input %d must be a tensor, not a %s", i,
                ml_dtype_name(k->in[i]->dtype));
        return NULL;
    }
    return k->in[i];
}

/* Reads an optional position input (a scalar or one-element integer
 * tensor) into *pos, normalized against `n` and checked to lie in [0, hi].
 * Without the input *pos is `def`. Returns 0 or the error's code. */
static int position(struct ml_kctx *k, int i, int64_t n, int64_t hi, int64_t def, int64_t *pos)
{
    const struct ml_tensor *p = i < k->nin ? k->in[i] : NULL;
    int64_t v;
    if (!p) {
        *pos = def;
        return 0;
    }
    if ((p->dtype != ML_INT32 && p->dtype != ML_INT64) || p->n != 1)
        return ml_kerr(k, AG_EINVAL, "position must be one int32 or int64 value");
    v = ml_first_i64(p);
    if (v < -n || v > hi)
        return ml_kerr(k, AG_EINVAL, "position %" PRId64 " is out of range for a sequence of %"
                       PRId64, v, n);
    *pos = v < 0 ? v + n : v;
    return 0;
}

static int op_sequence_empty(struct ml_kctx *k)
{
    int dt = (int)ml_attr_int(k, "dtype", ML_FLOAT);
    if (dt <= 0 || dt >= ML_DTYPE_COUNT_ || dt == ML_COMPLEX64 || dt == ML_COMPLEX128)
        return ml_kerr(k, AG_EUNPROCESSABLE, "element type %d is not supported", dt);
    return ml_seq_out(k, 0, 0, dt) ? 0 : k->e->code;
}

static int op_sequence_construct(struct ml_kctx *k)
{
    struct ml_tensor *o;
    int rc = 0;
    if (k->nin < 1)
        return ml_kerr(k, AG_EINVAL, "needs at least one input");
    for (int i = 0; i < k->nin; i++)
        if (!tensor_in(k, i))
            return k->e->code;
    o = ml_seq_out(k, 0, k->nin, k->in[0]->dtype);
    if (!o)
        return k->e->code;
    for (int i = 0; i < k->nin && !rc; i++)
        rc = ml_seq_set(k, o, i, k->in[i]);
    return rc;
}

static int op_sequence_insert(struct ml_kctx *k)
{
    const struct ml_tensor *s = seq_in(k, 0), *t = s ? tensor_in(k, 1) : NULL, *el;
    struct ml_tensor *o;
    int64_t pos = 0;
    int rc;
    if (!t)
        return k->e->code;
    if ((rc = position(k, 2, s->n, s->n, s->n, &pos)))
        return rc;
    if (s->elem_dtype && t->dtype != s->elem_dtype)
        return ml_kerr(k, AG_EINVAL, "a %s tensor cannot join a sequence of %s tensors",
                       ml_dtype_name(t->dtype), ml_dtype_name(s->elem_dtype));
    o = ml_seq_out(k, 0, s->n + 1, t->dtype);
    if (!o)
        return k->e->code;
    el = s->data;
    for (int64_t i = 0, j = 0; i <= s->n && !rc; i++)
        rc = ml_seq_set(k, o, i, i == pos ? t : &el[j++]);
    return rc;
}

static int op_sequence_at(struct ml_kctx *k)
{
    const struct ml_tensor *s = seq_in(k, 0);
    int64_t pos = 0;
    int rc;
    if (!s)
        return k->e->code;
    if (k->nin < 2 || !k->in[1])
        return ml_kerr(k, AG_EINVAL, "position is required");
    if ((rc = position(k, 1, s->n, s->n - 1, 0, &pos)))
        return rc;
    return ml_value_out(k, 0, &((const struct ml_tensor *)s->data)[pos]);
}

static int op_sequence_erase(struct ml_kctx *k)
{
    const struct ml_tensor *s = seq_in(k, 0), *el;
    struct ml_tensor *o;
    int64_t pos = 0;
    int rc;
    if (!s)
        return k->e->code;
    if (!s->n)
        return ml_kerr(k, AG_EINVAL, "cannot erase from an empty sequence");
    if ((rc = position(k, 1, s->n, s->n - 1, s->n - 1, &pos)))
        return rc;
    o = ml_seq_out(k, 0, s->n - 1, s->elem_dtype);
    if (!o)
        return k->e->code;
    el = s->data;
    for (int64_t i = 0, j = 0; i < s->n && !rc; i++)
        if (i != pos)
            rc = ml_seq_set(k, o, j++, &el[i]);
    return rc;
}

static int op_sequence_length(struct ml_kctx *k)
{
    const struct ml_tensor *s = seq_in(k, 0);
    struct ml_tensor *o;
    if (!s)
        return k->e->code;
    o = ml_out(k, 0, ML_INT64, 0, NULL);
    if (!o)
        return k->e->code;
    ((int64_t *)o->data)[0] = s->n;
    return 0;
}

/* SplitToSequence: pieces of `split` (a scalar: equal pieces, the last
 * possibly shorter; a 1-D tensor: their lengths) or, without it, slices of
 * one along the axis, squeezed unless keepdims. */
static int op_split_to_sequence(struct ml_kctx *k)
{
    const struct ml_tensor *x = tensor_in(k, 0), *sp;
    int64_t len, nparts, each = 1, outer = 1, inner = 1, off = 0, *sizes = NULL;
    struct ml_tensor *o, piece;
    bool keep = true;
    int axis, rc = 0;

    if (!x)
        return k->e->code;
    if (x->ndim < 1)
        return ml_kerr(k, AG_EINVAL, "cannot split a scalar");
    axis = ml_axis(ml_attr_int(k, "axis", 0), x->ndim);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    len = x->dims[axis];
    sp = k->nin > 1 ? k->in[1] : NULL;
    if (sp && sp->dtype != ML_INT32 && sp->dtype != ML_INT64)
        return ml_kerr(k, AG_EINVAL, "split must be int32 or int64");
    if (sp && sp->ndim == 0) {
        each = ml_first_i64(sp);
        if (each <= 0)
            return ml_kerr(k, AG_EINVAL, "split must be positive");
        nparts = len ? (len + each - 1) / each : 0;
    } else if (sp) {
        if (sp->ndim != 1)
            return ml_kerr(k, AG_EINVAL, "split must be a scalar or 1-D");
        nparts = sp->n;
    } else {
        nparts = len;
        keep = ml_attr_int(k, "keepdims", 1) != 0;
    }
    if (nparts > ML_SEQ_MAX)
        return ml_kerr(k, AG_ETOOBIG, "more than %" PRId64 " pieces", ML_SEQ_MAX);
    sizes = malloc(sizeof(int64_t) * (size_t)(nparts + 1));
    if (!sizes)
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    for (int64_t i = 0, tot = 0; i < nparts; i++) {
        sizes[i] = sp && sp->ndim == 1 ? ml_get_i64(sp, i) : MIN(each, len - i * each);
        if (sizes[i] < 0 || __builtin_add_overflow(tot, sizes[i], &tot) ||
            (i == nparts - 1 && tot != len)) {
            rc = ml_kerr(k, AG_EINVAL, "split sizes are negative or do not sum to %" PRId64, len);
            goto out;
        }
    }
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    o = ml_seq_out(k, 0, nparts, x->dtype);
    if (!o) {
        rc = k->e->code;
        goto out;
    }
    ml_tensor_init(&piece);
    for (int64_t i = 0; i < nparts && !rc; i++) {
        int64_t dims[ML_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < x->ndim; d++) {
            if (d == axis && !keep)
                continue;
            dims[nd++] = d == axis ? sizes[i] : x->dims[d];
        }
        if ((rc = ml_tensor_alloc(&piece, x->dtype, nd, dims, k->e)))
            break;
        for (int64_t r = 0; r < outer && !rc; r++)
            if (copy_elems(&piece, r * sizes[i] * inner, x, (r * len + off) * inner,
                           sizes[i] * inner))
                rc = ml_kerr(k, AG_ENOMEM, "out of memory");
        if (!rc)
            rc = ml_seq_set(k, o, i, &piece);
        ml_tensor_release(&piece);
        off += sizes[i];
    }
out:
    free(sizes);
    return rc;
}

/* ConcatFromSequence: the elements joined along `axis`, or stacked on a new
 * axis when new_axis = 1. */
static int op_concat_from_sequence(struct ml_kctx *k)
{
    const struct ml_tensor *s = seq_in(k, 0), *el, *f;
    int64_t dims[ML_MAX_DIMS], outer = 1, inner = 1, total = 0, pos = 0;
    bool stack = ml_attr_int(k, "new_axis", 0) != 0;
    struct ml_tensor *o;
    int axis, rank;

    if (!s)
        return k->e->code;
    if (!ml_attr(k, "axis"))
        return ml_kerr(k, AG_EINVAL, "the axis attribute is required");
    if (!s->n)
        return ml_kerr(k, AG_EINVAL, "cannot concatenate an empty sequence");
    el = s->data;
    f = &el[0];
    rank = f->ndim + (stack ? 1 : 0);
    if (rank > ML_MAX_DIMS || rank < 1)
        return ml_kerr(k, AG_EUNPROCESSABLE, "output rank %d is not supported", rank);
    axis = ml_axis(ml_attr_int(k, "axis", 0), rank);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    for (int64_t i = 0; i < s->n; i++) {
        if (el[i].dtype != f->dtype || el[i].ndim != f->ndim)
            return ml_kerr(k, AG_EINVAL, "elements differ in type or rank");
        for (int d = 0; d < f->ndim; d++)
            if ((stack || d != axis) && el[i].dims[d] != f->dims[d])
                return ml_kerr(k, AG_EINVAL, "element %" PRId64 " differs in dimension %d", i, d);
        if (__builtin_add_overflow(total, stack ? 1 : el[i].dims[axis], &total))
            return ml_kerr(k, AG_ETOOBIG, "the result is too large");
    }
    if (stack) {
        for (int d = 0, j = 0; d < rank; d++)
            dims[d] = d == axis ? total : f->dims[j++];
    } else {
        memcpy(dims, f->dims, sizeof(int64_t) * (size_t)rank);
        dims[axis] = total;
    }
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= dims[d];
    o = ml_out(k, 0, f->dtype, rank, dims);
    if (!o)
        return k->e->code;
    if (f->dtype == ML_STRING)
        memset(o->data, 0, o->cap);
    for (int64_t i = 0; i < s->n; i++) {
        int64_t w = stack ? 1 : el[i].dims[axis];
        for (int64_t r = 0; r < outer; r++)
            if (copy_elems(o, (r * total + pos) * inner, &el[i], r * w * inner, w * inner))
                return ml_kerr(k, AG_ENOMEM, "out of memory");
        pos += w;
    }
    return 0;
}

/* Optional: wraps its input (an optional holding a value is the value) or,
 * without one, gives an empty optional of the `type` attribute. */
static int op_optional(struct ml_kctx *k)
{
    if (k->nin > 0 && k->in[0])
        return ml_value_out(k, 0, k->in[0]);
    if (!ml_attr(k, "type"))
        return ml_kerr(k, AG_EINVAL, "an Optional without input needs the type attribute");
    return ml_none_out(k, 0);
}

static int op_optional_has_element(struct ml_kctx *k)
{
    struct ml_tensor *o = ml_out(k, 0, ML_BOOL, 0, NULL);
    if (!o)
        return k->e->code;
    ((uint8_t *)o->data)[0] = k->nin > 0 && k->in[0] && k->in[0]->dtype != ML_NONE;
    return 0;
}

static int op_optional_get_element(struct ml_kctx *k)
{
    ML_REQUIRE_IN(k, 0);
    if (k->in[0]->dtype == ML_NONE)
        return ml_kerr(k, AG_EINVAL, "the optional input holds no value");
    return ml_value_out(k, 0, k->in[0]);
}

const struct ml_op ml_ops_sequence[] = {
    {"SequenceEmpty", "", op_sequence_empty, ML_K_VALUES},
    {"SequenceConstruct", "", op_sequence_construct, ML_K_VALUES},
    {"SequenceInsert", "", op_sequence_insert, ML_K_VALUES},
    {"SequenceAt", "", op_sequence_at, ML_K_VALUES},
    {"SequenceErase", "", op_sequence_erase, ML_K_VALUES},
    {"SequenceLength", "", op_sequence_length, ML_K_VALUES},
    {"SplitToSequence", "", op_split_to_sequence, ML_K_VALUES},
    {"ConcatFromSequence", "", op_concat_from_sequence, ML_K_VALUES},
    {"Optional", "", op_optional, ML_K_VALUES},
    {"OptionalHasElement", "", op_optional_has_element, ML_K_VALUES},
    {"OptionalGetElement", "", op_optional_get_element, ML_K_VALUES},
    {NULL, NULL, NULL, 0},
};
