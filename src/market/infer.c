/* infer.c - running a version's ONNX file on the node: access, limits, model cache, tensors.
 *
 * One request: market_infer_open() resolves the file and applies the file
 * access policy (market_file_open(), the same check as a download);
 * market_infer_run() takes one of the service's slots (a counting
 * semaphore that never blocks: AG_EUNAVAILABLE when all are busy), decodes
 * the inputs (JSON or .npy) and checks them against the model's declared
 * inputs, takes a loaded model from the cache (or loads it, decrypting a paid
 * file into memory only), runs it under the deadline and memory cap, and
 * encodes the outputs (JSON or one .npy).
 *
 * The cache holds idle loaded models keyed by the file's root CID, bounded
 * by count and by model file bytes, least recently used out first. A model
 * is used by one request at a time (ml.h): a request takes an idle instance
 * out of the cache and gives it back afterwards, so two concurrent requests
 * for one CID load two instances, both of which may then stay cached.
 */
#include "core/common.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "market/internal.h"
#include "ml/ml.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#define MIB                   ((uint64_t)1 << 20)
#define INFER_MAX_OUTPUT_JSON ((size_t)256 << 20)
#define INFER_MAX_OUTPUT_NPY  ((size_t)1 << 30)

struct cached_model {
    char cid[128];
    struct ml_model *model;
    uint64_t bytes;     /* the model file's size: what the entry costs */
    uint64_t last_used; /* the cache's clock when it was given back */
};

struct market_infer {
    struct market_infer_config cfg;
    atomic_int running;         /* slots taken */
    atomic_int stopping;        /* set by market_infer_free(): runs stop */
    pthread_mutex_t lock;       /* guards the cache */
    struct cached_model *cache; /* idle instances, cfg.cache_models at most */
    int ncache;
    uint64_t cache_bytes;
    uint64_t clock;
    /* statistics, under lock */
    uint64_t hits, misses;
};

struct infer_job {
    struct market *m;
    struct market_infer *s;
    struct market_file *f;
    char owner[64];
    bool limited;
};

/* ---- the service --------------------------------------------------------- */

int market_infer_new(const struct market_infer_config *cfg, struct market_infer **out,
                     struct ag_err *e)
{
    struct market_infer *s = calloc(1, sizeof(*s));
    if (!s)
        return ag_err_set(e, AG_ENOMEM);
    if (cfg)
        s->cfg = *cfg;
    if (s->cfg.timeout_ms <= 0)
        s->cfg.timeout_ms = 10000;
    if (!s->cfg.max_memory)
        s->cfg.max_memory = 1024 * MIB;
    if (s->cfg.threads <= 0)
        s->cfg.threads = 1;
    if (s->cfg.max_concurrent <= 0)
        s->cfg.max_concurrent = 2;
    if (s->cfg.cache_models < 0)
        s->cfg.cache_models = 0;
    else if (!s->cfg.cache_models)
        s->cfg.cache_models = 8;
    if (!s->cfg.cache_bytes)
        s->cfg.cache_bytes = 1024 * MIB;
    if (!s->cfg.max_model_bytes)
        s->cfg.max_model_bytes = 512 * MIB;
    if (!s->cfg.max_body)
        s->cfg.max_body = 16 * MIB;
    if (s->cfg.cache_models) {
        s->cache = calloc((size_t)s->cfg.cache_models, sizeof(*s->cache));
        if (!s->cache) {
            free(s);
            return ag_err_set(e, AG_ENOMEM);
        }
    }
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

void market_infer_free(struct market_infer *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    for (int i = 0; i < s->ncache; i++)
        ml_model_free(s->cache[i].model);
    pthread_mutex_destroy(&s->lock);
    free(s->cache);
    free(s);
}

void market_infer_stop(struct market_infer *s)
{
    if (s)
        atomic_store(&s->stopping, 1);
}

const struct market_infer_config *market_infer_cfg(const struct market_infer *s)
{
    return &s->cfg;
}

void market_infer_stats(struct market_infer *s, struct market_infer_stats *st)
{
    pthread_mutex_lock(&s->lock);
    st->cached = s->ncache;
    st->cached_bytes = s->cache_bytes;
    st->hits = s->hits;
    st->misses = s->misses;
    pthread_mutex_unlock(&s->lock);
    st->running = atomic_load(&s->running);
}

/* slot_take() takes one of the service's slots without waiting: 0, or
 * AG_EUNAVAILABLE (with retry_after) when all are busy. */
static int slot_take(struct market_infer *s, struct ag_err *e)
{
    int n;
    if (atomic_load(&s->stopping)) {
        ag_errf(e, AG_EUNAVAILABLE, NULL, "the node is shutting down");
        if (e)
            e->retry_after = 1;
        return AG_EUNAVAILABLE;
    }
    n = atomic_fetch_add(&s->running, 1);
    if (n < s->cfg.max_concurrent)
        return 0;
    atomic_fetch_sub(&s->running, 1);
    ag_errf(e, AG_EUNAVAILABLE, NULL, "the node is running %d inferences already; retry shortly",
            s->cfg.max_concurrent);
    if (e)
        e->retry_after = 1;
    return AG_EUNAVAILABLE;
}

static void slot_give(struct market_infer *s)
{
    atomic_fetch_sub(&s->running, 1);
}

/* ---- the model cache ----------------------------------------------------- */

/* cache_take() removes an idle instance of `cid` from the cache and returns
 * it, or NULL. */
static struct ml_model *cache_take(struct market_infer *s, const char *cid, uint64_t *bytes)
{
    struct ml_model *m = NULL;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->ncache; i++) {
        if (strcmp(s->cache[i].cid, cid))
            continue;
        m = s->cache[i].model;
        *bytes = s->cache[i].bytes;
        s->cache_bytes -= s->cache[i].bytes;
        s->cache[i] = s->cache[--s->ncache];
        break;
    }
    if (m)
        s->hits++;
    else
        s->misses++;
    pthread_mutex_unlock(&s->lock);
    return m;
}

