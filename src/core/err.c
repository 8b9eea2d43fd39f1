/* err.c - error codes, their names and messages. */
#include "core/common.h"
#include "core/err.h"

struct err_info {
    int status;
    const char *name;
    const char *msg;
};

static const struct err_info infos[] = {
#define X(name, status, code, msg) {status, code, msg},
    AG_ERR_MAP(X)
#undef X
};

static const struct err_info *info_of(int code)
{
    /* Range-check before subtracting: code - AG_ERR_FIRST_ overflows for INT_MAX. */
    if (code <= AG_ERR_FIRST_ || code > AG_ERR_FIRST_ + (int)ARRAY_SIZE(infos))
        return NULL;
    return &infos[code - AG_ERR_FIRST_ - 1];
}

int ag_errno_code(int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT || errnum == EFBIG ? AG_ENOSPACE : AG_EIO;
}

const char *ag_strerror(int code)
{
    const struct err_info *in = info_of(code);
    if (code == 0)
        return "ok";
    return in ? in->msg : "unknown error";
}

const char *ag_err_name(int code)
{
    const struct err_info *in = info_of(code);
    if (code == 0)
        return "ok";
    return in ? in->name : "internal";
}

int ag_err_status(int code)
{
    const struct err_info *in = info_of(code);
    if (code == 0)
        return 200;
    return in ? in->status : 500;
}

int ag_errf(struct ag_err *e, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    if (!e)
        return code;
    e->code = code;
    e->retry_after = 0;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

int ag_err_set(struct ag_err *e, int code)
{
    return ag_errf(e, code, NULL, "%s", ag_strerror(code));
}

void ag_err_clear(struct ag_err *e)
{
    if (e)
        memset(e, 0, sizeof(*e));
}
