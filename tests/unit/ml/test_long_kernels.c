/* test_long_kernels.c - a single huge node stops at the run's deadline or cancel flag; sequences at the graph's edges. */
#include "core/common.h"
#include "core/err.h"
#include "core/util.h"
#include "ml/internal.h"
#include "test.h"

#include <math.h>
#include <pthread.h>

/* A one-node model: `op` reading inputs a (and b) into y; `w` (may be NULL)
 * is a float initializer named "w" of shape wdims (a fixed pattern). */
struct one {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops[1];
    Onnx__NodeProto n, *np[1];
    char *nin[3], *nout[1];
    Onnx__ValueInfoProto vi[3], *in[2], *out[1];
    Onnx__TypeProto tp[3], seq[3];
    Onnx__TypeProto__Tensor tt[3];
    Onnx__TypeProto__Sequence st[3];
    Onnx__TensorProto w, *wp[1];
    int64_t wdims[4];
};

/* Declares value info i: a float tensor, or a sequence of them when `seq`. */
static Onnx__ValueInfoProto *one_vi(struct one *o, int i, const char *name, bool seq)
{
    onnx__value_info_proto__init(&o->vi[i]);
    onnx__type_proto__init(&o->tp[i]);
    onnx__type_proto__tensor__init(&o->tt[i]);
    o->tt[i].has_elem_type = 1;
    o->tt[i].elem_type = ML_FLOAT;
    o->tp[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    o->tp[i].tensor_type = &o->tt[i];
    o->vi[i].name = (char *)name;
    o->vi[i].type = &o->tp[i];
    if (seq) {
        onnx__type_proto__init(&o->seq[i]);
        onnx__type_proto__sequence__init(&o->st[i]);
        o->st[i].elem_type = &o->tp[i];
        o->seq[i].value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
        o->seq[i].sequence_type = &o->st[i];
        o->vi[i].type = &o->seq[i];
    }
    return &o->vi[i];
}

static int one_load(struct one *o, const char *op, int nin, bool seq_in, bool seq_out,
                    const int64_t *wdims, const struct ml_opts *opts, struct ml_model **out,
                    struct ag_err *e)
{
    static const char *names[3] = {"a", "b", "w"};
    size_t len;
    uint8_t *buf;
    void *wdata = NULL;
    int rc;

    memset(o, 0, sizeof(*o));
    onnx__model_proto__init(&o->m);
    onnx__graph_proto__init(&o->g);
    onnx__operator_set_id_proto__init(&o->op);
    o->op.domain = "";
    o->op.has_version = 1;
    o->op.version = 17;
    o->ops[0] = &o->op;
    o->m.opset_import = o->ops;
    o->m.n_opset_import = 1;
    o->m.has_ir_version = 1;
    o->m.ir_version = 8;
    o->m.graph = &o->g;
    onnx__node_proto__init(&o->n);
    o->n.op_type = (char *)op;
    for (int i = 0; i < nin; i++)
        o->nin[i] = (char *)names[i];
    if (wdims)
        o->nin[nin] = "w";
    o->n.input = o->nin;
    o->n.n_input = (size_t)nin + (wdims ? 1 : 0);
    o->nout[0] = "y";
    o->n.output = o->nout;
    o->n.n_output = 1;
    o->np[0] = &o->n;
    for (int i = 0; i < nin; i++)
        o->in[i] = one_vi(o, i, names[i], seq_in);
    o->out[0] = one_vi(o, 2, "y", seq_out);
    o->g.node = o->np;
    o->g.n_node = 1;
    o->g.input = o->in;
    o->g.n_input = (size_t)nin;
    o->g.output = o->out;
    o->g.n_output = 1;
    if (wdims) {
        int64_t n = 1;
        for (int i = 0; i < 4; i++)
            n *= (o->wdims[i] = wdims[i]);
        wdata = calloc((size_t)n, sizeof(float));
        ASSERT(wdata != NULL);
        for (int64_t i = 0; i < n; i++)
            ((float *)wdata)[i] = (float)((i * 31) % 17) / 16.0f - 0.5f;
        onnx__tensor_proto__init(&o->w);
        o->w.name = "w";
        o->w.has_data_type = 1;
        o->w.data_type = ML_FLOAT;
        o->w.dims = o->wdims;
        o->w.n_dims = 4;
        o->w.has_raw_data = 1;
        o->w.raw_data.data = wdata;
        o->w.raw_data.len = (size_t)n * sizeof(float);
        o->wp[0] = &o->w;
        o->g.initializer = o->wp;
        o->g.n_initializer = 1;
    }
    len = onnx__model_proto__get_packed_size(&o->m);
    buf = malloc(len);
    ASSERT(buf != NULL);
    onnx__model_proto__pack(&o->m, buf);
    rc = ml_model_load_buf(out, buf, len, NULL, opts, e);
    free(buf);
    free(wdata);
    return rc;
}

static void zeros(struct ml_tensor *t, int ndim, const int64_t *dims)
{
    ml_tensor_init(t);
    ASSERT_OK(ml_tensor_alloc(t, ML_FLOAT, ndim, dims, NULL));
}

/* One Conv of 64 -> 1024 channels, 7x7, on 128x128: about 5e10
 * multiply-adds, many seconds even on a fast core. With a deadline a tenth
 * of a second away, only the kernel's own checks can stop it in time; the
 * test asserts the error it returns, not how long it took. */
static void huge_conv(int threads)
{
    static const int64_t wdims[4] = {1024, 64, 7, 7}, xdims[4] = {1, 64, 128, 128};
    struct ml_opts opts = {.threads = threads};
    struct one o;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_tensor x, y;
    const struct ml_tensor *ins[1] = {&x};
    struct ml_run_limits lim;

    ASSERT_OK(one_load(&o, "Conv", 1, false, false, wdims, &opts, &m, &e));
    zeros(&x, 4, xdims);
    ml_tensor_init(&y);
    lim = (struct ml_run_limits){.deadline_us = time_mono_us() + 100000};
    ASSERT_EQ(ml_model_run_limited(m, ins, &y, &lim, &e), AG_ETIMEOUT);
    ASSERT(strstr(e.msg, "time limit") != NULL);
    ASSERT(y.data == NULL);
    ASSERT_EQ(m->pool.live, 0); /* the scratch and output went back */
    ml_tensor_release(&x);
    ml_model_free(m);
}

TEST(huge_conv_stops_at_the_deadline)
{
    huge_conv(1);
}

TEST(huge_conv_stops_at_the_deadline_2threads)
{
    huge_conv(2);
}

static void *cancel_soon(void *arg)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}

