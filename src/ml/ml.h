/* ml.h - the ONNX inference engine: tensors, model loading, running, .npy files.
 *
 * A model is loaded once (ml_model_load) and run any number of times
 * (ml_model_run); one model must not be run from two threads at once, since
 * it owns its buffer pool and worker threads.
 *
 * Tensors: `data` holds `n` elements of `dtype` in C order. For ML_STRING the
 * data is an array of `n` NUL-terminated malloc'd strings (owned). A tensor
 * owns its data unless `borrowed` is set. Zero-dimensional tensors (scalars)
 * have ndim 0 and n 1; a dimension of 0 gives n 0 and may have data NULL.
 *
 * Sequences and optionals (the non-tensor values ONNX defines) travel in the
 * same struct under two pseudo element types: ML_SEQUENCE (ndim 1, dims[0] =
 * n, `data` an array of n struct ml_tensor elements, each a tensor owned by
 * the sequence unless the sequence is borrowed, all of type `elem_dtype`) and
 * ML_NONE (an optional without a value: n 0, data NULL). An optional that
 * holds a value is simply that value. Only models loaded with
 * `ml_opts.sequence_io` may take or give them at the graph's edges; inside a
 * graph any model may use them.
 *
 * Errors: every function returns 0 or a negative AG_E* code and fills the
 * optional `struct ag_err`. AG_EUNPROCESSABLE means "valid but not supported
 * by this engine" (an unknown operator, a map type); AG_EINVAL and
 * AG_ECORRUPT mean the model or input is malformed; AG_ETOOBIG means a size
 * cap was hit (model file, tensor size, the run's memory limit).
 */
#ifndef AGORA_ML_H
#define AGORA_ML_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define ML_MAX_DIMS 8

/* ONNX TensorProto.DataType values. */
enum ml_dtype {
    ML_UNDEFINED = 0,
    ML_FLOAT = 1,
    ML_UINT8 = 2,
    ML_INT8 = 3,
    ML_UINT16 = 4,
    ML_INT16 = 5,
    ML_INT32 = 6,
    ML_INT64 = 7,
    ML_STRING = 8,
    ML_BOOL = 9,
    ML_FLOAT16 = 10,
    ML_DOUBLE = 11,
    ML_UINT32 = 12,
    ML_UINT64 = 13,
    ML_COMPLEX64 = 14,
    ML_COMPLEX128 = 15,
    ML_BFLOAT16 = 16,
    ML_DTYPE_COUNT_ = 17,
    /* Pseudo element types of the non-tensor values (see above). */
    ML_SEQUENCE = 100,
    ML_NONE = 101
};

/* What a graph input or output is declared to be. */
enum ml_kind {
    ML_KIND_TENSOR = 0,
    ML_KIND_SEQUENCE = 1,          /* a sequence of tensors */
    ML_KIND_OPTIONAL = 2,          /* an optional tensor */
    ML_KIND_OPTIONAL_SEQUENCE = 3  /* an optional sequence of tensors */
};

struct ml_tensor {
    int dtype;
    int ndim;
    int64_t dims[ML_MAX_DIMS];
    int64_t n;      /* product of dims */
    void *data;
    size_t cap;     /* bytes allocated at data */
    bool borrowed;  /* data belongs to someone else */
    int elem_dtype; /* ML_SEQUENCE: the elements' type (ML_UNDEFINED if unknown) */
};

/* Limits and knobs; zero fields take the defaults noted. */
struct ml_opts {
    int threads;               /* worker threads for kernels and BLAS; default 1 */
    size_t mem_limit;          /* bytes of tensors alive during a run; default 4 GiB */
    size_t max_model_bytes;    /* model file plus external data; default 2 GiB */
    bool profile;              /* time every node; see ml_model_profile() */
    bool sequence_io;          /* graph inputs and outputs may be sequences and optionals;
                                * off (for callers that handle tensors only), such models
                                * are refused at load with AG_EUNPROCESSABLE */
};

struct ml_model;

