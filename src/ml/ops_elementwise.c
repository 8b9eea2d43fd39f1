/* ops_elementwise.c - element-wise arithmetic, comparison, logic and math with broadcasting. */
#include "core/common.h"
#include "ml/internal.h"

#include <immintrin.h>
#include <math.h>

typedef void (*row_fn)(const void *a, int64_t sa, const void *b, int64_t sb, void *o, int64_t n,
                       int64_t arg);

/* ---- the broadcasting loop ---- */

struct bin_job {
    const char *a, *b;
    char *o;
    size_t ea, eb, eo;
    int nd;
    int64_t dims[ML_MAX_DIMS], sa[ML_MAX_DIMS], sb[ML_MAX_DIMS];
    row_fn fn;
    int64_t arg;
};

static void bin_rows(void *arg, int64_t lo, int64_t hi)
{
    const struct bin_job *j = arg;
    int nd = j->nd;
    int64_t inner = nd ? j->dims[nd - 1] : 1;
    int64_t ia = nd ? j->sa[nd - 1] : 0, ib = nd ? j->sb[nd - 1] : 0;
    for (int64_t r = lo; r < hi; r++) {
        int64_t rem = r, offa = 0, offb = 0;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t idx = rem % j->dims[d];
            rem /= j->dims[d];
            offa += idx * j->sa[d];
            offb += idx * j->sb[d];
        }
        j->fn(j->a + (size_t)offa * j->ea, ia, j->b + (size_t)offb * j->eb, ib,
              j->o + (size_t)(r * inner) * j->eo, inner, j->arg);
    }
}

/* Applies fn over the broadcast of a and b into out (already shaped). */
static void broadcast_apply(struct ml_kctx *k, const struct ml_tensor *a, const struct ml_tensor *b,
                            struct ml_tensor *out, row_fn fn, int64_t arg)
{
    struct bin_job j = {.a = a->data, .b = b->data, .o = out->data, .fn = fn, .arg = arg};
    int64_t rows;
    j.ea = ml_dtype_size(a->dtype);
    j.eb = ml_dtype_size(b->dtype);
    j.eo = ml_dtype_size(out->dtype);
    if (out->n == 0)
        return;
    /* Same shapes or a scalar side: one flat row. */
    if (a->n == out->n && b->n == out->n) {
        j.nd = 1;
        j.dims[0] = out->n;
        j.sa[0] = j.sb[0] = 1;
    } else if (a->n == out->n && b->n == 1) {
        j.nd = 1;
        j.dims[0] = out->n;
        j.sa[0] = 1;
        j.sb[0] = 0;
    } else if (a->n == 1 && b->n == out->n) {
        j.nd = 1;
        j.dims[0] = out->n;
        j.sa[0] = 0;
        j.sb[0] = 1;
    } else {
        j.nd = out->ndim;
        memcpy(j.dims, out->dims, sizeof(int64_t) * (size_t)out->ndim);
        ml_bcast_strides(a, out->ndim, out->dims, j.sa);
        ml_bcast_strides(b, out->ndim, out->dims, j.sb);
    }
    if (j.nd == 1 && out->n >= 65536) {
        /* Split one long row into blocks so threads can share it. */
        int64_t blk = 16384, nb = (out->n + blk - 1) / blk;
        struct bin_job jb = j;
        jb.nd = 2;
        jb.dims[0] = nb;
        jb.dims[1] = blk;
        jb.sa[0] = j.sa[0] * blk;
        jb.sb[0] = j.sb[0] * blk;
        jb.sa[1] = j.sa[0];
        jb.sb[1] = j.sb[0];
        if (out->n % blk == 0) {
            ml_parallel_for(k->m, nb, 1, bin_rows, &jb);
            return;
        }
    }
    rows = j.nd ? out->n / j.dims[j.nd - 1] : 1;
    ml_parallel_for(k->m, rows, MAX(1, 32768 / MAX(1, j.nd ? j.dims[j.nd - 1] : 1)), bin_rows, &j);
}

/* ---- row kernels, generated per type ---- */

