/* tensor.c - tensors: dtypes, allocation, TensorProto decoding, casts, broadcasting. */
#include "core/common.h"
#include "core/buf.h"
#include "core/util.h"
#include "ml/internal.h"

#include <math.h>
#include <strings.h>

#define ML_TENSOR_MAX_BYTES ((size_t)1 << 40)

static const struct {
    const char *name;
    size_t size;
} dtypes[ML_DTYPE_COUNT_] = {
    [ML_UNDEFINED] = {"undefined", 0}, [ML_FLOAT] = {"float32", 4},
    [ML_UINT8] = {"uint8", 1},         [ML_INT8] = {"int8", 1},
    [ML_UINT16] = {"uint16", 2},       [ML_INT16] = {"int16", 2},
    [ML_INT32] = {"int32", 4},         [ML_INT64] = {"int64", 8},
    [ML_STRING] = {"string", sizeof(char *)},
    [ML_BOOL] = {"bool", 1},           [ML_FLOAT16] = {"float16", 2},
    [ML_DOUBLE] = {"float64", 8},      [ML_UINT32] = {"uint32", 4},
    [ML_UINT64] = {"uint64", 8},       [ML_COMPLEX64] = {"complex64", 8},
    [ML_COMPLEX128] = {"complex128", 16}, [ML_BFLOAT16] = {"bfloat16", 2},
};

const char *ml_dtype_name(int dtype)
{
    if (dtype == ML_SEQUENCE)
        return "sequence";
    if (dtype == ML_NONE)
        return "none";
    if (dtype < 0 || dtype >= ML_DTYPE_COUNT_)
        return "unknown";
    return dtypes[dtype].name;
}

size_t ml_dtype_size(int dtype)
{
    if (dtype == ML_SEQUENCE)
        return sizeof(struct ml_tensor);
    if (dtype < 0 || dtype >= ML_DTYPE_COUNT_)
        return 0;
    return dtypes[dtype].size;
}

bool ml_is_float(int d)
{
    return d == ML_FLOAT || d == ML_DOUBLE || d == ML_FLOAT16 || d == ML_BFLOAT16;
}

bool ml_is_int(int d)
{
    return d == ML_INT8 || d == ML_UINT8 || d == ML_INT16 || d == ML_UINT16 || d == ML_INT32 ||
           d == ML_UINT32 || d == ML_INT64 || d == ML_UINT64;
}

bool ml_is_signed(int d)
{
    return d == ML_INT8 || d == ML_INT16 || d == ML_INT32 || d == ML_INT64;
}

void ml_tensor_init(struct ml_tensor *t)
{
    memset(t, 0, sizeof(*t));
}

void ml_tensor_release(struct ml_tensor *t)
{
    if (!t->borrowed && t->data) {
        if (t->dtype == ML_STRING) {
            char **s = t->data;
            for (int64_t i = 0; i < t->n; i++)
                free(s[i]);
        } else if (t->dtype == ML_SEQUENCE) {
            struct ml_tensor *el = t->data;
            for (int64_t i = 0; i < t->n; i++)
                ml_tensor_release(&el[i]);
        }
        free(t->data);
    }
    ml_tensor_init(t);
}

int64_t ml_numel(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] && n > INT64_MAX / dims[i])
            return -1;
        n *= dims[i];
    }
    return n;
}

int ml_tensor_alloc(struct ml_tensor *t, int dtype, int ndim, const int64_t *dims,
                    struct ag_err *e)
{
    size_t es = ml_dtype_size(dtype);
    int64_t n;

