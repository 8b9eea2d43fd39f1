/* ops_shape.c - shape ops: Reshape, Flatten, Transpose, Concat, Split, Squeeze, Unsqueeze,
 * Expand, Tile, Pad, Slice, DepthToSpace, SpaceToDepth. */
#include "core/common.h"
#include "ml/internal.h"

/* Duplicates string pointers copied from an input so the output owns them. */
static int own_strings(struct ml_kctx *k, struct ml_tensor *o)
{
    if (o->dtype != ML_STRING)
        return 0;
    for (int64_t i = 0; i < o->n; i++) {
        char **s = o->data;
        s[i] = strdup(s[i] ? s[i] : "");
        if (!s[i]) {
            for (int64_t j = i; j < o->n; j++)
                s[j] = NULL;
            return ml_kerr(k, AG_ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* Copies a strided view (dims, element strides st) of src into contiguous dst. */
static void copy_strided(char *dst, const char *src, size_t es, int nd, const int64_t *dims,
                         const int64_t *st)
{
    int64_t idx[ML_MAX_DIMS] = {0}, n = ml_numel(nd, dims), inner, istr;
    if (n <= 0)
        return;
    if (nd == 0) {
        memcpy(dst, src, es);
        return;
    }
    inner = dims[nd - 1];
    istr = st[nd - 1];
    for (int64_t r = 0; r < n / inner; r++) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; d++)
            off += idx[d] * st[d];
        const char *s = src + (size_t)off * es;
        if (istr == 1) {
            memcpy(dst, s, (size_t)inner * es);
        } else if (es == 4) {
            for (int64_t i = 0; i < inner; i++)
                ((uint32_t *)dst)[i] = *(const uint32_t *)(s + (size_t)(i * istr) * 4);
        } else {
            for (int64_t i = 0; i < inner; i++)
                memcpy(dst + (size_t)i * es, s + (size_t)(i * istr) * es, es);
        }
        dst += (size_t)inner * es;
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < dims[d])
                break;
            idx[d] = 0;
        }
    }
}

/* Output i = input data with a new shape. */
static int out_reshaped(struct ml_kctx *k, const struct ml_tensor *x, int nd, const int64_t *dims)
{
    struct ml_tensor *o;
    if (ml_numel(nd, dims) != x->n)
        return ml_kerr(k, AG_EINVAL, "cannot reshape %" PRId64 " elements into %" PRId64, x->n,
                       ml_numel(nd, dims));
    o = ml_out(k, 0, x->dtype, nd, dims);
    if (!o)
        return k->e->code;
    if (x->n)
        memcpy(o->data, x->data, (size_t)x->n * ml_dtype_size(x->dtype));
    return own_strings(k, o);
}

static int op_reshape(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    int64_t dims[ML_MAX_DIMS], known = 1;
    int nd, neg = -1;
    bool allowzero = ml_attr_int(k, "allowzero", 0);
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (k->opset < 5) {
        size_t n;
        const int64_t *s = ml_attr_ints(k, "shape", &n);
        if (n > ML_MAX_DIMS)
            return ml_kerr(k, AG_EUNPROCESSABLE, "rank above %d", ML_MAX_DIMS);
        nd = (int)n;
        if (n)
            memcpy(dims, s, n * sizeof(int64_t));
    } else {
        ML_REQUIRE_IN(k, 1);
        if (k->in[1]->n > ML_MAX_DIMS)
            return ml_kerr(k, AG_EUNPROCESSABLE, "rank above %d", ML_MAX_DIMS);
        nd = (int)ml_read_ints(k->in[1], dims, ML_MAX_DIMS);
    }
    for (int i = 0; i < nd; i++) {
        if (dims[i] == 0 && !allowzero) {
            if (i >= x->ndim)
                return ml_kerr(k, AG_EINVAL, "shape copies dimension %d the input lacks", i);
            dims[i] = x->dims[i];
        }
        if (dims[i] == -1) {
            if (neg >= 0)
                return ml_kerr(k, AG_EINVAL, "more than one -1 in the shape");
            neg = i;
        } else if (dims[i] < 0) {
            return ml_kerr(k, AG_EINVAL, "negative dimension in the shape");
        } else if (__builtin_mul_overflow(known, dims[i], &known)) {
            return ml_kerr(k, AG_ETOOBIG, "shape is too large");
        }
    }
    if (neg >= 0)
        dims[neg] = known ? x->n / known : 0;
    return out_reshaped(k, x, nd, dims);
}

