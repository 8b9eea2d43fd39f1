/* model.c - loads an ONNX model with protobuf-c, validates it and plans its execution. */
#include "core/common.h"
#include "core/buf.h"
#include "core/util.h"
#include "ml/internal.h"

#include <libgen.h>

#define ML_MAX_NODES 1000000
#define ML_NAME_MAX 4096

/* Open-addressing name -> value index map used only while loading. */
struct name_map {
    const char **keys;
    int *vals;
    size_t cap;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int map_init(struct name_map *m, size_t n)
{
    m->cap = 16;
    while (m->cap < n * 2 + 16)
        m->cap <<= 1;
    m->keys = calloc(m->cap, sizeof(*m->keys));
    m->vals = calloc(m->cap, sizeof(*m->vals));
    return m->keys && m->vals ? 0 : AG_ENOMEM;
}

static void map_release(struct name_map *m)
{
    free(m->keys);
    free(m->vals);
}

static int map_get(const struct name_map *m, const char *k)
{
    for (size_t i = hash_str(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return -1;
        if (!strcmp(m->keys[i], k))
            return m->vals[i];
    }
}

static void map_put(struct name_map *m, const char *k, int v)
{
    size_t i = hash_str(k) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], k))
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->vals[i] = v;
}

void ml_model_free(struct ml_model *m)
{
    if (!m)
        return;
    ml_threads_release(&m->threads);
    for (int i = 0; i < m->nvalues; i++) {
        free(m->values[i].name);
        ml_tensor_release(&m->values[i].init);
    }
    for (int i = 0; i < m->nnodes; i++) {
        free(m->nodes[i].in);
        free(m->nodes[i].out);
        free(m->nodes[i].free_after);
        ml_tensor_release(&m->nodes[i].fw);
        ml_tensor_release(&m->nodes[i].fb);
        free(m->nodes[i].wpack);
        ml_model_free(m->nodes[i].sub[0]);
        ml_model_free(m->nodes[i].sub[1]);
        free(m->nodes[i].implicit);
    }
    if (m->slots)
        for (int i = 0; i < m->nvalues; i++)
            if (!m->slots[i].borrowed)
                ml_tensor_release(&m->slots[i]);
    ml_pool_release(&m->pool);
    free(m->slots);
    free(m->values);
    free(m->nodes);
    free(m->inputs);
    free(m->outputs);
    free(m->dir);
    free(m->node_us);
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    free(m);
}

/* Reads the tensor type of a TypeProto (element type and rank); fails for
 * anything else. */
static int tensor_type(const Onnx__TypeProto *tp, const char *name, int *dtype, int *rank,
                       struct ag_err *e)
{
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return ag_errf(e, AG_EUNPROCESSABLE, name,
                       "value \"%s\" is not a tensor, a sequence of tensors or an optional of "
                       "those (maps and sparse tensors are not supported)", name);
    if (tp->tensor_type->has_elem_type)
        *dtype = tp->tensor_type->elem_type;
    if (tp->tensor_type->shape)
        *rank = (int)tp->tensor_type->shape->n_dim;
    if (*dtype < 0 || *dtype >= ML_DTYPE_COUNT_ || *dtype == ML_COMPLEX64 ||
        *dtype == ML_COMPLEX128)
        return ag_errf(e, AG_EUNPROCESSABLE, name, "value \"%s\" has unsupported type %d",
                       name, *dtype);
    return 0;
}

/* Reads the declared kind (tensor, sequence of tensors, optional of either),
 * element type and rank of a ValueInfoProto. */
static int value_type(const Onnx__ValueInfoProto *vi, int *dtype, int *rank, int *kind,
                      struct ag_err *e)
{
    const Onnx__TypeProto *tp = vi->type;
    const char *name = vi->name ? vi->name : "";
    *dtype = ML_UNDEFINED;
    *rank = -1;
    *kind = ML_KIND_TENSOR;
    if (!tp || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return 0;
    if (tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) {
        tp = tp->optional_type->elem_type;
        *kind = ML_KIND_OPTIONAL;
        if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
            tp = tp->sequence_type->elem_type;
            *kind = ML_KIND_OPTIONAL_SEQUENCE;
        }
    } else if (tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
        tp = tp->sequence_type->elem_type;
        *kind = ML_KIND_SEQUENCE;
    }
    if (*kind != ML_KIND_TENSOR && !tp)
        return 0; /* a sequence or optional of undeclared elements */
    return tensor_type(tp, name, dtype, rank, e);
}