#define ROW(NAME, TA, TO, EXPR)                                                                 \
    static void NAME(const void *pa, int64_t sa, const void *pb, int64_t sb, void *po,         \
                     int64_t n, int64_t arg)                                                    \
    {                                                                                           \
        const TA *A = pa, *B = pb;                                                              \
        TO *O = po;                                                                             \
        UNUSED(arg);                                                                            \
        if (sa == 1 && sb == 1) {                                                               \
            for (int64_t i = 0; i < n; i++) {                                                   \
                TA x = A[i], y = B[i];                                                          \
                O[i] = (TO)(EXPR);                                                              \
            }                                                                                   \
        } else if (sa == 1 && sb == 0) {                                                        \
            TA y = B[0];                                                                        \
            for (int64_t i = 0; i < n; i++) {                                                   \
                TA x = A[i];                                                                    \
                O[i] = (TO)(EXPR);                                                              \
            }                                                                                   \
        } else {                                                                                \
            for (int64_t i = 0; i < n; i++) {                                                   \
                TA x = A[i * sa], y = B[i * sb];                                                \
                O[i] = (TO)(EXPR);                                                              \
            }                                                                                   \
        }                                                                                       \
    }

/* Integer division and modulo that never trap. */
#define IDIV(x, y) ((y) == 0 ? 0 : ((y) == -1 ? (0 - (x)) : (x) / (y)))
#define IMOD(x, y) ((y) == 0 || (y) == -1 ? 0 : (((x) % (y)) != 0 && (((x) % (y)) < 0) != ((y) < 0) ? (x) % (y) + (y) : (x) % (y)))
#define UMOD(x, y) ((y) == 0 ? 0 : (x) % (y))

#define FOR_FLOATS(G, ...) G(f32, float, __VA_ARGS__) G(f64, double, __VA_ARGS__)
#define FOR_SINTS(G, ...)                                                                       \
    G(i8, int8_t, __VA_ARGS__) G(i16, int16_t, __VA_ARGS__) G(i32, int32_t, __VA_ARGS__)        \
    G(i64, int64_t, __VA_ARGS__)
#define FOR_UINTS(G, ...)                                                                       \
    G(u8, uint8_t, __VA_ARGS__) G(u16, uint16_t, __VA_ARGS__) G(u32, uint32_t, __VA_ARGS__)     \
    G(u64, uint64_t, __VA_ARGS__)

/* Arithmetic results wrap in the type: compute in unsigned for signed ints. */
#define GEN_ARITH_F(s, T, op, FE) ROW(op##_##s, T, T, FE)
#define GEN_ARITH_I(s, T, op, IE) ROW(op##_##s, T, T, IE)

FOR_FLOATS(GEN_ARITH_F, add, x + y)
FOR_FLOATS(GEN_ARITH_F, sub, x - y)
FOR_FLOATS(GEN_ARITH_F, mul, x * y)
FOR_FLOATS(GEN_ARITH_F, div, x / y)
FOR_FLOATS(GEN_ARITH_F, max, (isnan(x) || isnan(y)) ? NAN : (x > y ? x : y))
FOR_FLOATS(GEN_ARITH_F, min, (isnan(x) || isnan(y)) ? NAN : (x < y ? x : y))
FOR_FLOATS(GEN_ARITH_F, fmod, fmod(x, y))
FOR_FLOATS(GEN_ARITH_F, pow, pow(x, y))
FOR_SINTS(GEN_ARITH_I, add, (uint64_t)x + (uint64_t)y)
FOR_SINTS(GEN_ARITH_I, sub, (uint64_t)x - (uint64_t)y)
FOR_SINTS(GEN_ARITH_I, mul, (uint64_t)x * (uint64_t)y)
FOR_SINTS(GEN_ARITH_I, div, IDIV(x, y))
FOR_SINTS(GEN_ARITH_I, max, x > y ? x : y)
FOR_SINTS(GEN_ARITH_I, min, x < y ? x : y)
FOR_SINTS(GEN_ARITH_I, mod, IMOD(x, y))
FOR_SINTS(GEN_ARITH_I, fmod, y == 0 || y == -1 ? 0 : x % y)
FOR_SINTS(GEN_ARITH_I, pow, pow((double)x, (double)y))
FOR_UINTS(GEN_ARITH_I, add, x + y)
FOR_UINTS(GEN_ARITH_I, sub, x - y)
FOR_UINTS(GEN_ARITH_I, mul, (uint64_t)x * y)
FOR_UINTS(GEN_ARITH_I, div, y == 0 ? 0 : x / y)
FOR_UINTS(GEN_ARITH_I, max, x > y ? x : y)
FOR_UINTS(GEN_ARITH_I, min, x < y ? x : y)
FOR_UINTS(GEN_ARITH_I, mod, UMOD(x, y))
FOR_UINTS(GEN_ARITH_I, fmod, UMOD(x, y))
FOR_UINTS(GEN_ARITH_I, pow, pow((double)x, (double)y))
FOR_UINTS(GEN_ARITH_I, band, x & y)
FOR_UINTS(GEN_ARITH_I, bor, x | y)
FOR_UINTS(GEN_ARITH_I, bxor, x ^ y)
FOR_UINTS(GEN_ARITH_I, shl, y >= sizeof(x) * 8 ? 0 : (uint64_t)x << y)
FOR_UINTS(GEN_ARITH_I, shr, y >= sizeof(x) * 8 ? 0 : x >> y)
FOR_SINTS(GEN_ARITH_I, band, x & y)
FOR_SINTS(GEN_ARITH_I, bor, x | y)
FOR_SINTS(GEN_ARITH_I, bxor, x ^ y)