static int op_flatten(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    int64_t axis, dims[2] = {1, 1};
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    axis = ml_attr_int(k, "axis", 1);
    if (axis < 0)
        axis += x->ndim;
    if (axis < 0 || axis > x->ndim)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    for (int i = 0; i < x->ndim; i++)
        dims[i < axis ? 0 : 1] *= x->dims[i];
    return out_reshaped(k, x, 2, dims);
}

/* Reads axes from the attribute (old opsets) or input `in` (new ones). */
static int read_axes(struct ml_kctx *k, int in, int64_t *axes, int *n, bool from_input)
{
    *n = 0;
    if (from_input) {
        if (k->nin > in && k->in[in]) {
            if (k->in[in]->n > ML_MAX_DIMS)
                return ml_kerr(k, AG_EINVAL, "too many axes");
            *n = (int)ml_read_ints(k->in[in], axes, ML_MAX_DIMS);
        }
    } else {
        size_t c;
        const int64_t *a = ml_attr_ints(k, "axes", &c);
        if (c > ML_MAX_DIMS)
            return ml_kerr(k, AG_EINVAL, "too many axes");
        *n = (int)c;
        if (c)
            memcpy(axes, a, c * sizeof(int64_t));
    }
    return 0;
}

static int op_squeeze(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    int64_t axes[ML_MAX_DIMS], dims[ML_MAX_DIMS];
    int na, nd = 0, rc;
    bool drop[ML_MAX_DIMS] = {false};
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if ((rc = read_axes(k, 1, axes, &na, k->opset >= 13)))
        return rc;
    for (int i = 0; i < na; i++) {
        int a = ml_axis(axes[i], x->ndim);
        if (a < 0 || x->dims[a] != 1)
            return ml_kerr(k, AG_EINVAL, "axis %" PRId64 " is not a dimension of size 1", axes[i]);
        drop[a] = true;
    }
    for (int i = 0; i < x->ndim; i++)
        if (!(na ? drop[i] : x->dims[i] == 1))
            dims[nd++] = x->dims[i];
    return out_reshaped(k, x, nd, dims);
}

static int op_unsqueeze(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    int64_t axes[ML_MAX_DIMS], dims[ML_MAX_DIMS];
    int na, nd, rc, j = 0;
    bool ins[ML_MAX_DIMS] = {false};
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if ((rc = read_axes(k, 1, axes, &na, k->opset >= 13)))
        return rc;
    nd = x->ndim + na;
    if (nd > ML_MAX_DIMS)
        return ml_kerr(k, AG_EUNPROCESSABLE, "rank above %d", ML_MAX_DIMS);
    for (int i = 0; i < na; i++) {
        int a = ml_axis(axes[i], nd);
        if (a < 0 || ins[a])
            return ml_kerr(k, AG_EINVAL, "axis %" PRId64 " is out of range or repeated", axes[i]);
        ins[a] = true;
    }
    for (int i = 0; i < nd; i++)
        dims[i] = ins[i] ? 1 : x->dims[j++];
    return out_reshaped(k, x, nd, dims);
}

