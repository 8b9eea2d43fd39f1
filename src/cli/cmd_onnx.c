/* cmd_onnx.c - `agora onnx run|info|test`: the ONNX engine from the command line. */
#include "core/common.h"
#include "core/util.h"
#include "cli/cli.h"
#include "ml/ml.h"

#include <sys/stat.h>

const char cmd_onnx_usage[] =
    "usage: agora onnx run MODEL.onnx --input NAME=FILE.npy [--input ...] --output-dir DIR\n"
    "                      [--threads N] [--mem-limit MIB] [--repeat N] [--profile]\n"
    "       agora onnx info MODEL.onnx\n"
    "       agora onnx test [--threads N] DIR...\n"
    "run writes DIR/<output name>.npy for every graph output (characters outside\n"
    "[A-Za-z0-9_.-] become '_'); a sequence output becomes DIR/<name>_0.npy,\n"
    "<name>_1.npy... (one file per element), an empty optional no file. A sequence\n"
    "input takes one --input NAME=FILE.npy per element, in order; an optional input\n"
    "left out is empty. test runs ONNX backend-test cases (model.onnx and\n"
    "test_data_set_N/input_K.pb, output_K.pb) and prints PASS, FAIL or UNSUPPORTED per\n"
    "case, then \"N passed, N failed, N skipped\". --repeat N times N runs after a warm-up\n"
    "and prints the median latency (\"agora_ms X\") to stderr.";

static int usage(void)
{
    fprintf(stderr, "%s\n", cmd_onnx_usage);
    return EXIT_USAGE;
}

/* Parses the hidden diagnostic `--gemm auto|openblas|own` (docs/cli.md):
 * forces single-precision GEMM onto OpenBLAS or the engine's own kernel for
 * this process. Returns 0 or EXIT_USAGE. */
static int parse_gemm(const char *val)
{
    if (!val)
        return EXIT_USAGE;
    if (!strcmp(val, "auto"))
        ml_blas_force_path(ML_GEMM_AUTO);
    else if (!strcmp(val, "openblas"))
        ml_blas_force_path(ML_GEMM_OPENBLAS);
    else if (!strcmp(val, "own"))
        ml_blas_force_path(ML_GEMM_OWN);
    else
        return EXIT_USAGE;
    return 0;
}

/* Parses the options shared by the subcommands; returns 0 or EXIT_USAGE. */
static int parse_common(const char *opt, const char *val, struct ml_opts *o)
{
    int64_t v;
    if (!val || parse_i64(val, &v) || v < 1)
        return EXIT_USAGE;
    if (!strcmp(opt, "--threads") && v <= 64)
        o->threads = (int)v;
    else if (!strcmp(opt, "--mem-limit") && v <= (int64_t)1 << 20)
        o->mem_limit = (size_t)v << 20;
    else
        return EXIT_USAGE;
    return 0;
}

