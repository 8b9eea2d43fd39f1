/* ops_extra.c - less common operators: window functions, Det, Unique, NonMaxSuppression,
 * Einsum, StringNormalizer. */
#include "core/common.h"
#include "ml/internal.h"

#include <ctype.h>
#include <math.h>
#include <strings.h>

/* ---- window functions ---- */

static int window(struct ml_kctx *k, int kind)
{
    int64_t n, periodic = ml_attr_int(k, "periodic", 1);
    int dt = (int)ml_attr_int(k, "output_datatype", ML_FLOAT);
    struct ml_tensor *y;
    double d;
    ML_REQUIRE_IN(k, 0);
    n = ml_first_i64(k->in[0]);
    if (n < 0 || n > ((int64_t)1 << 28))
        return ml_kerr(k, AG_EINVAL, "size out of range");
    y = ml_out(k, 0, dt, 1, &n);
    if (!y)
        return k->e->code;
    d = periodic ? (double)n : (double)(n - 1);
    for (int64_t i = 0; i < n; i++) {
        double x = d > 0 ? 2 * M_PI * (double)i / d : 0, v;
        if (kind == 0)
            v = 0.5 - 0.5 * cos(x);
        else if (kind == 1)
            v = 25.0 / 46.0 - (1 - 25.0 / 46.0) * cos(x);
        else
            v = 0.42 - 0.5 * cos(x) + 0.08 * cos(2 * x);
        ml_set_f64(y, i, v);
    }
    return 0;
}

static int op_hann(struct ml_kctx *k) { return window(k, 0); }
static int op_hamming(struct ml_kctx *k) { return window(k, 1); }
static int op_blackman(struct ml_kctx *k) { return window(k, 2); }

/* ---- Det: LU with partial pivoting per matrix ---- */

static int op_det(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    int64_t n, mats;
    double *a;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (x->ndim < 2 || x->dims[x->ndim - 1] != x->dims[x->ndim - 2])
        return ml_kerr(k, AG_EINVAL, "input must end in square matrices");
    n = x->dims[x->ndim - 1];
    if (n > 4096)
        return ml_kerr(k, AG_ETOOBIG, "matrix too large");
    mats = n ? x->n / (n * n) : 0;
    y = ml_out(k, 0, x->dtype, x->ndim - 2, x->dims);
    if (!y)
        return k->e->code;
    a = malloc(sizeof(double) * (size_t)MAX(1, n * n));
    if (!a)
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    for (int64_t m = 0; m < mats; m++) {
        double det = 1;
        for (int64_t i = 0; i < n * n; i++)
            a[i] = ml_get_f64(x, m * n * n + i);
        for (int64_t c = 0; c < n; c++) {
            int64_t p = c;
            for (int64_t r = c + 1; r < n; r++)
                if (fabs(a[r * n + c]) > fabs(a[p * n + c]))
                    p = r;
            if (a[p * n + c] == 0) {
                det = 0;
                break;
            }
            if (p != c) {
                for (int64_t j = 0; j < n; j++) {
                    double t = a[c * n + j];
                    a[c * n + j] = a[p * n + j];
                    a[p * n + j] = t;
                }
                det = -det;
            }
            det *= a[c * n + c];
            for (int64_t r = c + 1; r < n; r++) {
                double f = a[r * n + c] / a[c * n + c];
                for (int64_t j = c; j < n; j++)
                    a[r * n + j] -= f * a[c * n + j];
            }
        }
        ml_set_f64(y, m, det);
    }
    free(a);
    return 0;
}

/* ---- Unique ---- */

struct uniq_ctx {
    const struct ml_tensor *x;
    int64_t outer, len, inner; /* slices along the axis: len slices of outer*inner */
};

/* Compares slice a and slice b (numerically, or as strings). */
static int slice_cmp(const struct uniq_ctx *u, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < u->outer; o++)
        for (int64_t i = 0; i < u->inner; i++) {
            int64_t ia = (o * u->len + a) * u->inner + i, ib = (o * u->len + b) * u->inner + i;
            int c;
            if (u->x->dtype == ML_STRING) {
                c = strcmp(((char *const *)u->x->data)[ia], ((char *const *)u->x->data)[ib]);
            } else {
                double va = ml_get_f64(u->x, ia), vb = ml_get_f64(u->x, ib);
                c = va < vb ? -1 : va > vb;
            }
            if (c)
                return c;
        }
    return 0;
}