static int op_transpose(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t perm[ML_MAX_DIMS], dims[ML_MAX_DIMS], st[ML_MAX_DIMS], xs[ML_MAX_DIMS];
    size_t np;
    const int64_t *p;
    bool seen[ML_MAX_DIMS] = {false};
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    p = ml_attr_ints(k, "perm", &np);
    if (p && (int)np != x->ndim)
        return ml_kerr(k, AG_EINVAL, "perm has %zu entries for rank %d", np, x->ndim);
    for (int i = 0; i < x->ndim; i++) {
        perm[i] = p ? p[i] : x->ndim - 1 - i;
        if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]])
            return ml_kerr(k, AG_EINVAL, "perm is not a permutation");
        seen[perm[i]] = true;
    }
    ml_strides(x->ndim, x->dims, xs);
    for (int i = 0; i < x->ndim; i++) {
        dims[i] = x->dims[perm[i]];
        st[i] = xs[perm[i]];
    }
    o = ml_out(k, 0, x->dtype, x->ndim, dims);
    if (!o)
        return k->e->code;
    copy_strided(o->data, x->data, ml_dtype_size(x->dtype), x->ndim, dims, st);
    return own_strings(k, o);
}

static int op_concat(struct ml_kctx *k)
{
    const struct ml_tensor *f = NULL;
    struct ml_tensor *o;
    int64_t dims[ML_MAX_DIMS], outer = 1, axis_total = 0;
    int axis;
    size_t es;
    char *dst;

    for (int i = 0; i < k->nin; i++)
        if (k->in[i] && !f)
            f = k->in[i];
    if (!f)
        return ml_kerr(k, AG_EINVAL, "no inputs");
    axis = ml_axis(ml_attr_int(k, "axis", k->opset < 4 ? 1 : 0), f->ndim);
    if (axis < 0)
        return ml_kerr(k, AG_EINVAL, "axis out of range");
    for (int i = 0; i < k->nin; i++) {
        const struct ml_tensor *t = k->in[i];
        if (!t)
            continue;
        if (t->dtype != f->dtype || t->ndim != f->ndim)
            return ml_kerr(k, AG_EINVAL, "inputs differ in type or rank");
        for (int d = 0; d < f->ndim; d++)
            if (d != axis && t->dims[d] != f->dims[d])
                return ml_kerr(k, AG_EINVAL, "inputs differ in dimension %d", d);
        axis_total += t->dims[axis];
    }
    memcpy(dims, f->dims, sizeof(int64_t) * (size_t)f->ndim);
    dims[axis] = axis_total;
    o = ml_out(k, 0, f->dtype, f->ndim, dims);
    if (!o)
        return k->e->code;
    es = ml_dtype_size(f->dtype);
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    dst = o->data;
    for (int64_t r = 0; r < outer; r++) {
        for (int i = 0; i < k->nin; i++) {
            const struct ml_tensor *t = k->in[i];
            size_t chunk;
            if (!t || !t->n)
                continue;
            chunk = (size_t)(t->n / outer) * es;
            memcpy(dst, (const char *)t->data + (size_t)r * chunk, chunk);
            dst += chunk;
        }
    }
    return own_strings(k, o);
}

