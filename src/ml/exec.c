/* exec.c - the planned executor: buffer pool, kernel context, running a graph. */
#include "core/common.h"
#include "core/util.h"
#include "ml/internal.h"

/* ---- buffer pool ---- */

void *ml_pool_get(struct ml_pool *p, size_t bytes, struct ag_err *e)
{
    int best = -1;
    void *ptr;
    if (!bytes)
        bytes = 1;
    /* Best fit among free blocks no more than twice the request. */
    for (int i = 0; i < p->nfree; i++) {
        size_t c = p->free[i].cap;
        if (c >= bytes && c / 2 <= bytes && (best < 0 || c < p->free[best].cap))
            best = i;
    }
    if (best >= 0) {
        ptr = p->free[best].p;
        p->held -= p->free[best].cap;
        p->live += p->free[best].cap;
        p->free[best] = p->free[--p->nfree];
        return ptr;
    }
    if (p->live + p->held + bytes > p->limit) {
        /* Give cached blocks back to the system before failing. */
        for (int i = 0; i < p->nfree; i++)
            free(p->free[i].p);
        p->nfree = 0;
        p->held = 0;
        if (p->live + bytes > p->limit) {
            ag_errf(e, AG_ETOOBIG, NULL, "the run needs more than its memory limit of %zu MiB",
                    p->limit >> 20);
            return NULL;
        }
    }
    ptr = malloc(bytes);
    if (!ptr) {
        ag_errf(e, AG_ENOMEM, NULL, "out of memory for a %zu-byte tensor", bytes);
        return NULL;
    }
    p->live += bytes;
    return ptr;
}

void ml_pool_put(struct ml_pool *p, void *ptr, size_t cap)
{
    struct ml_block *nb;
    if (!ptr)
        return;
    if (!cap)
        cap = 1;
    p->live -= MIN(cap, p->live);
    if (p->nfree == p->capfree) {
        int nc = p->capfree ? p->capfree * 2 : 32;
        nb = realloc(p->free, sizeof(*nb) * (size_t)nc);
        if (!nb) {
            free(ptr);
            return;
        }
        p->free = nb;
        p->capfree = nc;
    }
    p->free[p->nfree].p = ptr;
    p->free[p->nfree].cap = cap;
    p->nfree++;
    p->held += cap;
}

void ml_pool_release(struct ml_pool *p)
{
    for (int i = 0; i < p->nfree; i++)
        free(p->free[i].p);
    free(p->free);
    memset(p, 0, sizeof(*p));
}

/* Returns a slot's buffers to the pool (freeing strings and sequence
 * elements first). */
static void slot_drop(struct ml_model *m, struct ml_tensor *t)
{
    ml_value_drop(&m->pool, t);
}

/* ---- kernel context ---- */

int ml_kerr(struct ml_kctx *k, int code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return ag_errf(k->e, code, k->node->p->op_type, "%s (node \"%s\"): %s", k->node->p->op_type,
                   k->node->p->name ? k->node->p->name : "", msg);
}

const Onnx__AttributeProto *ml_attr(const struct ml_kctx *k, const char *name)
{
    const Onnx__NodeProto *p = k->node->p;
    for (size_t i = 0; i < p->n_attribute; i++)
        if (p->attribute[i]->name && !strcmp(p->attribute[i]->name, name))
            return p->attribute[i];
    return NULL;
}

int64_t ml_attr_int(const struct ml_kctx *k, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = ml_attr(k, name);
    return a && a->has_i ? a->i : def;
}

float ml_attr_float(const struct ml_kctx *k, const char *name, float def)
{
    const Onnx__AttributeProto *a = ml_attr(k, name);
    return a && a->has_f ? a->f : def;
}

const char *ml_attr_str(const struct ml_kctx *k, const char *name, const char *def)
{
    static __thread char tmp[256];
    const Onnx__AttributeProto *a = ml_attr(k, name);
    if (!a || !a->has_s)
        return def;
    snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(a->s.len, 255), (const char *)a->s.data);
    return tmp;
}

const int64_t *ml_attr_ints(const struct ml_kctx *k, const char *name, size_t *n)
{
    const Onnx__AttributeProto *a = ml_attr(k, name);
    *n = a ? a->n_ints : 0;
    return a ? a->ints : NULL;
}

