/* test_ml.c - unit tests of the ONNX engine: tensors, .npy, loader validation, executor. */
#include "core/common.h"
#include "core/err.h"
#include "ml/internal.h"
#include "test.h"

#include <math.h>

/* ---- a tiny model builder on the generated protobuf-c structs ---- */

struct mb {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op;
    Onnx__OperatorSetIdProto *ops[1];
    Onnx__NodeProto nodes[8], *np[8];
    Onnx__ValueInfoProto vis[8], *in[4], *out[4];
    Onnx__TypeProto types[8];
    Onnx__TypeProto__Tensor tt[8];
    Onnx__TensorProto inits[4], *ip[4];
    char *ins[8][3], *outs[8][2];
    int nvi;
};

static void mb_init(struct mb *b, int opset)
{
    memset(b, 0, sizeof(*b));
    onnx__model_proto__init(&b->m);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->op);
    b->op.domain = "";
    b->op.has_version = 1;
    b->op.version = opset;
    b->ops[0] = &b->op;
    b->m.n_opset_import = 1;
    b->m.opset_import = b->ops;
    b->m.has_ir_version = 1;
    b->m.ir_version = 8;
    b->m.graph = &b->g;
    b->g.node = b->np;
    b->g.input = b->in;
    b->g.output = b->out;
    b->g.initializer = b->ip;
}

static Onnx__ValueInfoProto *mb_vi(struct mb *b, const char *name, int dtype)
{
    int i = b->nvi++;
    onnx__value_info_proto__init(&b->vis[i]);
    onnx__type_proto__init(&b->types[i]);
    onnx__type_proto__tensor__init(&b->tt[i]);
    b->tt[i].has_elem_type = 1;
    b->tt[i].elem_type = dtype;
    b->types[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->types[i].tensor_type = &b->tt[i];
    b->vis[i].name = (char *)name;
    b->vis[i].type = &b->types[i];
    return &b->vis[i];
}

static void mb_input(struct mb *b, const char *name)
{
    b->in[b->g.n_input++] = mb_vi(b, name, ML_FLOAT);
}

static void mb_output(struct mb *b, const char *name)
{
    b->out[b->g.n_output++] = mb_vi(b, name, ML_FLOAT);
}

static void mb_node(struct mb *b, const char *op, const char *a, const char *c, const char *y)
{
    size_t i = b->g.n_node++;
    Onnx__NodeProto *n = &b->nodes[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    b->ins[i][0] = (char *)a;
    b->ins[i][1] = (char *)c;
    n->input = b->ins[i];
    n->n_input = c ? 2 : 1;
    b->outs[i][0] = (char *)y;
    n->output = b->outs[i];
    n->n_output = 1;
    b->np[i] = n;
}

/* Packs the model and loads it. */
static int mb_load(struct mb *b, struct ml_model **m, struct ag_err *e)
{
    size_t len = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = malloc(len + 1);
    int rc;
    onnx__model_proto__pack(&b->m, buf);
    rc = ml_model_load_buf(m, buf, len, NULL, NULL, e);
    free(buf);
    return rc;
}

static void tensor_f32(struct ml_tensor *t, int ndim, const int64_t *dims, const float *v)
{
    ASSERT_OK(ml_tensor_alloc(t, ML_FLOAT, ndim, dims, NULL));
    memcpy(t->data, v, sizeof(float) * (size_t)t->n);
}

/* ---- tests ---- */

TEST(half_conversions)
{
    ASSERT_EQ(ml_float_to_half(1.0f), 0x3c00);
    ASSERT_EQ(ml_float_to_half(-2.0f), 0xc000);
    ASSERT_EQ(ml_float_to_half(65504.0f), 0x7bff);
    ASSERT_EQ(ml_float_to_half(1e6f), 0x7c00);
    ASSERT(ml_half_to_float(0x3555) > 0.333f && ml_half_to_float(0x3555) < 0.3334f);
    ASSERT(isnan(ml_half_to_float(ml_float_to_half(NAN))));
    ASSERT_EQ(ml_float_to_half(ml_half_to_float(0x0001)), 0x0001); /* subnormal */
    ASSERT_EQ(ml_float_to_bf16(1.0f), 0x3f80);
    ASSERT(ml_bf16_to_float(0x4049) > 3.14f && ml_bf16_to_float(0x4049) < 3.15f);
}

TEST(broadcast_shapes)
{
    int64_t a[] = {2, 1, 4}, b[] = {3, 1}, out[ML_MAX_DIMS], c[] = {5};
    int n;
    ASSERT_OK(ml_broadcast_shape(3, a, 2, b, &n, out));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(out[0], 2);
    ASSERT_EQ(out[1], 3);
    ASSERT_EQ(out[2], 4);
    ASSERT(ml_broadcast_shape(3, a, 1, c, &n, out) != 0);
}

TEST(npy_roundtrip)
{
    const char *dir = test_tmpdir();
    char path[512];
    struct ml_tensor t, r;
    int64_t dims[] = {2, 3};
    float v[] = {1, -2, 3.5f, 0, 1e-3f, 7};
    tensor_f32(&t, 2, dims, v);
    snprintf(path, sizeof(path), "%s/a.npy", dir);
    ASSERT_OK(ml_npy_write(&t, path, NULL));
    ml_tensor_init(&r);
    ASSERT_OK(ml_npy_read(&r, path, NULL));
    ASSERT_EQ(r.dtype, ML_FLOAT);
    ASSERT_EQ(r.ndim, 2);
    ASSERT_EQ(r.dims[1], 3);
    ASSERT(!memcmp(r.data, v, sizeof(v)));
    ml_tensor_release(&t);
    ml_tensor_release(&r);
}

TEST(npy_versions_and_errors)
{
    /* Version 2.0 header, int64 scalar. */
    const char hdr[] = "{'descr': '<i8', 'fortran_order': False, 'shape': (), }";
    unsigned char buf[256] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0};
    size_t hl = sizeof(hdr) - 1, off = 12;
    int64_t val = -42;
    struct ml_tensor t;
    struct ag_err e = {0};
    buf[8] = (unsigned char)hl;
    memcpy(buf + off, hdr, hl);
    memcpy(buf + off + hl, &val, 8);
    ml_tensor_init(&t);
    ASSERT_OK(ml_npy_parse(&t, buf, off + hl + 8, NULL));
    ASSERT_EQ(t.dtype, ML_INT64);
    ASSERT_EQ(t.ndim, 0);
    ASSERT_EQ(((int64_t *)t.data)[0], -42);
    ml_tensor_release(&t);
    /* Truncated data. */
    ASSERT_EQ(ml_npy_parse(&t, buf, off + hl + 4, &e), AG_EINVAL);
    /* Fortran order is refused with a clear message. */
    const char fh[] = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }";
    memcpy(buf + off, fh, sizeof(fh) - 1);
    buf[8] = (unsigned char)(sizeof(fh) - 1);
    ASSERT_EQ(ml_npy_parse(&t, buf, off + sizeof(fh) - 1 + 4, &e), AG_EUNPROCESSABLE);
    ASSERT(strstr(e.msg, "Fortran") != NULL);
    ASSERT(ml_npy_parse(&t, "garbage!!!!!", 12, NULL) != 0);
}