static int op_split(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    int64_t sizes[64], outer = 1, inner = 1, off = 0;
    int axis, nout = k->nout;
    size_t es;
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    axis = ml_axis(ml_attr_int(k, "axis", 0), x->ndim);
    if (axis < 0 || nout < 1 || nout > 64)
        return ml_kerr(k, AG_EINVAL, "axis out of range or bad output count");
    if (k->opset >= 13 && k->nin > 1 && k->in[1]) {
        if (k->in[1]->n != nout)
            return ml_kerr(k, AG_EINVAL, "split has %" PRId64 " entries for %d outputs",
                           k->in[1]->n, nout);
        ml_read_ints(k->in[1], sizes, 64);
    } else if (k->opset < 13 && ml_attr(k, "split")) {
        size_t n;
        const int64_t *s = ml_attr_ints(k, "split", &n);
        if ((int)n != nout)
            return ml_kerr(k, AG_EINVAL, "split has %zu entries for %d outputs", n, nout);
        memcpy(sizes, s, n * sizeof(int64_t));
    } else {
        int64_t parts = MAX(1, MIN(ml_attr_int(k, "num_outputs", nout), 64)), len = x->dims[axis];
        int64_t each = parts ? (len + parts - 1) / parts : 0;
        if (!ml_attr(k, "num_outputs") && len % nout)
            return ml_kerr(k, AG_EINVAL, "dimension %" PRId64 " does not split evenly", len);
        for (int i = 0; i < nout; i++) {
            sizes[i] = MIN(each, len);
            len -= sizes[i];
        }
    }
    {
        int64_t tot = 0;
        for (int i = 0; i < nout; i++) {
            if (sizes[i] < 0 || __builtin_add_overflow(tot, sizes[i], &tot))
                return ml_kerr(k, AG_EINVAL, "split is negative or too large");
        }
        if (tot != x->dims[axis])
            return ml_kerr(k, AG_EINVAL, "split sizes sum to %" PRId64 ", not %" PRId64, tot,
                           x->dims[axis]);
    }
    es = ml_dtype_size(x->dtype);
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    for (int i = 0; i < nout; i++) {
        int64_t dims[ML_MAX_DIMS];
        struct ml_tensor *o;
        memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
        dims[axis] = sizes[i];
        o = ml_out(k, i, x->dtype, x->ndim, dims);
        if (!o)
            return k->e->code;
        for (int64_t r = 0; r < outer; r++)
            memcpy((char *)o->data + (size_t)(r * sizes[i] * inner) * es,
                   (const char *)x->data + (size_t)((r * x->dims[axis] + off) * inner) * es,
                   (size_t)(sizes[i] * inner) * es);
        off += sizes[i];
        if (own_strings(k, o))
            return k->e->code;
    }
    return 0;
}

static int op_expand(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t shape[ML_MAX_DIMS], dims[ML_MAX_DIMS], st[ML_MAX_DIMS];
    int ns, nd;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    if (k->in[1]->n > ML_MAX_DIMS)
        return ml_kerr(k, AG_EUNPROCESSABLE, "rank above %d", ML_MAX_DIMS);
    ns = (int)ml_read_ints(k->in[1], shape, ML_MAX_DIMS);
    if (ml_broadcast_shape(x->ndim, x->dims, ns, shape, &nd, dims))
        return ml_kerr(k, AG_EINVAL, "shape does not broadcast with the input");
    o = ml_out(k, 0, x->dtype, nd, dims);
    if (!o)
        return k->e->code;
    ml_bcast_strides(x, nd, dims, st);
    copy_strided(o->data, x->data, ml_dtype_size(x->dtype), nd, dims, st);
    return own_strings(k, o);
}

static int op_tile(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t rep[ML_MAX_DIMS], dims[ML_MAX_DIMS], idx[ML_MAX_DIMS] = {0}, xs[ML_MAX_DIMS];
    size_t es;
    ML_REQUIRE_IN(k, 0);
    ML_REQUIRE_IN(k, 1);
    x = k->in[0];
    if (k->in[1]->n != x->ndim)
        return ml_kerr(k, AG_EINVAL, "repeats must have one entry per dimension");
    ml_read_ints(k->in[1], rep, ML_MAX_DIMS);
    for (int i = 0; i < x->ndim; i++) {
        if (rep[i] < 0 || __builtin_mul_overflow(x->dims[i], rep[i], &dims[i]))
            return ml_kerr(k, AG_EINVAL, "repeat is negative or too large");
    }
    o = ml_out(k, 0, x->dtype, x->ndim, dims);
    if (!o)
        return k->e->code;
    es = ml_dtype_size(x->dtype);
    ml_strides(x->ndim, x->dims, xs);
    for (int64_t i = 0; i < o->n; i++) {
        int64_t off = 0;
        for (int d = 0; d < x->ndim; d++)
            off += (idx[d] % x->dims[d]) * xs[d];
        memcpy((char *)o->data + (size_t)i * es, (const char *)x->data + (size_t)off * es, es);
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (++idx[d] < dims[d])
                break;
            idx[d] = 0;
        }
    }
    return own_strings(k, o);
}