static void safe_name(char *out, size_t size, const char *name)
{
    size_t i;
    for (i = 0; name[i] && i + 1 < size; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = 0;
    /* "." and ".." would name directories. */
    if (!strcmp(out, ".") || !strcmp(out, "..") || !*out)
        snprintf(out, size, "_%s", name[0] ? "" : "output");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times `n` runs (after the caller's first, warm-up run) and prints the median. */
static int bench(struct ml_model *m, const struct ml_tensor **inp, struct ml_tensor *outs, int nout,
                 int n)
{
    double *t = calloc((size_t)n, sizeof(double)), cpu0, cpu1;
    struct ag_err e = {0};
    struct timespec ts;
    if (!t)
        return EXIT_ERR;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    cpu0 = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
    for (int r = 0; r < n; r++) {
        int64_t t0;
        for (int i = 0; i < nout; i++)
            ml_tensor_release(&outs[i]);
        t0 = time_mono_us();
        if (ml_model_run(m, inp, outs, &e)) {
            fprintf(stderr, "agora onnx: %s\n", e.msg);
            free(t);
            return EXIT_ERR;
        }
        t[r] = (double)(time_mono_us() - t0) / 1000.0;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    cpu1 = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    /* Wall-clock median, and CPU time per run (all threads): on a loaded
     * machine the second is the steadier measure of work done. */
    fprintf(stderr, "agora_ms %.4f\nagora_cpu_ms %.4f\n", t[n / 2], (cpu1 - cpu0) / n);
    free(t);
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *outdir = NULL;
    struct ml_opts o = {0};
    struct ml_model *m = NULL;
    struct ml_tensor *ins = NULL, *outs = NULL;
    const struct ml_tensor **inp = NULL;
    struct ag_err e = {0};
    int rc = EXIT_ERR, nin, nout;
    bool *given = NULL;
    int64_t repeat = 0;
    /* Sequence inputs collect their elements here before they are built. */
    struct ml_tensor **elems = NULL;
    int *nelems = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--profile")) {
            o.profile = true;
        } else if (!strcmp(argv[i], "--repeat")) {
            if (i + 1 >= argc || parse_i64(argv[i + 1], &repeat) || repeat < 1 || repeat > 100000)
                return usage();
            i++;
        } else if ((!strcmp(argv[i], "--threads") || !strcmp(argv[i], "--mem-limit"))) {
            if (parse_common(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &o))
                return usage();
            i++;
        } else if (!strcmp(argv[i], "--gemm")) {
            if (parse_gemm(i + 1 < argc ? argv[i + 1] : NULL))
                return usage();
            i++;
        } else if (!strcmp(argv[i], "--output-dir") && i + 1 < argc) {
            outdir = argv[++i];
        } else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
            i++; /* handled after the model is loaded */
        } else if (argv[i][0] != '-' && !model_path) {
            model_path = argv[i];
        } else {
            return usage();
        }
    }
    if (!model_path || !outdir)
        return usage();
    o.sequence_io = true;
    if (ml_model_load(&m, model_path, &o, &e)) {
        fprintf(stderr, "agora onnx: %s: %s\n", model_path, e.msg);
        return EXIT_ERR;
    }
    nin = ml_model_n_inputs(m);
    nout = ml_model_n_outputs(m);
    ins = calloc((size_t)nin + 1, sizeof(*ins));
    inp = calloc((size_t)nin + 1, sizeof(*inp));
    given = calloc((size_t)nin + 1, sizeof(*given));
    outs = calloc((size_t)nout + 1, sizeof(*outs));
    elems = calloc((size_t)nin + 1, sizeof(*elems));
    nelems = calloc((size_t)nin + 1, sizeof(*nelems));
    if (!ins || !inp || !given || !outs || !elems || !nelems) {
        fprintf(stderr, "agora onnx: out of memory\n");
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        char name[1024];
        const char *eq;
        int idx;
        if (strcmp(argv[i], "--input") || i + 1 >= argc)
            continue;
        eq = strchr(argv[++i], '=');
        if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(name)) {
            fprintf(stderr, "agora onnx: --input takes NAME=FILE.npy\n");
            rc = EXIT_USAGE;
            goto out;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(eq - argv[i]), argv[i]);
        idx = ml_model_input_index(m, name);
        if (idx < 0) {
            fprintf(stderr, "agora onnx: the model has no input \"%s\"\n", name);
            goto out;
        }
        if (ml_model_input_kind(m, idx) == ML_KIND_SEQUENCE ||
            ml_model_input_kind(m, idx) == ML_KIND_OPTIONAL_SEQUENCE) {
            /* One --input per element. */
            struct ml_tensor *ne;
            if (nelems[idx] >= 4096) {
                fprintf(stderr, "agora onnx: more than 4096 elements for \"%s\"\n", name);
                goto out;
            }
            ne = realloc(elems[idx], sizeof(*ne) * (size_t)(nelems[idx] + 1));
            if (!ne) {
                fprintf(stderr, "agora onnx: out of memory\n");
                goto out;
            }
            elems[idx] = ne;
            ml_tensor_init(&ne[nelems[idx]]);
            if (ml_npy_read(&ne[nelems[idx]], eq + 1, &e)) {
                fprintf(stderr, "agora onnx: %s: %s\n", eq + 1, e.msg);
                goto out;
            }
            nelems[idx]++;
            given[idx] = true;
            continue;
        }
        if (given[idx]) {
            fprintf(stderr, "agora onnx: input \"%s\" given twice\n", name);
            goto out;
        }
        if (ml_npy_read(&ins[idx], eq + 1, &e)) {
            fprintf(stderr, "agora onnx: %s: %s\n", eq + 1, e.msg);
            goto out;
        }
        given[idx] = true;
        inp[idx] = &ins[idx];
    }
    for (int i = 0; i < nin; i++) {
        int kind = ml_model_input_kind(m, i);
        if (given[i] && nelems[i]) {
            /* A sequence: its elements move into it. */
            int64_t n = nelems[i];
            if (ml_tensor_alloc(&ins[i], ML_SEQUENCE, 1, &n, &e)) {
                fprintf(stderr, "agora onnx: %s\n", e.msg);
                goto out;
            }
            memcpy(ins[i].data, elems[i], sizeof(struct ml_tensor) * (size_t)n);
            ins[i].elem_dtype = elems[i][0].dtype;
            nelems[i] = 0;
            inp[i] = &ins[i];
        } else if (!given[i] && (kind == ML_KIND_OPTIONAL || kind == ML_KIND_OPTIONAL_SEQUENCE)) {
            ins[i].dtype = ML_NONE; /* an optional left out is empty */
            inp[i] = &ins[i];
            given[i] = true;
        }
        if (!given[i]) {
            fprintf(stderr, "agora onnx: missing --input %s=FILE.npy (%s%s)\n",
                    ml_model_input_name(m, i),
                    kind == ML_KIND_SEQUENCE ? "a sequence, one --input per element, of " : "",
                    ml_dtype_name(ml_model_input_dtype(m, i)));
            goto out;
        }
    }
    if (ml_model_run(m, inp, outs, &e)) {
        fprintf(stderr, "agora onnx: %s\n", e.msg);
        goto out;
    }
    if (repeat > 0 && bench(m, inp, outs, nout, (int)repeat))
        goto out;
    if (o.profile)
        ml_model_profile(m, stderr);
    if (mkdir_p(outdir, 0755)) {
        fprintf(stderr, "agora onnx: cannot create %s\n", outdir);
        goto out;
    }
    for (int i = 0; i < nout; i++) {
        char fname[512], path[4096];
        const struct ml_tensor *t = &outs[i];
        safe_name(fname, sizeof(fname), ml_model_output_name(m, i));
        if (t->dtype == ML_NONE) {
            fprintf(stderr, "agora onnx: output \"%s\" is an empty optional: no file written\n",
                    ml_model_output_name(m, i));
            continue;
        }
        /* A sequence: one file per element, <name>_<i>.npy. */
        for (int64_t j = 0; j < (t->dtype == ML_SEQUENCE ? t->n : 1); j++) {
            const struct ml_tensor *el = t->dtype == ML_SEQUENCE
                                             ? &((const struct ml_tensor *)t->data)[j] : t;
            if (t->dtype == ML_SEQUENCE)
                snprintf(path, sizeof(path), "%s/%s_%" PRId64 ".npy", outdir, fname, j);
            else
                snprintf(path, sizeof(path), "%s/%s.npy", outdir, fname);
            if (ml_npy_write(el, path, &e)) {
                fprintf(stderr, "agora onnx: %s\n", e.msg);
                goto out;
            }
            printf("%s\n", path);
        }
        if (t->dtype == ML_SEQUENCE && !t->n)
            fprintf(stderr, "agora onnx: output \"%s\" is an empty sequence: no file written\n",
                    ml_model_output_name(m, i));
    }
    rc = EXIT_OK;
out:
    for (int i = 0; ins && i < nin; i++)
        ml_tensor_release(&ins[i]);
    for (int i = 0; elems && i < nin; i++) {
        for (int j = 0; j < nelems[i]; j++)
            ml_tensor_release(&elems[i][j]);
        free(elems[i]);
    }
    free(elems);
    free(nelems);
    for (int i = 0; outs && i < nout; i++)
        ml_tensor_release(&outs[i]);
    free(ins);
    free(inp);
    free(given);
    free(outs);
    ml_model_free(m);
    return rc;
}