/* cache_give() puts an idle instance back, evicting the least recently used
 * ones while the cache is over its count or byte bound; an instance that
 * cannot fit at all is freed. */
static void cache_give(struct market_infer *s, const char *cid, struct ml_model *model,
                       uint64_t bytes)
{
    struct ml_model *evict[64];
    int nevict = 0;

    if (bytes > s->cfg.cache_bytes || !s->cfg.cache_models) {
        ml_model_free(model);
        return;
    }
    pthread_mutex_lock(&s->lock);
    while (nevict < (int)ARRAY_SIZE(evict) && s->ncache > 0 &&
           (s->ncache >= s->cfg.cache_models || s->cache_bytes + bytes > s->cfg.cache_bytes)) {
        int old = 0;
        for (int i = 1; i < s->ncache; i++)
            if (s->cache[i].last_used < s->cache[old].last_used)
                old = i;
        evict[nevict++] = s->cache[old].model;
        s->cache_bytes -= s->cache[old].bytes;
        s->cache[old] = s->cache[--s->ncache];
    }
    if (s->ncache < s->cfg.cache_models && s->cache_bytes + bytes <= s->cfg.cache_bytes) {
        struct cached_model *c = &s->cache[s->ncache++];
        str_copy(c->cid, cid, sizeof(c->cid));
        c->model = model;
        c->bytes = bytes;
        c->last_used = ++s->clock;
        s->cache_bytes += bytes;
        model = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    /* Free outside the lock: joining a model's threads takes a moment. */
    for (int i = 0; i < nevict; i++)
        ml_model_free(evict[i]);
    ml_model_free(model);
}

/* load_model() reads the whole file (plaintext: a paid file is decrypted
 * into this buffer only, wiped afterwards) and loads it. A model the engine
 * refuses is AG_EUNPROCESSABLE naming the reason; AG_ETOOBIG past the
 * node's model size limit. */
static int load_model(struct infer_job *j, struct ml_model **out, struct ag_err *e)
{
    const struct market_file_info *info = market_file_info(j->f);
    struct ml_opts o = {0};
    uint8_t *data = NULL;
    uint64_t pos = 0;
    int rc = 0;

    if (info->size > j->s->cfg.max_model_bytes) {
        rc = ag_errf(e, AG_ETOOBIG, "file",
                     "%s is %" PRIu64 " MiB; this node runs models up to %" PRIu64 " MiB",
                     info->name, info->size / MIB, j->s->cfg.max_model_bytes / MIB);
        goto out;
    }
    data = malloc(info->size ? (size_t)info->size : 1);
    if (!data) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    while (pos < info->size) {
        size_t n = 0;
        if ((rc = market_file_read(j->f, pos, data + pos, (size_t)(info->size - pos), &n, e)))
            goto out;
        if (!n) {
            rc = ag_errf(e, AG_ECORRUPT, NULL, "%s ends after %" PRIu64 " of %" PRIu64 " bytes",
                         info->name, pos, info->size);
            goto out;
        }
        pos += n;
    }
    o.threads = j->s->cfg.threads;
    o.mem_limit = (size_t)j->s->cfg.max_memory;
    o.max_model_bytes = (size_t)j->s->cfg.max_model_bytes;
    rc = ml_model_load_buf(out, data, (size_t)info->size, NULL, &o, e);
    if (rc && rc != AG_ENOMEM) {
        /* The file is the seller's: a malformed or unsupported model is not
         * the node's fault, and its message is safe to show. */
        char msg[sizeof(e->msg)];
        str_copy(msg, e ? e->msg : "", sizeof(msg));
        rc = ag_errf(e, rc == AG_ETOOBIG ? AG_ETOOBIG : AG_EUNPROCESSABLE, "file",
                     "%s cannot be run: %s", info->name, msg);
    }
out:
    if (data) {
        if (info->encrypted)
            sodium_memzero(data, (size_t)info->size);
        free(data);
    }
    return rc;
}

/* ---- opening a job ------------------------------------------------------- */

/* pick_file() finds the version's only .onnx file; AG_EINVAL naming them
 * when there are several, AG_EUNPROCESSABLE when there is none. */
static int pick_file(struct market *m, const struct principal *viewer, const char *owner,
                     const char *slug, const char *version, char *name, size_t size,
                     struct ag_err *e)
{
    json_t *v = NULL, *files, *f;
    char list[200] = "";
    size_t i;
    int found = 0, rc;

    if ((rc = market_version_get(m, viewer, owner, slug, version, &v, e)))
        goto out;
    files = json_object_get(v, "files");
    json_array_foreach(files, i, f)
    {
        const char *n = json_string_value(json_object_get(f, "name"));
        size_t len = n ? strlen(n) : 0;
        if (len < 5 || strcasecmp(n + len - 5, ".onnx"))
            continue;
        if (!found++)
            str_copy(name, n, size);
        if (strlen(list) + len + 3 < sizeof(list))
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", *list ? ", " : "",
                     n);
    }
    if (!found)
        rc = ag_errf(e, AG_EUNPROCESSABLE, "file", "version %s has no .onnx file to run", version);
    else if (found > 1)
        rc = ag_errf(e, AG_EINVAL, "file",
                     "version %s has %d .onnx files (%s): choose one with ?file=NAME", version,
                     found, list);
out:
    json_decref(v);
    return rc;
}

int market_infer_open(struct market *m, struct market_infer *s, const struct principal *viewer,
                      const char *owner, const char *slug, const char *version, const char *file,
                      struct infer_job **out, struct ag_err *e)
{
    struct infer_job *j = NULL;
    char name[256];
    int rc;