TEST(run_add_relu_and_reuse_buffers)
{
    struct mb b;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_tensor x, y, outs[1];
    const struct ml_tensor *ins[2];
    int64_t dims[] = {2, 2};
    float xv[] = {1, -2, 3, -4}, yv[] = {0.5f, 0.5f, -5, 5};
    mb_init(&b, 17);
    mb_input(&b, "x");
    mb_input(&b, "y");
    mb_node(&b, "Add", "x", "y", "s");
    mb_node(&b, "Relu", "s", NULL, "r");
    mb_node(&b, "Mul", "r", "r", "z");
    mb_output(&b, "z");
    ASSERT_OK(mb_load(&b, &m, &e));
    ASSERT_EQ(ml_model_n_inputs(m), 2);
    ASSERT_STR_EQ(ml_model_output_name(m, 0), "z");
    tensor_f32(&x, 2, dims, xv);
    tensor_f32(&y, 2, dims, yv);
    ins[0] = &x;
    ins[1] = &y;
    for (int round = 0; round < 3; round++) {
        ml_tensor_init(&outs[0]);
        ASSERT_OK(ml_model_run(m, ins, outs, &e));
        ASSERT_EQ(outs[0].n, 4);
        ASSERT(((float *)outs[0].data)[0] == 2.25f);
        ASSERT(((float *)outs[0].data)[1] == 0);
        ASSERT(((float *)outs[0].data)[2] == 0);
        ASSERT(((float *)outs[0].data)[3] == 1);
        ml_tensor_release(&outs[0]);
        /* Everything the run allocated went back to the pool or to the caller. */
        ASSERT_EQ(m->pool.live, 0);
        ASSERT(m->pool.nfree <= 3);
    }
    ml_tensor_release(&x);
    ml_tensor_release(&y);
    ml_model_free(m);
}