const float *ml_attr_floats(const struct ml_kctx *k, const char *name, size_t *n)
{
    const Onnx__AttributeProto *a = ml_attr(k, name);
    *n = a ? a->n_floats : 0;
    return a ? a->floats : NULL;
}

struct ml_tensor *ml_out(struct ml_kctx *k, int i, int dtype, int ndim, const int64_t *dims)
{
    struct ml_tensor *t;
    size_t es = ml_dtype_size(dtype);
    int64_t n;
    if (i >= k->nout || !k->out[i]) {
        ml_kerr(k, AG_EINVAL, "output %d is missing", i);
        return NULL;
    }
    t = k->out[i];
    if (t->data) {
        ml_kerr(k, AG_EINTERNAL, "output %d written twice", i);
        return NULL;
    }
    if (ndim < 0 || ndim > ML_MAX_DIMS) {
        ml_kerr(k, AG_EUNPROCESSABLE, "output rank %d exceeds %d", ndim, ML_MAX_DIMS);
        return NULL;
    }
    n = ml_numel(ndim, dims);
    if (n < 0 || !es || (uint64_t)n > ((uint64_t)1 << 40) / es) {
        ml_kerr(k, AG_ETOOBIG, "output shape is negative or too large");
        return NULL;
    }
    ml_tensor_init(t);
    t->data = ml_pool_get(&k->m->pool, (size_t)n * es, k->e);
    if (!t->data)
        return NULL;
    t->cap = n ? (size_t)n * es : 1;
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->n = n;
    if (dtype == ML_STRING)
        memset(t->data, 0, t->cap);
    return t;
}

struct ml_tensor *ml_out_like(struct ml_kctx *k, int i, int dtype, const struct ml_tensor *t)
{
    return ml_out(k, i, dtype, t->ndim, t->dims);
}

void *ml_scratch(struct ml_kctx *k, size_t bytes)
{
    return ml_pool_get(&k->m->pool, bytes, k->e);
}

void ml_scratch_free(struct ml_kctx *k, void *p, size_t bytes)
{
    ml_pool_put(&k->m->pool, p, bytes ? bytes : 1);
}

/* ---- running ---- */

static bool is_half(int dt)
{
    return dt == ML_FLOAT16 || dt == ML_BFLOAT16;
}

/* Runs a kernel with half-precision inputs widened to float and float
 * outputs narrowed back to `half`. */
static int run_half(struct ml_kctx *k, int half)
{
    struct ml_tensor wide_in[16], wide_out[8], *in[16], *out[8], **orig_out = k->out;
    struct ml_tensor **orig_in = k->in;
    int rc = 0, nin = MIN(k->nin, 16), nout = MIN(k->nout, 8);

    memset(wide_in, 0, sizeof(wide_in));
    memset(wide_out, 0, sizeof(wide_out));
    for (int i = 0; i < nin; i++) {
        in[i] = orig_in[i];
        if (in[i] && is_half(in[i]->dtype)) {
            rc = ml_tensor_alloc(&wide_in[i], ML_FLOAT, in[i]->ndim, in[i]->dims, k->e);
            if (rc)
                goto out;
            ml_cast_into(&wide_in[i], in[i], false);
            in[i] = &wide_in[i];
        }
    }
    for (int i = 0; i < nout; i++)
        out[i] = orig_out[i] ? &wide_out[i] : NULL;
    k->in = in;
    k->out = out;
    rc = k->node->op->fn(k);
    k->in = orig_in;
    k->out = orig_out;
    for (int i = 0; i < nout && !rc; i++) {
        struct ml_tensor *t;
        if (!out[i] || !wide_out[i].data)
            continue;
        t = ml_out(k, i, wide_out[i].dtype == ML_FLOAT ? half : wide_out[i].dtype,
                   wide_out[i].ndim, wide_out[i].dims);
        if (!t) {
            rc = k->e ? k->e->code : AG_ENOMEM;
            break;
        }
        ml_cast_into(t, &wide_out[i], false);
    }
out:
    for (int i = 0; i < nin; i++)
        ml_tensor_release(&wide_in[i]);
    for (int i = 0; i < nout; i++)
        slot_drop(k->m, &wide_out[i]);
    return rc;
}