#define GEN_CMP(s, T, op, E) ROW(op##_##s, T, uint8_t, E)
#define GEN_CMP_ALL(op, E)                                                                      \
    FOR_FLOATS(GEN_CMP, op, E) FOR_SINTS(GEN_CMP, op, E) FOR_UINTS(GEN_CMP, op, E)
GEN_CMP_ALL(eq, x == y)
GEN_CMP_ALL(gt, x > y)
GEN_CMP_ALL(lt, x < y)
GEN_CMP_ALL(ge, x >= y)
GEN_CMP_ALL(le, x <= y)
ROW(eq_bool, uint8_t, uint8_t, (x != 0) == (y != 0))
ROW(and_bool, uint8_t, uint8_t, x && y)
ROW(or_bool, uint8_t, uint8_t, x || y)
ROW(xor_bool, uint8_t, uint8_t, (x != 0) != (y != 0))

static void eq_str(const void *pa, int64_t sa, const void *pb, int64_t sb, void *po, int64_t n,
                   int64_t arg)
{
    char *const *A = pa, *const *B = pb;
    uint8_t *O = po;
    UNUSED(arg);
    for (int64_t i = 0; i < n; i++)
        O[i] = !strcmp(A[i * sa], B[i * sb]);
}

/* A table row: one function per element type. */
struct typed {
    row_fn f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, b;
};

#define TYPED_ALL(op) {op##_f32, op##_f64, op##_i8, op##_i16, op##_i32, op##_i64, op##_u8, op##_u16, op##_u32, op##_u64, NULL}
#define TYPED_INT(op) {NULL, NULL, op##_i8, op##_i16, op##_i32, op##_i64, op##_u8, op##_u16, op##_u32, op##_u64, NULL}

static row_fn pick(const struct typed *t, int dtype)
{
    switch (dtype) {
    case ML_FLOAT: return t->f32;
    case ML_DOUBLE: return t->f64;
    case ML_INT8: return t->i8;
    case ML_INT16: return t->i16;
    case ML_INT32: return t->i32;
    case ML_INT64: return t->i64;
    case ML_UINT8: return t->u8;
    case ML_UINT16: return t->u16;
    case ML_UINT32: return t->u32;
    case ML_UINT64: return t->u64;
    case ML_BOOL: return t->b;
    default: return NULL;
    }
}

static const struct typed t_add = TYPED_ALL(add), t_sub = TYPED_ALL(sub), t_mul = TYPED_ALL(mul),
                          t_div = TYPED_ALL(div), t_max = TYPED_ALL(max), t_min = TYPED_ALL(min),
                          t_fmod = TYPED_ALL(fmod), t_pow = TYPED_ALL(pow),
                          t_band = TYPED_INT(band), t_bor = TYPED_INT(bor),
                          t_bxor = TYPED_INT(bxor), t_gt = TYPED_ALL(gt), t_lt = TYPED_ALL(lt),
                          t_ge = TYPED_ALL(ge), t_le = TYPED_ALL(le);
static const struct typed t_mod = {fmod_f32, fmod_f64, mod_i8, mod_i16, mod_i32, mod_i64,
                                   mod_u8, mod_u16, mod_u32, mod_u64, NULL};
static const struct typed t_eq = {eq_f32, eq_f64, eq_i8, eq_i16, eq_i32, eq_i64, eq_u8,
                                  eq_u16, eq_u32, eq_u64, eq_bool};
static const struct typed t_shl = {NULL, NULL, NULL, NULL, NULL, NULL, shl_u8, shl_u16, shl_u32,
                                   shl_u64, NULL};
static const struct typed t_shr = {NULL, NULL, NULL, NULL, NULL, NULL, shr_u8, shr_u16, shr_u32,
                                   shr_u64, NULL};
static const struct typed t_and = {.b = and_bool}, t_or = {.b = or_bool}, t_xor = {.b = xor_bool};

