/* test_run_limits.c - per-run limits (deadline, cancel flag) and declared input shapes (issue 5).
 */
#include "core/common.h"
#include "core/err.h"
#include "core/util.h"
#include "ml/internal.h"
#include "test.h"

/* A model y = Relu(Relu(x)), x declared float32 [N, 4] (N symbolic). */
struct tiny {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto op, *ops[1];
    Onnx__NodeProto n[2], *np[2];
    char *nin[2][1], *nout[2][1];
    Onnx__ValueInfoProto vx, vy, *in[1], *out[1];
    Onnx__TypeProto tx, ty;
    Onnx__TypeProto__Tensor ttx, tty;
    Onnx__TensorShapeProto sx;
    Onnx__TensorShapeProto__Dimension d[2], *dp[2];
};

static int tiny_load(struct tiny *t, struct ml_model **out, struct ag_err *e)
{
    static const char *names[3] = {"x", "h", "y"};
    size_t len;
    uint8_t *buf;
    int rc;

    memset(t, 0, sizeof(*t));
    onnx__model_proto__init(&t->m);
    onnx__graph_proto__init(&t->g);
    onnx__operator_set_id_proto__init(&t->op);
    t->op.domain = "";
    t->op.has_version = 1;
    t->op.version = 17;
    t->ops[0] = &t->op;
    t->m.opset_import = t->ops;
    t->m.n_opset_import = 1;
    t->m.has_ir_version = 1;
    t->m.ir_version = 8;
    t->m.graph = &t->g;
    for (int i = 0; i < 2; i++) {
        onnx__node_proto__init(&t->n[i]);
        t->n[i].op_type = "Relu";
        t->nin[i][0] = (char *)names[i];
        t->nout[i][0] = (char *)names[i + 1];
        t->n[i].input = t->nin[i];
        t->n[i].n_input = 1;
        t->n[i].output = t->nout[i];
        t->n[i].n_output = 1;
        t->np[i] = &t->n[i];
        onnx__tensor_shape_proto__dimension__init(&t->d[i]);
        t->dp[i] = &t->d[i];
    }
    t->d[0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    t->d[0].dim_param = "N";
    t->d[1].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    t->d[1].dim_value = 4;
    onnx__tensor_shape_proto__init(&t->sx);
    t->sx.dim = t->dp;
    t->sx.n_dim = 2;
    onnx__type_proto__tensor__init(&t->ttx);
    onnx__type_proto__tensor__init(&t->tty);
    t->ttx.has_elem_type = t->tty.has_elem_type = 1;
    t->ttx.elem_type = t->tty.elem_type = ML_FLOAT;
    t->ttx.shape = &t->sx; /* y's shape stays undeclared */
    onnx__type_proto__init(&t->tx);
    onnx__type_proto__init(&t->ty);
    t->tx.value_case = t->ty.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tx.tensor_type = &t->ttx;
    t->ty.tensor_type = &t->tty;
    onnx__value_info_proto__init(&t->vx);
    onnx__value_info_proto__init(&t->vy);
    t->vx.name = "x";
    t->vx.type = &t->tx;
    t->vy.name = "y";
    t->vy.type = &t->ty;
    t->in[0] = &t->vx;
    t->out[0] = &t->vy;
    t->g.node = t->np;
    t->g.n_node = 2;
    t->g.input = t->in;
    t->g.n_input = 1;
    t->g.output = t->out;
    t->g.n_output = 1;
    len = onnx__model_proto__get_packed_size(&t->m);
    buf = malloc(len);
    ASSERT(buf != NULL);
    onnx__model_proto__pack(&t->m, buf);
    rc = ml_model_load_buf(out, buf, len, NULL, NULL, e);
    free(buf);
    return rc;
}

static void input_1x4(struct ml_tensor *x)
{
    int64_t dims[] = {1, 4};
    float v[] = {-1, 2, -3, 4};
    ASSERT_OK(ml_tensor_alloc(x, ML_FLOAT, 2, dims, NULL));
    memcpy(x->data, v, sizeof(v));
}

TEST(run_limited_stops_at_the_deadline_and_stays_usable)
{
    struct tiny t;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_tensor x, y;
    const struct ml_tensor *ins[1] = {&x};
    struct ml_run_limits lim = {.deadline_us = time_mono_us() - 1};

    ASSERT_OK(tiny_load(&t, &m, &e));
    input_1x4(&x);
    ml_tensor_init(&y);
    ASSERT_EQ(ml_model_run_limited(m, ins, &y, &lim, &e), AG_ETIMEOUT);
    ASSERT_EQ(e.code, AG_ETIMEOUT);
    ASSERT(strstr(e.msg, "time limit") != NULL);
    ASSERT(y.data == NULL);     /* outputs left empty */
    ASSERT_EQ(m->pool.live, 0); /* nothing held back */
    /* A later deadline, and no limits at all: the same model runs. */
    lim.deadline_us = time_mono_us() + 60 * 1000000LL;
    ASSERT_OK(ml_model_run_limited(m, ins, &y, &lim, &e));
    ASSERT_EQ(y.n, 4);
    ASSERT(((float *)y.data)[0] == 0 && ((float *)y.data)[3] == 4);
    ml_tensor_release(&y);
    ASSERT_OK(ml_model_run(m, ins, &y, &e));
    ASSERT(((float *)y.data)[1] == 2);
    ml_tensor_release(&y);
    ml_tensor_release(&x);
    ml_model_free(m);
}

TEST(run_limited_honours_the_cancel_flag)
{
    struct tiny t;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    struct ml_tensor x, y;
    const struct ml_tensor *ins[1] = {&x};
    atomic_int cancel = 1;
    struct ml_run_limits lim = {.cancel = &cancel};

    ASSERT_OK(tiny_load(&t, &m, &e));
    input_1x4(&x);
    ml_tensor_init(&y);
    ASSERT_EQ(ml_model_run_limited(m, ins, &y, &lim, &e), AG_EUNAVAILABLE);
    ASSERT(strstr(e.msg, "cancelled") != NULL);
    atomic_store(&cancel, 0);
    ASSERT_OK(ml_model_run_limited(m, ins, &y, &lim, &e));
    ASSERT_EQ(y.n, 4);
    ml_tensor_release(&y);
    ml_tensor_release(&x);
    ml_model_free(m);
}

TEST(input_shape_reports_fixed_and_symbolic_dims)
{
    struct tiny t;
    struct ml_model *m = NULL;
    struct ag_err e = {0};
    int64_t dims[ML_MAX_DIMS];
    int ndim = 0;

    ASSERT_OK(tiny_load(&t, &m, &e));
    ml_model_input_shape(m, 0, &ndim, dims);
    ASSERT_EQ(ndim, 2);
    ASSERT_EQ(dims[0], -1);
    ASSERT_EQ(dims[1], 4);
    ml_model_free(m);
}
