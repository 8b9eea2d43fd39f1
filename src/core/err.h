/* err.h - the one error type of Agora.
 *
 * Functions return 0 on success or a negative AG_E* code. When the caller
 * passes a `struct ag_err *`, the function also leaves a human-readable
 * message there (and the name of the offending input field, if any), which
 * the API layer turns into {"error": {"code", "message", "field"}}.
 *
 * The codes, their API names and HTTP statuses come from one X-macro, so the
 * three never drift apart (libuv's UV_ERRNO_MAP).
 */
#ifndef AGORA_ERR_H
#define AGORA_ERR_H

/*      name          http  api code              default message */
#define AG_ERR_MAP(X)                                                              \
    X(NOMEM,          500, "out_of_memory",      "out of memory")                  \
    X(INVAL,          400, "invalid",            "invalid input")                  \
    X(BADJSON,        400, "bad_json",           "malformed JSON")                 \
    X(UNAUTH,         401, "unauthenticated",    "authentication required")        \
    X(FORBIDDEN,      403, "forbidden",          "not allowed")                    \
    X(NOTFOUND,       404, "not_found",          "not found")                      \
    X(METHOD,         405, "method_not_allowed", "method not allowed")             \
    X(EXISTS,         409, "conflict",           "already exists")                 \
    X(CONFLICT,       409, "conflict",           "conflicts with current state")   \
    X(TOOBIG,         413, "too_large",          "too large")                      \
    X(MEDIATYPE,      415, "unsupported_media",  "unsupported media type")         \
    X(UNPROCESSABLE,  422, "unprocessable",      "cannot be processed")            \
    X(RATELIMIT,      429, "rate_limited",       "too many requests")              \
    X(IO,             500, "io_error",           "input/output error")             \
    X(DB,             500, "db_error",           "database error")                 \
    X(CORRUPT,        500, "corrupt",            "stored data is corrupt")         \
    X(INTERNAL,       500, "internal",           "internal error")                 \
    X(UNAVAILABLE,    503, "unavailable",        "service unavailable")            \
    X(TIMEOUT,        504, "timeout",            "timed out")                      \
    X(NOSPACE,        507, "insufficient_storage",                                 \
      "the node is out of storage space; try again later")

enum {
    AG_OK = 0,
#define X(name, status, code, msg) AG_E##name,
    AG_ERR_FIRST_ = -100,
    AG_ERR_MAP(X)
#undef X
};

struct ag_err {
    int code;            /* 0 or an AG_E* code */
    int retry_after;     /* seconds, for AG_ERATELIMIT; 0 if none */
    char field[64];      /* the input field at fault, or "" */
    char msg[256];       /* a sentence for the user, never a secret */
};

/* ag_errno_code() maps a failed write's errno: AG_ENOSPACE for ENOSPC,
 * EDQUOT and EFBIG (a full disk, a quota, a file size limit), else AG_EIO. */
int ag_errno_code(int errnum);
/* ag_strerror() returns the default message of `code`; never NULL. */
const char *ag_strerror(int code);
/* ag_err_name() returns the stable API name of `code`, e.g. "not_found". */
const char *ag_err_name(int code);
/* ag_err_status() returns the HTTP status that `code` maps to. */
int ag_err_status(int code);

/*
 * ag_errf() records `code`, `field` (may be NULL) and a printf-style message
 * in `e` (which may be NULL) and returns `code`, so failures read
 *     return ag_errf(e, AG_EINVAL, "slug", "slug must be ...");
 */
int ag_errf(struct ag_err *e, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* ag_err_set() is ag_errf() with the default message of `code`. */
int ag_err_set(struct ag_err *e, int code);
void ag_err_clear(struct ag_err *e);

#endif
