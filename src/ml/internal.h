/* internal.h - what the loader, the executor and the operator kernels share.
 *
 * The graph is in SSA form: every value (graph input, initializer, node
 * output) has one index into model->values. Nodes run in file order, which
 * the loader has checked to be topological. Each kernel reads its inputs
 * (k->in[i], NULL for an omitted optional input) and creates its outputs with
 * ml_out(), which takes buffers from the executor's pool; the executor
 * returns a value's buffer to the pool after its last consumer ran.
 */
#ifndef AGORA_ML_INTERNAL_H
#define AGORA_ML_INTERNAL_H

#include "ml/ml.h"
#include "onnx/onnx-ml.pb-c.h"

#include <pthread.h>

struct ml_model;
struct ml_kctx;

typedef int (*ml_kernel_fn)(struct ml_kctx *k);

/* Kernel flags. */
enum {
    /* float16/bfloat16 inputs are widened to float32 before the kernel and
     * float32 outputs narrowed back after it, for ops whose outputs follow
     * the input type. */
    ML_K_HALF_VIA_FLOAT = 1,
    /* The kernel takes sequences and optionals (ML_SEQUENCE and ML_NONE
     * inputs); other kernels are refused them by the executor. */
    ML_K_VALUES = 2,
};

struct ml_op {
    const char *name;
    const char *domain;  /* "" for the default domain */
    ml_kernel_fn fn;
    int flags;
};

struct ml_value {
    char *name;
    int dtype;                 /* declared element type or ML_UNDEFINED */
    int ndecl;                 /* declared rank, -1 if unknown */
    int kind;                  /* declared kind (enum ml_kind); dtype is its tensors' type */
    struct ml_tensor init;     /* initializer data when is_init */
    bool is_init, is_input, is_output;
    int outer;                 /* index of the value in the parent graph, or -1 */
    int input_index;           /* index among graph inputs, or -1 */
    int last_use;              /* last node reading it; -1 if none */
    struct ml_tensor *rt;      /* runtime slot */
};

struct ml_node {
    const Onnx__NodeProto *p;
    const struct ml_op *op;
    int nin, nout;
    int *in;                   /* value indices; -1 for omitted */
    int *out;
    int *free_after;           /* values whose buffers return to the pool here */
    int nfree;
    bool skip;                 /* folded into an earlier node by fuse.c */
    struct ml_model *sub[2];   /* If: then/else branches; Loop: body in sub[0] */
    int *implicit;             /* parent values read by the subgraphs */
    int nimplicit;
    int act;                   /* fused activation applied to the output (ML_ACT_*) */
    struct ml_tensor fw, fb;   /* fused weights and bias replacing inputs 1 and 2 */
    float *wpack;              /* Conv: constant weights packed for the AVX2 kernel, or NULL */
    int64_t wpack_k;           /* Conv: the packed weights' row length (channels/group x kernel) */
};

enum { ML_ACT_NONE, ML_ACT_RELU };

/* fuse.c: folds BatchNormalization and Relu into the Conv before them and
 * Relu into Gemm, when the intermediate values have no other reader. */
int ml_fuse(struct ml_model *m, struct ag_err *e);

/* Buffer pool for intermediate tensors. */
struct ml_block {
    void *p;
    size_t cap;
};

struct ml_pool {
    struct ml_block *free;
    int nfree, capfree;
    size_t live;        /* bytes handed out and not yet returned */
    size_t held;        /* bytes sitting in the free list */
    size_t limit;
};

/* A tiny fork-join thread pool: ml_parallel_for() splits [0, n) into chunks. */
struct ml_threads {
    int n;                      /* workers including the caller */
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    void (*fn)(void *arg, int64_t lo, int64_t hi);
    void *arg;
    int64_t total, next, chunk;
    int busy;                   /* chunks being run right now */
    unsigned gen;
    bool quit;
    struct ml_model *stop;      /* the current loop's model when its run has limits */
};