/* Root graphs take and give sequences and optionals only when the caller
 * said it handles them. */
static int check_io_kind(const struct ml_model *m, const char *name, int kind, struct ag_err *e)
{
    if (kind == ML_KIND_TENSOR || m->parent || m->opts.sequence_io)
        return 0;
    return ag_errf(e, AG_EUNPROCESSABLE, name,
                   "graph input or output \"%s\" is a %s: this caller handles tensors only",
                   name, kind == ML_KIND_SEQUENCE ? "sequence" : "optional");
}

static int add_value(struct ml_model *m, struct name_map *map, const char *name, int *idx,
                     struct ag_err *e)
{
    struct ml_value *v;
    if (strlen(name) > ML_NAME_MAX)
        return ag_errf(e, AG_EINVAL, NULL, "a value name is longer than %d bytes", ML_NAME_MAX);
    v = &m->values[m->nvalues];
    memset(v, 0, sizeof(*v));
    v->name = strdup(name);
    if (!v->name)
        return ag_err_set(e, AG_ENOMEM);
    v->dtype = ML_UNDEFINED;
    v->ndecl = -1;
    v->input_index = -1;
    v->last_use = -1;
    v->outer = -1;
    map_put(map, v->name, m->nvalues);
    *idx = m->nvalues++;
    return 0;
}

static int read_opsets(struct ml_model *m, struct ag_err *e)
{
    const Onnx__ModelProto *p = m->proto;
    bool training = false;
    for (size_t i = 0; i < p->n_opset_import; i++) {
        const char *d = p->opset_import[i]->domain ? p->opset_import[i]->domain : "";
        int64_t v = p->opset_import[i]->has_version ? p->opset_import[i]->version : 0;
        if (!*d || !strcmp(d, "ai.onnx"))
            m->opset = (int)MIN(v, 1000);
        else if (!strcmp(d, "ai.onnx.ml"))
            m->opset_ml = (int)MIN(v, 1000);
        else if (!strcmp(d, "ai.onnx.preview.training"))
            training = true;
    }
    /* A graph of the training optimizers alone imports only their domain;
     * they read no default-domain operator version. */
    if (!m->opset && training)
        return 0;
    if (!m->opset && p->n_opset_import)
        return ag_errf(e, AG_EUNPROCESSABLE, "opset_import",
                       "the model uses only non-default domains (%s)",
                       p->opset_import[0]->domain ? p->opset_import[0]->domain : "");
    if (!m->opset)
        return ag_errf(e, AG_EINVAL, "opset_import", "the model imports no default-domain opset");
    return 0;
}

/* Operator versions before opset 7 that differ from the later ones in more
 * than ignorable attributes (`consumed_inputs`) or the legacy `broadcast` /
 * `axis` of binary ops (which ops_elementwise.c implements): those we refuse
 * by name, with the reason. Returns 0 or AG_EUNPROCESSABLE. */
