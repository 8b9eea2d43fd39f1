/* ops_matmul.c - MatMul (batched, broadcasting) and Gemm on BLAS. */
#include "core/common.h"
#include "ml/internal.h"

/* Generic (integer) matrix product through int64/double accumulation. */
static void gemm_generic(const struct ml_tensor *a, int64_t aoff, const struct ml_tensor *b,
                         int64_t boff, struct ml_tensor *c, int64_t coff, int64_t M, int64_t N,
                         int64_t K)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            if (ml_is_int(c->dtype)) {
                uint64_t s = 0;
                for (int64_t t = 0; t < K; t++)
                    s += (uint64_t)ml_get_i64(a, aoff + i * K + t) *
                         (uint64_t)ml_get_i64(b, boff + t * N + j);
                ml_set_i64(c, coff + i * N + j, (int64_t)s);
            } else {
                double s = 0;
                for (int64_t t = 0; t < K; t++)
                    s += ml_get_f64(a, aoff + i * K + t) * ml_get_f64(b, boff + t * N + j);
                ml_set_f64(c, coff + i * N + j, s);
            }
        }
}

int ml_matmul_shapes(const struct ml_tensor *a, const struct ml_tensor *b, int *nd,
                     int64_t *dims, int64_t *M, int64_t *N, int64_t *K, int *nbd, int64_t *bdims)
{
    int64_t ad[ML_MAX_DIMS], bd[ML_MAX_DIMS];
    int an = a->ndim, bn = b->ndim, n = 0;
    if (an == 0 || bn == 0)
        return AG_EINVAL;
    memcpy(ad, a->dims, sizeof(int64_t) * (size_t)an);
    memcpy(bd, b->dims, sizeof(int64_t) * (size_t)bn);
    if (an == 1) {
        ad[1] = ad[0];
        ad[0] = 1;
        an = 2;
    }
    if (bn == 1) {
        bd[1] = 1;
        bn = 2;
    }
    *M = ad[an - 2];
    *K = ad[an - 1];
    *N = bd[bn - 1];
    if (bd[bn - 2] != *K)
        return AG_EINVAL;
    if (ml_broadcast_shape(an - 2, ad, bn - 2, bd, nbd, bdims))
        return AG_EINVAL;
    for (int i = 0; i < *nbd; i++)
        dims[n++] = bdims[i];
    if (a->ndim > 1)
        dims[n++] = *M;
    if (b->ndim > 1)
        dims[n++] = *N;
    *nd = n;
    return 0;
}

/* Offset (in matrices) of batch `bi` of tensor t (rank tn incl. the 2 matrix dims). */
int64_t ml_batch_index(int64_t bi, int nbd, const int64_t *bdims, int tn, const int64_t *tdims)
{
    int64_t off = 0, mul = 1;
    int tb = tn - 2;
    for (int d = nbd - 1; d >= 0; d--) {
        int64_t idx = bi % bdims[d];
        bi /= bdims[d];
        int td = d - (nbd - tb);
        if (td >= 0) {
            if (tdims[td] != 1)
                off += idx * mul;
            mul *= tdims[td];
        }
    }
    return off;
}

static int op_matmul(struct ml_kctx *k)
{
    const struct ml_tensor *a, *b;
    struct ml_tensor *c;
    int64_t dims[ML_MAX_DIMS], bdims[ML_MAX_DIMS], M, N, K, batches = 1;
    int nd, nbd, an, bn;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    a = k->in[0];
    b = k->in[1];
    if (a->dtype != b->dtype)
        return ml_kerr(k, AG_EINVAL, "inputs differ in type");
    if (ml_matmul_shapes(a, b, &nd, dims, &M, &N, &K, &nbd, bdims))
        return ml_kerr(k, AG_EINVAL, "shapes do not match for a matrix product");
    c = ml_out(k, 0, a->dtype, nd, dims);
    if (!c)
        return k->e->code;
    for (int i = 0; i < nbd; i++)
        batches *= bdims[i];
    an = MAX(a->ndim, 2);
    bn = MAX(b->ndim, 2);
    /* A batch of A against one B: a single GEMM with M*batches rows. */
    if (b->ndim <= 2 && a->dtype == ML_FLOAT) {
        ml_sgemm(k->m, false, false, M * batches, N, K, 1, a->data, K, b->data, N, 0, c->data, N);
        return 0;
    }
    /* Many batched products (attention): check the run limits between them. */
    for (int64_t bi = 0; bi < batches && !((bi & 15) == 15 && ml_stop_check(k->m)); bi++) {
        int64_t ai = ml_batch_index(bi, nbd, bdims, an, a->dims),
                bj = ml_batch_index(bi, nbd, bdims, bn, b->dims);
        if (a->dtype == ML_FLOAT)
            ml_sgemm(k->m, false, false, M, N, K, 1, (const float *)a->data + ai * M * K, K,
                     (const float *)b->data + bj * K * N, N, 0, (float *)c->data + bi * M * N, N);
        else if (a->dtype == ML_DOUBLE)
            ml_dgemm(k->m, false, false, M, N, K, 1, (const double *)a->data + ai * M * K, K,
                     (const double *)b->data + bj * K * N, N, 0, (double *)c->data + bi * M * N, N);
        else
            gemm_generic(a, ai * M * K, b, bj * K * N, c, bi * M * N, M, N, K);
    }
    return 0;
}

