/* testsuite.c - runs ONNX backend-test cases (model.onnx, test_data_set_N/input_K.pb, output_K.pb) against the engine. */
#include "core/common.h"
#include "ml/internal.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

/* The tolerances of onnx/backend/test/runner: numpy.testing.assert_allclose. */
#define RTOL 1e-3
#define ATOL 1e-7

static bool is_dir(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists directory entries starting with `prefix`, sorted; returns the count or -1. */
static int list_dir(const char *dir, const char *prefix, char ***out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    int n = 0, cap = 0;
    if (!d)
        return -1;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)))
            continue;
        if (n == cap) {
            char **nv;
            cap = cap ? cap * 2 : 16;
            nv = realloc(v, sizeof(char *) * (size_t)cap);
            if (!nv)
                break;
            v = nv;
        }
        v[n] = strdup(de->d_name);
        if (v[n])
            n++;
    }
    closedir(d);
    if (n)
        qsort(v, (size_t)n, sizeof(char *), cmp_str);
    *out = v;
    return n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool compare(const struct ml_tensor *got, const struct ml_tensor *want, const char *name,
                    char *msg, size_t size, double *worst);

/* Compares sequences and optionals element by element. */
static bool compare_value(const struct ml_tensor *got, const struct ml_tensor *want,
                          const char *name, char *msg, size_t size, double *worst)
{
    const struct ml_tensor *g = got->data, *w = want->data;
    if (got->dtype != want->dtype) {
        snprintf(msg, size, "output \"%s\" is %s %s, expected %s %s", name,
                 got->dtype == ML_SEQUENCE || got->dtype == ML_NONE ? "a" : "a tensor of",
                 ml_dtype_name(got->dtype), want->dtype == ML_NONE ? "an" : "a",
                 ml_dtype_name(want->dtype));
        return false;
    }
    if (want->dtype == ML_NONE)
        return true;
    if (got->n != want->n) {
        snprintf(msg, size, "output \"%s\" has %" PRId64 " elements, expected %" PRId64, name,
                 got->n, want->n);
        return false;
    }
    for (int64_t i = 0; i < want->n; i++) {
        char el[300];
        snprintf(el, sizeof(el), "%s[%" PRId64 "]", name, i);
        if (!compare(&g[i], &w[i], el, msg, size, worst))
            return false;
    }
    return true;
}

/* Compares one output; writes a description of the first problem into msg. */
static bool compare(const struct ml_tensor *got, const struct ml_tensor *want, const char *name,
                    char *msg, size_t size, double *worst)
{
    char s1[96], s2[96];
    bool ok = true;
    double maxd = 0;
    int64_t at = -1;

    if (ml_is_value(got->dtype) || ml_is_value(want->dtype))
        return compare_value(got, want, name, msg, size, worst);
    if (got->dtype != want->dtype) {
        snprintf(msg, size, "output \"%s\" is %s, expected %s", name, ml_dtype_name(got->dtype),
                 ml_dtype_name(want->dtype));
        return false;
    }
    if (got->ndim != want->ndim || memcmp(got->dims, want->dims, sizeof(int64_t) * (size_t)got->ndim)) {
        snprintf(msg, size, "output \"%s\" has shape %s, expected %s", name,
                 ml_shape_str(got, s1, sizeof(s1)), ml_shape_str(want, s2, sizeof(s2)));
        return false;
    }
    for (int64_t i = 0; i < want->n; i++) {
        if (want->dtype == ML_STRING) {
            if (strcmp(((char *const *)got->data)[i], ((char *const *)want->data)[i])) {
                snprintf(msg, size, "output \"%s\"[%" PRId64 "] is \"%.40s\", expected \"%.40s\"",
                         name, i, ((char *const *)got->data)[i], ((char *const *)want->data)[i]);
                return false;
            }
        } else if (ml_is_float(want->dtype)) {
            double g = ml_get_f64(got, i), w = ml_get_f64(want, i), d;
            if (isnan(w) || isnan(g)) {
                if (isnan(w) != isnan(g)) {
                    ok = false;
                    maxd = INFINITY;
                    at = i;
                }
                continue;
            }
            if (isinf(w) || isinf(g)) {
                if (g != w) {
                    ok = false;
                    maxd = INFINITY;
                    at = i;
                }
                continue;
            }
            d = fabs(g - w);
            if (d > ATOL + RTOL * fabs(w))
                ok = false;
            if (d > maxd) {
                maxd = d;
                at = i;
            }
        } else if (want->dtype == ML_UINT64) {
            uint64_t g = ((const uint64_t *)got->data)[i], w = ((const uint64_t *)want->data)[i];
            if (g != w) {
                snprintf(msg, size, "output \"%s\"[%" PRId64 "] is %" PRIu64 ", expected %" PRIu64,
                         name, i, g, w);
                return false;
            }
        } else {
            int64_t g = ml_get_i64(got, i), w = ml_get_i64(want, i);
            if (g != w) {
                snprintf(msg, size, "output \"%s\"[%" PRId64 "] is %" PRId64 ", expected %" PRId64,
                         name, i, g, w);
                return false;
            }
        }
    }
    if (maxd > *worst)
        *worst = maxd;
    if (!ok)
        snprintf(msg, size, "output \"%s\": largest difference %.6g at index %" PRId64
                 " (got %.9g, expected %.9g)", name, maxd, at, ml_get_f64(got, at),
                 ml_get_f64(want, at));
    return ok;
}