    if (!es)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "unsupported element type %d", dtype);
    if (ndim < 0 || ndim > ML_MAX_DIMS)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "rank %d exceeds the limit of %d", ndim,
                       ML_MAX_DIMS);
    n = ml_numel(ndim, dims);
    if (n < 0 || (uint64_t)n > ML_TENSOR_MAX_BYTES / es)
        return ag_errf(e, AG_ETOOBIG, NULL, "tensor shape is negative or too large");
    ml_tensor_init(t);
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndim);
    t->n = n;
    t->cap = (size_t)n * es;
    t->data = calloc(1, t->cap ? t->cap : 1);
    if (!t->data) {
        ml_tensor_init(t);
        return ag_errf(e, AG_ENOMEM, NULL, "out of memory for a %zu-byte tensor", (size_t)n * es);
    }
    return 0;
}

int ml_tensor_copy(struct ml_tensor *dst, const struct ml_tensor *src, struct ag_err *e)
{
    int rc;
    if (src->dtype == ML_NONE) {
        ml_tensor_init(dst);
        dst->dtype = ML_NONE;
        return 0;
    }
    rc = ml_tensor_alloc(dst, src->dtype, src->ndim, src->dims, e);
    if (rc)
        return rc;
    dst->elem_dtype = src->elem_dtype;
    if (src->dtype == ML_SEQUENCE) {
        struct ml_tensor *d = dst->data;
        const struct ml_tensor *s = src->data;
        for (int64_t i = 0; i < src->n && !rc; i++)
            rc = ml_tensor_copy(&d[i], &s[i], e);
        if (rc)
            ml_tensor_release(dst);
        return rc;
    }
    if (src->dtype == ML_STRING) {
        char **d = dst->data, *const *s = src->data;
        for (int64_t i = 0; i < src->n; i++) {
            d[i] = strdup(s[i] ? s[i] : "");
            if (!d[i]) {
                ml_tensor_release(dst);
                return ag_err_set(e, AG_ENOMEM);
            }
        }
    } else if (src->n) {
        memcpy(dst->data, src->data, (size_t)src->n * ml_dtype_size(src->dtype));
    }
    return 0;
}

char *ml_shape_str(const struct ml_tensor *t, char *out, size_t size)
{
    size_t o = 0;
    o += (size_t)snprintf(out, size, "[");
    for (int i = 0; i < t->ndim && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%" PRId64, i ? "," : "", t->dims[i]);
    if (o < size)
        snprintf(out + o, size - o, "]");
    return out;
}

/* Half precision conversions (IEEE binary16 and bfloat16), round to nearest even. */
float ml_half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    float f;
    if (ex == 0) {
        f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    if (ex == 31)
        bits = s | 0x7f800000u | (m << 13);
    else
        bits = s | ((ex + 112) << 23) | (m << 13);
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ml_float_to_half(float f)
{
    uint32_t x, s, ex, m;
    memcpy(&x, &f, 4);
    s = (x >> 16) & 0x8000;
    ex = (x >> 23) & 0xff;
    m = x & 0x7fffff;
    if (ex == 0xff)
        return (uint16_t)(s | 0x7c00 | (m ? 0x200 : 0));
    int e = (int)ex - 127 + 15;
    if (e >= 31)
        return (uint16_t)(s | 0x7c00);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)s;
        m |= 0x800000;
        int shift = 14 - e;
        uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1)))
            hm++;
        return (uint16_t)(s | hm);
    }
    uint32_t hm = m >> 13, rem = m & 0x1fff;
    uint32_t r = s | ((uint32_t)e << 10) | hm;
    if (rem > 0x1000 || (rem == 0x1000 && (hm & 1)))
        r++;
    return (uint16_t)r;
}

float ml_bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ml_float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if (isnan(f))
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