static int check_legacy(const struct ml_model *m, const Onnx__NodeProto *np, struct ag_err *e)
{
    const char *op = np->op_type, *why = NULL;
    int64_t is_test = 0, spatial = 1;
    bool cast_str = false;
    if (m->opset >= 7)
        return 0;
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        const char *an = a->name ? a->name : "";
        if (!strcmp(an, "is_test"))
            is_test = a->i;
        else if (!strcmp(an, "spatial"))
            spatial = a->i;
        else if (!strcmp(an, "to") && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
            cast_str = true;
    }
    if (!strcmp(op, "Upsample"))
        why = "Upsample before opset 7 (scale attributes) is not supported";
    else if (!strcmp(op, "Tile") && m->opset < 6)
        why = "Tile before opset 6 (tiles and axis inputs) is not supported";
    else if (!strcmp(op, "Pad") && m->opset < 2)
        why = "Pad before opset 2 (the paddings attribute) is not supported";
    else if (!strcmp(op, "Split") && m->opset < 2 && np->n_input > 1)
        why = "Split before opset 2 with a split input is not supported";
    else if (!strcmp(op, "Cast") && cast_str)
        why = "Cast before opset 6 (a string `to`) is not supported";
    else if (!strcmp(op, "BatchNormalization") && (!is_test || !spatial))
        why = "BatchNormalization before opset 7 is supported in test mode (is_test=1, "
              "spatial=1) only";
    if (why)
        return ag_errf(e, AG_EUNPROCESSABLE, op, "%s (default-domain opset %d)", why, m->opset);
    return 0;
}

/* The default-domain operators that carry subgraphs. */
static bool has_subgraphs(const char *op)
{
    return !strcmp(op, "If") || !strcmp(op, "Loop") || !strcmp(op, "Scan") ||
           !strcmp(op, "SequenceMap");
}

/* Checks that the node's subgraph attributes exist only on ops we support. */
static int check_node(struct ml_model *m, const Onnx__NodeProto *np, struct ag_err *e)
{
    const char *dom = np->domain ? np->domain : "";
    if (!np->op_type)
        return ag_errf(e, AG_EINVAL, NULL, "a node has no op_type");
    if (!strcmp(dom, "ai.onnx"))
        dom = "";
    if (!ml_op_find(dom, np->op_type))
        return ag_errf(e, AG_EUNPROCESSABLE, np->op_type, "unsupported operator %s%s%s",
                       dom, *dom ? "." : "", np->op_type);
    if (!*dom && !m->opset)
        return ag_errf(e, AG_EINVAL, np->op_type, "operator %s needs the default-domain opset, "
                       "which the model does not import", np->op_type);
    if (!*dom && check_legacy(m, np, e))
        return AG_EUNPROCESSABLE;
    for (size_t i = 0; i < np->n_attribute; i++) {
        const Onnx__AttributeProto *a = np->attribute[i];
        if ((a->g || a->n_graphs) && !has_subgraphs(np->op_type))
            return ag_errf(e, AG_EUNPROCESSABLE, np->op_type,
                           "operator %s with a subgraph is not supported", np->op_type);
        if (a->ref_attr_name)
            return ag_errf(e, AG_EINVAL, np->op_type, "attribute references outside a function");
    }
    return 0;
}

/* Loading context: a graph's name map, and the enclosing graph for subgraphs. */
struct build_ctx {
    struct ml_model *m;
    struct name_map *map;
    struct build_ctx *parent;
    int node;                  /* the node of `parent` being built (owner of this subgraph) */
};

static int add_value(struct ml_model *m, struct name_map *map, const char *name, int *idx,
                     struct ag_err *e);
static int build_graph(struct ml_model *m, const Onnx__GraphProto *g, struct build_ctx *parent,
                       int parent_node, struct ag_err *e);
static void plan(struct ml_model *m);

/* Finds `name` in this graph or, for subgraphs, in the enclosing ones (an
 * outer-scope reference: recorded as an implicit input of the owning node).
 * Returns the local value index or -1. */
static int resolve(struct build_ctx *c, const char *name, struct ag_err *e)
{
    int idx = map_get(c->map, name), pidx;
    struct ml_node *owner;
    int *ni;
    if (idx >= 0 || !c->parent)
        return idx;
    pidx = resolve(c->parent, name, e);
    if (pidx < 0)
        return -1;
    if (add_value(c->m, c->map, name, &idx, e))
        return -2;
    c->m->values[idx].outer = pidx;
    c->m->values[idx].dtype = c->parent->m->values[pidx].dtype;
    owner = &c->parent->m->nodes[c->node];
    ni = realloc(owner->implicit, sizeof(int) * (size_t)(owner->nimplicit + 1));
    if (!ni)
        return -2;
    owner->implicit = ni;
    owner->implicit[owner->nimplicit++] = pidx;
    return idx;
}

