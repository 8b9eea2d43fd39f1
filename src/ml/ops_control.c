/* ops_control.c - control flow with subgraphs: If and Loop (tensor values only). */
#include "core/common.h"
#include "ml/internal.h"

#define LOOP_MAX_ITERS ((int64_t)1 << 24)

/* Moves tensor `t` (owned) into output i of the node. */
static int take_output(struct ml_kctx *k, int i, struct ml_tensor *t)
{
    struct ml_tensor *o;
    if (i >= k->nout || !k->out[i])
        return 0;
    o = ml_out_like(k, i, t->dtype, t);
    if (!o)
        return k->e->code;
    return ml_cast_into(o, t, false) ? ml_kerr(k, AG_ENOMEM, "out of memory") : 0;
}

static int op_if(struct ml_kctx *k)
{
    struct ml_model *sub;
    struct ml_tensor outs[64];
    int rc, n;
    ML_REQUIRE_IN(k, 0);
    if (k->in[0]->n != 1)
        return ml_kerr(k, AG_EINVAL, "the condition must hold one element");
    sub = ml_first_i64(k->in[0]) ? k->node->sub[0] : k->node->sub[1];
    if (!sub)
        return ml_kerr(k, AG_EINVAL, "a branch is missing");
    n = ml_model_n_outputs(sub);
    if (n != k->nout || n > 64)
        return ml_kerr(k, AG_EINVAL, "the branch has %d outputs, the node %d", n, k->nout);
    memset(outs, 0, sizeof(outs));
    rc = ml_subgraph_run(sub, NULL, outs, k->e);
    for (int i = 0; i < n && !rc; i++)
        rc = take_output(k, i, &outs[i]);
    for (int i = 0; i < n; i++)
        ml_tensor_release(&outs[i]);
    return rc;
}

/* Appends `t` as row `it` of scan output accumulator `acc` (grown as needed). */
static int scan_append(struct ml_kctx *k, struct ml_tensor *acc, const struct ml_tensor *t, int64_t it)
{
    size_t es = ml_dtype_size(t->dtype), row = (size_t)t->n * es;
    if (it == 0) {
        int64_t dims[ML_MAX_DIMS];
        if (t->ndim + 1 > ML_MAX_DIMS)
            return ml_kerr(k, AG_EUNPROCESSABLE, "scan output rank too high");
        dims[0] = 16;
        memcpy(dims + 1, t->dims, sizeof(int64_t) * (size_t)t->ndim);
        if (ml_tensor_alloc(acc, t->dtype, t->ndim + 1, dims, k->e))
            return k->e->code;
        acc->dims[0] = 0;
    } else if (t->ndim + 1 != acc->ndim || memcmp(t->dims, acc->dims + 1, sizeof(int64_t) * (size_t)t->ndim)) {
        return ml_kerr(k, AG_EINVAL, "scan output changes shape between iterations");
    }
    if ((size_t)(it + 1) * row > acc->cap) {
        size_t ncap = MAX(acc->cap * 2, (size_t)(it + 1) * row);
        void *p = realloc(acc->data, ncap ? ncap : 1);
        if (!p)
            return ml_kerr(k, AG_ENOMEM, "out of memory");
        acc->data = p;
        acc->cap = ncap;
    }
    if (t->dtype == ML_STRING)
        return ml_kerr(k, AG_EUNPROCESSABLE, "string scan outputs are not supported");
    if (row)
        memcpy((char *)acc->data + (size_t)it * row, t->data, row);
    acc->dims[0] = it + 1;
    acc->n = ml_numel(acc->ndim, acc->dims);
    return 0;
}

static int op_loop(struct ml_kctx *k)
{
    struct ml_model *body = k->node->sub[0];
    int nin = body ? ml_model_n_inputs(body) : -1, nout = body ? ml_model_n_outputs(body) : -1;
    int ncarried = k->nin - 2, nscan = nout - 1 - ncarried, rc = 0;
    int64_t maxit = INT64_MAX, it;
    bool cond = true;
    struct ml_tensor carried[32], iter, cnd, outs[64], scans[32];
    const struct ml_tensor *bin[34];

    if (ncarried < 0 || nin != ncarried + 2 || nscan < 0 || ncarried > 32 || nscan > 32 ||
        k->nout != ncarried + nscan)
        return ml_kerr(k, AG_EINVAL, "the body's inputs and outputs do not match the node");
    if (k->in[0] && k->in[0]->n)
        maxit = ml_first_i64(k->in[0]);
    if (k->nin > 1 && k->in[1] && k->in[1]->n)
        cond = ml_first_i64(k->in[1]) != 0;
    memset(carried, 0, sizeof(carried));
    memset(scans, 0, sizeof(scans));
    memset(outs, 0, sizeof(outs));
    ml_tensor_init(&iter);
    ml_tensor_init(&cnd);
    if ((rc = ml_tensor_alloc(&iter, ML_INT64, 0, NULL, k->e)) ||
        (rc = ml_tensor_alloc(&cnd, ML_BOOL, 0, NULL, k->e)))
        goto out;
    for (int i = 0; i < ncarried; i++) {
        if (!k->in[2 + i]) {
            rc = ml_kerr(k, AG_EUNPROCESSABLE, "optional loop-carried values are not supported");
            goto out;
        }
        if ((rc = ml_tensor_copy(&carried[i], k->in[2 + i], k->e)))
            goto out;
    }
    for (it = 0; it < maxit && cond; it++) {
        if (it >= LOOP_MAX_ITERS) {
            rc = ml_kerr(k, AG_ETOOBIG, "more than %" PRId64 " iterations", LOOP_MAX_ITERS);
            goto out;
        }
        ((int64_t *)iter.data)[0] = it;
        ((uint8_t *)cnd.data)[0] = cond;
        bin[0] = &iter;
        bin[1] = &cnd;
        for (int i = 0; i < ncarried; i++)
            bin[2 + i] = &carried[i];
        if ((rc = ml_subgraph_run(body, bin, outs, k->e)))
            goto out;
        cond = outs[0].n ? ml_first_i64(&outs[0]) != 0 : false;
        for (int i = 0; i < ncarried; i++) {
            ml_tensor_release(&carried[i]);
            carried[i] = outs[1 + i];
            ml_tensor_init(&outs[1 + i]);
        }
        for (int i = 0; i < nscan && !rc; i++)
            rc = scan_append(k, &scans[i], &outs[1 + ncarried + i], it);
        for (int i = 0; i < nout; i++)
            ml_tensor_release(&outs[i]);
        if (rc)
            goto out;
    }
    for (int i = 0; i < ncarried && !rc; i++)
        rc = take_output(k, i, &carried[i]);
    for (int i = 0; i < nscan && !rc; i++) {
        if (!scans[i].data) {
            /* No iteration ran: an empty scan output of unknown element shape. */
            int64_t zero = 0;
            struct ml_tensor *o = ml_out(k, ncarried + i, ML_FLOAT, 1, &zero);
            rc = o ? 0 : k->e->code;
        } else {
            rc = take_output(k, ncarried + i, &scans[i]);
        }
    }
out:
    for (int i = 0; i < 32; i++) {
        ml_tensor_release(&carried[i]);
        ml_tensor_release(&scans[i]);
    }
    for (int i = 0; i < 64; i++)
        ml_tensor_release(&outs[i]);
    ml_tensor_release(&iter);
    ml_tensor_release(&cnd);
    return rc;
}

const struct ml_op ml_ops_control[] = {
    {"If", "", op_if, 0},
    {"Loop", "", op_loop, 0},
    {NULL, NULL, NULL, 0},
};
