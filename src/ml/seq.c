/* seq.c - sequences and optionals: pool-backed values and SequenceProto / OptionalProto files. */
#include "core/common.h"
#include "core/buf.h"
#include "ml/internal.h"
#include "onnx/onnx-data.pb-c.h"

void ml_value_drop(struct ml_pool *p, struct ml_tensor *t)
{
    if (!t->borrowed && t->data) {
        if (t->dtype == ML_STRING) {
            char **s = t->data;
            for (int64_t i = 0; i < t->n; i++)
                free(s[i]);
        } else if (t->dtype == ML_SEQUENCE) {
            struct ml_tensor *el = t->data;
            for (int64_t i = 0; i < t->n; i++)
                ml_value_drop(p, &el[i]);
        }
        ml_pool_put(p, t->data, t->cap);
    }
    ml_tensor_init(t);
}

void ml_value_disown(struct ml_pool *p, const struct ml_tensor *t)
{
    if (t->borrowed || !t->data)
        return;
    p->live -= MIN(t->cap, p->live);
    if (t->dtype == ML_SEQUENCE) {
        const struct ml_tensor *el = t->data;
        for (int64_t i = 0; i < t->n; i++)
            ml_value_disown(p, &el[i]);
    }
}

/* Deep-copies value `src` into the empty `dst` with memory from the pool.
 * Returns 0, or records the error in k->e and returns its code (dst is then
 * empty). */
static int pool_copy(struct ml_kctx *k, struct ml_tensor *dst, const struct ml_tensor *src)
{
    size_t es = ml_dtype_size(src->dtype), bytes;
    int rc = 0;

    ml_tensor_init(dst);
    if (src->dtype == ML_NONE) {
        dst->dtype = ML_NONE;
        return 0;
    }
    if (!es || src->n < 0 || (uint64_t)src->n > ((uint64_t)1 << 40) / es)
        return ml_kerr(k, AG_EINVAL, "a value of type %s cannot be copied",
                       ml_dtype_name(src->dtype));
    bytes = (size_t)src->n * es;
    dst->data = ml_pool_get(&k->m->pool, bytes ? bytes : 1, k->e);
    if (!dst->data)
        return k->e && k->e->code ? k->e->code : AG_ENOMEM;
    dst->cap = bytes ? bytes : 1;
    dst->dtype = src->dtype;
    dst->elem_dtype = src->elem_dtype;
    dst->ndim = src->ndim;
    memcpy(dst->dims, src->dims, sizeof(dst->dims));
    dst->n = src->n;
    if (src->dtype == ML_STRING || src->dtype == ML_SEQUENCE)
        memset(dst->data, 0, dst->cap);
    if (src->dtype == ML_STRING) {
        char **d = dst->data, *const *s = src->data;
        for (int64_t i = 0; i < src->n && !rc; i++)
            if (!(d[i] = strdup(s[i] ? s[i] : "")))
                rc = ml_kerr(k, AG_ENOMEM, "out of memory");
    } else if (src->dtype == ML_SEQUENCE) {
        struct ml_tensor *d = dst->data;
        const struct ml_tensor *s = src->data;
        for (int64_t i = 0; i < src->n && !rc; i++)
            rc = pool_copy(k, &d[i], &s[i]);
    } else if (bytes) {
        memcpy(dst->data, src->data, bytes);
    }
    if (rc)
        ml_value_drop(&k->m->pool, dst);
    return rc;
}

/* Returns output slot i, empty, or NULL after recording an error. */
static struct ml_tensor *out_slot(struct ml_kctx *k, int i)
{
    if (i >= k->nout || !k->out[i]) {
        ml_kerr(k, AG_EINVAL, "output %d is missing", i);
        return NULL;
    }
    if (k->out[i]->data || k->out[i]->dtype) {
        ml_kerr(k, AG_EINTERNAL, "output %d written twice", i);
        return NULL;
    }
    return k->out[i];
}

int ml_value_out(struct ml_kctx *k, int i, const struct ml_tensor *src)
{
    struct ml_tensor *o = out_slot(k, i);
    return o ? pool_copy(k, o, src) : k->e->code;
}

struct ml_tensor *ml_seq_out(struct ml_kctx *k, int i, int64_t n, int elem_dtype)
{
    struct ml_tensor *o = out_slot(k, i);
    size_t bytes;
    if (!o)
        return NULL;
    if (n < 0 || n > ML_SEQ_MAX) {
        ml_kerr(k, AG_ETOOBIG, "a sequence of %" PRId64 " elements is past the limit of %" PRId64,
                n, ML_SEQ_MAX);
        return NULL;
    }
    bytes = (size_t)(n ? n : 1) * sizeof(struct ml_tensor);
    o->data = ml_pool_get(&k->m->pool, bytes, k->e);
    if (!o->data)
        return NULL;
    memset(o->data, 0, bytes);
    o->cap = bytes;
    o->dtype = ML_SEQUENCE;
    o->elem_dtype = elem_dtype;
    o->ndim = 1;
    o->dims[0] = n;
    o->n = n;
    return o;
}