/* Builds the subgraphs of node `ni` (If branches, Loop body). */
static int build_subgraphs(struct build_ctx *c, int ni, struct ag_err *e)
{
    struct ml_node *n = &c->m->nodes[ni];
    int rc = 0, k = 0;
    for (size_t i = 0; i < n->p->n_attribute && !rc; i++) {
        const Onnx__AttributeProto *a = n->p->attribute[i];
        const char *an = a->name ? a->name : "";
        int slot;
        if (!a->g)
            continue;
        if (!strcmp(an, "then_branch") || !strcmp(an, "body"))
            slot = 0;
        else if (!strcmp(an, "else_branch"))
            slot = 1;
        else
            return ag_errf(e, AG_EUNPROCESSABLE, n->p->op_type, "unexpected subgraph \"%s\"", an);
        if (n->sub[slot])
            return ag_errf(e, AG_EINVAL, n->p->op_type, "subgraph \"%s\" is given twice", an);
        struct ml_model *sub = calloc(1, sizeof(*sub));
        if (!sub)
            return ag_err_set(e, AG_ENOMEM);
        n->sub[slot] = sub;
        sub->opts = c->m->opts;
        sub->opset = c->m->opset;
        sub->opset_ml = c->m->opset_ml;
        sub->parent = c->m;
        sub->tp = c->m->tp ? c->m->tp : &c->m->threads;
        if (c->m->dir && !(sub->dir = strdup(c->m->dir)))
            return ag_err_set(e, AG_ENOMEM);
        rc = build_graph(sub, a->g, c, ni, e);
        if (!rc) {
            plan(sub);
            sub->pool.limit = sub->opts.mem_limit;
            sub->slots = calloc((size_t)sub->nvalues + 1, sizeof(*sub->slots));
            if (!sub->slots)
                rc = ag_err_set(e, AG_ENOMEM);
        }
        k++;
    }
    if (!rc && ((!strcmp(n->p->op_type, "If") && (!n->sub[0] || !n->sub[1])) ||
                (strcmp(n->p->op_type, "If") && !n->sub[0])))
        rc = ag_errf(e, AG_EINVAL, n->p->op_type, "%s lacks its subgraphs", n->p->op_type);
    UNUSED(k);
    return rc;
}