static int op_gemm(struct ml_kctx *k)
{
    const struct ml_tensor *a, *b, *cin;
    struct ml_tensor *y;
    bool ta = ml_attr_int(k, "transA", 0), tb = ml_attr_int(k, "transB", 0);
    float alpha = ml_attr_float(k, "alpha", 1.0f), beta = ml_attr_float(k, "beta", 1.0f);
    int64_t M, N, K, K2, dims[2];
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    a = k->in[0];
    b = k->in[1];
    cin = k->nin > 2 ? k->in[2] : NULL;
    if (a->ndim != 2 || b->ndim != 2 || a->dtype != b->dtype)
        return ml_kerr(k, AG_EINVAL, "A and B must be 2-D of one type");
    M = ta ? a->dims[1] : a->dims[0];
    K = ta ? a->dims[0] : a->dims[1];
    K2 = tb ? b->dims[1] : b->dims[0];
    N = tb ? b->dims[0] : b->dims[1];
    if (K != K2)
        return ml_kerr(k, AG_EINVAL, "inner dimensions differ (%" PRId64 ", %" PRId64 ")", K, K2);
    dims[0] = M;
    dims[1] = N;
    y = ml_out(k, 0, a->dtype, 2, dims);
    if (!y)
        return k->e->code;
    /* Y = beta * C broadcast, then Y += alpha * A B. */
    if (cin && cin->n && beta != 0) {
        int64_t st[2];
        bool ok = cin->ndim <= 2;
        for (int d = 0; ok && d < cin->ndim; d++) {
            int64_t want = dims[2 - cin->ndim + d];
            ok = cin->dims[d] == want || cin->dims[d] == 1;
        }
        if (!ok)
            return ml_kerr(k, AG_EINVAL, "C does not broadcast to [M, N]");
        ml_bcast_strides(cin, 2, dims, st);
        if (cin->dtype == ML_FLOAT && y->dtype == ML_FLOAT) {
            const float *cv = cin->data;
            float *yv = y->data;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    yv[i * N + j] = beta * cv[i * st[0] + j * st[1]];
        } else {
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    ml_set_f64(y, i * N + j, beta * ml_get_f64(cin, i * st[0] + j * st[1]));
        }
    } else {
        memset(y->data, 0, (size_t)y->n * ml_dtype_size(y->dtype));
        beta = 0;
    }
    if (a->dtype == ML_FLOAT)
        ml_sgemm(k->m, ta, tb, M, N, K, alpha, a->data, a->dims[1], b->data, b->dims[1],
                 beta != 0 ? 1.0f : 0.0f, y->data, N);
    else if (a->dtype == ML_DOUBLE)
        ml_dgemm(k->m, ta, tb, M, N, K, alpha, a->data, a->dims[1], b->data, b->dims[1],
                 beta != 0 ? 1.0 : 0.0, y->data, N);
    else {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t t = 0; t < K; t++)
                    s += ml_get_f64(a, ta ? t * M + i : i * K + t) *
                         ml_get_f64(b, tb ? j * K + t : t * N + j);
                ml_set_f64(y, i * N + j, ml_get_f64(y, i * N + j) + alpha * s);
            }
    }
    if (k->node->act == ML_ACT_RELU && y->dtype == ML_FLOAT) {
        float *v = y->data;
        for (int64_t i = 0; i < y->n; i++)
            v[i] = v[i] > 0 ? v[i] : 0;
    }
    return 0;
}

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_matmul[] = {
    {"MatMul", "", op_matmul, H},
    {"Gemm", "", op_gemm, H},
    {NULL, NULL, NULL, 0},
};
