/* ops.c - the operator registry: every family's kernel table, looked up by domain and name. */
#include "core/common.h"
#include "ml/internal.h"

static const struct ml_op *const tables[] = {
    ml_ops_elementwise, ml_ops_activation, ml_ops_reduce, ml_ops_matmul, ml_ops_conv,
    ml_ops_pool,        ml_ops_norm,       ml_ops_softmax, ml_ops_shape, ml_ops_index,
    ml_ops_rnn,         ml_ops_quant,      ml_ops_misc,   ml_ops_resize, ml_ops_loss, ml_ops_extra, ml_ops_control,
    ml_ops_sequence, ml_ops_training,
};

const struct ml_op *ml_op_find(const char *domain, const char *name)
{
    for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
        for (const struct ml_op *op = tables[t]; op->name; op++)
            if (!strcmp(op->name, name) && !strcmp(op->domain, domain))
                return op;
    return NULL;
}