/* Before opset 7, binary ops broadcast only B onto A and only when the
 * `broadcast` attribute is 1; `axis` places B's dimensions at that axis of A
 * (B of shape (3, 4) on A of shape (2, 3, 4, 5) with axis 1). This fills
 * *view with B reshaped for the numpy rule and points *b at it. Returns 0 or
 * AG_EINVAL when the shapes do not fit the legacy rule. */
static int legacy_broadcast(struct ml_kctx *k, const struct ml_tensor *a,
                            const struct ml_tensor **b, struct ml_tensor *view)
{
    const struct ml_tensor *bb = *b;
    int64_t axis;
    bool same = a->ndim == bb->ndim && !memcmp(a->dims, bb->dims, sizeof(int64_t) * (size_t)a->ndim);
    if (!ml_attr_int(k, "broadcast", 0)) {
        if (!same)
            return ml_kerr(k, AG_EINVAL, "inputs of different shapes need broadcast=1 before "
                           "opset 7");
        return 0;
    }
    if (!ml_attr(k, "axis") || same)
        return 0;
    axis = ml_attr_int(k, "axis", 0);
    if (axis < 0)
        axis += a->ndim;
    if (axis < 0 || axis + bb->ndim > a->ndim)
        return ml_kerr(k, AG_EINVAL, "broadcast axis %" PRId64 " does not fit B's rank %d in A's %d",
                       ml_attr_int(k, "axis", 0), bb->ndim, a->ndim);
    *view = *bb;
    view->borrowed = true;
    view->ndim = a->ndim - (int)axis;
    for (int i = bb->ndim; i < view->ndim; i++)
        view->dims[i] = 1;
    for (int i = 0; i < bb->ndim; i++)
        if (bb->dims[i] != a->dims[axis + i] && bb->dims[i] != 1)
            return ml_kerr(k, AG_EINVAL, "B's dimension %d (%" PRId64 ") does not match A's "
                           "dimension %d (%" PRId64 ")", i, bb->dims[i], (int)axis + i,
                           a->dims[axis + i]);
    *b = view;
    return 0;
}

/* Runs a two-input op: out dtype is the input's, or bool when `cmp`. */
static int binary(struct ml_kctx *k, const struct typed *t, bool cmp)
{
    const struct ml_tensor *a, *b;
    struct ml_tensor *o, view;
    int64_t dims[ML_MAX_DIMS];
    int nd, rc;
    row_fn fn;

    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    a = k->in[0];
    b = k->in[1];
    if (k->opset < 7 && (rc = legacy_broadcast(k, a, &b, &view)))
        return rc;
    if (a->dtype != b->dtype)
        return ml_kerr(k, AG_EINVAL, "inputs differ in type (%s, %s)", ml_dtype_name(a->dtype),
                       ml_dtype_name(b->dtype));
    fn = a->dtype == ML_STRING && t == &t_eq ? eq_str : pick(t, a->dtype);
    if (!fn)
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported", ml_dtype_name(a->dtype));
    if (ml_broadcast_shape(a->ndim, a->dims, b->ndim, b->dims, &nd, dims))
        return ml_kerr(k, AG_EINVAL, "shapes cannot be broadcast together");
    o = ml_out(k, 0, cmp ? ML_BOOL : a->dtype, nd, dims);
    if (!o)
        return k->e ? k->e->code : AG_EINTERNAL;
    broadcast_apply(k, a, b, o, fn, 0);
    return 0;
}

static int op_add(struct ml_kctx *k) { return binary(k, &t_add, false); }
static int op_sub(struct ml_kctx *k) { return binary(k, &t_sub, false); }
static int op_mul(struct ml_kctx *k) { return binary(k, &t_mul, false); }
static int op_div(struct ml_kctx *k) { return binary(k, &t_div, false); }
static int op_equal(struct ml_kctx *k) { return binary(k, &t_eq, true); }
static int op_greater(struct ml_kctx *k) { return binary(k, &t_gt, true); }
static int op_less(struct ml_kctx *k) { return binary(k, &t_lt, true); }
static int op_greater_eq(struct ml_kctx *k) { return binary(k, &t_ge, true); }
static int op_less_eq(struct ml_kctx *k) { return binary(k, &t_le, true); }
static int op_and(struct ml_kctx *k) { return binary(k, &t_and, true); }
static int op_or(struct ml_kctx *k) { return binary(k, &t_or, true); }
static int op_xor(struct ml_kctx *k) { return binary(k, &t_xor, true); }
static int op_bitand(struct ml_kctx *k) { return binary(k, &t_band, false); }
static int op_bitor(struct ml_kctx *k) { return binary(k, &t_bor, false); }
static int op_bitxor(struct ml_kctx *k) { return binary(k, &t_bxor, false); }