double ml_get_f64(const struct ml_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case ML_FLOAT: return ((const float *)d)[i];
    case ML_DOUBLE: return ((const double *)d)[i];
    case ML_FLOAT16: return ml_half_to_float(((const uint16_t *)d)[i]);
    case ML_BFLOAT16: return ml_bf16_to_float(((const uint16_t *)d)[i]);
    case ML_INT8: return ((const int8_t *)d)[i];
    case ML_UINT8: return ((const uint8_t *)d)[i];
    case ML_INT16: return ((const int16_t *)d)[i];
    case ML_UINT16: return ((const uint16_t *)d)[i];
    case ML_INT32: return ((const int32_t *)d)[i];
    case ML_UINT32: return ((const uint32_t *)d)[i];
    case ML_INT64: return (double)((const int64_t *)d)[i];
    case ML_UINT64: return (double)((const uint64_t *)d)[i];
    case ML_BOOL: return ((const uint8_t *)d)[i] ? 1.0 : 0.0;
    default: return 0;
    }
}

/* Float to integer conversion that never invokes undefined behaviour. */
static int64_t f2i(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    if (v < lo)
        return (int64_t)lo;
    if (v > hi)
        return (int64_t)hi;
    return (int64_t)v;
}

void ml_set_f64(struct ml_tensor *t, int64_t i, double v)
{
    void *d = t->data;
    switch (t->dtype) {
    case ML_FLOAT: ((float *)d)[i] = (float)v; break;
    case ML_DOUBLE: ((double *)d)[i] = v; break;
    case ML_FLOAT16: ((uint16_t *)d)[i] = ml_float_to_half((float)v); break;
    case ML_BFLOAT16: ((uint16_t *)d)[i] = ml_float_to_bf16((float)v); break;
    /* Out-of-range float to int conversion wraps like a two's complement cast
     * of the int64 value, which is what numpy does on x86 for in-int64 values. */
    case ML_INT8: ((int8_t *)d)[i] = (int8_t)f2i(v, -9.2e18, 9.2e18); break;
    case ML_UINT8: ((uint8_t *)d)[i] = (uint8_t)f2i(v, -9.2e18, 9.2e18); break;
    case ML_INT16: ((int16_t *)d)[i] = (int16_t)f2i(v, -9.2e18, 9.2e18); break;
    case ML_UINT16: ((uint16_t *)d)[i] = (uint16_t)f2i(v, -9.2e18, 9.2e18); break;
    case ML_INT32: ((int32_t *)d)[i] = (int32_t)f2i(v, -9.2e18, 9.2e18); break;
    case ML_UINT32: ((uint32_t *)d)[i] = (uint32_t)f2i(v, -9.2e18, 9.2e18); break;
    case ML_INT64: ((int64_t *)d)[i] = f2i(v, -9.2e18, 9.2e18); break;
    case ML_UINT64:
        ((uint64_t *)d)[i] = v >= 9.2e18 ? (uint64_t)fmin(v, 1.8e19) : (uint64_t)f2i(v, -9.2e18, 9.2e18);
        break;
    case ML_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: break;
    }
}

int64_t ml_get_i64(const struct ml_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dtype) {
    case ML_INT8: return ((const int8_t *)d)[i];
    case ML_UINT8: return ((const uint8_t *)d)[i];
    case ML_INT16: return ((const int16_t *)d)[i];
    case ML_UINT16: return ((const uint16_t *)d)[i];
    case ML_INT32: return ((const int32_t *)d)[i];
    case ML_UINT32: return ((const uint32_t *)d)[i];
    case ML_INT64: return ((const int64_t *)d)[i];
    case ML_UINT64: return (int64_t)((const uint64_t *)d)[i];
    case ML_BOOL: return ((const uint8_t *)d)[i] != 0;
    default: return f2i(ml_get_f64(t, i), -9.2e18, 9.2e18);
    }
}

double ml_first_f64(const struct ml_tensor *t)
{
    return t && t->n > 0 && t->data ? ml_get_f64(t, 0) : 0;
}

int64_t ml_first_i64(const struct ml_tensor *t)
{
    return t && t->n > 0 && t->data ? ml_get_i64(t, 0) : 0;
}

