/* fuse.c - load-time graph fusions: Conv+BatchNormalization(+Relu), Conv+Relu, Gemm+Relu;
 * then packs the remaining convolutions' weights (ml_conv_pack). */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

/* How many nodes (or graph outputs) read each value, and the last node reading it. */
struct uses {
    int *count, *reader;
};

static void count_uses(const struct ml_model *m, struct uses *u)
{
    memset(u->count, 0, sizeof(int) * (size_t)m->nvalues);
    for (int i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].skip)
            continue;
        for (int j = 0; j < m->nodes[i].nin; j++) {
            int v = m->nodes[i].in[j];
            if (v >= 0) {
                u->count[v]++;
                u->reader[v] = i;
            }
        }
    }
    for (int i = 0; i < m->noutputs; i++)
        u->count[m->outputs[i]] += 1000; /* never fold away a graph output */
}

static const struct ml_tensor *const_f32(const struct ml_model *m, const struct ml_node *n, int i)
{
    int v = i < n->nin ? n->in[i] : -1;
    if (v < 0 || !m->values[v].is_init || m->values[v].is_input ||
        m->values[v].init.dtype != ML_FLOAT)
        return NULL;
    return &m->values[v].init;
}

static float attr_f(const Onnx__NodeProto *p, const char *name, float def)
{
    for (size_t i = 0; i < p->n_attribute; i++)
        if (p->attribute[i]->name && !strcmp(p->attribute[i]->name, name) && p->attribute[i]->has_f)
            return p->attribute[i]->f;
    return def;
}

static int64_t attr_i(const Onnx__NodeProto *p, const char *name, int64_t def)
{
    for (size_t i = 0; i < p->n_attribute; i++)
        if (p->attribute[i]->name && !strcmp(p->attribute[i]->name, name) && p->attribute[i]->has_i)
            return p->attribute[i]->i;
    return def;
}

/* Folds BatchNormalization node `bn` into Conv node `c` (whose weights are constant). */
static int fold_bn(struct ml_model *m, struct ml_node *c, struct ml_node *bn, struct ag_err *e)
{
    const struct ml_tensor *w = const_f32(m, c, 1), *b = c->nin > 2 ? const_f32(m, c, 2) : NULL;
    const struct ml_tensor *sc = const_f32(m, bn, 1), *sh = const_f32(m, bn, 2),
                           *mu = const_f32(m, bn, 3), *var = const_f32(m, bn, 4);
    int64_t M, per;
    double eps = attr_f(bn->p, "epsilon", 1e-5f);
    int rc;

    if (!w || !sc || !sh || !mu || !var || w->ndim < 3 || (c->nin > 2 && c->in[2] >= 0 && !b))
        return 1;
    M = w->dims[0];
    if (sc->n != M || sh->n != M || mu->n != M || var->n != M || (b && b->n != M))
        return 1;
    if (attr_i(bn->p, "training_mode", 0) || bn->nout > 1)
        return 1;
    per = w->n / M;
    if (!c->fw.data && (rc = ml_tensor_copy(&c->fw, w, e)))
        return rc;
    if (!c->fb.data) {
        if ((rc = ml_tensor_alloc(&c->fb, ML_FLOAT, 1, &M, e)))
            return rc;
        if (b)
            memcpy(c->fb.data, b->data, sizeof(float) * (size_t)M);
    }
    for (int64_t o = 0; o < M; o++) {
        double s = ((const float *)sc->data)[o] / sqrt(((const float *)var->data)[o] + eps);
        float *wr = (float *)c->fw.data + o * per, *bb = (float *)c->fb.data + o;
        for (int64_t i = 0; i < per; i++)
            wr[i] = (float)(wr[i] * s);
        *bb = (float)((*bb - ((const float *)mu->data)[o]) * s + ((const float *)sh->data)[o]);
    }
    return 0;
}

int ml_fuse(struct ml_model *m, struct ag_err *e)
{
    struct uses u;
    int rc = 0;
    u.count = calloc((size_t)m->nvalues + 1, sizeof(int));
    u.reader = calloc((size_t)m->nvalues + 1, sizeof(int));
    if (!u.count || !u.reader) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    count_uses(m, &u);
    for (int i = 0; i < m->nnodes; i++) {
        struct ml_node *n = &m->nodes[i];
        bool conv = !strcmp(n->p->op_type, "Conv") && !*(n->p->domain ? n->p->domain : "");
        bool gemm = !strcmp(n->p->op_type, "Gemm") && !*(n->p->domain ? n->p->domain : "");
        int o;
        if (n->skip || (!conv && !gemm) || n->nout != 1 || (o = n->out[0]) < 0)
            continue;
        if (conv && u.count[o] == 1) {
            struct ml_node *bn = &m->nodes[u.reader[o]];
            if (!strcmp(bn->p->op_type, "BatchNormalization") && bn->nin >= 5 && bn->in[0] == o &&
                bn->out[0] >= 0) {
                int r = fold_bn(m, n, bn, e);
                if (r < 0) {
                    rc = r;
                    goto out;
                }
                if (r == 0) {
                    bn->skip = true;
                    n->out[0] = o = bn->out[0];
                    count_uses(m, &u);
                }
            }
        }
        if (u.count[o] == 1 && (conv || gemm)) {
            struct ml_node *r = &m->nodes[u.reader[o]];
            const char *dom = r->p->domain ? r->p->domain : "";
            if (!strcmp(r->p->op_type, "Relu") && !*dom && r->nin == 1 && r->out[0] >= 0 &&
                m->values[o].dtype != ML_FLOAT16 && m->values[o].dtype != ML_BFLOAT16) {
                r->skip = true;
                n->act = ML_ACT_RELU;
                n->out[0] = r->out[0];
                count_uses(m, &u);
            }
        }
    }
    /* Pack the weights of the convolutions that remain, fused or not. */
    for (int i = 0; i < m->nnodes && !rc; i++) {
        struct ml_node *n = &m->nodes[i];
        if (!n->skip && !strcmp(n->p->op_type, "Conv") && !*(n->p->domain ? n->p->domain : ""))
            rc = ml_conv_pack(m, n, e);
    }
out:
    free(u.count);
    free(u.reader);
    return rc;
}