static int op_mod(struct ml_kctx *k)
{
    return binary(k, ml_attr_int(k, "fmod", 0) ? &t_fmod : &t_mod, false);
}

static int op_bitshift(struct ml_kctx *k)
{
    const char *dir = ml_attr_str(k, "direction", "");
    if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
        return ml_kerr(k, AG_EINVAL, "direction must be LEFT or RIGHT");
    return binary(k, !strcmp(dir, "LEFT") ? &t_shl : &t_shr, false);
}

/* Pow allows an exponent of another type: it is converted to the base's type
 * first (exactly for the integer exponents the tests use). */
static int op_pow(struct ml_kctx *k)
{
    struct ml_tensor conv, *orig;
    int rc;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    if (k->in[0]->dtype == k->in[1]->dtype)
        return binary(k, &t_pow, false);
    if ((rc = ml_tensor_alloc(&conv, k->in[0]->dtype, k->in[1]->ndim, k->in[1]->dims, k->e)))
        return rc;
    ml_cast_into(&conv, k->in[1], false);
    orig = k->in[1];
    k->in[1] = &conv;
    rc = binary(k, &t_pow, false);
    k->in[1] = orig;
    ml_tensor_release(&conv);
    return rc;
}

/* Max, Min, Sum, Mean over any number of inputs, with broadcasting. */
static int variadic(struct ml_kctx *k, const struct typed *t, bool mean)
{
    int64_t dims[ML_MAX_DIMS];
    int nd = 0;
    struct ml_tensor *o;
    row_fn fn;

    if (k->nin < 1)
        return ml_kerr(k, AG_EINVAL, "needs at least one input");
    for (int i = 0; i < k->nin; i++) {
        ML_REQUIRE_IN(k, i);
        if (k->in[i]->dtype != k->in[0]->dtype)
            return ml_kerr(k, AG_EINVAL, "inputs differ in type");
        if (ml_broadcast_shape(nd, dims, k->in[i]->ndim, k->in[i]->dims, &nd, dims))
            return ml_kerr(k, AG_EINVAL, "shapes cannot be broadcast together");
    }
    fn = pick(t, k->in[0]->dtype);
    if (!fn)
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported",
                       ml_dtype_name(k->in[0]->dtype));
    o = ml_out(k, 0, k->in[0]->dtype, nd, dims);
    if (!o)
        return k->e->code;
    /* o = in0 broadcast (via max(in0, in0) would be wrong for NaN-free ints; use a copy). */
    {
        struct ml_tensor zero = *k->in[0];
        size_t es = ml_dtype_size(o->dtype);
        int64_t st[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0};
        ml_bcast_strides(&zero, nd, dims, st);
        for (int64_t i = 0; i < o->n; i++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++)
                off += idx[d] * st[d];
            memcpy((char *)o->data + (size_t)i * es, (const char *)zero.data + (size_t)off * es, es);
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < dims[d])
                    break;
                idx[d] = 0;
            }
        }
    }
    for (int i = 1; i < k->nin; i++)
        broadcast_apply(k, o, k->in[i], o, fn, 0);
    if (mean) {
        for (int64_t i = 0; i < o->n; i++)
            ml_set_f64(o, i, ml_get_f64(o, i) / k->nin);
    }
    return 0;
}

static int op_max(struct ml_kctx *k) { return variadic(k, &t_max, false); }
static int op_min(struct ml_kctx *k) { return variadic(k, &t_min, false); }
static int op_sum(struct ml_kctx *k) { return variadic(k, &t_add, false); }
static int op_mean(struct ml_kctx *k) { return variadic(k, &t_add, true); }

/* ---- unary math ---- */

enum un {
    U_ABS, U_NEG, U_EXP, U_LOG, U_SQRT, U_RECIP, U_FLOOR, U_CEIL, U_ROUND, U_SIGN, U_SIN, U_COS,
    U_TAN, U_ASIN, U_ACOS, U_ATAN, U_SINH, U_COSH, U_ASINH, U_ACOSH, U_ATANH, U_ERF, U_NOT,
    U_BITNOT, U_ISNAN, U_ISINF
};