/* One MatMul of 4096x2048 by 2048x4096 (3.4e10 multiply-adds), cancelled
 * from another thread while it runs. */
TEST(huge_matmul_stops_when_cancelled)
{
    static const int64_t adims[2] = {4096, 2048}, bdims[2] = {2048, 4096};
    for (int threads = 1; threads <= 2; threads++) {
        struct ml_opts opts = {.threads = threads};
        struct one o;
        struct ml_model *m = NULL;
        struct ag_err e = {0};
        struct ml_tensor a, b, y;
        const struct ml_tensor *ins[2] = {&a, &b};
        atomic_int cancel = 0;
        struct ml_run_limits lim = {.cancel = &cancel};
        pthread_t th;

        ASSERT_OK(one_load(&o, "MatMul", 2, false, false, NULL, &opts, &m, &e));
        zeros(&a, 2, adims);
        zeros(&b, 2, bdims);
        ml_tensor_init(&y);
        ASSERT_OK(pthread_create(&th, NULL, cancel_soon, &cancel));
        ASSERT_EQ(ml_model_run_limited(m, ins, &y, &lim, &e), AG_EUNAVAILABLE);
        pthread_join(th, NULL);
        ASSERT(strstr(e.msg, "cancelled") != NULL);
        ASSERT(y.data == NULL);
        ml_tensor_release(&a);
        ml_tensor_release(&b);
        ml_model_free(m);
    }
}

/* A model with a sequence output loads only for callers that said they
 * handle sequences; then SplitToSequence gives a sequence whose buffers come
 * from the pool and leave its books when handed over. */
TEST(sequence_outputs_need_sequence_io)
{
    static const int64_t xdims[2] = {3, 2};
    struct ml_opts opts = {.sequence_io = true};
    struct one o;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_tensor x, y;
    const struct ml_tensor *ins[1] = {&x};
    const struct ml_tensor *el;

    ASSERT_EQ(one_load(&o, "SplitToSequence", 1, false, true, NULL, NULL, &m, &e),
              AG_EUNPROCESSABLE);
    ASSERT(strstr(e.msg, "sequence") != NULL);
    ASSERT_OK(one_load(&o, "SplitToSequence", 1, false, true, NULL, &opts, &m, &e));
    ASSERT_EQ(ml_model_output_kind(m, 0), ML_KIND_SEQUENCE);
    zeros(&x, 2, xdims);
    for (int i = 0; i < 6; i++)
        ((float *)x.data)[i] = (float)i;
    for (int run = 0; run < 2; run++) {
        ml_tensor_init(&y);
        ASSERT_OK(ml_model_run(m, ins, &y, &e));
        ASSERT_EQ(y.dtype, ML_SEQUENCE);
        ASSERT_EQ(y.n, 3);
        ASSERT_EQ(y.elem_dtype, ML_FLOAT);
        el = y.data;
        ASSERT_EQ(el[2].ndim, 2);
        ASSERT_EQ(el[2].dims[0], 1);
        ASSERT_EQ(el[2].dims[1], 2);
        ASSERT(((float *)el[2].data)[1] == 5);
        ASSERT_EQ(m->pool.live, 0);
        ml_tensor_release(&y);
    }
    ml_tensor_release(&x);
    ml_model_free(m);
}

/* A sequence input: ConcatFromSequence needs its axis attribute, and a
 * tensor given for a sequence input is refused with the input's name. */