static int build_graph(struct ml_model *m, const Onnx__GraphProto *g, struct build_ctx *parent,
                       int parent_node, struct ag_err *e)
{
    struct name_map map = {0};
    struct build_ctx ctx = {m, &map, parent, parent_node};
    size_t maxv;
    int rc = 0, idx;

    if (g->n_node > ML_MAX_NODES)
        return ag_errf(e, AG_ETOOBIG, "graph", "the graph has more than %d nodes", ML_MAX_NODES);
    maxv = g->n_input + g->n_initializer + g->n_output;
    for (size_t i = 0; i < g->n_node; i++)
        maxv += g->node[i]->n_output + g->node[i]->n_input; /* inputs: outer-scope references */
    m->values = calloc(maxv + 1, sizeof(*m->values));
    m->nodes = calloc(g->n_node + 1, sizeof(*m->nodes));
    m->inputs = calloc(g->n_input + 1, sizeof(int));
    m->outputs = calloc(g->n_output + 1, sizeof(int));
    if (!m->values || !m->nodes || !m->inputs || !m->outputs || map_init(&map, maxv)) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    /* Initializers first, then inputs (an input may shadow an initializer: a default). */
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *tp = g->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (!*name || map_get(&map, name) >= 0) {
            rc = ag_errf(e, AG_EINVAL, "initializer", "initializer \"%s\" is unnamed or repeated",
                         name);
            goto out;
        }
        if ((rc = add_value(m, &map, name, &idx, e)))
            goto out;
        rc = ml_tensor_from_proto(&m->values[idx].init, tp, m->dir, m->opts.max_model_bytes, e);
        if (rc)
            goto out;
        m->values[idx].is_init = true;
        m->values[idx].dtype = m->values[idx].init.dtype;
        m->values[idx].ndecl = m->values[idx].init.ndim;
    }
    if (g->n_sparse_initializer) {
        rc = ag_errf(e, AG_EUNPROCESSABLE, "initializer", "sparse initializers are not supported");
        goto out;
    }
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        const char *name = vi->name ? vi->name : "";
        int dt, rank, kind;
        if ((rc = value_type(vi, &dt, &rank, &kind, e)) ||
            (rc = check_io_kind(m, name, kind, e)))
            goto out;
        idx = map_get(&map, name);
        if (idx >= 0 && !m->values[idx].is_init) {
            rc = ag_errf(e, AG_EINVAL, "input", "graph input \"%s\" is repeated", name);
            goto out;
        }
        if (!*name) {
            rc = ag_errf(e, AG_EINVAL, "input", "a graph input has no name");
            goto out;
        }
        if (idx < 0 && (rc = add_value(m, &map, name, &idx, e)))
            goto out;
        if (dt == ML_UNDEFINED && !parent && kind == ML_KIND_TENSOR) {
            rc = ag_errf(e, AG_EINVAL, "input", "graph input \"%s\" has no declared type", name);
            goto out;
        }
        if (m->values[idx].is_init && (m->values[idx].dtype != dt || kind != ML_KIND_TENSOR)) {
            rc = ag_errf(e, AG_EINVAL, "input", "input \"%s\" and its initializer differ in type",
                         name);
            goto out;
        }
        m->values[idx].is_input = true;
        m->values[idx].dtype = dt;
        m->values[idx].ndecl = rank;
        m->values[idx].kind = kind;
        /* An input with an initializer is a constant with a default: the
         * backend-test convention (and onnxruntime's) is not to feed it. */
        if (!m->values[idx].is_init) {
            m->values[idx].input_index = m->ninputs;
            m->inputs[m->ninputs++] = idx;
        }
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        struct ml_node *n = &m->nodes[i];
        const char *dom = np->domain ? np->domain : "";
        if ((rc = check_node(m, np, e)))
            goto out;
        n->p = np;
        n->op = ml_op_find(!strcmp(dom, "ai.onnx") ? "" : dom, np->op_type);
        n->nin = (int)np->n_input;
        n->nout = (int)np->n_output;
        n->in = calloc(np->n_input + 1, sizeof(int));
        n->out = calloc(np->n_output + 1, sizeof(int));
        n->free_after = calloc(np->n_input + np->n_output + 1, sizeof(int));
        m->nnodes = (int)i + 1;
        if (!n->in || !n->out || !n->free_after) {
            rc = ag_err_set(e, AG_ENOMEM);
            goto out;
        }
        for (size_t j = 0; j < np->n_input; j++) {
            const char *name = np->input[j] ? np->input[j] : "";
            if (!*name) {
                n->in[j] = -1;
                continue;
            }
            idx = resolve(&ctx, name, e);
            if (idx == -2) {
                rc = e && e->code ? e->code : AG_ENOMEM;
                goto out;
            }
            if (idx < 0) {
                /* Not yet defined: either a cycle or out-of-order nodes. */
                rc = ag_errf(e, AG_EINVAL, np->op_type,
                             "node %zu (%s) reads \"%s\" before any node produces it: the "
                             "graph is not in topological order or has a cycle",
                             i, np->op_type, name);
                goto out;
            }
            n->in[j] = idx;
            m->values[idx].last_use = (int)i;
        }
        for (size_t j = 0; j < np->n_output; j++) {
            const char *name = np->output[j] ? np->output[j] : "";
            if (!*name) {
                n->out[j] = -1;
                continue;
            }
            if (map_get(&map, name) >= 0) {
                rc = ag_errf(e, AG_EINVAL, np->op_type,
                             "value \"%s\" is produced twice (the graph is not in SSA form)", name);
                goto out;
            }
            if ((rc = add_value(m, &map, name, &idx, e)))
                goto out;
            n->out[j] = idx;
        }
        if (has_subgraphs(n->op->name) && !*n->op->domain &&
            (rc = build_subgraphs(&ctx, (int)i, e)))
            goto out;
    }
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name ? g->output[i]->name : "";
        int dt, rank, kind;
        if ((rc = value_type(g->output[i], &dt, &rank, &kind, e)) ||
            (rc = check_io_kind(m, name, kind, e)))
            goto out;
        idx = resolve(&ctx, name, e);
        if (idx < 0) {
            rc = ag_errf(e, AG_EINVAL, "output", "graph output \"%s\" is never produced", name);
            goto out;
        }
        m->values[idx].is_output = true;
        if (dt != ML_UNDEFINED)
            m->values[idx].dtype = dt;
        m->values[idx].kind = kind;
        m->outputs[m->noutputs++] = idx;
    }
    for (size_t i = 0; i < g->n_value_info; i++) {
        int dt, rank, kind;
        idx = g->value_info[i]->name ? map_get(&map, g->value_info[i]->name) : -1;
        if (idx >= 0 && !value_type(g->value_info[i], &dt, &rank, &kind, NULL) && dt &&
            kind == ML_KIND_TENSOR &&
            m->values[idx].dtype == ML_UNDEFINED)
            m->values[idx].dtype = dt;
    }