static double un_f(int op, double x)
{
    switch (op) {
    case U_ABS: return fabs(x);
    case U_NEG: return -x;
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_RECIP: return 1.0 / x;
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    case U_ROUND: return nearbyint(x);
    case U_SIGN: return isnan(x) ? x : (x > 0) - (x < 0);
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_TAN: return tan(x);
    case U_ASIN: return asin(x);
    case U_ACOS: return acos(x);
    case U_ATAN: return atan(x);
    case U_SINH: return sinh(x);
    case U_COSH: return cosh(x);
    case U_ASINH: return asinh(x);
    case U_ACOSH: return acosh(x);
    case U_ATANH: return atanh(x);
    case U_ERF: return erf(x);
    default: return x;
    }
}

struct un_job {
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int op;
};

/* erf in single precision without libm's double erf, which was a quarter
 * of a transformer's run time (the exact GELU): a Taylor series below 0.5
 * (relative error under 1e-8) and, above, 1 - erfc with the Chebyshev fit
 * of Numerical Recipes' erfcc (fractional error of erfc under 1.2e-7, so
 * under 1.2e-7 absolute for erf). */
static inline float erf_fast(float x)
{
    float a = fabsf(x), r;
    if (a < 0.5f) {
        float z = x * x;
        r = 1.0f / 1320.0f;
        r = r * -z + 1.0f / 216.0f;
        r = r * z - 1.0f / 42.0f;
        r = r * z + 1.0f / 10.0f;
        r = r * z - 1.0f / 3.0f;
        r = r * z + 1.0f;
        return 1.1283791671f * x * r;
    }
    if (!(a < 9.0f))
        return a != a ? x : (x > 0 ? 1.0f : -1.0f);
    {
        float t = 1.0f / (1.0f + 0.5f * a);
        float p = 0.17087277f;
        p = p * t - 0.82215223f;
        p = p * t + 1.48851587f;
        p = p * t - 1.13520398f;
        p = p * t + 0.27886807f;
        p = p * t - 0.18628806f;
        p = p * t + 0.09678418f;
        p = p * t + 0.37409196f;
        p = p * t + 1.00002368f;
        p = p * t - 1.26551223f;
        r = 1.0f - t * expf(-a * a + p);
    }
    return x < 0 ? -r : r;
}

/* exp of 8 floats (Cephes' expf: range reduction by ln 2, degree-6
 * polynomial, 2^n through the exponent bits; about 1 ulp). */
__attribute__((target("avx2,fma"))) static __m256 exp256(__m256 x)
{
    __m256 fx, r, p;
    __m256i n;
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
    p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(n));
}

/* erf_fast() on 8 lanes at once: both branches computed, then blended. */
__attribute__((target("avx2,fma"))) static void erf_avx2(const float *x, float *y, int64_t n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), a = _mm256_andnot_ps(sign, v), z = _mm256_mul_ps(v, v);
        __m256 r = _mm256_set1_ps(1.0f / 1320.0f), t, p, big, small;
        r = _mm256_fmadd_ps(r, _mm256_sub_ps(_mm256_setzero_ps(), z), _mm256_set1_ps(1.0f / 216.0f));
        r = _mm256_fmadd_ps(r, z, _mm256_set1_ps(-1.0f / 42.0f));
        r = _mm256_fmadd_ps(r, z, _mm256_set1_ps(1.0f / 10.0f));
        r = _mm256_fmadd_ps(r, z, _mm256_set1_ps(-1.0f / 3.0f));
        r = _mm256_fmadd_ps(r, z, one);
        small = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(1.1283791671f), v), r);
        t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), a, one));
        p = _mm256_set1_ps(0.17087277f);
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
        p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
        big = _mm256_fnmadd_ps(t, exp256(_mm256_fnmadd_ps(a, a, p)), one);
        big = _mm256_or_ps(big, _mm256_and_ps(v, sign));
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(big, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.5f), _CMP_LT_OQ)));
    }
    for (; i < n; i++)
        y[i] = erf_fast(x[i]);
}

static void un_float(void *arg, int64_t lo, int64_t hi)
{
    const struct un_job *j = arg;
    const float *x = j->x->data;
    float *y = j->y->data;
    switch (j->op) {
    case U_ABS: for (int64_t i = lo; i < hi; i++) y[i] = fabsf(x[i]); break;
    case U_NEG: for (int64_t i = lo; i < hi; i++) y[i] = -x[i]; break;
    case U_EXP: for (int64_t i = lo; i < hi; i++) y[i] = expf(x[i]); break;
    case U_LOG: for (int64_t i = lo; i < hi; i++) y[i] = logf(x[i]); break;
    case U_SQRT: for (int64_t i = lo; i < hi; i++) y[i] = sqrtf(x[i]); break;
    case U_RECIP: for (int64_t i = lo; i < hi; i++) y[i] = 1.0f / x[i]; break;
    case U_ERF:
        if (ml_cpu_avx2_fma())
            erf_avx2(x + lo, y + lo, hi - lo);
        else
            for (int64_t i = lo; i < hi; i++)
                y[i] = erf_fast(x[i]);
        break;
    default: for (int64_t i = lo; i < hi; i++) y[i] = (float)un_f(j->op, x[i]); break;
    }
}