void ml_set_i64(struct ml_tensor *t, int64_t i, int64_t v)
{
    void *d = t->data;
    switch (t->dtype) {
    case ML_INT8: ((int8_t *)d)[i] = (int8_t)v; break;
    case ML_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case ML_INT16: ((int16_t *)d)[i] = (int16_t)v; break;
    case ML_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case ML_INT32: ((int32_t *)d)[i] = (int32_t)v; break;
    case ML_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case ML_INT64: ((int64_t *)d)[i] = v; break;
    case ML_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    case ML_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: ml_set_f64(t, i, (double)v); break;
    }
}

static int cast_to_string(struct ml_tensor *dst, const struct ml_tensor *src)
{
    char **d = dst->data, tmp[64];
    for (int64_t i = 0; i < src->n; i++) {
        if (ml_is_float(src->dtype)) {
            double v = ml_get_f64(src, i);
            if (isnan(v))
                snprintf(tmp, sizeof(tmp), "NaN");
            else if (isinf(v))
                snprintf(tmp, sizeof(tmp), v > 0 ? "INF" : "-INF");
            else if (src->dtype == ML_DOUBLE)
                snprintf(tmp, sizeof(tmp), "%.17g", v);
            else {
                /* The shortest text that reads back as the same float. */
                for (int prec = 1; prec <= 9; prec++) {
                    snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
                    if ((float)strtod(tmp, NULL) == (float)v)
                        break;
                }
            }
        } else if (src->dtype == ML_UINT64) {
            snprintf(tmp, sizeof(tmp), "%" PRIu64, ((const uint64_t *)src->data)[i]);
        } else if (src->dtype == ML_BOOL) {
            snprintf(tmp, sizeof(tmp), "%s", ((const uint8_t *)src->data)[i] ? "True" : "False");
        } else {
            snprintf(tmp, sizeof(tmp), "%" PRId64, ml_get_i64(src, i));
        }
        free(d[i]);
        d[i] = strdup(tmp);
        if (!d[i])
            return AG_ENOMEM;
    }
    return 0;
}

static int cast_from_string(struct ml_tensor *dst, const struct ml_tensor *src)
{
    char *const *s = src->data;
    for (int64_t i = 0; i < src->n; i++) {
        const char *z = s[i] ? s[i] : "";
        if (ml_is_float(dst->dtype)) {
            double v = strtod(z, NULL);
            if (!strcasecmp(z, "inf") || !strcasecmp(z, "+inf") || !strcasecmp(z, "infinity"))
                v = INFINITY;
            else if (!strcasecmp(z, "-inf") || !strcasecmp(z, "-infinity"))
                v = -INFINITY;
            ml_set_f64(dst, i, v);
        } else if (dst->dtype == ML_BOOL) {
            ml_set_i64(dst, i, strcasecmp(z, "false") && strcmp(z, "0") && *z);
        } else if (dst->dtype == ML_UINT64) {
            ((uint64_t *)dst->data)[i] = strtoull(z, NULL, 10);
        } else {
            ml_set_i64(dst, i, strtoll(z, NULL, 10));
        }
    }
    return 0;
}