TEST(sequence_inputs_are_checked)
{
    struct ml_opts opts = {.sequence_io = true};
    struct one o;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_tensor x, y;
    const struct ml_tensor *ins[1] = {&x};
    int64_t one = 1;

    ASSERT_OK(one_load(&o, "SequenceLength", 1, true, false, NULL, &opts, &m, &e));
    zeros(&x, 1, &one);
    ml_tensor_init(&y);
    ASSERT_EQ(ml_model_run(m, ins, &y, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "\"a\" must be a sequence") != NULL);
    ml_tensor_release(&x);
    ASSERT_OK(ml_tensor_alloc(&x, ML_SEQUENCE, 1, &one, NULL));
    ASSERT_OK(ml_tensor_alloc(&((struct ml_tensor *)x.data)[0], ML_FLOAT, 1, &one, NULL));
    x.elem_dtype = ML_FLOAT;
    /* The output is declared a tensor: SequenceLength's int64 is not float,
     * but the runner does not check output types; the value is what counts. */
    ASSERT_OK(ml_model_run(m, ins, &y, &e));
    ASSERT_EQ(y.dtype, ML_INT64);
    ASSERT_EQ(((int64_t *)y.data)[0], 1);
    ml_tensor_release(&y);
    ml_tensor_release(&x);
    ml_model_free(m);
}

/* Under limits that are never hit, results stay those of an unlimited run:
 * bit for bit for a convolution (only the chunking changes), within
 * rounding for a GEMM split into blocks (OpenBLAS's own blocking, and so the
 * order of its sums, depends on the block's size, exactly as when the split
 * is by threads). */
TEST(limits_do_not_change_results)
{
    static const int64_t adims[2] = {520, 1000}, bdims[2] = {1000, 700};
    static const int64_t wdims[4] = {32, 16, 3, 3}, xdims[4] = {1, 16, 40, 40};
    for (int threads = 1; threads <= 2; threads++) {
        struct ml_opts opts = {.threads = threads};
        struct one o;
        struct ml_model *m = NULL;
        struct ag_err e = {0};
        struct ml_tensor a, b, y1, y2;
        const struct ml_tensor *ins[2] = {&a, &b};
        struct ml_run_limits lim = {.deadline_us = time_mono_us() + 600 * 1000000LL};
        double worst = 0;

        ASSERT_OK(one_load(&o, "MatMul", 2, false, false, NULL, &opts, &m, &e));
        zeros(&a, 2, adims);
        zeros(&b, 2, bdims);
        for (int64_t i = 0; i < a.n; i++)
            ((float *)a.data)[i] = (float)((i * 7919) % 1000) / 997.0f - 0.5f;
        for (int64_t i = 0; i < b.n; i++)
            ((float *)b.data)[i] = (float)((i * 104729) % 1000) / 991.0f - 0.5f;
        ml_tensor_init(&y1);
        ml_tensor_init(&y2);
        ASSERT_OK(ml_model_run(m, ins, &y1, &e));
        ASSERT_OK(ml_model_run_limited(m, ins, &y2, &lim, &e));
        ASSERT_EQ(y1.n, 520 * 700);
        for (int64_t i = 0; i < y1.n; i++) {
            double d = fabs((double)((float *)y1.data)[i] - ((float *)y2.data)[i]);
            worst = d > worst ? d : worst;
        }
        ASSERT(worst < 1e-4); /* sums of 1000 products of magnitude 0.25 */
        ml_tensor_release(&y1);
        ml_tensor_release(&y2);
        ml_tensor_release(&a);
        ml_tensor_release(&b);
        ml_model_free(m);

        /* A convolution whose weights are an input (the im2col path) and one
         * with constant weights (the packed kernel). */
        for (int packed = 0; packed <= 1; packed++) {
            const struct ml_tensor *cin[2] = {&a, &b};
            if (packed)
                ASSERT_OK(one_load(&o, "Conv", 1, false, false, wdims, &opts, &m, &e));
            else
                ASSERT_OK(one_load(&o, "Conv", 2, false, false, NULL, &opts, &m, &e));
            zeros(&a, 4, xdims);
            zeros(&b, 4, wdims);
            for (int64_t i = 0; i < a.n; i++)
                ((float *)a.data)[i] = (float)((i * 7919) % 1000) / 997.0f - 0.5f;
            for (int64_t i = 0; i < b.n; i++)
                ((float *)b.data)[i] = (float)((i * 104729) % 1000) / 991.0f - 0.5f;
            ml_tensor_init(&y1);
            ml_tensor_init(&y2);
            ASSERT_OK(ml_model_run(m, cin, &y1, &e));
            ASSERT_OK(ml_model_run_limited(m, cin, &y2, &lim, &e));
            ASSERT_EQ(y1.n, 32 * 38 * 38);
            ASSERT(memcmp(y1.data, y2.data, sizeof(float) * (size_t)y1.n) == 0);
            ASSERT(((float *)y1.data)[100] != 0);
            ml_tensor_release(&y1);
            ml_tensor_release(&y2);
            ml_tensor_release(&a);
            ml_tensor_release(&b);
            ml_model_free(m);
        }
    }
}