static int cmd_info(int argc, char **argv)
{
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_opts o = {.sequence_io = true};
    if (argc != 2)
        return usage();
    if (ml_model_load(&m, argv[1], &o, &e)) {
        fprintf(stderr, "agora onnx: %s: %s\n", argv[1], e.msg);
        return EXIT_ERR;
    }
    ml_model_info(m, stdout);
    ml_model_free(m);
    return EXIT_OK;
}

static int cmd_test(int argc, char **argv)
{
    struct ml_opts o = {0};
    struct ml_test_counts c = {0};
    int ndirs = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") || !strcmp(argv[i], "--mem-limit")) {
            if (parse_common(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &o))
                return usage();
            i++;
        } else if (!strcmp(argv[i], "--gemm")) {
            if (parse_gemm(i + 1 < argc ? argv[i + 1] : NULL))
                return usage();
            i++;
        }
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (!strcmp(argv[i], "--threads") || !strcmp(argv[i], "--mem-limit") ||
            !strcmp(argv[i], "--gemm")) {
            i++;
            continue;
        }
        if (stat(argv[i], &st) || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "agora onnx: %s is not a directory\n", argv[i]);
            return EXIT_ERR;
        }
        ml_test_tree(argv[i], &o, stdout, &c);
        ndirs++;
    }
    if (!ndirs)
        return usage();
    printf("%d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped);
    return c.failed ? EXIT_ERR : EXIT_OK;
}

int cmd_onnx(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        printf("%s\n", cmd_onnx_usage);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "test"))
        return cmd_test(argc - 1, argv + 1);
    return usage();
}