static int run_node(struct ml_model *m, int idx, struct ag_err *e)
{
    const struct ml_node *n = &m->nodes[idx];
    struct ml_tensor *inbuf[64], *outbuf[64], scratch[64];
    struct ml_kctx k = {.m = m, .node = n, .in = inbuf, .out = outbuf, .opset = m->opset, .e = e};
    int rc, half = 0;

    if (n->nin > 64 || n->nout > 64)
        return ag_errf(e, AG_EUNPROCESSABLE, n->p->op_type, "more than 64 inputs or outputs");
    k.nin = n->nin;
    k.nout = n->nout;
    for (int i = 0; i < n->nin; i++) {
        inbuf[i] = n->in[i] >= 0 ? &m->slots[n->in[i]] : NULL;
        if (inbuf[i] && !inbuf[i]->dtype)
            return ag_errf(e, AG_EINTERNAL, n->p->op_type, "input \"%s\" has no value",
                           m->values[n->in[i]].name);
        if (inbuf[i] && is_half(inbuf[i]->dtype) && !half)
            half = inbuf[i]->dtype;
        if (inbuf[i] && ml_is_value(inbuf[i]->dtype) && !(n->op->flags & ML_K_VALUES))
            return ag_errf(e, AG_EINVAL, n->p->op_type, "%s (node \"%s\"): input %d is a %s, "
                           "not a tensor", n->p->op_type, n->p->name ? n->p->name : "", i,
                           inbuf[i]->dtype == ML_SEQUENCE ? "sequence" : "empty optional");
    }
    for (int i = 0; i < n->nout; i++) {
        if (n->out[i] >= 0) {
            outbuf[i] = &m->slots[n->out[i]];
        } else {
            ml_tensor_init(&scratch[i]);
            outbuf[i] = &scratch[i];
        }
    }
    if (half && (n->op->flags & ML_K_HALF_VIA_FLOAT))
        rc = run_half(&k, half);
    else
        rc = n->op->fn(&k);
    for (int i = 0; i < n->nout; i++) {
        if (n->out[i] < 0) {
            slot_drop(m, &scratch[i]);
        } else if (!rc && !outbuf[i]->dtype) {
            /* An optional output the kernel does not produce. */
            if (m->values[n->out[i]].last_use >= 0 || m->values[n->out[i]].is_output)
                rc = ag_errf(e, AG_EUNPROCESSABLE, n->p->op_type,
                             "%s does not produce its output %d", n->p->op_type, i);
        }
    }
    if (rc && e && !e->code)
        ag_errf(e, rc, n->p->op_type, "%s failed", n->p->op_type);
    return rc;
}

/* ---- infer (issue 5): run limits, see ml_model_run_limited() ---- */
/* The limits live on the root graph: subgraphs (If, Loop, Scan,
 * SequenceMap bodies) and worker threads find them there. */
static struct ml_model *root_of(struct ml_model *m)
{
    while (m->parent)
        m = m->parent;
    return m;
}

bool ml_run_has_limits(const struct ml_model *m)
{
    while (m->parent)
        m = m->parent;
    return m->lim != NULL;
}

bool ml_stop_check(struct ml_model *m)
{
    struct ml_model *r = root_of(m);
    const struct ml_run_limits *l = r->lim;
    int code = 0;
    if (!l)
        return false;
    if (atomic_load_explicit(&r->stopped, memory_order_relaxed))
        return true;
    if (l->cancel && atomic_load_explicit(l->cancel, memory_order_relaxed))
        code = AG_EUNAVAILABLE;
    else if (l->deadline_us && time_mono_us() >= l->deadline_us)
        code = AG_ETIMEOUT;
    if (!code)
        return false;
    atomic_store_explicit(&r->stopped, code, memory_order_relaxed);
    return true;
}

/* stop_error() records the stopped run's error; returns its code or 0. */
static int stop_error(struct ml_model *m, struct ag_err *e)
{
    int code = atomic_load_explicit(&root_of(m)->stopped, memory_order_relaxed);
    if (code == AG_EUNAVAILABLE)
        return ag_errf(e, code, NULL, "the run was cancelled");
    if (code)
        return ag_errf(e, code, NULL, "the run passed its time limit");
    return 0;
}

int ml_kstop(struct ml_kctx *k)
{
    return ml_stop_check(k->m) ? stop_error(k->m, k->e) : 0;
}