struct ml_model {
    Onnx__ModelProto *proto;
    char *dir;                  /* directory for external data, or NULL */
    int opset;                  /* default-domain opset */
    int opset_ml;               /* ai.onnx.ml opset, 0 if absent */
    struct ml_value *values;
    int nvalues;
    struct ml_node *nodes;
    int nnodes;
    int *inputs;                /* value indices of graph inputs (no initializers) */
    int ninputs;
    int *outputs;
    int noutputs;
    struct ml_tensor *slots;    /* runtime tensors, one per value */
    struct ml_pool pool;
    struct ml_threads threads;
    struct ml_opts opts;
    int64_t *node_us;           /* per-node run time when profiling, else NULL */
    struct ml_model *parent;    /* for subgraphs: the graph whose values `outer` indexes */
    struct ml_threads *tp;      /* the thread pool in use (a subgraph shares its root's) */
    /* Root graphs only: the limits of the run in progress (NULL: none) and,
     * once they are hit, the error code (AG_ETIMEOUT or AG_EUNAVAILABLE)
     * that every thread sees and stops on. */
    const struct ml_run_limits *lim;
    atomic_int stopped;
};

struct ml_kctx {
    struct ml_model *m;
    const struct ml_node *node;
    struct ml_tensor **in;
    int nin;
    struct ml_tensor **out;
    int nout;
    int opset;
    struct ag_err *e;
};

/* ml_subgraph_run() runs subgraph `sub` of the running parent with `inputs`
 * (by the subgraph's input order) into `outputs` (owned by the caller). */
int ml_subgraph_run(struct ml_model *sub, const struct ml_tensor *const *inputs,
                    struct ml_tensor *outputs, struct ag_err *e);

/* Registry (ops.c). */
const struct ml_op *ml_op_find(const char *domain, const char *name);

/* Attributes of the node being run. */
const Onnx__AttributeProto *ml_attr(const struct ml_kctx *k, const char *name);
int64_t ml_attr_int(const struct ml_kctx *k, const char *name, int64_t def);
float ml_attr_float(const struct ml_kctx *k, const char *name, float def);
const char *ml_attr_str(const struct ml_kctx *k, const char *name, const char *def);
/* ml_attr_ints() returns the list (NULL if absent) and its length in *n. */
const int64_t *ml_attr_ints(const struct ml_kctx *k, const char *name, size_t *n);
const float *ml_attr_floats(const struct ml_kctx *k, const char *name, size_t *n);

/* ml_out() gives output `i` dtype and shape and a pool buffer (not zeroed);
 * returns NULL after recording an error in k->e (size cap or no memory). A
 * NULL slot (output not wanted) gets a scratch tensor all the same. */
struct ml_tensor *ml_out(struct ml_kctx *k, int i, int dtype, int ndim, const int64_t *dims);
/* ml_out_like() is ml_out() with the shape of `t`. */
struct ml_tensor *ml_out_like(struct ml_kctx *k, int i, int dtype, const struct ml_tensor *t);
/* Scratch memory from the pool for the duration of a kernel. */
void *ml_scratch(struct ml_kctx *k, size_t bytes);
void ml_scratch_free(struct ml_kctx *k, void *p, size_t bytes);

/* Stopping long kernels (exec.c). ml_stop_check() is true once the run of
 * `m` (or of the graph `m` is a subgraph of) must stop: its deadline passed
 * or its cancel flag is set. It is cheap (one pointer test when the run has
 * no limits), safe from any thread, and sticky; kernels call it per block of
 * work (a band of output rows, a GEMM panel, a time step) and skip the rest.
 * The executor turns a stopped run into its error after the node returns,
 * whatever the kernel wrote. ml_kstop() is the same for a kernel's own
 * sequential loop: it returns 0, or records the run's error in k->e and
 * returns its code. */
bool ml_stop_check(struct ml_model *m);
int ml_kstop(struct ml_kctx *k);
/* ml_run_has_limits() is true while a run of `m` (or of its root) has limits. */
bool ml_run_has_limits(const struct ml_model *m);

/* Sequences and optionals (seq.c; see ml.h for the representation). Values
 * made by these helpers take their memory from the run's pool, so the memory
 * limit counts them. ml_value_out() deep-copies any value (tensor, sequence,
 * ML_NONE) into output i; ml_seq_out() makes output i a sequence of `n`
 * empty elements of type `elem_dtype`, which ml_seq_set() fills one by one
 * with deep copies of tensors. All return 0 / the output, or record the error
 * in k->e and return its code / NULL. */
