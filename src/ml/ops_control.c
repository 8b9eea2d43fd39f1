/* ops_control.c - control flow with subgraphs: If, Loop, Scan and SequenceMap. */
#include "core/common.h"
#include "ml/internal.h"

#define LOOP_MAX_ITERS ((int64_t)1 << 24)

/* Copies value `t` (a tensor, sequence or empty optional) into output i of
 * the node. */
static int take_output(struct ml_kctx *k, int i, struct ml_tensor *t)
{
    struct ml_tensor *o;
    if (i >= k->nout || !k->out[i])
        return 0;
    if (ml_is_value(t->dtype) || t->dtype == ML_STRING)
        return ml_value_out(k, i, t);
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
    if (k->in[0]->n != 1 || ml_is_value(k->in[0]->dtype))
        return ml_kerr(k, AG_EINVAL, "the condition must be a tensor of one element");
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
    if (ml_is_value(t->dtype))
        return ml_kerr(k, AG_EINVAL, "scan outputs must be tensors, not a %s",
                       ml_dtype_name(t->dtype));
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
    if ((k->in[0] && ml_is_value(k->in[0]->dtype)) ||
        (k->nin > 1 && k->in[1] && ml_is_value(k->in[1]->dtype)))
        return ml_kerr(k, AG_EINVAL, "the trip count and condition must be tensors");
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

/* ---- Scan ---- */

#define SCAN_MAX 32

/* Copies index `idx` along `axis` of src into dst (allocated, rank - 1). */
static int slice_axis(struct ml_kctx *k, const struct ml_tensor *src, int axis, int64_t idx,
                      struct ml_tensor *dst)
{
    int64_t dims[ML_MAX_DIMS], outer = 1, inner = 1;
    size_t es = ml_dtype_size(src->dtype);
    int nd = 0, rc;
    for (int d = 0; d < src->ndim; d++) {
        if (d != axis)
            dims[nd++] = src->dims[d];
        if (d < axis)
            outer *= src->dims[d];
        else if (d > axis)
            inner *= src->dims[d];
    }
    if ((rc = ml_tensor_alloc(dst, src->dtype, nd, dims, k->e)))
        return rc;
    for (int64_t o = 0; o < outer && inner; o++)
        memcpy((char *)dst->data + (size_t)(o * inner) * es,
               (const char *)src->data + (size_t)((o * src->dims[axis] + idx) * inner) * es,
               (size_t)inner * es);
    return 0;
}

/* Turns the stacked scan output acc ([L, ...], in iteration order) into dst
 * with the iteration axis moved to `axis` and reversed when `rev`. */
static int place_scan_output(struct ml_kctx *k, const struct ml_tensor *acc, int axis, bool rev,
                             struct ml_tensor *dst)
{
    int64_t dims[ML_MAX_DIMS], L = acc->dims[0], A = 1, B = 1;
    size_t es = ml_dtype_size(acc->dtype);
    int rc;
    for (int d = 1; d < acc->ndim; d++) {
        if (d <= axis)
            A *= acc->dims[d];
        else
            B *= acc->dims[d];
        dims[d <= axis ? d - 1 : d] = acc->dims[d];
    }
    dims[axis] = L;
    if ((rc = ml_tensor_alloc(dst, acc->dtype, acc->ndim, dims, k->e)))
        return rc;
    for (int64_t l = 0; l < L && B; l++)
        for (int64_t a = 0; a < A; a++)
            memcpy((char *)dst->data + (size_t)((a * L + (rev ? L - 1 - l : l)) * B) * es,
                   (const char *)acc->data + (size_t)((l * A + a) * B) * es, (size_t)B * es);
    return 0;
}

/* Reads `n` axis or direction attributes (default 0); axes are normalized
 * against the given ranks and checked. */
static int scan_attr(struct ml_kctx *k, const char *name, int n, const int *ranks, int *out)
{
    size_t na;
    const int64_t *a = ml_attr_ints(k, name, &na);
    for (int i = 0; i < n; i++) {
        int64_t v = a && (size_t)i < na ? a[i] : 0;
        if (a && na != (size_t)n)
            return ml_kerr(k, AG_EINVAL, "%s has %zu entries, not %d", name, na, n);
        if (ranks) {
            out[i] = ml_axis(v, ranks[i]);
            if (out[i] < 0)
                return ml_kerr(k, AG_EINVAL, "%s[%d] = %" PRId64 " is out of range", name, i, v);
        } else {
            if (v != 0 && v != 1)
                return ml_kerr(k, AG_EINVAL, "%s[%d] must be 0 or 1", name, i);
            out[i] = (int)v;
        }
    }
    return 0;
}

/* One Scan over `L` iterations: states (N) and scan inputs (M) in, final
 * states and scan outputs (K, iteration axis placed and ordered by the node's
 * attributes) into res[N + K] (allocated here, owned by the caller). */
static int scan_core(struct ml_kctx *k, int N, int M, int K, const struct ml_tensor *const *st,
                     const struct ml_tensor *const *sc, const int *in_axes, const int *in_dirs,
                     const int *out_axes, const int *out_dirs, struct ml_tensor *res)
{
    struct ml_model *body = k->node->sub[0];
    struct ml_tensor states[SCAN_MAX], slices[SCAN_MAX], accs[SCAN_MAX], outs[2 * SCAN_MAX];
    const struct ml_tensor *bin[2 * SCAN_MAX];
    int64_t L = M ? sc[0]->dims[in_axes[0]] : 0;
    int rc = 0;

    memset(states, 0, sizeof(states));
    memset(slices, 0, sizeof(slices));
    memset(accs, 0, sizeof(accs));
    memset(outs, 0, sizeof(outs));
    for (int i = 0; i < M; i++)
        if (sc[i]->dims[in_axes[i]] != L || sc[i]->dtype == ML_STRING) {
            rc = ml_kerr(k, AG_EINVAL, "scan inputs differ in length or are strings");
            goto out;
        }
    for (int i = 0; i < N && !rc; i++)
        rc = ml_tensor_copy(&states[i], st[i], k->e);
    for (int64_t t = 0; t < L && !rc; t++) {
        if (t >= LOOP_MAX_ITERS) {
            rc = ml_kerr(k, AG_ETOOBIG, "more than %" PRId64 " iterations", LOOP_MAX_ITERS);
            break;
        }
        for (int i = 0; i < M && !rc; i++) {
            ml_tensor_release(&slices[i]);
            rc = slice_axis(k, sc[i], in_axes[i], in_dirs[i] ? L - 1 - t : t, &slices[i]);
        }
        if (rc)
            break;
        for (int i = 0; i < N; i++)
            bin[i] = &states[i];
        for (int i = 0; i < M; i++)
            bin[N + i] = &slices[i];
        if ((rc = ml_subgraph_run(body, bin, outs, k->e)))
            break;
        for (int i = 0; i < N; i++) {
            ml_tensor_release(&states[i]);
            states[i] = outs[i];
            ml_tensor_init(&outs[i]);
        }
        for (int i = 0; i < K && !rc; i++)
            rc = scan_append(k, &accs[i], &outs[N + i], t);
        for (int i = 0; i < N + K; i++)
            ml_tensor_release(&outs[i]);
    }
    for (int i = 0; i < N && !rc; i++) {
        res[i] = states[i];
        ml_tensor_init(&states[i]);
    }
    for (int i = 0; i < K && !rc; i++) {
        if (!accs[i].data) {
            rc = ml_kerr(k, AG_EUNPROCESSABLE, "a scan of length 0 has outputs of unknown shape");
            break;
        }
        {
            /* A negative axis counts from the output's rank. */
            int ax = out_axes[i] < 0 ? out_axes[i] + accs[i].ndim : out_axes[i];
            if (ax < 0 || ax >= accs[i].ndim) {
                rc = ml_kerr(k, AG_EINVAL, "scan_output_axes[%d] is out of range", i);
                break;
            }
            rc = place_scan_output(k, &accs[i], ax, out_dirs[i] != 0, &res[N + i]);
        }
    }
out:
    for (int i = 0; i < SCAN_MAX; i++) {
        ml_tensor_release(&states[i]);
        ml_tensor_release(&slices[i]);
        ml_tensor_release(&accs[i]);
    }
    for (int i = 0; i < 2 * SCAN_MAX; i++)
        ml_tensor_release(&outs[i]);
    return rc;
}

/* Scan (opset 9 and later; opset 8's batched form below): N loop states and
 * M scan inputs, sliced along their scan axes one iteration at a time. */
static int op_scan(struct ml_kctx *k)
{
    struct ml_model *body = k->node->sub[0];
    int M = (int)ml_attr_int(k, "num_scan_inputs", -1), first = k->opset < 9 ? 1 : 0;
    int N = k->nin - first - M, K = (body ? ml_model_n_outputs(body) : 0) - N, rc = 0;
    int ranks[SCAN_MAX], in_axes[SCAN_MAX], in_dirs[SCAN_MAX], out_axes[SCAN_MAX],
        out_dirs[SCAN_MAX];
    struct ml_tensor res[2 * SCAN_MAX];
    const struct ml_tensor *st[SCAN_MAX], *sc[SCAN_MAX];

    if (!body || M < 1 || N < 0 || K < 0 || M > SCAN_MAX || N > SCAN_MAX || K > SCAN_MAX ||
        ml_model_n_inputs(body) != N + M || k->nout != N + K)
        return ml_kerr(k, AG_EINVAL, "the body's inputs and outputs do not match the node");
    for (int i = 0; i < N + M; i++)
        ML_REQUIRE_IN(k, first + i);
    for (int i = 0; i < N; i++)
        st[i] = k->in[first + i];
    for (int i = 0; i < M; i++) {
        sc[i] = k->in[first + N + i];
        ranks[i] = sc[i]->ndim - first;
        if (ranks[i] < 1)
            return ml_kerr(k, AG_EINVAL, "scan input %d has no axis to scan", i);
    }
    memset(res, 0, sizeof(res));
    memset(out_axes, 0, sizeof(out_axes));
    if (first) {
        /* Opset 8: axis 0 is a batch, every scan axis is 1, `directions`. */
        if (k->nin > 0 && k->in[0]) {
            int64_t L = sc[0]->ndim > 1 ? sc[0]->dims[1] : 0;
            for (int64_t b = 0; b < k->in[0]->n; b++)
                if (ml_get_i64(k->in[0], b) != L)
                    return ml_kerr(k, AG_EUNPROCESSABLE, "sequence_lens shorter than the "
                                   "inputs are not supported");
        }
        if ((rc = scan_attr(k, "directions", M, NULL, in_dirs)))
            return rc;
        memset(in_axes, 0, sizeof(in_axes));
        memset(out_dirs, 0, sizeof(out_dirs));
    } else if ((rc = scan_attr(k, "scan_input_axes", M, ranks, in_axes)) ||
               (rc = scan_attr(k, "scan_input_directions", M, NULL, in_dirs)) ||
               (rc = scan_attr(k, "scan_output_directions", K, NULL, out_dirs))) {
        return rc;
    } else {
        size_t na;
        const int64_t *a = ml_attr_ints(k, "scan_output_axes", &na);
        if (a && na != (size_t)K)
            return ml_kerr(k, AG_EINVAL, "scan_output_axes has %zu entries, not %d", na, K);
        for (int i = 0; i < K && a; i++) {
            /* Negative axes count from the output's rank, known after the run. */
            if (a[i] < -ML_MAX_DIMS || a[i] >= ML_MAX_DIMS)
                return ml_kerr(k, AG_EINVAL, "scan_output_axes[%d] is out of range", i);
            out_axes[i] = (int)a[i];
        }
    }
    if (!first) {
        rc = scan_core(k, N, M, K, st, sc, in_axes, in_dirs, out_axes, out_dirs, res);
    } else {
        /* Run each batch entry on its own and stack the results on axis 0. */
        int64_t B = sc[0]->dims[0];
        struct ml_tensor acc[2 * SCAN_MAX], bst[SCAN_MAX], bsc[SCAN_MAX], part[2 * SCAN_MAX];
        const struct ml_tensor *pst[SCAN_MAX], *psc[SCAN_MAX];
        memset(acc, 0, sizeof(acc));
        memset(bst, 0, sizeof(bst));
        memset(bsc, 0, sizeof(bsc));
        memset(part, 0, sizeof(part));
        for (int i = 0; i < N + M && !rc; i++) {
            const struct ml_tensor *t = i < N ? st[i] : sc[i - N];
            if (t->ndim < 1 || t->dims[0] != B)
                rc = ml_kerr(k, AG_EINVAL, "inputs disagree on the batch size");
        }
        for (int64_t b = 0; b < B && !rc; b++) {
            for (int i = 0; i < N && !rc; i++) {
                ml_tensor_release(&bst[i]);
                rc = slice_axis(k, st[i], 0, b, &bst[i]);
                pst[i] = &bst[i];
            }
            for (int i = 0; i < M && !rc; i++) {
                ml_tensor_release(&bsc[i]);
                rc = slice_axis(k, sc[i], 0, b, &bsc[i]);
                psc[i] = &bsc[i];
            }
            if (!rc)
                rc = scan_core(k, N, M, K, pst, psc, in_axes, in_dirs, out_axes, out_dirs, part);
            for (int i = 0; i < N + K && !rc; i++)
                rc = scan_append(k, &acc[i], &part[i], b);
            for (int i = 0; i < N + K; i++)
                ml_tensor_release(&part[i]);
        }
        for (int i = 0; i < N + K; i++) {
            if (!rc && !acc[i].data)
                rc = ml_kerr(k, AG_EUNPROCESSABLE, "an empty batch has outputs of unknown shape");
            res[i] = acc[i];
        }
        for (int i = 0; i < SCAN_MAX; i++) {
            ml_tensor_release(&bst[i]);
            ml_tensor_release(&bsc[i]);
        }
    }
    for (int i = 0; i < N + K && !rc; i++)
        rc = take_output(k, i, &res[i]);
    for (int i = 0; i < 2 * SCAN_MAX; i++)
        ml_tensor_release(&res[i]);
    return rc;
}

/* SequenceMap: runs the body once per element of the input sequence; each
 * further input is either a sequence of the same length (its element i is
 * passed) or a tensor (passed every time); output j collects the body's
 * output j of every iteration into a sequence. */
static int op_sequence_map(struct ml_kctx *k)
{
    struct ml_model *body = k->node->sub[0];
    int nin = k->nin, nout = k->nout, rc = 0;
    struct ml_tensor outs[SCAN_MAX], *seqs[SCAN_MAX];
    const struct ml_tensor *bin[SCAN_MAX];
    int64_t L;

    if (!body || nin < 1 || nin > SCAN_MAX || nout < 1 || nout > SCAN_MAX ||
        ml_model_n_inputs(body) != nin || ml_model_n_outputs(body) != nout)
        return ml_kerr(k, AG_EINVAL, "the body's inputs and outputs do not match the node");
    for (int i = 0; i < nin; i++)
        ML_REQUIRE_IN(k, i);
    if (k->in[0]->dtype != ML_SEQUENCE)
        return ml_kerr(k, AG_EINVAL, "input 0 must be a sequence");
    L = k->in[0]->n;
    for (int i = 1; i < nin; i++) {
        if (k->in[i]->dtype == ML_NONE)
            return ml_kerr(k, AG_EINVAL, "input %d is an empty optional", i);
        if (k->in[i]->dtype == ML_SEQUENCE && k->in[i]->n != L)
            return ml_kerr(k, AG_EINVAL, "input sequences differ in length (%" PRId64 " and %"
                           PRId64 ")", L, k->in[i]->n);
    }
    for (int j = 0; j < nout; j++) {
        seqs[j] = ml_seq_out(k, j, L, ml_model_output_dtype(body, j));
        if (!seqs[j])
            return k->e->code;
    }
    memset(outs, 0, sizeof(outs));
    for (int64_t it = 0; it < L && !rc; it++) {
        for (int i = 0; i < nin; i++)
            bin[i] = k->in[i]->dtype == ML_SEQUENCE
                         ? &((const struct ml_tensor *)k->in[i]->data)[it] : k->in[i];
        if ((rc = ml_subgraph_run(body, bin, outs, k->e)))
            break;
        for (int j = 0; j < nout && !rc; j++) {
            /* The body's declared type fixed the sequence's; a body whose
             * element types vary is refused by ml_seq_set. */
            if (it == 0 && !ml_model_output_dtype(body, j))
                seqs[j]->elem_dtype = outs[j].dtype;
            rc = ml_seq_set(k, seqs[j], it, &outs[j]);
        }
        for (int j = 0; j < nout; j++)
            ml_tensor_release(&outs[j]);
    }
    return rc;
}

const struct ml_op ml_ops_control[] = {
    {"If", "", op_if, ML_K_VALUES},
    {"Loop", "", op_loop, ML_K_VALUES},
    {"Scan", "", op_scan, 0},
    {"SequenceMap", "", op_sequence_map, ML_K_VALUES},
    {NULL, NULL, NULL, 0},
};