static void un_double(void *arg, int64_t lo, int64_t hi)
{
    const struct un_job *j = arg;
    const double *x = j->x->data;
    double *y = j->y->data;
    for (int64_t i = lo; i < hi; i++)
        y[i] = un_f(j->op, x[i]);
}

static int unary(struct ml_kctx *k, int op)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int dt, odt;
    struct un_job j;

    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    dt = x->dtype;
    odt = (op == U_ISNAN || op == U_ISINF) ? ML_BOOL : dt;
    if (op == U_NOT && dt != ML_BOOL)
        return ml_kerr(k, AG_EINVAL, "Not takes bool");
    if (!ml_is_float(dt) && !ml_is_int(dt) && dt != ML_BOOL)
        return ml_kerr(k, AG_EUNPROCESSABLE, "type %s is not supported", ml_dtype_name(dt));
    /* Integers take only the ops defined on them; bool only Not. */
    if ((ml_is_int(dt) && op != U_ABS && op != U_NEG && op != U_SIGN && op != U_FLOOR &&
         op != U_CEIL && op != U_ROUND && op != U_BITNOT) ||
        (dt == ML_BOOL && op != U_NOT))
        return ml_kerr(k, AG_EINVAL, "type %s is not valid for this operator", ml_dtype_name(dt));
    y = ml_out_like(k, 0, odt, x);
    if (!y)
        return k->e->code;
    j = (struct un_job){x, y, op};
    if (op == U_ISNAN || op == U_ISINF) {
        int64_t pos = ml_attr_int(k, "detect_positive", 1), neg = ml_attr_int(k, "detect_negative", 1);
        for (int64_t i = 0; i < x->n; i++) {
            double v = ml_get_f64(x, i);
            ((uint8_t *)y->data)[i] = op == U_ISNAN ? isnan(v) != 0
                                                    : isinf(v) && ((v > 0 && pos) || (v < 0 && neg));
        }
    } else if (dt == ML_FLOAT) {
        ml_parallel_for(k->m, x->n, 16384, un_float, &j);
    } else if (dt == ML_DOUBLE) {
        ml_parallel_for(k->m, x->n, 16384, un_double, &j);
    } else if (op == U_NOT) {
        for (int64_t i = 0; i < x->n; i++)
            ((uint8_t *)y->data)[i] = !((const uint8_t *)x->data)[i];
    } else if (op == U_BITNOT) {
        for (int64_t i = 0; i < x->n; i++)
            ml_set_i64(y, i, ~ml_get_i64(x, i));
    } else {
        /* Integers: only the ops that are defined on them keep exactness. */
        for (int64_t i = 0; i < x->n; i++) {
            int64_t v = ml_get_i64(x, i);
            if (op == U_ABS)
                v = v < 0 ? (int64_t)(0 - (uint64_t)v) : v;
            else if (op == U_NEG)
                v = (int64_t)(0 - (uint64_t)v);
            else if (op == U_SIGN)
                v = (v > 0) - (v < 0);
            if (x->dtype == ML_UINT64 && op == U_SIGN)
                v = ((const uint64_t *)x->data)[i] != 0;
            ml_set_i64(y, i, v);
        }
    }
    return 0;
}

#define UN(name, code)                                                                          \
    static int op_##name(struct ml_kctx *k) { return unary(k, code); }
UN(abs, U_ABS)
UN(neg, U_NEG)
UN(exp, U_EXP)
UN(log, U_LOG)
UN(sqrt, U_SQRT)
UN(recip, U_RECIP)
UN(floor, U_FLOOR)
UN(ceil, U_CEIL)
UN(round, U_ROUND)
UN(sign, U_SIGN)
UN(sin, U_SIN)
UN(cos, U_COS)
UN(tan, U_TAN)
UN(asin, U_ASIN)
UN(acos, U_ACOS)
UN(atan, U_ATAN)
UN(sinh, U_SINH)
UN(cosh, U_COSH)
UN(asinh, U_ASINH)
UN(acosh, U_ACOSH)
UN(atanh, U_ATANH)
UN(erf, U_ERF)
UN(not, U_NOT)
UN(bitnot, U_BITNOT)
UN(isnan, U_ISNAN)
UN(isinf, U_ISINF)

