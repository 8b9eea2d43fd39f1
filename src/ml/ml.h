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
 * Errors: every function returns 0 or a negative AG_E* code and fills the
 * optional `struct ag_err`. AG_EUNPROCESSABLE means "valid but not supported
 * by this engine" (an unknown operator, a sequence type); AG_EINVAL and
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
    ML_DTYPE_COUNT_ = 17
};

struct ml_tensor {
    int dtype;
    int ndim;
    int64_t dims[ML_MAX_DIMS];
    int64_t n;      /* product of dims */
    void *data;
    size_t cap;     /* bytes allocated at data */
    bool borrowed;  /* data belongs to someone else */
};

/* Limits and knobs; zero fields take the defaults noted. */
struct ml_opts {
    int threads;               /* worker threads for kernels and BLAS; default 1 */
    size_t mem_limit;          /* bytes of tensors alive during a run; default 4 GiB */
    size_t max_model_bytes;    /* model file plus external data; default 2 GiB */
    bool profile;              /* time every node; see ml_model_profile() */
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
/* ml_tensor_copy() deep-copies `src` into an empty `dst`. */
int ml_tensor_copy(struct ml_tensor *dst, const struct ml_tensor *src, struct ag_err *e);
/* ml_shape_str() writes "[2,3,4]" into `out`; returns out. */
char *ml_shape_str(const struct ml_tensor *t, char *out, size_t size);

/* ml_tensor_read_pb() reads a serialized onnx.TensorProto file (the backend
 * test layout's input_K.pb / output_K.pb); `name` (may be NULL) receives a
 * malloc'd copy of the tensor's name. Files over 1 GiB fail with AG_ETOOBIG. */
int ml_tensor_read_pb(struct ml_tensor *t, char **name, const char *path, struct ag_err *e);

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
/* Declared element type of input/output i (ML_UNDEFINED if not declared). */
int ml_model_input_dtype(const struct ml_model *m, int i);
int ml_model_output_dtype(const struct ml_model *m, int i);
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
 * and Loop included, so a run stops within one kernel's time of its
 * deadline or of the cancel flag being set (from any thread). */
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