    *out = NULL;
    if (!file) {
        if ((rc = pick_file(m, viewer, owner, slug, version, name, sizeof(name), e)))
            goto out;
        file = name;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    j->m = m;
    j->s = s;
    str_copy(j->owner, owner ? owner : "", sizeof(j->owner));
    if ((rc = market_file_open(m, viewer, owner, slug, version, file, &j->f, e)))
        goto out;
    /* Free files are open to anyone and so rate limited; the owner and the
     * licence holders of a paid file are not. */
    j->limited = !market_file_info(j->f)->encrypted &&
                 !(viewer && owner && !strcmp(viewer->username, owner));
out:
    if (rc) {
        market_infer_close(j);
        j = NULL;
    }
    *out = j;
    return rc;
}

bool market_infer_limited(const struct infer_job *j)
{
    return j->limited;
}

const struct market_file_info *market_infer_file_info(const struct infer_job *j)
{
    return market_file_info(j->f);
}

void market_infer_close(struct infer_job *j)
{
    if (!j)
        return;
    market_file_close(j->f);
    free(j);
}

/* ---- half precision ------------------------------------------------------ */

static uint16_t f32_to_f16(float f)
{
    uint32_t x, sign, mant;
    int32_t exp;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    exp = (int32_t)((x >> 23) & 0xff);
    mant = x & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
    exp -= 127 - 15;
    if (exp >= 0x1f)
        return (uint16_t)(sign | 0x7c00u);
    if (exp <= 0) {
        uint32_t m, shift, half, r;
        if (exp < -10)
            return (uint16_t)sign;
        m = mant | 0x800000u;
        shift = (uint32_t)(14 - exp);
        half = 1u << (shift - 1);
        r = m >> shift;
        if ((m & ((1u << shift) - 1)) > half || ((m & ((1u << shift) - 1)) == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    {
        uint32_t r = ((uint32_t)exp << 10) | (mant >> 13);
        uint32_t rest = mant & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (r & 1)))
            r++; /* may carry into the exponent: still correct, up to infinity */
        return (uint16_t)(sign | r);
    }
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, x;
    float f;
    if (exp == 0x1f) {
        x = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        f = ldexpf((float)mant, -24);
        return sign ? -f : f;
    } else {
        x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    memcpy(&f, &x, 4);
    return f;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* NaN stays NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- inputs -------------------------------------------------------------- */

static const struct {
    const char *name;
    int dtype;
} dtype_names[] = {
    {"float32", ML_FLOAT}, {"float", ML_FLOAT},     {"float64", ML_DOUBLE},
    {"double", ML_DOUBLE}, {"float16", ML_FLOAT16}, {"bfloat16", ML_BFLOAT16},
    {"int8", ML_INT8},     {"uint8", ML_UINT8},     {"int16", ML_INT16},
    {"uint16", ML_UINT16}, {"int32", ML_INT32},     {"uint32", ML_UINT32},
    {"int64", ML_INT64},   {"uint64", ML_UINT64},   {"bool", ML_BOOL},
    {"string", ML_STRING},
};

static int dtype_parse(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(dtype_names); i++)
        if (!strcmp(s, dtype_names[i].name))
            return dtype_names[i].dtype;
    return ML_UNDEFINED;
}

/* nested_shape() finds the shape of nested JSON arrays: AG_EINVAL when they
 * are ragged, deeper than ML_MAX_DIMS, or hold something other than
 * scalars at the bottom. An empty array ends the shape there. */
static int nested_shape(json_t *v, const char *name, int *ndim, int64_t *dims, struct ag_err *e)
{
    json_t *p = v;
    *ndim = 0;
    while (json_is_array(p)) {
        if (*ndim == ML_MAX_DIMS)
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": data is nested deeper than %d levels",
                           name, ML_MAX_DIMS);
        dims[(*ndim)++] = (int64_t)json_array_size(p);
        if (!json_array_size(p))
            break;
        p = json_array_get(p, 0);
    }
    return 0;
}

struct flat {
    json_t **v;
    int64_t n, cap;
};

/* flatten() collects the scalars of nested arrays in C order, checking that
 * every array at depth d has dims[d] members. */
static int flatten(json_t *v, int depth, int ndim, const int64_t *dims, struct flat *f,
                   const char *name, struct ag_err *e)
{
    size_t i;
    json_t *x;
    if (depth == ndim) {
        if (json_is_array(v) || json_is_object(v) || json_is_null(v))
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": data is ragged or holds a non-scalar",
                           name);
        if (f->n == f->cap) {
            /* Grows with the JSON actually there, so the body bounds it. */
            int64_t nc = f->cap ? f->cap * 2 : 64;
            json_t **nv = realloc(f->v, sizeof(*nv) * (size_t)nc);
            if (!nv)
                return ag_err_set(e, AG_ENOMEM);
            f->v = nv;
            f->cap = nc;
        }
        f->v[f->n++] = v;
        return 0;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) != dims[depth])
        return ag_errf(e, AG_EINVAL, name,
                       "input \"%s\": data is ragged (every array at depth %d must have %" PRId64
                       " members)",
                       name, depth, dims[depth]);
    json_array_foreach(v, i, x)
    {
        int rc = flatten(x, depth + 1, ndim, dims, f, name, e);
        if (rc)
            return rc;
    }
    return 0;
}

/* scalar_f64() reads a JSON number (or "NaN", "Infinity", "-Infinity"). */
static int scalar_f64(json_t *v, double *out)
{
    const char *s;
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    if (!strcmp(s, "NaN") || !strcmp(s, "nan"))
        *out = NAN;
    else if (!strcmp(s, "Infinity") || !strcmp(s, "inf"))
        *out = INFINITY;
    else if (!strcmp(s, "-Infinity") || !strcmp(s, "-inf"))
        *out = -INFINITY;
    else
        return -1;
    return 0;
}