/* ml_dtype_name() returns "float32", "int64", ... or "undefined"; never NULL. */
const char *ml_dtype_name(int dtype);
/* ml_dtype_size() returns the element size in bytes, 0 for unknown types. */
size_t ml_dtype_size(int dtype);

void ml_tensor_init(struct ml_tensor *t);
/* ml_tensor_release() frees owned data (and strings) and resets to empty. */
void ml_tensor_release(struct ml_tensor *t);
/* ml_tensor_alloc() sets dtype and shape and allocates zeroed data; AG_ETOOBIG
 * past 2^40 bytes or a negative dimension, AG_ENOMEM when malloc fails. */
int ml_tensor_alloc(struct ml_tensor *t, int dtype, int ndim, const int64_t *dims,
                    struct ag_err *e);
/* ml_tensor_copy() deep-copies `src` (a tensor, sequence or ML_NONE) into an
 * empty `dst`. */
int ml_tensor_copy(struct ml_tensor *dst, const struct ml_tensor *src, struct ag_err *e);
/* ml_shape_str() writes "[2,3,4]" into `out`; returns out. */
char *ml_shape_str(const struct ml_tensor *t, char *out, size_t size);

/* ml_tensor_read_pb() reads a serialized onnx.TensorProto file (the backend
 * test layout's input_K.pb / output_K.pb); `name` (may be NULL) receives a
 * malloc'd copy of the tensor's name. Files over 1 GiB fail with AG_ETOOBIG. */
int ml_tensor_read_pb(struct ml_tensor *t, char **name, const char *path, struct ag_err *e);

/* ml_value_read_pb() reads a serialized onnx.TensorProto (kind
 * ML_KIND_TENSOR), onnx.SequenceProto of tensors (ML_KIND_SEQUENCE) or
 * onnx.OptionalProto (the optional kinds; an empty one gives ML_NONE) file.
 * Files over 1 GiB fail with AG_ETOOBIG; sequences of more than 2^20
 * elements, nested sequences and maps with AG_EUNPROCESSABLE. */
int ml_value_read_pb(struct ml_tensor *t, const char *path, int kind, struct ag_err *e);

/* .npy files (NumPy format versions 1, 2 and 3; C order only). */
int ml_npy_read(struct ml_tensor *t, const char *path, struct ag_err *e);
int ml_npy_parse(struct ml_tensor *t, const void *data, size_t len, struct ag_err *e);
int ml_npy_write(const struct ml_tensor *t, const char *path, struct ag_err *e);

/* ml_model_load() parses and validates the model at `path` (external data is
 * resolved relative to its directory and may not leave it) and prepares the
 * execution plan. On success *out owns everything; free with ml_model_free. */
int ml_model_load(struct ml_model **out, const char *path, const struct ml_opts *o,
                  struct ag_err *e);
/* ml_model_load_buf() is ml_model_load() from memory; external data is
 * refused unless `dir` names the directory it is relative to. */
int ml_model_load_buf(struct ml_model **out, const void *data, size_t len, const char *dir,
                      const struct ml_opts *o, struct ag_err *e);
void ml_model_free(struct ml_model *m);

/* Graph inputs (not counting initializers) and outputs, in graph order. */
int ml_model_n_inputs(const struct ml_model *m);
int ml_model_n_outputs(const struct ml_model *m);
const char *ml_model_input_name(const struct ml_model *m, int i);
const char *ml_model_output_name(const struct ml_model *m, int i);
/* Declared element type of input/output i (ML_UNDEFINED if not declared);
 * for sequences and optionals, the type of their tensors. */
int ml_model_input_dtype(const struct ml_model *m, int i);
int ml_model_output_dtype(const struct ml_model *m, int i);
/* Declared kind (enum ml_kind) of input/output i; always ML_KIND_TENSOR
 * unless the model was loaded with opts.sequence_io. */
int ml_model_input_kind(const struct ml_model *m, int i);
int ml_model_output_kind(const struct ml_model *m, int i);
/* ml_model_input_index() returns the index of input `name`, or -1. */
int ml_model_input_index(const struct ml_model *m, const char *name);

