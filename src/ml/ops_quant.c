/* ops_quant.c - quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
 * MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv. */
#include "core/common.h"
#include "ml/internal.h"

#include <math.h>

static double qmin(int dt)
{
    switch (dt) {
    case ML_INT8: return -128;
    case ML_INT16: return -32768;
    case ML_UINT16: return 0;
    case ML_INT32: return -2147483648.0;
    default: return 0;
    }
}

static double qmax(int dt)
{
    switch (dt) {
    case ML_INT8: return 127;
    case ML_INT16: return 32767;
    case ML_UINT16: return 65535;
    case ML_INT32: return 2147483647.0;
    default: return 255;
    }
}

static double saturate(int dt, double v)
{
    return fmax(qmin(dt), fmin(qmax(dt), v));
}

/* Index into a per-axis (or scalar, or blocked) parameter tensor for element i of x. */
static int64_t param_index(const struct ml_tensor *x, const struct ml_tensor *p, int axis,
                           int64_t block, int64_t i)
{
    int64_t inner = 1, a;
    if (p->n == 1)
        return 0;
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    a = (i / inner) % x->dims[axis];
    if (block > 0) {
        /* Blocked: p has x's shape with dims[axis] divided by block. */
        int64_t outer = i / (inner * x->dims[axis]);
        int64_t pa = p->dims[axis];
        return (outer * pa + a / block) * inner + i % inner;
    }
    return a;
}

static int check_param(struct ml_kctx *k, const struct ml_tensor *x, const struct ml_tensor *p,
                       int axis, int64_t block)
{
    if (!p || p->n == 1)
        return 0;
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    if (block > 0) {
        if (p->ndim != x->ndim)
            return ml_kerr(k, AG_EINVAL, "blocked scale must have the input's rank");
        for (int d = 0; d < x->ndim; d++)
            if (d == axis ? p->dims[d] != (x->dims[d] + block - 1) / block : p->dims[d] != x->dims[d])
                return ml_kerr(k, AG_EINVAL, "blocked scale has the wrong shape");
        return 0;
    }
    if (p->ndim != 1 || p->n != x->dims[axis])
        return ml_kerr(k, AG_EINVAL, "scale/zero point must be a scalar or 1-D along the axis");
    return 0;
}

static int op_quantize(struct ml_kctx *k)
{
    const struct ml_tensor *x, *s, *zp;
    struct ml_tensor *y;
    int axis, rc, dt;
    int64_t block = ml_attr_int(k, "block_size", 0);
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    s = k->in[1];
    zp = k->nin > 2 ? k->in[2] : NULL;
    dt = zp ? zp->dtype : (int)ml_attr_int(k, "output_dtype", ML_UINT8);
    if (dt == 0)
        dt = ML_UINT8;
    if (dt != ML_UINT8 && dt != ML_INT8 && dt != ML_UINT16 && dt != ML_INT16 && dt != ML_INT32)
        return ml_kerr(k, AG_EUNPROCESSABLE, "quantizing to %s is not supported", ml_dtype_name(dt));
    axis = ml_axis(ml_attr_int(k, "axis", 1), x->ndim);
    if ((rc = check_param(k, x, s, axis, block)) || (rc = check_param(k, x, zp, axis, block)))
        return rc;
    y = ml_out_like(k, 0, dt, x);
    if (!y)
        return k->e->code;
    for (int64_t i = 0; i < x->n; i++) {
        double sc = ml_get_f64(s, param_index(x, s, axis, block, i));
        double z = zp ? ml_get_f64(zp, param_index(x, zp, axis, block, i)) : 0;
        double v = nearbyint((double)(float)(ml_get_f64(x, i) / sc)) + z;
        ml_set_f64(y, i, saturate(dt, v));
    }
    return 0;
}

static int op_dequantize(struct ml_kctx *k)
{
    const struct ml_tensor *x, *s, *zp;
    struct ml_tensor *y;
    int axis, rc;
    int64_t block = ml_attr_int(k, "block_size", 0);
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    s = k->in[1];
    zp = k->nin > 2 ? k->in[2] : NULL;
    axis = ml_axis(ml_attr_int(k, "axis", 1), x->ndim);
    if ((rc = check_param(k, x, s, axis, block)) || (rc = check_param(k, x, zp, axis, block)))
        return rc;
    y = ml_out_like(k, 0, s->dtype, x);
    if (!y)
        return k->e->code;
    for (int64_t i = 0; i < x->n; i++) {
        double z = zp ? ml_get_f64(zp, param_index(x, zp, axis, block, i)) : 0;
        ml_set_f64(y, i, (float)((ml_get_f64(x, i) - z) * ml_get_f64(s, param_index(x, s, axis, block, i))));
    }
    return 0;
}