out:
    map_release(&map);
    return rc;
}

/* The plan: after node i runs, the buffers of values whose last reader is i
 * (and that are neither graph outputs, inputs nor initializers) go back to
 * the pool; outputs nobody reads are freed right after their producer. */
static void plan(struct ml_model *m)
{
    /* Last readers again: fusion removed some nodes. */
    for (int i = 0; i < m->nvalues; i++)
        m->values[i].last_use = -1;
    for (int i = 0; i < m->nnodes; i++)
        for (int j = 0; !m->nodes[i].skip && j < m->nodes[i].nin; j++)
            if (m->nodes[i].in[j] >= 0)
                m->values[m->nodes[i].in[j]].last_use = i;
    for (int i = 0; i < m->nnodes; i++)
        for (int j = 0; j < m->nodes[i].nimplicit; j++)
            m->values[m->nodes[i].implicit[j]].last_use = MAX(m->values[m->nodes[i].implicit[j]].last_use, i);
    for (int i = 0; i < m->nnodes; i++) {
        struct ml_node *n = &m->nodes[i];
        if (n->skip)
            continue;
        for (int j = 0; j < n->nin; j++) {
            int v = n->in[j];
            bool dup = false;
            if (v < 0 || m->values[v].last_use != i || m->values[v].is_output ||
                m->values[v].is_input || m->values[v].is_init || m->values[v].outer >= 0)
                continue;
            for (int k = 0; k < n->nfree; k++)
                dup |= n->free_after[k] == v;
            if (!dup)
                n->free_after[n->nfree++] = v;
        }
        for (int j = 0; j < n->nimplicit; j++) {
            int v = n->implicit[j];
            bool dup = false;
            if (m->values[v].last_use != i || m->values[v].is_output || m->values[v].is_input ||
                m->values[v].is_init || m->values[v].outer >= 0)
                continue;
            for (int q = 0; q < n->nfree; q++)
                dup |= n->free_after[q] == v;
            if (!dup) {
                int *nf = realloc(n->free_after, sizeof(int) * (size_t)(n->nin + n->nout + n->nimplicit + 1));
                if (!nf)
                    continue;
                n->free_after = nf;
                n->free_after[n->nfree++] = v;
            }
        }
        for (int j = 0; j < n->nout; j++) {
            int v = n->out[j];
            if (v >= 0 && m->values[v].last_use < 0 && !m->values[v].is_output)
                n->free_after[n->nfree++] = v;
        }
    }
}