static int op_unique(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    const Onnx__AttributeProto *ax = ml_attr(k, "axis");
    bool sorted = ml_attr_int(k, "sorted", 1);
    struct uniq_ctx u;
    int64_t *first = NULL, *inv = NULL, *cnt = NULL, *order = NULL, nu = 0, dims[ML_MAX_DIMS];
    int axis = -1, rc = 0;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    u.x = x;
    if (ax) {
        axis = ml_axis(ax->i, x->ndim);
        if (axis < 0)
            return ml_kerr(k, AG_EINVAL, "axis out of range");
        u.outer = 1;
        u.inner = 1;
        for (int d = 0; d < x->ndim; d++)
            if (d < axis)
                u.outer *= x->dims[d];
            else if (d > axis)
                u.inner *= x->dims[d];
        u.len = x->dims[axis];
    } else {
        u.outer = u.inner = 1;
        u.len = x->n;
    }
    first = calloc((size_t)u.len + 1, sizeof(int64_t));
    inv = calloc((size_t)u.len + 1, sizeof(int64_t));
    cnt = calloc((size_t)u.len + 1, sizeof(int64_t));
    order = calloc((size_t)u.len + 1, sizeof(int64_t));
    if (!first || !inv || !cnt || !order) {
        rc = ml_kerr(k, AG_ENOMEM, "out of memory");
        goto out;
    }
    /* First occurrences, in order of appearance (quadratic: fine for test-sized inputs). */
    for (int64_t i = 0; i < u.len; i++) {
        int64_t j;
        for (j = 0; j < nu; j++)
            if (!slice_cmp(&u, first[j], i))
                break;
        if (j == nu)
            first[nu++] = i;
        cnt[j]++;
        inv[i] = j;
    }
    for (int64_t i = 0; i < nu; i++)
        order[i] = i;
    if (sorted) /* insertion sort of the unique slices */
        for (int64_t i = 1; i < nu; i++)
            for (int64_t j = i; j > 0 && slice_cmp(&u, first[order[j - 1]], first[order[j]]) > 0; j--) {
                int64_t t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
    /* Output Y. */
    {
        struct ml_tensor *y;
        int nd = 1;
        if (ax) {
            memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
            dims[axis] = nu;
            nd = x->ndim;
        } else {
            dims[0] = nu;
        }
        y = ml_out(k, 0, x->dtype, nd, dims);
        if (!y) {
            rc = k->e->code;
            goto out;
        }
        size_t es = ml_dtype_size(x->dtype);
        for (int64_t o = 0; o < u.outer; o++)
            for (int64_t s = 0; s < nu; s++)
                for (int64_t i = 0; i < u.inner; i++) {
                    int64_t src = (o * u.len + first[order[s]]) * u.inner + i;
                    int64_t dst = (o * nu + s) * u.inner + i;
                    if (x->dtype == ML_STRING)
                        ((char **)y->data)[dst] = strdup(((char *const *)x->data)[src]);
                    else
                        memcpy((char *)y->data + (size_t)dst * es,
                               (const char *)x->data + (size_t)src * es, es);
                }
    }
    for (int oi = 1; oi < 4 && oi < k->nout; oi++) {
        struct ml_tensor *t;
        int64_t n = oi == 2 ? u.len : nu;
        if (!k->out[oi])
            continue;
        t = ml_out(k, oi, ML_INT64, 1, &n);
        if (!t) {
            rc = k->e->code;
            goto out;
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t v;
            if (oi == 1) {
                v = first[order[i]];
            } else if (oi == 3) {
                v = cnt[order[i]];
            } else {
                int64_t r = 0;
                while (order[r] != inv[i])
                    r++;
                v = r;
            }
            ((int64_t *)t->data)[i] = v;
        }
    }
out:
    free(first);
    free(inv);
    free(cnt);
    free(order);
    return rc;
}

/* ---- NonMaxSuppression ---- */

struct cand {
    float s;
    int64_t i;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->i < y->i ? -1 : 1;
}

static void box_corners(const float *b, bool center, float *o)
{
    if (center) {
        o[0] = b[0] - b[2] / 2;
        o[1] = b[1] - b[3] / 2;
        o[2] = b[0] + b[2] / 2;
        o[3] = b[1] + b[3] / 2;
    } else {
        o[0] = fminf(b[0], b[2]);
        o[1] = fminf(b[1], b[3]);
        o[2] = fmaxf(b[0], b[2]);
        o[3] = fmaxf(b[1], b[3]);
    }
}

static float iou(const float *a, const float *b, bool center)
{
    float p[4], q[4], iw, ih, inter, ua;
    box_corners(a, center, p);
    box_corners(b, center, q);
    iw = fminf(p[2], q[2]) - fmaxf(p[0], q[0]);
    ih = fminf(p[3], q[3]) - fmaxf(p[1], q[1]);
    if (iw <= 0 || ih <= 0)
        return 0;
    inter = iw * ih;
    ua = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter;
    return ua > 0 ? inter / ua : 0;
}

static int op_nms(struct ml_kctx *k)
{
    const struct ml_tensor *boxes, *scores;
    int64_t maxout = 0, B, C, N, nsel = 0, cap;
    float iou_t = 0, score_t = -INFINITY;
    bool has_score = false, center = ml_attr_int(k, "center_point_box", 0);
    int64_t *sel = NULL;
    struct cand *c = NULL;
    int64_t *kept = NULL;
    struct ml_tensor *y;
    int rc = 0;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    boxes = k->in[0];
    scores = k->in[1];
    if (k->nin > 2 && k->in[2] && k->in[2]->n)
        maxout = ml_first_i64(k->in[2]);
    if (k->nin > 3 && k->in[3] && k->in[3]->n)
        iou_t = (float)ml_first_f64(k->in[3]);
    if (k->nin > 4 && k->in[4] && k->in[4]->n) {
        score_t = (float)ml_first_f64(k->in[4]);
        has_score = true;
    }
    if (boxes->ndim != 3 || boxes->dims[2] != 4 || scores->ndim != 3 || boxes->dtype != ML_FLOAT ||
        scores->dtype != ML_FLOAT || scores->dims[0] != boxes->dims[0] || scores->dims[2] != boxes->dims[1])
        return ml_kerr(k, AG_EINVAL, "boxes must be [B,N,4] and scores [B,C,N], float");
    B = boxes->dims[0];
    C = scores->dims[1];
    N = boxes->dims[1];
    if (maxout < 0)
        maxout = 0;
    cap = B * C * MIN(maxout, N);
    sel = malloc(sizeof(int64_t) * 3 * (size_t)MAX(cap, 1));
    c = malloc(sizeof(*c) * (size_t)MAX(N, 1));
    kept = malloc(sizeof(int64_t) * (size_t)MAX(N, 1));
    if (!sel || !c || !kept) {
        rc = ml_kerr(k, AG_ENOMEM, "out of memory");
        goto out;
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t cl = 0; cl < C; cl++) {
            const float *sc = (const float *)scores->data + (b * C + cl) * N;
            const float *bx = (const float *)boxes->data + b * N * 4;
            int64_t nc = 0, nk = 0;
            for (int64_t i = 0; i < N; i++)
                if (!has_score || sc[i] > score_t)
                    c[nc++] = (struct cand){sc[i], i};
            qsort(c, (size_t)nc, sizeof(*c), cand_cmp);
            for (int64_t i = 0; i < nc && nk < maxout; i++) {
                bool keep = true;
                for (int64_t j = 0; j < nk && keep; j++)
                    keep = !(iou(bx + c[i].i * 4, bx + kept[j] * 4, center) > iou_t);
                if (!keep)
                    continue;
                kept[nk++] = c[i].i;
                sel[nsel * 3] = b;
                sel[nsel * 3 + 1] = cl;
                sel[nsel * 3 + 2] = c[i].i;
                nsel++;
            }
        }
    {
        int64_t dims[2] = {nsel, 3};
        y = ml_out(k, 0, ML_INT64, 2, dims);
        if (!y) {
            rc = k->e->code;
            goto out;
        }
        if (nsel)
            memcpy(y->data, sel, sizeof(int64_t) * 3 * (size_t)nsel);
    }
out:
    free(sel);
    free(c);
    free(kept);
    return rc;
}

/* ---- Einsum (explicit or implicit output, with ellipsis) ---- */

/* Rewrites the equation `eq` (spaces removed) without "...": each operand's
 * ellipsis becomes digit labels for its leading unnamed dimensions, aligned
 * right across operands (so they broadcast), and the output gets them all
 * in front (implicit output: followed by the labels used once, in order).
 * Returns 0 or an error recorded in k->e. */
static int einsum_expand(struct ml_kctx *k, char *eq, size_t cap)
{
    char out[256], *arrow = strstr(eq, "->"), *lhs = eq;
    int E = 0, ell[8], t = 0, cnt[128] = {0};
    size_t o = 0;
    if (arrow)
        *arrow = 0;
    /* Ellipsis rank of each operand. */
    for (char *p = lhs; t < 8; t++) {
        char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *dots = strstr(p, "...");
        int named = (int)len;
        ell[t] = 0;
        if (dots && (!end || dots < end)) {
            named = (int)len - 3;
            if (t >= k->nin || !k->in[t] || k->in[t]->ndim < named)
                return ml_kerr(k, AG_EINVAL, "operand %d has fewer dimensions than subscripts", t);
            ell[t] = k->in[t]->ndim - named;
            E = MAX(E, ell[t]);
        }
        for (size_t i = 0; i < len; i++)
            if (isalpha((unsigned char)p[i]))
                cnt[(unsigned char)p[i]]++;
        if (!end) {
            t++;
            break;
        }
        p = end + 1;
    }
    if (E > 8)
        return ml_kerr(k, AG_EINVAL, "ellipsis covers too many dimensions");
    /* Rebuild the operands. */
    for (int ti = 0, i = 0; ti < t; ti++) {
        for (; lhs[i] && lhs[i] != ','; i++) {
            if (!strncmp(lhs + i, "...", 3)) {
                for (int j = 0; j < ell[ti] && o + 1 < sizeof(out); j++)
                    out[o++] = (char)('0' + E - ell[ti] + j);
                i += 2;
            } else if (o + 1 < sizeof(out)) {
                out[o++] = lhs[i];
            }
        }
        if (lhs[i] == ',') {
            i++;
            if (o + 1 < sizeof(out))
                out[o++] = ',';
        }
    }
    if (o + 2 < sizeof(out)) {
        out[o++] = '-';
        out[o++] = '>';
    }
    if (arrow) {
        for (const char *p = arrow + 2; *p; p++) {
            if (!strncmp(p, "...", 3)) {
                for (int j = 0; j < E && o + 1 < sizeof(out); j++)
                    out[o++] = (char)('0' + j);
                p += 2;
            } else if (o + 1 < sizeof(out)) {
                out[o++] = *p;
            }
        }
    } else {
        for (int j = 0; j < E && o + 1 < sizeof(out); j++)
            out[o++] = (char)('0' + j);
        for (int c = 'A'; c <= 'z'; c++)
            if (cnt[c] == 1 && o + 1 < sizeof(out))
                out[o++] = (char)c;
    }
    out[o] = 0;
    if (o + 1 >= sizeof(out) || o + 1 > cap)
        return ml_kerr(k, AG_EINVAL, "equation too long");
    memcpy(eq, out, o + 1);
    return 0;
}

static int op_einsum(struct ml_kctx *k)
{
    char eq[256], *arrow, *terms[8];
    const char *src = ml_attr_str(k, "equation", "");
    int nt = 0, label_dim[128], nlab = 0, out_lab[ML_MAX_DIMS], nout = 0;
    int64_t size[128] = {0}, odims[ML_MAX_DIMS], idx[128] = {0};
    char labels[128];
    struct ml_tensor *y;
    int dt;
    size_t o = 0;

    for (size_t i = 0; src[i] && o + 1 < sizeof(eq); i++)
        if (src[i] != ' ')
            eq[o++] = src[i];
    eq[o] = 0;
    if (strpbrk(eq, "0123456789"))
        return ml_kerr(k, AG_EINVAL, "bad subscript");
    if (strstr(eq, "...")) {
        int rc = einsum_expand(k, eq, sizeof(eq));
        if (rc)
            return rc;
    }
    arrow = strstr(eq, "->");
    if (arrow)
        *arrow = 0;
    for (char *p = eq, *save; nt < 8; p = NULL) {
        char *t = strtok_r(p, ",", &save);
        if (!t)
            break;
        terms[nt++] = t;
    }
    if (nt != k->nin || nt == 0)
        return ml_kerr(k, AG_EINVAL, "equation has %d operands, the node %d", nt, k->nin);
    memset(label_dim, -1, sizeof(label_dim));
    ML_REQUIRE_IN(k, 0);
    dt = k->in[0]->dtype;
    for (int t = 0; t < nt; t++) {
        const struct ml_tensor *x = k->in[t];
        if (!x || (int)strlen(terms[t]) != x->ndim || x->dtype != dt)
            return ml_kerr(k, AG_EINVAL, "operand %d does not match its subscripts", t);
        for (int d = 0; d < x->ndim; d++) {
            int c = (unsigned char)terms[t][d];
            if (c >= 128 || (!isalpha(c) && !isdigit(c))) /* digits: expanded ellipses */
                return ml_kerr(k, AG_EINVAL, "bad subscript");
            if (label_dim[c] < 0) {
                label_dim[c] = nlab;
                labels[nlab++] = (char)c;
                size[label_dim[c]] = x->dims[d];
            } else if (size[label_dim[c]] != x->dims[d]) {
                if (size[label_dim[c]] == 1)
                    size[label_dim[c]] = x->dims[d];
                else if (x->dims[d] != 1)
                    return ml_kerr(k, AG_EINVAL, "subscript %c has two sizes", c);
            }
        }
    }
    if (arrow) {
        for (const char *p = arrow + 2; *p; p++) {
            int c = (unsigned char)*p;
            if (c >= 128 || label_dim[c] < 0 || nout >= ML_MAX_DIMS)
                return ml_kerr(k, AG_EINVAL, "bad output subscript");
            out_lab[nout++] = label_dim[c];
        }
    } else {
        /* Implicit: labels appearing once, in alphabetical order. */
        for (int c = 'A'; c <= 'z'; c++) {
            int cnt = 0;
            if (label_dim[c] < 0)
                continue;
            for (int t = 0; t < nt; t++)
                for (const char *p = terms[t]; *p; p++)
                    cnt += *p == c;
            if (cnt == 1 && nout < ML_MAX_DIMS)
                out_lab[nout++] = label_dim[c];
        }
    }
    UNUSED(labels);
    for (int i = 0; i < nout; i++)
        odims[i] = size[out_lab[i]];
    y = ml_out(k, 0, dt, nout, odims);
    if (!y)
        return k->e->code;
    {
        int64_t total = 1;
        for (int l = 0; l < nlab; l++)
            if (__builtin_mul_overflow(total, size[l], &total))
                total = INT64_MAX;
        if (total > ((int64_t)1 << 32))
            return ml_kerr(k, AG_ETOOBIG, "einsum iteration space too large");
        double *acc = calloc((size_t)MAX(y->n, 1), sizeof(double));
        if (!acc)
            return ml_kerr(k, AG_ENOMEM, "out of memory");
        memset(idx, 0, sizeof(idx));
        for (int64_t it = 0; it < total; it++) {
            double prod = 1;
            int64_t oo = 0;
            for (int t = 0; t < nt; t++) {
                const struct ml_tensor *x = k->in[t];
                int64_t off = 0;
                for (int d = 0; d < x->ndim; d++) {
                    int l = label_dim[(unsigned char)terms[t][d]];
                    off = off * x->dims[d] + (x->dims[d] == 1 ? 0 : idx[l]);
                }
                prod *= ml_get_f64(x, off);
            }
            for (int i = 0; i < nout; i++)
                oo = oo * odims[i] + idx[out_lab[i]];
            acc[oo] += prod;
            for (int l = nlab - 1; l >= 0; l--) {
                if (++idx[l] < size[l])
                    break;
                idx[l] = 0;
            }
        }
        for (int64_t i = 0; i < y->n; i++)
            ml_set_f64(y, i, acc[i]);
        free(acc);
    }
    return 0;
}

/* ---- StringNormalizer ---- */

static int op_string_normalizer(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    const Onnx__AttributeProto *stop = ml_attr(k, "stopwords");
    bool cs = ml_attr_int(k, "is_case_sensitive", 0);
    char act[16];
    int64_t keep = 0, dims[2];
    snprintf(act, sizeof(act), "%s", ml_attr_str(k, "case_change_action", "NONE"));
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (x->dtype != ML_STRING || x->ndim < 1 || x->ndim > 2 || (x->ndim == 2 && x->dims[0] != 1))
        return ml_kerr(k, AG_EINVAL, "input must be strings of shape [C] or [1, C]");
    bool *kept = calloc((size_t)MAX(x->n, 1), sizeof(bool));
    if (!kept)
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    for (int64_t i = 0; i < x->n; i++) {
        const char *s = ((char *const *)x->data)[i];
        bool drop = false;
        for (size_t j = 0; stop && j < stop->n_strings && !drop; j++) {
            const ProtobufCBinaryData *w = &stop->strings[j];
            drop = strlen(s) == w->len &&
                   (cs ? !memcmp(s, w->data, w->len) : !strncasecmp(s, (const char *)w->data, w->len));
        }
        kept[i] = !drop;
        keep += !drop;
    }
    if (x->ndim == 2) {
        dims[0] = 1;
        dims[1] = MAX(keep, 1);
    } else {
        dims[0] = MAX(keep, 1);
    }
    y = ml_out(k, 0, ML_STRING, x->ndim, dims);
    if (!y) {
        free(kept);
        return k->e->code;
    }
    int64_t j = 0;
    for (int64_t i = 0; i < x->n; i++) {
        if (!kept[i])
            continue;
        char *s = strdup(((char *const *)x->data)[i]);
        for (char *p = s; p && *p; p++)
            *p = !strcmp(act, "UPPER") ? (char)toupper((unsigned char)*p)
                 : !strcmp(act, "LOWER") ? (char)tolower((unsigned char)*p) : *p;
        ((char **)y->data)[j++] = s;
    }
    if (keep == 0)
        ((char **)y->data)[0] = strdup("");
    free(kept);
    return 0;
}

/* ---- TfIdfVectorizer ---- */

static bool tok_eq(const struct ml_tensor *x, int64_t xi, const Onnx__AttributeProto *ps,
                   const Onnx__AttributeProto *pi, int64_t pool_i)
{
    if (x->dtype == ML_STRING) {
        const char *z = ((char *const *)x->data)[xi];
        return ps && (size_t)pool_i < ps->n_strings && strlen(z) == ps->strings[pool_i].len &&
               !memcmp(z, ps->strings[pool_i].data, ps->strings[pool_i].len);
    }
    return pi && (size_t)pool_i < pi->n_ints && ml_get_i64(x, xi) == pi->ints[pool_i];
}

static int op_tfidf(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    size_t ncounts, nidx, nw;
    const int64_t *counts = ml_attr_ints(k, "ngram_counts", &ncounts),
                  *idx = ml_attr_ints(k, "ngram_indexes", &nidx);
    const float *weights = ml_attr_floats(k, "weights", &nw);
    const Onnx__AttributeProto *ps = ml_attr(k, "pool_strings"), *pi = ml_attr(k, "pool_int64s");
    int64_t minn = ml_attr_int(k, "min_gram_length", 1), maxn = ml_attr_int(k, "max_gram_length", 1),
            maxskip = ml_attr_int(k, "max_skip_count", 0), rows, cols, width = 0, dims[2];
    char mode[8];
    size_t pool_n = ps ? ps->n_strings : pi ? pi->n_ints : 0;
    snprintf(mode, sizeof(mode), "%s", ml_attr_str(k, "mode", "TF"));
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (!counts || !idx || minn < 1 || maxn < minn || maxn > (int64_t)ncounts || maxskip < 0 ||
        maxskip > (1 << 20) || x->ndim < 1 || x->ndim > 2)
        return ml_kerr(k, AG_EINVAL, "bad n-gram attributes or input rank");
    for (size_t i = 0; i < ncounts; i++)
        if (counts[i] < 0 || counts[i] > (int64_t)pool_n || (i && counts[i] < counts[i - 1]))
            return ml_kerr(k, AG_EINVAL, "ngram_counts out of range");
    for (size_t i = 0; i < nidx; i++)
        if (idx[i] < 0 || idx[i] > (1 << 24))
            return ml_kerr(k, AG_EINVAL, "ngram_indexes out of range");
    for (size_t i = 0; i < nidx; i++)
        width = MAX(width, idx[i] + 1);
    rows = x->ndim == 2 ? x->dims[0] : 1;
    cols = x->dims[x->ndim - 1];
    dims[0] = rows;
    dims[1] = width;
    y = x->ndim == 2 ? ml_out(k, 0, ML_FLOAT, 2, dims) : ml_out(k, 0, ML_FLOAT, 1, &width);
    if (!y)
        return k->e->code;
    memset(y->data, 0, sizeof(float) * (size_t)y->n);
    for (int64_t r = 0; r < rows; r++) {
        float *out = (float *)y->data + r * width;
        for (int64_t n = minn; n <= maxn; n++) {
            int64_t start = counts[n - 1];
            int64_t end = n < (int64_t)ncounts ? counts[n] : (int64_t)pool_n;
            for (int64_t skip = 0; skip <= (n == 1 ? 0 : maxskip); skip++)
                for (int64_t s0 = 0; s0 + (n - 1) * (skip + 1) < cols; s0++)
                    for (int64_t g = start; g + n <= end; g += n) {
                        bool match = true;
                        for (int64_t t = 0; t < n && match; t++)
                            match = tok_eq(x, r * cols + s0 + t * (skip + 1), ps, pi, g + t);
                        if (match) {
                            /* The n-gram's ordinal over the whole pool. */
                            int64_t ord = (g - start) / n;
                            for (int64_t m = 1; m < n; m++)
                                ord += ((m < (int64_t)ncounts ? counts[m] : (int64_t)pool_n) -
                                        counts[m - 1]) / m;
                            if (ord < (int64_t)nidx && idx[ord] >= 0 && idx[ord] < width)
                                out[idx[ord]] += 1;
                        }
                    }
        }
        for (int64_t j = 0; j < width; j++) {
            float w = 1;
            for (size_t o = 0; o < nidx && weights; o++)
                if (idx[o] == j && o < nw)
                    w = weights[o];
            if (!strcmp(mode, "IDF"))
                out[j] = out[j] > 0 ? w : 0;
            else if (!strcmp(mode, "TFIDF"))
                out[j] *= w;
        }
    }
    return 0;
}

/* ---- DFT (naive, double precision) ---- */

static int op_dft(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *y;
    bool inverse = ml_attr_int(k, "inverse", 0), onesided = ml_attr_int(k, "onesided", 0);
    int axis, nd;
    int64_t len, olen, outer = 1, inner = 1, dims[ML_MAX_DIMS], n;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    nd = x->ndim;
    if (nd < 2 || (x->dims[nd - 1] != 1 && x->dims[nd - 1] != 2))
        return ml_kerr(k, AG_EINVAL, "last dimension must be 1 (real) or 2 (complex)");
    if (k->opset >= 20 && k->nin > 2 && k->in[2] && k->in[2]->n)
        axis = ml_axis(ml_first_i64(k->in[2]), nd);
    else
        axis = ml_axis(ml_attr_int(k, "axis", 1), nd);
    if (axis < 0 || axis == nd - 1)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    n = x->dims[axis];
    len = n;
    if (k->nin > 1 && k->in[1] && k->in[1]->n)
        len = ml_first_i64(k->in[1]);
    if (len < 1 || len > (1 << 20))
        return ml_kerr(k, AG_EINVAL, "dft_length out of range");
    olen = onesided ? len / 2 + 1 : len;
    for (int d = 0; d < nd - 1; d++)
        if (d < axis)
            outer *= x->dims[d];
        else if (d > axis)
            inner *= x->dims[d];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)nd);
    dims[axis] = olen;
    dims[nd - 1] = 2;
    y = ml_out(k, 0, x->dtype, nd, dims);
    if (!y)
        return k->e->code;
    bool cplx = x->dims[nd - 1] == 2;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++)
            for (int64_t f = 0; f < olen; f++) {
                double re = 0, im = 0;
                for (int64_t t = 0; t < MIN(len, n); t++) {
                    int64_t at = ((o * n + t) * inner + i) * (cplx ? 2 : 1);
                    double a = ml_get_f64(x, at), b = cplx ? ml_get_f64(x, at + 1) : 0;
                    double ang = (inverse ? 2 : -2) * M_PI * (double)(f * t % len) / (double)len;
                    re += a * cos(ang) - b * sin(ang);
                    im += a * sin(ang) + b * cos(ang);
                }
                if (inverse) {
                    re /= (double)len;
                    im /= (double)len;
                }
                int64_t ot = ((o * olen + f) * inner + i) * 2;
                ml_set_f64(y, ot, re);
                ml_set_f64(y, ot + 1, im);
            }
    return 0;
}