/* Where(cond, x, y): three-way broadcast. */
static int op_where(struct ml_kctx *k)
{
    const struct ml_tensor *c, *x, *y;
    struct ml_tensor *o;
    int64_t dims[ML_MAX_DIMS], sc[ML_MAX_DIMS], sx[ML_MAX_DIMS], sy[ML_MAX_DIMS],
        idx[ML_MAX_DIMS] = {0};
    int nd;
    size_t es;

    for (int i = 0; i < 3; i++)
        ML_REQUIRE_IN(k, i);
    c = k->in[0];
    x = k->in[1];
    y = k->in[2];
    if (x->dtype != y->dtype || c->dtype != ML_BOOL)
        return ml_kerr(k, AG_EINVAL, "condition must be bool and x, y of one type");
    if (ml_broadcast_shape(c->ndim, c->dims, x->ndim, x->dims, &nd, dims) ||
        ml_broadcast_shape(nd, dims, y->ndim, y->dims, &nd, dims))
        return ml_kerr(k, AG_EINVAL, "shapes cannot be broadcast together");
    o = ml_out(k, 0, x->dtype, nd, dims);
    if (!o)
        return k->e->code;
    ml_bcast_strides(c, nd, dims, sc);
    ml_bcast_strides(x, nd, dims, sx);
    ml_bcast_strides(y, nd, dims, sy);
    es = ml_dtype_size(x->dtype);
    for (int64_t i = 0; i < o->n; i++) {
        int64_t oc = 0, ox = 0, oy = 0;
        for (int d = 0; d < nd; d++) {
            oc += idx[d] * sc[d];
            ox += idx[d] * sx[d];
            oy += idx[d] * sy[d];
        }
        if (((const uint8_t *)c->data)[oc]) {
            if (x->dtype == ML_STRING)
                ((char **)o->data)[i] = strdup(((char *const *)x->data)[ox]);
            else
                memcpy((char *)o->data + (size_t)i * es, (const char *)x->data + (size_t)ox * es, es);
        } else {
            if (y->dtype == ML_STRING)
                ((char **)o->data)[i] = strdup(((char *const *)y->data)[oy]);
            else
                memcpy((char *)o->data + (size_t)i * es, (const char *)y->data + (size_t)oy * es, es);
        }
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

#define H ML_K_HALF_VIA_FLOAT
const struct ml_op ml_ops_elementwise[] = {
    {"Add", "", op_add, H}, {"Sub", "", op_sub, H}, {"Mul", "", op_mul, H},
    {"Div", "", op_div, H}, {"Pow", "", op_pow, H}, {"Mod", "", op_mod, H},
    {"Max", "", op_max, H}, {"Min", "", op_min, H}, {"Sum", "", op_sum, H},
    {"Mean", "", op_mean, H}, {"Equal", "", op_equal, H}, {"Greater", "", op_greater, H},
    {"Less", "", op_less, H}, {"GreaterOrEqual", "", op_greater_eq, H},
    {"LessOrEqual", "", op_less_eq, H}, {"And", "", op_and, 0}, {"Or", "", op_or, 0},
    {"Xor", "", op_xor, 0}, {"BitwiseAnd", "", op_bitand, 0}, {"BitwiseOr", "", op_bitor, 0},
    {"BitwiseXor", "", op_bitxor, 0}, {"BitShift", "", op_bitshift, 0},
    {"Abs", "", op_abs, H}, {"Neg", "", op_neg, H}, {"Exp", "", op_exp, H},
    {"Log", "", op_log, H}, {"Sqrt", "", op_sqrt, H}, {"Reciprocal", "", op_recip, H},
    {"Floor", "", op_floor, H}, {"Ceil", "", op_ceil, H}, {"Round", "", op_round, H},
    {"Sign", "", op_sign, H}, {"Sin", "", op_sin, H}, {"Cos", "", op_cos, H},
    {"Tan", "", op_tan, H}, {"Asin", "", op_asin, H}, {"Acos", "", op_acos, H},
    {"Atan", "", op_atan, H}, {"Sinh", "", op_sinh, H}, {"Cosh", "", op_cosh, H},
    {"Asinh", "", op_asinh, H}, {"Acosh", "", op_acosh, H}, {"Atanh", "", op_atanh, H},
    {"Erf", "", op_erf, H}, {"Not", "", op_not, 0}, {"BitwiseNot", "", op_bitnot, 0},
    {"IsNaN", "", op_isnan, 0}, {"IsInf", "", op_isinf, 0}, {"Where", "", op_where, 0},
    {NULL, NULL, NULL, 0},
};