int ml_cast_into(struct ml_tensor *dst, const struct ml_tensor *src, bool saturate)
{
    int64_t n = src->n;
    UNUSED(saturate);
    if (dst->dtype == src->dtype) {
        if (src->dtype == ML_STRING) {
            char **d = dst->data, *const *s = src->data;
            for (int64_t i = 0; i < n; i++) {
                d[i] = strdup(s[i] ? s[i] : "");
                if (!d[i])
                    return AG_ENOMEM;
            }
        } else if (n) {
            memcpy(dst->data, src->data, (size_t)n * ml_dtype_size(src->dtype));
        }
        return 0;
    }
    if (dst->dtype == ML_STRING)
        return cast_to_string(dst, src);
    if (src->dtype == ML_STRING)
        return cast_from_string(dst, src);
    if (src->dtype == ML_FLOAT && dst->dtype == ML_FLOAT16) {
        const float *s = src->data;
        uint16_t *d = dst->data;
        for (int64_t i = 0; i < n; i++)
            d[i] = ml_float_to_half(s[i]);
    } else if (src->dtype == ML_FLOAT16 && dst->dtype == ML_FLOAT) {
        const uint16_t *s = src->data;
        float *d = dst->data;
        for (int64_t i = 0; i < n; i++)
            d[i] = ml_half_to_float(s[i]);
    } else if (src->dtype == ML_FLOAT && dst->dtype == ML_DOUBLE) {
        const float *s = src->data;
        double *d = dst->data;
        for (int64_t i = 0; i < n; i++)
            d[i] = s[i];
    } else if (src->dtype == ML_DOUBLE && dst->dtype == ML_FLOAT16) {
        /* Round once, directly from double, as numpy does. */
        const double *s = src->data;
        uint16_t *d = dst->data;
        for (int64_t i = 0; i < n; i++) {
            float f = (float)s[i];
            uint16_t h = ml_float_to_half(f);
            double back = ml_half_to_float(h);
            /* Fix double rounding: pick the nearer neighbour in double. */
            if (back != s[i] && isfinite(s[i])) {
                uint16_t alt = (uint16_t)(s[i] > back ? (h & 0x8000 ? h - 1 : h + 1)
                                                      : (h & 0x8000 ? h + 1 : h - 1));
                double ba = ml_half_to_float(alt);
                if (fabs(ba - s[i]) < fabs(back - s[i]))
                    h = alt;
            }
            d[i] = h;
        }
    } else if (ml_is_float(src->dtype) || ml_is_float(dst->dtype)) {
        if (src->dtype == ML_UINT64 || src->dtype == ML_INT64) {
            for (int64_t i = 0; i < n; i++)
                ml_set_f64(dst, i, src->dtype == ML_UINT64
                                       ? (double)((const uint64_t *)src->data)[i]
                                       : (double)((const int64_t *)src->data)[i]);
        } else {
            for (int64_t i = 0; i < n; i++)
                ml_set_f64(dst, i, ml_get_f64(src, i));
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            ml_set_i64(dst, i, ml_get_i64(src, i));
    }
    return 0;
}

void ml_strides(int ndim, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

int ml_axis(int64_t axis, int rank)
{
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return -1;
    return (int)axis;
}

int ml_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                       int64_t *out)
{
    int n = MAX(na, nb);
    if (n > ML_MAX_DIMS)
        return AG_EUNPROCESSABLE;
    for (int i = 0; i < n; i++) {
        int64_t da = i - (n - na) >= 0 ? a[i - (n - na)] : 1;
        int64_t db = i - (n - nb) >= 0 ? b[i - (n - nb)] : 1;
        if (da == db || db == 1)
            out[i] = da;
        else if (da == 1)
            out[i] = db;
        else
            return AG_EINVAL;
    }
    *nout = n;
    return 0;
}

void ml_bcast_strides(const struct ml_tensor *t, int ndim, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        int ti = i - (ndim - t->ndim);
        if (ti < 0 || t->dims[ti] == 1 || dims[i] == 1) {
            st[i] = 0;
            if (ti >= 0)
                s *= t->dims[ti];
        } else {
            st[i] = s;
            s *= t->dims[ti];
        }
    }
}

int64_t ml_read_ints(const struct ml_tensor *t, int64_t *out, int64_t max)
{
    int64_t n = MIN(t->n, max);
    for (int64_t i = 0; i < n; i++)
        out[i] = ml_get_i64(t, i);
    return n;
}