/* MelWeightMatrix: triangular filters of num_mel_bins mel bands over the
 * dft_length / 2 + 1 bins of a one-sided spectrum, as the ONNX reference
 * computes them (band edges equally spaced in mel, 2595 log10(1 + f / 700),
 * mapped to integer spectrum bins). */
static int op_melweightmatrix(struct ml_kctx *k)
{
    int64_t nmel, dftlen, rate, nspec, dims[2], *edge = NULL;
    double lo, hi, mlo, mhi, step;
    int dt = (int)ml_attr_int(k, "output_datatype", ML_FLOAT), rc = 0;
    struct ml_tensor *y;
    for (int i = 0; i < 5; i++)
        ML_REQUIRE_IN(k, i);
    nmel = ml_first_i64(k->in[0]);
    dftlen = ml_first_i64(k->in[1]);
    rate = ml_first_i64(k->in[2]);
    lo = ml_first_f64(k->in[3]);
    hi = ml_first_f64(k->in[4]);
    if (nmel < 1 || nmel > (1 << 20) || dftlen < 1 || dftlen > (1 << 24) || rate < 1 ||
        !(lo >= 0 && hi >= lo && hi < 1e12))
        return ml_kerr(k, AG_EINVAL, "num_mel_bins, dft_length, sample_rate or the edges are "
                       "out of range");
    if (!ml_is_float(dt) && !ml_is_int(dt))
        return ml_kerr(k, AG_EINVAL, "output_datatype must be numeric");
    nspec = dftlen / 2 + 1;
    dims[0] = nspec;
    dims[1] = nmel;
    if (!(y = ml_out(k, 0, dt, 2, dims)))
        return k->e->code;
    for (int64_t i = 0; i < y->n; i++)
        ml_set_f64(y, i, 0);
    if (!(edge = malloc(sizeof(int64_t) * (size_t)(nmel + 2))))
        return ml_kerr(k, AG_ENOMEM, "out of memory");
    mlo = 2595 * log10(1 + lo / 700);
    mhi = 2595 * log10(1 + hi / 700);
    step = (mhi - mlo) / (double)(nmel + 2);
    for (int64_t i = 0; i < nmel + 2; i++) {
        double f = 700 * (pow(10, ((double)i * step + mlo) / 2595) - 1);
        edge[i] = ml_f2i(floor((double)(dftlen + 1) * f / (double)rate));
        if (edge[i] < 0 || edge[i] >= nspec) {
            rc = ml_kerr(k, AG_EINVAL, "a mel band edge falls outside the spectrum");
            goto out;
        }
    }
    for (int64_t i = 0; i < nmel; i++) {
        int64_t l = edge[i], c = edge[i + 1], h = edge[i + 2];
        if (c == l)
            ml_set_f64(y, c * nmel + i, 1);
        else
            for (int64_t j = l; j <= c; j++)
                ml_set_f64(y, j * nmel + i, (double)(j - l) / (double)(c - l));
        for (int64_t j = c; j < h; j++)
            ml_set_f64(y, j * nmel + i, (double)(h - j) / (double)(h - c));
    }
out:
    free(edge);
    return rc;
}