static int load_proto(struct ml_model *m, const void *data, size_t len, struct ag_err *e)
{
    int rc;
    m->proto = onnx__model_proto__unpack(NULL, len, data);
    if (!m->proto)
        return ag_errf(e, AG_ECORRUPT, NULL, "the file is not a valid ONNX model (protobuf "
                       "decoding failed: truncated or corrupt)");
    if (m->proto->n_functions)
        return ag_errf(e, AG_EUNPROCESSABLE, "functions", "model-local functions are not supported");
    if (!m->proto->graph)
        return ag_errf(e, AG_EINVAL, "graph", "the model has no graph");
    if ((rc = read_opsets(m, e)) || (rc = build_graph(m, m->proto->graph, NULL, -1, e)) ||
        (rc = ml_fuse(m, e)))
        return rc;
    plan(m);
    m->slots = calloc((size_t)m->nvalues + 1, sizeof(*m->slots));
    if (!m->slots)
        return ag_err_set(e, AG_ENOMEM);
    for (int i = 0; i < m->nvalues; i++)
        m->values[i].rt = &m->slots[i];
    m->pool.limit = m->opts.mem_limit;
    if (m->opts.profile && !(m->node_us = calloc((size_t)m->nnodes + 1, sizeof(int64_t))))
        return ag_err_set(e, AG_ENOMEM);
    ml_blas_threads(m->opts.threads);
    return ml_threads_init(&m->threads, m->opts.threads);
}

static void apply_opts(struct ml_model *m, const struct ml_opts *o)
{
    if (o)
        m->opts = *o;
    if (m->opts.threads <= 0)
        m->opts.threads = 1;
    if (m->opts.threads > 64)
        m->opts.threads = 64;
    if (!m->opts.mem_limit)
        m->opts.mem_limit = (size_t)4 << 30;
    if (!m->opts.max_model_bytes)
        m->opts.max_model_bytes = (size_t)2 << 30;
}

int ml_model_load_buf(struct ml_model **out, const void *data, size_t len, const char *dir,
                      const struct ml_opts *o, struct ag_err *e)
{
    struct ml_model *m = calloc(1, sizeof(*m));
    int rc;
    if (!m)
        return ag_err_set(e, AG_ENOMEM);
    apply_opts(m, o);
    if (len > m->opts.max_model_bytes) {
        rc = ag_errf(e, AG_ETOOBIG, NULL, "the model is larger than %zu bytes",
                     m->opts.max_model_bytes);
        goto out;
    }
    if (dir && !(m->dir = strdup(dir))) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    rc = load_proto(m, data, len, e);
out:
    if (rc)
        ml_model_free(m);
    else
        *out = m;
    return rc;
}

int ml_model_load(struct ml_model **out, const char *path, const struct ml_opts *o,
                  struct ag_err *e)
{
    struct buf b;
    char *tmp = strdup(path), *dir;
    struct ml_opts oo = {0};
    int rc;

    if (o)
        oo = *o;
    if (!oo.max_model_bytes)
        oo.max_model_bytes = (size_t)2 << 30;
    buf_init(&b, oo.max_model_bytes);
    if (!tmp)
        return ag_err_set(e, AG_ENOMEM);
    rc = buf_read_file(&b, path);
    if (rc) {
        rc = ag_errf(e, rc, NULL, rc == AG_ETOOBIG ? "%s is larger than the model size limit"
                                                   : "cannot read %s", path);
        goto out;
    }
    dir = dirname(tmp);
    rc = ml_model_load_buf(out, b.p, b.n, dir, &oo, e);
out:
    free(tmp);
    buf_release(&b);
    return rc;
}

int ml_model_n_inputs(const struct ml_model *m)
{
    return m->ninputs;
}

int ml_model_n_outputs(const struct ml_model *m)
{
    return m->noutputs;
}

const char *ml_model_input_name(const struct ml_model *m, int i)
{
    return m->values[m->inputs[i]].name;
}

const char *ml_model_output_name(const struct ml_model *m, int i)
{
    return m->values[m->outputs[i]].name;
}

int ml_model_input_dtype(const struct ml_model *m, int i)
{
    return m->values[m->inputs[i]].dtype;
}

int ml_model_output_dtype(const struct ml_model *m, int i)
{
    return m->values[m->outputs[i]].dtype;
}

int ml_model_input_kind(const struct ml_model *m, int i)
{
    return m->values[m->inputs[i]].kind;
}