/* ml_model_run() runs the graph. `inputs[i]` is graph input i (borrowed; it
 * must stay unchanged during the call; NULL is allowed only for inputs that
 * have an initializer). `outputs` has room for ml_model_n_outputs()
 * tensors, each initialized empty; on success they own their results. On
 * failure the outputs are left empty. */
int ml_model_run(struct ml_model *m, const struct ml_tensor *const *inputs,
                 struct ml_tensor *outputs, struct ag_err *e);

/* ---- infer (issue 5, the node's inference endpoint): run limits ---- */
/* Limits of one run. A run checks them before every node, subgraphs of If
 * and Loop included, and the long kernels check them as they go (per block
 * of output rows or channels, per chunk of a parallel loop, per GEMM panel,
 * per recurrent time step), so even a single huge node stops soon after the
 * deadline passes or the cancel flag is set (from any thread). */
struct ml_run_limits {
    int64_t deadline_us;           /* time_mono_us() instant to stop at; 0 = none */
    const atomic_int *cancel;      /* stop when it becomes non-zero; NULL = none */
};
/* ml_model_run_limited() is ml_model_run() under `lim` (may be NULL). It
 * fails with AG_ETIMEOUT ("the run passed its time limit") once the deadline
 * has passed and AG_EUNAVAILABLE ("the run was cancelled") once the flag is
 * set; the outputs are then left empty and the model stays usable. */
int ml_model_run_limited(struct ml_model *m, const struct ml_tensor *const *inputs,
                         struct ml_tensor *outputs, const struct ml_run_limits *lim,
                         struct ag_err *e);
/* ml_model_input_shape() gives the declared shape of graph input i: *ndim
 * is its rank (-1 when undeclared) and dims[k] each fixed dimension, or -1
 * for a symbolic or unknown one (all -1 when the rank is undeclared). */
void ml_model_input_shape(const struct ml_model *m, int i, int *ndim, int64_t dims[ML_MAX_DIMS]);
/* ---- end infer ---- */

/* ml_model_profile() prints the time spent per operator type over all runs
 * so far (only when loaded with opts.profile) to `f`. */
void ml_model_profile(const struct ml_model *m, void *f /* FILE* */);

/* ml_model_info() prints a human-readable summary (inputs, outputs, opsets,
 * operators with counts, parameter count) to `f`. */
void ml_model_info(const struct ml_model *m, void *f /* FILE* */);

/* Single-precision GEMM runs on OpenBLAS or on the engine's own AVX2/FMA
 * kernel (docs/internals/onnx.md, "BLAS: the choice, measured"). On
 * ML_GEMM_AUTO, the default, the engine chooses once: its own kernel when
 * OpenBLAS has fallen back to pre-Haswell kernels on a CPU with AVX2 and
 * FMA, OpenBLAS otherwise. ml_blas_force_path() overrides that choice for
 * the whole process, for tests, benchmarks and `agora onnx run --gemm`; a
 * forced ML_GEMM_OWN on a CPU without AVX2 and FMA runs OpenBLAS. It may be
 * called at any time, from any thread: each single-threaded GEMM block reads
 * the path as it starts (both paths compute the same product). */
enum ml_gemm_path { ML_GEMM_AUTO, ML_GEMM_OPENBLAS, ML_GEMM_OWN };
void ml_blas_force_path(enum ml_gemm_path path);

/* Backend-test runner: see testsuite.c. Prints one line per case to `f`.
 * Adds to the three counters; returns 0 even when cases fail. */
struct ml_test_counts {
    int passed, failed, skipped;
};
int ml_test_case_dir(const char *dir, const struct ml_opts *o, void *f,
                     struct ml_test_counts *c);
/* ml_test_tree() runs `dir` if it is a case, otherwise every case directory
 * directly under it (sorted by name). */
int ml_test_tree(const char *dir, const struct ml_opts *o, void *f, struct ml_test_counts *c);

#endif