/* Copies `n` values of a repeated proto field into the tensor, element by element. */
static void fill_typed(struct ml_tensor *t, const Onnx__TensorProto *p)
{
    int64_t n = t->n;
    if (n == 0)
        return;
    switch (t->dtype) {
    case ML_FLOAT: memcpy(t->data, p->float_data, (size_t)n * 4); break;
    case ML_DOUBLE: memcpy(t->data, p->double_data, (size_t)n * 8); break;
    case ML_INT64: memcpy(t->data, p->int64_data, (size_t)n * 8); break;
    case ML_UINT64: memcpy(t->data, p->uint64_data, (size_t)n * 8); break;
    case ML_UINT32:
        for (int64_t i = 0; i < n; i++)
            ((uint32_t *)t->data)[i] = (uint32_t)p->uint64_data[i];
        break;
    case ML_FLOAT16:
    case ML_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)t->data)[i] = (uint16_t)p->int32_data[i];
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            ml_set_i64(t, i, p->int32_data[i]);
        break;
    }
}

static size_t typed_count(const Onnx__TensorProto *p, int dtype)
{
    switch (dtype) {
    case ML_FLOAT: return p->n_float_data;
    case ML_DOUBLE: return p->n_double_data;
    case ML_INT64: return p->n_int64_data;
    case ML_UINT64:
    case ML_UINT32: return p->n_uint64_data;
    case ML_STRING: return p->n_string_data;
    default: return p->n_int32_data;
    }
}

/* Reads external data: location must be a relative path that stays inside `dir`. */
static int read_external(struct ml_tensor *t, const Onnx__TensorProto *p, const char *dir,
                         size_t max_bytes, struct ag_err *e)
{
    const char *loc = NULL;
    int64_t off = 0, len = -1;
    char path[4096], rdir[PATH_MAX], rfile[PATH_MAX];
    FILE *f = NULL;
    int rc = 0;
    size_t need = (size_t)t->n * ml_dtype_size(t->dtype);

    for (size_t i = 0; i < p->n_external_data; i++) {
        const char *k = p->external_data[i]->key, *v = p->external_data[i]->value;
        if (!k || !v)
            continue;
        if (!strcmp(k, "location"))
            loc = v;
        else if (!strcmp(k, "offset") && parse_i64(v, &off))
            return ag_errf(e, AG_EINVAL, NULL, "external data offset \"%s\" is invalid", v);
        else if (!strcmp(k, "length") && parse_i64(v, &len))
            return ag_errf(e, AG_EINVAL, NULL, "external data length \"%s\" is invalid", v);
    }
    if (!dir)
        return ag_errf(e, AG_EINVAL, NULL, "external data needs the model's directory");
    if (!loc || !*loc || loc[0] == '/' || off < 0)
        return ag_errf(e, AG_EINVAL, NULL, "external data location is missing or absolute");
    if (len >= 0 && (size_t)len != need)
        return ag_errf(e, AG_EINVAL, NULL, "external data length %" PRId64 " does not match "
                       "the tensor's %zu bytes", len, need);
    if (need > max_bytes)
        return ag_errf(e, AG_ETOOBIG, NULL, "external data exceeds the model size limit");
    snprintf(path, sizeof(path), "%s/%s", dir, loc);
    if (!realpath(dir, rdir) || !realpath(path, rfile))
        return ag_errf(e, AG_EINVAL, NULL, "external data file \"%s\" not found", loc);
    size_t dl = strlen(rdir);
    if (strncmp(rfile, rdir, dl) || (rfile[dl] != '/' && strcmp(rdir, "/")))
        return ag_errf(e, AG_EINVAL, NULL, "external data path \"%s\" leaves the model's directory",
                       loc);
    f = fopen(rfile, "rb");
    if (!f)
        return ag_errf(e, AG_EIO, NULL, "cannot open external data \"%s\"", loc);
    if (fseeko(f, (off_t)off, SEEK_SET) || (need && fread(t->data, 1, need, f) != need))
        rc = ag_errf(e, AG_EINVAL, NULL, "external data \"%s\" is shorter than the tensor", loc);
    fclose(f);
    return rc;
}