/* store_elem() writes JSON scalar `v` as element i of t, range-checked. */
static int store_elem(struct ml_tensor *t, int64_t i, json_t *v, const char *name, struct ag_err *e)
{
    double d = 0;
    int64_t x = 0;
    uint64_t u = 0;
    bool neg = false;

    if (t->dtype == ML_STRING) {
        char *s;
        if (!json_is_string(v))
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": element %" PRId64 " is not a string",
                           name, i);
        s = strdup(json_string_value(v));
        if (!s)
            return ag_err_set(e, AG_ENOMEM);
        ((char **)t->data)[i] = s;
        return 0;
    }
    if (t->dtype == ML_FLOAT || t->dtype == ML_DOUBLE || t->dtype == ML_FLOAT16 ||
        t->dtype == ML_BFLOAT16) {
        if (scalar_f64(v, &d) || json_is_boolean(v))
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": element %" PRId64 " is not a number",
                           name, i);
        switch (t->dtype) {
        case ML_FLOAT:
            ((float *)t->data)[i] = (float)d;
            break;
        case ML_DOUBLE:
            ((double *)t->data)[i] = d;
            break;
        case ML_FLOAT16:
            ((uint16_t *)t->data)[i] = f32_to_f16((float)d);
            break;
        default:
            ((uint16_t *)t->data)[i] = f32_to_bf16((float)d);
            break;
        }
        return 0;
    }
    if (t->dtype == ML_BOOL) {
        if (json_is_boolean(v))
            x = json_is_true(v);
        else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            x = json_integer_value(v);
        else
            return ag_errf(e, AG_EINVAL, name,
                           "input \"%s\": element %" PRId64 " is not true, false, 0 or 1", name, i);
        ((uint8_t *)t->data)[i] = (uint8_t)x;
        return 0;
    }
    /* Integers: exact JSON integers only (a uint64 past 2^63 as a decimal string). */
    if (json_is_integer(v)) {
        x = json_integer_value(v);
        neg = x < 0;
        u = (uint64_t)x;
    } else if (json_is_string(v) && t->dtype == ML_UINT64 && !parse_u64(json_string_value(v), &u)) {
        neg = false;
    } else {
        return ag_errf(e, AG_EINVAL, name, "input \"%s\": element %" PRId64 " is not an integer",
                       name, i);
    }
#define RANGE(lo, hi) (neg ? x >= (int64_t)(lo) : u <= (uint64_t)(hi))
    {
        bool ok;
        switch (t->dtype) {
        case ML_INT8:
            ok = RANGE(INT8_MIN, INT8_MAX);
            break;
        case ML_UINT8:
            ok = !neg && u <= UINT8_MAX;
            break;
        case ML_INT16:
            ok = RANGE(INT16_MIN, INT16_MAX);
            break;
        case ML_UINT16:
            ok = !neg && u <= UINT16_MAX;
            break;
        case ML_INT32:
            ok = RANGE(INT32_MIN, INT32_MAX);
            break;
        case ML_UINT32:
            ok = !neg && u <= UINT32_MAX;
            break;
        case ML_INT64:
            ok = json_is_integer(v);
            break;
        case ML_UINT64:
            ok = !neg;
            break;
        default:
            return ag_errf(e, AG_EUNPROCESSABLE, name, "input \"%s\": %s inputs are not supported",
                           name, ml_dtype_name(t->dtype));
        }
        if (!ok)
            return ag_errf(e, AG_EINVAL, name,
                           "input \"%s\": element %" PRId64 " is out of range for %s", name, i,
                           ml_dtype_name(t->dtype));
    }
#undef RANGE
    switch (t->dtype) {
    case ML_INT8:
        ((int8_t *)t->data)[i] = (int8_t)x;
        break;
    case ML_UINT8:
        ((uint8_t *)t->data)[i] = (uint8_t)u;
        break;
    case ML_INT16:
        ((int16_t *)t->data)[i] = (int16_t)x;
        break;
    case ML_UINT16:
        ((uint16_t *)t->data)[i] = (uint16_t)u;
        break;
    case ML_INT32:
        ((int32_t *)t->data)[i] = (int32_t)x;
        break;
    case ML_UINT32:
        ((uint32_t *)t->data)[i] = (uint32_t)u;
        break;
    case ML_INT64:
        ((int64_t *)t->data)[i] = x;
        break;
    default:
        ((uint64_t *)t->data)[i] = u;
        break;
    }
    return 0;
}

/* json_input() decodes one input: either {"dtype"?, "shape"?, "data"} or
 * the data alone (a nested array or a scalar). The dtype defaults to the
 * declared one; `shape` with flat data reshapes it; nested data gives its
 * own shape, which must then match `shape` if both are given. */
static int json_input(json_t *spec, const char *name, int declared, struct ml_tensor *t,
                      struct ag_err *e)
{
    static const char *const keys[] = {"dtype", "shape", "data", NULL};
    json_t *data = spec, *shape = NULL;
    const char *dt = NULL;
    int dtype = declared, ndim = 0, nd = 0, rc;
    int64_t dims[ML_MAX_DIMS] = {0}, nested[ML_MAX_DIMS] = {0}, n;
    struct flat f = {0};
    struct ag_err ke = {0};