int ml_model_output_kind(const struct ml_model *m, int i)
{
    return m->values[m->outputs[i]].kind;
}

int ml_model_input_index(const struct ml_model *m, const char *name)
{
    for (int i = 0; i < m->ninputs; i++)
        if (!strcmp(m->values[m->inputs[i]].name, name))
            return i;
    return -1;
}

static void print_vi(FILE *f, const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto *tp = vi->type;
    const char *close = "";
    fprintf(f, "  %s: ", vi->name ? vi->name : "");
    /* optional<...> and sequence<...> around a tensor type. */
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) {
        fprintf(f, "optional<");
        close = ">";
        tp = tp->optional_type->elem_type;
    }
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE) {
        fprintf(f, "sequence<");
        close = *close ? ">>" : ">";
        tp = tp->sequence_type->elem_type;
    }
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        fprintf(f, "%s%s\n", *close ? "?" : "(non-tensor)", close);
        return;
    }
    fprintf(f, "%s", ml_dtype_name(tp->tensor_type->has_elem_type ? tp->tensor_type->elem_type : 0));
    if (tp->tensor_type->shape) {
        fprintf(f, "[");
        for (size_t i = 0; i < tp->tensor_type->shape->n_dim; i++) {
            const Onnx__TensorShapeProto__Dimension *d = tp->tensor_type->shape->dim[i];
            if (i)
                fprintf(f, ",");
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                fprintf(f, "%" PRId64, d->dim_value);
            else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                fprintf(f, "%s", d->dim_param);
            else
                fprintf(f, "?");
        }
        fprintf(f, "]");
    }
    fprintf(f, "%s\n", close);
}

void ml_model_info(const struct ml_model *m, void *fp)
{
    FILE *f = fp;
    const Onnx__ModelProto *p = m->proto;
    const Onnx__GraphProto *g = p->graph;
    int64_t params = 0;
    const char **ops = calloc((size_t)m->nnodes + 1, sizeof(char *));
    int *counts = calloc((size_t)m->nnodes + 1, sizeof(int)), nops = 0;

    fprintf(f, "ir_version: %" PRId64 "\n", p->has_ir_version ? p->ir_version : 0);
    if (p->producer_name)
        fprintf(f, "producer: %s %s\n", p->producer_name, p->producer_version ? p->producer_version : "");
    fprintf(f, "graph: %s\n", g->name ? g->name : "");
    fprintf(f, "opsets:\n");
    for (size_t i = 0; i < p->n_opset_import; i++)
        fprintf(f, "  %s %" PRId64 "\n",
                p->opset_import[i]->domain && *p->opset_import[i]->domain ? p->opset_import[i]->domain
                                                                          : "ai.onnx",
                p->opset_import[i]->version);
    fprintf(f, "inputs:\n");
    for (size_t i = 0; i < g->n_input; i++) {
        bool init = false;
        for (size_t j = 0; j < g->n_initializer && !init; j++)
            init = g->initializer[j]->name && g->input[i]->name &&
                   !strcmp(g->initializer[j]->name, g->input[i]->name);
        if (!init)
            print_vi(f, g->input[i]);
    }
    fprintf(f, "outputs:\n");
    for (size_t i = 0; i < g->n_output; i++)
        print_vi(f, g->output[i]);
    for (int i = 0; i < m->nvalues; i++)
        if (m->values[i].is_init)
            params += m->values[i].init.n;
    if (ops && counts) {
        for (int i = 0; i < m->nnodes; i++) {
            int j;
            for (j = 0; j < nops; j++)
                if (!strcmp(ops[j], m->nodes[i].p->op_type))
                    break;
            if (j == nops)
                ops[nops++] = m->nodes[i].p->op_type;
            counts[j]++;
        }
        fprintf(f, "operators (%d nodes):\n", m->nnodes);
        for (int j = 0; j < nops; j++)
            fprintf(f, "  %-24s %d\n", ops[j], counts[j]);
    }
    fprintf(f, "parameters: %" PRId64 "\n", params);
    fprintf(f, "blas: %s\n", ml_blas_info());
    free(ops);
    free(counts);
}