/* STFT: frames of frame_length samples every frame_step, each multiplied by
 * the window and transformed by a direct DFT (in double precision); real
 * (last dimension 1) or complex (2) signals; onesided keeps the first
 * frame_length / 2 + 1 bins. Output (batch, frames, bins, 2). */
static int op_stft(struct ml_kctx *k)
{
    const struct ml_tensor *sig, *win = NULL;
    struct ml_tensor *y;
    int64_t step, flen, B, L, comp, nfr, nbins, dims[4];
    bool onesided = ml_attr_int(k, "onesided", 1) != 0;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    sig = k->in[0];
    step = ml_first_i64(k->in[1]);
    if (k->nin > 2 && k->in[2])
        win = k->in[2];
    if (k->nin > 3 && k->in[3])
        flen = ml_first_i64(k->in[3]);
    else if (win)
        flen = win->n;
    else
        return ml_kerr(k, AG_EINVAL, "needs a window or a frame_length");
    if (sig->ndim != 3 || (sig->dims[2] != 1 && sig->dims[2] != 2) || !ml_is_float(sig->dtype))
        return ml_kerr(k, AG_EINVAL, "signal must be float (batch, length, 1 or 2)");
    B = sig->dims[0];
    L = sig->dims[1];
    comp = sig->dims[2];
    if (step < 1 || flen < 1 || flen > L || flen > (1 << 20) || (win && win->n != flen))
        return ml_kerr(k, AG_EINVAL, "frame_step, frame_length or the window size is invalid");
    nfr = (L - flen) / step + 1;
    nbins = onesided ? flen / 2 + 1 : flen;
    if ((double)B * (double)nfr * (double)nbins * (double)flen > 2e8)
        return ml_kerr(k, AG_ETOOBIG, "the transform is too large for a direct DFT");
    dims[0] = B;
    dims[1] = nfr;
    dims[2] = nbins;
    dims[3] = 2;
    if (!(y = ml_out(k, 0, sig->dtype, 4, dims)))
        return k->e->code;
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < nfr; f++)
            for (int64_t q = 0; q < nbins; q++) {
                double re = 0, im = 0;
                for (int64_t n = 0; n < flen; n++) {
                    int64_t at = (b * L + f * step + n) * comp;
                    double w = win ? ml_get_f64(win, n) : 1.0;
                    double xr = ml_get_f64(sig, at) * w, xi = comp == 2 ? ml_get_f64(sig, at + 1) * w : 0;
                    double a = -2.0 * M_PI * (double)((q * n) % flen) / (double)flen;
                    double c = cos(a), sn = sin(a);
                    re += xr * c - xi * sn;
                    im += xr * sn + xi * c;
                }
                ml_set_f64(y, ((b * nfr + f) * nbins + q) * 2, re);
                ml_set_f64(y, ((b * nfr + f) * nbins + q) * 2 + 1, im);
            }
    return 0;
}

const struct ml_op ml_ops_extra[] = {
    {"STFT", "", op_stft, ML_K_HALF_VIA_FLOAT},
    {"MelWeightMatrix", "", op_melweightmatrix, 0},
    {"DFT", "", op_dft, ML_K_HALF_VIA_FLOAT},
    {"TfIdfVectorizer", "", op_tfidf, 0},
    {"HannWindow", "", op_hann, 0},
    {"HammingWindow", "", op_hamming, 0},
    {"BlackmanWindow", "", op_blackman, 0},
    {"Det", "", op_det, ML_K_HALF_VIA_FLOAT},
    {"Unique", "", op_unique, 0},
    {"NonMaxSuppression", "", op_nms, 0},
    {"Einsum", "", op_einsum, ML_K_HALF_VIA_FLOAT},
    {"StringNormalizer", "", op_string_normalizer, 0},
    {NULL, NULL, NULL, 0},
};