static int op_pad(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t pads[2 * ML_MAX_DIMS] = {0}, raw[2 * ML_MAX_DIMS], axes[ML_MAX_DIMS], dims[ML_MAX_DIMS];
    int64_t idx[ML_MAX_DIMS] = {0}, xs[ML_MAX_DIMS];
    int na, nr, rank;
    const char *mode = ml_attr_str(k, "mode", "constant");
    int m = !strcmp(mode, "constant") ? 0 : !strcmp(mode, "reflect") ? 1 : !strcmp(mode, "edge") ? 2
            : !strcmp(mode, "wrap") ? 3 : -1;
    double cval = 0;
    size_t es;

    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    rank = x->ndim;
    if (m < 0)
        return ml_kerr(k, AG_EINVAL, "unknown mode \"%s\"", mode);
    if (k->opset < 11) {
        size_t n;
        const int64_t *p = ml_attr_ints(k, "pads", &n);
        if ((int)n != 2 * rank)
            return ml_kerr(k, AG_EINVAL, "pads must have 2*rank entries");
        memcpy(raw, p, n * sizeof(int64_t));
        nr = (int)n;
        cval = ml_attr_float(k, "value", 0);
    } else {
        ML_REQUIRE_IN(k, 1);
        if (k->in[1]->n > 2 * ML_MAX_DIMS)
            return ml_kerr(k, AG_EINVAL, "too many pads");
        nr = (int)ml_read_ints(k->in[1], raw, 2 * ML_MAX_DIMS);
        if (k->nin > 2 && k->in[2] && k->in[2]->n)
            cval = ml_first_f64(k->in[2]);
    }
    if (k->nin > 3 && k->in[3]) {
        if (k->in[3]->n > ML_MAX_DIMS)
            return ml_kerr(k, AG_EINVAL, "too many axes");
        na = (int)ml_read_ints(k->in[3], axes, ML_MAX_DIMS);
    } else {
        na = rank;
        for (int i = 0; i < rank; i++)
            axes[i] = i;
    }
    if (nr != 2 * na)
        return ml_kerr(k, AG_EINVAL, "pads must have two entries per axis");
    for (int i = 0; i < na; i++) {
        int a = ml_axis(axes[i], rank);
        if (a < 0)
            return ml_kerr(k, AG_EINVAL, "axis out of range");
        if (raw[i] > ((int64_t)1 << 40) || raw[i] < -((int64_t)1 << 40) ||
            raw[i + na] > ((int64_t)1 << 40) || raw[i + na] < -((int64_t)1 << 40))
            return ml_kerr(k, AG_EINVAL, "pad out of range");
        pads[a] = raw[i];
        pads[a + rank] = raw[i + na];
    }
    for (int i = 0; i < rank; i++) {
        dims[i] = x->dims[i] + pads[i] + pads[i + rank];
        if (dims[i] < 0)
            return ml_kerr(k, AG_EINVAL, "pads remove more than the dimension");
        if (m && x->dims[i] == 0 && dims[i])
            return ml_kerr(k, AG_EINVAL, "cannot %s-pad an empty dimension", mode);
    }
    o = ml_out(k, 0, x->dtype, rank, dims);
    if (!o)
        return k->e->code;
    es = ml_dtype_size(x->dtype);
    ml_strides(rank, x->dims, xs);
    for (int64_t i = 0; i < o->n; i++) {
        int64_t off = 0;
        bool inside = true;
        for (int d = 0; d < rank; d++) {
            int64_t s = idx[d] - pads[d], n = x->dims[d];
            if (s < 0 || s >= n) {
                if (m == 0) {
                    inside = false;
                    break;
                } else if (m == 1) {
                    if (n == 1) {
                        s = 0;
                    } else {
                        int64_t p = 2 * (n - 1);
                        s = ((s % p) + p) % p;
                        if (s >= n)
                            s = p - s;
                    }
                } else if (m == 2) {
                    s = s < 0 ? 0 : n - 1;
                } else {
                    s = ((s % n) + n) % n;
                }
            }
            off += s * xs[d];
        }
        if (inside) {
            memcpy((char *)o->data + (size_t)i * es, (const char *)x->data + (size_t)off * es, es);
            if (x->dtype == ML_STRING)
                ((char **)o->data)[i] = strdup(((char **)o->data)[i]);
        } else if (x->dtype == ML_STRING) {
            ((char **)o->data)[i] = strdup("");
        } else {
            ml_set_f64(o, i, cval);
        }
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

static int op_slice(struct ml_kctx *k)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t starts[ML_MAX_DIMS], ends[ML_MAX_DIMS], axes[ML_MAX_DIMS], steps[ML_MAX_DIMS];
    int64_t st[ML_MAX_DIMS], b[ML_MAX_DIMS], e[ML_MAX_DIMS], s[ML_MAX_DIMS], dims[ML_MAX_DIMS];
    int64_t xs[ML_MAX_DIMS], off = 0;
    int n, rank;

    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    rank = x->ndim;
    if (k->opset < 10) {
        size_t ns, ne, na;
        const int64_t *ps = ml_attr_ints(k, "starts", &ns), *pe = ml_attr_ints(k, "ends", &ne),
                      *pa = ml_attr_ints(k, "axes", &na);
        if (ns != ne || ns > ML_MAX_DIMS || (pa && na != ns))
            return ml_kerr(k, AG_EINVAL, "starts, ends and axes differ in length");
        n = (int)ns;
        for (int i = 0; i < n; i++) {
            starts[i] = ps[i];
            ends[i] = pe[i];
            axes[i] = pa ? pa[i] : i;
            steps[i] = 1;
        }
    } else {
        ML_REQUIRE_IN(k, 1);
        ML_REQUIRE_IN(k, 2);
        if (k->in[1]->n > ML_MAX_DIMS || k->in[1]->n != k->in[2]->n)
            return ml_kerr(k, AG_EINVAL, "starts and ends differ in length");
        n = (int)ml_read_ints(k->in[1], starts, ML_MAX_DIMS);
        ml_read_ints(k->in[2], ends, ML_MAX_DIMS);
        for (int i = 0; i < n; i++) {
            axes[i] = i;
            steps[i] = 1;
        }
        if (k->nin > 3 && k->in[3]) {
            if (k->in[3]->n != n)
                return ml_kerr(k, AG_EINVAL, "axes has the wrong length");
            ml_read_ints(k->in[3], axes, ML_MAX_DIMS);
        }
        if (k->nin > 4 && k->in[4]) {
            if (k->in[4]->n != n)
                return ml_kerr(k, AG_EINVAL, "steps has the wrong length");
            ml_read_ints(k->in[4], steps, ML_MAX_DIMS);
        }
    }
    for (int d = 0; d < rank; d++) {
        b[d] = 0;
        e[d] = x->dims[d];
        s[d] = 1;
    }
    for (int i = 0; i < n; i++) {
        int a = ml_axis(axes[i], rank);
        int64_t dim;
        if (a < 0)
            return ml_kerr(k, AG_EINVAL, "axis out of range");
        if (steps[i] == 0 || steps[i] < -((int64_t)1 << 40) || steps[i] > ((int64_t)1 << 40))
            return ml_kerr(k, AG_EINVAL, "step is zero or out of range");
        dim = x->dims[a];
        int64_t sb = MAX(MIN(starts[i], INT64_MAX / 4), INT64_MIN / 4);
        int64_t se = MAX(MIN(ends[i], INT64_MAX / 4), INT64_MIN / 4);
        if (sb < 0)
            sb += dim;
        if (se < 0)
            se += dim;
        if (steps[i] > 0) {
            sb = MAX(0, MIN(sb, dim));
            se = MAX(0, MIN(se, dim));
        } else {
            sb = MAX(-1, MIN(sb, dim - 1));
            se = MAX(-1, MIN(se, dim - 1));
        }
        b[a] = sb;
        e[a] = se;
        s[a] = steps[i];
    }
    ml_strides(rank, x->dims, xs);
    for (int d = 0; d < rank; d++) {
        int64_t len = s[d] > 0 ? (e[d] - b[d] + s[d] - 1) / s[d] : (b[d] - e[d] - s[d] - 1) / -s[d];
        dims[d] = MAX(0, len);
        st[d] = xs[d] * s[d];
        if (dims[d])
            off += b[d] * xs[d];
    }
    o = ml_out(k, 0, x->dtype, rank, dims);
    if (!o)
        return k->e->code;
    copy_strided(o->data, (const char *)x->data + (size_t)off * ml_dtype_size(x->dtype),
                 ml_dtype_size(x->dtype), rank, dims, st);
    return own_strings(k, o);
}

/* DepthToSpace / SpaceToDepth as a 6-D transpose. */
static int space_depth(struct ml_kctx *k, bool to_space)
{
    const struct ml_tensor *x;
    struct ml_tensor *o;
    int64_t bs = ml_attr_int(k, "blocksize", 0), N, C, H, W, d6[6], st6[6], od[4];
    bool crd = !strcmp(ml_attr_str(k, "mode", "DCR"), "CRD");
    ML_REQUIRE_IN(k, 0);
    x = k->in[0];
    if (x->ndim != 4 || bs <= 0)
        return ml_kerr(k, AG_EINVAL, "needs a 4-D input and a positive blocksize");
    N = x->dims[0];
    C = x->dims[1];
    H = x->dims[2];
    W = x->dims[3];
    if (to_space) {
        int64_t c = C / (bs * bs);
        if (C % (bs * bs))
            return ml_kerr(k, AG_EINVAL, "channels not divisible by blocksize^2");
        od[0] = N; od[1] = c; od[2] = H * bs; od[3] = W * bs;
        /* output index order: n, c, h, b1, w, b2 */
        d6[0] = N; d6[1] = c; d6[2] = H; d6[3] = bs; d6[4] = W; d6[5] = bs;
        if (crd) { /* input viewed as n, c, b1, b2, h, w */
            st6[0] = C * H * W; st6[1] = bs * bs * H * W; st6[2] = W; st6[3] = bs * H * W;
            st6[4] = 1; st6[5] = H * W;
        } else { /* input viewed as n, b1, b2, c, h, w */
            st6[0] = C * H * W; st6[1] = H * W; st6[2] = W; st6[3] = bs * c * H * W;
            st6[4] = 1; st6[5] = c * H * W;
        }
    } else {
        if (H % bs || W % bs)
            return ml_kerr(k, AG_EINVAL, "spatial size not divisible by blocksize");
        int64_t h = H / bs, w = W / bs;
        od[0] = N; od[1] = C * bs * bs; od[2] = h; od[3] = w;
        /* output order: n, b1, b2, c, h, w; input n, c, h, b1, w, b2 */
        d6[0] = N; d6[1] = bs; d6[2] = bs; d6[3] = C; d6[4] = h; d6[5] = w;
        st6[0] = C * H * W; st6[1] = W; st6[2] = 1; st6[3] = H * W; st6[4] = bs * W;
        st6[5] = bs;
    }
    o = ml_out(k, 0, x->dtype, 4, od);
    if (!o)
        return k->e->code;
    copy_strided(o->data, x->data, ml_dtype_size(x->dtype), 6, d6, st6);
    return own_strings(k, o);
}

static int op_depth_to_space(struct ml_kctx *k) { return space_depth(k, true); }
static int op_space_to_depth(struct ml_kctx *k) { return space_depth(k, false); }

const struct ml_op ml_ops_shape[] = {
    {"Reshape", "", op_reshape, 0},     {"Flatten", "", op_flatten, 0},
    {"Squeeze", "", op_squeeze, 0},     {"Unsqueeze", "", op_unsqueeze, 0},
    {"Transpose", "", op_transpose, 0}, {"Concat", "", op_concat, 0},
    {"Split", "", op_split, 0},         {"Expand", "", op_expand, 0},
    {"Tile", "", op_tile, 0},           {"Pad", "", op_pad, 0},
    {"Slice", "", op_slice, 0},         {"DepthToSpace", "", op_depth_to_space, 0},
    {"SpaceToDepth", "", op_space_to_depth, 0}, {NULL, NULL, NULL, 0},
};