int ml_seq_set(struct ml_kctx *k, struct ml_tensor *seq, int64_t j, const struct ml_tensor *src)
{
    struct ml_tensor *el = seq->data;
    if (ml_is_value(src->dtype))
        return ml_kerr(k, AG_EUNPROCESSABLE, "sequence elements must be tensors, not a %s",
                       ml_dtype_name(src->dtype));
    if (seq->elem_dtype && src->dtype != seq->elem_dtype)
        return ml_kerr(k, AG_EINVAL, "a %s tensor cannot join a sequence of %s tensors",
                       ml_dtype_name(src->dtype), ml_dtype_name(seq->elem_dtype));
    if (j < 0 || j >= seq->n || el[j].dtype)
        return ml_kerr(k, AG_EINTERNAL, "sequence element %" PRId64 " set twice or out of range",
                       j);
    if (!seq->elem_dtype)
        seq->elem_dtype = src->dtype;
    return pool_copy(k, &el[j], src);
}

int ml_none_out(struct ml_kctx *k, int i)
{
    struct ml_tensor *o = out_slot(k, i);
    if (!o)
        return k->e->code;
    o->dtype = ML_NONE;
    return 0;
}

/* ---- SequenceProto / OptionalProto files (the backend tests' data) ---- */

/* Decodes a sequence of tensors into `t` (malloc'd, owned). */
static int seq_from_proto(struct ml_tensor *t, const Onnx__SequenceProto *p, struct ag_err *e)
{
    int64_t n = (int64_t)p->n_tensor_values;
    struct ml_tensor *el;
    int rc;
    if (p->n_sparse_tensor_values || p->n_sequence_values || p->n_map_values ||
        p->n_optional_values)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL,
                       "only sequences of tensors are supported (not of sequences, maps, "
                       "optionals or sparse tensors)");
    if (n > ML_SEQ_MAX)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "a sequence of more than %" PRId64
                       " elements", ML_SEQ_MAX);
    if ((rc = ml_tensor_alloc(t, ML_SEQUENCE, 1, &n, e)))
        return rc;
    el = t->data;
    for (int64_t i = 0; i < n && !rc; i++) {
        rc = ml_tensor_from_proto(&el[i], p->tensor_values[i], NULL, (size_t)1 << 32, e);
        if (!rc && i && el[i].dtype != el[0].dtype)
            rc = ag_errf(e, AG_EINVAL, NULL, "sequence elements 0 and %" PRId64
                         " differ in type", i);
    }
    if (n && !rc)
        t->elem_dtype = el[0].dtype;
    if (rc)
        ml_tensor_release(t);
    return rc;
}

int ml_value_read_pb(struct ml_tensor *t, const char *path, int kind, struct ag_err *e)
{
    struct buf b;
    Onnx__SequenceProto *sp = NULL;
    Onnx__OptionalProto *op = NULL;
    int rc;

    ml_tensor_init(t);
    if (kind == ML_KIND_TENSOR)
        return ml_tensor_read_pb(t, NULL, path, e);
    buf_init(&b, (size_t)1 << 30);
    rc = buf_read_file(&b, path);
    if (rc) {
        rc = ag_errf(e, rc, NULL, rc == AG_ETOOBIG ? "%s is larger than 1 GiB" : "cannot read %s",
                     path);
        goto out;
    }
    if (kind == ML_KIND_SEQUENCE) {
        sp = onnx__sequence_proto__unpack(NULL, b.n, (const uint8_t *)b.p);
        if (!sp)
            rc = ag_errf(e, AG_ECORRUPT, NULL, "%s is not a valid SequenceProto", path);
        else
            rc = seq_from_proto(t, sp, e);
        goto out;
    }
    op = onnx__optional_proto__unpack(NULL, b.n, (const uint8_t *)b.p);
    if (!op) {
        rc = ag_errf(e, AG_ECORRUPT, NULL, "%s is not a valid OptionalProto", path);
    } else if (op->tensor_value) {
        rc = ml_tensor_from_proto(t, op->tensor_value, NULL, (size_t)1 << 32, e);
    } else if (op->sequence_value) {
        rc = seq_from_proto(t, op->sequence_value, e);
    } else if (op->sparse_tensor_value || op->map_value || op->optional_value) {
        rc = ag_errf(e, AG_EUNPROCESSABLE, NULL, "%s: optionals of maps, optionals or sparse "
                     "tensors are not supported", path);
    } else {
        t->dtype = ML_NONE;
    }
out:
    if (sp)
        onnx__sequence_proto__free_unpacked(sp, NULL);
    if (op)
        onnx__optional_proto__free_unpacked(op, NULL);
    buf_release(&b);
    return rc;
}