static int run_graph(struct ml_model *m, const struct ml_tensor *const *inputs,
                     struct ml_tensor *outputs, struct ag_err *e);

int ml_model_run_limited(struct ml_model *m, const struct ml_tensor *const *inputs,
                         struct ml_tensor *outputs, const struct ml_run_limits *lim,
                         struct ag_err *e)
{
    int rc;
    m->lim = lim;
    atomic_store(&m->stopped, 0);
    rc = run_graph(m, inputs, outputs, e);
    m->lim = NULL;
    atomic_store(&m->stopped, 0);
    return rc;
}

void ml_model_input_shape(const struct ml_model *m, int i, int *ndim, int64_t dims[ML_MAX_DIMS])
{
    const struct ml_value *v = &m->values[m->inputs[i]];
    const Onnx__GraphProto *g = m->proto->graph;
    *ndim = v->ndecl <= ML_MAX_DIMS ? v->ndecl : -1;
    for (int k = 0; k < ML_MAX_DIMS; k++)
        dims[k] = -1;
    for (size_t j = 0; *ndim > 0 && j < g->n_input; j++) {
        const Onnx__ValueInfoProto *vi = g->input[j];
        const Onnx__TensorShapeProto *sh;
        if (!vi->name || strcmp(vi->name, v->name) || !vi->type ||
            vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
            !(sh = vi->type->tensor_type->shape))
            continue;
        for (int k = 0; k < *ndim && (size_t)k < sh->n_dim; k++)
            if (sh->dim[k]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                sh->dim[k]->dim_value >= 0)
                dims[k] = sh->dim[k]->dim_value;
        break;
    }
}
/* ---- end infer ---- */

static void reset_slots(struct ml_model *m)
{
    for (int i = 0; i < m->nvalues; i++)
        slot_drop(m, &m->slots[i]);
}

int ml_model_run(struct ml_model *m, const struct ml_tensor *const *inputs,
                 struct ml_tensor *outputs, struct ag_err *e)
{
    return ml_model_run_limited(m, inputs, outputs, NULL, e);
}

/* Checks graph input value `v` against its declaration; 0 or AG_EINVAL. */
static int check_input(const struct ml_value *v, const struct ml_tensor *t, struct ag_err *e)
{
    bool opt = v->kind == ML_KIND_OPTIONAL || v->kind == ML_KIND_OPTIONAL_SEQUENCE;
    bool seq = v->kind == ML_KIND_SEQUENCE || v->kind == ML_KIND_OPTIONAL_SEQUENCE;
    if (t->dtype == ML_NONE) {
        if (!opt)
            return ag_errf(e, AG_EINVAL, v->name, "input \"%s\" is not optional", v->name);
        return 0;
    }
    if (seq != (t->dtype == ML_SEQUENCE))
        return ag_errf(e, AG_EINVAL, v->name, "input \"%s\" must be a %s, not a %s", v->name,
                       seq ? "sequence" : "tensor", seq ? "tensor" : "sequence");
    if (seq) {
        const struct ml_tensor *el = t->data;
        for (int64_t j = 0; j < t->n; j++)
            if (ml_is_value(el[j].dtype) || (v->dtype && el[j].dtype != v->dtype))
                return ag_errf(e, AG_EINVAL, v->name, "input \"%s\" must be a sequence of %s "
                               "tensors; element %" PRId64 " is %s", v->name,
                               ml_dtype_name(v->dtype), j, ml_dtype_name(el[j].dtype));
        return 0;
    }
    if (v->dtype && t->dtype != v->dtype)
        return ag_errf(e, AG_EINVAL, v->name, "input \"%s\" must be %s, not %s", v->name,
                       ml_dtype_name(v->dtype), ml_dtype_name(t->dtype));
    if (v->ndecl >= 0 && t->ndim != v->ndecl)
        return ag_errf(e, AG_EINVAL, v->name, "input \"%s\" must have rank %d, not %d", v->name,
                       v->ndecl, t->ndim);
    return 0;
}

static int run_graph(struct ml_model *m, const struct ml_tensor *const *inputs,
                     struct ml_tensor *outputs, struct ag_err *e)
{
    struct ag_err local = {0};
    int rc = 0;