    if (json_is_object(spec)) {
        if (json_check_keys(spec, keys, &ke))
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": %s", name, ke.msg);
        data = json_object_get(spec, "data");
        shape = json_object_get(spec, "shape");
        if (json_object_get(spec, "dtype") && !json_is_string(json_object_get(spec, "dtype")))
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": dtype must be a string", name);
        dt = json_string_value(json_object_get(spec, "dtype"));
        if (!data)
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": data is required", name);
    }
    if (dt) {
        dtype = dtype_parse(dt);
        if (!dtype)
            return ag_errf(e, AG_EINVAL, name, "input \"%s\": unknown dtype \"%s\"", name, dt);
        if (declared && dtype != declared)
            return ag_errf(e, AG_EINVAL, name, "input \"%s\" must be %s, not %s", name,
                           ml_dtype_name(declared), ml_dtype_name(dtype));
    }
    if (!dtype || !ml_dtype_size(dtype))
        return ag_errf(e, AG_EUNPROCESSABLE, name, "input \"%s\": its type %s is not supported",
                       name, ml_dtype_name(dtype));
    if ((rc = nested_shape(data, name, &nd, nested, e)))
        return rc;
    if (shape && !json_is_null(shape)) {
        size_t i;
        json_t *d;
        if (!json_is_array(shape) || json_array_size(shape) > ML_MAX_DIMS)
            return ag_errf(e, AG_EINVAL, name,
                           "input \"%s\": shape must be an array of at most %d sizes", name,
                           ML_MAX_DIMS);
        json_array_foreach(shape, i, d)
        {
            if (!json_is_integer(d) || json_integer_value(d) < 0 ||
                json_integer_value(d) > ((int64_t)1 << 40))
                return ag_errf(e, AG_EINVAL, name,
                               "input \"%s\": shape must hold non-negative integers", name);
            dims[ndim++] = json_integer_value(d);
        }
        if (nd > 1 && (nd != ndim || memcmp(dims, nested, sizeof(int64_t) * (size_t)nd)))
            return ag_errf(e, AG_EINVAL, name,
                           "input \"%s\": the nesting of data does not match its shape", name);
    } else {
        ndim = nd;
        memcpy(dims, nested, sizeof(dims));
    }
    n = 1;
    for (int i = 0; i < ndim; i++) /* saturates just past 2^40: no JSON holds that many */
        n = dims[i] && n > (((int64_t)1 << 40) + 1) / dims[i] ? ((int64_t)1 << 40) + 1
                                                              : n * dims[i];
    /* The data is walked with its own nesting; flat data then takes `shape`. */
    if ((rc = flatten(data, 0, nd, nested, &f, name, e)))
        goto out;
    if (n > ((int64_t)1 << 40)) {
        rc = ag_errf(e, AG_EINVAL, name, "input \"%s\": its shape holds more than 2^40 elements",
                     name);
        goto out;
    }
    if (f.n != n) {
        rc = ag_errf(e, AG_EINVAL, name,
                     "input \"%s\": data has %" PRId64 " elements; its shape needs %" PRId64, name,
                     f.n, n);
        goto out;
    }
    if ((rc = ml_tensor_alloc(t, dtype, ndim, dims, e)))
        goto out;
    for (int64_t i = 0; i < n && !rc; i++)
        rc = store_elem(t, i, f.v[i], name, e);
out:
    free(f.v);
    return rc;
}

/* check_input() compares a decoded input with what the model declares. */
static int check_input(const struct ml_model *mdl, int i, const struct ml_tensor *t,
                       struct ag_err *e)
{
    const char *name = ml_model_input_name(mdl, i);
    int declared = ml_model_input_dtype(mdl, i), ndim;
    int64_t dims[ML_MAX_DIMS];
    char want[160] = "[", got[160];

    if (declared && t->dtype != declared)
        return ag_errf(e, AG_EINVAL, name, "input \"%s\" must be %s, not %s", name,
                       ml_dtype_name(declared), ml_dtype_name(t->dtype));
    ml_model_input_shape(mdl, i, &ndim, dims);
    if (ndim < 0)
        return 0;
    for (int k = 0; k < ndim; k++) {
        size_t l = strlen(want);
        if (dims[k] >= 0)
            snprintf(want + l, sizeof(want) - l, "%s%" PRId64, k ? "," : "", dims[k]);
        else
            snprintf(want + l, sizeof(want) - l, "%s?", k ? "," : "");
    }
    str_copy(want + strlen(want), "]", sizeof(want) - strlen(want));
    ml_shape_str(t, got, sizeof(got));
    if (t->ndim != ndim)
        return ag_errf(e, AG_EINVAL, name, "input \"%s\" must have rank %d (shape %s), not %d (%s)",
                       name, ndim, want, t->ndim, got);
    for (int k = 0; k < ndim; k++)
        if (dims[k] >= 0 && t->dims[k] != dims[k])
            return ag_errf(e, AG_EINVAL, name,
                           "input \"%s\": dimension %d must be %" PRId64 ", not %" PRId64
                           " (the model declares %s, got %s)",
                           name, k, dims[k], t->dims[k], want, got);
    return 0;
}

static int input_names(const struct ml_model *mdl, char *out, size_t size)
{
    out[0] = '\0';
    for (int i = 0; i < ml_model_n_inputs(mdl); i++) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, "%s\"%s\"", i ? ", " : "", ml_model_input_name(mdl, i));
    }
    return 0;
}

/* decode_inputs() fills ins[] (one per model input) from the request. */
static int decode_inputs(const struct ml_model *mdl, const struct infer_request *r,
                         struct ml_tensor *ins, struct ag_err *e)
{
    int nin = ml_model_n_inputs(mdl), rc = 0;
    char names[200];