int ml_value_out(struct ml_kctx *k, int i, const struct ml_tensor *src);
struct ml_tensor *ml_seq_out(struct ml_kctx *k, int i, int64_t n, int elem_dtype);
int ml_seq_set(struct ml_kctx *k, struct ml_tensor *seq, int64_t j, const struct ml_tensor *src);
int ml_none_out(struct ml_kctx *k, int i);
/* ml_value_drop() returns a value's buffers (elements included) to the pool
 * and empties it; ml_value_disown() takes them off the pool's books, for a
 * value handed to a caller who frees it with ml_tensor_release(). */
void ml_value_drop(struct ml_pool *p, struct ml_tensor *t);
void ml_value_disown(struct ml_pool *p, const struct ml_tensor *t);
/* ml_is_value() is true for the non-tensor pseudo types. */
static inline bool ml_is_value(int dtype)
{
    return dtype == ML_SEQUENCE || dtype == ML_NONE;
}
#define ML_SEQ_MAX ((int64_t)1 << 20) /* elements in one sequence */

/* Errors from kernels. */
int ml_kerr(struct ml_kctx *k, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define ML_REQUIRE_IN(k, i)                                                                  \
    do {                                                                                     \
        if ((i) >= (k)->nin || !(k)->in[i])                                                  \
            return ml_kerr(k, AG_EINVAL, "input %d is required", (int)(i));                 \
    } while (0)

/* Pool (exec.c). */
void *ml_pool_get(struct ml_pool *p, size_t bytes, struct ag_err *e);
void ml_pool_put(struct ml_pool *p, void *ptr, size_t cap);
void ml_pool_release(struct ml_pool *p);

/* Threads (threads.c). */
int ml_threads_init(struct ml_threads *t, int n);
void ml_threads_release(struct ml_threads *t);
void ml_parallel_for(struct ml_model *m, int64_t n, int64_t grain,
                     void (*fn)(void *arg, int64_t lo, int64_t hi), void *arg);
/* ml_parallel_for_chunks() is ml_parallel_for() cut into about `per_thread`
 * chunks per thread (ml_parallel_for: 4), none smaller than the grain. Long
 * kernels of equal-sized tasks take more, smaller chunks: a thread that
 * finishes first then waits at most one small chunk for the others. */
void ml_parallel_for_chunks(struct ml_model *m, int64_t n, int64_t grain, int per_thread,
                            void (*fn)(void *arg, int64_t lo, int64_t hi), void *arg);

/* BLAS (blas.c): the one file that calls BLAS. Row-major C = alpha*op(A)*op(B) + beta*C,
 * split over the thread pool of `m` when large (m may be NULL: one thread). */
void ml_sgemm(struct ml_model *m, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc);
void ml_dgemm(struct ml_model *m, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
              double alpha, const double *A, int64_t lda, const double *B, int64_t ldb,
              double beta, double *C, int64_t ldc);
void ml_blas_threads(int n);
const char *ml_blas_info(void);
/* ml_cpu_avx2_fma() is true when the CPU runs AVX2 and FMA (the hand-written
 * kernels' requirement; checked once). */
bool ml_cpu_avx2_fma(void);
/* ml_blas_core_is_old() is true when OpenBLAS runs pre-Haswell kernels. */
bool ml_blas_core_is_old(void);
/* ml_blas_path() returns the path single-precision GEMM takes now:
 * ML_GEMM_OPENBLAS or ML_GEMM_OWN, never ML_GEMM_AUTO. On auto (the default,
 * see ml_blas_force_path() in ml.h) it is OWN when OpenBLAS runs pre-Haswell
 * kernels on a CPU with AVX2 and FMA, decided once, at the first call. */
enum ml_gemm_path ml_blas_path(void);
/* ml_sgemm_avx2() is the engine's own SGEMM (gemm_avx2.c): row-major
 * C = alpha*op(A)*op(B) + beta*C on one thread, for M, N, K >= 1; C is not
 * read when beta is 0. The caller has checked ml_cpu_avx2_fma(). Returns 0,
 * or AG_ENOMEM (C untouched) when its packing buffers cannot be allocated. */
int ml_sgemm_avx2(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* Tensor helpers (tensor.c). */
int64_t ml_numel(int ndim, const int64_t *dims);
int ml_tensor_from_proto(struct ml_tensor *t, const Onnx__TensorProto *p, const char *dir,
                         size_t max_bytes, struct ag_err *e);
/* Element access through double / int64 for slow, generic paths. */
double ml_get_f64(const struct ml_tensor *t, int64_t i);
void ml_set_f64(struct ml_tensor *t, int64_t i, double v);
int64_t ml_get_i64(const struct ml_tensor *t, int64_t i);
/* The first element (scalar inputs) or 0 when the tensor is empty or NULL. */
double ml_first_f64(const struct ml_tensor *t);
int64_t ml_first_i64(const struct ml_tensor *t);
void ml_set_i64(struct ml_tensor *t, int64_t i, int64_t v);
bool ml_is_float(int dtype);
/* ml_f2i() converts a double to int64 without undefined behaviour: NaN is 0,
 * values beyond +-2^62 saturate. For coordinates computed from input data. */
static inline int64_t ml_f2i(double v)
{
    if (v != v)
        return 0;
    if (v > 4.6e18)
        return (int64_t)1 << 62;
    if (v < -4.6e18)
        return -((int64_t)1 << 62);
    return (int64_t)v;
}
bool ml_is_int(int dtype);
bool ml_is_signed(int dtype);
float ml_half_to_float(uint16_t h);
uint16_t ml_float_to_half(float f);
float ml_bf16_to_float(uint16_t h);
uint16_t ml_float_to_bf16(float f);
/* ml_cast_into() converts every element of src into dst (same n). */
int ml_cast_into(struct ml_tensor *dst, const struct ml_tensor *src, bool saturate);
void ml_strides(int ndim, const int64_t *dims, int64_t *strides);
/* ml_axis() normalizes a possibly negative axis into [0, rank); -1 if out of range. */
int ml_axis(int64_t axis, int rank);
/* ml_broadcast_shape() computes the multidirectional broadcast of two shapes. */
int ml_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                       int64_t *out);
/* ml_bcast_strides() gives strides of `t` viewed in the broadcast shape (0 on
 * broadcast dims), right-aligned to `ndim`. */
void ml_bcast_strides(const struct ml_tensor *t, int ndim, const int64_t *dims, int64_t *st);
/* ml_read_ints() reads an integer tensor (int32/int64) into int64 values; returns count. */
int64_t ml_read_ints(const struct ml_tensor *t, int64_t *out, int64_t max);

/* MatMul shape rules (ops_matmul.c), shared with the integer variants:
 * output shape, matrix sizes and the broadcast batch shape. */
int ml_matmul_shapes(const struct ml_tensor *a, const struct ml_tensor *b, int *nd,
                     int64_t *dims, int64_t *M, int64_t *N, int64_t *K, int *nbd, int64_t *bdims);
/* ml_batch_index() maps broadcast batch `bi` to the matrix index inside t. */
int64_t ml_batch_index(int64_t bi, int nbd, const int64_t *bdims, int tn, const int64_t *tdims);
/* ml_conv_pack() packs the constant float weights of 2-D Conv node `n` (after
 * fusion) for the register-blocked AVX2 kernel of ops_conv.c, when the CPU has
 * AVX2 and FMA and the layer suits it; otherwise it leaves n->wpack NULL and
 * the node runs on BLAS. Returns 0 or AG_ENOMEM. */
int ml_conv_pack(struct ml_model *m, struct ml_node *n, struct ag_err *e);
/* Float convolution core (ops_conv.c), shared with ConvInteger/QLinearConv:
 * convolves float x with float w (attributes from the node) into output 0. */
int ml_conv_f32(struct ml_kctx *k, const struct ml_tensor *x, const struct ml_tensor *w,
                const float *bias);

/* Kernel tables, one per operator family (ops_*.c). */
extern const struct ml_op ml_ops_elementwise[], ml_ops_activation[], ml_ops_reduce[],
    ml_ops_matmul[], ml_ops_conv[], ml_ops_pool[], ml_ops_norm[], ml_ops_softmax[],
    ml_ops_shape[], ml_ops_index[], ml_ops_rnn[], ml_ops_quant[], ml_ops_misc[],
    ml_ops_resize[], ml_ops_loss[], ml_ops_extra[], ml_ops_control[], ml_ops_sequence[],
    ml_ops_training[];

#endif