static int op_dyn_quantize(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y, *ys, *yz;
    double mn = 0, mx = 0, sc, zp;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    for (int64_t i = 0; i < x->n; i++) {
        double v = ml_get_f64(x, i);
        mn = fmin(mn, v);
        mx = fmax(mx, v);
    }
    /* float32 arithmetic throughout, as the reference does. */
    sc = (float)((float)(mx - mn) / 255.0f);
    zp = sc != 0 ? saturate(ML_UINT8, nearbyintf((float)(0 - mn) / (float)sc)) : 0;
    y = ml_out_like(k, 0, ML_UINT8, x);
    ys = y ? ml_out(k, 1, ML_FLOAT, 0, NULL) : NULL;
    yz = ys ? ml_out(k, 2, ML_UINT8, 0, NULL) : NULL;
    if (!yz)
        return k->e->code;
    ((float *)ys->data)[0] = (float)sc;
    ((uint8_t *)yz->data)[0] = (uint8_t)zp;
    for (int64_t i = 0; i < x->n; i++)
        ml_set_f64(y, i, sc != 0 ? saturate(ML_UINT8, nearbyintf((float)ml_get_f64(x, i) / (float)sc) + zp)
                                 : zp);
    return 0;
}

/* Converts an integer tensor minus its zero point (scalar or per `axis` of a
 * 2-D+ matrix: rows for A, columns for B) to float. */
static float *dezero(const struct ml_tensor *t, const struct ml_tensor *zp, int per)
{
    float *f = malloc(sizeof(float) * (size_t)MAX(t->n, 1));
    int64_t rows = t->ndim >= 2 ? t->dims[t->ndim - 2] : 1, cols = t->dims[t->ndim - 1];
    if (!f)
        return NULL;
    for (int64_t i = 0; i < t->n; i++) {
        double z = 0;
        if (zp && zp->n == 1)
            z = ml_first_f64(zp);
        else if (zp && per == 0 && zp->n == rows)
            z = ml_get_f64(zp, (i / cols) % rows);
        else if (zp && per == 1 && zp->n == cols)
            z = ml_get_f64(zp, i % cols);
        else if (zp && per == 2)
            z = ml_get_f64(zp, (i / (t->n / t->dims[0])) % zp->n);
        f[i] = (float)(ml_get_f64(t, i) - z);
    }
    return f;
}

/* Float matrix product of float views fa, fb with a and b's shapes into a double callback. */
static int qmatmul(struct ml_kctx *k, const struct ml_tensor *a, const struct ml_tensor *b,
                   const struct ml_tensor *azp, const struct ml_tensor *bzp, struct ml_tensor *tmp)
{
    int64_t dims[ML_MAX_DIMS], bdims[ML_MAX_DIMS], M, N, K, batches = 1;
    int nd, nbd, rc;
    float *fa = NULL, *fb = NULL;
    if (ml_matmul_shapes(a, b, &nd, dims, &M, &N, &K, &nbd, bdims))
        return ml_kerr(k, AG_EINVAL, "shapes do not match for a matrix product");
    if ((rc = ml_tensor_alloc(tmp, ML_FLOAT, nd, dims, k->e)))
        return rc;
    fa = dezero(a, azp, 0);
    fb = dezero(b, bzp, 1);
    if (!fa || !fb) {
        free(fa);
        free(fb);
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nbd; i++)
        batches *= bdims[i];
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t ai = ml_batch_index(bi, nbd, bdims, MAX(a->ndim, 2), a->dims),
                bj = ml_batch_index(bi, nbd, bdims, MAX(b->ndim, 2), b->dims);
        ml_sgemm(k->m, false, false, M, N, K, 1, fa + ai * M * K, K, fb + bj * K * N, N, 0,
                 (float *)tmp->data + bi * M * N, N);
    }
    free(fa);
    free(fb);
    return 0;
}

static int op_matmul_integer(struct ml_kctx *k)
{
    struct ml_tensor tmp, *y;
    int rc;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    ml_tensor_init(&tmp);
    rc = qmatmul(k, k->in[0], k->in[1], k->nin > 2 ? k->in[2] : NULL, k->nin > 3 ? k->in[3] : NULL,
                 &tmp);
    if (rc)
        return rc;
    y = ml_out_like(k, 0, ML_INT32, &tmp);
    if (y)
        for (int64_t i = 0; i < tmp.n; i++)
            ((int32_t *)y->data)[i] = (int32_t)lrintf(((float *)tmp.data)[i]);
    ml_tensor_release(&tmp);
    return y ? 0 : k->e->code;
}

static int op_qlinear_matmul(struct ml_kctx *k)
{
    struct ml_tensor tmp, *y;
    const struct ml_tensor *as, *bs, *ys, *yzp;
    int rc;
    for (int i = 0; i < 8; i++)
        if (i != 7)
            ML_REQUIRE_IN(k, i);
    as = k->in[1];
    bs = k->in[4];
    ys = k->in[6];
    yzp = k->nin > 7 ? k->in[7] : NULL;
    ml_tensor_init(&tmp);
    if ((rc = qmatmul(k, k->in[0], k->in[3], k->in[2], k->in[5], &tmp)))
        return rc;
    if (bs->n != 1 && bs->n != tmp.dims[tmp.ndim - 1]) {
        ml_tensor_release(&tmp);
        return ml_kerr(k, AG_EINVAL, "b_scale must be a scalar or one value per column");
    }
    y = ml_out_like(k, 0, yzp ? yzp->dtype : k->in[0]->dtype, &tmp);
    if (y) {
        int64_t N = tmp.dims[tmp.ndim - 1];
        for (int64_t i = 0; i < tmp.n; i++) {
            double bsc = bs->n == 1 ? ml_first_f64(bs) : ml_get_f64(bs, i % N);
            double v = ((float *)tmp.data)[i] * ml_first_f64(as) * bsc / ml_first_f64(ys);
            ml_set_f64(y, i, saturate(y->dtype, nearbyint(v) + (yzp ? ml_first_f64(yzp) : 0)));
        }
    }
    ml_tensor_release(&tmp);
    return y ? 0 : k->e->code;
}