    /* Kernels report through k->e: give them somewhere to write. */
    if (!e)
        e = &local;
    ag_err_clear(e);

    reset_slots(m);
    for (int i = 0; i < m->nvalues; i++) {
        if (m->values[i].is_init) {
            m->slots[i] = m->values[i].init;
            m->slots[i].borrowed = true;
        } else if (m->values[i].outer >= 0 && m->parent) {
            /* Outer-scope value of a subgraph: the parent's live tensor. */
            m->slots[i] = m->parent->slots[m->values[i].outer];
            m->slots[i].borrowed = true;
        }
    }
    for (int i = 0; i < m->ninputs; i++) {
        const struct ml_value *v = &m->values[m->inputs[i]];
        const struct ml_tensor *t = inputs[i];
        if (!t) {
            rc = ag_errf(e, AG_EINVAL, v->name, "input \"%s\" is missing", v->name);
            goto out;
        }
        if (!m->parent && (rc = check_input(v, t, e)))
            goto out;
        m->slots[m->inputs[i]] = *t;
        m->slots[m->inputs[i]].borrowed = true;
    }
    for (int i = 0; i < m->nnodes; i++) {
        const struct ml_node *n = &m->nodes[i];
        int64_t t0 = m->node_us ? time_mono_us() : 0;
        if (n->skip)
            continue;
        /* infer (issue 5): the limits before every node, and after it for
         * kernels that stopped part-way (their outputs are then garbage). */
        if (ml_stop_check(m) && (rc = stop_error(m, e)))
            goto out;
        rc = run_node(m, i, e);
        if (ml_stop_check(m)) {
            ag_err_clear(e);
            rc = stop_error(m, e);
        }
        if (rc)
            goto out;
        if (m->node_us)
            m->node_us[i] += time_mono_us() - t0;
        for (int j = 0; j < n->nfree; j++)
            slot_drop(m, &m->slots[n->free_after[j]]);
    }
    for (int i = 0; i < m->noutputs; i++) {
        struct ml_tensor *t = &m->slots[m->outputs[i]];
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= m->outputs[j] == m->outputs[i];
        if (t->borrowed || dup) {
            rc = ml_tensor_copy(&outputs[i], t, e);
            if (rc)
                goto out;
        } else {
            outputs[i] = *t;
            ml_value_disown(&m->pool, t);
            ml_tensor_init(t);
        }
    }
out:
    if (rc)
        for (int i = 0; i < m->noutputs; i++)
            ml_tensor_release(&outputs[i]);
    reset_slots(m);
    return rc;
}

void ml_model_profile(const struct ml_model *m, void *fp)
{
    FILE *f = fp;
    int64_t total = 0;
    if (!m->node_us)
        return;
    for (int i = 0; i < m->nnodes; i++)
        total += m->node_us[i];
    fprintf(f, "%-24s %10s %6s\n", "operator", "ms", "share");
    for (int i = 0; i < m->nnodes; i++) {
        const char *op = m->nodes[i].p->op_type;
        int64_t t = 0;
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(m->nodes[j].p->op_type, op);
        if (seen)
            continue;
        for (int j = i; j < m->nnodes; j++)
            if (!strcmp(m->nodes[j].p->op_type, op))
                t += m->node_us[j];
        fprintf(f, "%-24s %10.3f %5.1f%%\n", op, (double)t / 1000.0,
                total ? 100.0 * (double)t / (double)total : 0.0);
    }
    /* Then every node taking at least 1% of the time, in graph order. */
    fprintf(f, "%-6s %-24s %-24s %10s %6s\n", "node", "operator", "name", "ms", "share");
    for (int i = 0; i < m->nnodes; i++)
        if (total && m->node_us[i] * 100 >= total)
            fprintf(f, "%-6d %-24s %-24.24s %10.3f %5.1f%%\n", i, m->nodes[i].p->op_type,
                    m->nodes[i].p->name ? m->nodes[i].p->name : "",
                    (double)m->node_us[i] / 1000.0, 100.0 * (double)m->node_us[i] / (double)total);
}

int ml_subgraph_run(struct ml_model *sub, const struct ml_tensor *const *inputs,
                    struct ml_tensor *outputs, struct ag_err *e)
{
    return run_graph(sub, inputs, outputs, e);
}