    input_names(mdl, names, sizeof(names));
    if (r->kind == INFER_BODY_JSON) {
        json_t *root = NULL, *inputs, *v;
        const char *key;
        static const char *const keys[] = {"inputs", NULL};
        if ((rc = json_parse(r->body, r->len, &root, e)))
            return rc;
        if (!json_is_object(root)) {
            rc = ag_errf(e, AG_EINVAL, NULL, "the body must be an object {\"inputs\": {...}}");
            goto json_out;
        }
        if ((rc = json_check_keys(root, keys, e)))
            goto json_out;
        inputs = json_object_get(root, "inputs");
        if (!json_is_object(inputs)) {
            rc = ag_errf(e, AG_EINVAL, "inputs", "inputs must be an object of named inputs");
            goto json_out;
        }
        json_object_foreach(inputs, key, v)
        {
            int i = ml_model_input_index(mdl, key);
            if (i < 0) {
                rc = ag_errf(e, AG_EINVAL, key,
                             "the model has no input \"%.60s\"; its inputs are %s", key, names);
                goto json_out;
            }
            if ((rc = json_input(v, key, ml_model_input_dtype(mdl, i), &ins[i], e)))
                goto json_out;
        }
    json_out:
        json_decref(root);
    } else {
        for (int p = 0; p < r->nparts && !rc; p++) {
            const char *key = r->parts[p].name;
            int i;
            if (!key) {
                if (nin != 1)
                    return ag_errf(e, AG_EINVAL, NULL,
                                   "the model has %d inputs (%s): send one .npy per input as "
                                   "multipart/form-data",
                                   nin, names);
                key = ml_model_input_name(mdl, 0);
            }
            i = ml_model_input_index(mdl, key);
            if (i < 0)
                return ag_errf(e, AG_EINVAL, key,
                               "the model has no input \"%.60s\"; its inputs are %s", key, names);
            if (ins[i].dtype)
                return ag_errf(e, AG_EINVAL, key, "input \"%.60s\" is given twice", key);
            if ((rc = ml_npy_parse(&ins[i], r->parts[p].data, r->parts[p].len, e))) {
                char msg[sizeof(e->msg)];
                str_copy(msg, e ? e->msg : "", sizeof(msg));
                rc = ag_errf(e, rc == AG_ETOOBIG ? AG_ETOOBIG : AG_EINVAL, key, "input \"%s\": %s",
                             key, msg);
            }
        }
    }
    for (int i = 0; i < nin && !rc; i++) {
        if (!ins[i].dtype)
            rc = ag_errf(e, AG_EINVAL, ml_model_input_name(mdl, i), "input \"%s\" is missing",
                         ml_model_input_name(mdl, i));
        else
            rc = check_input(mdl, i, &ins[i], e);
    }
    return rc;
}

/* ---- outputs ------------------------------------------------------------- */