TEST(plan_frees_after_last_use)
{
    struct mb b;
    struct ml_model *m = NULL;
    mb_init(&b, 17);
    mb_input(&b, "x");
    mb_node(&b, "Relu", "x", NULL, "a");
    mb_node(&b, "Neg", "a", NULL, "c");
    mb_node(&b, "Abs", "c", NULL, "d");
    mb_output(&b, "d");
    ASSERT_OK(mb_load(&b, &m, NULL));
    /* "a" dies at node 1, "c" at node 2; the graph input is never freed. */
    ASSERT_EQ(m->nodes[0].nfree, 0);
    ASSERT_EQ(m->nodes[1].nfree, 1);
    ASSERT_STR_EQ(m->values[m->nodes[1].free_after[0]].name, "a");
    ASSERT_EQ(m->nodes[2].nfree, 1);
    ml_model_free(m);
}

TEST(rejects_cycles_unknown_ops_and_old_opsets)
{
    struct mb b;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    mb_init(&b, 17);
    mb_input(&b, "x");
    mb_node(&b, "Relu", "b", NULL, "a");
    mb_node(&b, "Relu", "a", NULL, "b");
    mb_output(&b, "b");
    ASSERT_EQ(mb_load(&b, &m, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "topological") != NULL);

    mb_init(&b, 17);
    mb_input(&b, "x");
    mb_node(&b, "NoSuchOp", "x", NULL, "y");
    mb_output(&b, "y");
    ASSERT_EQ(mb_load(&b, &m, &e), AG_EUNPROCESSABLE);
    ASSERT(strstr(e.msg, "NoSuchOp") != NULL);

    /* Old opsets load, except operator versions whose semantics differ. */
    mb_init(&b, 6);
    mb_input(&b, "x");
    mb_node(&b, "Relu", "x", NULL, "y");
    mb_output(&b, "y");
    ASSERT_OK(mb_load(&b, &m, &e));
    ml_model_free(m);
    m = NULL;
    mb_init(&b, 6);
    mb_input(&b, "x");
    mb_node(&b, "Upsample", "x", NULL, "y");
    mb_output(&b, "y");
    ASSERT_EQ(mb_load(&b, &m, &e), AG_EUNPROCESSABLE);
    ASSERT(strstr(e.msg, "before opset 7") != NULL);

    mb_init(&b, 17);
    mb_input(&b, "x");
    mb_node(&b, "Relu", "x", NULL, "y");
    mb_node(&b, "Relu", "x", NULL, "y");
    mb_output(&b, "y");
    ASSERT_EQ(mb_load(&b, &m, &e), AG_EINVAL); /* produced twice */
    ASSERT(ml_model_load_buf(&m, "\x0a\xff\xff", 3, NULL, NULL, &e) != 0);
}

TEST(input_type_checked)
{
    struct mb b;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_tensor x, out;
    const struct ml_tensor *ins[1] = {&x};
    int64_t dims[] = {1};
    mb_init(&b, 17);
    mb_input(&b, "x");
    mb_node(&b, "Relu", "x", NULL, "y");
    mb_output(&b, "y");
    ASSERT_OK(mb_load(&b, &m, NULL));
    ASSERT_OK(ml_tensor_alloc(&x, ML_INT32, 1, dims, NULL));
    ml_tensor_init(&out);
    ASSERT_EQ(ml_model_run(m, ins, &out, &e), AG_EINVAL);
    ASSERT(strstr(e.msg, "float32") != NULL);
    ASSERT(out.data == NULL);
    ml_tensor_release(&x);
    ml_model_free(m);
}

static void sum_chunk(void *arg, int64_t lo, int64_t hi)
{
    int64_t *v = arg;
    for (int64_t i = lo; i < hi; i++)
        v[i] = i * 2;
}

TEST(parallel_for_covers_every_index)
{
    struct ml_model m;
    int64_t *v = calloc(100003, sizeof(int64_t));
    memset(&m, 0, sizeof(m));
    ASSERT_OK(ml_threads_init(&m.threads, 3));
    for (int round = 0; round < 5; round++) {
        memset(v, 0, 100003 * sizeof(int64_t));
        ml_parallel_for(&m, 100003, 100, sum_chunk, v);
        for (int64_t i = 0; i < 100003; i++)
            ASSERT_EQ(v[i], i * 2);
    }
    ml_threads_release(&m.threads);
    free(v);
}

TEST(gemm_matches_naive)
{
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, -1, 2, 0.5f, 1}, c[4];
    /* [2x3] x [3x2] */
    ml_sgemm(NULL, false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2);
    ASSERT(c[0] == 1 * 1 + 2 * -1 + 3 * 0.5f);
    ASSERT(c[3] == 4 * 0 + 5 * 2 + 6 * 1);
    ASSERT(strstr(ml_blas_info(), "OpenBLAS") != NULL);
}