int ml_tensor_from_proto(struct ml_tensor *t, const Onnx__TensorProto *p, const char *dir,
                         size_t max_bytes, struct ag_err *e)
{
    int64_t dims[ML_MAX_DIMS];
    int dtype = p->has_data_type ? p->data_type : ML_UNDEFINED;
    int rc;
    size_t es, need;

    if (p->n_dims > ML_MAX_DIMS)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "tensor \"%s\" has rank %zu, above %d",
                       p->name ? p->name : "", p->n_dims, ML_MAX_DIMS);
    if (dtype <= 0 || dtype >= ML_DTYPE_COUNT_ || dtype == ML_COMPLEX64 || dtype == ML_COMPLEX128)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "tensor \"%s\" has unsupported type %d",
                       p->name ? p->name : "", dtype);
    for (size_t i = 0; i < p->n_dims; i++)
        dims[i] = p->dims[i];
    es = ml_dtype_size(dtype);
    int64_t n = ml_numel((int)p->n_dims, dims);
    if (n < 0 || (uint64_t)n > max_bytes / es)
        return ag_errf(e, AG_ETOOBIG, NULL, "tensor \"%s\" is negative or too large",
                       p->name ? p->name : "");
    if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (dtype == ML_STRING)
            return ag_errf(e, AG_EUNPROCESSABLE, NULL, "external string tensors are not supported");
        rc = ml_tensor_alloc(t, dtype, (int)p->n_dims, dims, e);
        if (!rc && (rc = read_external(t, p, dir, max_bytes, e)))
            ml_tensor_release(t);
        return rc;
    }
    need = (size_t)n * es;
    if (dtype != ML_STRING && p->has_raw_data) {
        if (p->raw_data.len != need)
            return ag_errf(e, AG_ECORRUPT, NULL, "tensor \"%s\" has %zu raw bytes, expected %zu",
                           p->name ? p->name : "", p->raw_data.len, need);
    } else if ((int64_t)typed_count(p, dtype) != n) {
        return ag_errf(e, AG_ECORRUPT, NULL, "tensor \"%s\" has %zu values, expected %" PRId64,
                       p->name ? p->name : "", typed_count(p, dtype), n);
    }
    rc = ml_tensor_alloc(t, dtype, (int)p->n_dims, dims, e);
    if (rc)
        return rc;
    if (dtype == ML_STRING) {
        char **s = t->data;
        for (int64_t i = 0; i < n; i++) {
            const ProtobufCBinaryData *b = &p->string_data[i];
            s[i] = malloc(b->len + 1);
            if (!s[i]) {
                ml_tensor_release(t);
                return ag_err_set(e, AG_ENOMEM);
            }
            if (b->len)
                memcpy(s[i], b->data, b->len);
            s[i][b->len] = 0;
        }
    } else if (p->has_raw_data) {
        if (need)
            memcpy(t->data, p->raw_data.data, need);
    } else {
        fill_typed(t, p);
    }
    return 0;
}

int ml_tensor_read_pb(struct ml_tensor *t, char **name, const char *path, struct ag_err *e)
{
    struct buf b;
    Onnx__TensorProto *p = NULL;
    int rc;

    buf_init(&b, (size_t)1 << 30);
    rc = buf_read_file(&b, path);
    if (rc) {
        rc = ag_errf(e, rc, NULL, rc == AG_ETOOBIG ? "%s is larger than 1 GiB" : "cannot read %s",
                     path);
        goto out;
    }
    p = onnx__tensor_proto__unpack(NULL, b.n, (const uint8_t *)b.p);
    if (!p) {
        rc = ag_errf(e, AG_ECORRUPT, NULL, "%s is not a valid TensorProto", path);
        goto out;
    }
    rc = ml_tensor_from_proto(t, p, NULL, (size_t)1 << 32, e);
    if (!rc && name) {
        *name = strdup(p->name ? p->name : "");
        if (!*name) {
            ml_tensor_release(t);
            rc = ag_err_set(e, AG_ENOMEM);
        }
    }
out:
    if (p)
        onnx__tensor_proto__free_unpacked(p, NULL);
    buf_release(&b);
    return rc;
}