static int put_float(struct buf *b, double d, bool single)
{
    if (isnan(d))
        return buf_adds(b, "\"NaN\"");
    if (isinf(d))
        return buf_adds(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return buf_addf(b, single ? "%.9g" : "%.17g", d);
}

static int put_json_string(struct buf *b, const char *s)
{
    json_t *v = json_string(s);
    int rc;
    if (!v)
        return buf_adds(b, "null"); /* not UTF-8: no faithful JSON form */
    rc = json_dump_buf(b, v);
    json_decref(v);
    return rc;
}

/* encode_json() appends {"name": {"dtype", "shape", "data"}} members. */
static int encode_tensor_json(struct buf *b, const char *name, const struct ml_tensor *t, bool raw)
{
    char shape[160];
    int rc;

    if ((rc = put_json_string(b, name)) ||
        (rc = buf_addf(b, ":{\"dtype\":\"%s\",\"shape\":%s,", ml_dtype_name(t->dtype),
                       ml_shape_str(t, shape, sizeof(shape)))))
        return rc;
    if (raw && t->dtype != ML_STRING) {
        /* The bytes as they are in memory: little-endian, C order. */
        if ((rc = buf_adds(b, "\"data_base64url\":\"")) ||
            (rc = base64url_encode(b, t->data, (size_t)t->n * ml_dtype_size(t->dtype))))
            return rc;
        return buf_adds(b, "\"}");
    }
    if ((rc = buf_adds(b, "\"data\":[")))
        return rc;
    for (int64_t i = 0; i < t->n && !rc; i++) {
        if (i && (rc = buf_addc(b, ',')))
            break;
        switch (t->dtype) {
        case ML_FLOAT:
            rc = put_float(b, ((const float *)t->data)[i], true);
            break;
        case ML_DOUBLE:
            rc = put_float(b, ((const double *)t->data)[i], false);
            break;
        case ML_FLOAT16:
            rc = put_float(b, f16_to_f32(((const uint16_t *)t->data)[i]), true);
            break;
        case ML_BFLOAT16:
            rc = put_float(b, bf16_to_f32(((const uint16_t *)t->data)[i]), true);
            break;
        case ML_INT8:
            rc = buf_addf(b, "%d", ((const int8_t *)t->data)[i]);
            break;
        case ML_UINT8:
            rc = buf_addf(b, "%u", ((const uint8_t *)t->data)[i]);
            break;
        case ML_INT16:
            rc = buf_addf(b, "%d", ((const int16_t *)t->data)[i]);
            break;
        case ML_UINT16:
            rc = buf_addf(b, "%u", ((const uint16_t *)t->data)[i]);
            break;
        case ML_INT32:
            rc = buf_addf(b, "%" PRId32, ((const int32_t *)t->data)[i]);
            break;
        case ML_UINT32:
            rc = buf_addf(b, "%" PRIu32, ((const uint32_t *)t->data)[i]);
            break;
        case ML_INT64:
            rc = buf_addf(b, "%" PRId64, ((const int64_t *)t->data)[i]);
            break;
        case ML_UINT64: {
            uint64_t u = ((const uint64_t *)t->data)[i];
            rc = buf_addf(b, u > INT64_MAX ? "\"%" PRIu64 "\"" : "%" PRIu64, u);
            break;
        }
        case ML_BOOL:
            rc = buf_adds(b, ((const uint8_t *)t->data)[i] ? "true" : "false");
            break;
        case ML_STRING:
            rc = put_json_string(b, ((char *const *)t->data)[i] ? ((char *const *)t->data)[i] : "");
            break;
        default:
            return AG_EUNPROCESSABLE;
        }
    }
    return rc ? rc : buf_adds(b, "]}");
}

static const struct {
    int dtype;
    const char *descr;
} npy_descr[] = {
    {ML_FLOAT, "<f4"},  {ML_DOUBLE, "<f8"}, {ML_FLOAT16, "<f2"}, {ML_INT8, "|i1"},
    {ML_UINT8, "|u1"},  {ML_INT16, "<i2"},  {ML_UINT16, "<u2"},  {ML_INT32, "<i4"},
    {ML_UINT32, "<u4"}, {ML_INT64, "<i8"},  {ML_UINT64, "<u8"},  {ML_BOOL, "|b1"},
};

/* encode_npy() writes t as a version 1.0 .npy file (little-endian host). */
static int encode_npy(struct buf *b, const char *name, const struct ml_tensor *t, struct ag_err *e)
{
    const char *descr = NULL;
    char hdr[400], shape[200] = "";
    int hl, pad, rc;

    for (size_t i = 0; i < ARRAY_SIZE(npy_descr); i++)
        if (npy_descr[i].dtype == t->dtype)
            descr = npy_descr[i].descr;
    if (!descr)
        return ag_errf(e, AG_EUNPROCESSABLE, "Accept",
                       "output \"%s\" is %s, which .npy cannot hold: ask for JSON", name,
                       ml_dtype_name(t->dtype));
    for (int k = 0; k < t->ndim; k++) {
        size_t l = strlen(shape);
        snprintf(shape + l, sizeof(shape) - l, "%" PRId64 ",%s", t->dims[k],
                 k + 1 < t->ndim ? " " : "");
    }
    if (t->ndim > 1)
        shape[strlen(shape) - 1] = '\0'; /* (2, 3) but (2,) */
    hl = snprintf(hdr, sizeof(hdr), "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                  descr, shape);
    pad = 64 - (10 + hl + 1) % 64;
    if (pad == 64)
        pad = 0;
    if ((rc = buf_add(b, "\x93NUMPY\x01\x00", 8)) ||
        (rc = buf_addc(b, (char)((hl + pad + 1) & 0xff))) ||
        (rc = buf_addc(b, (char)((hl + pad + 1) >> 8))) || (rc = buf_add(b, hdr, (size_t)hl)))
        return rc;
    for (int i = 0; i < pad && !rc; i++)
        rc = buf_addc(b, ' ');
    if (!rc)
        rc = buf_addc(b, '\n');
    if (!rc && t->n)
        rc = buf_add(b, t->data, (size_t)t->n * ml_dtype_size(t->dtype));
    if (rc == AG_ETOOBIG)
        ag_errf(e, rc, NULL, "output \"%s\" is larger than the node sends", name);
    return rc;
}

/* ---- .npz: a zip archive of .npy members, stored (PKWARE APPNOTE 6.3) ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* crc32_update() is the zip (IEEE 802.3) CRC-32 of p continued from crc. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void le16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
    le16(p, v & 0xffff);
    le16(p + 2, v >> 16);
}

struct npz_entry {
    uint32_t crc, size, offset;
    size_t name_len;
    const char *name;
};

/* encode_npz() writes the chosen outputs (all when pick < 0) as member
 * NAME.npy each, without compression; the body cap keeps every offset far
 * below 4 GiB, so no zip64 records are needed. */
static int encode_npz(struct buf *b, const struct ml_model *mdl, const struct ml_tensor *outs,
                      int pick, struct ag_err *e)
{
    int nout = ml_model_n_outputs(mdl), n = 0, rc = 0;
    struct npz_entry *ent = calloc((size_t)MAX(nout, 1), sizeof(*ent));
    uint8_t h[46];
    size_t cd_start;
    struct buf npy;

    buf_init(&npy, INFER_MAX_OUTPUT_NPY);
    if (!ent)
        return ag_err_set(e, AG_ENOMEM);
    for (int i = 0; i < nout && !rc; i++) {
        struct npz_entry *x = &ent[n];
        if (pick >= 0 && i != pick)
            continue;
        buf_reset(&npy);
        x->name = ml_model_output_name(mdl, i);
        x->name_len = strlen(x->name) + 4;
        if ((rc = encode_npy(&npy, x->name, &outs[i], e)))
            break;
        if (x->name_len > 0xffff || b->n + npy.n + 512 > INFER_MAX_OUTPUT_NPY) {
            rc = ag_errf(e, AG_ETOOBIG, NULL, "the outputs are larger than the node sends");
            break;
        }
        x->crc = crc32_update(0, (const uint8_t *)npy.p, npy.n);
        x->size = (uint32_t)npy.n;
        x->offset = (uint32_t)b->n;
        memset(h, 0, 30);
        le32(h, 0x04034b50);
        le16(h + 4, 20);       /* version needed: 2.0 */
        le16(h + 6, 1u << 11); /* names are UTF-8 */
        le32(h + 14, x->crc);
        le32(h + 18, x->size); /* stored: compressed = uncompressed */
        le32(h + 22, x->size);
        le16(h + 26, (unsigned)x->name_len);
        if ((rc = buf_add(b, h, 30)) || (rc = buf_adds(b, x->name)) || (rc = buf_adds(b, ".npy")) ||
            (rc = buf_add(b, npy.p, npy.n)))
            break;
        n++;
    }
    cd_start = b->n;
    for (int i = 0; i < n && !rc; i++) {
        memset(h, 0, 46);
        le32(h, 0x02014b50);
        le16(h + 4, 20);
        le16(h + 6, 20);
        le16(h + 8, 1u << 11);
        le32(h + 16, ent[i].crc);
        le32(h + 20, ent[i].size);
        le32(h + 24, ent[i].size);
        le16(h + 28, (unsigned)ent[i].name_len);
        le32(h + 42, ent[i].offset);
        if (!(rc = buf_add(b, h, 46)) && !(rc = buf_adds(b, ent[i].name)))
            rc = buf_adds(b, ".npy");
    }
    if (!rc) {
        memset(h, 0, 22);
        le32(h, 0x06054b50);
        le16(h + 8, (unsigned)n);
        le16(h + 10, (unsigned)n);
        le32(h + 12, (uint32_t)(b->n - cd_start));
        le32(h + 16, (uint32_t)cd_start);
        rc = buf_add(b, h, 22);
    }
    if (rc == AG_ETOOBIG && !e->code)
        ag_errf(e, rc, NULL, "the outputs are larger than the node sends");
    buf_release(&npy);
    free(ent);
    return rc;
}

static int encode_outputs(const struct ml_model *mdl, const struct infer_job *j,
                          const struct infer_request *r, const struct ml_tensor *outs,
                          int64_t elapsed_us, bool cached, struct buf *out, struct ag_err *e)
{
    int nout = ml_model_n_outputs(mdl), pick = -1, rc = 0;
    bool first = true;

    if (r->output) {
        for (int i = 0; i < nout; i++)
            if (!strcmp(ml_model_output_name(mdl, i), r->output))
                pick = i;
        if (pick < 0)
            return ag_errf(e, AG_EINVAL, "output", "the model has no output \"%.60s\"", r->output);
    }
    if (r->format == INFER_OUT_NPZ) {
        buf_init(out, INFER_MAX_OUTPUT_NPY);
        return encode_npz(out, mdl, outs, pick, e);
    }
    if (r->format == INFER_OUT_NPY) {
        if (pick < 0 && nout != 1)
            return ag_errf(e, AG_EINVAL, "output",
                           "the model has %d outputs: choose one for .npy with ?output=NAME", nout);
        if (pick < 0)
            pick = 0;
        buf_init(out, INFER_MAX_OUTPUT_NPY);
        return encode_npy(out, ml_model_output_name(mdl, pick), &outs[pick], e);
    }
    buf_init(out, INFER_MAX_OUTPUT_JSON);
    rc = buf_adds(out, "{\"model\":{\"file\":");
    if (!rc)
        rc = put_json_string(out, market_file_info(j->f)->name);
    if (!rc)
        rc = buf_addf(out, ",\"cid\":\"%s\",\"cached\":%s},\"elapsed_ms\":%.3f,\"outputs\":{",
                      market_file_info(j->f)->cid, cached ? "true" : "false",
                      (double)elapsed_us / 1000.0);
    for (int i = 0; i < nout && !rc; i++) {
        if (pick >= 0 && i != pick)
            continue;
        if (!first)
            rc = buf_addc(out, ',');
        first = false;
        if (!rc)
            rc = encode_tensor_json(out, ml_model_output_name(mdl, i), &outs[i], r->raw_data);
    }
    if (!rc)
        rc = buf_adds(out, "}}");
    if (rc == AG_ETOOBIG)
        ag_errf(e, rc, NULL,
                "the outputs are larger than the node sends as JSON (%zu MiB): ask "
                "for application/x-npz or application/x-npy",
                INFER_MAX_OUTPUT_JSON >> 20);
    else if (rc)
        ag_err_set(e, rc);
    return rc;
}

/* ---- running ------------------------------------------------------------- */

int market_infer_run(struct infer_job *j, const struct infer_request *r, struct buf *out,
                     struct ag_err *e)
{
    const struct market_file_info *info = market_file_info(j->f);
    struct market_infer *s = j->s;
    struct ml_model *mdl = NULL;
    struct ml_tensor *ins = NULL, *outs = NULL;
    const struct ml_tensor **inp = NULL;
    struct ml_run_limits lim = {0};
    uint64_t bytes = info->size;
    int64_t t0 = time_mono_us(), t1;
    int rc, nin = 0, nout = 0;
    bool slot = false, cached = false;

    buf_init(out, 0);
    if ((rc = slot_take(s, e)))
        goto out;
    slot = true;
    lim.deadline_us = t0 + (int64_t)s->cfg.timeout_ms * 1000;
    lim.cancel = &s->stopping;
    mdl = cache_take(s, info->cid, &bytes);
    cached = mdl != NULL;
    if (!mdl && (rc = load_model(j, &mdl, e)))
        goto out;
    nin = ml_model_n_inputs(mdl);
    nout = ml_model_n_outputs(mdl);
    ins = calloc((size_t)MAX(nin, 1), sizeof(*ins));
    inp = calloc((size_t)MAX(nin, 1), sizeof(*inp));
    outs = calloc((size_t)MAX(nout, 1), sizeof(*outs));
    if (!ins || !inp || !outs) {
        rc = ag_err_set(e, AG_ENOMEM);
        goto out;
    }
    for (int i = 0; i < nin; i++) {
        ml_tensor_init(&ins[i]);
        inp[i] = &ins[i];
    }
    for (int i = 0; i < nout; i++)
        ml_tensor_init(&outs[i]);
    if ((rc = decode_inputs(mdl, r, ins, e)))
        goto out;
    if (time_mono_us() >= lim.deadline_us) {
        rc = ag_errf(e, AG_ETIMEOUT, NULL, "loading the model took the whole time limit");
        goto out;
    }
    t1 = time_mono_us();
    rc = ml_model_run_limited(mdl, inp, outs, &lim, e);
    if (rc == AG_ETIMEOUT)
        ag_errf(e, rc, NULL, "the model ran past the node's time limit of %d ms",
                s->cfg.timeout_ms);
    else if (rc == AG_ETOOBIG)
        ag_errf(e, rc, NULL,
                "the model needs more than the node's memory limit of %" PRIu64 " MiB per request",
                s->cfg.max_memory / MIB);
    else if (rc == AG_EUNAVAILABLE)
        ag_errf(e, rc, NULL, "the node is shutting down");
    if (rc)
        goto out;
    rc = encode_outputs(mdl, j, r, outs, time_mono_us() - t1, cached, out, e);
out:
    for (int i = 0; ins && i < nin; i++)
        ml_tensor_release(&ins[i]);
    for (int i = 0; outs && i < nout; i++)
        ml_tensor_release(&outs[i]);
    free(ins);
    free(inp);
    free(outs);
    if (mdl)
        cache_give(s, info->cid, mdl, bytes);
    if (slot)
        slot_give(s);
    if (rc)
        buf_release(out);
    return rc;
}