/* Runs one data set; returns 1 pass, 0 fail, -1 unsupported (msg says why). */
static int run_set(struct ml_model *m, const char *setdir, char *msg, size_t size)
{
    char **files = NULL, path[4096];
    int nf = list_dir(setdir, "", &files), nin = 0, nout = 0, result = 1;
    struct ml_tensor ins[64], outs[64], want[64];
    const struct ml_tensor *inp[64];
    struct ag_err e = {0};
    double worst = 0;

    memset(ins, 0, sizeof(ins));
    memset(outs, 0, sizeof(outs));
    memset(want, 0, sizeof(want));
    for (int i = 0; i < 64; i++) {
        if (snprintf(path, sizeof(path), "%s/input_%d.pb", setdir, i) >= (int)sizeof(path) ||
            !is_file(path))
            break;
        if (i >= ml_model_n_inputs(m) ||
            ml_value_read_pb(&ins[i], path, ml_model_input_kind(m, i), &e)) {
            if (i >= ml_model_n_inputs(m))
                ag_errf(&e, AG_EINVAL, NULL, "the data set has more inputs than the model");
            snprintf(msg, size, "%s", e.msg);
            result = e.code == AG_EUNPROCESSABLE ? -1 : 0;
            goto out;
        }
        nin = i + 1;
    }
    for (int i = 0; i < 64; i++) {
        if (snprintf(path, sizeof(path), "%s/output_%d.pb", setdir, i) >= (int)sizeof(path) ||
            !is_file(path))
            break;
        if (i >= ml_model_n_outputs(m) ||
            ml_value_read_pb(&want[i], path, ml_model_output_kind(m, i), &e)) {
            if (i >= ml_model_n_outputs(m))
                ag_errf(&e, AG_EINVAL, NULL, "the data set has more outputs than the model");
            snprintf(msg, size, "%s", e.msg);
            result = e.code == AG_EUNPROCESSABLE ? -1 : 0;
            goto out;
        }
        nout = i + 1;
    }
    if (nin != ml_model_n_inputs(m) || nout != ml_model_n_outputs(m)) {
        snprintf(msg, size, "data set has %d inputs and %d outputs, the model %d and %d", nin, nout,
                 ml_model_n_inputs(m), ml_model_n_outputs(m));
        result = 0;
        goto out;
    }
    for (int i = 0; i < nin; i++) {
        /* The suite stores bfloat16 data as uint16 TensorProtos. */
        if (ins[i].dtype == ML_UINT16 && ml_model_input_dtype(m, i) == ML_BFLOAT16)
            ins[i].dtype = ML_BFLOAT16;
        inp[i] = &ins[i];
    }
    for (int i = 0; i < nout; i++)
        if (want[i].dtype == ML_UINT16 && ml_model_output_dtype(m, i) == ML_BFLOAT16)
            want[i].dtype = ML_BFLOAT16;
    if (ml_model_run(m, inp, outs, &e)) {
        snprintf(msg, size, "%s", e.msg);
        result = e.code == AG_EUNPROCESSABLE ? -1 : 0;
        goto out;
    }
    for (int i = 0; i < nout && result == 1; i++)
        if (!compare(&outs[i], &want[i], ml_model_output_name(m, i), msg, size, &worst))
            result = 0;
out:
    for (int i = 0; i < 64; i++) {
        ml_tensor_release(&ins[i]);
        ml_tensor_release(&outs[i]);
        ml_tensor_release(&want[i]);
    }
    free_list(files, nf);
    return result;
}

int ml_test_case_dir(const char *dir, const struct ml_opts *o, void *fp, struct ml_test_counts *c)
{
    FILE *f = fp;
    char path[4096], msg[512] = "", **sets = NULL;
    const char *name = strrchr(dir, '/');
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_opts oo = {0};
    int nsets = 0, result = 1;

    /* The suite's models take and give sequences and optionals. */
    if (o)
        oo = *o;
    oo.sequence_io = true;
    name = name && name[1] ? name + 1 : dir;
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    if (ml_model_load(&m, path, &oo, &e)) {
        snprintf(msg, sizeof(msg), "%s", e.msg);
        result = e.code == AG_EUNPROCESSABLE ? -1 : 0;
        goto out;
    }
    nsets = list_dir(dir, "test_data_set_", &sets);
    if (nsets <= 0) {
        snprintf(msg, sizeof(msg), "no test_data_set_N directories");
        result = 0;
        goto out;
    }
    for (int i = 0; i < nsets && result == 1; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, sets[i]);
        result = run_set(m, path, msg, sizeof(msg));
    }
out:
    if (result == 1) {
        fprintf(f, "PASS %s\n", name);
        c->passed++;
    } else if (result == 0) {
        fprintf(f, "FAIL %s: %s\n", name, msg);
        c->failed++;
    } else {
        fprintf(f, "UNSUPPORTED %s: %s\n", name, msg);
        c->skipped++;
    }
    fflush(f);
    if (nsets > 0)
        free_list(sets, nsets);
    ml_model_free(m);
    return 0;
}

int ml_test_tree(const char *dir, const struct ml_opts *o, void *f, struct ml_test_counts *c)
{
    char path[4096], **ents = NULL;
    int n;
    snprintf(path, sizeof(path), "%s/model.onnx", dir);
    if (is_file(path))
        return ml_test_case_dir(dir, o, f, c);
    n = list_dir(dir, "", &ents);
    if (n < 0)
        return AG_ENOTFOUND;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, ents[i]);
        if (is_dir(path)) {
            char mp[4200];
            snprintf(mp, sizeof(mp), "%s/model.onnx", path);
            if (is_file(mp))
                ml_test_case_dir(path, o, f, c);
        }
    }
    free_list(ents, n);
    return 0;
}
