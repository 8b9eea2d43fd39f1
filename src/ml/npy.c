/* npy.c - NumPy .npy files (format versions 1.0, 2.0 and 3.0; C order) to and from tensors. */
#include "core/common.h"
#include "core/buf.h"
#include "ml/internal.h"

#define NPY_MAX_HEADER 65536
#define NPY_MAX_FILE ((size_t)4 << 30)

static const struct {
    const char *descr;  /* without the byte-order character */
    int dtype;
} npy_types[] = {
    {"f4", ML_FLOAT},  {"f8", ML_DOUBLE}, {"f2", ML_FLOAT16}, {"i1", ML_INT8},
    {"u1", ML_UINT8},  {"i2", ML_INT16},  {"u2", ML_UINT16},  {"i4", ML_INT32},
    {"u4", ML_UINT32}, {"i8", ML_INT64},  {"u8", ML_UINT64},  {"b1", ML_BOOL},
};

/* Finds `'key':` in the header dict and returns what follows, or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    const char *p;
    snprintf(pat, sizeof(pat), "'%s'", key);
    p = strstr(h, pat);
    if (!p) {
        snprintf(pat, sizeof(pat), "\"%s\"", key);
        p = strstr(h, pat);
    }
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static int parse_header(const char *h, int *dtype, int *ndim, int64_t *dims, struct ag_err *e)
{
    const char *d = dict_value(h, "descr"), *f = dict_value(h, "fortran_order"),
               *s = dict_value(h, "shape");
    char q, descr[16];
    size_t i = 0;

    if (!d || !f || !s)
        return ag_errf(e, AG_EINVAL, NULL, ".npy header lacks descr, fortran_order or shape");
    q = *d++;
    if (q != '\'' && q != '"')
        return ag_errf(e, AG_EINVAL, NULL, ".npy descr is not a simple type (structured arrays "
                       "are not supported)");
    while (*d && *d != q && i < sizeof(descr) - 1)
        descr[i++] = *d++;
    descr[i] = 0;
    if (!strncmp(f, "True", 4))
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, ".npy array is in Fortran order; save it in C "
                       "order (numpy.ascontiguousarray)");
    if (strncmp(f, "False", 5))
        return ag_errf(e, AG_EINVAL, NULL, ".npy fortran_order is neither True nor False");
    *dtype = ML_UNDEFINED;
    if (descr[0] == '>' && strcmp(descr + 1, "i1") && strcmp(descr + 1, "u1") &&
        strcmp(descr + 1, "b1"))
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, ".npy data is big-endian (%s); only "
                       "little-endian is supported", descr);
    for (size_t t = 0; t < ARRAY_SIZE(npy_types); t++)
        if ((descr[0] == '<' || descr[0] == '|' || descr[0] == '>' || descr[0] == '=') &&
            !strcmp(descr + 1, npy_types[t].descr))
            *dtype = npy_types[t].dtype;
    if (!*dtype)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, ".npy dtype \"%s\" is not supported", descr);
    if (*s != '(')
        return ag_errf(e, AG_EINVAL, NULL, ".npy shape is not a tuple");
    s++;
    *ndim = 0;
    for (;;) {
        char *end;
        long long v;
        while (*s == ' ')
            s++;
        if (*s == ')')
            break;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0)
            return ag_errf(e, AG_EINVAL, NULL, ".npy shape has a bad dimension");
        if (*ndim >= ML_MAX_DIMS)
            return ag_errf(e, AG_EUNPROCESSABLE, NULL, ".npy rank exceeds %d", ML_MAX_DIMS);
        dims[(*ndim)++] = v;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s != ')')
            return ag_errf(e, AG_EINVAL, NULL, ".npy shape is malformed");
    }
    return 0;
}

int ml_npy_parse(struct ml_tensor *t, const void *data, size_t len, struct ag_err *e)
{
    const unsigned char *p = data;
    size_t hlen, off, need;
    char *h = NULL;
    int dtype = ML_UNDEFINED, ndim = 0, rc;
    int64_t dims[ML_MAX_DIMS] = {0}, n;

    if (len < 10 || memcmp(p, "\x93NUMPY", 6))
        return ag_errf(e, AG_EINVAL, NULL, "not a .npy file (bad magic)");
    if (p[6] == 1) {
        hlen = (size_t)p[8] | (size_t)p[9] << 8;
        off = 10;
    } else if (p[6] == 2 || p[6] == 3) {
        if (len < 12)
            return ag_errf(e, AG_EINVAL, NULL, ".npy file is truncated");
        hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        off = 12;
    } else {
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, ".npy format version %d is not supported", p[6]);
    }
    if (hlen > NPY_MAX_HEADER || off + hlen > len)
        return ag_errf(e, AG_EINVAL, NULL, ".npy header is truncated or too large");
    h = malloc(hlen + 1);
    if (!h)
        return ag_err_set(e, AG_ENOMEM);
    memcpy(h, p + off, hlen);
    h[hlen] = 0;
    rc = parse_header(h, &dtype, &ndim, dims, e);
    free(h);
    if (rc)
        return rc;
    off += hlen;
    n = ml_numel(ndim, dims);
    if (n < 0 || (uint64_t)n > NPY_MAX_FILE / ml_dtype_size(dtype))
        return ag_errf(e, AG_ETOOBIG, NULL, ".npy array is too large");
    need = (size_t)n * ml_dtype_size(dtype);
    if (len - off < need)
        return ag_errf(e, AG_EINVAL, NULL, ".npy data is truncated: %zu of %zu bytes", len - off,
                       need);
    if ((rc = ml_tensor_alloc(t, dtype, ndim, dims, e)))
        return rc;
    if (need)
        memcpy(t->data, p + off, need);
    if (dtype == ML_BOOL)
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)t->data)[i] = ((uint8_t *)t->data)[i] != 0;
    return 0;
}

int ml_npy_read(struct ml_tensor *t, const char *path, struct ag_err *e)
{
    struct buf b;
    int rc;
    buf_init(&b, NPY_MAX_FILE);
    rc = buf_read_file(&b, path);
    if (rc)
        rc = ag_errf(e, rc, NULL, rc == AG_ETOOBIG ? "%s is too large" : "cannot read %s", path);
    else
        rc = ml_npy_parse(t, b.p, b.n, e);
    buf_release(&b);
    return rc;
}

int ml_npy_write(const struct ml_tensor *t, const char *path, struct ag_err *e)
{
    const char *descr = NULL;
    char hdr[512];
    int hl, pad, rc = 0;
    size_t bytes;
    FILE *f;

    for (size_t i = 0; i < ARRAY_SIZE(npy_types); i++)
        if (npy_types[i].dtype == t->dtype)
            descr = npy_types[i].descr;
    if (!descr)
        return ag_errf(e, AG_EUNPROCESSABLE, NULL, "%s tensors cannot be written as .npy",
                       ml_dtype_name(t->dtype));
    hl = snprintf(hdr, sizeof(hdr), "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                  descr[1] == '1' ? '|' : '<', descr);
    for (int i = 0; i < t->ndim; i++)
        hl += snprintf(hdr + hl, sizeof(hdr) - (size_t)hl, "%" PRId64 "%s", t->dims[i],
                       t->ndim == 1 || i < t->ndim - 1 ? ", " : "");
    if (t->ndim == 1)
        hl -= 1; /* "(3,)" */
    hl += snprintf(hdr + hl, sizeof(hdr) - (size_t)hl, "), }");
    /* Pad with spaces so data starts on a 64-byte boundary; end with '\n'. */
    pad = 64 - (10 + hl + 1) % 64;
    if (pad == 64)
        pad = 0;
    memset(hdr + hl, ' ', (size_t)pad);
    hl += pad;
    hdr[hl++] = '\n';
    f = fopen(path, "wb");
    if (!f)
        return ag_errf(e, AG_EIO, NULL, "cannot create %s: %s", path, strerror(errno));
    bytes = (size_t)t->n * ml_dtype_size(t->dtype);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(hdr, 1, (size_t)hl, f) != (size_t)hl ||
        (bytes && fwrite(t->data, 1, bytes, f) != bytes))
        rc = ag_errf(e, AG_EIO, NULL, "cannot write %s", path);
    if (fclose(f) && !rc)
        rc = ag_errf(e, AG_EIO, NULL, "cannot write %s", path);
    return rc;
}