/* Runs the float convolution of (x - xzp) and (w - wzp) into `res` (float). */
static int qconv(struct ml_kctx *k, const struct ml_tensor *x, const struct ml_tensor *xzp,
                 const struct ml_tensor *w, const struct ml_tensor *wzp, struct ml_tensor *res)
{
    struct ml_tensor fx, fw, *saved = k->out[0];
    int rc;
    ml_tensor_init(&fx);
    ml_tensor_init(&fw);
    if ((rc = ml_tensor_alloc(&fx, ML_FLOAT, x->ndim, x->dims, k->e)) ||
        (rc = ml_tensor_alloc(&fw, ML_FLOAT, w->ndim, w->dims, k->e)))
        goto out;
    for (int64_t i = 0; i < x->n; i++)
        ((float *)fx.data)[i] = (float)(ml_get_f64(x, i) - (xzp ? ml_first_f64(xzp) : 0));
    for (int64_t i = 0; i < w->n; i++) {
        double z = 0;
        if (wzp)
            z = wzp->n == 1 ? ml_first_f64(wzp) : ml_get_f64(wzp, i / (w->n / w->dims[0]));
        ((float *)fw.data)[i] = (float)(ml_get_f64(w, i) - z);
    }
    ml_tensor_init(res);
    k->out[0] = res;
    rc = ml_conv_f32(k, &fx, &fw, NULL);
    k->out[0] = saved;
out:
    ml_tensor_release(&fx);
    ml_tensor_release(&fw);
    return rc;
}

static int op_conv_integer(struct ml_kctx *k)
{
    struct ml_tensor res, *y;
    int rc;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    if ((rc = qconv(k, k->in[0], k->nin > 2 ? k->in[2] : NULL, k->in[1],
                    k->nin > 3 ? k->in[3] : NULL, &res)))
        return rc;
    y = ml_out_like(k, 0, ML_INT32, &res);
    if (y)
        for (int64_t i = 0; i < res.n; i++)
            ((int32_t *)y->data)[i] = (int32_t)lrintf(((float *)res.data)[i]);
    ml_scratch_free(k, res.data, res.cap);
    return y ? 0 : k->e->code;
}

static int op_qlinear_conv(struct ml_kctx *k)
{
    struct ml_tensor res, *y;
    const struct ml_tensor *xs, *ws, *ys, *yzp, *bias;
    int64_t M, plane;
    int rc;
    for (int i = 0; i < 8; i++)
        if (i != 7)
            ML_REQUIRE_IN(k, i);
    xs = k->in[1];
    ws = k->in[4];
    ys = k->in[6];
    yzp = k->nin > 7 ? k->in[7] : NULL;
    bias = k->nin > 8 ? k->in[8] : NULL;
    if ((rc = qconv(k, k->in[0], k->in[2], k->in[3], k->in[5], &res)))
        return rc;
    if ((ws->n != 1 && ws->n != res.dims[1]) || (bias && bias->n != res.dims[1])) {
        ml_scratch_free(k, res.data, res.cap);
        return ml_kerr(k, AG_EINVAL, "w_scale and B must have one value per output channel");
    }
    y = ml_out_like(k, 0, yzp ? yzp->dtype : k->in[0]->dtype, &res);
    if (y) {
        M = res.dims[1];
        plane = res.n / MAX(1, res.dims[0] * M);
        for (int64_t i = 0; i < res.n; i++) {
            int64_t m = (i / plane) % M;
            double acc = ((float *)res.data)[i] + (bias ? ml_get_f64(bias, m) : 0);
            double wsc = ws->n == 1 ? ml_first_f64(ws) : ml_get_f64(ws, m);
            double v = acc * ml_first_f64(xs) * wsc / ml_first_f64(ys);
            ml_set_f64(y, i, saturate(y->dtype, nearbyint(v) + (yzp ? ml_first_f64(yzp) : 0)));
        }
    }
    ml_scratch_free(k, res.data, res.cap);
    return y ? 0 : k->e->code;
}

const struct ml_op ml_ops_quant[] = {
    {"QuantizeLinear", "", op_quantize, 0},
    {"DequantizeLinear", "", op_dequantize, 0},
    {"DynamicQuantizeLinear", "", op_dyn_quantize, 0},
    {"MatMulInteger", "", op_matmul_integer, 0},
    {"ConvInteger", "", op_conv_integer, 0},
    {"QLinearMatMul", "", op_qlinear_matmul, 0},
    {"QLinearConv", "", op_qlinear_conv, 0},
    {NULL, NULL, NULL, 0},
};
